/**
 * The figures a benchmark run reports for its charts: one number per engine
 * for each quantity an issue sets a target on (and the context rows beside
 * them). Every benchmark puts a `figures` array into its results JSON;
 * `bench/charts.ts` draws them, knowing nothing else of the benchmark.
 */
import type { OpResult } from './report.js';

/** Who a value belongs to, in the order the charts draw them. */
export const PEERS = ['berth', 'docker', 'netavark', 'cni', 'aardvark-dns', 'underlay'] as const;
/** One of PEERS. */
export type Peer = (typeof PEERS)[number];

/** The label a chart prints for a series key. */
export const seriesLabel = (key: string): string =>
  key in PEER_LABEL ? PEER_LABEL[key as Peer] : key;

/** Labels the charts print for each peer. */
export const PEER_LABEL: Record<Peer, string> = {
  berth: 'Berth',
  docker: 'Docker 20.10',
  netavark: 'netavark 1.4',
  cni: 'CNI bridge',
  'aardvark-dns': 'aardvark-dns',
  underlay: 'underlay',
};

/** One quantity measured on several peers in one run. */
export interface Figure {
  /** What was measured, short (a chart row's title). */
  title: string;
  /** Unit of every value (`ms`, `Gbit/s`, `q/s`, ...). */
  unit: string;
  /** Whether smaller values are better (times) or larger (rates). */
  better: 'lower' | 'higher';
  /**
   * Median (or the figure the issue names) per series, in drawing order:
   * a PEERS key for an engine or backend (absent when not measured), or any
   * other label for Berth under a condition (`empty`, `1000 endpoints`).
   */
  values: Partial<Record<Peer, number>> & Record<string, number>;
  /** The target in words, e.g. `Berth ≤ 0.2 × Docker`. */
  target?: string;
  /** Whether this run met it. */
  met?: boolean;
}

/** A figure from a Berth/Docker operation of `report.ts` (medians, ms). */
export function opFigure(title: string, op: OpResult, target?: string): Figure {
  return {
    title,
    unit: 'ms',
    better: 'lower',
    values: { berth: op.berth.median, docker: op.docker.median },
    ...(op.target === undefined
      ? {}
      : { target: target ?? `Berth ≤ ${op.target} × Docker`, met: op.met }),
  };
}

/** Checks a figure read back from a results file; returns why it is unusable, or undefined. */
export function figureProblem(f: unknown): string | undefined {
  if (typeof f !== 'object' || f === null) return 'not an object';
  const o = f as Record<string, unknown>;
  if (typeof o.title !== 'string' || !o.title) return 'no title';
  if (typeof o.unit !== 'string') return `${o.title}: no unit`;
  if (o.better !== 'lower' && o.better !== 'higher')
    return `${o.title}: better must be lower|higher`;
  if (typeof o.values !== 'object' || o.values === null) return `${o.title}: no values`;
  const entries = Object.entries(o.values);
  if (entries.length === 0) return `${o.title}: no values`;
  for (const [k, v] of entries) {
    if (!k.trim()) return `${o.title}: a value without a label`;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      return `${o.title}: ${k} is not a measurement`;
  }
  return undefined;
}
