// FastCounter / FastHistogram must expose exactly what prom-client's Counter / Histogram would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { FastCounter, FastHistogram } from '../../src/metrics/fast.js';
import { LATENCY_BUCKETS } from '../../src/metrics/metrics.js';

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('FastHistogram and FastCounter render byte-for-byte like prom-client (seeded observations, default labels)', async () => {
  const seed = 20261121;
  const rnd = seeded(seed);
  const slow = new Registry();
  const fast = new Registry();
  for (const r of [slow, fast]) r.setDefaultLabels({ node: '2' });
  const h0 = new Histogram({ name: 'x_duration_seconds', help: 'h', labelNames: ['service', 'method'], buckets: LATENCY_BUCKETS, registers: [slow] });
  const c0 = new Counter({ name: 'x_total', help: 'c', labelNames: ['method', 'code'], registers: [slow] });
  const h1 = new FastHistogram({ name: 'x_duration_seconds', help: 'h', labelNames: ['service', 'method'], buckets: LATENCY_BUCKETS, registers: [fast] });
  const c1 = new FastCounter({ name: 'x_total', help: 'c', labelNames: ['method', 'code'], registers: [fast] });
  const methods = ['Get', 'Set', 'List'];
  const codes = ['OK', 'UNAVAILABLE'];
  for (let i = 0; i < 5000; i++) {
    const method = methods[Math.floor(rnd() * methods.length)]!;
    const code = codes[Math.floor(rnd() * codes.length)]!;
    // Values on and around the bucket bounds as well as in between.
    const v = rnd() < 0.2 ? LATENCY_BUCKETS[Math.floor(rnd() * LATENCY_BUCKETS.length)]! : rnd() ** 4 * 20;
    h0.observe({ service: 's', method }, v);
    h1.child({ service: 's', method }).observe(v);
    const n = Math.floor(rnd() * 3);
    c0.inc({ method, code }, n);
    c1.child({ method, code }).inc(n);
  }
  assert.equal(await fast.metrics(), await slow.metrics(), `seed ${seed}`);
  fast.resetMetrics();
  slow.resetMetrics();
  // prom-client drops its series on reset; ours keep the label sets at zero.
  assert.match(await fast.metrics(), /^x_total\{method="Get",code="OK",node="2"\} 0$/m);
  assert.match(await fast.metrics(), /^x_duration_seconds_count\{node="2",service="s",method="Get"\} 0$/m);
});

test('bad observations are refused and change nothing', async () => {
  const r = new Registry();
  const c = new FastCounter({ name: 'y_total', help: 'c', labelNames: ['t'], registers: [r] }).child({ t: 'a' });
  const h = new FastHistogram({ name: 'y_seconds', help: 'h', labelNames: ['t'], buckets: [1, 2], registers: [r] }).child({ t: 'a' });
  c.inc(2);
  h.observe(1.5);
  assert.throws(() => c.inc(-1), /must be >= 0/);
  assert.throws(() => c.inc(NaN), /must be >= 0/);
  assert.throws(() => h.observe(NaN), /must be a number/);
  const text = await r.metrics();
  assert.match(text, /^y_total\{t="a"\} 2$/m);
  assert.match(text, /^y_seconds_bucket\{le="1",t="a"\} 0$/m);
  assert.match(text, /^y_seconds_bucket\{le="2",t="a"\} 1$/m);
  assert.match(text, /^y_seconds_count\{t="a"\} 1$/m);
  assert.throws(() => new FastCounter({ name: 'z_total', help: 'c', labelNames: ['a', 'b'], registers: [r] }).child({ a: 'x' } as never), /label "b" is missing/);
});
