/**
 * The filters of the prune endpoints as dockerd 20.10 reads them: only the
 * keys an endpoint accepts (`Invalid filter 'x'` for another, before
 * anything is removed), `until` once at most (a duration before now, a Unix
 * time or a date: GetTimestamp), `label` (every `key` or `key=value` is
 * among the labels) and `label!` (not all of them are). Pure.
 */
import { invalid } from '../common/errors.js';
import { parseTimestamp } from './timestamp.js';

/** What a prune filter looks at. */
export interface Prunable {
  /** Labels (null or empty: matches no `label`, every `label!`). */
  labels: Record<string, string> | null | undefined;
  /** Creation time, ms since the epoch. */
  created: number;
}

/**
 * Docker's MatchKVList: every `key` or `key=value` of `specs` is among the
 * labels (so an empty label set matches none).
 */
export function labelsMatch(
  labels: Record<string, string> | null | undefined,
  specs: string[],
): boolean {
  const l = labels ?? {};
  if (Object.keys(l).length === 0) return false;
  return specs.every((v) => {
    const i = v.indexOf('=');
    return i < 0 ? v in l : l[v.slice(0, i)] === v.slice(i + 1);
  });
}

/** The `until` instant of prune filters (ms), undefined without one. */
export function pruneUntil(f: Map<string, string[]>, now = Date.now()): number | undefined {
  const untils = f.get('until') ?? [];
  if (untils.length > 1) throw invalid('more than one until filter specified');
  return untils[0] === undefined ? undefined : parseTimestamp(untils[0], now);
}

/** Checks the keys, then answers whether a thing is to be pruned; `extra` keys the caller reads itself. */
export function pruneFilter(
  f: Map<string, string[]>,
  extra: readonly string[] = [],
  now = Date.now(),
): (p: Prunable) => boolean {
  for (const k of f.keys()) {
    if (!['label', 'label!', 'until', ...extra].includes(k)) throw invalid(`Invalid filter '${k}'`);
  }
  const until = pruneUntil(f, now);
  const labels = f.get('label') ?? [];
  const notLabels = f.get('label!') ?? [];
  return (p) =>
    (until === undefined || p.created <= until) &&
    (!labels.length || labelsMatch(p.labels, labels)) &&
    !(notLabels.length && labelsMatch(p.labels, notLabels));
}

/** `dangling` of `image prune`: true (the default) prunes only dangling images. */
export function danglingOnly(f: Map<string, string[]>): boolean {
  const v = f.get('dangling');
  if (!v || v.length === 0) return true;
  // as Go's ExactMatch: any of the values
  if (v.some((x) => x === 'false' || x === '0')) return false;
  if (v.some((x) => x === 'true' || x === '1')) return true;
  throw invalid(`Invalid filter 'dangling=[${v.join(' ')}]'`);
}
