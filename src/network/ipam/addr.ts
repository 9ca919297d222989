/**
 * Address arithmetic for IPv4 and IPv6, on the one parser (common/ip.ts, Go's
 * rules). Addresses are bigints so one code path serves both families and a
 * /64's host part fits without loss.
 */
import {
  bigintToBytes,
  bytesToBigint,
  formatIp as formatIpBytes,
  parseIp as parseIpBytes,
  type Family,
} from '../../common/ip.js';

export type { Family };

/** A parsed address. */
export interface Ip {
  /** Address family. */
  family: Family;
  /** The address as an unsigned integer (32 or 128 bits). */
  value: bigint;
}

/** A parsed CIDR block. */
export interface Cidr {
  /** Address family. */
  family: Family;
  /** The address as written; Docker accepts and keeps host bits ("10.0.0.1/24"). */
  ip: bigint;
  /** Prefix length. */
  prefix: number;
  /** First address of the block (host bits cleared). */
  first: bigint;
  /** Last address of the block (host bits set). */
  last: bigint;
}

/** Address width in bits. */
export const bitsOf = (f: Family): number => (f === 4 ? 32 : 128);

/** Parses an IPv4 or IPv6 address; undefined when Go's net.ParseIP would return nil. */
export function parseIp(s: string): Ip | undefined {
  const a = parseIpBytes(s);
  return a && { family: a.family, value: bytesToBigint(a.bytes) };
}

/** Host-part mask of a prefix: the bits a block's addresses may vary in. */
export function hostMask(family: Family, prefix: number): bigint {
  return (1n << BigInt(bitsOf(family) - prefix)) - 1n;
}

/** Builds the block of `prefix` bits around `ip`. */
export function cidrOf(family: Family, ip: bigint, prefix: number): Cidr {
  const host = hostMask(family, prefix);
  const first = ip & ~host & ((1n << BigInt(bitsOf(family))) - 1n);
  return { family, ip, prefix, first, last: first | host };
}

/** Parses "addr/len" as Go's net.ParseCIDR does; undefined where it fails. */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(s.slice(0, slash));
  const len = s.slice(slash + 1);
  // Go's dtoi: decimal digits only, leading zeros allowed, no sign.
  if (!ip || !/^\d{1,8}$/.test(len)) return undefined;
  const prefix = Number(len);
  if (prefix > bitsOf(ip.family)) return undefined;
  return cidrOf(ip.family, ip.value, prefix);
}

/** Formats an address as Go does: dotted quad, or RFC 5952 for IPv6. */
export function formatIp(family: Family, v: bigint): string {
  return formatIpBytes(bigintToBytes(family, v));
}

/** The canonical text of a block: its first address and prefix ("10.0.0.0/24"). */
export function formatCidr(c: Pick<Cidr, 'family' | 'first' | 'prefix'>): string {
  return `${formatIp(c.family, c.first)}/${c.prefix}`;
}

/** Whether `ip` lies inside block `c` (families must match). */
export function cidrContains(c: Cidr, ip: Ip): boolean {
  return c.family === ip.family && ip.value >= c.first && ip.value <= c.last;
}

/**
 * Whether two blocks share an address. For CIDR blocks this is Docker's test
 * (one contains the other's network address): aligned blocks nest or are disjoint.
 */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

/** Docker's MAC for an IPv4 endpoint: 02:42 then the four address bytes. */
export function macFromIPv4(ip: string | bigint): string {
  const v = typeof ip === 'bigint' ? ip : parseIp(ip)?.value;
  if (v === undefined || (typeof ip === 'string' && !/^[\d.]+$/.test(ip)) || v > 0xffffffffn) {
    throw new TypeError(`not an IPv4 address: ${String(ip)}`);
  }
  const bytes = [0x02n, 0x42n, v >> 24n, v >> 16n, v >> 8n, v].map((b) =>
    (b & 0xffn).toString(16).padStart(2, '0'),
  );
  return bytes.join(':');
}

/**
 * dockerd's IPv6 address for a default-bridge endpoint: the subnet's prefix
 * with the MAC's 48 bits at the end (fd00:9::/64 and 02:42:ac:11:00:02 →
 * fd00:9::242:ac11:2). Undefined when the subnet leaves fewer than 48 bits.
 */
export function ipv6FromMac(subnet: string, mac: string): string | undefined {
  const c = parseCidr(subnet);
  if (!c || c.family !== 6 || c.prefix > 80 || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac)) {
    return undefined;
  }
  return formatIp(6, c.first | BigInt('0x' + mac.split(':').join('')));
}

/**
 * A MAC address as Go's net.ParseMAC (dockerd's parser) reads one
 * (`02:42:ac:11:00:02`, `02-42-ac-11-00-02`, `0242.ac11.0002`), lower-case
 * with colons; undefined when it is none. Only the 6-byte form: an Ethernet
 * interface has no other.
 */
export function normaliseMac(text: string): string | undefined {
  let hex: string[] | undefined;
  if (/^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(text)) hex = text.split(/[:-]/);
  else if (/^([0-9a-f]{4}\.){2}[0-9a-f]{4}$/i.test(text)) {
    hex = text.replace(/\./g, '').match(/../g) ?? undefined;
  }
  return hex?.join(':').toLowerCase();
}

/**
 * Why an interface cannot take the MAC address `text` (undefined when it
 * can): dockerd's parse error, or what the kernel refuses at start (a
 * multicast or broadcast address, all zeros).
 */
export function macAddressError(text: string): string | undefined {
  const mac = normaliseMac(text);
  if (!mac) return `address ${text}: invalid MAC address`;
  const first = parseInt(mac.slice(0, 2), 16);
  if (first & 1 || mac === '00:00:00:00:00:00') {
    return `address ${text}: invalid MAC address (a multicast or all-zero address is no interface's)`;
  }
  return undefined;
}
