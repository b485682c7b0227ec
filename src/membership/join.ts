// `placement-center --join`: before a new member starts taking part, it asks the running cluster
// whether it is listed (added with `member add`). An unlisted member would otherwise sit there
// with no configuration, refused by every peer; an operator mistake (wrong --id, a member that
// was removed, the wrong cluster) is better said at once.
import type { ForwardReply } from '../../proto/gen/placement/v1/peer.js';
import type { Logger } from '../log.js';
import { StartupRefusal } from '../node/refusal.js';

/** How the peer handshake refuses a member outside its configuration (src/transport/peer-auth.ts). */
const NOT_A_MEMBER = /not in this cluster's configuration|not a member/;
const UNLISTED_AFTER_MS = 2000;

export interface JoinProbe {
  selfId: number;
  /** Every other member named by --peers. */
  peers: readonly number[];
  /** Asks member `id` for the leader's membership view (peer Forward, kind `members`). */
  askMembers(id: number, deadline: number): Promise<ForwardReply>;
  log: Logger;
}

/**
 * Resolves once the leader lists this member; throws StartupRefusal when the cluster says it
 * does not, or when no member answers within `timeoutMs`.
 */
export async function confirmListed(p: JoinProbe, timeoutMs: number): Promise<'voter' | 'learner'> {
  const until = Date.now() + timeoutMs;
  const answers = new Map<number, string>();
  let queue = [...p.peers];
  // Every member refusing it as not in its configuration, round after round for this long, is
  // the cluster's answer (an add still being applied shows up within a round or two).
  let allRefusedSince = 0;
  for (;;) {
    const refusedNow = new Set<number>();
    for (const id of queue) {
      let reply: ForwardReply;
      try {
        reply = await p.askMembers(id, Math.min(until, Date.now() + 2000));
      } catch (err) {
        const e = err as { code?: number; details?: string; message?: string };
        const why = e.details ?? e.message ?? String(err);
        answers.set(id, why);
        if (NOT_A_MEMBER.test(why)) refusedNow.add(id);
        continue;
      }
      if (reply.errorCode !== 0) {
        answers.set(id, reply.errorMessage);
        // A follower names the leader: ask it next.
        if (reply.leaderId && reply.leaderId !== p.selfId && !queue.includes(reply.leaderId)) queue.push(reply.leaderId);
        continue;
      }
      const me = reply.members.find((m) => m.id === p.selfId);
      if (!me) {
        throw new StartupRefusal(
          `member ${p.selfId} was started with --join, but the cluster's leader (member ${reply.leaderId || id}) does not list it (members: ${reply.members.map((m) => m.id).join(', ')})`,
          'add it first with `placement-ctl member add <its address> [--learner]` and start it with the id that prints; a removed member cannot come back under its old id',
        );
      }
      p.log.info({ leader: reply.leaderId, asLearner: me.isLearner }, 'the cluster lists this member: joining');
      return me.isLearner ? 'learner' : 'voter';
    }
    // Peers that refuse this member outright (not in their configuration) say so every time;
    // the leader may simply not have applied the change yet, so keep asking until the deadline.
    const everyone = p.peers.length > 0 && p.peers.every((id) => refusedNow.has(id));
    allRefusedSince = everyone ? allRefusedSince || Date.now() : 0;
    if (everyone && Date.now() - allRefusedSince >= UNLISTED_AFTER_MS) {
      throw new StartupRefusal(
        `member ${p.selfId} was started with --join, but the cluster does not list it: every member refuses it as not in its configuration (${[...answers].map(([id, e]) => `member ${id}: ${e}`).join('; ')})`,
        'add it first with `placement-ctl member add <its address> [--learner]` and start it with the id that prints; a removed member cannot come back under its old id',
      );
    }
    if (Date.now() >= until) {
      const why = [...answers].map(([id, e]) => `member ${id}: ${e}`).join('; ');
      throw new StartupRefusal(
        `member ${p.selfId} was started with --join, but no member of the cluster confirmed it is listed within ${timeoutMs} ms (${why || 'no member to ask: --peers names only this member'})`,
        'check --peers (every member, this one included) and the peer secret; add it first with `placement-ctl member add`',
      );
    }
    await new Promise((r) => setTimeout(r, 200));
    queue = [...p.peers];
  }
}
