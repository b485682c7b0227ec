// Every command result on every client surface: each ResultCode maps to exactly one answer per
// surface and operation, and no non-OK result is ever reported as success.
//
// The node under the services is a stub whose propose() answers a scripted CommandResult, so
// every code (also ones the state machine cannot produce through this API today) reaches every
// surface: gRPC unary, KvService.Session, a result forwarded by a follower (the leader's result
// through a ForwardReply on the wire, as node.ts's forwardCommand receives it) and admin HTTP.
// The expected answers are written out here, not derived from src/results.ts: a new ResultCode
// fails this test until it has a row there and an expectation here.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import request from 'supertest';
import { ResultCode, type Command, type CommandResult } from '../../proto/gen/placement/v1/command.js';
import { ForwardReply } from '../../proto/gen/placement/v1/peer.js';
import { KvServiceClient, type SessionOp, type SessionReply, type SessionResult } from '../../proto/gen/placement/v1/kv.js';
import { encodeMessage, decodeMessage } from '../../proto/codec.js';
import { registerClientServices, type ServingNode } from '../../src/grpc/services.js';
import { RESULT_ANSWERS, resultAnswer } from '../../src/results.js';
import { createAdminApp } from '../../src/http/app.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { AdminBackend } from '../../src/http/backend.js';

/** A code no row names (a newer leader's): must never pass as success. */
const UNKNOWN_CODE = 97;

/** Every ResultCode the generated enum declares (UNRECOGNIZED is ts-proto's, not ours). */
const DECLARED = Object.values(ResultCode).filter((v): v is ResultCode => typeof v === 'number' && v !== ResultCode.UNRECOGNIZED);

/** What a gRPC write answers: a status, and for OK the reply's "it happened" flag. */
type Grpc = { status: grpc.status; succeeded?: boolean };

/** The one answer per code, written out: [Set, Delete, CompareAndSwap] on gRPC, [PUT, DELETE] status on HTTP. */
const EXPECTED: Record<number, { set: Grpc; del: Grpc; cas: Grpc; http: number }> = {
  [ResultCode.RESULT_OK]: { set: { status: grpc.status.OK }, del: { status: grpc.status.OK, succeeded: true }, cas: { status: grpc.status.OK, succeeded: true }, http: 200 },
  [ResultCode.RESULT_NOT_FOUND]: { set: { status: grpc.status.NOT_FOUND }, del: { status: grpc.status.NOT_FOUND }, cas: { status: grpc.status.NOT_FOUND }, http: 404 },
  [ResultCode.RESULT_ALREADY_EXISTS]: { set: { status: grpc.status.ALREADY_EXISTS }, del: { status: grpc.status.ALREADY_EXISTS }, cas: { status: grpc.status.ALREADY_EXISTS }, http: 409 },
  // An unmet expectation is CAS's own answer (succeeded: false); anywhere else it is an error.
  [ResultCode.RESULT_COMPARE_FAILED]: {
    set: { status: grpc.status.FAILED_PRECONDITION },
    del: { status: grpc.status.FAILED_PRECONDITION },
    cas: { status: grpc.status.OK, succeeded: false },
    http: 409,
  },
  [ResultCode.RESULT_INVALID]: { set: { status: grpc.status.INVALID_ARGUMENT }, del: { status: grpc.status.INVALID_ARGUMENT }, cas: { status: grpc.status.INVALID_ARGUMENT }, http: 400 },
  [ResultCode.RESULT_OUTCOME_UNKNOWN]: { set: { status: grpc.status.ABORTED }, del: { status: grpc.status.ABORTED }, cas: { status: grpc.status.ABORTED }, http: 409 },
  [ResultCode.RESULT_CLIENT_ID_REUSED]: {
    set: { status: grpc.status.FAILED_PRECONDITION },
    del: { status: grpc.status.FAILED_PRECONDITION },
    cas: { status: grpc.status.FAILED_PRECONDITION },
    http: 409,
  },
  [ResultCode.RESULT_OUT_OF_RANGE]: { set: { status: grpc.status.OUT_OF_RANGE }, del: { status: grpc.status.OUT_OF_RANGE }, cas: { status: grpc.status.OUT_OF_RANGE }, http: 400 },
  [ResultCode.RESULT_LIMIT_EXCEEDED]: { set: { status: grpc.status.RESOURCE_EXHAUSTED }, del: { status: grpc.status.RESOURCE_EXHAUSTED }, cas: { status: grpc.status.RESOURCE_EXHAUSTED }, http: 413 },
  [UNKNOWN_CODE]: { set: { status: grpc.status.INTERNAL }, del: { status: grpc.status.INTERNAL }, cas: { status: grpc.status.INTERNAL }, http: 500 },
};

/** What the state machine would say for `code`: OK results carry "succeeded" and a new revision. */
function scripted(code: number): CommandResult {
  const ok = code === ResultCode.RESULT_OK;
  return {
    code: code as ResultCode,
    message: ok ? '' : `scripted ${code}`,
    revision: ok ? 8 : 7,
    prevKv: { key: 'k', value: Buffer.from('old'), createRevision: 1, modRevision: 7, version: 1, lease: 0 },
    // The flag a buggy check would trust: set on every result, so a non-OK code answered as
    // success shows up as succeeded/deleted true.
    succeeded: true,
    lease: undefined,
    leases: [],
    response: undefined,
  };
}

/** A ServingNode whose writes answer `next` (through a ForwardReply round trip when `forwarded`). */
class StubNode implements ServingNode {
  next: CommandResult = scripted(ResultCode.RESULT_OK);
  forwarded = false;
  readonly limits = { maxKeyBytes: 4096, maxValueBytes: 1 << 20, maxListLimit: 1000, requestTimeoutMs: 5000 };
  async propose(_cmd: Command): Promise<CommandResult> {
    if (!this.forwarded) return this.next;
    // The leader's answer as a follower receives it: encoded in a ForwardReply, decoded again.
    const wire = encodeMessage(ForwardReply, { errorCode: 0, errorMessage: '', leaderId: 1, result: this.next, term: 2, members: [], leaderLastIndex: 0, memberId: 0 });
    const reply = decodeMessage(ForwardReply, wire);
    assert.ok(reply.result, 'the forwarded result survives the wire');
    return reply.result;
  }
  readBarrier(): Promise<void> {
    return Promise.resolve();
  }
  async getKv(): Promise<null> {
    return null;
  }
  async listKv() {
    return { kvs: [], more: false, nextKey: '' };
  }
  header() {
    return { clusterId: 'stub', memberId: 2, raftTerm: 2, revision: 7 };
  }
  clusterStatus(): ReturnType<ServingNode['clusterStatus']> {
    throw new Error('not used');
  }
  async changeMembership(): Promise<number> {
    throw new Error('not used here');
  }
  async members(): Promise<never[]> {
    return [];
  }
  accepting(): boolean {
    return true;
  }
  track<T>(p: Promise<T>): Promise<T> {
    return p;
  }
  requestStarted(): void {}
  requestFinished(): void {}
}

const setReq = { key: 'k', value: Buffer.from('v'), clientId: '', seq: 0, lease: 999, prevKv: true };
const delReq = { key: 'k', clientId: '', seq: 0, prevKv: true };
const casReq = { key: 'k', expect: { $case: 'expectAbsent' as const, value: true }, value: Buffer.from('v'), clientId: '', seq: 0, lease: 0 };

function unary<Req, Rep>(client: KvServiceClient, method: 'set' | 'delete' | 'compareAndSwap', req: Req): Promise<{ status: grpc.status; reply?: Rep }> {
  return new Promise((resolve) => {
    const fn = client[method] as unknown as (r: Req, cb: (err: grpc.ServiceError | null, rep?: Rep) => void) => void;
    fn.call(client, req, (err, rep) => resolve(err ? { status: err.code } : { status: grpc.status.OK, reply: rep }));
  });
}

function sessionCall(client: KvServiceClient, op: SessionOp['op']): Promise<SessionResult> {
  return new Promise((resolve, reject) => {
    const call = client.session();
    call.on('data', (r: SessionReply) => {
      const res = r.results[0];
      if (res) {
        resolve(res);
        call.end();
      }
    });
    call.on('error', reject);
    call.write({ ops: [{ xid: 1, timeoutMs: 5000, op }] });
  });
}

/** "It happened" as each reply says it (undefined for Set, whose reply has no such flag). */
function happened(reply: unknown): boolean | undefined {
  const r = reply as { deleted?: boolean; succeeded?: boolean };
  return r.deleted ?? r.succeeded;
}

function check(what: string, code: number, want: Grpc, got: { status: grpc.status; reply?: unknown }): void {
  assert.equal(grpc.status[got.status], grpc.status[want.status], `${what}, result code ${code}: status`);
  if (got.status === grpc.status.OK && want.succeeded !== undefined) assert.equal(happened(got.reply), want.succeeded, `${what}, result code ${code}: succeeded`);
  if (code !== ResultCode.RESULT_OK) {
    // The invariant itself, whatever the expectations say: a non-OK result is never success.
    assert.ok(got.status !== grpc.status.OK || happened(got.reply) === false, `${what}: result code ${code} reported as success`);
  }
}

describe('command results on every surface', () => {
  const node = new StubNode();
  const server = new grpc.Server();
  let client: KvServiceClient;
  const backend = { propose: async () => node.propose({} as Command), getUser: async () => null } as unknown as AdminBackend;
  const app = createAdminApp({ backend, metrics: new Metrics({ defaultMetrics: false }) });

  before(async () => {
    registerClientServices(server, node);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    client = new KvServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });
  after(() => {
    client?.close();
    server.forceShutdown();
  });

  test('every ResultCode has exactly one row in RESULT_ANSWERS and one expectation here', () => {
    const rows = Object.keys(RESULT_ANSWERS).map(Number).sort((a, b) => a - b);
    assert.deepEqual(rows, [...DECLARED].sort((a, b) => a - b), 'RESULT_ANSWERS rows = the declared ResultCodes');
    for (const code of DECLARED) {
      assert.ok(resultAnswer(code), `ResultCode ${ResultCode[code]} (${code}) has no row in src/results.ts`);
      assert.ok(EXPECTED[code], `ResultCode ${ResultCode[code]} (${code}) has no expected answer in this test`);
      // Only OK is answered as applied.
      assert.equal(resultAnswer(code)!.error === null, code === ResultCode.RESULT_OK, `${ResultCode[code]}: only RESULT_OK answers without an error`);
    }
    assert.equal(resultAnswer(UNKNOWN_CODE), undefined);
  });

  for (const code of [...DECLARED, UNKNOWN_CODE]) {
    const name = ResultCode[code] ?? `unknown code ${code}`;
    test(`${name}: gRPC unary, Session and forwarded answers`, async () => {
      const want = EXPECTED[code];
      assert.ok(want, `no expectation for ${name}`);
      for (const forwarded of [false, true]) {
        node.forwarded = forwarded;
        node.next = scripted(code);
        const via = forwarded ? 'forwarded ' : '';
        check(`${via}unary Set`, code, want.set, await unary(client, 'set', setReq));
        check(`${via}unary Delete`, code, want.del, await unary(client, 'delete', delReq));
        check(`${via}unary CompareAndSwap`, code, want.cas, await unary(client, 'compareAndSwap', casReq));
        const sess = async (op: SessionOp['op']) => {
          const r = await sessionCall(client, op);
          return { status: r.code as grpc.status, reply: r.reply?.value };
        };
        check(`${via}Session set`, code, want.set, await sess({ $case: 'set', value: setReq }));
        check(`${via}Session delete`, code, want.del, await sess({ $case: 'delete', value: delReq }));
        check(`${via}Session compareAndSwap`, code, want.cas, await sess({ $case: 'compareAndSwap', value: casReq }));
      }
      node.forwarded = false;
    });

    test(`${name}: admin HTTP answers`, async () => {
      const want = EXPECTED[code]!;
      node.next = scripted(code);
      const responses: Array<[string, request.Response]> = [
        ['PUT /v1/kv/k', await request(app).put('/v1/kv/k').send({ value: 'v', lease: 999 })],
        ['DELETE /v1/kv/k', await request(app).delete('/v1/kv/k')],
        ['PUT /v1/config/c', await request(app).put('/v1/config/c').send({ value: 'v' })],
        ['DELETE /v1/config/c', await request(app).delete('/v1/config/c')],
        ['DELETE /v1/users/bob', await request(app).delete('/v1/users/bob')],
      ];
      for (const [what, res] of responses) {
        assert.equal(res.status, want.http, `${what}, result code ${code}: ${JSON.stringify(res.body)}`);
        if (code !== ResultCode.RESULT_OK) {
          assert.notEqual(res.body.code, 0, `${what}: result code ${code} reported as success`);
          assert.equal(res.body.data, null);
          assert.match(res.body.error, new RegExp(`scripted ${code}`), `${what}: the state machine's message`);
        }
      }
    });
  }
});
