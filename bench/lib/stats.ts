/**
 * Summary statistics for small benchmark samples (tens of values). Medians and
 * nearest-rank percentiles rather than means: one slow outlier on a shared
 * 2-core machine should not move the headline figure.
 */

/** The figures reported for one operation on one engine, in milliseconds. */
export interface Summary {
  /** Number of samples. */
  n: number;
  /** Middle value (mean of the two middle values for an even count). */
  median: number;
  /** Nearest-rank 90th percentile. */
  p90: number;
  /** Fastest sample. */
  min: number;
  /** Slowest sample. */
  max: number;
  /** Arithmetic mean, for reference only. */
  mean: number;
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] as number;
}

/** Median of an ascending array. */
export function median(sorted: readonly number[]): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const mid = Math.floor(n / 2);
  return n % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Rounds to 0.1 ms: finer digits are noise for whole-command timings. */
export function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** Summarises samples (any order). */
export function summarize(samples: readonly number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const total = s.reduce((a, b) => a + b, 0);
  return {
    n: s.length,
    median: round1(median(s)),
    p90: round1(percentile(s, 90)),
    min: round1(s[0] ?? NaN),
    max: round1(s[s.length - 1] ?? NaN),
    mean: round1(s.length ? total / s.length : NaN),
  };
}
