/**
 * The few Go formatting verbs whose output Docker's classic builder writes
 * into image history (`CMD ["/bin/sh" "-c" "x"]`, `VOLUME [/data]`, the odd
 * `HEALTHCHECK &{[...] "30s" "0s" "0s" '\x03'}`), and the port specs EXPOSE
 * accepts. Pure.
 */
import { goDuration } from '../common/goduration.js';
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
