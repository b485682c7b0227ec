// Code that is synchronous unless it must read LevelDB asynchronously (an iterator): written once
// as a generator that yields the promises it waits for, run by drive(). A Txn whose compares and
// operations all touch single keys therefore runs without a single promise, like a plain Put,
// while one with a range read waits where it must.

export type Co<T> = Generator<Promise<unknown>, T, unknown>;

/** Inside a Co: the value of `p`, waiting only if it is a promise. */
export function* wait<T>(p: T | Promise<T>): Co<T> {
  if (p instanceof Promise) return (yield p) as T;
  return p;
}

/** Runs `co` synchronously until it first waits; then finishes asynchronously. */
export function drive<T>(co: Co<T>): T | Promise<T> {
  let r = co.next();
  if (r.done) return r.value;
  return (async () => {
    while (!r.done) {
      let v: unknown;
      try {
        v = await r.value;
      } catch (e) {
        r = co.throw(e);
        continue;
      }
      r = co.next(v);
    }
    return r.value;
  })();
}
