// Shared helpers for storage tests: temp dirs, seeded randomness, entry factories.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry } from '../../raft/types.js';

/** Create a temp dir and register its removal with the test's after-hook. */
export function tempDir(after: (fn: () => void) => void, label = 'storage'): string {
  const dir = mkdtempSync(join(tmpdir(), `pc-${label}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** mulberry32: small, fast, seedable. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seedFromEnv(name: string): number {
  const s = process.env.TEST_SEED ? Number(process.env.TEST_SEED) : Math.floor(Math.random() * 2 ** 31);
  console.log(`# ${name}: seed ${s} (rerun with TEST_SEED=${s})`);
  return s;
}

/** Deterministic payload for (index, term): lets a checker verify content without storing it. */
export function payload(index: number, term: number, size = 32): Uint8Array {
  const b = new Uint8Array(size);
  let x = (index * 2654435761 + term * 40503) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

export function entry(index: number, term: number, size = 32): Entry {
  return { index, term, type: 0, data: payload(index, term, size) };
}

export function entries(from: number, to: number, term: number, size = 32): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term, size));
  return out;
}
