// Membership changes made by the chaos nemeses, the way an operator makes them: through the
// cluster's API (ClusterService.MemberRemove / MemberAdd / MemberPromote, as `placement-ctl
// member ...` does), one change at a time, each retried until the cluster accepts it. Every
// change is recorded (time, operation, member) for the report.
//
// Replacing a member whose disk was lost: kill it, delete its data directory, remove it from the
// membership, add a brand-new member (a new id from the leader, fresh ports) as a learner, start
// it with --join, wait until it has applied what the leader had committed, promote it.
import { PlacementClient, PlacementClientError } from '../../src/client/index.js';
import { waitFor, type ChaosCluster } from './cluster.js';

export interface MembershipChange {
  /** When the cluster accepted it (ms on the run's clock). */
  at: number;
  op: 'remove' | 'add-learner' | 'promote';
  id: number;
  address?: string;
}

/** How long one step (one change, a start, a catch-up) may take before the run fails. */
const STEP_MS = 30_000;

export class MembershipDriver {
  readonly changes: MembershipChange[] = [];

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly clock: () => number,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** A short-lived SDK client over the serving members (ids known to the harness). */
  private async withClient<T>(f: (c: PlacementClient) => Promise<T>): Promise<T> {
    const eps = this.cluster.nodes.filter((n) => this.cluster.isServing(n.id)).map((n) => n.grpcAddress);
    const client = new PlacementClient({ endpoints: eps.length > 0 ? eps : this.cluster.nodes.map((n) => n.grpcAddress), discoverMembers: false, deadlineMs: 5000 });
    try {
      return await f(client);
    } finally {
      client.close();
    }
  }

  private record(c: Omit<MembershipChange, 'at'>): void {
    const r = { at: this.clock(), ...c };
    this.changes.push(r);
    this.log(`[${(r.at / 1000).toFixed(1)}s] membership: ${r.op} ${r.id}${r.address ? ` (${r.address})` : ''}`);
  }

  /** The members the cluster lists now (any member's answer). */
  private listed(): Promise<{ id: number; address: string; role: string }[]> {
    return this.withClient(async (c) => (await c.cluster.members()).members.map((m) => ({ id: m.id, address: m.address, role: m.role })));
  }

  /**
   * Retries `f` until it succeeds or `done()` says an earlier, ambiguous attempt took effect.
   * Refusals (no leader yet, "one change at a time", a learner not caught up) are retried.
   */
  private async retry<T>(what: string, f: () => Promise<T>, done: () => Promise<T | null>): Promise<T> {
    let last = '';
    return waitFor(
      async () => {
        try {
          return await f();
        } catch (err) {
          last = err instanceof PlacementClientError ? `${err.codeName}: ${err.message}` : String(err);
          const d = await done().catch(() => null);
          if (d !== null) return d;
          throw new Error(last);
        }
      },
      what,
      STEP_MS,
      300,
    );
  }

  async remove(id: number): Promise<void> {
    await this.retry(
      `member ${id} removed`,
      async () => {
        await this.withClient((c) => c.cluster.memberRemove(id));
        return true;
      },
      async () => ((await this.listed()).some((m) => m.id === id) ? null : true),
    );
    this.record({ op: 'remove', id });
  }

  /** Adds a learner at `address`; resolves with the id the leader assigned. */
  async addLearner(address: string): Promise<number> {
    const id = await this.retry(
      `a learner added at ${address}`,
      async () => (await this.withClient((c) => c.cluster.memberAdd(address, { isLearner: true }))).memberId,
      // An add that timed out may have gone through: a second one is refused (address taken).
      async () => (await this.listed()).find((m) => m.address === address)?.id ?? null,
    );
    this.record({ op: 'add-learner', id, address });
    return id;
  }

  async promote(id: number): Promise<void> {
    await this.retry(
      `member ${id} promoted`,
      async () => {
        await this.withClient((c) => c.cluster.memberPromote(id));
        return true;
      },
      async () => ((await this.listed()).find((m) => m.id === id)?.role === 'voter' ? true : null),
    );
    this.record({ op: 'promote', id });
  }

  /** Waits until member `id` has applied what the leader had committed when asked. */
  async caughtUp(id: number): Promise<number> {
    const c = this.cluster;
    const target = await waitFor(
      async () => {
        const leader = await c.currentLeader();
        return leader === null ? null : ((await c.status(leader))?.commitIndex ?? null);
      },
      'a leader to report its commit index',
      STEP_MS,
    );
    await waitFor(async () => ((await c.status(id))?.appliedIndex ?? 0) >= target, `member ${id} to apply index ${target}`, STEP_MS, 200);
    return target;
  }

  /**
   * Member `victim`'s disk is lost: kill it, delete its data directory, remove it, then add a
   * new member as a learner, start it with --join, let it catch up and promote it. The cluster
   * has as many members after as before. Resolves with the new member's id.
   */
  async replace(victim: number, onStep: (step: string) => void = () => {}): Promise<number> {
    const c = this.cluster;
    // Never restarted from here on: a member restarted on an empty data directory under its old
    // id would vote again without its log (the amnesia the procedure exists to avoid).
    await c.forget(victim, { wipe: true });
    onStep(`killed, data dir wiped`);
    await this.remove(victim);
    onStep(`removed`);
    return this.grow(onStep);
  }

  /** A new member (new id, fresh ports) added as a learner, started with --join, caught up, promoted. */
  async grow(onStep: (step: string) => void = () => {}): Promise<number> {
    const c = this.cluster;
    const addr = await c.spareAddresses();
    const id = await this.addLearner(addr.grpcAddress);
    onStep(`learner ${id} added`);
    await c.addMember(id, addr);
    await c.startNode(id);
    const at = await this.caughtUp(id);
    onStep(`learner ${id} applied ${at}`);
    await this.promote(id);
    return id;
  }

  /**
   * Removes running member `victim` (the leader too): it must learn it was removed and exit by
   * itself with code 0 — a removed member that keeps running (and voting) fails the run.
   */
  async shrink(victim: number): Promise<void> {
    const c = this.cluster;
    const h = c.node(victim);
    const proc = h.proc;
    const exited = proc ? new Promise<number | null>((res) => (proc.exitCode !== null || proc.signalCode !== null ? res(proc.exitCode) : proc.once('exit', (code) => res(code)))) : Promise.resolve(0);
    await this.remove(victim);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<'running'>((res) => (timer = setTimeout(() => res('running'), STEP_MS)))]).finally(() => clearTimeout(timer));
    const tail = c.logTail(victim);
    await c.forget(victim);
    if (code === 'running') throw new Error(`member ${victim} was removed but still ran ${STEP_MS} ms later:\n${tail}`);
    if (code !== 0) throw new Error(`member ${victim} was removed and exited with code ${code}, not 0`);
  }
}
