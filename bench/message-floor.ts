// `npm run bench:floor`: what one message exchange between two Node.js processes costs on this
// machine, with nothing else in it: a round trip over a grpc-js client stream each way (the shape
// of the peer transport) and over a raw TCP socket. Every Raft message a read or write needs
// costs at least this much CPU, which is why the node batches and piggybacks messages.
//
// Prints round trips per second and CPU (user + sys) per round trip of each process, for one
// round trip at a time back to back, and paced with a 1 ms pause (each message then wakes a
// process that was asleep, as in a lightly loaded cluster).
// Options (env): BENCH_SECONDS (default 3 per row).
import { fork } from 'node:child_process';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { cpuSeconds, keepRawOutput } from './measure.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
type Mode = 'grpc' | 'tcp';
const raw = (b: Buffer): Buffer => b;
const service = {
  push: { path: '/bench.Floor/Push', requestStream: true, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
} as unknown as grpc.ServiceDefinition;
const Client = grpc.makeGenericClientConstructor(service, 'Floor');
const OPTIONS = { 'grpc.enable_channelz': 0 };

/** Listens; `onMessage` gets every message. Resolves with the port. */
async function listen(mode: Mode, onMessage: (b: Buffer, reply: (b: Buffer) => void) => void): Promise<number> {
  if (mode === 'tcp') {
    const srv = net.createServer((sock) => {
      sock.setNoDelay(true);
      sock.on('data', (b) => onMessage(b, (r) => sock.write(r)));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    return (srv.address() as net.AddressInfo).port;
  }
  const s = new grpc.Server(OPTIONS);
  s.addService(service, { push: (call: grpc.ServerReadableStream<Buffer, Buffer>) => call.on('data', (b: Buffer) => onMessage(b, () => {})) });
  return new Promise((resolve, reject) => s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, port) => (e ? reject(e) : resolve(port))));
}

function grpcSender(port: number): (b: Buffer) => void {
  const stream = (new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), OPTIONS) as unknown as { push(cb: () => void): grpc.ClientWritableStream<Buffer> }).push(() => {});
  return (b) => stream.write(b);
}

async function peer(mode: Mode): Promise<void> {
  // Echoes each message back: over its own client stream (grpc), or on the same socket (tcp).
  let out: ((b: Buffer) => void) | undefined;
  const port = await listen(mode, (b, reply) => setImmediate(() => (mode === 'tcp' ? reply(b) : out!(b))));
  process.on('message', (m: { port: number }) => (out = grpcSender(m.port)));
  process.send!({ port });
}

async function main(): Promise<void> {
  keepRawOutput('floor');
  console.log(`one message exchange between two processes, ${SECONDS} s per row\n`);
  console.log(`${'transport'.padEnd(24)}${'pause'.padStart(8)}${'round trips/s'.padStart(15)}${'echo µs/rt'.padStart(12)}${'sender µs/rt'.padStart(14)}`);
  for (const mode of ['grpc', 'tcp'] as Mode[]) {
    const child = fork(new URL(import.meta.url).pathname, ['peer', mode], { execArgv: process.execArgv });
    try {
      const { port } = await new Promise<{ port: number }>((r) => child.once('message', (m) => r(m as { port: number })));
      let onReply: () => void = () => {};
      let send: (b: Buffer) => void;
      if (mode === 'grpc') {
        const myPort = await listen('grpc', () => onReply());
        child.send({ port: myPort });
        send = grpcSender(port);
      } else {
        const sock = net.connect(port, '127.0.0.1');
        sock.setNoDelay(true);
        await new Promise((r) => sock.once('connect', r));
        sock.on('data', () => onReply());
        send = (b) => sock.write(b);
      }
      const msg = Buffer.alloc(64, 1);
      const roundTrip = (): Promise<void> =>
        new Promise<void>((r) => {
          onReply = r;
          send(msg);
        });
      for (let i = 0; i < 2000; i++) await roundTrip(); // warm-up (JIT, connection)
      for (const pauseMs of [0, 1]) {
        let n = 0;
        const end = performance.now() + SECONDS * 1000;
        const p0 = cpuSeconds(child.pid);
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        while (performance.now() < end) {
          await roundTrip();
          n++;
          if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
        }
        const secs = (performance.now() - t0) / 1000;
        const cu = process.cpuUsage(c0);
        const echo = ((cpuSeconds(child.pid) - p0) * 1e6) / n;
        const self = (cu.user + cu.system) / n;
        console.log(`${(mode === 'grpc' ? 'grpc-js client streams' : 'raw TCP socket').padEnd(24)}${`${pauseMs} ms`.padStart(8)}${(n / secs).toFixed(0).padStart(15)}${echo.toFixed(0).padStart(12)}${self.toFixed(0).padStart(14)}`);
      }
    } finally {
      child.kill('SIGKILL');
    }
  }
  process.exit(0);
}

if (process.argv[2] === 'peer') void peer(process.argv[3] as Mode);
else main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
