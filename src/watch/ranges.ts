// Key ranges [from, to) → a value, answering "which ranges contain this key" without looking at
// every range: an interval tree (a treap ordered by `from`, each node knowing the largest `to`
// below it). A stabbing query costs O(log n) plus the ranges it finds, so 10,000 distinct ranges
// cost a handful of comparisons per event, not 10,000.
//
// Keys are binary strings (one char per byte, storage/keyspace/keys.ts): JavaScript string order
// is byte order. `to === undefined` is the end of the keyspace (etcd's range_end "\0").

interface Node<V> {
  from: string;
  to: string | undefined;
  value: V;
  prio: number;
  left: Node<V> | null;
  right: Node<V> | null;
  /** Largest `to` in this subtree (undefined = the end of the keyspace). */
  max: string | undefined;
}

/** The larger of two range ends (undefined, the end of the keyspace, is the largest). */
function maxEnd(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined || b === undefined) return undefined;
  return a > b ? a : b;
}

/** Orders ranges by start, then end (the open end last). */
function cmp(af: string, at: string | undefined, bf: string, bt: string | undefined): number {
  if (af !== bf) return af < bf ? -1 : 1;
  if (at === bt) return 0;
  if (at === undefined) return 1;
  if (bt === undefined) return -1;
  return at < bt ? -1 : 1;
}

function update<V>(n: Node<V>): void {
  let m = n.to;
  if (n.left) m = maxEnd(m, n.left.max);
  if (n.right) m = maxEnd(m, n.right.max);
  n.max = m;
}

function rotateRight<V>(n: Node<V>): Node<V> {
  const l = n.left!;
  n.left = l.right;
  l.right = n;
  update(n);
  update(l);
  return l;
}

function rotateLeft<V>(n: Node<V>): Node<V> {
  const r = n.right!;
  n.right = r.left;
  r.left = n;
  update(n);
  update(r);
  return r;
}

export class RangeIndex<V> {
  private root: Node<V> | null = null;
  private count = 0;
  /** Treap priorities from a fixed-seed generator: the shape is reproducible run to run. */
  private seed = 0x9e3779b9;

  get size(): number {
    return this.count;
  }

  private prio(): number {
    let x = (this.seed = (this.seed + 0x6d2b79f5) >>> 0);
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return (x ^ (x >>> 14)) >>> 0;
  }

  /** The value stored for exactly [from, to), if any. */
  get(from: string, to: string | undefined): V | undefined {
    let n = this.root;
    while (n) {
      const c = cmp(from, to, n.from, n.to);
      if (c === 0) return n.value;
      n = c < 0 ? n.left : n.right;
    }
    return undefined;
  }

  /** Stores `value` for [from, to) (replacing the value of the same range). */
  set(from: string, to: string | undefined, value: V): void {
    this.root = this.insert(this.root, from, to, value);
  }

  private insert(n: Node<V> | null, from: string, to: string | undefined, value: V): Node<V> {
    if (!n) {
      this.count++;
      return { from, to, value, prio: this.prio(), left: null, right: null, max: to };
    }
    const c = cmp(from, to, n.from, n.to);
    if (c === 0) {
      n.value = value;
      return n;
    }
    if (c < 0) {
      n.left = this.insert(n.left, from, to, value);
      if (n.left.prio > n.prio) return rotateRight(n);
    } else {
      n.right = this.insert(n.right, from, to, value);
      if (n.right.prio > n.prio) return rotateLeft(n);
    }
    update(n);
    return n;
  }

  /** Removes [from, to); false when it was not there. */
  delete(from: string, to: string | undefined): boolean {
    const before = this.count;
    this.root = this.remove(this.root, from, to);
    return this.count < before;
  }

  private remove(n: Node<V> | null, from: string, to: string | undefined): Node<V> | null {
    if (!n) return null;
    const c = cmp(from, to, n.from, n.to);
    if (c < 0) n.left = this.remove(n.left, from, to);
    else if (c > 0) n.right = this.remove(n.right, from, to);
    else {
      if (!n.left || !n.right) {
        this.count--;
        return n.left ?? n.right;
      }
      // Rotate the node down toward a leaf, keeping the heap order, then remove it there.
      if (n.left.prio > n.right.prio) {
        const r = rotateRight(n);
        r.right = this.remove(r.right, from, to);
        update(r);
        return r;
      }
      const r = rotateLeft(n);
      r.left = this.remove(r.left, from, to);
      update(r);
      return r;
    }
    update(n);
    return n;
  }

  /** Calls `fn` with the value of every range that contains `key`. */
  stab(key: string, fn: (value: V) => void): void {
    this.visit(this.root, key, fn);
  }

  private visit(n: Node<V> | null, key: string, fn: (value: V) => void): void {
    // No range below ends after `key`: none contains it.
    while (n && (n.max === undefined || n.max > key)) {
      this.visit(n.left, key, fn);
      // Everything to the right starts at or after n.from.
      if (n.from > key) return;
      if (n.to === undefined || key < n.to) fn(n.value);
      n = n.right;
    }
  }

  /** Height of the tree (tests: a stab visits O(height) nodes plus the ranges it finds). */
  height(): number {
    const h = (n: Node<V> | null): number => (n ? 1 + Math.max(h(n.left), h(n.right)) : 0);
    return h(this.root);
  }

  /** Every stored range and its value, in order (tests, debugging). */
  entries(): Array<[string, string | undefined, V]> {
    const out: Array<[string, string | undefined, V]> = [];
    const walk = (n: Node<V> | null): void => {
      if (!n) return;
      walk(n.left);
      out.push([n.from, n.to, n.value]);
      walk(n.right);
    };
    walk(this.root);
    return out;
  }
}
