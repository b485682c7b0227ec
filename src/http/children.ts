// One level of the key tree: the keys directly under a prefix and the child prefixes that stand
// for everything deeper, the way S3 lists with a delimiter. GET /v1/kv?prefix=/brokers/&delimiter=/
// answers `/brokers/1` (a key) and `/brokers/1/` (a prefix) instead of every key below it, so the
// dashboard's tree browser pages through a folder of a thousand brokers without reading their
// sub-keys.
//
// The backend lists keys in byte order after a cursor. A child prefix is answered once and its
// whole subtree is skipped by moving the cursor past every key that can start with it: the prefix
// followed by more U+10FFFF code points (F4 8F BF BF, the greatest UTF-8 sequence) than a key has
// bytes sorts after any key under the prefix.
import type { KeyValue } from '../../proto/gen/placement/v1/kv.js';
import type { AdminBackend, ReadOptions } from './backend.js';

export interface ChildrenOptions {
  prefix: string;
  delimiter: string;
  /** A key or a child prefix from a previous page (its nextKey); '' for the first page. */
  startAfter: string;
  /** Keys and prefixes together. */
  limit: number;
  keysOnly: boolean;
}

export interface ChildrenPage {
  kvs: KeyValue[];
  prefixes: string[];
  more: boolean;
  /** The last key or prefix answered when `more`; '' otherwise. */
  nextKey: string;
}

/** Keys scanned per backend call (a prefix's subtree is skipped after its first key). */
const SCAN_BATCH = 256;

export async function listChildren(
  backend: AdminBackend,
  opts: ChildrenOptions,
  read: ReadOptions,
  maxKeyBytes: number,
): Promise<ChildrenPage> {
  const { prefix, delimiter, limit, keysOnly } = opts;
  const pastEvery = '\u{10FFFF}'.repeat(Math.ceil(maxKeyBytes / 4) + 1);
  /** The child prefix `key` falls under, or null when `key` sits directly under `prefix`. */
  const childOf = (key: string): string | null => {
    if (!key.startsWith(prefix)) return null;
    const i = key.indexOf(delimiter, prefix.length);
    return i < 0 ? null : key.slice(0, i + delimiter.length);
  };
  // A cursor inside a child prefix (the previous page ended on that prefix) skips all of it.
  const startChild = childOf(opts.startAfter);
  let cursor = startChild === null ? opts.startAfter : startChild + pastEvery;
  const kvs: KeyValue[] = [];
  const prefixes: string[] = [];
  let last = '';
  // The first call carries the request's consistency (a ReadIndex barrier unless serializable);
  // the rest read the local replica, which is at least as new by then.
  let options = read;
  for (;;) {
    const page = await backend.list({ prefix, startAfter: cursor, limit: SCAN_BATCH, keysOnly }, options);
    options = { serializable: true };
    let skipped = false;
    for (const kv of page.kvs) {
      const child = childOf(kv.key);
      if (child === null) {
        kvs.push(kv);
        last = cursor = kv.key;
      } else {
        prefixes.push(child);
        last = child;
        cursor = child + pastEvery;
        skipped = true;
      }
      if (kvs.length + prefixes.length === limit) {
        const next = await backend.list({ prefix, startAfter: cursor, limit: 1, keysOnly: true }, options);
        const more = next.kvs.length > 0;
        return { kvs, prefixes, more, nextKey: more ? last : '' };
      }
      if (skipped) break;
    }
    if (!skipped && !page.more) return { kvs, prefixes, more: false, nextKey: '' };
  }
}
