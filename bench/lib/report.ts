/**
 * Turns samples into the comparison the issue asks for: per operation and
 * engine median, p90 and min, the Berth/Docker ratio, and whether the target
 * (Berth at most a fraction of Docker's time) is met.
 */
import { round1, summarize, type Summary } from './stats.js';

/** The engines compared, in table order. */
export const ENGINES = ['berth', 'docker'] as const;
/** One of ENGINES. */
export type Engine = (typeof ENGINES)[number];

/** One measured operation on both engines. */
export interface OpResult {
  /** The docker command timed (with `<id>` for a container id). */
  command: string;
  /** Per engine summary. */
  berth: Summary;
  /** Per engine summary. */
  docker: Summary;
  /** berth / docker for median, p90 and min. */
  ratio: { median: number; p90: number; min: number };
  /** Largest allowed median ratio, when the issue sets one. */
  target?: number;
  /** Whether the median ratio is within the target (absent without a target). */
  met?: boolean;
  /** Raw samples in ms, in measurement order. */
  samples: Record<Engine, number[]>;
}

const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;

/** Summarises one operation's samples and checks it against `target`. */
export function opResult(
  command: string,
  samples: Record<Engine, number[]>,
  target?: number,
): OpResult {
  const berth = summarize(samples.berth);
  const docker = summarize(samples.docker);
  const r = {
    median: ratio(berth.median, docker.median),
    p90: ratio(berth.p90, docker.p90),
    min: ratio(berth.min, docker.min),
  };
  return {
    command,
    berth,
    docker,
    ratio: r,
    ...(target === undefined ? {} : { target, met: r.median <= target }),
    samples: {
      berth: samples.berth.map(round1),
      docker: samples.docker.map(round1),
    },
  };
}

/** A markdown table of the results (also readable as plain text). */
export function markdownTable(ops: Record<string, OpResult>): string {
  const head = [
    'operation',
    'n each',
    'Berth median',
    'Berth p90',
    'Berth min',
    'Docker median',
    'Docker p90',
    'Docker min',
    'Berth/Docker (median)',
    'target',
  ];
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  const rows = Object.entries(ops).map(([name, o]) => [
    `\`${name}\``,
    o.berth.n === o.docker.n ? String(o.berth.n) : `${o.berth.n}/${o.docker.n}`,
    ms(o.berth.median),
    ms(o.berth.p90),
    ms(o.berth.min),
    ms(o.docker.median),
    ms(o.docker.p90),
    ms(o.docker.min),
    o.ratio.median.toFixed(3),
    o.target === undefined ? '–' : `≤ ${o.target} ${o.met ? 'met' : 'NOT met'}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [
    line(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}
