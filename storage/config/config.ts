// Cluster configuration entries (`config`: name → ConfigEntry). Setting one changes no key, so the
// keyspace revision stays; an entry's mod_revision is the Raft index of the command that set it
// (unique and increasing, the same on every replica).

import { ConfigEntry, ResultCode, type CommandResult, type ConfigDeleteOp, type ConfigSetOp } from '../../proto/gen/placement/v1/command.js';
import { decodeMessage, encodeMessage } from '../../proto/codec.js';
import { rawBounds, rawKey, type Db } from '../state-machine/layout.js';
import type { Tx } from '../state-machine/tx.js';
import { result } from '../state-machine/result.js';
import { utf8ToBin } from '../keyspace/keys.js';

export function setConfig(tx: Tx, op: ConfigSetOp, now: number): CommandResult {
  const { name, value } = op;
  if (!name) return result(ResultCode.RESULT_INVALID, tx.revision, { message: 'empty config name' });
  const entry: ConfigEntry = { name, value, modRevision: tx.index, updatedAtMs: now };
  tx.put('config', utf8ToBin(name), encodeMessage(ConfigEntry, entry));
  return result(ResultCode.RESULT_OK, tx.revision);
}

export function deleteConfig(tx: Tx, op: ConfigDeleteOp): CommandResult {
  const k = utf8ToBin(op.name);
  if (!tx.get('config', k)) return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { message: `config ${op.name} not found` });
  tx.del('config', k);
  return result(ResultCode.RESULT_OK, tx.revision);
}

export async function getConfig(db: Db, name: string): Promise<ConfigEntry | undefined> {
  const raw = await db.get(rawKey('config', utf8ToBin(name)));
  return raw ? decodeMessage(ConfigEntry, raw) : undefined;
}

export async function listConfig(db: Db): Promise<ConfigEntry[]> {
  const out: ConfigEntry[] = [];
  for await (const v of db.values(rawBounds('config', '', undefined))) out.push(decodeMessage(ConfigEntry, v));
  return out;
}
