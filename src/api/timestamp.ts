/**
 * Time filter values as dockerd reads them (Go's GetTimestamp): a duration
 * before now ("24h", "1h30m", "90s"), a Unix time ("1700000000",
 * "1700000000.5"), or a date and time ("2026-11-28", "2026-11-28T10:00:00Z").
 * Pure.
 */
import { invalid } from '../common/errors.js';
import { parseGoDuration } from '../common/goduration.js';

/** Go's time.ParseDuration, in ms; undefined when `v` is not one. */
export function parseDuration(v: string): number | undefined {
  const ns = parseGoDuration(v);
  return ns === undefined ? undefined : ns / 1e6;
}

/** The instant a filter value names, in ms since the epoch; 400 when it names none. */
export function parseTimestamp(v: string, now = Date.now()): number {
  const d = v === '0' ? undefined : parseDuration(v);
  if (d !== undefined) return now - d;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (!Number.isNaN(t)) return t;
  throw invalid(`failed to parse value as time or duration: ${JSON.stringify(v)}`);
}
