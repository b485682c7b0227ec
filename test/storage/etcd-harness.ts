// A state machine driven with etcd commands, one entry each (storage tests).

import { StateMachine } from '../../storage/index.js';
import { Command, type CommandResult } from '../../proto/gen/placement/v1/command.js';
import { PutRequest, RangeRequest, TxnRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
type Op = NonNullable<Command['op']>;

/** A state machine fed one command per entry, plus etcd-shaped helpers. */
export class EtcdHarness {
  index = 0;
  constructor(readonly sm: StateMachine) {}
  static async open(dir: string): Promise<EtcdHarness> {
    return new EtcdHarness(await StateMachine.open(dir));
  }
  async cmd(op: Op, leaderTimeMs = 0): Promise<CommandResult> {
    const [r] = await this.sm.apply([{ index: ++this.index, term: 1, data: Command.encode(Command.fromPartial({ op, leaderTimeMs })).finish() }]);
    return r!;
  }
  put(key: string, value: string, extra: Partial<PutRequest> = {}): Promise<CommandResult> {
    return this.cmd({ $case: 'etcdPut', value: PutRequest.fromPartial({ key: B(key), value: B(value), ...extra }) });
  }
  del(key: string, rangeEnd = '', prevKv = false): Promise<CommandResult> {
    return this.cmd({ $case: 'etcdDeleteRange', value: { key: B(key), rangeEnd: B(rangeEnd), prevKv } });
  }
  txn(t: Partial<TxnRequest>): Promise<CommandResult> {
    return this.cmd({ $case: 'etcdTxn', value: TxnRequest.fromPartial(t) });
  }
  compact(revision: number): Promise<CommandResult> {
    return this.cmd({ $case: 'etcdCompaction', value: { revision, physical: false } });
  }
  get(key: string, opts: Partial<RangeRequest> = {}) {
    return this.sm.range(RangeRequest.fromPartial({ key: B(key), ...opts }));
  }
}

