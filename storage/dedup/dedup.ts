// De-duplication of retried commands: a command with a client id is remembered by (client, seq)
// in a window of `window` seqs below the client's newest (`dedup`: client + NUL + 16-hex seq →
// record; client → the 8-byte floor below which results were forgotten).
//
// A record is the command's fingerprint (the first 16 bytes of the SHA-256 of the command without
// client_id, seq and leader_time_ms) followed by its CommandResult. A repeat of (client, seq) is
// answered from the record only when the fingerprints match; a different request under the same
// (client, seq) — two clients sharing an id — is refused (RESULT_CLIENT_ID_REUSED), never answered
// with the other request's result.

import crypto, { createHash } from 'node:crypto';
import { CommandResult, ResultCode } from '../../proto/gen/placement/v1/command.js';
import { decodeMessage, encodeMessage } from '../../proto/codec.js';
import { walkFields } from '../../proto/fields.js';
import { readU64, writeU64 } from '../wal/record.js';
import { hex16 } from '../state-machine/layout.js';
import type { Tx } from '../state-machine/tx.js';
import { result } from '../state-machine/result.js';
import { utf8ToBin } from '../keyspace/keys.js';

export const FINGERPRINT_BYTES = 16;

/** Record key of (client, seq); `client` is a binary string. */
export const dedupKey = (client: string, seq: number): string => `${client}\u0000${hex16(seq)}`;

/**
 * Fingerprint of an encoded Command: every top-level field except client_id (1), seq (2),
 * leader_time_ms (3), caller (4) and the forward stamp (5, 6), hashed as encoded. The bytes are
 * the log entry's, identical on every replica.
 */
export function fingerprint(data: Uint8Array): Buffer {
  // The fields hashed, as [start, end) byte ranges; encoders write fields 1-6 first, so this is
  // normally one range: the command's tail, hashed in one call.
  const parts: [number, number][] = [];
  walkFields(data, (f) => {
    // Fields 1-6 (client id, seq, leader time, caller, forwarding member and its number) say who
    // sent it, how and when, not what it asks: a retry after a token refresh carries another caller
    // revision, one through another member another forward stamp, and is still the same request.
    if (f.field <= 6) return;
    const last = parts[parts.length - 1];
    if (last && last[1] === f.start) last[1] = f.end;
    else parts.push([f.start, f.end]);
  });
  if (parts.length <= 1) {
    const [a, b] = parts[0] ?? [0, 0];
    return sha256(data.subarray(a, b)).subarray(0, FINGERPRINT_BYTES);
  }
  const h = createHash('sha256');
  for (const [a, b] of parts) h.update(data.subarray(a, b));
  return h.digest().subarray(0, FINGERPRINT_BYTES);
}

/** One-shot SHA-256 (crypto.hash, Node ≥ 20.12: half the cost of a Hash object), else a Hash. */
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer }).hash;
const sha256 = (b: Uint8Array): Buffer => (oneShot ? oneShot('sha256', b, 'buffer') : createHash('sha256').update(b).digest());

export interface Dedup {
  client: string;
  seq: number;
  floor: number;
  print: Buffer;
}

/**
 * Looks (client, seq) up. Returns the answer when the command must not run (a repeat, a reused
 * id, a seq older than the window), or what remember() needs after running it.
 */
export function lookup(tx: Tx, clientId: string, seq: number, data: Uint8Array, window: number): CommandResult | Dedup {
  const client = utf8ToBin(clientId);
  const print = fingerprint(data);
  const seen = tx.get('dedup', dedupKey(client, seq));
  if (seen) {
    if (!seen.subarray(0, FINGERPRINT_BYTES).equals(print)) {
      return result(ResultCode.RESULT_CLIENT_ID_REUSED, tx.revision, {
        message: `client id reused with a different request: seq ${seq} of client ${clientId} was applied for another request; nothing was applied`,
      });
    }
    return decodeMessage(CommandResult, seen.subarray(FINGERPRINT_BYTES));
  }
  const floorRaw = tx.get('dedup', client);
  const floor = floorRaw ? readU64(floorRaw, 0) : 0;
  if (seq <= floor) {
    return result(ResultCode.RESULT_OUTCOME_UNKNOWN, tx.revision, {
      message: `outcome unknown: seq ${seq} of client ${clientId} is older than the de-duplication window of ${window}; an earlier attempt with it may have been applied, this one was not`,
    });
  }
  return { client, seq, floor, print };
}

/** Stores the record of (client, seq) and moves the client's window; returns `res`. */
export function remember(tx: Tx, d: Dedup, res: CommandResult, window: number): CommandResult | Promise<CommandResult> {
  tx.put('dedup', dedupKey(d.client, d.seq), Buffer.concat([d.print, encodeMessage(CommandResult, res)]));
  const newFloor = d.seq - window;
  if (newFloor <= d.floor) return res;
  const setFloor = (): CommandResult => {
    const b = Buffer.allocUnsafe(8);
    writeU64(b, newFloor, 0);
    tx.put('dedup', d.client, b);
    return res;
  };
  // Seqs normally advance one at a time, so this forgets one record. A jump reads just the
  // records in (floor, newFloor] instead of deleting every seq in it blindly (a client whose
  // seqs advance by 64 per command would otherwise cost 64 deletes per command).
  if (newFloor - d.floor <= 4) {
    for (let s = d.floor + 1; s <= newFloor; s++) tx.del('dedup', dedupKey(d.client, s));
    return setFloor();
  }
  return tx.keysIn('dedup', dedupKey(d.client, d.floor + 1), dedupKey(d.client, newFloor + 1)).then((keys) => {
    for (const k of keys) tx.del('dedup', k);
    return setFloor();
  });
}
