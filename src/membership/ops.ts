// The operator's membership operations: add (as a voter or a learner), remove, promote, moving a
// member to a new address (update), and moving leadership. Executed by the leader, one change at a time; any member accepts them and
// forwards to the leader (peer Forward, kind `membership`). The checks are in policy.ts; the
// Raft core does the change itself (raft/README.md, "Membership").
import { ConfChangeType, type ConfChange, type ConfState, type ProposeResult, type RaftStatus } from '../../raft/index.js';
import type { ForwardReply, MembershipRequest } from '../../proto/gen/placement/v1/peer.js';
import { PlacementError, type ErrorCode } from '../errors.js';
import { assignId, checkAdd, checkPromote, checkRemove, type LeaderView } from './policy.js';

export type MembershipOp = 'add' | 'remove' | 'promote' | 'update' | 'move-leader';

/** What the operations need from the running node (PlacementNode.membershipHost()). */
export interface MembershipHost {
  selfId: number;
  isLeader(): boolean;
  leaderId(): number;
  raftStatus(): RaftStatus;
  /** Ids this member has known (founding --peers, the address book): never handed out again. */
  knownIds(): Iterable<number>;
  addressOf(id: number): string;
  /** The Raft core's proposal of `cc` (sent at once when accepted). */
  propose(cc: ConfChange): ProposeResult;
  /** Resolves when the entry at index/term is applied here; rejects as a write's proposal does (UNAVAILABLE: leadership lost). */
  applied(index: number, term: number, deadline: number): Promise<unknown>;
  /** Waits until this member has applied `index` or `deadline` passes; its configuration then, null if not applied. */
  confAfter(index: number, deadline: number): Promise<ConfState | null>;
  /** Resolves once the batch holding what was answered so far is applied (the address book and members with it). */
  batchDone(): Promise<void>;
  transferLeadership(to: number): void;
  /** Resolves when the leader changes or `ms` passes. */
  leaderChangeOrTimeout(ms: number): Promise<void>;
  forward(leader: number, req: MembershipRequest, deadline: number): Promise<ForwardReply>;
  /** Resolves once this member has applied what the leader had committed (a ReadIndex round). */
  caughtUpWithLeader(deadline: number): Promise<void>;
  errorFromReply(reply: ForwardReply): PlacementError;
}

const MAX_ADDRESS_CHARS = 300;
const ADDRESS = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;

/** Checks the shape of a request before anything is asked of the leader. */
export function validateRequest(req: MembershipRequest): void {
  const op = req.op as MembershipOp;
  if (!['add', 'remove', 'promote', 'update', 'move-leader'].includes(op)) throw new PlacementError('INVALID_ARGUMENT', `unknown membership operation ${JSON.stringify(req.op)}`);
  if (!Number.isSafeInteger(req.id) || req.id < 0 || req.id > 2 ** 52) throw new PlacementError('INVALID_ARGUMENT', `member id ${req.id} is out of range`);
  if (op !== 'add' && req.id === 0) throw new PlacementError('INVALID_ARGUMENT', `${op} needs a member id`);
  if (op === 'add' || op === 'update') {
    const m = ADDRESS.exec(req.address);
    const port = m ? Number(m[2]) : 0;
    // The echo is cut short: an error message travels in a header, which has a size limit.
    const got = req.address.length > 64 ? `${JSON.stringify(req.address.slice(0, 64))}… (${req.address.length} characters)` : JSON.stringify(req.address);
    // A DNS name is at most 253 characters; the HTTP routes accept 300 (src/http/schemas.ts).
    if (!m || port < 1 || port > 65535 || req.address.length > MAX_ADDRESS_CHARS) throw new PlacementError('INVALID_ARGUMENT', `the ${op === 'add' ? "new member's" : "member's new"} address must be host:port (its gRPC address), got ${got}`);
  }
}

export class MembershipOps {
  constructor(private readonly host: MembershipHost) {}

  /** Runs `req` here when leading, else at the leader. Resolves with the member concerned. */
  async execute(req: MembershipRequest, deadline: number): Promise<number> {
    validateRequest(req);
    for (;;) {
      if (this.host.isLeader()) return this.onLeader(req, deadline);
      const leader = this.host.leaderId();
      if (leader !== 0) {
        const reply = await this.host.forward(leader, req, deadline);
        if (reply.errorCode === 0) {
          // So that what this member answers next (its members list) includes the change.
          await this.host.caughtUpWithLeader(deadline).catch(() => undefined);
          return reply.memberId;
        }
        // The member we asked stopped leading in between: ask the new one.
        if (!reply.errorMessage.startsWith('not leader')) throw this.host.errorFromReply(reply);
      }
      if (Date.now() >= deadline) throw new PlacementError('UNAVAILABLE', 'no leader to carry out the membership change');
      await this.host.leaderChangeOrTimeout(Math.max(1, Math.min(100, deadline - Date.now())));
    }
  }

  /** The leader's side (also what a forwarded request runs). */
  async onLeader(req: MembershipRequest, deadline: number): Promise<number> {
    validateRequest(req);
    const st = this.host.raftStatus();
    const view: LeaderView = {
      selfId: this.host.selfId,
      conf: st.confState,
      progress: st.progress,
      lastIndex: st.lastIndex,
    };
    const refuse = (problem: string | null, code: ErrorCode = 'FAILED_PRECONDITION'): void => {
      if (problem !== null) throw new PlacementError(code, problem);
    };
    switch (req.op as MembershipOp) {
      case 'add': {
        const id = req.id || assignId(view, this.host.knownIds());
        const taken = [...st.confState.voters, ...st.confState.learners].find((m) => this.host.addressOf(m) === req.address);
        if (taken !== undefined) throw new PlacementError('ALREADY_EXISTS', `member ${taken} already has the address ${req.address}`);
        refuse(checkAdd(view, id, req.isLearner), st.confState.voters.includes(id) || st.confState.learners.includes(id) ? 'ALREADY_EXISTS' : 'FAILED_PRECONDITION');
        await this.propose(
          { type: req.isLearner ? ConfChangeType.AddLearner : ConfChangeType.AddVoter, nodeId: id, context: new TextEncoder().encode(req.address) },
          deadline,
        );
        return id;
      }
      case 'remove': {
        refuse(checkRemove(view, req.id), st.confState.voters.includes(req.id) || st.confState.learners.includes(req.id) ? 'FAILED_PRECONDITION' : 'NOT_FOUND');
        await this.propose({ type: ConfChangeType.RemoveNode, nodeId: req.id, context: new Uint8Array(0) }, deadline);
        return req.id;
      }
      case 'promote': {
        refuse(checkPromote(view, req.id), st.confState.voters.includes(req.id) || st.confState.learners.includes(req.id) ? 'FAILED_PRECONDITION' : 'NOT_FOUND');
        await this.propose({ type: ConfChangeType.AddVoter, nodeId: req.id, context: new TextEncoder().encode(this.host.addressOf(req.id)) }, deadline);
        return req.id;
      }
      case 'update': {
        // The Raft configuration is unchanged: the change re-adds the member as what it is, and
        // its context carries the new address, which every member records and dials from then on
        // (the member itself is restarted on that address by the operator, as with etcd).
        const isVoter = st.confState.voters.includes(req.id);
        if (!isVoter && !st.confState.learners.includes(req.id)) throw new PlacementError('NOT_FOUND', `member ${req.id} is not in the cluster`);
        const taken = [...st.confState.voters, ...st.confState.learners].find((m) => m !== req.id && this.host.addressOf(m) === req.address);
        if (taken !== undefined) throw new PlacementError('ALREADY_EXISTS', `member ${taken} already has the address ${req.address}`);
        if (this.host.addressOf(req.id) === req.address) return req.id;
        await this.propose({ type: isVoter ? ConfChangeType.AddVoter : ConfChangeType.AddLearner, nodeId: req.id, context: new TextEncoder().encode(req.address) }, deadline);
        return req.id;
      }
      case 'move-leader': {
        const to = req.id;
        if (to === this.host.selfId) return to;
        if (!st.confState.voters.includes(to)) {
          throw new PlacementError(st.confState.learners.includes(to) ? 'FAILED_PRECONDITION' : 'NOT_FOUND', st.confState.learners.includes(to) ? `member ${to} is a learner: only a voter can lead` : `member ${to} is not in the cluster`);
        }
        this.host.transferLeadership(to);
        while (this.host.leaderId() !== to) {
          if (Date.now() >= deadline) throw new PlacementError('DEADLINE_EXCEEDED', `leadership did not move to member ${to} before the deadline (the leader is ${this.host.leaderId() || 'unknown'})`);
          await this.host.leaderChangeOrTimeout(Math.max(1, Math.min(50, deadline - Date.now())));
          // The core abandons a transfer after an election timeout; ask again while time remains.
          if (this.host.isLeader() && this.host.raftStatus().leadTransferee !== to) this.host.transferLeadership(to);
        }
        return to;
      }
    }
    throw new PlacementError('INVALID_ARGUMENT', `unknown membership operation ${JSON.stringify(req.op)}`);
  }

  /** Proposes `cc`; resolves once the change is applied here. Throws PlacementError when not proposed. */
  private async propose(cc: ConfChange, deadline: number): Promise<void> {
    const r = this.host.propose(cc);
    if (!r.ok) {
      if (r.reason === 'conf-change-pending') throw new PlacementError('FAILED_PRECONDITION', 'another membership change is still in progress (one change at a time): retry once it has committed');
      if (r.reason === 'invalid') throw new PlacementError('INVALID_ARGUMENT', 'the change would leave the cluster without a voter');
      throw new PlacementError('UNAVAILABLE', `member ${this.host.selfId} cannot propose now (${r.reason}); retry`, r.leader, this.host.addressOf(r.leader));
    }
    try {
      await this.host.applied(r.index, r.term, deadline);
    } catch (err) {
      // A leader that removed itself steps down in the Ready that commits the change, before
      // applying it: its proposals fail as "leadership lost" though this one went through.
      if (!(err instanceof PlacementError) || err.code !== 'UNAVAILABLE') throw err;
      const m = await this.host.confAfter(r.index, deadline);
      const done = m !== null && (cc.type === ConfChangeType.RemoveNode ? !m.voters.includes(cc.nodeId) && !m.learners.includes(cc.nodeId) : (cc.type === ConfChangeType.AddVoter ? m.voters : m.learners).includes(cc.nodeId));
      if (!done) throw err;
    }
    // Answered when executed; the batch (and with it the address book and members) is done after.
    await this.host.batchDone();
  }
}
