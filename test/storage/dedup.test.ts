// De-duplication records carry a fingerprint of the request (issue 16 item 2): a retry of the same
// request gets the stored result; another request under the same (client id, seq) — two clients
// sharing an id — is refused and applies nothing, where it used to get the other request's result.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StateMachine } from '../../storage/index.js';
import { Command, ResultCode } from '../../proto/gen/placement/v1/command.js';
import { fingerprint } from '../../storage/dedup/dedup.js';
import { tempDir } from './helpers.js';

type Op = NonNullable<Command['op']>;
const enc = (op: Op, clientId: string, seq: number, leaderTimeMs = 0): Uint8Array => Command.encode(Command.fromPartial({ op, clientId, seq, leaderTimeMs })).finish();
const put = (key: string, value: string): Op => ({ $case: 'put', value: { key, value: Buffer.from(value), lease: 0, prevKv: false } });

describe('de-dup fingerprint', () => {
  it('covers the request and nothing else: not client id, seq, leader time or forward stamp', () => {
    const base = fingerprint(enc(put('k', 'v'), 'a', 1, 10));
    assert.equal(base.length, 16);
    assert.deepEqual(fingerprint(enc(put('k', 'v'), 'another-client', 99, 12345)), base);
    // A retry through another member carries that member's forward stamp: still the same request.
    const stamped = Command.encode(Command.fromPartial({ op: put('k', 'v'), clientId: 'a', seq: 1, leaderTimeMs: 10, forwardedBy: 3, forwardSeq: 2 ** 50 + 7 })).finish();
    assert.deepEqual(fingerprint(stamped), base);
    assert.notDeepEqual(fingerprint(enc(put('k', 'w'), 'a', 1, 10)), base);
    assert.notDeepEqual(fingerprint(enc(put('j', 'v'), 'a', 1, 10)), base);
    assert.notDeepEqual(fingerprint(enc({ $case: 'delete', value: { key: 'k', prevKv: false } }, 'a', 1, 10)), base);
    const etcd = (v: string): Op => ({ $case: 'etcdPut', value: { key: Buffer.from('k'), value: Buffer.from(v), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } });
    assert.notDeepEqual(fingerprint(enc(etcd('v'), 'a', 1)), fingerprint(enc(etcd('w'), 'a', 1)));
    // Field order on the wire does not matter: client_id written after the operation.
    const opOnly = enc(put('k', 'v'), '', 0, 0);
    const clientLast = Buffer.concat([opOnly, Buffer.from([0x0a, 1, 0x41, 0x10, 7])]);
    assert.equal(Command.decode(clientLast).clientId, 'A');
    assert.deepEqual(fingerprint(clientLast), base);
    assert.deepEqual(fingerprint(Buffer.concat([Buffer.from([0x0a, 1, 0x41]), opOnly, Buffer.from([0x10, 7])])), base);
  });

  it('a reused (client, seq) with another request is refused, changes nothing, and keeps refusing after a restart', async () => {
    const dir = tempDir(after);
    let sm = await StateMachine.open(dir);
    let index = 0;
    const run = async (data: Uint8Array) => (await sm.apply([{ index: ++index, term: 1, data }]))[0]!;
    const first = await run(enc(put('k', 'mine'), 'shared', 1, 100));
    assert.equal(first.code, ResultCode.RESULT_OK);
    const rev = sm.revision;
    // The same request again (re-proposed by another leader: another leader time) is a retry.
    assert.deepEqual(await run(enc(put('k', 'mine'), 'shared', 1, 200)), first);
    const other = await run(enc(put('k', 'theirs'), 'shared', 1, 300));
    assert.equal(other.code, ResultCode.RESULT_CLIENT_ID_REUSED);
    assert.match(other.message, /^client id reused with a different request: seq 1 of client shared/);
    assert.notEqual(other.revision, 0);
    assert.equal(sm.revision, rev, 'no revision for the refused request');
    assert.equal((await sm.get('k'))?.value.toString(), 'mine');
    await sm.close();
    sm = await StateMachine.open(dir);
    after(() => sm.close());
    assert.equal((await run(enc(put('k', 'theirs'), 'shared', 1))).code, ResultCode.RESULT_CLIENT_ID_REUSED);
    assert.deepEqual(await run(enc(put('k', 'mine'), 'shared', 1)), first);
    // The next seq is a new request.
    assert.equal((await run(enc(put('k', 'theirs'), 'shared', 2))).code, ResultCode.RESULT_OK);
    assert.equal((await sm.get('k'))?.value.toString(), 'theirs');
  });
});
