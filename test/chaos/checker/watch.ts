// The watch check of a chaos run: each watcher's sequence of revisions must be exactly the
// committed history of its range from its start revision (read afterwards by a fresh watch):
// the first gap, duplicate, reorder or differing event is reported with its revision.

/** One delivered revision: its number and its events as comparable text. */
export interface WatchedRevision {
  revision: number;
  events: string[];
}

export interface WatchSequenceResult {
  ok: boolean;
  message: string;
}

/** Compares `got` with `expected` up to `expected`'s end; `got` may not stop before it. */
export function checkWatchSequence(name: string, expected: readonly WatchedRevision[], got: readonly WatchedRevision[]): WatchSequenceResult {
  const seen = new Set<number>();
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    if (seen.has(g.revision)) return { ok: false, message: `${name}: revision ${g.revision} delivered twice (at positions ${got.findIndex((x) => x.revision === g.revision)} and ${i})` };
    seen.add(g.revision);
    if (i > 0 && g.revision < got[i - 1]!.revision) return { ok: false, message: `${name}: revision ${g.revision} delivered after ${got[i - 1]!.revision} (out of order)` };
  }
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const g = got[i];
    if (!g) return { ok: false, message: `${name}: stopped before revision ${e.revision} (delivered ${got.length} of ${expected.length} revisions)` };
    if (g.revision > e.revision) return { ok: false, message: `${name}: gap: revision ${e.revision} never delivered (next was ${g.revision})` };
    if (g.revision < e.revision) return { ok: false, message: `${name}: revision ${g.revision} delivered, but it is not in the committed history (expected ${e.revision})` };
    if (g.events.join('\n') !== e.events.join('\n')) return { ok: false, message: `${name}: revision ${e.revision} differs: got ${JSON.stringify(g.events)}, committed ${JSON.stringify(e.events)}` };
  }
  return { ok: true, message: `${name}: ${expected.length} revisions, as committed` };
}
