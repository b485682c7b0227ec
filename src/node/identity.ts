// Which cluster and member a data directory belongs to, recorded in it on first start
// (identity.json). Starting on it with another --cluster-id or --id would serve its data under
// another name, or as another member (two members with one log, a vote cast twice).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../storage/util/fs.js';
import { StartupRefusal } from './refusal.js';

export const IDENTITY_FILE = 'identity.json';

export interface Identity {
  clusterId: string;
  memberId: number;
  createdAt: string;
  /** --peers when the directory was created: the founding membership, which no log entry records. */
  peers?: Record<string, string>;
  /** Created by `--join`: a member added at run time, whose membership comes from the leader (no founding voters). */
  joined?: boolean;
}

/**
 * Checks the data directory's identity against the configuration; records it when there is
 * none yet (a new directory, or one written before identities were recorded). Returns what it
 * found or wrote, and whether it was new.
 */
export async function checkIdentity(dataDir: string, clusterId: string, memberId: number, peers: Map<number, string>, joined = false): Promise<{ identity: Identity; recorded: 'new' | 'adopted' | 'existing' }> {
  const path = join(dataDir, IDENTITY_FILE);
  if (existsSync(path)) {
    let id: Identity;
    try {
      id = JSON.parse(readFileSync(path, 'utf8')) as Identity;
      if (typeof id.clusterId !== 'string' || !Number.isInteger(id.memberId)) throw new Error('missing clusterId or memberId');
    } catch (e) {
      throw new StartupRefusal(
        `${path} is unreadable (${(e as Error).message}): cannot tell which cluster and member this data directory belongs to`,
        `restore it from a copy of this member's data directory, or write {"clusterId": "<cluster>", "memberId": <id>} if you know them`,
      );
    }
    const wrong: string[] = [];
    if (id.clusterId !== clusterId) wrong.push(`--cluster-id ${JSON.stringify(clusterId)} (it belongs to cluster ${JSON.stringify(id.clusterId)})`);
    if (id.memberId !== memberId) wrong.push(`--id ${memberId} (it belongs to member ${id.memberId})`);
    if (wrong.length > 0) {
      throw new StartupRefusal(
        `data directory ${dataDir} was created for member ${id.memberId} of cluster ${JSON.stringify(id.clusterId)} (${id.createdAt}); this node was started with ${wrong.join(' and ')}`,
        `start it with --cluster-id ${JSON.stringify(id.clusterId)} --id ${id.memberId}, or point --data-dir at this member's own directory (a new member needs an empty one)`,
      );
    }
    return { identity: id, recorded: 'existing' };
  }
  const existing = ['wal', 'snap', 'sm'].some((d) => existsSync(join(dataDir, d)));
  const identity: Identity = {
    clusterId,
    memberId,
    createdAt: new Date().toISOString(),
    peers: Object.fromEntries([...peers].map(([id, a]) => [String(id), a])),
    ...(joined && !existing ? { joined: true } : {}),
  };
  await writeFileAtomic(path, `${JSON.stringify(identity, null, 2)}\n`);
  return { identity, recorded: existing ? 'adopted' : 'new' };
}

export interface MembershipNote {
  id: number;
  /** The address --peers gives it ('' when it lists no such id). */
  peersAddress: string;
  /** Its address as recorded when the directory was created ('' when unknown). */
  recordedAddress: string;
  problem: string;
}

/**
 * How --peers disagrees with the membership this member's durable state holds (from its
 * snapshot and log; for a cluster that never changed membership, the founding --peers recorded
 * in identity.json). The log decides: --peers only supplies addresses, so every difference
 * is either an address this node will not know or a member it will not treat as one.
 */
export function compareMembership(members: { voters: number[]; learners: number[] }, peers: Map<number, string>, identity: Identity, selfId: number): MembershipNote[] {
  const recorded = new Map(Object.entries(identity.peers ?? {}).map(([k, v]) => [Number(k), v]));
  const inLog = new Set([...members.voters, ...members.learners]);
  const notes: MembershipNote[] = [];
  for (const [id, addr] of peers) {
    if (!inLog.has(id)) {
      notes.push({ id, peersAddress: addr, recordedAddress: recorded.get(id) ?? '', problem: `--peers lists member ${id} at ${addr}, but the membership in this member's log/snapshot has no member ${id} (members: ${[...inLog].sort((a, b) => a - b).join(', ') || 'none'}): it is ignored` });
    } else if (recorded.has(id) && recorded.get(id) !== addr) {
      notes.push({ id, peersAddress: addr, recordedAddress: recorded.get(id)!, problem: `--peers gives member ${id} the address ${addr}; it was ${recorded.get(id)} when this data directory was created (moved?)` });
    }
  }
  for (const id of inLog) {
    if (id !== selfId && !peers.has(id)) {
      const was = recorded.get(id);
      notes.push({ id, peersAddress: '', recordedAddress: was ?? '', problem: `member ${id} of the log/snapshot membership is missing from --peers${was ? ` (it was at ${was} when this data directory was created)` : ''}: this node cannot reach it` });
    }
  }
  if (!inLog.has(selfId) && inLog.size > 0) {
    notes.push({ id: selfId, peersAddress: peers.get(selfId) ?? '', recordedAddress: recorded.get(selfId) ?? '', problem: `this member (${selfId}) is not in the membership its own log/snapshot holds (removed?)` });
  }
  return notes;
}
