// The rules a membership change must pass before the leader proposes it. Pure functions of the
// leader's view (configuration and per-member progress), so they are tested without a cluster.
//
// - Strict reconfiguration (etcd's --strict-reconfig-check): a change that would leave fewer
//   started voters than the new configuration's quorum is refused, since the cluster would stop
//   committing the moment the change took effect.
// - A learner is promoted only once it has caught up, else the new quorum waits on it.
// - Ids are never reused: a removed member restarted on its old data must not be taken for a
//   new one.
import type { ConfState } from '../../raft/index.js';

export interface ProgressView {
  id: number;
  isLearner: boolean;
  match: number;
  /** The leader heard from it within the last election timeout. */
  recentActive: boolean;
}

export interface LeaderView {
  selfId: number;
  conf: ConfState;
  progress: readonly ProgressView[];
  /** The leader's last log index. */
  lastIndex: number;
}

/**
 * The leader's progress with a member counted as recently active also when the leader heard from
 * it within `windowMs` (`heardAt`: when, on the same clock as `now`). The Raft core's own flag is
 * cleared at every check-quorum round and starts cleared for a new leader, so a change asked of a
 * leader elected a moment ago saw its live followers as stopped and was refused by the strict
 * reconfiguration check (etcd judges by its peers' connections over the last seconds).
 */
export function withRecentContact<P extends ProgressView>(progress: readonly P[], heardAt: ReadonlyMap<number, number>, now: number, windowMs: number): P[] {
  return progress.map((p) => {
    if (p.recentActive) return p;
    const at = heardAt.get(p.id);
    return at !== undefined && now - at <= windowMs ? { ...p, recentActive: true } : p;
  });
}

/** A learner counts as caught up once its log reaches this share of the leader's (etcd: 90%). */
export const CAUGHT_UP_SHARE = 0.9;

export const quorum = (voters: number): number => Math.floor(voters / 2) + 1;

function started(view: LeaderView, ids: readonly number[]): number {
  const active = new Set(view.progress.filter((p) => p.recentActive).map((p) => p.id));
  active.add(view.selfId);
  return ids.filter((id) => active.has(id)).length;
}

const isMember = (cs: ConfState, id: number): boolean => cs.voters.includes(id) || cs.learners.includes(id);

/** Null when the change may be proposed; otherwise why not (a sentence for the operator). */
export function checkAdd(view: LeaderView, id: number, isLearner: boolean): string | null {
  if (isMember(view.conf, id)) return `member ${id} is already in the cluster`;
  if (isLearner) return null;
  const voters = [...view.conf.voters, id];
  const up = started(view, voters);
  if (up < quorum(voters.length)) {
    return `adding voter ${id} would leave ${up} started voters of ${voters.length}, fewer than the quorum of ${quorum(voters.length)} (strict reconfiguration check): add it as a learner, start it, then promote it`;
  }
  return null;
}

export function checkRemove(view: LeaderView, id: number): string | null {
  if (!isMember(view.conf, id)) return `member ${id} is not in the cluster`;
  if (view.conf.learners.includes(id)) return null;
  const voters = view.conf.voters.filter((v) => v !== id);
  if (voters.length === 0) return `member ${id} is the only voter: removing it would leave no cluster`;
  const up = started(view, voters);
  if (up < quorum(voters.length)) {
    return `removing voter ${id} would leave ${up} started voters of ${voters.length}, fewer than the quorum of ${quorum(voters.length)} (strict reconfiguration check): start the stopped members first`;
  }
  return null;
}

export function checkPromote(view: LeaderView, id: number): string | null {
  if (view.conf.voters.includes(id)) return `member ${id} is already a voter`;
  if (!view.conf.learners.includes(id)) return `member ${id} is not in the cluster`;
  const p = view.progress.find((x) => x.id === id);
  const match = p?.match ?? 0;
  const needed = Math.ceil(view.lastIndex * CAUGHT_UP_SHARE);
  if (!p || !p.recentActive || match < needed || match === 0) {
    return `learner ${id} has not caught up with the leader (its log reaches index ${match}, the leader's ${view.lastIndex}; promotion needs ${needed}${p?.recentActive ? '' : ', and it has not answered the leader recently'}): wait for it to catch up, then promote it`;
  }
  const voters = [...view.conf.voters, id];
  const up = started(view, voters);
  if (up < quorum(voters.length)) {
    return `promoting learner ${id} would leave ${up} started voters of ${voters.length}, fewer than the quorum of ${quorum(voters.length)} (strict reconfiguration check)`;
  }
  return null;
}

/**
 * The id for a new member. The index the change will be logged at is past every earlier
 * change's, so `lastIndex + 1` has never named a member added by `member add`; it also stays
 * above every current id (founding ids are small and operator-chosen).
 */
export function assignId(view: LeaderView, knownIds: Iterable<number>): number {
  let id = view.lastIndex + 1;
  for (const k of [...view.conf.voters, ...view.conf.learners, ...knownIds]) if (k >= id) id = k + 1;
  return id;
}
