// etcd's alarms (NOSPACE: a member's database passed the space quota), replicated: raised and
// cleared by commands, so every replica refuses the same writes at the same place in the log.
// Kept as one record, `meta/alarms`: JSON [[member id, alarm type], ...], sorted.
//
// While any NOSPACE alarm is raised, a command that grows the store is refused with etcd's
// "database space exceeded" (etcd's capped applier): native put and CAS, lease grant, etcd Put
// and a Txn holding a put in either branch. Deletes, reads, compaction and everything else go on.
import { ResultCode, type Command, type CommandResult } from '../../proto/gen/placement/v1/command.js';
import { AlarmRequest_AlarmAction, AlarmType, type AlarmRequest, type TxnRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { rawKey, type Db } from '../state-machine/layout.js';
import type { Tx } from '../state-machine/tx.js';
import { result } from '../state-machine/result.js';

export const ALARMS_KEY = 'alarms';
export const NO_SPACE_MESSAGE = 'etcdserver: mvcc: database space exceeded';

export interface Alarm {
  memberId: number;
  alarm: AlarmType;
}

function decode(raw: Buffer | undefined): Alarm[] {
  if (!raw) return [];
  return (JSON.parse(raw.toString('utf8')) as [number, number][]).map(([memberId, alarm]) => ({ memberId, alarm }));
}

function encode(alarms: Alarm[]): Buffer {
  const rows = alarms.map((a) => [a.memberId, a.alarm]).sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!);
  return Buffer.from(JSON.stringify(rows), 'utf8');
}

export async function listAlarms(db: Db): Promise<Alarm[]> {
  return decode(await db.get(rawKey('meta', ALARMS_KEY)));
}

/** Raises or clears an alarm (etcd's Alarm ACTIVATE / DEACTIVATE); GET changes nothing. */
export function applyAlarm(tx: Tx, req: AlarmRequest): CommandResult {
  const alarms = decode(tx.get('meta', ALARMS_KEY));
  const same = (a: Alarm): boolean => a.memberId === req.memberID && a.alarm === req.alarm;
  if (req.action === AlarmRequest_AlarmAction.ACTIVATE) {
    if (req.alarm !== AlarmType.NOSPACE && req.alarm !== AlarmType.CORRUPT) return result(ResultCode.RESULT_INVALID, tx.revision, { message: `unknown alarm type ${req.alarm}` });
    if (!alarms.some(same)) tx.put('meta', ALARMS_KEY, encode([...alarms, { memberId: req.memberID, alarm: req.alarm }]));
  } else if (req.action === AlarmRequest_AlarmAction.DEACTIVATE) {
    const left = alarms.filter((a) => !same(a));
    if (left.length !== alarms.length) tx.put('meta', ALARMS_KEY, encode(left));
  } else if (req.action !== AlarmRequest_AlarmAction.GET) {
    return result(ResultCode.RESULT_INVALID, tx.revision, { message: `unknown alarm action ${req.action}` });
  }
  return result(ResultCode.RESULT_OK, tx.revision);
}

const txnPuts = (t: TxnRequest): boolean =>
  [...t.success, ...t.failure].some((o) => o.request?.$case === 'requestPut' || (o.request?.$case === 'requestTxn' && txnPuts(o.request.value)));

/** etcd's capped applier: the refusal of `cmd` while the space quota is exhausted, else undefined. */
export function refusedForSpace(tx: Tx, cmd: Command): CommandResult | undefined {
  const op = cmd.op;
  const grows = op?.$case === 'put' || op?.$case === 'cas' || op?.$case === 'leaseGrant' || op?.$case === 'etcdPut' || (op?.$case === 'etcdTxn' && txnPuts(op.value));
  if (!grows) return undefined;
  if (!decode(tx.get('meta', ALARMS_KEY)).some((a) => a.alarm === AlarmType.NOSPACE)) return undefined;
  return result(ResultCode.RESULT_LIMIT_EXCEEDED, tx.revision, { message: NO_SPACE_MESSAGE });
}
