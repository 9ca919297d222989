/**
 * Strict IP address parsing for the firewall. Every address that ends
 * up in nftables command text is parsed to bytes here and printed back from
 * those bytes, so nothing a caller passes can smuggle nft syntax into a batch,
 * and kernel dumps and desired state compare equal whatever notation they use.
 */
import { invalid } from '../../common/errors.js';

/** A parsed address: 4 or 16 bytes. */
export interface IpAddr {
  /** 4 for IPv4, 6 for IPv6. */
  family: 4 | 6;
  /** Network-order bytes (4 or 16 of them). */
  bytes: Uint8Array;
}

function parseV4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    // No leading zeros: "010" is octal to some parsers and decimal to others.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): Uint8Array | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(s)) return undefined;
  // An embedded IPv4 address (::ffff:1.2.3.4) is the last two groups written in decimal.
  if (s.includes('.')) {
    const lastColon = s.lastIndexOf(':');
    const v4 = lastColon < 0 ? undefined : parseV4(s.slice(lastColon + 1));
    if (!v4) return undefined;
    const hi = ((v4[0]! << 8) | v4[1]!).toString(16);
    const lo = ((v4[2]! << 8) | v4[3]!).toString(16);
    s = `${s.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const group = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = group(halves[0] as string);
  const rest = halves.length === 2 ? group(halves[1] as string) : [];
  if (!head || !rest) return undefined;
  let all: number[];
  if (halves.length === 2) {
    const fill = 8 - head.length - rest.length;
    if (fill < 1) return undefined;
    all = [...head, ...new Array<number>(fill).fill(0), ...rest];
  } else {
    if (head.length !== 8) return undefined;
    all = head;
  }
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** Parses an IPv4 or IPv6 address (no zone, no prefix); undefined when it is not one. */
export function tryParseIp(s: string): IpAddr | undefined {
  if (s.length > 45) return undefined;
  const v4 = parseV4(s);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = s.includes(':') ? parseV6(s) : undefined;
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

/** Parses an IPv4 or IPv6 address or throws INVALID_ARGUMENT naming `what`. */
export function parseIp(s: string, what = 'address'): IpAddr {
  const a = typeof s === 'string' ? tryParseIp(s) : undefined;
  if (!a) throw invalid(`invalid ${what}: ${JSON.stringify(s)}`);
  return a;
}

/** Canonical text: dotted quad, or RFC 5952 for IPv6 (lower case, longest zero run as ::). */
export function formatIp(a: IpAddr): string {
  const b = a.bytes;
  if (a.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  if (w.slice(0, 5).every((x) => x === 0) && w[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  let best = -1;
  let bestLen = 1; // a single zero word is not compressed (RFC 5952 4.2.2)
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(w);
  return `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

/** True for 0.0.0.0 and :: (Docker's "all addresses"). */
export function isUnspecified(a: IpAddr): boolean {
  return a.bytes.every((x) => x === 0);
}
