// KvService.Session for the fake cluster: each operation of the stream is answered by the fake's
// own unary handler (faults, recording and de-duplication included), and the result carries the
// unary answer's status and leader hint, as the real server's session does (src/grpc/session.ts).
import * as grpc from '@grpc/grpc-js';
import type { KvServiceServer, SessionOp, SessionReply, SessionRequest, SessionResult } from '../../../proto/gen/placement/v1/kv.js';

export type UnaryKvHandlers = Pick<KvServiceServer, 'set' | 'get' | 'delete' | 'exists' | 'list' | 'compareAndSwap'>;

/** `onBatch` hears the number of operations in each message. `enabled()` false answers the stream UNIMPLEMENTED, like a server that predates Session. */
export function fakeSession(kv: UnaryKvHandlers, enabled: () => boolean, onBatch: (ops: number) => void): KvServiceServer['session'] {
  return (call: grpc.ServerDuplexStream<SessionRequest, SessionReply>) => {
    if (!enabled()) {
      call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'The server does not implement the method /placement.v1.KvService/Session' });
      return;
    }
    let open = true;
    call.on('error', () => (open = false));
    call.on('cancelled', () => (open = false));
    call.on('end', () => {
      open = false;
      call.end();
    });
    call.on('data', (req: SessionRequest) => {
      onBatch(req.ops.length);
      for (const op of req.ops) run(kv, op, (r) => {
        if (open) call.write({ results: [r] });
      });
    });
  };
}

function run(kv: UnaryKvHandlers, op: SessionOp, reply: (r: SessionResult) => void): void {
  const o = op.op;
  const base = { xid: op.xid, code: 0, error: '', leaderId: 0, leaderAddress: '' };
  if (!o) {
    reply({ ...base, code: grpc.status.INVALID_ARGUMENT, error: 'no operation', reply: undefined });
    return;
  }
  const cb = (err: Partial<grpc.ServiceError> | null, value?: unknown): void => {
    if (err) {
      const md = err.metadata;
      reply({
        ...base,
        code: err.code ?? grpc.status.UNKNOWN,
        error: err.details ?? err.message ?? '',
        leaderId: Number(md?.get('x-placement-leader-id')[0] ?? 0),
        leaderAddress: String(md?.get('x-placement-leader-address')[0] ?? ''),
        reply: undefined,
      });
      return;
    }
    reply({ ...base, reply: { $case: o.$case, value } as SessionResult['reply'] });
  };
  const handler = kv[o.$case] as unknown as (call: { request: unknown }, cb: unknown) => void;
  handler({ request: o.value }, cb);
}
