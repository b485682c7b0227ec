// Runs inside one of the lab's namespaces and performs requests for the test process, which
// lives in the root namespace and cannot reach the lab's addresses itself. Protocol: one JSON
// request per stdin line, one JSON answer per stdout line, matched by `id`:
//   {"id":1,"op":"http","url":"http://pc1:1227/readyz","method":"GET","body":"...","timeoutMs":3000}
//   {"id":2,"op":"grpc-set","target":"pc1:1228","key":"k","value":"v","timeoutMs":3000}
//   {"id":3,"op":"grpc-get","target":"pc1:1228","key":"k","serializable":false,"timeoutMs":3000}
//   {"id":4,"op":"grpc-health","target":"pc1:1228","timeoutMs":3000}
//   -> {"id":1,"ok":true,"status":200,"body":"..."} | {"id":1,"ok":false,"error":"...","code":"UNAVAILABLE"}
// gRPC calls go to exactly the member named (the generated stub, no client-side retries or
// redirects), so the test controls which host a request enters through.
import { createInterface } from 'node:readline';
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { KvServiceClient } from '../../proto/gen/placement/v1/kv.js';

export type AgentRequest =
  | { id: number; op: 'http'; url: string; method?: string; body?: string; timeoutMs?: number }
  | { id: number; op: 'grpc-set'; target: string; key: string; value: string; timeoutMs?: number }
  | { id: number; op: 'grpc-get'; target: string; key: string; serializable?: boolean; timeoutMs?: number }
  | { id: number; op: 'grpc-health'; target: string; service?: string; timeoutMs?: number };

export type AgentAnswer =
  | { id: number; ok: true; status: number; body: string }
  | { id: number; ok: false; error: string; code?: string };

const clientId = randomUUID();
let seq = 0;
const kvClients = new Map<string, KvServiceClient>();
const HealthClient = grpc.makeGenericClientConstructor(healthService, 'Health');
const healthClients = new Map<string, grpc.Client>();

function kv(target: string): KvServiceClient {
  let c = kvClients.get(target);
  if (!c) {
    c = new KvServiceClient(target, grpc.credentials.createInsecure());
    kvClients.set(target, c);
  }
  return c;
}

function deadline(ms: number | undefined): Date {
  return new Date(Date.now() + (ms ?? 5_000));
}

function grpcFailure(id: number, err: grpc.ServiceError): AgentAnswer {
  return { id, ok: false, error: `${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`, code: grpc.status[err.code] ?? String(err.code) };
}

async function handle(req: AgentRequest): Promise<AgentAnswer> {
  switch (req.op) {
    case 'http':
      try {
        const res = await fetch(req.url, {
          method: req.method ?? 'GET',
          body: req.body,
          headers: req.body !== undefined ? { 'content-type': 'application/json' } : undefined,
          signal: AbortSignal.timeout(req.timeoutMs ?? 5_000),
        });
        return { id: req.id, ok: true, status: res.status, body: await res.text() };
      } catch (err) {
        const e = err as Error & { cause?: { code?: string; message?: string } };
        return { id: req.id, ok: false, error: `${e.name}: ${e.message}${e.cause ? ` (${e.cause.code ?? e.cause.message})` : ''}` };
      }
    case 'grpc-set':
      return new Promise((resolve) => {
        kv(req.target).set(
          { key: req.key, value: Buffer.from(req.value), clientId, seq: ++seq, lease: 0, prevKv: false },
          new grpc.Metadata(),
          { deadline: deadline(req.timeoutMs) },
          (err, reply) =>
            resolve(err ? grpcFailure(req.id, err) : { id: req.id, ok: true, status: 0, body: JSON.stringify({ revision: reply.header?.revision ?? null }) }),
        );
      });
    case 'grpc-get':
      return new Promise((resolve) => {
        kv(req.target).get(
          { key: req.key, serializable: req.serializable ?? false, kvMetadataOnly: false },
          new grpc.Metadata(),
          { deadline: deadline(req.timeoutMs) },
          (err, reply) =>
            resolve(
              err
                ? grpcFailure(req.id, err)
                : { id: req.id, ok: true, status: 0, body: JSON.stringify({ found: reply.found, value: reply.found ? reply.value.toString() : null }) },
            ),
        );
      });
    case 'grpc-health':
      return new Promise((resolve) => {
        let c = healthClients.get(req.target);
        if (!c) {
          c = new HealthClient(req.target, grpc.credentials.createInsecure());
          healthClients.set(req.target, c);
        }
        const check = (c as unknown as Record<string, (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: { status: string | number }) => void) => void>).check!;
        check.call(c, { service: req.service ?? '' }, new grpc.Metadata(), { deadline: deadline(req.timeoutMs) }, (err, reply) =>
          resolve(err ? grpcFailure(req.id, err) : { id: req.id, ok: true, status: 0, body: JSON.stringify({ status: reply.status }) }),
        );
      });
  }
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let req: AgentRequest;
  try {
    req = JSON.parse(line) as AgentRequest;
  } catch {
    process.stdout.write(JSON.stringify({ id: -1, ok: false, error: 'bad request line' }) + '\n');
    return;
  }
  void handle(req).then(
    (a) => process.stdout.write(JSON.stringify(a) + '\n'),
    (err: unknown) => process.stdout.write(JSON.stringify({ id: req.id, ok: false, error: String(err) }) + '\n'),
  );
});
rl.on('close', () => process.exit(0));
process.stdout.write(JSON.stringify({ id: 0, ok: true, status: 0, body: 'ready' }) + '\n');
