/**
 * The few Go formatting verbs whose output Docker's classic builder writes
 * into image history (`CMD ["/bin/sh" "-c" "x"]`, `VOLUME [/data]`, the odd
 * `HEALTHCHECK &{[...] "30s" "0s" "0s" '\x03'}`), and the port specs EXPOSE
 * accepts. Pure.
 */
import type { HealthConfig } from '../images/types.js';

/** Go's `%q` of a string (JSON's quoting is the same for printable text). */
export const goQuote = (s: string): string => JSON.stringify(s);

/** Go's `%q` of a []string: `["a" "b"]`. */
export function goQuoteList(list: string[] | null | undefined): string {
  return `[${(list ?? []).map(goQuote).join(' ')}]`;
}

/** Go's `%v` of a []string: `[a b]`. */
export function goList(list: string[]): string {
  return `[${list.join(' ')}]`;
}

/** Go's time.Duration String(): `0s`, `1.5s`, `5m0s`, `1h0m0s`, `300ms`. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let u = Math.abs(ns);
  let out: string;
  if (u < 1e9) {
    const [unit, div] = u < 1e3 ? ['ns', 1] : u < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    out = `${trimFloat(u / (div as number))}${unit as string}`;
  } else {
    const h = Math.floor(u / 3600e9);
    u -= h * 3600e9;
    const m = Math.floor(u / 60e9);
    u -= m * 60e9;
    const s = `${trimFloat(u / 1e9)}s`;
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return neg ? `-${out}` : out;
}

function trimFloat(v: number): string {
  return String(Number(v.toFixed(9)));
}

/** Go's `%q` of an int (a quoted rune). */
function goQuoteRune(n: number): string {
  const named: Record<number, string> = {
    7: 'a',
    8: 'b',
    9: 't',
    10: 'n',
    11: 'v',
    12: 'f',
    13: 'r',
  };
  if (named[n]) return `'\\${named[n]}'`;
  if (n === 39) return "'\\''";
  if (n === 92) return "'\\\\'";
  if (n >= 0x20 && n < 0x7f) return `'${String.fromCharCode(n)}'`;
  if (n < 0x100) return `'\\x${n.toString(16).padStart(2, '0')}'`;
  return `'${String.fromCodePoint(n)}'`;
}

/** `%q` of a *HealthConfig, as the classic builder records HEALTHCHECK. */
export function goHealthcheck(h: HealthConfig): string {
  return `&{${goQuoteList(h.Test)} ${goQuote(goDuration(h.Interval ?? 0))} ${goQuote(
    goDuration(h.Timeout ?? 0),
  )} ${goQuote(goDuration(h.StartPeriod ?? 0))} ${goQuoteRune(h.Retries ?? 0)}}`;
}

/** Ports of one EXPOSE word (`80`, `80/udp`, `8000-8002/tcp`) as `port/proto` keys. */
export function exposedPorts(spec: string): string[] {
  const slash = spec.lastIndexOf('/');
  const proto = slash >= 0 ? spec.slice(slash + 1).toLowerCase() : 'tcp';
  const ports = slash >= 0 ? spec.slice(0, slash) : spec;
  if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new Error(`invalid proto: ${proto}`);
  const m = /^(\d+)(?:-(\d+))?$/.exec(ports);
  if (!m) throw new Error(`Invalid containerPort: ${ports}`);
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start > 65535 || end > 65535 || end < start) {
    throw new Error(`Invalid range specified for the Port: ${ports}`);
  }
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  return out;
}
