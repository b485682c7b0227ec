// Route tests of the admin API against the in-memory backend (test/http/memory-backend.ts).
import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import type { Express } from 'express';
import { createAdminApp } from '../../src/http/app.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { verifyPassword } from '../../src/http/passwords.js';
import { PlacementError } from '../../src/errors.js';
import type { PeerGet } from '../../src/http/overview.js';
import { VERSION } from '../../src/version.js';
import { MemoryBackend } from './memory-backend.js';

let backend: MemoryBackend;
let metrics: Metrics;
let app: Express;

/** Puts a key straight into the in-memory store (no command), for listings of many keys. */
function seed(key: string, value = key): void {
  backend.kv.set(key, { key, value: Buffer.from(value), createRevision: 1, modRevision: 1, version: 1, lease: 0 });
}

function setup(extra: { bodyLimit?: string; maxKeyBytes?: number; maxValueBytes?: number; maxListLimit?: number } = {}): void {
  backend = new MemoryBackend();
  metrics = new Metrics({ defaultMetrics: false });
  app = createAdminApp({ backend, metrics, ...extra });
}

/** Asserts an error envelope: HTTP status, envelope code and a message matching `re`. */
function assertError(res: request.Response, status: number, code: number, re?: RegExp): void {
  assert.equal(res.status, status, `status; body ${JSON.stringify(res.body)}`);
  assert.match(String(res.headers['content-type']), /application\/json/);
  assert.equal(res.body.code, code);
  assert.equal(res.body.data, null);
  assert.equal(typeof res.body.error, 'string');
  if (re) assert.match(res.body.error, re);
}

describe('cluster routes', () => {
  beforeEach(() => setup());

  it('GET /v1/cluster/status answers the envelope with the node status', async () => {
    const res = await request(app).get('/v1/cluster/status').expect(200);
    assert.equal(res.body.code, 0);
    for (const f of ['id', 'leaderId', 'term', 'role', 'commitIndex', 'appliedIndex', 'members']) {
      assert.ok(f in res.body.data, f);
    }
    assert.equal(res.body.data.leaderId, 1);
    assert.equal(res.body.data.role, 'leader');
  });

  it('GET /v1/cluster/members lists members with role, match index and lag', async () => {
    const res = await request(app).get('/v1/cluster/members').expect(200);
    assert.equal(res.body.data.members.length, 3);
    const m = res.body.data.members[0];
    assert.deepEqual(Object.keys(m).sort(), ['address', 'httpAddress', 'id', 'isLeader', 'lag', 'matchIndex', 'role']);
  });

  it('GET /v1/cluster/status adds the version and the DB size', async () => {
    metrics.bindStorageStatus(() => ({ walSegments: 1, dbSizeBytes: 123456 }));
    const res = await request(app).get('/v1/cluster/status').expect(200);
    assert.equal(res.body.data.version, VERSION);
    assert.equal(res.body.data.dbSizeBytes, 123456);
  });

  it("GET /v1/cluster/overview: every member as it answers for itself, the leader's lag, an unreachable member with the reason", async () => {
    const backends = [1, 2, 3].map((id) => new MemoryBackend(id));
    backends[1]!.term = 5; // node 2 answers its own term
    backends[1]!.storageWritable = false; // and is not ready
    const byAddress = new Map(
      backends.map((b) => [`127.0.0.1:${1217 + b.id * 10}`, createAdminApp({ backend: b, metrics: new Metrics({ defaultMetrics: false }) })]),
    );
    const asked: string[] = [];
    const peerGet: PeerGet = async (address, path, o) => {
      asked.push(`${address}${path} ${o.headers.authorization ?? '-'} ${o.timeoutMs}`);
      if (address.endsWith(':1247')) throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
      const r = await request(byAddress.get(address)!).get(path).set(o.headers);
      return { status: r.status, body: r.body };
    };
    const app1 = createAdminApp({ backend: backends[0]!, metrics, peerGet, peerTimeoutMs: 700 });
    const res = await request(app1).get('/v1/cluster/overview').set('Authorization', 'Bearer t0ken').expect(200);
    const o = res.body.data;
    assert.deepEqual([o.clusterId, o.servedBy, o.leaderId], ['memory', 1, 1]);
    assert.deepEqual(asked.sort(), [
      '127.0.0.1:1237/readyz Bearer t0ken 700',
      '127.0.0.1:1237/v1/cluster/status Bearer t0ken 700',
      '127.0.0.1:1247/readyz Bearer t0ken 700',
      '127.0.0.1:1247/v1/cluster/status Bearer t0ken 700',
    ]);
    const [m1, m2, m3] = o.members;
    assert.deepEqual([m1.id, m1.reachable, m1.isLeader, m1.status.role, m1.status.version, m1.health.status], [1, true, true, 'leader', VERSION, 'ok']);
    assert.equal('members' in m1.status, false);
    assert.deepEqual([m2.id, m2.reachable, m2.status.term, m2.status.role, m2.lag, m2.health.status], [2, true, 5, 'follower', 0, 'failing']);
    assert.deepEqual([m3.id, m3.reachable, m3.error, m3.status, m3.health], [3, false, 'ECONNREFUSED', null, null]);
  });

  it('GET /v1/cluster/members answers 503 with no leader', async () => {
    backend.setLeader(0);
    assertError(await request(app).get('/v1/cluster/members'), 503, 14, /no leader/);
  });

  it('GET /v1/debug/hash returns the state digest, which changes with writes', async () => {
    const a = (await request(app).get('/v1/debug/hash').expect(200)).body.data;
    await request(app).put('/v1/kv/x').send({ value: '1' }).expect(200);
    const b = (await request(app).get('/v1/debug/hash').expect(200)).body.data;
    assert.equal(typeof a.hash, 'string');
    assert.notEqual(a.hash, b.hash);
    assert.equal(b.appliedIndex, a.appliedIndex + 1);
  });
});

describe('kv routes', () => {
  beforeEach(() => setup());

  it('PUT then GET a key, UTF-8 by default, through a Raft put command', async () => {
    const put = await request(app).put('/v1/kv/brokers/1').send({ value: 'héllo' }).expect(200);
    assert.equal(put.body.code, 0);
    assert.equal(put.body.data.key, 'brokers/1');
    assert.equal(put.body.data.prevKv, null);
    const cmd = backend.proposed.at(-1)!;
    assert.equal(cmd.op?.$case, 'put');
    assert.deepEqual(cmd.op?.$case === 'put' && cmd.op.value.value, Buffer.from('héllo'));
    const get = await request(app).get('/v1/kv/brokers/1').expect(200);
    assert.equal(get.body.data.value, 'héllo');
    assert.equal(get.body.data.encoding, 'utf8');
    assert.equal(get.body.data.version, 1);
    assert.deepEqual(backend.reads.at(-1), { op: 'get', serializable: false }, 'linearizable by default');
  });

  it('keys with a leading slash work literally and as %2F', async () => {
    await request(app).put('/v1/kv//brokers/2').send({ value: 'a' }).expect(200);
    assert.ok(backend.kv.has('/brokers/2'));
    const res = await request(app).get('/v1/kv/%2Fbrokers%2F2').expect(200);
    assert.equal(res.body.data.key, '/brokers/2');
  });

  it('a second PUT returns the previous value', async () => {
    await request(app).put('/v1/kv/k').send({ value: 'one' }).expect(200);
    const res = await request(app).put('/v1/kv/k').send({ value: 'two' }).expect(200);
    assert.equal(res.body.data.prevKv.value, 'one');
    assert.ok(res.body.data.revision > res.body.data.prevKv.modRevision);
  });

  it('base64 values in and out; non-UTF-8 bytes come back as base64', async () => {
    const bytes = Buffer.from([0xff, 0x00, 0xfe]);
    await request(app).put('/v1/kv/bin').send({ value: bytes.toString('base64'), encoding: 'base64' }).expect(200);
    assert.deepEqual(backend.kv.get('bin')!.value, bytes);
    const res = await request(app).get('/v1/kv/bin').expect(200);
    assert.equal(res.body.data.encoding, 'base64');
    assert.equal(res.body.data.value, bytes.toString('base64'));
    await request(app).put('/v1/kv/txt').send({ value: 'abc' }).expect(200);
    const b64 = await request(app).get('/v1/kv/txt?encoding=base64').expect(200);
    assert.equal(b64.body.data.value, Buffer.from('abc').toString('base64'));
  });

  it('serializable=true reads locally, and still answers with no leader', async () => {
    await request(app).put('/v1/kv/s').send({ value: 'v' }).expect(200);
    backend.setLeader(0);
    assertError(await request(app).get('/v1/kv/s'), 503, 14);
    const res = await request(app).get('/v1/kv/s?serializable=true').expect(200);
    assert.equal(res.body.data.value, 'v');
    assert.deepEqual(backend.reads.at(-1), { op: 'get', serializable: true });
  });

  it('writes with no leader answer 503 and change nothing', async () => {
    backend.setLeader(0);
    assertError(await request(app).put('/v1/kv/a').send({ value: 'x' }), 503, 14, /no leader/);
    assert.equal(backend.kv.size, 0);
  });

  it('a leader hint in the error is exposed as headers', async () => {
    backend.propose = async () => {
      throw new PlacementError('UNAVAILABLE', 'forwarding to the leader failed', 2, '127.0.0.1:1238');
    };
    const res = await request(app).put('/v1/kv/a').send({ value: 'x' });
    assertError(res, 503, 14);
    assert.equal(res.headers['x-placement-leader-id'], '2');
    assert.equal(res.headers['x-placement-leader-address'], '127.0.0.1:1238');
  });

  it('GET of a missing key is 404', async () => {
    assertError(await request(app).get('/v1/kv/nope'), 404, 5, /key not found: nope/);
  });

  it('DELETE a key; deleting again is 404', async () => {
    await request(app).put('/v1/kv/d').send({ value: 'v' }).expect(200);
    const res = await request(app).delete('/v1/kv/d').expect(200);
    assert.equal(res.body.data.deleted, true);
    assert.equal(res.body.data.prevKv.value, 'v');
    assert.equal(backend.kv.has('d'), false);
    assertError(await request(app).delete('/v1/kv/d'), 404, 5);
  });

  it('validation: bad body fields name the field and the rule', async () => {
    assertError(await request(app).put('/v1/kv/a').send({ value: 5 }), 400, 3, /^value: .*expected string/);
    assertError(await request(app).put('/v1/kv/a').send({}), 400, 3, /^value: /);
    assertError(await request(app).put('/v1/kv/a').send({ value: 'x', encoding: 'hex' }), 400, 3, /encoding: .*utf8.*base64/);
    assertError(await request(app).put('/v1/kv/a').send({ value: 'x', extra: 1 }), 400, 3, /Unrecognized key.*extra/);
    assertError(await request(app).put('/v1/kv/a').send({ value: 'x', lease: -1 }), 400, 3, /^lease: .*>=0/);
    assertError(
      await request(app).put('/v1/kv/a').send({ value: '%%%', encoding: 'base64' }),
      400,
      3,
      /value: is not valid base64/,
    );
    assertError(await request(app).put('/v1/kv/a').send([1, 2]), 400, 3, /body: must be a JSON object/);
    assertError(
      await request(app).put('/v1/kv/a').set('Content-Type', 'text/plain').send('hello'),
      400,
      3,
      /body: must be a JSON object/,
    );
    assert.equal(backend.proposed.length, 0, 'bad input changes nothing');
  });

  it('validation: key and value size limits (configurable)', async () => {
    setup({ maxKeyBytes: 8, maxValueBytes: 4 });
    assertError(await request(app).put('/v1/kv/123456789').send({ value: 'x' }), 400, 3, /key: must be at most 8 bytes/);
    assertError(await request(app).get('/v1/kv/123456789'), 400, 3, /key: must be at most 8 bytes/);
    assertError(await request(app).put('/v1/kv/k').send({ value: 'xxxxx' }), 400, 3, /value: must be at most 4 bytes/);
    // the limit is on bytes, not characters
    assertError(await request(app).put('/v1/kv/k').send({ value: 'ééé' }), 400, 3, /value: must be at most 4 bytes/);
    await request(app).put('/v1/kv/k').send({ value: 'xxxx' }).expect(200);
    assertError(await request(app).get('/v1/kv?prefix=123456789'), 400, 3, /prefix: must be at most 8 bytes/);
    assert.equal(backend.proposed.length, 1);
  });

  it('an empty key: /v1/kv/ is the /v1/kv route (trailing slash), so PUT there names no key: 400, nothing written', async () => {
    await request(app).get('/v1/kv/').expect(200);
    assertError(await request(app).put('/v1/kv/').send({ value: 'x' }), 400, 3, /^key: required/);
    assert.equal(backend.proposed.length, 0);
  });

  it('?key= addresses the README\'s keys that start with "/": GET, PUT and DELETE /v1/kv?key=/brokers/1', async () => {
    const put = await request(app).put('/v1/kv?key=/brokers/1').send({ value: '{"host":"10.0.0.7"}' }).expect(200);
    assert.equal(put.body.data.key, '/brokers/1');
    // The same key as the path form's /v1/kv//brokers/1, not "brokers/1".
    const viaPath = await request(app).get('/v1/kv//brokers/1').expect(200);
    assert.equal(viaPath.body.data.value, '{"host":"10.0.0.7"}');
    await request(app).get('/v1/kv/brokers/1').expect(404);
    const got = await request(app).get('/v1/kv').query({ key: '/brokers/1' }).expect(200);
    assert.deepEqual(got.body.data, viaPath.body.data);
    const serializable = await request(app).get('/v1/kv?key=/brokers/1&serializable=true&encoding=base64').expect(200);
    assert.equal(serializable.body.data.encoding, 'base64');
    assert.deepEqual(backend.reads.slice(-1), [{ op: 'get', serializable: true }]);
    // The key may also be percent-encoded in the query.
    await request(app).get('/v1/kv?key=%2Fbrokers%2F1').expect(200);
    const del = await request(app).delete('/v1/kv?key=/brokers/1').expect(200);
    assert.equal(del.body.data.key, '/brokers/1');
    assert.equal(del.body.data.deleted, true);
    assertError(await request(app).get('/v1/kv?key=/brokers/1'), 404, 5, /key not found: \/brokers\/1/);
    assertError(await request(app).delete('/v1/kv?key=/brokers/1'), 404, 5, /key not found/);
    // Listing still works without key.
    await request(app).put('/v1/kv?key=/brokers/2').send({ value: 'b2' }).expect(200);
    const list = await request(app).get('/v1/kv?prefix=/brokers/').expect(200);
    assert.deepEqual(list.body.data.kvs.map((k: { key: string }) => k.key), ['/brokers/2']);
  });

  it('?key= errors: missing on PUT/DELETE, empty, repeated, or mixed with list parameters: 400, nothing written', async () => {
    const before = backend.proposed.length;
    assertError(await request(app).put('/v1/kv').send({ value: 'x' }), 400, 3, /^key: required/);
    assertError(await request(app).delete('/v1/kv'), 400, 3, /^key: required/);
    assertError(await request(app).put('/v1/kv?key=').send({ value: 'x' }), 400, 3, /^key: must not be empty/);
    assertError(await request(app).put('/v1/kv?key=/a&key=/b').send({ value: 'x' }), 400, 3, /^key: /);
    assertError(await request(app).get('/v1/kv?key=/a&prefix=/'), 400, 3, /^key: cannot be combined with prefix/);
    assertError(await request(app).put(`/v1/kv?key=${'k'.repeat(4097)}`).send({ value: 'x' }), 400, 3, /4096 bytes/);
    assert.equal(backend.proposed.length, before);
  });

  it('default limits: 4 KiB keys and 1 MiB values', async () => {
    assertError(await request(app).put(`/v1/kv/${'k'.repeat(4097)}`).send({ value: 'x' }), 400, 3, /4096 bytes/);
    await request(app).put(`/v1/kv/${'k'.repeat(4096)}`).send({ value: 'x' }).expect(200);
    const mib = Buffer.alloc(1024 * 1024, 7).toString('base64');
    await request(app).put('/v1/kv/big').send({ value: mib, encoding: 'base64' }).expect(200);
    const over = Buffer.alloc(1024 * 1024 + 1, 7).toString('base64');
    assertError(await request(app).put('/v1/kv/big').send({ value: over, encoding: 'base64' }), 400, 3, /1048576 bytes/);
  });

  it('body size limit answers 413 in the envelope', async () => {
    setup({ bodyLimit: '1kb' });
    const res = await request(app).put('/v1/kv/a').send({ value: 'x'.repeat(2000) });
    assertError(res, 413, 8, /body: must be at most 1kb/);
  });

  it('malformed JSON answers 400 in the envelope', async () => {
    const res = await request(app).put('/v1/kv/a').set('Content-Type', 'application/json').send('{"value": ');
    assertError(res, 400, 3, /body: malformed JSON/);
  });

  it('GET /v1/kv lists by prefix with pagination', async () => {
    for (const k of ['a/1', 'a/2', 'a/3', 'a/4', 'a/5', 'b/1']) {
      await request(app).put(`/v1/kv/${k}`).send({ value: `v-${k}` }).expect(200);
    }
    const seen: string[] = [];
    let startAfter = '';
    let pages = 0;
    for (;;) {
      const res = await request(app).get('/v1/kv').query({ prefix: 'a/', limit: 2, startAfter }).expect(200);
      pages++;
      seen.push(...res.body.data.kvs.map((kv: { key: string }) => kv.key));
      if (!res.body.data.more) {
        assert.equal(res.body.data.nextKey, '');
        break;
      }
      startAfter = res.body.data.nextKey;
    }
    assert.deepEqual(seen, ['a/1', 'a/2', 'a/3', 'a/4', 'a/5']);
    assert.equal(pages, 3);
    const all = await request(app).get('/v1/kv').expect(200);
    assert.equal(all.body.data.kvs.length, 6);
    assert.equal(all.body.data.kvs[0].value, 'v-a/1');
    const keysOnly = await request(app).get('/v1/kv?keysOnly=true&serializable=true').expect(200);
    assert.equal('value' in keysOnly.body.data.kvs[0], false);
    assert.deepEqual(backend.reads.at(-1), { op: 'list', serializable: true });
  });

  it('PUT with expectedModRevision writes only while the key is unchanged; a stale revision is 409 (code 9) and writes nothing', async () => {
    // Create-only: 0 means the key must not exist.
    const created = await request(app).put('/v1/kv?key=/brokers/1').send({ value: 'v1', expectedModRevision: 0 }).expect(200);
    assert.equal(created.body.data.prevKv, null);
    assert.equal(backend.proposed.at(-1)!.op?.$case, 'cas');
    assertError(
      await request(app).put('/v1/kv?key=/brokers/1').send({ value: 'again', expectedModRevision: 0 }),
      409,
      9,
      /^compare failed: key \/brokers\/1 exists at mod revision \d+ .*nothing written$/,
    );
    const read = (await request(app).get('/v1/kv?key=/brokers/1').expect(200)).body.data;
    assert.equal(read.value, 'v1');

    // An edit based on what was read succeeds once; the same stale revision is then refused.
    const edit = await request(app).put('/v1/kv?key=/brokers/1').send({ value: 'v2', expectedModRevision: read.modRevision }).expect(200);
    assert.equal(edit.body.data.prevKv.value, 'v1');
    const before = backend.kv.get('/brokers/1')!;
    const stale = await request(app).put('/v1/kv/%2Fbrokers%2F1').send({ value: 'v3', expectedModRevision: read.modRevision });
    assertError(stale, 409, 9, new RegExp(`is at mod revision ${edit.body.data.revision}, not ${read.modRevision}: it changed since it was read`));
    assert.deepEqual(backend.kv.get('/brokers/1'), before, 'nothing written');

    // A key that does not exist cannot match a non-zero revision.
    assertError(await request(app).put('/v1/kv/gone').send({ value: 'x', expectedModRevision: 5 }), 409, 9, /key gone does not exist/);
    assert.equal(backend.kv.has('gone'), false);

    assertError(await request(app).put('/v1/kv/a').send({ value: 'x', expectedModRevision: -1 }), 400, 3, /^expectedModRevision: /);
    assertError(await request(app).put('/v1/kv/a').send({ value: 'x', expectedModRevision: '3' }), 400, 3, /^expectedModRevision: /);
    assert.equal(backend.kv.has('a'), false);
  });

  it('GET /v1/kv with delimiter lists one level of the tree: keys directly under the prefix, and each deeper group once', async () => {
    for (const k of ['/brokers/1', '/brokers/1/shards/a', '/brokers/1/shards/b', '/brokers/10', '/brokers/2', '/brokers/2/x', '/brokers/3/y', '/other']) {
      await request(app).put('/v1/kv').query({ key: k }).send({ value: k }).expect(200);
    }
    const level = (await request(app).get('/v1/kv').query({ prefix: '/brokers/', delimiter: '/', keysOnly: true }).expect(200)).body.data;
    assert.deepEqual(level.kvs.map((kv: { key: string }) => kv.key), ['/brokers/1', '/brokers/10', '/brokers/2']);
    assert.equal('value' in level.kvs[0], false);
    assert.deepEqual(level.prefixes, ['/brokers/1/', '/brokers/2/', '/brokers/3/']);
    assert.equal(level.more, false);
    assert.equal(level.nextKey, '');
    const top = (await request(app).get('/v1/kv').query({ delimiter: '/' }).expect(200)).body.data;
    assert.deepEqual([top.kvs.length, top.prefixes], [0, ['/']]);
    const withValues = (await request(app).get('/v1/kv').query({ prefix: '/brokers/1/shards/', delimiter: '/' }).expect(200)).body.data;
    assert.deepEqual(withValues.kvs.map((kv: { value: string }) => kv.value), ['/brokers/1/shards/a', '/brokers/1/shards/b']);

    // Pages of two: keys and prefixes in byte order, a page may end on a prefix, nothing twice.
    const seen: string[] = [];
    let startAfter = '';
    for (let pages = 1; ; pages++) {
      const page = (await request(app).get('/v1/kv').query({ prefix: '/brokers/', delimiter: '/', limit: 2, startAfter }).expect(200)).body.data;
      const entries = [...page.kvs.map((kv: { key: string }) => kv.key), ...page.prefixes].sort((a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      seen.push(...entries);
      if (!page.more) {
        assert.equal(pages, 3);
        break;
      }
      assert.equal(page.nextKey, entries.at(-1));
      startAfter = page.nextKey;
    }
    assert.deepEqual(seen, ['/brokers/1', '/brokers/1/', '/brokers/10', '/brokers/2', '/brokers/2/', '/brokers/3/']);
  });

  it('GET /v1/kv with delimiter skips a deep group without reading it, even keys made of the greatest code points', async () => {
    for (let i = 0; i < 600; i++) seed(`/big/a/${String(i).padStart(4, '0')}`);
    // The longest keys allowed under /t/a/, of U+10FFFF and U+FFFF (which sort differently in UTF-16 and in bytes).
    seed('/t/a/' + '\u{10FFFF}'.repeat(1022));
    seed('/t/a/' + '\uFFFF'.repeat(1363));
    for (const k of ['/big/b', '/t/b', '/t/\uFFFF/x', '/t/\u{10FFFF}/y', '/t/\u{10FFFF}']) seed(k);
    backend.reads.length = 0;
    const big = (await request(app).get('/v1/kv').query({ prefix: '/big/', delimiter: '/', keysOnly: true }).expect(200)).body.data;
    assert.deepEqual([big.prefixes, big.kvs.map((kv: { key: string }) => kv.key)], [['/big/a/'], ['/big/b']]);
    assert.deepEqual(backend.reads, [{ op: 'list', serializable: false }, { op: 'list', serializable: true }], 'one linearizable read, then one after the skipped group');
    const t = (await request(app).get('/v1/kv').query({ prefix: '/t/', delimiter: '/', keysOnly: true }).expect(200)).body.data;
    assert.deepEqual(t.prefixes, ['/t/a/', '/t/\uFFFF/', '/t/\u{10FFFF}/']);
    assert.deepEqual(t.kvs.map((kv: { key: string }) => kv.key), ['/t/b', '/t/\u{10FFFF}']);
    // A longer delimiter works the same way.
    const dots = (await request(app).get('/v1/kv').query({ prefix: '/t/', delimiter: '\uFFFF/', keysOnly: true }).expect(200)).body.data;
    assert.deepEqual(dots.prefixes, ['/t/\uFFFF/']);
  });

  it('GET /v1/kv delimiter: with key is 400; must be 1..16 characters', async () => {
    assertError(await request(app).get('/v1/kv').query({ key: '/a', delimiter: '/' }), 400, 3, /key: cannot be combined with delimiter/);
    assertError(await request(app).get('/v1/kv?delimiter='), 400, 3, /^delimiter: /);
    assertError(await request(app).get('/v1/kv').query({ delimiter: 'x'.repeat(17) }), 400, 3, /^delimiter: /);
  });

  it('GET /v1/kv honours --max-list-limit', async () => {
    setup({ maxListLimit: 50 });
    assertError(await request(app).get('/v1/kv?limit=51'), 400, 3, /^limit: 51 is over the maximum of 50 \(max-list-limit\)$/);
    await request(app).get('/v1/kv?limit=50').expect(200);
  });

  it('GET /v1/kv validates its query', async () => {
    assertError(await request(app).get('/v1/kv?limit=0'), 400, 3, /^limit: .*>=1/);
    assertError(await request(app).get('/v1/kv?limit=abc'), 400, 3, /^limit: must be a positive integer/);
    assertError(await request(app).get('/v1/kv?limit=1001'), 400, 3, /^limit: 1001 is over the maximum of 1000 \(max-list-limit\)$/);
    await request(app).get('/v1/kv?limit=1000').expect(200);
    assertError(await request(app).get('/v1/kv?serializable=maybe'), 400, 3, /^serializable: /);
    assertError(await request(app).get('/v1/kv?prefix=a&prefix=b'), 400, 3, /^prefix: .*expected string/);
  });
});

describe('compaction route', () => {
  beforeEach(() => setup());
  it('POST /v1/compaction compacts, refuses a compacted or future revision with etcd\'s message, validates its body', async () => {
    for (const k of ['a', 'b', 'c']) await request(app).put(`/v1/kv?key=${k}`).send({ value: '1' }).expect(200);
    const res = await request(app).post('/v1/compaction').send({ revision: 2, physical: true }).expect(200);
    assert.deepEqual(res.body.data, { revision: 3, compactRevision: 2 });
    assert.deepEqual(backend.compactions, [{ revision: 2, physical: true }]);
    assertError(await request(app).post('/v1/compaction').send({ revision: 2 }), 400, 11, /^etcdserver: mvcc: required revision has been compacted$/);
    assertError(await request(app).post('/v1/compaction').send({ revision: 9 }), 400, 11, /^etcdserver: mvcc: required revision is a future revision$/);
    assertError(await request(app).post('/v1/compaction').send({ revision: 0 }), 400, 3, /^revision: .*>=1/);
    assertError(await request(app).post('/v1/compaction').send({ revision: 3, extra: 1 }), 400, 3, /extra/);
    assert.equal(backend.compactions.length, 1);
  });
});

describe('lease routes', () => {
  beforeEach(() => setup());
  it('GET /v1/leases lists leases', async () => {
    await backend.propose({ clientId: '', seq: 0, leaderTimeMs: 1000, op: { $case: 'leaseGrant', value: { id: 7, ttlMs: 5000 } } });
    const res = await request(app).get('/v1/leases').expect(200);
    assert.deepEqual(res.body.data.leases, [{ id: 7, ttlMs: 5000, expiresAtMs: 6000 }]);
  });

  it('DELETE /v1/leases/:id revokes: the lease and its keys go in one revision; unknown ids 404, bad ones 400 (nothing changes)', async () => {
    await backend.propose({ clientId: '', seq: 0, leaderTimeMs: 1000, op: { $case: 'leaseGrant', value: { id: 7, ttlMs: 5000 } } });
    await request(app).put('/v1/kv/a').send({ value: '1', lease: 7 }).expect(200);
    await request(app).put('/v1/kv/b').send({ value: '2', lease: 7 }).expect(200);
    await request(app).put('/v1/kv/c').send({ value: '3' }).expect(200);
    const before = backend.revision;
    assertError(await request(app).delete('/v1/leases/abc'), 400, 3, /^path: must be a lease id/);
    assertError(await request(app).delete('/v1/leases/9007199254740993'), 400, 3, /^path: must be at most 2\^53-1/);
    assertError(await request(app).delete('/v1/leases/8'), 404, 5, /lease 8 not found/);
    assert.equal(backend.revision, before);
    const res = await request(app).delete('/v1/leases/7').expect(200);
    assert.deepEqual(res.body.data, { id: 7, revoked: true, revision: before + 1 });
    await request(app).get('/v1/kv/a').expect(404);
    await request(app).get('/v1/kv/b').expect(404);
    await request(app).get('/v1/kv/c').expect(200);
    assert.deepEqual((await request(app).get('/v1/leases').expect(200)).body.data.leases, []);
  });
});

describe('user routes', () => {
  beforeEach(() => setup());

  it('create, get, list: the password is stored as a salted scrypt hash and never returned', async () => {
    const res = await request(app)
      .post('/v1/users')
      .send({ name: 'alice', password: 'correct horse', permissions: [{ prefix: '/brokers/', read: true }] })
      .expect(201);
    assert.equal(res.body.code, 0);
    assert.deepEqual(res.body.data.permissions, [{ prefix: '/brokers/', read: true, write: false }]);
    const stored = backend.users.get('alice')!;
    assert.equal(stored.salt.length, 16);
    assert.equal(stored.passwordHash.length, 64);
    assert.ok(!stored.passwordHash.includes(Buffer.from('correct horse')));
    assert.ok(await verifyPassword('correct horse', stored.passwordHash, stored.salt));
    assert.equal(await verifyPassword('wrong horse!', stored.passwordHash, stored.salt), false);

    await request(app).post('/v1/users').send({ name: 'bob', password: 'correct horse' }).expect(201);
    assert.notDeepEqual(backend.users.get('bob')!.salt, stored.salt, 'a fresh salt per user');

    for (const body of [
      (await request(app).get('/v1/users/alice').expect(200)).body,
      (await request(app).get('/v1/users').expect(200)).body,
    ]) {
      const text = JSON.stringify(body);
      assert.doesNotMatch(text, /passwordHash|salt|password/i);
    }
    const list = await request(app).get('/v1/users').expect(200);
    assert.deepEqual(
      list.body.data.users.map((u: { name: string }) => u.name),
      ['alice', 'bob'],
    );
  });

  it('creating an existing user is 409', async () => {
    await request(app).post('/v1/users').send({ name: 'alice', password: 'password1' }).expect(201);
    assertError(await request(app).post('/v1/users').send({ name: 'alice', password: 'password2' }), 409, 6, /already exists/);
  });

  it('create validates name, password and permissions', async () => {
    assertError(await request(app).post('/v1/users').send({ name: 'a b', password: 'password1' }), 400, 3, /^name: may contain only/);
    assertError(await request(app).post('/v1/users').send({ name: 'al', password: 'short' }), 400, 3, /^password: .*>=8/);
    assertError(await request(app).post('/v1/users').send({ password: 'password1' }), 400, 3, /^name: /);
    assertError(
      await request(app).post('/v1/users').send({ name: 'al', password: 'password1', permissions: [{ prefix: 1 }] }),
      400,
      3,
      /^permissions\.0\.prefix: /,
    );
    assert.equal(backend.proposed.length, 0);
  });

  it('update password and permissions; the hash changes, createdAt stays', async () => {
    await request(app).post('/v1/users').send({ name: 'carol', password: 'password1' }).expect(201);
    const before = backend.users.get('carol')!;
    const res = await request(app)
      .put('/v1/users/carol')
      .send({ password: 'password2', permissions: [{ prefix: 'a/', read: true, write: true }] })
      .expect(200);
    assert.deepEqual(res.body.data.permissions, [{ prefix: 'a/', read: true, write: true }]);
    const after = backend.users.get('carol')!;
    assert.ok(await verifyPassword('password2', after.passwordHash, after.salt));
    assert.notDeepEqual(after.salt, before.salt);
    assert.equal(after.createdAtMs, before.createdAtMs);
    // permissions-only update keeps the password
    await request(app).put('/v1/users/carol').send({ permissions: [] }).expect(200);
    assert.deepEqual(backend.users.get('carol')!.passwordHash, after.passwordHash);
    assertError(await request(app).put('/v1/users/carol').send({}), 400, 3, /at least one of password, permissions/);
    assertError(await request(app).put('/v1/users/nobody').send({ password: 'password3' }), 404, 5, /user not found/);
  });

  it('permissions sub-resource: get and replace', async () => {
    await request(app).post('/v1/users').send({ name: 'dave', password: 'password1' }).expect(201);
    const put = await request(app)
      .put('/v1/users/dave/permissions')
      .send({ permissions: [{ prefix: '/cfg/', read: true }] })
      .expect(200);
    assert.deepEqual(put.body.data, { name: 'dave', permissions: [{ prefix: '/cfg/', read: true, write: false }] });
    const get = await request(app).get('/v1/users/dave/permissions').expect(200);
    assert.deepEqual(get.body.data.permissions, [{ prefix: '/cfg/', read: true, write: false }]);
    assertError(await request(app).put('/v1/users/dave/permissions').send({ permissions: 'all' }), 400, 3, /^permissions: /);
    assertError(await request(app).get('/v1/users/nobody/permissions'), 404, 5);
    assertError(await request(app).put('/v1/users/nobody/permissions').send({ permissions: [] }), 404, 5);
  });

  it('delete a user; unknown users are 404; bad names are 400', async () => {
    await request(app).post('/v1/users').send({ name: 'erin', password: 'password1' }).expect(201);
    const res = await request(app).delete('/v1/users/erin').expect(200);
    assert.deepEqual(res.body.data, { name: 'erin', deleted: true });
    assertError(await request(app).delete('/v1/users/erin'), 404, 5);
    assertError(await request(app).get('/v1/users/erin'), 404, 5, /user not found: erin/);
    assertError(await request(app).get(`/v1/users/${'x'.repeat(129)}`), 400, 3, /^path: .*<=128/);
  });
});

describe('config routes', () => {
  beforeEach(() => setup());

  it('set, get, list, delete', async () => {
    const set = await request(app).put('/v1/config/topic.retention').send({ value: '{"hours":24}' }).expect(200);
    assert.equal(set.body.data.name, 'topic.retention');
    await request(app)
      .put('/v1/config/cluster/raw')
      .send({ value: Buffer.from([1, 2, 255]).toString('base64'), encoding: 'base64' })
      .expect(200);
    const get = await request(app).get('/v1/config/topic.retention').expect(200);
    assert.equal(get.body.data.value, '{"hours":24}');
    assert.equal(get.body.data.encoding, 'utf8');
    const raw = await request(app).get('/v1/config/cluster/raw').expect(200);
    assert.equal(raw.body.data.encoding, 'base64');
    const list = await request(app).get('/v1/config').expect(200);
    assert.deepEqual(
      list.body.data.entries.map((e: { name: string }) => e.name),
      ['cluster/raw', 'topic.retention'],
    );
    await request(app).delete('/v1/config/topic.retention').expect(200);
    assertError(await request(app).get('/v1/config/topic.retention'), 404, 5, /config entry not found/);
    assertError(await request(app).delete('/v1/config/topic.retention'), 404, 5);
  });

  it('validates names and bodies', async () => {
    assertError(await request(app).put('/v1/config/bad name').send({ value: 'x' }), 400, 3, /^path: may contain only/);
    assertError(await request(app).put('/v1/config/ok').send({ val: 'x' }), 400, 3, /value: /);
    assert.equal(backend.proposed.length, 0);
  });
});

describe('fallbacks, health and metrics', () => {
  beforeEach(() => setup());

  it('unknown routes answer a JSON 404, not HTML', async () => {
    for (const path of ['/nope', '/v1/nope', '/v2/cluster/status', '/']) {
      assertError(await request(app).get(path), 404, 5, /no route/);
    }
  });

  it('a known path with another method answers 405 with Allow', async () => {
    const res = await request(app).post('/v1/cluster/status');
    assertError(res, 405, 12, /not allowed/);
    assert.equal(res.headers.allow, 'GET, HEAD');
    const kv = await request(app).patch('/v1/kv/a');
    assertError(kv, 405, 12);
    assert.equal(kv.headers.allow, 'DELETE, GET, HEAD, PUT');
  });

  it('a backend failure that is not a PlacementError is a 500 envelope without details', async () => {
    const logged: unknown[] = [];
    app = createAdminApp({
      backend,
      metrics,
      logger: { warn: (o) => logged.push(o), error: (o) => logged.push(o) },
    });
    backend.status = async () => {
      throw new Error('disk on fire');
    };
    const res = await request(app).get('/v1/cluster/status');
    assertError(res, 500, 13, /^internal error$/);
    assert.equal(logged.length, 1);
  });

  it('GET /livez and /readyz list their checks; 200 or 503', async () => {
    const live = await request(app).get('/livez').expect(200);
    assert.deepEqual(live.body, { status: 'ok', checks: [{ name: 'event_loop', ok: true }] });
    const ready = await request(app).get('/readyz').expect(200);
    assert.deepEqual(
      ready.body.checks.map((c: { name: string }) => c.name),
      ['has_leader', 'applied_committed', 'storage_writable'],
    );
    backend.setLeader(0);
    const notReady = await request(app).get('/readyz').expect(503);
    assert.equal(notReady.body.status, 'failing');
    assert.equal(notReady.body.checks[0].ok, false);
    backend.livenessChecks = [{ name: 'event_loop', ok: false, detail: 'blocked' }];
    await request(app).get('/livez').expect(503);
    backend.livez = async () => {
      throw new Error('boom');
    };
    const failed = await request(app).get('/livez').expect(503);
    assert.deepEqual(failed.body.checks, [{ name: 'backend', ok: false, detail: 'boom' }]);
  });

  it('GET /metrics serves the text format and counts HTTP requests by route template', async () => {
    await request(app).put('/v1/kv/a/b').send({ value: 'x' }).expect(200);
    await request(app).get('/v1/kv/zzz').expect(404);
    await request(app).get('/nope').expect(404);
    const res = await request(app).get('/metrics').expect(200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(res.text, /placement_http_requests_total\{method="PUT",route="\/v1\/kv\/\*key",code="200"\} 1/);
    assert.match(res.text, /placement_http_requests_total\{method="GET",route="\/v1\/kv\/\*key",code="404"\} 1/);
    assert.match(res.text, /placement_http_requests_total\{method="GET",route="unmatched",code="404"\} 1/);
    assert.match(res.text, /placement_http_request_duration_seconds_bucket\{le="0.1",method="PUT",route="\/v1\/kv\/\*key"\} 1/);
    assert.doesNotMatch(res.text, /a\/b/, 'raw URLs never become label values');
  });
});
