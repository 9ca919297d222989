/**
 * A set of bigints kept as sorted, disjoint, non-adjacent runs [lo, hi]. IPAM
 * uses one per subnet (taken addresses) and one per family (taken subnets).
 * Because touching runs are merged, the first free value at or after x is
 * found by one binary search: either x itself or one past the end of the run
 * holding x. Allocating in order keeps a handful of runs however many values
 * are taken, so the 60000th address costs what the first did.
 *
 * Updates splice two arrays: a memmove of the runs after the change, which is
 * native code and takes about a microsecond at tens of thousands of runs (runs
 * count fragments, not members).
 */
export class IntervalSet {
  private lo: bigint[] = [];
  private hi: bigint[] = [];

  /** Number of runs (fragments); a measure of fragmentation, not of membership. */
  get runs(): number {
    return this.lo.length;
  }

  /** Index of the first run whose end is >= x (runs.length when none). */
  private firstEndingAtOrAfter(x: bigint): number {
    let a = 0;
    let b = this.hi.length;
    while (a < b) {
      const m = (a + b) >>> 1;
      if ((this.hi[m] as bigint) < x) a = m + 1;
      else b = m;
    }
    return a;
  }

  /** Whether x is in the set. */
  has(x: bigint): boolean {
    const i = this.firstEndingAtOrAfter(x);
    return i < this.lo.length && (this.lo[i] as bigint) <= x;
  }

  /** Adds every value in [a, b]. */
  add(a: bigint, b: bigint): void {
    if (a > b) return;
    const i = this.firstEndingAtOrAfter(a - 1n);
    let j = i;
    let lo = a;
    let hi = b;
    while (j < this.lo.length && (this.lo[j] as bigint) <= b + 1n) {
      if ((this.lo[j] as bigint) < lo) lo = this.lo[j] as bigint;
      if ((this.hi[j] as bigint) > hi) hi = this.hi[j] as bigint;
      j++;
    }
    this.lo.splice(i, j - i, lo);
    this.hi.splice(i, j - i, hi);
  }

  /** Removes every value in [a, b]. */
  remove(a: bigint, b: bigint): void {
    if (a > b) return;
    const i = this.firstEndingAtOrAfter(a);
    let j = i;
    const los: bigint[] = [];
    const his: bigint[] = [];
    while (j < this.lo.length && (this.lo[j] as bigint) <= b) {
      const lo = this.lo[j] as bigint;
      const hi = this.hi[j] as bigint;
      if (lo < a) {
        los.push(lo);
        his.push(a - 1n);
      }
      if (hi > b) {
        los.push(b + 1n);
        his.push(hi);
      }
      j++;
    }
    if (j === i) return;
    this.lo.splice(i, j - i, ...los);
    this.hi.splice(i, j - i, ...his);
  }

  /** Replaces the contents with `sorted` (ascending, duplicates allowed), in one pass. */
  replace(sorted: readonly bigint[]): void {
    this.lo = [];
    this.hi = [];
    let n = -1;
    for (const v of sorted) {
      if (n >= 0 && v <= (this.hi[n] as bigint) + 1n) {
        if (v > (this.hi[n] as bigint)) this.hi[n] = v;
        continue;
      }
      this.lo.push(v);
      this.hi.push(v);
      n++;
    }
  }

  /** The smallest value in [from, to] that is not in the set, or undefined. */
  firstFree(from: bigint, to: bigint): bigint | undefined {
    if (from > to) return undefined;
    const i = this.firstEndingAtOrAfter(from);
    if (i === this.lo.length || (this.lo[i] as bigint) > from) return from;
    // Runs never touch, so the value after a run's end is free.
    const next = (this.hi[i] as bigint) + 1n;
    return next <= to ? next : undefined;
  }

  /** The first run sharing a value with [a, b], or undefined when they are disjoint. */
  firstOverlap(a: bigint, b: bigint): [bigint, bigint] | undefined {
    const i = this.firstEndingAtOrAfter(a);
    if (i === this.lo.length || (this.lo[i] as bigint) > b) return undefined;
    return [this.lo[i] as bigint, this.hi[i] as bigint];
  }

  /** The largest member, or undefined when empty. */
  max(): bigint | undefined {
    return this.hi[this.hi.length - 1];
  }

  /** The runs, in order. */
  *entries(): IterableIterator<[bigint, bigint]> {
    for (let i = 0; i < this.lo.length; i++) yield [this.lo[i] as bigint, this.hi[i] as bigint];
  }
}
