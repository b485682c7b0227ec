// The JSON gateway's pieces without a server: splitting a request body into JSON values as Go's
// json.Decoder does, etcd's JSON mapping of the messages both ways, and the route table against
// the generated service definitions.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JsonSyntaxError, JsonValues } from '../../src/api/etcd/gateway/json-values.js';
import { requestFromJson, responseToJson } from '../../src/api/etcd/gateway/transcode.js';
import { gatewayMethods, gatewayRoute, isGatewayPath } from '../../src/api/etcd/gateway/routes.js';
import { httpStatusOf } from '../../src/api/etcd/gateway/http-status.js';
import { AuthService, ClusterService, KVService, LeaseService, MaintenanceService, RangeRequest, RangeResponse, RangeRequest_SortOrder, WatchService } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { Event, Event_EventType } from '../../proto/gen/etcd/mvccpb/kv.js';
import { LockService } from '../../proto/gen/etcd/v3lockpb/v3lock.js';
import { ElectionService } from '../../proto/gen/etcd/v3electionpb/v3election.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('JsonValues', () => {
  it('splits concatenated values across chunk boundaries, strings with braces and escapes included', () => {
    const v = new JsonValues(1000);
    assert.deepEqual(v.push(Buffer.from('{"a":"}{\\"x"} [1,')), [{ a: '}{"x' }]);
    assert.deepEqual(v.push(Buffer.from('2]\n {"b"')), [[1, 2]]);
    assert.deepEqual(v.push(Buffer.from(':1}')), [{ b: 1 }]);
    assert.deepEqual(v.end(), []);
  });

  it('keeps a UTF-8 character split between chunks whole', () => {
    const v = new JsonValues(1000);
    const bytes = Buffer.from('{"k":"é"}');
    assert.deepEqual(v.push(bytes.subarray(0, 8)), []);
    assert.deepEqual(v.push(bytes.subarray(8)), [{ k: 'é' }]);
  });

  it('refuses what is not a value, an unfinished value and one past the limit', () => {
    assert.throws(() => new JsonValues(100).push(Buffer.from('  nope')), (e: unknown) => e instanceof JsonSyntaxError && /invalid character 'n' .* offset 2/.test((e as Error).message));
    const open = new JsonValues(100);
    open.push(Buffer.from('{"a":'));
    assert.throws(() => open.end(), /unexpected end of JSON input/);
    assert.throws(() => new JsonValues(8).push(Buffer.from('{"aaaaaaaaaa":')), /larger than 8 characters/);
    assert.throws(() => new JsonValues(100).push(Buffer.from('{"a":}')), JsonSyntaxError);
  });
});

describe('etcd JSON mapping', () => {
  it('reads proto or camelCase names, 64-bit numbers as strings or numbers, enums by name or number; ignores unknown fields', () => {
    const a = RangeRequest.decode(requestFromJson('etcdserverpb.RangeRequest', { key: b64('k'), range_end: b64('l'), revision: '12', sort_order: 'DESCEND', limit: 3, extra: true }));
    assert.deepEqual([Buffer.from(a.key).toString(), Buffer.from(a.rangeEnd).toString(), a.revision, a.sortOrder, a.limit], ['k', 'l', 12, RangeRequest_SortOrder.DESCEND, 3]);
    const b = RangeRequest.decode(requestFromJson('etcdserverpb.RangeRequest', { key: b64('k'), rangeEnd: b64('l'), countOnly: true, sort_order: 2 }));
    assert.deepEqual([Buffer.from(b.rangeEnd).toString(), b.countOnly, b.sortOrder], ['l', true, RangeRequest_SortOrder.DESCEND]);
  });

  it('refuses values that do not fit their field', () => {
    assert.throws(() => requestFromJson('etcdserverpb.RangeRequest', { key: '!!!' }), /key/);
    assert.throws(() => requestFromJson('etcdserverpb.RangeRequest', { limit: 'abc' }), /limit/);
    assert.throws(() => requestFromJson('etcdserverpb.RangeRequest', [] as never), /RangeRequest/);
  });

  it('writes proto names, 64-bit numbers as strings, bytes as base64, and leaves defaults out', () => {
    const bytes = RangeResponse.encode({
      header: { clusterId: 1, memberId: 2, revision: 5, raftTerm: 0 },
      kvs: [{ key: Buffer.from('k'), createRevision: 4, modRevision: 5, version: 2, value: Buffer.from('v'), lease: 0 }],
      more: false,
      count: 1,
    }).finish();
    assert.deepEqual(responseToJson('etcdserverpb.RangeResponse', bytes), {
      header: { cluster_id: '1', member_id: '2', revision: '5' },
      kvs: [{ key: b64('k'), create_revision: '4', mod_revision: '5', version: '2', value: b64('v') }],
      count: '1',
    });
    // PUT is the enum's zero: etcd's events show no type for it.
    assert.deepEqual(responseToJson('mvccpb.Event', Event.encode({ type: Event_EventType.PUT, kv: { key: Buffer.from('a'), createRevision: 0, modRevision: 0, version: 0, value: Buffer.alloc(0), lease: 0 } }).finish()), { kv: { key: b64('a') } });
    assert.deepEqual(responseToJson('mvccpb.Event', Event.encode({ type: Event_EventType.DELETE }).finish()), { type: 'DELETE' });
  });
});

describe('gateway routes', () => {
  it('name only methods the etcd services define, each with its own request and response types', () => {
    const services = [KVService, WatchService, LeaseService, ClusterService, MaintenanceService, AuthService, LockService, ElectionService];
    const defined = new Map<string, { requestStream: boolean; responseStream: boolean }>();
    for (const svc of services) for (const m of Object.values(svc)) defined.set(m.path, m);
    for (const method of gatewayMethods()) assert.ok(defined.has(method), method);
    for (const [path, kind] of [
      ['/v3/kv/range', 'unary'],
      ['/v3beta/kv/put', 'unary'],
      ['/v3/watch', 'bidi'],
      ['/v3/lease/keepalive', 'bidi'],
      ['/v3/maintenance/snapshot', 'server-stream'],
      ['/v3/kv/lease/revoke', 'unary'],
      ['/v3/lock/lock', 'unary'],
      ['/v3beta/election/observe', 'server-stream'],
    ] as const) {
      const r = gatewayRoute(path);
      assert.ok(r, path);
      assert.equal(r.kind, kind, path);
      const m = defined.get(r.method)!;
      assert.equal(m.requestStream, kind === 'bidi', path);
      assert.equal(m.responseStream, kind !== 'unary', path);
    }
    assert.equal(gatewayRoute('/v3alpha/kv/range'), undefined);
    assert.equal(gatewayRoute('/v3/kv/range/'), undefined);
    assert.equal(isGatewayPath('/health'), true);
    assert.equal(isGatewayPath('/metrics'), true);
    assert.equal(isGatewayPath('/etcdserverpb.KV/Range'), false);
  });

  it('map gRPC codes to the HTTP statuses etcd 3.4 answers', () => {
    assert.deepEqual([0, 3, 5, 7, 9, 11, 14, 16, 99].map(httpStatusOf), [200, 400, 404, 403, 412, 400, 503, 401, 500]);
  });
});
