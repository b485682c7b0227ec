// Replica choice: a pure, deterministic function of the live brokers and the current shard map.
// No clock, no randomness, no I/O: any node (and a new Raft leader finishing a half-done move)
// computes the same answer from the same replicated state, which is what makes reassignment
// idempotent. RobustMQ picked replicas at random; ours are chosen by:
//   1. never a dead node (no registration) or a draining one, nor one already in the set;
//   2. the constraints: allowed zones, excluded nodes, required node type;
//   3. zone spread: a zone not yet used by the set first (when zones allow);
//   4. load: fewest shards first (shards already held, counted from the shard map);
//   5. tie-break: the smaller node id.
import { PlacementError } from '../errors.js';

export interface Candidate {
  nodeId: number;
  zone: string;
  nodeType: string;
  draining: boolean;
}

export interface Constraints {
  /** Only these zones (empty: any). */
  zones?: readonly string[];
  /** Never these nodes. */
  excludeNodes?: readonly number[];
  /** Only nodes of this type (empty: any). */
  nodeType?: string;
}

export interface ChooseInput {
  /** Live registered brokers (a registration exists; its lease has not expired). */
  nodes: readonly Candidate[];
  /** Shards held per node id, counted over every shard of the cluster. */
  load: ReadonlyMap<number, number>;
  /** Replicas the shard keeps (their zones count for the spread; never chosen again). */
  keep?: readonly number[];
  /** How many replicas to add. */
  count: number;
  constraints?: Constraints;
}

/** The eligible brokers: live, not draining, matching the constraints, not already kept. */
export function eligible(input: Omit<ChooseInput, 'count' | 'load'>): Candidate[] {
  const c = input.constraints ?? {};
  const zones = c.zones && c.zones.length > 0 ? new Set(c.zones) : null;
  const excluded = new Set(c.excludeNodes ?? []);
  const kept = new Set(input.keep ?? []);
  return input.nodes.filter(
    (n) => !n.draining && !kept.has(n.nodeId) && !excluded.has(n.nodeId) && (!zones || zones.has(n.zone)) && (!c.nodeType || c.nodeType === n.nodeType),
  );
}

/**
 * `count` new replicas, in choice order; FAILED_PRECONDITION naming the eligible brokers against
 * the replicas asked when there are too few. The result never depends on the order of `nodes`.
 */
export function chooseReplicas(input: ChooseInput): number[] {
  if (!Number.isInteger(input.count) || input.count < 0) throw new PlacementError('INVALID_ARGUMENT', `replica count must be a non-negative integer, got ${input.count}`);
  const pool = eligible(input);
  if (pool.length < input.count) {
    const kept = input.keep?.length ?? 0;
    throw new PlacementError(
      'FAILED_PRECONDITION',
      `not enough live brokers: ${pool.length} eligible (live, not draining, matching the constraints${kept ? `, not among the ${kept} kept replicas` : ''}) for ${input.count} replicas asked`,
    );
  }
  const byId = new Map(input.nodes.map((n) => [n.nodeId, n]));
  const usedZones = new Map<string, number>();
  for (const id of input.keep ?? []) {
    const z = byId.get(id)?.zone;
    if (z !== undefined) usedZones.set(z, (usedZones.get(z) ?? 0) + 1);
  }
  const load = new Map(input.load);
  const chosen: number[] = [];
  const left = [...pool];
  for (let i = 0; i < input.count; i++) {
    left.sort((a, b) => {
      const za = usedZones.get(a.zone) ?? 0;
      const zb = usedZones.get(b.zone) ?? 0;
      if (za !== zb) return za - zb;
      const la = load.get(a.nodeId) ?? 0;
      const lb = load.get(b.nodeId) ?? 0;
      if (la !== lb) return la - lb;
      return a.nodeId - b.nodeId;
    });
    const pick = left.shift()!;
    chosen.push(pick.nodeId);
    usedZones.set(pick.zone, (usedZones.get(pick.zone) ?? 0) + 1);
    load.set(pick.nodeId, (load.get(pick.nodeId) ?? 0) + 1);
  }
  return chosen;
}

/** The leader of a new replica set: the member leading the fewest shards, then the smaller id. */
export function chooseLeader(replicas: readonly number[], leaderLoad: ReadonlyMap<number, number>): number {
  if (replicas.length === 0) return 0;
  return [...replicas].sort((a, b) => (leaderLoad.get(a) ?? 0) - (leaderLoad.get(b) ?? 0) || a - b)[0]!;
}
