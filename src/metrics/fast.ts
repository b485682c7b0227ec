// Per-request counters and histograms that cost an array update per observation.
//
// prom-client hashes the label set on every inc()/observe(), even through a child from
// labels(): about 0.4 µs per counter increment and 0.7 µs per histogram observation, which a
// profile of serializable reads put at ~9% of the node's CPU (every read is counted and timed).
// These keep one plain record per label set, made once by child(), and produce the same
// exposition as prom-client at scrape time (registered in the same Registry, so default labels,
// content type and `promtool check metrics` behave as before).
import type { Metric, Registry } from 'prom-client';

/** One sample as Registry.metrics() reads it: a histogram's child labels are `sharedLabels`. */
export interface ExpositionSample {
  metricName?: string;
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string | number>;
  value: number;
}

/** What Registry.metrics() reads from a metric (prom-client's MetricObjectWithValues). */
export interface Exposition {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  aggregator: 'sum';
  values: ExpositionSample[];
}

type Labels<L extends string> = Record<L, string>;

export interface CounterChild {
  inc(n?: number): void;
}

export interface HistogramChild {
  observe(value: number): void;
}

interface CounterRecord<L extends string> extends CounterChild {
  labels: Labels<L>;
  value: number;
}

interface HistogramRecord<L extends string> extends HistogramChild {
  labels: Labels<L>;
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last slot is above every bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

interface Options<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  registers: Registry[];
}

/** What both kinds share: identity, registration, and one record per label set. */
abstract class Labelled<L extends string, R extends { labels: Labels<L> }> {
  readonly aggregator = 'sum' as const;
  readonly name: string;
  readonly help: string;
  protected readonly children = new Map<string, R>();
  private readonly labelNames: readonly L[];

  constructor(o: Options<L>) {
    this.name = o.name;
    this.help = o.help;
    this.labelNames = o.labelNames;
    for (const r of o.registers) r.registerMetric(this as unknown as Metric);
  }

  /** The record of one label set, made on first use (rare: callers keep the child). */
  protected record(labels: Labels<L>, make: (labels: Labels<L>, what: string) => R): R {
    const values = this.labelNames.map((n) => {
      const v = labels[n];
      if (typeof v !== 'string') throw new Error(`${this.name}: label "${n}" is missing`);
      return v;
    });
    const key = values.join('\u0000');
    let c = this.children.get(key);
    if (!c) this.children.set(key, (c = make({ ...labels }, `${this.name}{${values.join(',')}}`)));
    return c;
  }
}

export class FastCounter<L extends string> extends Labelled<L, CounterRecord<L>> {
  readonly type = 'counter' as const;

  /** The child for one label set; keep it and call inc() on it. */
  child(labels: Labels<L>): CounterChild {
    return this.record(labels, (own, what) => {
      const rec: CounterRecord<L> = {
        labels: own,
        value: 0,
        inc(n = 1) {
          if (!(n >= 0)) throw new Error(`${what}: increment must be >= 0, got ${n}`);
          rec.value += n;
        },
      };
      return rec;
    });
  }

  async get(): Promise<Exposition> {
    const values = [...this.children.values()].map((c) => ({ labels: { ...c.labels }, value: c.value }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const c of this.children.values()) c.value = 0;
  }
}

export class FastHistogram<L extends string> extends Labelled<L, HistogramRecord<L>> {
  readonly type = 'histogram' as const;
  private readonly bounds: readonly number[];

  constructor(o: Options<L> & { buckets: readonly number[] }) {
    super(o);
    this.bounds = [...o.buckets].sort((a, b) => a - b);
  }

  /** The child for one label set; keep it and call observe() on it. */
  child(labels: Labels<L>): HistogramChild {
    const bounds = this.bounds;
    return this.record(labels, (own, what) => {
      const rec: HistogramRecord<L> = {
        labels: own,
        counts: new Float64Array(bounds.length + 1),
        sum: 0,
        count: 0,
        observe(value) {
          if (typeof value !== 'number' || Number.isNaN(value)) throw new Error(`${what}: value must be a number, got ${value}`);
          let i = 0;
          while (i < bounds.length && value > bounds[i]!) i++;
          rec.counts[i]!++;
          rec.sum += value;
          rec.count++;
        },
      };
      return rec;
    });
  }

  async get(): Promise<Exposition> {
    const values: Exposition['values'] = [];
    // Label layout as prom-client's own histogram: `le` (then the registry's default labels),
    // then the child's labels as shared labels; the exposition is byte-for-byte the same.
    for (const c of this.children.values()) {
      const shared = c.labels;
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += c.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: this.bounds[i]! }, sharedLabels: shared, value: acc });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, sharedLabels: shared, value: c.count });
      values.push({ metricName: `${this.name}_sum`, labels: {}, sharedLabels: shared, value: c.sum });
      values.push({ metricName: `${this.name}_count`, labels: {}, sharedLabels: shared, value: c.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const c of this.children.values()) {
      c.counts.fill(0);
      c.sum = 0;
      c.count = 0;
    }
  }
}
