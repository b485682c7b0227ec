// Watchers during a chaos run: one SDK watch per member (its endpoint list starts with that
// member; it moves on when the member is killed, paused past its streams' patience, or cut off
// from the leader), over the workload's keys from the revision the run starts at. After the run
// a fresh watch reads the committed history and every watcher must have delivered exactly it.
import { PlacementClient, type PlacementClientOptions, type Watch } from '../../src/client/index.js';
import { checkWatchSequence, type WatchSequenceResult, type WatchedRevision } from './checker/watch.js';

export interface WatchCheckResult {
  ok: boolean;
  message: string;
  watchers: WatchSequenceResult[];
}

interface Running {
  name: string;
  client: PlacementClient;
  watch: Watch;
  got: WatchedRevision[];
  error: Error | null;
  done: Promise<void>;
}

function follow(name: string, client: PlacementClient, watch: Watch): Running {
  const r: Running = { name, client, watch, got: [], error: null, done: Promise.resolve() };
  r.done = (async () => {
    try {
      for await (const b of watch) r.got.push({ revision: b.revision, events: b.events.map((e) => `${e.type} ${e.kv.key}=${e.kv.value.toString('utf8')} v${e.kv.version}`) });
    } catch (err) {
      r.error = err as Error;
    }
  })();
  return r;
}

export class ChaosWatchers {
  private readonly running: Running[];

  constructor(
    private readonly addresses: ReadonlyArray<{ id: number; grpcAddress: string }>,
    private readonly prefix: string,
    readonly startRevision: number,
    /** Added to every client's options (TLS and credentials in a secure run). */
    private readonly sdk: Partial<PlacementClientOptions> = {},
    /** Learn members added at run time (the SDK's discovery), when the membership changes. */
    private readonly discover = false,
  ) {
    this.running = addresses.map((n) => {
      // A watch that never breaks never asks for the members: in a membership run every member
      // it knows may be replaced while it sits on one of them, so it refreshes the list every
      // second, as a client expecting that churn would (the default is every 30 s).
      const client = new PlacementClient({
        ...sdk,
        endpoints: [n.grpcAddress, ...addresses.filter((m) => m !== n).map((m) => m.grpcAddress)],
        discoverMembers: discover,
        ...(discover ? { refreshIntervalMs: 1000 } : {}),
      });
      return follow(`watcher on member ${n.id}`, client, client.watch(prefix, { prefix: true, startRevision }));
    });
  }

  /**
   * Once the cluster converged at `finalRevision`: every watcher's sequence against the committed
   * history, read from `endpoints` (the members of now; default: those of the start).
   */
  async check(finalRevision: number, timeoutMs: number, endpoints = this.addresses.map((a) => a.grpcAddress)): Promise<WatchCheckResult> {
    const client = new PlacementClient({ ...this.sdk, endpoints, discoverMembers: false });
    const ref = follow('reference', client, client.watch(this.prefix, { prefix: true, startRevision: this.startRevision }));
    const until = Date.now() + timeoutMs;
    const reached = (r: Running): boolean => r.error !== null || r.watch.nextRevision > finalRevision;
    while (Date.now() < until && ![ref, ...this.running].every(reached)) await new Promise((res) => setTimeout(res, 100));
    this.close();
    ref.watch.close();
    client.close();
    if (ref.error || !reached(ref)) {
      return { ok: false, message: `the reference watch did not read the history up to ${finalRevision}: ${ref.error?.message ?? 'timed out'}`, watchers: [] };
    }
    const expected = ref.got.filter((g) => g.revision <= finalRevision);
    const results = this.running.map((r) => {
      if (r.error) return { ok: false, message: `${r.name}: ended with ${r.error.name}: ${r.error.message}` };
      return checkWatchSequence(r.name, expected, r.got.filter((g) => g.revision <= finalRevision));
    });
    const bad = results.filter((r) => !r.ok);
    return {
      ok: bad.length === 0,
      message: bad.length === 0 ? `${results.length} watchers delivered the committed history (${expected.length} revisions from ${this.startRevision})` : bad.map((b) => b.message).join('; '),
      watchers: results,
    };
  }

  close(): void {
    for (const r of this.running) {
      r.watch.close();
      r.client.close();
    }
  }
}
