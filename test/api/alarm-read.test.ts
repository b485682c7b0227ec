// Alarms are read on the state a read barrier waited for: a member answers an alarm change once
// it computed the result (before its batch is written, or, on a follower, before it applied the
// change), so /health and Alarm GET read before the barrier could still show an alarm the member
// had already acknowledged clearing. (A fresh-clone CI run caught /health answering 503 right
// after a DEACTIVATE through the same member.) Each case uses a node whose barrier clears the
// alarm before it resolves, as a member catching up does, so the order is certain.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { etcdHealthy } from '../../src/api/etcd/gateway/health.js';
import { maintenanceHandlers, type MaintenanceNode } from '../../src/api/etcd/maintenance.js';
import { AlarmRequest, AlarmRequest_AlarmAction, AlarmResponse, AlarmType } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { Alarm } from '../../storage/index.js';

/** A member with a NOSPACE alarm that it learns was cleared while its read barrier runs. */
function catchingUp(barrier: 'clears' | 'keeps' | 'fails' = 'clears') {
  let alarms: Alarm[] = [{ memberId: 1, alarm: AlarmType.NOSPACE }];
  const node = {
    knownLeader: 1,
    readBarrier: async (): Promise<void> => {
      if (barrier === 'fails') throw new Error('no quorum');
      if (barrier === 'clears') alarms = [];
    },
    keyspace: { alarms: async (): Promise<Alarm[]> => alarms, revision: 7 },
  };
  return node;
}

describe('alarms are read after the read barrier', () => {
  test('/health: an alarm cleared by the time the barrier passes is not reported', async () => {
    assert.equal(await etcdHealthy(catchingUp('clears')), true);
    assert.equal(await etcdHealthy(catchingUp('keeps')), false, 'an alarm still raised');
    assert.equal(await etcdHealthy(catchingUp('keeps'), ['NOSPACE']), true, '?exclude=NOSPACE');
    assert.equal(await etcdHealthy(catchingUp('fails')), false, 'no linearizable read');
    assert.equal(await etcdHealthy({ ...catchingUp('clears'), knownLeader: 0 }), false, 'no leader');
  });

  test('Alarm GET lists the alarms as of the barrier', async () => {
    const list = async (barrier: 'clears' | 'keeps'): Promise<AlarmResponse> => {
      const node = {
        ...catchingUp(barrier),
        cfg: { clusterId: 'test', id: 1, requestTimeoutMs: 1000, maxTxnOps: 128, maxRequestBytes: 1 << 20, certFile: '', dataDir: '', quotaBackendBytes: 0 },
        raftTerm: 1,
        isLearner: false,
        accepting: () => true,
        track: <T>(p: Promise<T>): Promise<T> => p,
      } as unknown as MaintenanceNode;
      const call = {
        request: AlarmRequest.fromPartial({ action: AlarmRequest_AlarmAction.GET }),
        metadata: new grpc.Metadata(),
        getPath: () => '/etcdserverpb.Maintenance/Alarm',
        getDeadline: () => Infinity,
      };
      return new Promise((resolve, reject) =>
        (maintenanceHandlers(node).alarm as unknown as (c: unknown, cb: (err: unknown, rep: AlarmResponse) => void) => void)(call, (err, rep) => (err ? reject(err) : resolve(rep))),
      );
    };
    assert.deepEqual((await list('clears')).alarms, []);
    assert.equal((await list('keeps')).alarms.length, 1, 'an alarm still raised is listed');
  });
});
