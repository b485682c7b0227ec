// Election.Observe and a client that stops reading (src/api/etcd/election.ts). The member sends
// the next leader value only once HTTP/2 flow control took the previous ones, reading it from the
// stored history then: a client that does not read costs a bounded queue, however much is
// proclaimed meanwhile, and loses nothing when it reads again. The bound shows in what happens
// when the history is compacted while the client is paused: the values already queued arrive,
// then the stream ends with etcd's compacted error. A member that queued every value as it was
// proclaimed would deliver them all.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { CompactionRequest, LeaseGrantRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { CampaignRequest, CampaignResponse, LeaderRequest, LeaderResponse, ProclaimRequest, ProclaimResponse } from '../../proto/gen/etcd/v3electionpb/v3election.js';
import { decodeClamped } from '../../proto/codec.js';
import { startCluster, type Cluster } from '../support/cluster.js';
import { leaderAndFollower, outcome } from '../support/raw-etcd.js';

const CAMPAIGN = '/v3electionpb.Election/Campaign';
const PROCLAIM = '/v3electionpb.Election/Proclaim';
const OBSERVE = '/v3electionpb.Election/Observe';
/** Proclaimed per round: many times what the member queues for a client that does not read. */
const ROUNDS = 150;
const VALUE_BYTES = 8 << 10;

const valueOf = (round: number, i: number): Buffer => Buffer.concat([Buffer.from(`${round}:${i}:`), Buffer.alloc(VALUE_BYTES, 0x61)]);
const labelOf = (v: Uint8Array): string => Buffer.from(v).toString('latin1').split(':').slice(0, 2).join(':');

describe('Election.Observe with a client that stops reading', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({ nodes: 3 });
  });
  after(async () => {
    await c?.stop();
  });

  test('a paused observer loses nothing when it reads again, and the member queued only a bounded part', { timeout: 120_000 }, async () => {
    const { leader, onFollower: follower, must } = await leaderAndFollower(c);
    try {
      await must('/etcdserverpb.Lease/LeaseGrant', LeaseGrantRequest, { TTL: 120, ID: 0x51 });
      const campaign = decodeClamped(CampaignResponse, await must(CAMPAIGN, CampaignRequest, { name: Buffer.from('obs'), lease: 0x51, value: Buffer.from('0:0:') }));
      const leaderKey = campaign.leader!;

      const stream = follower.serverStream(OBSERVE, LeaderRequest, { name: Buffer.from('obs') });
      const seen: string[] = [];
      let waiting: { n: number; resolve: () => void } | null = null;
      stream.on('data', (b: Buffer) => {
        seen.push(labelOf(decodeClamped(LeaderResponse, b).kv!.value));
        if (waiting && seen.length >= waiting.n) waiting.resolve();
      });
      const ended = new Promise<grpc.ServiceError | null>((resolve) => {
        stream.on('error', (err: grpc.ServiceError) => resolve(err));
        stream.on('end', () => resolve(null));
      });
      const seenAtLeast = (n: number): Promise<void> =>
        seen.length >= n ? Promise.resolve() : new Promise((resolve) => (waiting = { n, resolve }));
      await seenAtLeast(1);
      assert.deepEqual(seen, ['0:0']);

      // Paused: every value proclaimed meanwhile arrives, in order, once it reads again.
      stream.pause();
      for (let i = 1; i <= ROUNDS; i++) await must(PROCLAIM, ProclaimRequest, { leader: leaderKey, value: valueOf(1, i) });
      stream.resume();
      await seenAtLeast(1 + ROUNDS);
      assert.deepEqual(seen, ['0:0', ...Array.from({ length: ROUNDS }, (_, i) => `1:${i + 1}`)]);

      // Paused again; the history of this round is compacted before it reads again.
      stream.pause();
      let last = 0;
      for (let i = 1; i <= ROUNDS; i++) last = decodeClamped(ProclaimResponse, await must(PROCLAIM, ProclaimRequest, { leader: leaderKey, value: valueOf(2, i) })).header!.revision;
      await must('/etcdserverpb.KV/Compact', CompactionRequest, { revision: last, physical: true });
      stream.resume();
      // Ends with the error, or (a member that queued everything) delivers the whole round.
      const err = await Promise.race([ended, seenAtLeast(1 + 2 * ROUNDS).then(() => null)]);
      assert.equal(err?.details, 'etcdserver: mvcc: required revision has been compacted', `the stream's end: ${outcome(err)}`);
      const round2 = seen.slice(1 + ROUNDS);
      assert.deepEqual(round2, Array.from({ length: round2.length }, (_, i) => `2:${i + 1}`), 'the values queued before the compaction, in order');
      assert.ok(round2.length < ROUNDS / 2, `the member queued ${round2.length} of ${ROUNDS} values for a client that did not read`);
    } finally {
      leader.close();
      follower.close();
    }
  });
});
