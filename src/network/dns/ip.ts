/**
 * Address helpers for the resolver: canonical text forms (so a client's
 * source address, a record's address and a PTR name meet as one map key) and
 * the byte forms that go into A/AAAA records.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { invalid } from '../../common/errors.js';

/** The four bytes of a dotted IPv4 address, or undefined when `s` is not one. */
export function ipv4Bytes(s: string): Buffer | undefined {
  if (!isIPv4(s)) return undefined;
  return Buffer.from(s.split('.').map(Number));
}

/** The sixteen bytes of an IPv6 address (`::` and an IPv4 tail allowed). */
export function ipv6Bytes(s: string): Buffer | undefined {
  if (!isIPv6(s)) return undefined;
  const zone = s.indexOf('%');
  let text = zone >= 0 ? s.slice(0, zone) : s;
  const out = Buffer.alloc(16);
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tailBytes: Buffer | undefined;
  if (tail?.[1] !== undefined) {
    tailBytes = ipv4Bytes(tail[1]);
    text = text.slice(0, text.length - tail[1].length) + '0:0';
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groups = (p: string): number[] =>
    p === '' ? [] : p.split(':').map((g) => parseInt(g, 16));
  const h = groups(head);
  const t = rest === undefined ? [] : groups(rest);
  const all =
    rest === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  if (tailBytes) tailBytes.copy(out, 12);
  return out;
}

/** RFC 5952 text of sixteen address bytes (what Node reports as a source address). */
export function formatIPv6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}

/** The canonical text of an address (lower-case, compressed IPv6); throws on garbage. */
export function canonicalIp(s: string): string {
  if (isIPv4(s)) return s;
  const b = ipv6Bytes(s);
  if (!b) throw invalid(`invalid IP address: ${s}`);
  // Dual-stack sockets report IPv4 clients as ::ffff:a.b.c.d; they are the IPv4 client.
  if (b.readUInt32BE(0) === 0 && b.readUInt32BE(4) === 0 && b.readUInt32BE(8) === 0xffff)
    return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  return formatIPv6(b);
}

/**
 * The address a reverse name stands for (`4.3.2.1.in-addr.arpa` → `1.2.3.4`,
 * 32 nibbles under `ip6.arpa`), or undefined when it names no single address.
 * `name` is lower-case without the trailing dot.
 */
export function ptrNameToIp(name: string): string | undefined {
  if (name.endsWith('.in-addr.arpa')) {
    const parts = name.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) < 256))
      return undefined;
    return parts.reverse().join('.');
  }
  if (name.endsWith('.ip6.arpa')) {
    const nibbles = name.slice(0, -'.ip6.arpa'.length).split('.');
    if (nibbles.length !== 32 || !nibbles.every((n) => /^[0-9a-f]$/.test(n))) return undefined;
    const b = Buffer.alloc(16);
    for (let i = 0; i < 32; i++) {
      const v = parseInt(nibbles[31 - i] as string, 16);
      b[i >> 1] = (b[i >> 1] as number) | (i % 2 === 0 ? v << 4 : v);
    }
    return formatIPv6(b);
  }
  return undefined;
}
