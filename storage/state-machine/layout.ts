// The state machine's LevelDB layout: one database, one sublevel (`!name!` key prefix) per
// namespace. Keys within a namespace are binary strings (storage/keyspace/keys.ts): latin1 chars,
// one per byte. storage/README.md describes what each namespace holds.

import type { ClassicLevel } from 'classic-level';

export type Ns = 'kv' | 'hist' | 'log' | 'leases' | 'leasekeys' | 'nodes' | 'users' | 'roles' | 'auth' | 'config' | 'meta' | 'dedup' | 'local';
export const NAMESPACES: Ns[] = ['kv', 'hist', 'log', 'leases', 'leasekeys', 'nodes', 'users', 'roles', 'auth', 'config', 'meta', 'dedup', 'local'];
/** abstract-level's sublevel key prefix for each namespace. */
export const NS_PREFIX = Object.fromEntries(NAMESPACES.map((ns) => [ns, Buffer.from(`!${ns}!`)])) as Record<Ns, Buffer>;
export const NS_PREFIX_TEXT = Object.fromEntries(NAMESPACES.map((ns) => [ns, `!${ns}!`])) as Record<Ns, string>;
/** Just past every key of the namespace (`!ns"`). */
export const NS_END_TEXT = Object.fromEntries(NAMESPACES.map((ns) => [ns, `!${ns}"`])) as Record<Ns, string>;

/** The root-level LevelDB key of binary key `key` in namespace `ns`, in one allocation. */
export function rawKey(ns: Ns, key: string): Buffer {
  return Buffer.from(NS_PREFIX_TEXT[ns] + key, 'latin1');
}

/** Raw bounds of the keys of `ns` in [from, to) (`to` undefined: to the end of the namespace). */
export function rawBounds(ns: Ns, from: string, to: string | undefined): { gte: Buffer; lt: Buffer } {
  return { gte: rawKey(ns, from), lt: to === undefined ? Buffer.from(NS_END_TEXT[ns], 'latin1') : rawKey(ns, to) };
}

export type Db = ClassicLevel<Buffer, Buffer>;

export const hex16 = (n: number): string => n.toString(16).padStart(16, '0');
