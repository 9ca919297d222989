/**
 * Docker's human-readable units (go-units): durations ("About a minute"),
 * decimal sizes ("4.86MB") and Go's time.Time String() layout, so that Berth's
 * columns read exactly like docker's.
 */

export { goFormatG, humanSize } from '../../common/units.js';

/** go-units HumanDuration: the coarse wording docker uses in CREATED and STATUS. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3600000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3600000 / 24 / 365)} years`;
}

/** "<duration> ago" for a unix-seconds timestamp, as in docker's CREATED column. */
export function sinceUnix(unixSeconds: number, now = Date.now()): string {
  return `${humanDuration(now - unixSeconds * 1000)} ago`;
}

/** Docker's container status wording ("Up 2 minutes", "Exited (0) 3 seconds ago"). */
export function containerStatus(
  state: {
    Running?: boolean;
    Paused?: boolean;
    Restarting?: boolean;
    Dead?: boolean;
    ExitCode?: number;
    StartedAt?: string;
    FinishedAt?: string;
  },
  now = Date.now(),
): string {
  const t = (s?: string): number => (s && !s.startsWith('0001-') ? Date.parse(s) : NaN);
  const started = t(state.StartedAt);
  const finished = t(state.FinishedAt);
  if (state.Running) {
    if (state.Paused) return `Up ${humanDuration(now - started)} (Paused)`;
    if (state.Restarting)
      return `Restarting (${state.ExitCode ?? 0}) ${humanDuration(now - finished)} ago`;
    return `Up ${humanDuration(now - started)}`;
  }
  if (state.Dead) return 'Dead';
  if (Number.isNaN(started)) return 'Created';
  if (Number.isNaN(finished)) return '';
  return `Exited (${state.ExitCode ?? 0}) ${humanDuration(now - finished)} ago`;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/**
 * Go's time.Time.String() for a moment in the local zone:
 * "2024-01-02 03:04:05.123456789 +0000 UTC" (fraction only when non-zero).
 * `nanos` carries the sub-second digits an RFC3339 string had.
 */
export function goTimeString(ms: number, fraction = ''): string {
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const zone = off === 0 ? 'UTC' : zoneAbbrev(d);
  const frac = fraction.replace(/0+$/, '');
  return (
    `${String(d.getFullYear()).padStart(4, '0')}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}` +
    `${frac ? '.' + frac : ''} ${sign}${pad2(Math.trunc(abs / 60))}${pad2(abs % 60)} ${zone}`
  );
}

function zoneAbbrev(d: Date): string {
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
    .formatToParts(d)
    .find((p) => p.type === 'timeZoneName');
  return part?.value ?? 'UTC';
}

/** Go's String() of an RFC3339 timestamp as the API sends it ("" or zero time included). */
export function goTimeFromRFC3339(s: string | undefined): string {
  if (!s || s.startsWith('0001-01-01')) return '0001-01-01 00:00:00 +0000 UTC';
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) return s;
  const m = /\.(\d+)/.exec(s);
  return goTimeString(Math.floor(ms / 1000) * 1000, m?.[1] ?? '');
}
