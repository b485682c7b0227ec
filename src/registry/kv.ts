// The few keyspace operations the registry and the shard map need, over the node's replicated
// keyspace: linearizable reads (ReadIndex, then a local read) and writes as etcd Txns with a
// compare, proposed through Raft (forwarded to the leader). Every decision is one compare-and-set.
import { Compare, Compare_CompareResult, Compare_CompareTarget, PutRequest, RangeRequest, DeleteRangeRequest, type TxnRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import type { Command, CommandResult, CommandCaller } from '../../proto/gen/placement/v1/command.js';
import { prefixEnd, type StateMachine } from '../../storage/index.js';
import { etcdResponse } from '../api/etcd/errors.js';

export interface KvNode {
  readonly keyspace: StateMachine;
  propose(cmd: Command, deadline: number, by: CommandCaller | undefined): Promise<CommandResult>;
  readBarrier(serializable: boolean, deadline: number): Promise<void>;
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** What a write expects of its key: absent, or unchanged since the given mod revision. */
export type Expect = { absent: true } | { modRevision: number };

export class PlacementKv {
  constructor(private readonly node: KvNode) {}

  /** Every key under `prefix`, linearizable (or as this member has it when `local`). */
  async list(prefix: string, deadline: number, local = false): Promise<{ kvs: KeyValue[]; revision: number }> {
    if (!local) await this.node.readBarrier(false, deadline);
    const key = utf8(prefix);
    const rr = await this.node.keyspace.range(RangeRequest.fromPartial({ key, rangeEnd: prefixEnd(key) }));
    return { kvs: rr.kvs, revision: rr.revision };
  }

  async get(key: string, deadline: number): Promise<{ kv: KeyValue | undefined; revision: number }> {
    await this.node.readBarrier(false, deadline);
    const rr = await this.node.keyspace.range(RangeRequest.fromPartial({ key: utf8(key) }));
    return { kv: rr.kvs[0], revision: rr.revision };
  }

  /** Puts `value` (attached to `lease`, 0 none) if the expectation holds; false (nothing written) otherwise. */
  async put(key: string, value: Buffer, lease: number, expect: Expect, deadline: number, by: CommandCaller | undefined): Promise<{ succeeded: boolean; revision: number }> {
    return this.txn(key, expect, { request: { $case: 'requestPut', value: PutRequest.fromPartial({ key: utf8(key), value, lease }) } }, deadline, by);
  }

  /** Puts every entry in one revision (no compare). */
  async putMany(entries: Array<{ key: string; value: Buffer }>, deadline: number, by: CommandCaller | undefined): Promise<number> {
    const ops = entries.map((e) => ({ request: { $case: 'requestPut' as const, value: PutRequest.fromPartial({ key: utf8(e.key), value: e.value }) } }));
    const r = await this.txnRaw([], ops, deadline, by);
    return r.header?.revision ?? 0;
  }

  async delete(key: string, expect: Expect | undefined, deadline: number, by: CommandCaller | undefined): Promise<{ succeeded: boolean; revision: number; deleted: number }> {
    const r = await this.txnRaw(
      expect ? [compareOf(key, expect)] : [],
      [{ request: { $case: 'requestDeleteRange', value: DeleteRangeRequest.fromPartial({ key: utf8(key) }) } }],
      deadline,
      by,
    );
    const op = r.responses[0]?.response;
    const deleted = op?.$case === 'responseDeleteRange' ? op.value.deleted : 0;
    return { succeeded: r.succeeded, revision: r.header?.revision ?? 0, deleted };
  }

  private async txn(key: string, expect: Expect, op: TxnRequest['success'][number], deadline: number, by: CommandCaller | undefined): Promise<{ succeeded: boolean; revision: number }> {
    const r = await this.txnRaw([compareOf(key, expect)], [op], deadline, by);
    return { succeeded: r.succeeded, revision: r.header?.revision ?? 0 };
  }

  /** `by`: the caller of the request it serves (src/auth/context.ts), undefined for the cluster's own work. */
  private async txnRaw(compare: Compare[], success: TxnRequest['success'], deadline: number, by: CommandCaller | undefined) {
    const cmd: Command = { clientId: '', seq: 0, leaderTimeMs: 0, op: { $case: 'etcdTxn', value: { compare, success, failure: [] } } };
    return etcdResponse(await this.node.propose(cmd, deadline, by), 'etcdTxn');
  }
}

function compareOf(key: string, expect: Expect): Compare {
  return Compare.fromPartial({
    key: utf8(key),
    result: Compare_CompareResult.EQUAL,
    target: 'absent' in expect ? Compare_CompareTarget.CREATE : Compare_CompareTarget.MOD,
    targetUnion: 'absent' in expect ? { $case: 'createRevision', value: 0 } : { $case: 'modRevision', value: expect.modRevision },
  });
}
