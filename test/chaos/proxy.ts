// Fault proxy: one small TCP proxy per directed peer link (node i dials node j through the
// proxy i→j), controlled by the harness. A link can:
//  - pass bytes through, optionally delayed with jitter (order within a connection is kept);
//  - blackhole: connections stay open (new ones are even accepted) but bytes go nowhere —
//    either 'drop' (discarded; the damaged connections are reset on heal, as a real peer
//    would time them out) or 'stall' (not read at all, so TCP back-pressure builds and the
//    bytes flow late after heal, like a long network delay);
//  - reset every current connection (RST).
// Network groups the links of a cluster and makes partitions out of them.

import net from 'node:net';
import { EventEmitter } from 'node:events';

export type BlackholeMode = 'drop' | 'stall';

export interface LinkState {
  blackhole: BlackholeMode | null;
  delayMs: number;
  jitterMs: number;
}

interface Pipe {
  down: net.Socket; // accepted from the dialer
  up: net.Socket | null; // to the target
  upConnected: boolean;
  /** Bytes were discarded on this connection: it cannot carry a valid stream any more. */
  damaged: boolean;
  /** Bytes read from `down` before the upstream connection was established. */
  pendingUp: Buffer[];
  releaseUp: number; // earliest time the next delayed chunk may go up / down (keeps order)
  releaseDown: number;
  /** Delayed chunks (null = half-close) per direction, in release order, drained by one timer:
   *  a timer per chunk can fire out of order (timers are armed against a cached loop time). */
  delayedUp: Delayed[];
  delayedDown: Delayed[];
}

interface Delayed {
  at: number;
  chunk: Buffer | null;
}

/**
 * Events: 'accepted' (connection count), 'dropped' (bytes discarded by a blackhole),
 * 'forwarded' (bytes delivered), 'reset' (a connection was reset).
 */
export class LinkProxy extends EventEmitter {
  readonly name: string;
  private server: net.Server | null = null;
  private readonly pipes = new Set<Pipe>();
  private state: LinkState = { blackhole: null, delayMs: 0, jitterMs: 0 };
  private listenPort = 0;
  /** Counters for tests and reports. */
  readonly stats = { accepted: 0, bytesForwarded: 0, bytesDropped: 0, resets: 0 };

  constructor(
    readonly target: { host: string; port: number },
    private readonly rnd: () => number = Math.random,
    name?: string,
    private readonly listenHost = '127.0.0.1',
  ) {
    super();
    this.name = name ?? `→${target.host}:${target.port}`;
  }

  get port(): number {
    return this.listenPort;
  }

  get address(): string {
    return `${this.listenHost}:${this.listenPort}`;
  }

  get current(): Readonly<LinkState> {
    return this.state;
  }

  get openConnections(): number {
    return this.pipes.size;
  }

  async start(port = 0): Promise<void> {
    const server = net.createServer({ pauseOnConnect: true }, (sock) => this.accept(sock));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('proxy: no port');
    this.listenPort = addr.port;
  }

  /** Stop forwarding. 'drop' discards bytes; 'stall' stops reading them. */
  blackhole(mode: BlackholeMode = 'drop'): void {
    this.state = { ...this.state, blackhole: mode };
    if (mode === 'stall') for (const p of this.pipes) this.pausePipe(p);
  }

  setDelay(delayMs: number, jitterMs = 0): void {
    this.state = { ...this.state, delayMs: Math.max(0, delayMs), jitterMs: Math.max(0, jitterMs) };
  }

  /** Reset (RST) every current connection through this link. */
  dropConnections(): void {
    for (const p of [...this.pipes]) this.resetPipe(p);
  }

  /** Back to a clean pass-through link. Connections that lost bytes are reset. */
  heal(): void {
    const was = this.state.blackhole;
    this.state = { blackhole: null, delayMs: 0, jitterMs: 0 };
    for (const p of [...this.pipes]) {
      if (p.damaged) this.resetPipe(p);
      else if (was === 'stall') this.resumePipe(p);
    }
  }

  async close(): Promise<void> {
    this.dropConnections();
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  // ---- internals ----

  private accept(down: net.Socket): void {
    this.stats.accepted++;
    this.emit('accepted', this.stats.accepted);
    down.setNoDelay(true);
    const p: Pipe = { down, up: null, upConnected: false, damaged: false, pendingUp: [], releaseUp: 0, releaseDown: 0, delayedUp: [], delayedDown: [] };
    this.pipes.add(p);
    down.on('error', () => this.resetPipe(p));
    down.on('close', () => this.closePipe(p));
    down.on('data', (chunk: Buffer) => this.forward(p, chunk, 'up'));
    down.on('end', () => this.forwardEnd(p, 'up'));
    if (this.state.blackhole === 'stall') return; // stays paused; connects upstream on resume
    this.connectUp(p);
    down.resume();
  }

  private connectUp(p: Pipe): void {
    if (p.up) return;
    const up = net.connect({ host: this.target.host, port: this.target.port });
    p.up = up;
    up.setNoDelay(true);
    up.on('connect', () => {
      p.upConnected = true;
      for (const b of p.pendingUp) up.write(b);
      p.pendingUp = [];
    });
    up.on('data', (chunk: Buffer) => this.forward(p, chunk, 'down'));
    up.on('end', () => this.forwardEnd(p, 'down'));
    up.on('error', () => this.resetPipe(p));
    up.on('close', () => this.closePipe(p));
    if (this.state.blackhole === 'stall') up.pause();
  }

  /** Half-close, after any delayed bytes of that direction; a blackhole swallows it. */
  private forwardEnd(p: Pipe, dir: 'up' | 'down'): void {
    if (this.state.blackhole === 'drop') {
      p.damaged = true;
      return;
    }
    const queue = dir === 'up' ? p.delayedUp : p.delayedDown;
    if (queue.length > 0) {
      this.enqueueDelayed(p, dir, { at: dir === 'up' ? p.releaseUp : p.releaseDown, chunk: null });
      return;
    }
    const s = dir === 'up' ? p.up : p.down;
    if (this.pipes.has(p) && s && !s.destroyed) s.end();
  }

  private enqueueDelayed(p: Pipe, dir: 'up' | 'down', item: Delayed): void {
    const queue = dir === 'up' ? p.delayedUp : p.delayedDown;
    queue.push(item);
    if (queue.length === 1) this.armDelayed(p, dir);
  }

  private armDelayed(p: Pipe, dir: 'up' | 'down'): void {
    const queue = dir === 'up' ? p.delayedUp : p.delayedDown;
    const head = queue[0];
    if (!head) return;
    setTimeout(() => this.drainDelayed(p, dir), Math.max(0, head.at - performance.now())).unref();
  }

  private drainDelayed(p: Pipe, dir: 'up' | 'down'): void {
    const queue = dir === 'up' ? p.delayedUp : p.delayedDown;
    if (!this.pipes.has(p)) {
      queue.length = 0;
      return;
    }
    // Timers fire up to a millisecond early or late; what is due within half a millisecond goes now.
    const now = performance.now() + 0.5;
    while (queue.length > 0 && queue[0]!.at <= now) {
      const { chunk } = queue.shift()!;
      if (chunk === null) {
        const s = dir === 'up' ? p.up : p.down;
        if (s && !s.destroyed) s.end();
      } else if (this.state.blackhole === 'drop') {
        p.damaged = true;
        this.stats.bytesDropped += chunk.length;
        this.emit('dropped', chunk.length);
      } else {
        this.deliver(p, chunk, dir);
      }
    }
    this.armDelayed(p, dir);
  }

  private forward(p: Pipe, chunk: Buffer, dir: 'up' | 'down'): void {
    if (!this.pipes.has(p)) return;
    if (this.state.blackhole === 'drop') {
      p.damaged = true;
      this.stats.bytesDropped += chunk.length;
      this.emit('dropped', chunk.length);
      return;
    }
    const { delayMs, jitterMs } = this.state;
    const undelayed = delayMs === 0 && jitterMs === 0;
    // Once a delay is healed, bytes still held back go first: order within a connection is kept.
    if (undelayed && (dir === 'up' ? p.delayedUp : p.delayedDown).length === 0) {
      this.deliver(p, chunk, dir);
      return;
    }
    const now = performance.now();
    const want = undelayed ? now : now + delayMs + this.rnd() * jitterMs;
    const at = Math.max(want, dir === 'up' ? p.releaseUp : p.releaseDown);
    if (dir === 'up') p.releaseUp = at;
    else p.releaseDown = at;
    this.enqueueDelayed(p, dir, { at, chunk });
  }

  private deliver(p: Pipe, chunk: Buffer, dir: 'up' | 'down'): void {
    this.stats.bytesForwarded += chunk.length;
    this.emit('forwarded', chunk.length);
    if (dir === 'down') {
      if (!p.down.destroyed) p.down.write(chunk);
      return;
    }
    if (p.up && p.upConnected) {
      if (!p.up.destroyed) p.up.write(chunk);
    } else {
      p.pendingUp.push(chunk);
    }
  }

  private pausePipe(p: Pipe): void {
    p.down.pause();
    p.up?.pause();
  }

  private resumePipe(p: Pipe): void {
    if (!p.up) this.connectUp(p);
    p.up?.resume();
    p.down.resume();
  }

  private resetPipe(p: Pipe): void {
    if (!this.pipes.delete(p)) return;
    this.stats.resets++;
    for (const s of [p.down, p.up]) {
      if (!s || s.destroyed) continue;
      // RST where possible (the peer sees ECONNRESET at once), plain destroy otherwise.
      try {
        if (s.readyState !== 'opening') s.resetAndDestroy();
        else s.destroy();
      } catch {
        s.destroy();
      }
    }
    this.emit('reset');
  }

  private closePipe(p: Pipe): void {
    if (!this.pipes.delete(p)) return;
    p.down.destroy();
    p.up?.destroy();
  }
}

// ---------------------------------------------------------------------------------------
// A cluster's worth of links and the partition shapes built from them.

export interface PartitionFault {
  kind: 'partition';
  shape: string;
  /** Connected components (nodes in different groups cannot talk; a bridge node is in two). */
  groups: number[][];
  /** Directed links cut, as [from, to]. */
  cut: [number, number][];
}

export class Network {
  private readonly links = new Map<string, LinkProxy>();
  private readonly cutLinks = new Set<string>();
  private readonly members: number[];
  private readonly targets: Map<number, { host: string; port: number }>;

  constructor(
    nodes: readonly number[],
    targets: ReadonlyMap<number, { host: string; port: number }>,
    private readonly rnd: () => number,
  ) {
    this.members = [...nodes];
    this.targets = new Map(targets);
  }

  /** The nodes linked now (members added or removed at run time change it). */
  get nodes(): readonly number[] {
    return this.members;
  }

  /**
   * Links a member added at run time: a proxy for every directed link to and from it. A running
   * node only dials through a proxy it was started with (`--dial`), so links from members that
   * were already running go direct until their next restart.
   */
  async addNode(id: number, target: { host: string; port: number }): Promise<void> {
    if (this.members.includes(id)) throw new Error(`node ${id} is already linked`);
    this.targets.set(id, target);
    for (const other of this.members) {
      for (const [from, to] of [[id, other], [other, id]] as const) {
        const link = new LinkProxy(this.targets.get(to)!, this.rnd, `${from}→${to}`);
        await link.start();
        this.links.set(Network.key(from, to), link);
      }
    }
    this.members.push(id);
  }

  /** Unlinks a removed member: its proxies close. */
  async removeNode(id: number): Promise<void> {
    const i = this.members.indexOf(id);
    if (i < 0) return;
    this.members.splice(i, 1);
    const gone: LinkProxy[] = [];
    for (const other of this.members) {
      for (const k of [Network.key(id, other), Network.key(other, id)]) {
        const l = this.links.get(k);
        if (l) gone.push(l);
        this.links.delete(k);
        this.cutLinks.delete(k);
      }
    }
    await Promise.all(gone.map((l) => l.close()));
  }

  private static key(from: number, to: number): string {
    return `${from}->${to}`;
  }

  async start(): Promise<void> {
    for (const from of this.nodes) {
      for (const to of this.nodes) {
        if (from === to) continue;
        const t = this.targets.get(to);
        if (!t) throw new Error(`no target for node ${to}`);
        const link = new LinkProxy(t, this.rnd, `${from}→${to}`);
        await link.start();
        this.links.set(Network.key(from, to), link);
      }
    }
  }

  link(from: number, to: number): LinkProxy {
    const l = this.links.get(Network.key(from, to));
    if (!l) throw new Error(`no link ${from}→${to}`);
    return l;
  }

  /** `--dial` argument for a node: where it reaches each peer (through its proxies). */
  dialArg(from: number): string {
    return this.nodes
      .filter((to) => to !== from)
      .map((to) => `${to}=${this.link(from, to).address}`)
      .join(',');
  }

  allLinks(): LinkProxy[] {
    return [...this.links.values()];
  }

  /** Cut one directed link. */
  cut(from: number, to: number, mode: BlackholeMode = 'drop'): void {
    this.link(from, to).blackhole(mode);
    this.cutLinks.add(Network.key(from, to));
  }

  /**
   * Only nodes sharing a group can talk (both directions). A node may appear in several
   * groups (a bridge). Nodes in no group are isolated.
   */
  partition(groups: number[][], shape = 'custom', mode: BlackholeMode = 'drop'): PartitionFault {
    const cut: [number, number][] = [];
    for (const a of this.nodes) {
      for (const b of this.nodes) {
        if (a === b) continue;
        const together = groups.some((g) => g.includes(a) && g.includes(b));
        if (!together) {
          this.cut(a, b, mode);
          cut.push([a, b]);
        }
      }
    }
    return { kind: 'partition', shape, groups: groups.map((g) => [...g].sort((x, y) => x - y)), cut };
  }

  isolate(node: number): PartitionFault {
    const rest = this.nodes.filter((n) => n !== node);
    return this.partition([[node], rest], `isolate ${node}`);
  }

  /** A random minority (⌊(n-1)/2⌋ nodes) against the majority; `include` forces a node into the minority. */
  majorityMinority(include?: number): PartitionFault {
    const size = Math.floor((this.nodes.length - 1) / 2);
    const others = shuffle(this.nodes.filter((n) => n !== include), this.rnd);
    const minority = include !== undefined ? [include, ...others.slice(0, size - 1)] : others.slice(0, size);
    const majority = this.nodes.filter((n) => !minority.includes(n));
    return this.partition([minority, majority], `minority ${minority.join(',')} | majority ${majority.join(',')}`);
  }

  /** Two halves joined only through one bridge node (seen by both, e.g. 1 2 [3] 4 5). */
  bridge(): PartitionFault {
    const order = shuffle(this.nodes, this.rnd);
    const mid = Math.floor(order.length / 2);
    const bridgeNode = order[mid]!;
    const left = [...order.slice(0, mid), bridgeNode];
    const right = [bridgeNode, ...order.slice(mid + 1)];
    return this.partition([left, right], `bridge via ${bridgeNode}`);
  }

  /** Random two-way split (sizes may be unequal but both non-empty). */
  randomHalves(): PartitionFault {
    const order = shuffle(this.nodes, this.rnd);
    const cutAt = 1 + Math.floor(this.rnd() * (order.length - 1));
    const a = order.slice(0, cutAt);
    const b = order.slice(cutAt);
    return this.partition([a, b], `halves ${a.join(',')} | ${b.join(',')}`);
  }

  setDelayAll(delayMs: number, jitterMs: number): void {
    for (const l of this.links.values()) l.setDelay(delayMs, jitterMs);
  }

  dropAllConnections(): void {
    for (const l of this.links.values()) l.dropConnections();
  }

  /** Reset the connections on every link to and from `node` (what a restart would do to them). */
  dropConnectionsOf(node: number): void {
    for (const other of this.nodes) {
      if (other === node) continue;
      this.link(node, other).dropConnections();
      this.link(other, node).dropConnections();
    }
  }

  heal(): void {
    for (const l of this.links.values()) l.heal();
    this.cutLinks.clear();
  }

  isCut(from: number, to: number): boolean {
    return this.cutLinks.has(Network.key(from, to));
  }

  async close(): Promise<void> {
    await Promise.all([...this.links.values()].map((l) => l.close()));
  }
}

export function shuffle<T>(xs: readonly T[], rnd: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
