// "Nothing more happens" has no event to await: poll a counter until it stops moving.

/** Resolves with `count()` once it stopped moving for `quietMs`, or once `limitMs` passed. */
export async function settled(count: () => number, quietMs: number, limitMs: number): Promise<number> {
  const until = Date.now() + limitMs;
  let last = -1;
  let since = Date.now();
  while (Date.now() < until) {
    const now = count();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return count();
}
