// Fault proxy against plain sockets: pass-through, blackhole (drop and stall), delay with
// jitter, connection resets, and the partition shapes of Network.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { LinkProxy, Network } from './proxy.js';
import { mulberry32 } from './checker/gen.js';

const seed = Number(process.env.PROXY_SEED ?? Date.now() % 1_000_000);
console.log(`# proxy test seed ${seed}`);
const rnd = mulberry32(seed);

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** An echo server that also counts the bytes it received. */
async function echoServer(): Promise<{ port: number; received: () => number; server: net.Server }> {
  let received = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.on('data', (d) => {
      received += d.length;
      s.write(d);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, received: () => received, server };
}

async function proxyTo(port: number): Promise<LinkProxy> {
  const p = new LinkProxy({ host: '127.0.0.1', port }, rnd);
  await p.start();
  cleanups.push(() => p.close());
  return p;
}

async function connect(port: number): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('error', () => {});
  await once(s, 'connect');
  cleanups.push(() => void s.destroy());
  return s;
}

/** Resolves when the socket closes (for whatever reason: reset, end, error). */
function closed(s: net.Socket): Promise<void> {
  return new Promise((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));
}

/** Read exactly n bytes. */
function readN(s: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onData = (d: Buffer) => {
      parts.push(d);
      got += d.length;
      if (got >= n) {
        s.off('data', onData);
        s.off('close', onClose);
        resolve(Buffer.concat(parts).subarray(0, n));
      }
    };
    const onClose = () => reject(new Error(`closed after ${got}/${n} bytes`));
    s.on('data', onData);
    s.once('close', onClose);
  });
}

async function roundTrip(s: net.Socket, msg: string): Promise<string> {
  const r = readN(s, Buffer.byteLength(msg));
  s.write(msg);
  return (await r).toString();
}

test('passes bytes both ways', async () => {
  const echo = await echoServer();
  const p = await proxyTo(echo.port);
  const c = await connect(p.port);
  assert.equal(await roundTrip(c, 'hello'), 'hello');
  const big = 'x'.repeat(1 << 20);
  assert.equal((await roundTrip(c, big)).length, big.length);
  assert.equal(p.openConnections, 1);
});

test('blackhole (drop) discards bytes, then heal resets the damaged connection', async () => {
  const echo = await echoServer();
  const p = await proxyTo(echo.port);
  const c = await connect(p.port);
  assert.equal(await roundTrip(c, 'before'), 'before');
  const receivedBefore = echo.received();
  p.blackhole('drop');
  const dropped = once(p, 'dropped');
  c.write('lost');
  await dropped;
  assert.equal(echo.received(), receivedBefore, 'nothing reached the target');
  // A new connection is accepted but stays silent too.
  const c2 = await connect(p.port);
  const dropped2 = once(p, 'dropped');
  c2.write('also lost');
  await dropped2;
  assert.equal(echo.received(), receivedBefore);
  // Heal: the streams that lost bytes are reset; fresh connections work.
  const closedC = closed(c);
  const closed2 = closed(c2);
  p.heal();
  await Promise.all([closedC, closed2]);
  const c3 = await connect(p.port);
  assert.equal(await roundTrip(c3, 'after'), 'after');
});

test('blackhole (stall) holds bytes back and delivers them after heal', async () => {
  const echo = await echoServer();
  const p = await proxyTo(echo.port);
  const control = await proxyTo(echo.port);
  const c = await connect(p.port);
  assert.equal(await roundTrip(c, 'a'), 'a');
  p.blackhole('stall');
  let healed = false;
  const echoed = readN(c, 7).then((b) => {
    assert.ok(healed, 'stalled bytes must not flow before heal');
    return b.toString();
  });
  await new Promise<void>((resolve) => c.write('delayed', () => resolve()));
  // Give the stalled bytes every chance to leak: a full round trip through another link.
  const cc = await connect(control.port);
  assert.equal(await roundTrip(cc, 'ping'), 'ping');
  assert.equal(await roundTrip(cc, 'ping2'), 'ping2');
  healed = true;
  p.heal();
  assert.equal(await echoed, 'delayed');
});

test('delay with jitter keeps byte order and adds at least the delay', async () => {
  const echo = await echoServer();
  const p = await proxyTo(echo.port);
  const c = await connect(p.port);
  p.setDelay(40, 30);
  const t0 = performance.now();
  assert.equal(await roundTrip(c, 'slow'), 'slow');
  const rtt = performance.now() - t0;
  // 2 × 40 ms of delay, less a little for timer granularity (libuv rounds to whole ms).
  assert.ok(rtt >= 76, `round trip ${rtt.toFixed(1)} ms must include 2 × 40 ms delay`);
  // Many small writes with jitter come back in order.
  p.setDelay(1, 10);
  const msgs = Array.from({ length: 200 }, (_, i) => `<${i}>`);
  const expected = msgs.join('');
  const got = readN(c, expected.length);
  for (const m of msgs) c.write(m);
  assert.equal((await got).toString(), expected);
  p.heal();
  assert.deepEqual(p.current, { blackhole: null, delayMs: 0, jitterMs: 0 });
});

test('healing a delay keeps byte order: bytes still held back go before later ones', async () => {
  // Found by a --secure chaos run: after a delay was healed, new bytes overtook the held-back
  // ones, and the peer's TLS stream failed ("SSL routines: ssl3_read_bytes").
  const echo = await echoServer();
  const p = await proxyTo(echo.port);
  const control = await proxyTo(echo.port);
  const c = await connect(p.port);
  assert.equal(await roundTrip(c, 'a'), 'a');
  p.setDelay(500, 0);
  const got = readN(c, 'firstsecond'.length);
  await new Promise<void>((resolve) => c.write('first', () => resolve()));
  // The proxy has read 'first' (a full round trip through another link) and holds it back.
  const cc = await connect(control.port);
  assert.equal(await roundTrip(cc, 'ping'), 'ping');
  p.heal();
  c.write('second');
  assert.equal((await got).toString(), 'firstsecond');
});

test('dropConnections resets current connections; new ones work', async () => {
  const echo = await echoServer();
  const p = await proxyTo(echo.port);
  const c = await connect(p.port);
  assert.equal(await roundTrip(c, 'x'), 'x');
  const err = new Promise<string>((resolve) => {
    c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    c.once('close', () => resolve('closed'));
  });
  p.dropConnections();
  assert.ok(['ECONNRESET', 'closed', 'EPIPE'].includes(await err));
  const c2 = await connect(p.port);
  assert.equal(await roundTrip(c2, 'y'), 'y');
});

test('a dead target closes the accepted connection', async () => {
  const echo = await echoServer();
  const port = echo.port;
  await new Promise<void>((resolve) => echo.server.close(() => resolve()));
  const p = await proxyTo(port);
  const c = await connect(p.port);
  await closed(c);
});

test('network partition shapes cut exactly the links between groups', async () => {
  const nodes = [1, 2, 3, 4, 5];
  const targets = new Map<number, { host: string; port: number }>();
  for (const n of nodes) targets.set(n, { host: '127.0.0.1', port: (await echoServer()).port });
  const net5 = new Network(nodes, targets, rnd);
  await net5.start();
  cleanups.push(() => net5.close());
  assert.match(net5.dialArg(1), /^2=127\.0\.0\.1:\d+,3=127\.0\.0\.1:\d+,4=127\.0\.0\.1:\d+,5=127\.0\.0\.1:\d+$/);

  const connected = (a: number, b: number) => !net5.isCut(a, b) && !net5.isCut(b, a);
  const check = (groups: number[][]) => {
    for (const a of nodes)
      for (const b of nodes) {
        if (a === b) continue;
        assert.equal(connected(a, b), groups.some((g) => g.includes(a) && g.includes(b)), `${a}-${b}`);
      }
  };

  let f = net5.isolate(3);
  check([[3], [1, 2, 4, 5]]);
  assert.equal(f.cut.length, 8);
  net5.heal();
  check([nodes]);

  f = net5.majorityMinority(2);
  assert.equal(f.groups[0]!.length, 2);
  assert.ok(f.groups[0]!.includes(2));
  check(f.groups);
  net5.heal();

  f = net5.bridge();
  const [left, right] = f.groups as [number[], number[]];
  const bridgeNode = left.find((n) => right.includes(n))!;
  for (const n of nodes) if (n !== bridgeNode) assert.ok(connected(bridgeNode, n), `bridge ${bridgeNode} sees ${n}`);
  check(f.groups);
  net5.heal();

  f = net5.randomHalves();
  assert.equal(f.groups.length, 2);
  assert.equal(f.groups[0]!.length + f.groups[1]!.length, 5);
  check(f.groups);

  // Real bytes: a cut link drops, an intact one passes.
  const [a] = f.groups[0]!;
  const [b] = f.groups[1]!;
  const cutLink = net5.link(a!, b!);
  const c = await connect(cutLink.port);
  const dropped = once(cutLink, 'dropped');
  c.write('nope');
  await dropped;
  const other = f.groups[0]!.length > 1 ? f.groups[0]![1]! : f.groups[1]!.length > 1 ? f.groups[1]![1]! : undefined;
  if (other !== undefined) {
    const from = f.groups[0]!.includes(other) ? a! : b!;
    const ok = await connect(net5.link(from, other).port);
    assert.equal(await roundTrip(ok, 'yes'), 'yes');
  }
  net5.heal();
  check([nodes]);
});

test('a member added at run time gets proxied links both ways, partitions cut them, and removing it closes them', async () => {
  const targets = new Map<number, { host: string; port: number }>();
  for (const n of [1, 2, 3]) targets.set(n, { host: '127.0.0.1', port: (await echoServer()).port });
  const net3 = new Network([1, 2, 3], targets, mulberry32(3));
  await net3.start();
  cleanups.push(() => net3.close());
  await assert.rejects(net3.addNode(2, targets.get(2)!), /already linked/);
  await net3.addNode(42, { host: '127.0.0.1', port: (await echoServer()).port });
  assert.deepEqual([...net3.nodes], [1, 2, 3, 42]);
  assert.match(net3.dialArg(42), /^1=127\.0\.0\.1:\d+,2=127\.0\.0\.1:\d+,3=127\.0\.0\.1:\d+$/);
  assert.match(net3.dialArg(1), /,42=127\.0\.0\.1:\d+$/);
  // Bytes flow through the new links.
  const into = await connect(net3.link(1, 42).port);
  assert.equal(await roundTrip(into, 'to 42'), 'to 42');
  const outOf = await connect(net3.link(42, 3).port);
  assert.equal(await roundTrip(outOf, 'from 42'), 'from 42');
  net3.isolate(42);
  for (const n of [1, 2, 3]) assert.ok(net3.isCut(n, 42) && net3.isCut(42, n), `42 cut from ${n}`);
  assert.ok(!net3.isCut(1, 2));
  net3.heal();
  // Removed: its links are gone (and their proxies closed), the others stay.
  const port = net3.link(2, 42).port;
  await net3.removeNode(42);
  assert.deepEqual([...net3.nodes], [1, 2, 3]);
  assert.throws(() => net3.link(2, 42), /no link/);
  assert.doesNotMatch(net3.dialArg(1), /42=/);
  await assert.rejects(connect(port));
  const still = await connect(net3.link(1, 2).port);
  assert.equal(await roundTrip(still, 'ok'), 'ok');
});
