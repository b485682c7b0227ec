// Broker-side metadata (proto/placement/v1/meta.proto): resource configuration, idempotent-
// producer records and consumer-group offsets, each a key under /placement/ so it is replicated,
// watchable and in snapshots. Transport-free; src/api/placement/meta.ts serves it.
import type { CommandCaller } from '../../proto/gen/placement/v1/command.js';
import { PlacementError, invalidArgument } from '../errors.js';
import { checkClusterName } from '../registry/layout.js';
import type { PlacementKv } from '../registry/kv.js';

const SEGMENT = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_SEGMENTS = 16;
const MAX_CONFIG_BYTES = 256 * 1024;
/** Offsets saved in one call (one Txn: below the default --max-txn-ops of 128). */
export const MAX_OFFSETS = 100;

function segment(what: string, s: string): string {
  if (!SEGMENT.test(s)) throw invalidArgument(`${what} must be 1..128 characters of A-Z a-z 0-9 . _ : -, got ${JSON.stringify(s)}`);
  return s;
}

export const configKey = (cluster: string, resources: readonly string[]): string => {
  checkClusterName(cluster);
  if (resources.length === 0 || resources.length > MAX_SEGMENTS) throw invalidArgument(`resources must name 1..${MAX_SEGMENTS} path segments`);
  return `/placement/config/${cluster}/${resources.map((r) => segment('a resource segment', r)).join('/')}`;
};

export const idempotentKey = (cluster: string, producerId: string, seq: number): string => {
  checkClusterName(cluster);
  if (!Number.isSafeInteger(seq) || seq < 0) throw invalidArgument(`seq_num must be a non-negative integer below 2^53`);
  return `/placement/idempotent/${cluster}/${segment('producer_id', producerId)}/${seq}`;
};

export const offsetsPrefix = (cluster: string, group: string): string => {
  checkClusterName(cluster);
  return `/placement/offsets/${cluster}/${segment('group', group)}/`;
};

export class BrokerMeta {
  constructor(private readonly kv: PlacementKv) {}

  async setConfig(cluster: string, resources: string[], config: Uint8Array, deadline: number, by: CommandCaller | undefined): Promise<void> {
    const key = configKey(cluster, resources);
    if (config.byteLength > MAX_CONFIG_BYTES) throw invalidArgument(`config is ${config.byteLength} bytes, over ${MAX_CONFIG_BYTES}`);
    await this.kv.putMany([{ key, value: Buffer.from(config) }], deadline, by);
  }

  async getConfig(cluster: string, resources: string[], deadline: number): Promise<{ found: boolean; config: Buffer }> {
    const { kv } = await this.kv.get(configKey(cluster, resources), deadline);
    return { found: kv !== undefined, config: kv ? Buffer.from(kv.value) : Buffer.alloc(0) };
  }

  async deleteConfig(cluster: string, resources: string[], deadline: number, by: CommandCaller | undefined): Promise<boolean> {
    return (await this.kv.delete(configKey(cluster, resources), undefined, deadline, by)).deleted > 0;
  }

  /** Records (producer, seq); false when it was recorded already (the send is a duplicate). */
  async setIdempotent(cluster: string, producerId: string, seq: number, deadline: number, by: CommandCaller | undefined): Promise<boolean> {
    return (await this.kv.put(idempotentKey(cluster, producerId, seq), Buffer.from('1'), 0, { absent: true }, deadline, by)).succeeded;
  }

  async existsIdempotent(cluster: string, producerId: string, seq: number, deadline: number): Promise<boolean> {
    return (await this.kv.get(idempotentKey(cluster, producerId, seq), deadline)).kv !== undefined;
  }

  async deleteIdempotent(cluster: string, producerId: string, seq: number, deadline: number, by: CommandCaller | undefined): Promise<boolean> {
    return (await this.kv.delete(idempotentKey(cluster, producerId, seq), undefined, deadline, by)).deleted > 0;
  }

  /** Saves a group's offsets, all in one revision. */
  async saveOffsets(cluster: string, group: string, offsets: Array<{ shardName: string; offset: number }>, deadline: number, by: CommandCaller | undefined): Promise<void> {
    const prefix = offsetsPrefix(cluster, group);
    if (offsets.length === 0) throw invalidArgument('offsets must not be empty');
    if (offsets.length > MAX_OFFSETS) throw new PlacementError('INVALID_ARGUMENT', `at most ${MAX_OFFSETS} offsets per call, got ${offsets.length}`);
    const entries = offsets.map((o) => {
      if (!Number.isSafeInteger(o.offset) || o.offset < 0) throw invalidArgument(`offset of ${o.shardName} must be a non-negative integer below 2^53`);
      return { key: `${prefix}${segment('shard_name', o.shardName)}`, value: Buffer.from(String(o.offset)) };
    });
    if (new Set(entries.map((e) => e.key)).size !== entries.length) throw invalidArgument('a shard appears twice in offsets');
    await this.kv.putMany(entries, deadline, by);
  }

  async getOffsets(cluster: string, group: string, deadline: number): Promise<Array<{ shardName: string; offset: number }>> {
    const prefix = offsetsPrefix(cluster, group);
    const { kvs } = await this.kv.list(prefix, deadline);
    return kvs.map((kv) => ({ shardName: Buffer.from(kv.key).toString('utf8').slice(prefix.length), offset: Number(Buffer.from(kv.value).toString('utf8')) }));
  }
}
