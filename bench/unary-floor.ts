// `npm run bench:unary-floor`: what one unary gRPC call costs the server, with nothing behind it.
// Every etcd client makes one unary call per request, so this is the floor under every etcd-API
// row of bench:compare. The same grpc-js client code as bench/etcd-raw.ts (its `call`, a ~300-byte
// request, a 40-byte reply) drives, each in its own child process, interleaved over rounds:
//   grpc-js        a plain grpc-js Server, no interceptor
//   grpc-js+icpt   the same with a pass-through server interceptor shaped like ours
//                  (src/auth/guard.ts: a listener on metadata, message and half-close, the
//                  message and half-close run inside AsyncLocalStorage.run as runAsCaller does)
//   grpc-js+bare   an interceptor that only wraps the call (ServerInterceptingCall, no listener)
//   grpc-js+nols   the interceptor shaped like ours without the AsyncLocalStorage scope
//   grpc-js+wrap   no interceptor; the unary handler wrapped in a function that runs it inside
//                  AsyncLocalStorage.run (how src/auth/grpc-unary.ts guards unary methods)
//   h2             a minimal gRPC server of our own on node:http2 (src/grpc/h2's framing and
//                  status trailers)
// Prints calls/s and the server process's CPU (user + sys, process.cpuUsage in the child) per call
// at 1 and at 64 in flight, then min / median / max across rounds.
// Options (env): BENCH_SECONDS (default 3 per row), BENCH_ROUNDS (default 3),
// BENCH_VARIANTS (comma list, default "grpc-js,grpc-js+icpt,h2").
import { fork, type ChildProcess } from 'node:child_process';
import { AsyncLocalStorage } from 'node:async_hooks';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { call, CHANNEL_OPTIONS, type Encoder } from './etcd-raw.js';
import { drive, keepRawOutput } from './measure.js';
import { ask, reportToParent } from './server-child.js';
import { minMedianMax as spread } from './compare-table.js';
import { encodeFrame, FrameDecoder } from '../src/grpc/h2/framing.js';
import { statusTrailers } from '../src/grpc/h2/status.js';
import type { GrpcWireError } from '../src/grpc/h2/errors.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ALL = ['grpc-js', 'grpc-js+icpt', 'grpc-js+bare', 'grpc-js+nols', 'grpc-js+wrap', 'h2'] as const;
type Variant = (typeof ALL)[number];
const VARIANTS = (process.env.BENCH_VARIANTS ?? 'grpc-js,grpc-js+icpt,h2').split(',').map((v) => v.trim()) as Variant[];
for (const v of VARIANTS) if (!ALL.includes(v)) throw new Error(`BENCH_VARIANTS: unknown variant "${v}" (known: ${ALL.join(', ')})`);
const LEVELS = [1, 64];

const REQUEST = Buffer.alloc(300, 0x61);
const REPLY = Buffer.alloc(40, 0x62);
const raw = (b: Buffer): Buffer => b;
const RAW: Encoder<Buffer> = { encode: (b) => ({ finish: () => b }) };
const PATH = '/etcdserverpb.KV/Put';
const service = {
  put: { path: PATH, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
} as unknown as grpc.ServiceDefinition;
// The node's server options (src/node/index.ts), minus the interceptor.
const SERVER_OPTIONS: grpc.ServerOptions = {
  ...CHANNEL_OPTIONS,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
  'grpc.keepalive_permit_without_calls': 1,
};

// ---------------------------------------------------------------- server child

const als = new AsyncLocalStorage<{ caller: string }>();
/** Pass-through, with the same hooks and AsyncLocalStorage scope as grpcAuthInterceptor. */
const passThrough: grpc.ServerInterceptor = (_method, c) =>
  new grpc.ServerInterceptingCall(c, {
    start: (next) =>
      next({
        onReceiveMetadata: (md, mdNext) => mdNext(md),
        onReceiveMessage: (msg, msgNext) => als.run({ caller: '' }, () => msgNext(msg)),
        onReceiveHalfClose: (hcNext) => als.run({ caller: '' }, hcNext),
      }),
  });

const bare: grpc.ServerInterceptor = (_method, c) => new grpc.ServerInterceptingCall(c);
const noAls: grpc.ServerInterceptor = (_method, c) =>
  new grpc.ServerInterceptingCall(c, {
    start: (next) =>
      next({
        onReceiveMetadata: (md, mdNext) => mdNext(md),
        onReceiveMessage: (msg, msgNext) => msgNext(msg),
        onReceiveHalfClose: (hcNext) => hcNext(),
      }),
  });
const INTERCEPTOR: Partial<Record<Variant, grpc.ServerInterceptor>> = { 'grpc-js+icpt': passThrough, 'grpc-js+bare': bare, 'grpc-js+nols': noAls };

async function grpcJsServer(variant: Variant): Promise<number> {
  const interceptor = INTERCEPTOR[variant];
  const s = new grpc.Server(interceptor ? { ...SERVER_OPTIONS, interceptors: [interceptor] } : SERVER_OPTIONS);
  const put = (_c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>): void => cb(null, REPLY);
  const wrapped = (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>): void => als.run({ caller: '' }, () => put(c, cb));
  s.addService(service, { put: variant === 'grpc-js+wrap' ? wrapped : put });
  return new Promise((resolve, reject) => s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, port) => (e ? reject(e) : resolve(port))));
}

/**
 * The smallest server that speaks gRPC's unary wire protocol, built from src/grpc/h2's framing
 * and status pieces: enough to price the transport.
 */
async function h2Server(): Promise<number> {
  const srv = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
  srv.on('stream', (stream, headers) => {
    const decoder = new FrameDecoder(64 * 1024 * 1024);
    const messages: Buffer[] = [];
    const fail = (code: number, message: string): void => {
      if (!stream.headersSent) stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...statusTrailers(code, message) }, { endStream: true });
    };
    stream.on('data', (b: Buffer) => {
      try {
        messages.push(...decoder.push(b));
      } catch (e) {
        fail((e as GrpcWireError).code, (e as Error).message);
      }
    });
    stream.on('end', () => {
      try {
        decoder.end();
      } catch (e) {
        fail((e as GrpcWireError).code, (e as Error).message);
        return;
      }
      if (headers[':path'] !== PATH) return fail(12, `unknown method ${String(headers[':path'])}`);
      if (messages.length !== 1) return fail(12, 'a unary call carries exactly one message');
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers(statusTrailers(0, '')));
      stream.end(encodeFrame(REPLY));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return (srv.address() as { port: number }).port;
}

async function server(variant: Variant): Promise<void> {
  const port = variant === 'h2' ? await h2Server() : await grpcJsServer(variant);
  reportToParent(port);
}

// ---------------------------------------------------------------- driver

interface Row {
  variant: Variant;
  inFlight: number;
  round: number;
  callsPerSec: number;
  serverUsPerCall: number;
  errors: number;
}

async function measureVariant(variant: Variant, round: number): Promise<Row[]> {
  const child = fork(new URL(import.meta.url).pathname, ['server', variant], { execArgv: process.execArgv });
  const rows: Row[] = [];
  try {
    const { port } = await ask<{ port: number }>(child, null);
    const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    const one = (): Promise<Buffer> => call(c, 'Put', RAW, REQUEST);
    for (let i = 0; i < 300; i++) await Promise.all(Array.from({ length: 10 }, one)); // warm-up (JIT, connection)
    for (const inFlight of LEVELS) {
      const { cpu: c0 } = await ask<{ cpu: number }>(child, 'cpu');
      const r = await drive(variant, inFlight, SECONDS, one);
      const { cpu: c1 } = await ask<{ cpu: number }>(child, 'cpu');
      rows.push({ variant, inFlight, round, callsPerSec: r.ops / r.seconds, serverUsPerCall: (c1 - c0) / Math.max(1, r.ops), errors: r.errors });
      console.log(`${String(round).padStart(5)}  ${variant.padEnd(14)}${String(inFlight).padStart(10)}${(r.ops / r.seconds).toFixed(0).padStart(10)}${((c1 - c0) / Math.max(1, r.ops)).toFixed(1).padStart(16)}${String(r.errors).padStart(8)}`);
    }
    c.close();
  } finally {
    child.kill('SIGKILL');
  }
  return rows;
}

async function main(): Promise<void> {
  const out = keepRawOutput('unary-floor');
  console.log(`unary gRPC call floor: ${REQUEST.length}-byte request, ${REPLY.length}-byte reply, ${SECONDS} s per row, ${ROUNDS} rounds, variants interleaved\n`);
  console.log(`round  ${'server'.padEnd(14)}${'in-flight'.padStart(10)}${'calls/s'.padStart(10)}${'server µs/call'.padStart(16)}${'errors'.padStart(8)}`);
  const rows: Row[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // Rotate the order each round so no variant always runs first (or last) in a window.
    const order = VARIANTS.map((_, i) => VARIANTS[(i + round - 1) % VARIANTS.length]!);
    for (const v of order) rows.push(...(await measureVariant(v, round)));
  }
  console.log(`\nmin / median / max over ${ROUNDS} rounds`);
  console.log(`${'server'.padEnd(14)}${'in-flight'.padStart(10)}${'calls/s'.padStart(24)}${'server µs/call'.padStart(24)}`);
  for (const v of VARIANTS) {
    for (const inFlight of LEVELS) {
      const mine = rows.filter((r) => r.variant === v && r.inFlight === inFlight);
      console.log(`${v.padEnd(14)}${String(inFlight).padStart(10)}${spread(mine.map((r) => r.callsPerSec), 0).padStart(24)}${spread(mine.map((r) => r.serverUsPerCall), 1).padStart(24)}`);
    }
  }
  // Ratios per round (same round = same window), against plain grpc-js.
  const base = VARIANTS.includes('grpc-js') ? 'grpc-js' : null;
  if (base) {
    console.log(`\nper-round ratios against ${base} (min / median / max): calls/s ratio, server CPU per call ratio (lower is cheaper)`);
    for (const v of VARIANTS.filter((x) => x !== base)) {
      for (const inFlight of LEVELS) {
        const rate: number[] = [];
        const cpu: number[] = [];
        for (let round = 1; round <= ROUNDS; round++) {
          const a = rows.find((r) => r.variant === base && r.inFlight === inFlight && r.round === round)!;
          const b = rows.find((r) => r.variant === v && r.inFlight === inFlight && r.round === round)!;
          rate.push(b.callsPerSec / a.callsPerSec);
          cpu.push(b.serverUsPerCall / a.serverUsPerCall);
        }
        console.log(`${v.padEnd(14)}${String(inFlight).padStart(10)}${spread(rate, 2).padStart(24)}${spread(cpu, 2).padStart(24)}`);
      }
    }
  }
  out.json(rows);
  process.exit(0);
}

if (process.argv[2] === 'server') void server(process.argv[3] as Variant);
else main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
