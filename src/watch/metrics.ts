// Prometheus instruments of the watch hub, registered on the node's registry: gauges read from
// the hub at scrape time, counters pushed by it (WatchObserver).

import { Counter, Gauge, type Registry } from 'prom-client';
import { FastCounter, type CounterChild } from '../metrics/fast.js';
import type { WatchHub, WatchObserver } from './hub.js';

export class WatchMetrics implements WatchObserver {
  private hub: WatchHub | null = null;
  private streamsSource: (() => number) | null = null;
  /** Counted on every send (a write fanned out to a thousand watchers is a thousand sends): the cheap counter. */
  private readonly sent: CounterChild;
  private readonly slow: Counter;
  private readonly compacted: Counter;

  constructor(registry: Registry, prefix = 'placement_') {
    const registers = [registry];
    const self = this;
    const stat = <K extends keyof ReturnType<WatchHub['stats']>>(k: K): number => (self.hub ? self.hub.stats()[k] : 0);
    new Gauge({
      name: prefix + 'watch_streams',
      help: 'Watch streams open on this node (etcd Watch calls and admin SSE watches).',
      registers,
      collect() {
        this.set(self.streamsSource ? self.streamsSource() : stat('streams'));
      },
    });
    new Gauge({
      name: prefix + 'watchers',
      help: 'Watchers on this node, by state: synced (fed from apply) or unsynced (catching up from history).',
      labelNames: ['state'],
      registers,
      collect() {
        this.set({ state: 'synced' }, stat('synced'));
        this.set({ state: 'unsynced' }, stat('unsynced'));
      },
    });
    new Gauge({
      name: prefix + 'watch_slow_watchers',
      help: 'Watchers behind the applied revision, catching up from history (slow readers, past start revisions, after a snapshot install).',
      registers,
      collect() {
        this.set(stat('unsynced'));
      },
    });
    new Gauge({
      name: prefix + 'watch_pending_events',
      help: 'Watch events handed to streams that have not left the process yet.',
      registers,
      collect() {
        this.set(stat('pendingEvents'));
      },
    });
    new Gauge({
      name: prefix + 'watch_pending_bytes',
      help: 'Bytes of watch events handed to streams that have not left the process yet.',
      registers,
      collect() {
        this.set(stat('pendingBytes'));
      },
    });
    this.sent = new FastCounter({ name: prefix + 'watch_events_sent_total', help: 'Watch events handed to streams.', labelNames: [], registers }).child({});
    this.slow = new Counter({
      name: prefix + 'watch_slow_total',
      help: 'Times a watcher fell behind its pending bound and moved to catch-up.',
      registers,
    });
    this.compacted = new Counter({
      name: prefix + 'watch_canceled_compacted_total',
      help: 'Watchers canceled because the history they needed was compacted.',
      registers,
    });
  }

  /** The hub whose state the gauges show, and (optionally) who counts the open streams. */
  bind(hub: WatchHub, streams?: () => number): void {
    this.hub = hub;
    this.streamsSource = streams ?? null;
  }

  eventsSent(n: number): void {
    this.sent.inc(n);
  }

  movedToCatchUp(): void {
    this.slow.inc();
  }

  canceledCompacted(): void {
    this.compacted.inc();
  }
}
