// Turns deploy/prometheus.yml into a config for a local test cluster (used by
// cluster-metrics.test.ts; unit-tested in metrics.test.ts). Line-based on purpose: the project
// has no YAML library, and the file's shape is simple.
import assert from 'node:assert/strict';

/**
 * deploy/prometheus.yml with its placement-center targets replaced by the local nodes and the
 * self-scrape target by this Prometheus's address; every other setting (scrape interval and
 * timeout, metrics path, rule files) kept as deployed.
 */
export function localPrometheusConfig(deployed: string, nodeAddresses: string[], promAddress: string): string {
  const lines = deployed.split('\n');
  const out: string[] = [];
  let job = '';
  let replaced = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const jm = line.match(/^\s*-\s*job_name:\s*["']?([^"'\s]+)/);
    if (jm) job = jm[1]!;
    const tm = line.match(/^(\s*(?:-\s*)?)targets:(.*)$/);
    const targets = job === 'placement-center' ? nodeAddresses : job === 'prometheus' ? [promAddress] : null;
    if (!tm || !targets) {
      out.push(line);
      continue;
    }
    if (job === 'placement-center') replaced++;
    out.push(`${tm[1]}targets: ${JSON.stringify(targets)}`);
    // A block list (`targets:` then `- host:port` lines) is replaced too.
    if (tm[2]!.trim() === '') {
      while (i + 1 < lines.length && /^\s*-\s+["']?[^\s:]+:\d+/.test(lines[i + 1]!) && !/job_name/.test(lines[i + 1]!)) i++;
    }
  }
  assert.equal(replaced, 1, 'deploy/prometheus.yml has one placement-center targets list');
  return out.join('\n');
}
