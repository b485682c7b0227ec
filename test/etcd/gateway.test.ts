// The JSON gateway's own edges, beside gRPC on one port (gateway-diff.test.ts compares it with
// etcd): HTTP/1.1 connections reused for many requests next to gRPC clients, a body over the
// limit refused with nothing written, a graceful stop ending an open watch, HTTPS (HTTP/1.1 and
// HTTP/2) with --client-cert-auth, and --enable-grpc-gateway=false leaving gRPC alone.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request as httpRequest, type RequestOptions } from 'node:http';
import * as http2 from 'node:http2';
import { connect as netConnect } from 'node:net';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../support/cluster.js';
import { makeClusterCerts, type CertDir } from '../support/certs.js';
import { etcdctl } from '../support/etcdctl.js';
import { postH2, postText, type TextReply } from '../support/http-post.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

const post = (address: string, path: string, body: string, agent?: Agent): Promise<TextReply> => postText(address, path, body, { agent });

const revisionOf = (r: TextReply): number => Number((JSON.parse(r.body) as { header: { revision: string } }).header.revision);

describe('etcd JSON gateway: one port for HTTP and gRPC', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({ nodes: 1 });
  });
  after(async () => {
    await c?.stop();
  });

  it('serves many requests on one kept-alive HTTP/1.1 connection while gRPC clients use the port', async () => {
    const addr = c.nodes[0]!.grpcAddress;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    agent.on('free', (s) => sockets.add(s));
    try {
      for (let i = 0; i < 20; i++) {
        const r = await post(addr, '/v3/kv/put', JSON.stringify({ key: b64(`ka/${i}`), value: b64(String(i)) }), agent);
        assert.equal(r.status, 200, r.body);
        if (i % 5 === 0) {
          const ctl = await etcdctl([addr], ['get', `ka/${i}`, '--print-value-only']);
          assert.equal(ctl.stdout.trim(), String(i), ctl.stderr);
        }
      }
      assert.equal(sockets.size, 1, 'all 20 requests went over one connection');
      const count = await post(addr, '/v3/kv/range', JSON.stringify({ key: b64('ka/'), range_end: b64('ka0'), count_only: true }), agent);
      assert.equal(JSON.parse(count.body).count, '20');
    } finally {
      agent.destroy();
    }
  });

  it('refuses a body over its limit (413, RESOURCE_EXHAUSTED) and writes nothing', async () => {
    const addr = c.nodes[0]!.grpcAddress;
    const before = revisionOf(await post(addr, '/v3/kv/range', JSON.stringify({ key: b64('x') })));
    // The limit is twice --max-request-bytes (1.5 MiB) plus 1 MiB: 4 MiB.
    const huge = JSON.stringify({ key: b64('big'), value: Buffer.alloc(3 * 1024 * 1024, 7).toString('base64') });
    const r = await post(addr, '/v3/kv/put', huge);
    assert.equal(r.status, 413, r.body);
    const body = JSON.parse(r.body) as { code: number; error: string };
    assert.equal(body.code, 8);
    assert.match(body.error, /request body is larger than 4194304 bytes/);
    const afterRead = await post(addr, '/v3/kv/range', JSON.stringify({ key: b64('big') }));
    assert.equal(revisionOf(afterRead), before);
    assert.equal(JSON.parse(afterRead.body).kvs, undefined);
  });

  it('streams a backup from /v3/maintenance/snapshot: its pieces, then their SHA-256', async () => {
    const addr = c.nodes[0]!.grpcAddress;
    const r = await post(addr, '/v3/maintenance/snapshot', '{}');
    assert.equal(r.status, 200);
    const pieces = r.body.trim().split('\n').map((l) => (JSON.parse(l) as { result: { remaining_bytes?: string; blob?: string } }).result);
    const data = Buffer.concat(pieces.slice(0, -1).map((p) => Buffer.from(p.blob ?? '', 'base64')));
    assert.ok(data.length > 0, 'the backup has bytes');
    assert.equal(Buffer.from(pieces.at(-1)!.blob!, 'base64').toString('hex'), createHash('sha256').update(data).digest('hex'));
    // Each piece says how many bytes follow it (etcd's remaining_bytes), 0 (left out) at the end.
    let left = data.length;
    for (const p of pieces.slice(0, -1)) {
      left -= Buffer.from(p.blob ?? '', 'base64').length;
      assert.equal(Number(p.remaining_bytes ?? 0), left);
    }
  });

  it('a watch whose client went away is cancelled on the member; odd Grpc-Metadata names are skipped', async () => {
    const addr = c.nodes[0]!.grpcAddress;
    const streams = async (): Promise<number> => {
      const text = await (await fetch(`http://${c.nodes[0]!.httpAddress}/metrics`)).text();
      const m = /^placement_watch_streams(?:\{[^}]*\})? (\d+)/m.exec(text);
      assert.ok(m, 'the watch streams gauge is exported');
      return Number(m[1]);
    };
    const before = await streams();
    const aborts = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const ac = new AbortController();
        const res = await fetch(`http://${addr}/v3/watch`, { method: 'POST', body: JSON.stringify({ create_request: { key: b64('gone/') } }), signal: ac.signal });
        const reader = res.body!.getReader();
        await reader.read(); // the "created" line
        return ac;
      }),
    );
    assert.equal(await streams(), before + 5);
    for (const ac of aborts) ac.abort();
    await c.waitFor(async () => (await streams()) === before, { what: 'the watch streams closed' });
    const odd = await fetch(`http://${addr}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: b64('x') }), headers: { 'Grpc-Metadata-a!b': 'x', 'Grpc-Metadata-Trace-Bin': 'AAAA' } });
    assert.equal(odd.status, 200);
  });

  it('a garbled first line on the port is closed, and the port keeps serving', async () => {
    const addr = c.nodes[0]!.grpcAddress;
    const [host, port] = addr.split(':');
    const answer = await new Promise<string>((resolve) => {
      const s = netConnect(Number(port), host!, () => s.write('NOT HTTP AT ALL\r\n\r\n'));
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', () => undefined);
    });
    assert.match(answer, /^HTTP\/1\.1 400 Bad Request/);
    const ok = await post(addr, '/v3/kv/range', JSON.stringify({ key: b64('x') }));
    assert.equal(ok.status, 200);
  });

  it('a graceful stop ends an open watch response and removes the loopback socket; after kill -9 the member starts and serves again', { timeout: 60_000 }, async () => {
    const addr = c.nodes[0]!.grpcAddress;
    const [host, port] = addr.split(':');
    const lines: string[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host, port: Number(port), path: '/v3/watch', method: 'POST' }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
        res.on('end', () => resolve());
        res.on('error', () => resolve());
        res.on('aborted', () => resolve());
      });
      req.on('error', reject);
      req.end(JSON.stringify({ create_request: { key: b64('stop/') } }));
    });
    await c.waitFor(async () => lines.length >= 1, { what: 'the watch created' });
    assert.equal(JSON.parse(lines[0]!).result.created, true);
    const socket = join(c.nodes[0]!.dataDir, 'gateway.sock');
    assert.ok(existsSync(socket), 'the loopback socket is in the data dir');
    const code = await c.stopNode(1, 20_000);
    assert.equal(code, 0, 'the member stopped by itself (nothing held it open)');
    await ended;
    assert.equal(existsSync(socket), false, 'a graceful stop removes the socket');
    // kill -9 leaves it behind; the next start replaces it.
    await c.start(1);
    await c.waitForLeader();
    await c.kill(1, 'SIGKILL');
    assert.ok(existsSync(socket), 'left behind by kill -9');
    await c.start(1);
    await c.waitForLeader();
    const r = await post(addr, '/v3/kv/range', JSON.stringify({ key: b64('x') }));
    assert.equal(r.status, 200);
  });
});

describe('etcd JSON gateway over TLS with --client-cert-auth', () => {
  let c: Cluster;
  let root: string;
  let certs: CertDir;
  let client: { cert: Buffer; key: Buffer };
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'pc-gw-tls-'));
    certs = makeClusterCerts(join(root, 'ca'), 1, ['alice']);
    client = certs.read(certs.client('alice'));
    c = await startCluster({
      nodes: 1,
      https: { ca: certs.ca, ...client },
      extraArgs: (id) => ['--cert-file', certs.member(id).cert, '--key-file', certs.member(id).key, '--trusted-ca-file', certs.caFile, '--client-cert-auth'],
    });
  });
  after(async () => {
    await c?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const httpsPost = (path: string, body: string, withCert: boolean, alpn?: string[]): Promise<TextReply> =>
    postText(c.nodes[0]!.grpcAddress, path, body, { tls: { ca: certs.ca, ...(withCert ? client : {}), ...(alpn ? { ALPNProtocols: alpn } : {}) } as RequestOptions });

  it('answers HTTPS/1.1 with a client certificate, with or without ALPN', async () => {
    const put = await httpsPost('/v3/kv/put', JSON.stringify({ key: b64('tls/a'), value: b64('1') }), true);
    assert.equal(put.status, 200, put.body);
    for (const alpn of [undefined, ['http/1.1']]) {
      const r = await httpsPost('/v3/kv/range', JSON.stringify({ key: b64('tls/a') }), true, alpn);
      assert.equal(r.status, 200, r.body);
      assert.equal(JSON.parse(r.body).kvs[0].value, b64('1'));
    }
  });

  it('answers HTTP/2 over TLS (what curl negotiates)', async () => {
    const session = http2.connect(`https://${c.nodes[0]!.grpcAddress}`, { ca: certs.ca, ...client });
    try {
      const r = await postH2(session, '/v3/kv/range', JSON.stringify({ key: b64('tls/a') }));
      assert.equal(r.status, 200, r.body);
      assert.equal(JSON.parse(r.body).kvs[0].value, b64('1'));
    } finally {
      session.close();
    }
  });

  it('without a client certificate the connection is refused, as for gRPC', async () => {
    await assert.rejects(httpsPost('/v3/kv/range', JSON.stringify({ key: b64('tls/a') }), false));
    // And plaintext HTTP on the TLS port gets nothing.
    const [host, port] = c.nodes[0]!.grpcAddress.split(':');
    const plain = await new Promise<string>((resolve) => {
      const s = netConnect(Number(port), host!, () => s.write('POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}'));
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
    });
    assert.doesNotMatch(plain, /"kvs"|"header"/);
  });
});

describe('/metrics on the client port with --metrics-auth', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({ nodes: 1, extraArgs: ['--metrics-auth', 'true'] });
  });
  after(async () => {
    await c?.stop();
  });

  it('is open while auth is off; with auth on it needs a root token in Authorization, like GET /metrics on the admin port', async () => {
    const addr = c.nodes[0]!.grpcAddress;
    const metrics = (authorization?: string): Promise<Response> => fetch(`http://${addr}/metrics`, { headers: authorization ? { Authorization: authorization } : {} });
    const open = await metrics();
    assert.equal(open.status, 200);
    assert.match(await open.text(), /^process_resident_memory_bytes /m);
    const ok = async (path: string, body: object, authorization?: string): Promise<Record<string, unknown>> => {
      const r = await fetch(`http://${addr}${path}`, { method: 'POST', body: JSON.stringify(body), headers: authorization ? { Authorization: authorization } : {} });
      const parsed = (await r.json()) as Record<string, unknown>;
      assert.equal(r.status, 200, JSON.stringify(parsed));
      return parsed;
    };
    await ok('/v3/auth/user/add', { name: 'root', password: 'pw' });
    await ok('/v3/auth/user/grant', { user: 'root', role: 'root' });
    await ok('/v3/auth/user/add', { name: 'bob', password: 'pw2' });
    await ok('/v3/auth/enable', {});
    const root = (await ok('/v3/auth/authenticate', { name: 'root', password: 'pw' })).token as string;
    const bob = (await ok('/v3/auth/authenticate', { name: 'bob', password: 'pw2' })).token as string;
    const refused = async (authorization?: string): Promise<[number, unknown]> => {
      const r = await metrics(authorization);
      return [r.status, ((await r.json()) as { error: string }).error];
    };
    assert.deepEqual(await refused(), [401, 'etcdserver: user name is empty']);
    assert.deepEqual(await refused('not-a-token'), [401, 'etcdserver: invalid auth token']);
    assert.deepEqual(await refused(bob), [403, 'etcdserver: permission denied']);
    const allowed = await metrics(root);
    assert.equal(allowed.status, 200);
    assert.match(await allowed.text(), /^placement_/m);
    await ok('/v3/auth/disable', {}, root);
  });
});

describe('--enable-grpc-gateway=false', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({ nodes: 1, extraArgs: ['--enable-grpc-gateway', 'false'] });
  });
  after(async () => {
    await c?.stop();
  });

  it('serves gRPC only: HTTP/1.1 requests get no answer', async () => {
    const addr = c.nodes[0]!.grpcAddress;
    await assert.rejects(post(addr, '/v3/kv/range', JSON.stringify({ key: b64('x') })));
    const ctl = await etcdctl([addr], ['put', 'k', 'v']);
    assert.equal(ctl.code, 0, ctl.stderr);
  });
});
