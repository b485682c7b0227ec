// Helpers shared by the metrics tests: a parser for the Prometheus text format, promtool's
// naming rules re-implemented in TypeScript, and promtool itself when installed.
import { spawnSync } from 'node:child_process';
import { isEtcdName } from '../../src/metrics/etcd-names.js';

export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

/** Parses the Prometheus text format (the subset prom-client writes). */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: 'untyped', help: '', samples: [] }));
    return f;
  };
  let current: Family | null = null;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m: RegExpMatchArray | null;
    if ((m = line.match(/^# HELP (\S+) (.*)$/))) family(m[1]!).help = m[2]!;
    else if ((m = line.match(/^# TYPE (\S+) (\S+)$/))) (current = family(m[1]!)).type = m[2]!;
    else if ((m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/))) {
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
      const sample = { name: m[1]!, labels, value: m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]) };
      const owner: Family =
        current && (sample.name === current.name || sample.name.startsWith(current.name + '_')) ? current : family(sample.name);
      owner.samples.push(sample);
    } else throw new Error(`unparseable exposition line: ${line}`);
  }
  return families;
}

/** The promtool lint rules, in TypeScript. Returns one message per problem (empty = clean). */
export function lintNames(families: Map<string, Family>): string[] {
  const problems: string[] = [];
  // promlint's unit abbreviations and non-base units (client_golang prometheus/testutil/promlint).
  const abbreviations = /(^|_)(s|ms|us|ns|sec|b|kb|mb|gb|tb|pb|m|h|d)(_|$)/;
  const nonBaseUnits = /(^|_)(minutes|hours|days|weeks|milliseconds|microseconds|nanoseconds|kilobytes|megabytes|gigabytes|bits|percent)(_|$)/;
  for (const f of families.values()) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(f.name)) problems.push(`${f.name}: invalid metric name`);
    if (f.name.includes(':')) problems.push(`${f.name}: colons are reserved for recording rules`);
    if (/[A-Z]/.test(f.name)) problems.push(`${f.name}: metric names should be snake_case, not camelCase`);
    if (!f.help) problems.push(`${f.name}: no help text`);
    if (f.type === 'counter' && !f.name.endsWith('_total')) problems.push(`${f.name}: counter metrics should have "_total" suffix`);
    if (f.type !== 'counter' && f.name.endsWith('_total')) problems.push(`${f.name}: non-counter metrics should not have "_total" suffix`);
    if (f.type !== 'histogram' && f.type !== 'summary' && /_(count|sum|bucket)$/.test(f.name)) {
      problems.push(`${f.name}: non-histogram and non-summary metrics should not have a reserved suffix`);
    }
    if (abbreviations.test(f.name)) problems.push(`${f.name}: metric names should not contain abbreviated units`);
    if (nonBaseUnits.test(f.name)) problems.push(`${f.name}: use base units (seconds, bytes)`);
    if (/(^|_)(counter|gauge|histogram|summary)(_|$)/.test(f.name)) problems.push(`${f.name}: metric name should not include its type`);
    for (const s of f.samples) {
      for (const l of Object.keys(s.labels)) {
        if (l === 'le' && f.type !== 'histogram') problems.push(`${f.name}: "le" label on a non-histogram`);
        if (l === 'quantile' && f.type !== 'summary') problems.push(`${f.name}: "quantile" label on a non-summary`);
      }
    }
  }
  return problems;
}

/** True when promtool is on PATH. */
export function promtoolAvailable(): boolean {
  const r = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

/** Runs `promtool check metrics` on `text`; returns its exit status and combined output. */
export function promtoolCheck(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/** Value of the first sample named `name` whose labels include `labels`. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}

/**
 * `text` without the families named as etcd names them (src/metrics/etcd-names.ts): those follow
 * etcd, not the naming rules (etcd-names.test.ts checks how).
 */
export function withoutEtcdNames(text: string): string {
  return text
    .split('\n')
    .filter((line) => !isEtcdName(line.startsWith('# ') ? (line.split(' ')[2] ?? '') : line))
    .join('\n');
}
