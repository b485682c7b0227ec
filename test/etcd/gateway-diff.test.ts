// etcd's JSON gateway over HTTP on the client port, compared with a real 3-member etcd 3.4: the
// same scripted HTTP session (what `curl -L http://host:2379/v3/kv/put -X POST -d '{...}'` users
// do) against both, step by step. Status codes, content types, bodies (revisions, versions, values,
// error messages and codes) must be equal after normalizing ids, terms and sizes; a few steps whose
// error text is Go's JSON decoder's own compare status and code only. Then the streams (watch from
// history and live, lease keep-alive), auth through the Authorization header, and /health once a
// member lost its quorum.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { etcdAndOurs } from '../support/differential.js';
import { postH2 } from '../support/http-post.js';

interface Reply {
  status: number;
  type: string;
  body: unknown;
  /** The body as sent, and the headers a client reads from an error answer. */
  text: string;
  nosniff: string | null;
  allow: string | null;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function call(base: string, path: string, body?: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const res = await fetch(base + path, { method: init.method ?? 'POST', body, headers: init.headers });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // plain text (405, 404) stays text
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: parsed, text, nosniff: res.headers.get('x-content-type-options'), allow: res.headers.get('allow') };
}

/** /health's answer byte for byte, with the headers that tell a plain write from an HTTP error. */
async function health(base: string, query = ''): Promise<unknown> {
  const r = await call(base, `/health${query}`, undefined, { method: 'GET' });
  return { status: r.status, type: r.type, text: r.text, nosniff: r.nosniff };
}

// Values that differ between two clusters whatever they were fed.
const VARYING = new Set(['cluster_id', 'member_id', 'raft_term', 'leader', 'raftIndex', 'raftTerm', 'raftAppliedIndex', 'dbSize', 'dbSizeInUse', 'version', 'hash', 'token', 'etcdserver']);

function normalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, VARYING.has(k) ? '<varies>' : normalize(x)]));
  }
  return v;
}

/** The error of a reply without its message (Go's JSON decoder words its own errors). */
function codeOnly(r: Reply): unknown {
  const b = r.body as { code?: number; error?: string; message?: string };
  return { status: r.status, type: r.type, code: b.code, same: b.error === b.message && typeof b.error === 'string' && b.error.length > 0 };
}

interface Step {
  note: string;
  path: string;
  body?: string | object;
  method?: string;
  /** Compare status and error code only (the message is Go's JSON decoder's). */
  codeOnly?: boolean;
}

const j = (o: object): string => JSON.stringify(o);

const SESSION: Step[] = [
  { note: 'version', path: '/version', method: 'GET' },
  { note: 'put', path: '/v3/kv/put', body: { key: b64('foo'), value: b64('bar') } },
  { note: 'put prev_kv', path: '/v3/kv/put', body: { key: b64('foo'), value: b64('baz'), prev_kv: true } },
  { note: 'put more', path: '/v3/kv/put', body: { key: b64('fop'), value: b64('1') } },
  { note: 'put ignore_value', path: '/v3/kv/put', body: { key: b64('fop'), ignore_value: true } },
  { note: 'put ignore_value, no key', path: '/v3/kv/put', body: { key: b64('nope'), ignore_value: true } },
  { note: 'range one', path: '/v3/kv/range', body: { key: b64('foo') } },
  { note: 'range missing', path: '/v3/kv/range', body: { key: b64('missing') } },
  { note: 'range prefix desc', path: '/v3/kv/range', body: { key: b64('fo'), range_end: b64('fp'), sort_order: 'DESCEND', sort_target: 'KEY' } },
  { note: 'range limit', path: '/v3/kv/range', body: { key: b64('fo'), range_end: b64('fp'), limit: 1 } },
  { note: 'range count_only', path: '/v3/kv/range', body: { key: b64('fo'), range_end: b64('fp'), count_only: true } },
  { note: 'range keys_only, enum by number', path: '/v3/kv/range', body: { key: b64('fo'), range_end: b64('fp'), keys_only: true, sort_order: 2 } },
  { note: 'range all keys, revision as string', path: '/v3/kv/range', body: { key: 'AA==', range_end: 'AA==', revision: '2' } },
  { note: 'range camelCase names', path: '/v3/kv/range', body: { key: b64('fo'), rangeEnd: b64('fp'), countOnly: true } },
  { note: 'unknown field ignored', path: '/v3/kv/range', body: { key: b64('foo'), nonsense: 1 } },
  { note: 'only the first value of the body', path: '/v3/kv/range', body: `${j({ key: b64('foo') })} ${j({ key: b64('fop') })}` },
  { note: 'empty body is an empty request', path: '/v3/kv/range', body: '' },
  { note: 'future revision', path: '/v3/kv/range', body: { key: b64('foo'), revision: 1000 } },
  { note: 'empty key', path: '/v3/kv/put', body: { key: '', value: b64('x') } },
  { note: 'range_end below key', path: '/v3/kv/range', body: { key: b64('z'), range_end: b64('a') } },
  { note: 'lease that does not exist', path: '/v3/kv/put', body: { key: b64('l'), value: b64('x'), lease: 999 } },
  { note: 'request over --max-request-bytes', path: '/v3/kv/put', body: { key: b64('big'), value: Buffer.alloc(1_600_000, 1).toString('base64') } },
  { note: 'malformed JSON', path: '/v3/kv/put', body: 'notjson', codeOnly: true },
  { note: 'an array', path: '/v3/kv/range', body: '[]', codeOnly: true },
  { note: 'bad base64', path: '/v3/kv/range', body: { key: '!!!' }, codeOnly: true },
  { note: 'a number where a string goes', path: '/v3/kv/range', body: { key: b64('foo'), limit: 'abc' }, codeOnly: true },
  { note: 'nothing changed after bad input', path: '/v3/kv/range', body: { key: b64('fo'), range_end: b64('fp') } },
  {
    note: 'txn success',
    path: '/v3/kv/txn',
    body: {
      compare: [{ key: b64('foo'), result: 'EQUAL', target: 'VALUE', value: b64('baz') }],
      success: [{ request_put: { key: b64('foo'), value: b64('qux'), prev_kv: true } }, { request_range: { key: b64('fop') } }],
      failure: [{ request_range: { key: b64('foo') } }],
    },
  },
  {
    note: 'txn failure',
    path: '/v3/kv/txn',
    body: {
      compare: [{ key: b64('foo'), result: 'GREATER', target: 'VERSION', version: 10 }],
      success: [{ request_delete_range: { key: b64('foo') } }],
      failure: [{ request_range: { key: b64('foo') } }],
    },
  },
  { note: 'txn duplicate key', path: '/v3/kv/txn', body: { success: [{ request_put: { key: b64('d'), value: b64('1') } }, { request_put: { key: b64('d'), value: b64('2') } }] } },
  { note: 'delete prev_kv', path: '/v3/kv/deleterange', body: { key: b64('fop'), prev_kv: true } },
  { note: 'delete nothing', path: '/v3/kv/deleterange', body: { key: b64('fop') } },
  { note: 'compact', path: '/v3/kv/compaction', body: { revision: 4 } },
  { note: 'read compacted', path: '/v3/kv/range', body: { key: b64('foo'), revision: 3 } },
  { note: 'read at the compacted revision', path: '/v3/kv/range', body: { key: b64('foo'), revision: 4 } },
  { note: 'compact again below', path: '/v3/kv/compaction', body: { revision: 2 } },
  { note: 'lease grant', path: '/v3/lease/grant', body: { TTL: 60, ID: 4242 } },
  { note: 'lease grant taken id', path: '/v3/lease/grant', body: { TTL: 60, ID: 4242 } },
  { note: 'put with lease', path: '/v3/kv/put', body: { key: b64('leased'), value: b64('v'), lease: '4242' } },
  { note: 'lease timetolive keys', path: '/v3/lease/timetolive', body: { ID: 4242, keys: true } },
  { note: 'lease timetolive (kv alias)', path: '/v3/kv/lease/timetolive', body: { ID: 4242 } },
  { note: 'lease leases', path: '/v3/lease/leases', body: {} },
  { note: 'lease revoke', path: '/v3/lease/revoke', body: { ID: 4242 } },
  { note: 'lease revoke again (kv alias)', path: '/v3/kv/lease/revoke', body: { ID: 4242 } },
  { note: 'leased key gone', path: '/v3/kv/range', body: { key: b64('leased') } },
  { note: 'v3beta alias', path: '/v3beta/kv/range', body: { key: b64('foo') } },
  { note: 'v3alpha is not served', path: '/v3alpha/kv/range', body: { key: b64('foo') } },
  { note: 'GET on a POST route', path: '/v3/kv/range', method: 'GET' },
  { note: 'unknown route', path: '/v3/kv/rangex', body: {} },
  { note: 'trailing slash', path: '/v3/kv/range/', body: {} },
  { note: 'POST /health', path: '/health', method: 'POST', body: '' },
  { note: 'auth not enabled', path: '/v3/auth/authenticate', body: { name: 'root', password: 'x' } },
  { note: 'status', path: '/v3/maintenance/status', body: {} },
  { note: 'hash', path: '/v3/maintenance/hash', body: {} },
  { note: 'alarms', path: '/v3/maintenance/alarm', body: { action: 'GET' } },
];

async function runSession(base: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const s of SESSION) {
    const body = typeof s.body === 'object' ? j(s.body) : s.body;
    const r = await call(base, s.path, body, { method: s.method });
    out.push(s.codeOnly ? codeOnly(r) : { status: r.status, type: r.type, body: normalize(r.body) });
  }
  return out;
}

/**
 * A streaming POST: the response's lines until `lines` came or it ended; then the request is
 * aborted. `during.run` runs once `during.after` lines came (etcd sends a watch's history in the
 * background, so writes made before it came could join it: nothing is written until then).
 */
async function streamLines(
  base: string,
  path: string,
  body: string,
  lines: number,
  during?: { after: number; run: () => Promise<unknown> },
): Promise<{ status: number; lines: unknown[]; ended: boolean }> {
  const ac = new AbortController();
  const res = await fetch(base + path, { method: 'POST', body, signal: ac.signal });
  const reader = res.body!.getReader();
  const got: unknown[] = [];
  let buf = '';
  let ended = false;
  let fired = false;
  const timer = setTimeout(() => ac.abort(), 15_000);
  try {
    while (got.length < lines) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        break;
      }
      buf += Buffer.from(value).toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        got.push(normalize(JSON.parse(buf.slice(0, i))));
        buf = buf.slice(i + 1);
      }
      if (during && !fired && got.length >= during.after) {
        fired = true;
        await during.run();
      }
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return { status: res.status, lines: got, ended };
}

describe('etcd JSON gateway on the client port, against etcd 3.4', () => {
  const pair = etcdAndOurs();
  const etcdBase = (i = 0): string => `http://${pair.etcd.endpoints[i]}`;
  const oursBase = (i = 0): string => `http://${pair.ours.nodes[i]!.grpcAddress}`;

  test('/version and Status report the etcd release the API implements: the same major.minor as etcd 3.4 (clients check it: Patroni refuses a server below 3.0.4)', async () => {
    const versions = async (base: string): Promise<{ server: string; cluster: string; status: string }> => {
      const v = (await call(base, '/version', undefined, { method: 'GET' })).body as { etcdserver: string; etcdcluster: string };
      const st = (await call(base, '/v3/maintenance/status', '{}')).body as { version: string };
      return { server: v.etcdserver, cluster: v.etcdcluster, status: st.version };
    };
    const minor = (v: string): string => v.split('.').slice(0, 2).join('.');
    const theirs = await versions(etcdBase());
    const ours = await versions(oursBase());
    assert.match(theirs.server, /^3\.4\.\d+$/);
    assert.deepEqual({ server: minor(ours.server), cluster: ours.cluster, status: minor(ours.status) }, { server: minor(theirs.server), cluster: theirs.cluster, status: minor(theirs.status) });
    assert.equal(ours.status, ours.server, 'Status and /version agree');
  });

  test('/health answers as etcd does', async () => {
    const theirs = await health(etcdBase());
    assert.deepEqual(theirs, { status: 200, type: 'text/plain; charset=utf-8', text: '{"health":"true"}', nosniff: null });
    for (const base of [oursBase(), oursBase(1)]) assert.deepEqual(await health(base), theirs, base);
    const post = async (base: string): Promise<unknown> => {
      const r = await call(base, '/health', '');
      return { status: r.status, text: r.text, allow: r.allow };
    };
    assert.deepEqual(await post(oursBase()), await post(etcdBase()));
  });

  test('/health with a NOSPACE alarm: false (503), true again when ?exclude=NOSPACE names it', async () => {
    const run = async (base: string): Promise<unknown> => {
      const self = ((await call(base, '/v3/maintenance/status', '{}')).body as { header: { member_id: string } }).header.member_id;
      const alarm = (action: string): Promise<Reply> => call(base, '/v3/maintenance/alarm', j({ action, memberID: self, alarm: 'NOSPACE' }));
      const raised = await alarm('ACTIVATE');
      const out = {
        raised: { status: raised.status, body: JSON.stringify(raised.body).replaceAll(self, '<self>') },
        unhealthy: await health(base),
        excluded: await health(base, '?exclude=NOSPACE'),
        otherExcluded: await health(base, '?exclude=CORRUPT'),
      };
      await alarm('DEACTIVATE');
      return { ...out, after: await health(base) };
    };
    const theirs = await run(etcdBase());
    assert.deepEqual(await run(oursBase()), theirs);
    assert.equal((theirs as { unhealthy: { status: number } }).unhealthy.status, 503);
  });

  test('the scripted KV, lease and error session gives the same normalized answers', { timeout: 120_000 }, async () => {
    const theirs = await runSession(etcdBase());
    // Through a follower and the leader alike: writes are forwarded, reads are linearizable.
    const ours = await runSession(oursBase(1));
    const diffs: string[] = [];
    SESSION.forEach((s, i) => {
      try {
        assert.deepEqual(ours[i], theirs[i]);
      } catch {
        diffs.push(`step ${i} (${s.note}):\n--- etcd: ${JSON.stringify(theirs[i])}\n--- ours: ${JSON.stringify(ours[i])}`);
      }
    });
    assert.equal(diffs.length, 0, diffs.join('\n'));
  });

  test('watch: history, live events and prev_kv as one line each, as etcd streams them', { timeout: 60_000 }, async () => {
    const run = async (base: string): Promise<unknown> => {
      const start = (await call(base, '/v3/kv/put', j({ key: b64('w/a'), value: b64('1') }))).body as { header: { revision: string } };
      await call(base, '/v3/kv/put', j({ key: b64('w/b'), value: b64('2') }));
      const body = `${j({ create_request: { key: b64('w/'), range_end: b64('w0'), start_revision: start.header.revision, prev_kv: true } })}\n`;
      // created, the history in one response, then one response per revision written.
      return streamLines(base, '/v3/watch', body, 5, {
        after: 2,
        run: async () => {
          await call(base, '/v3/kv/put', j({ key: b64('w/a'), value: b64('3') }));
          await call(base, '/v3/kv/deleterange', j({ key: b64('w/b'), prev_kv: true }));
          await call(base, '/v3/kv/txn', j({ success: [{ request_put: { key: b64('w/c'), value: b64('4') } }, { request_put: { key: b64('w/d'), value: b64('5') } }] }));
        },
      });
    };
    const theirs = await run(etcdBase());
    const ours = await run(oursBase(2));
    assert.deepEqual(ours, theirs);
    assert.equal((ours as { lines: unknown[] }).lines.length, 5);
  });

  test('watch: a compacted start revision, and a body that does not parse', async () => {
    const run = async (base: string): Promise<unknown> => ({
      compacted: await streamLines(base, '/v3/watch', j({ create_request: { key: b64('foo'), start_revision: 2 } }), 2),
      garbage: codeOnly(await call(base, '/v3/watch', 'garbage')),
    });
    assert.deepEqual(await run(oursBase()), await run(etcdBase()));
  });

  test('lease keep-alive: one answer per request, and the stream ends with the body', async () => {
    const run = async (base: string): Promise<unknown> => {
      await call(base, '/v3/lease/grant', j({ TTL: 30, ID: 777 }));
      const kept = await streamLines(base, '/v3/lease/keepalive', `${j({ ID: 777 })}\n${j({ ID: 777 })}`, 3);
      const unknown = await streamLines(base, '/v3/lease/keepalive', j({ ID: 778 }), 2);
      const empty = await streamLines(base, '/v3/lease/keepalive', '', 1);
      await call(base, '/v3/lease/revoke', j({ ID: 777 }));
      return { kept, unknown, empty };
    };
    const ours = await run(oursBase(1));
    assert.deepEqual(ours, await run(etcdBase()));
    assert.equal((ours as { kept: { lines: unknown[]; ended: boolean } }).kept.lines.length, 2);
  });

  test('lock and election: queue, unlock, campaign, proclaim, observe and their errors, as etcd answers them', { timeout: 60_000 }, async () => {
    const run = async (base: string): Promise<unknown> => {
      const post = async (path: string, body: string): Promise<unknown> => {
        const r = await call(base, path, body);
        return { status: r.status, body: normalize(r.body) };
      };
      // Client-chosen lease ids, so the keys (<name>/<lease id in hex>) are the same on both.
      await call(base, '/v3/lease/grant', j({ TTL: 60, ID: 4343 }));
      await call(base, '/v3/lease/grant', j({ TTL: 60, ID: 4344 }));
      const out: Record<string, unknown> = {};
      out.lock = await post('/v3/lock/lock', j({ name: b64('gw-lock'), lease: 4343 }));
      out.lockAgainSameLease = await post('/v3/lock/lock', j({ name: b64('gw-lock'), lease: '4343' }));
      out.unlock = await post('/v3/lock/unlock', j({ key: b64('gw-lock/10f7') }));
      out.lockMissingLease = await post('/v3/lock/lock', j({ name: b64('gw-lock'), lease: 999 }));
      out.unlockNoKey = await post('/v3/lock/unlock', j({}));
      out.lockBadBody = codeOnly(await call(base, '/v3/lock/lock', j({ name: '!!!' })));
      const campaign = await call(base, '/v3/election/campaign', j({ name: b64('gw-elect'), lease: 4343, value: b64('v1') }));
      out.campaign = { status: campaign.status, body: normalize(campaign.body) };
      const leader = (campaign.body as { leader: Record<string, unknown> }).leader;
      // ("leader" is among the normalized names: /v3/maintenance/status's is a member id.)
      out.leaderKey = leader;
      // Observe: the leader, then what it proclaims, then the next leader once it resigns.
      out.observe = await streamLines(base, '/v3/election/observe', j({ name: b64('gw-elect') }), 3, {
        after: 1,
        run: async () => {
          await call(base, '/v3/election/proclaim', j({ leader, value: b64('v2') }));
          await call(base, '/v3/kv/put', j({ key: b64('gw-elect/10f8'), value: b64('next'), lease: 4344 }));
          await call(base, '/v3/election/resign', j({ leader }));
        },
      });
      out.leaderNow = await post('/v3/election/leader', j({ name: b64('gw-elect') }));
      out.proclaimStale = await post('/v3/election/proclaim', j({ leader, value: b64('v3') }));
      out.proclaimNoLeader = await post('/v3/election/proclaim', j({ value: b64('v3') }));
      out.resignStale = await post('/v3/election/resign', j({ leader }));
      out.leaderOfNobody = await post('/v3/election/leader', j({ name: b64('gw-nobody') }));
      await call(base, '/v3/lease/revoke', j({ ID: 4343 }));
      await call(base, '/v3/lease/revoke', j({ ID: 4344 }));
      return out;
    };
    const theirs = (await run(etcdBase())) as Record<string, { status?: number; lines?: unknown[] }>;
    assert.equal(theirs.lock!.status, 200);
    assert.equal(theirs.observe!.lines!.length, 3);
    assert.deepEqual(await run(oursBase(1)), theirs);
  });

  test('snapshot: pieces with no response header, the last one a SHA-256', async () => {
    const run = async (base: string): Promise<unknown> => {
      const r = await call(base, '/v3/maintenance/snapshot', '{}');
      const text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
      const results = text.trim().split('\n').map((l) => (JSON.parse(l) as { result: Record<string, string> }).result);
      return {
        status: r.status,
        // remaining_bytes shows only on pieces before the last (etcd's small store has one).
        fields: [...new Set(results.flatMap((x) => Object.keys(x)))].filter((k) => k !== 'remaining_bytes').sort(),
        lastIsHash: Buffer.from(results.at(-1)!.blob!, 'base64').length === 32 && results.at(-1)!.remaining_bytes === undefined,
      };
    };
    const ours = await run(oursBase());
    assert.deepEqual(ours, await run(etcdBase()));
    assert.equal((ours as { lastIsHash: boolean }).lastIsHash, true);
  });

  test('auth: a token in the Authorization header, refusals with etcd codes, and off again', async () => {
    const run = async (base: string): Promise<unknown> => {
      const steps: unknown[] = [];
      const step = async (path: string, body: object, headers?: Record<string, string>): Promise<Reply> => {
        const r = await call(base, path, j(body), { headers });
        steps.push({ path, status: r.status, body: normalize(r.body) });
        return r;
      };
      await step('/v3/auth/user/add', { name: 'root', password: 'pw' });
      await step('/v3/auth/user/grant', { user: 'root', role: 'root' });
      await step('/v3/auth/enable', {});
      await step('/v3/kv/range', { key: b64('foo') });
      const token = ((await step('/v3/auth/authenticate', { name: 'root', password: 'pw' })).body as { token: string }).token;
      await step('/v3/auth/authenticate', { name: 'root', password: 'wrong' });
      await step('/v3/kv/range', { key: b64('foo') }, { Authorization: token });
      await step('/v3/kv/range', { key: b64('foo') }, { Authorization: `Bearer ${token}` });
      await step('/v3/kv/range', { key: b64('foo') }, { Authorization: 'bogus' });
      steps.push(await streamLines(base, '/v3/watch', j({ create_request: { key: b64('foo') } }), 1));
      await step('/v3/auth/disable', {}, { Authorization: token });
      await step('/v3/auth/user/delete', { name: 'root' });
      return steps;
    };
    assert.deepEqual(await run(oursBase()), await run(etcdBase()));
  });

  test('HTTP/2 without gRPC reaches the gateway too (what HTTPS clients negotiate)', async () => {
    const session = http2.connect(oursBase(1));
    try {
      const reply = await postH2(session, '/v3/kv/range', j({ key: b64('foo') }));
      assert.equal(reply.status, 200);
      const parsed = JSON.parse(reply.body) as { kvs: Array<{ key: string; value: string }> };
      assert.deepEqual(parsed.kvs.map((kv) => [kv.key, kv.value]), [[b64('foo'), b64('qux')]]);
    } finally {
      session.close();
    }
  });

  test('/health is false (503) on a member that lost its quorum', { timeout: 60_000 }, async () => {
    const etcdLeft = pair.etcd.members[0]!;
    for (const m of pair.etcd.members.slice(1)) m.proc.kill('SIGKILL');
    await Promise.all([pair.ours.kill(2, 'SIGKILL'), pair.ours.kill(3, 'SIGKILL')]);
    const theirs = await health(etcdLeft.clientUrl);
    const ours = await health(oursBase(0));
    assert.deepEqual(ours, theirs);
    assert.equal((ours as { text: string }).text, '{"health":"false"}\n');
    // Grpc-Metadata-* headers become metadata: hasleader=true is refused once the member knows
    // no leader (after its election timeout); a serializable read without it is still served.
    const requireLeader = async (base: string): Promise<Reply> => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const r = await call(base, '/v3/kv/range', j({ key: b64('foo'), serializable: true }), { headers: { 'Grpc-Metadata-Hasleader': 'true' } });
        if (r.status !== 200 || Date.now() > deadline) return r;
        await new Promise((res) => setTimeout(res, 200));
      }
    };
    const refused = [await requireLeader(etcdLeft.clientUrl), await requireLeader(oursBase(0))].map((r) => ({ status: r.status, body: r.body }));
    assert.deepEqual(refused[1], refused[0]);
    assert.equal(refused[1]!.status, 503);
    const served = await Promise.all([etcdLeft.clientUrl, oursBase(0)].map((b) => call(b, '/v3/kv/range', j({ key: b64('foo'), serializable: true }))));
    assert.deepEqual(served.map((r) => r.status), [200, 200]);
  });
});
