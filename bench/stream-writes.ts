// `npm run bench:stream-writes`: what a server stream costs per message when several messages
// are written in one turn (a revision fanned out to the watchers of one Watch stream, the
// keep-alives one lease renewal answers), two ways, each in its own child process, interleaved
// over rounds:
//   duplex   call.write on grpc-js's stream object (a Writable that hands HTTP/2 one message at
//            a time, each after the previous one was written)
//   direct   src/grpc/stream-writer.ts (messages handed to the call underneath, all at once)
// A client sends one request on a bidi stream; the server answers it with N 120-byte messages
// written in one turn; the client sends the next request once all N arrived. Prints turns/s,
// the server's CPU (user + sys) per message and its write syscalls per message (/proc/PID/io
// syscw: each is one socket write), for N = 1, 16 and 64, then the per-round ratios.
// Options (env): BENCH_SECONDS (default 3 per row), BENCH_ROUNDS (default 3).
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS } from './etcd-raw.js';
import { keepRawOutput } from './measure.js';
import { ask, reportToParent } from './server-child.js';
import { minMedianMax as spread } from './compare-table.js';
import { messageWriter } from '../src/grpc/stream-writer.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MODES = ['duplex', 'direct'] as const;
type Mode = (typeof MODES)[number];
const LEVELS = [1, 16, 64];
const MESSAGE = Buffer.alloc(120, 0x62);
const raw = (b: Buffer): Buffer => b;
const PATH = '/bench.Stream/Fan';
const service = {
  fan: { path: PATH, requestStream: true, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
} as unknown as grpc.ServiceDefinition;

// ---------------------------------------------------------------- server child

async function server(mode: Mode): Promise<void> {
  const srv = new grpc.Server({ ...CHANNEL_OPTIONS, 'grpc.keepalive_permit_without_calls': 1 });
  srv.addService(service, {
    fan: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      const send = mode === 'direct' ? messageWriter(call) : (m: Buffer): void => void call.write(m);
      call.on('data', (req: Buffer) => {
        const n = req.readUInt16BE(0);
        for (let i = 0; i < n; i++) send(MESSAGE);
      });
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((res, rej) => srv.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  reportToParent(port);
}

// ---------------------------------------------------------------- driver

function socketWrites(pid: number): number {
  return Number(/^syscw: (\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);
}

interface Row {
  mode: Mode;
  n: number;
  round: number;
  turnsPerSec: number;
  serverUsPerMessage: number;
  writesPerMessage: number;
}

/** Closed loop for `seconds`: one request, N replies, the next request. */
async function run(call: grpc.ClientDuplexStream<Buffer, Buffer>, n: number, seconds: number): Promise<number> {
  const req = Buffer.alloc(2);
  req.writeUInt16BE(n);
  const end = performance.now() + seconds * 1000;
  let turns = 0;
  await new Promise<void>((resolve) => {
    let got = 0;
    const onData = (): void => {
      if (++got < n) return;
      got = 0;
      turns++;
      if (performance.now() < end) call.write(req);
      else {
        call.off('data', onData);
        resolve();
      }
    };
    call.on('data', onData);
    call.write(req);
  });
  return turns;
}

async function measureMode(mode: Mode, round: number): Promise<Row[]> {
  const child = fork(new URL(import.meta.url).pathname, ['server', mode], { execArgv: process.execArgv });
  const rows: Row[] = [];
  try {
    const { port } = await ask<{ port: number }>(child, null);
    const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    const call = c.makeBidiStreamRequest(PATH, raw, raw);
    call.on('error', () => undefined);
    for (const n of LEVELS) {
      await run(call, n, 0.5); // warm-up: the server's JIT, the connection's windows
      const cpu0 = (await ask<{ cpu: number }>(child, 'cpu')).cpu;
      const w0 = socketWrites(child.pid!);
      const t0 = performance.now();
      const turns = await run(call, n, SECONDS);
      const secs = (performance.now() - t0) / 1000;
      const w1 = socketWrites(child.pid!);
      const cpu1 = (await ask<{ cpu: number }>(child, 'cpu')).cpu;
      const msgs = turns * n;
      const row: Row = { mode, n, round, turnsPerSec: turns / secs, serverUsPerMessage: (cpu1 - cpu0) / msgs, writesPerMessage: (w1 - w0) / msgs };
      rows.push(row);
      console.log(`${String(round).padStart(5)}  ${mode.padEnd(8)}${String(n).padStart(8)}${row.turnsPerSec.toFixed(0).padStart(10)}${row.serverUsPerMessage.toFixed(2).padStart(18)}${row.writesPerMessage.toFixed(3).padStart(18)}`);
    }
    call.end();
    c.close();
  } finally {
    child.kill('SIGKILL');
  }
  return rows;
}

async function main(): Promise<void> {
  const out = keepRawOutput('stream-writes');
  console.log(`server stream writes: N ${MESSAGE.length}-byte messages written in one turn, ${SECONDS} s per row, ${ROUNDS} rounds, modes interleaved\n`);
  console.log(`round  ${'mode'.padEnd(8)}${'N'.padStart(8)}${'turns/s'.padStart(10)}${'server µs/message'.padStart(18)}${'writes/message'.padStart(18)}`);
  const rows: Row[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? MODES : [...MODES].reverse();
    for (const m of order) rows.push(...(await measureMode(m, round)));
  }
  console.log(`\nper-round ratios direct / duplex (min / median / max)`);
  console.log(`${'N'.padStart(4)}${'turns/s'.padStart(24)}${'server CPU/message'.padStart(24)}${'writes/message'.padStart(24)}`);
  for (const n of LEVELS) {
    const r = (f: (x: Row) => number): number[] =>
      Array.from({ length: ROUNDS }, (_, i) => {
        const a = rows.find((x) => x.mode === 'duplex' && x.n === n && x.round === i + 1)!;
        const b = rows.find((x) => x.mode === 'direct' && x.n === n && x.round === i + 1)!;
        return f(b) / f(a);
      });
    console.log(`${String(n).padStart(4)}${spread(r((x) => x.turnsPerSec), 2).padStart(24)}${spread(r((x) => x.serverUsPerMessage), 2).padStart(24)}${spread(r((x) => x.writesPerMessage), 3).padStart(24)}`);
  }
  out.json(rows);
  process.exit(0);
}

if (process.argv[2] === 'server') void server(process.argv[3] as Mode);
else
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
