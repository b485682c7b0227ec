// A broker's heartbeat (and a registration with the caller's own lease) is a lease keep-alive: on the leader it is answered at once when the lease's
// replicated expiry covers it (keeper.renewNow, as etcd's LeaseKeepAlive is), and waits for a
// renewal command only otherwise. Before, every heartbeat waited to share a renewal command, up to
// 200 ms each, which also held a HeartbeatStream to about five heartbeats a second.
// In one process: a real state machine, proposals applied directly, the leases faked.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StateMachine } from '../../storage/index.js';
import { Command, type CommandResult } from '../../proto/gen/placement/v1/command.js';
import { Registry, type RegistryNode } from '../../src/registry/registry.js';
import { nodeKey } from '../../src/registry/layout.js';
import { tempDir } from '../storage/helpers.js';

const CL = 'mq';
const FAR = () => Date.now() + 5_000;

describe('registry heartbeat', () => {
  it('is answered from the leader\'s replicated expiry when it covers the keep-alive, else after a renewal', async () => {
    const sm = await StateMachine.open(tempDir(after, 'heartbeat-now'));
    after(() => sm.close());
    let index = 0;
    const calls = { renew: 0, renewNow: 0 };
    let covered = true;
    const node = {
      keyspace: sm,
      cfg: { maxLeaseTtlMs: 60_000 },
      async propose(cmd: Command): Promise<CommandResult> {
        const [r] = await sm.apply([{ index: ++index, term: 1, data: Command.encode(cmd).finish() }]);
        return r!;
      },
      async readBarrier(): Promise<void> {},
      leases: {
        timing: { minTtlMs: 1_000 },
        grant: () => Promise.reject(new Error('not in this test')),
        renew: (id: number) => {
          calls.renew++;
          return Promise.resolve({ id, ttlMs: 45_000 });
        },
        renewNow: (id: number) => {
          calls.renewNow++;
          return covered ? { id, ttlMs: 30_000 } : undefined;
        },
      },
    } satisfies RegistryNode;
    const registry = new Registry(node);
    const stored = { nodeType: 'broker', addresses: [], zone: 'a', capacity: 0, extendInfo: '', draining: false };
    await registry.kv.putMany([{ key: nodeKey(CL, 1), value: Buffer.from(JSON.stringify(stored)) }], FAR(), undefined);

    assert.deepEqual(await registry.heartbeat(CL, 1, undefined, FAR(), undefined), { ttlSeconds: 30 });
    assert.deepEqual(calls, { renew: 0, renewNow: 1 }, 'answered at once, no renewal command waited for');

    covered = false;
    assert.deepEqual(await registry.heartbeat(CL, 1, undefined, FAR(), undefined), { ttlSeconds: 45 });
    assert.deepEqual(calls, { renew: 1, renewNow: 2 }, 'not covered: renewed through a command');

    await assert.rejects(registry.heartbeat(CL, 2, undefined, FAR(), undefined), /not registered/);
    assert.equal(calls.renewNow, 2, 'an unknown node renews nothing');

    // Registering with the caller's own lease renews it the same way.
    await node.propose(Command.fromPartial({ op: { $case: 'leaseGrant', value: { id: 7, ttlMs: 30_000 } } }));
    covered = true;
    const reg = await registry.register({ clusterName: CL, nodeId: 3, nodeType: 'broker', addresses: [], zone: 'c', capacity: 0, extendInfo: '', leaseId: 7, ttlSeconds: 0 } as never, FAR(), undefined);
    assert.equal(reg.ttlSeconds, 30);
    assert.deepEqual(calls, { renew: 1, renewNow: 3 }, 'the caller\'s lease renewed at once');
  });
});
