/**
 * Address helpers for the resolver: canonical text forms (so a client's
 * source address, a record's address and a PTR name meet as one map key) and
 * the byte forms that go into A/AAAA records.
 */
import { invalid } from '../../common/errors.js';
import { formatIp, parseIp } from '../../common/ip.js';

/** The four bytes of a dotted IPv4 address, or undefined when `s` is not one. */
export function ipv4Bytes(s: string): Buffer | undefined {
  const a = parseIp(s);
  return a?.family === 4 ? a.bytes : undefined;
}

/** The sixteen bytes of an IPv6 address (`::`, an IPv4 tail and a zone allowed). */
export function ipv6Bytes(s: string): Buffer | undefined {
  const zone = s.indexOf('%');
  const a = parseIp(zone >= 0 ? s.slice(0, zone) : s);
  return a?.family === 6 ? a.bytes : undefined;
}

/** RFC 5952 text of sixteen address bytes (what Node reports as a source address). */
export function formatIPv6(b: Uint8Array): string {
  return formatIp(b);
}

/** The canonical text of an address (lower-case, compressed IPv6); throws on garbage. */
export function canonicalIp(s: string): string {
  const b = ipv4Bytes(s) ?? ipv6Bytes(s);
  if (!b) throw invalid(`invalid IP address: ${s}`);
  // Dual-stack sockets report IPv4 clients as ::ffff:a.b.c.d; they are the IPv4 client.
  return formatIp(b, 'ipv4');
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
