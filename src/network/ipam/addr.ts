/**
 * Address arithmetic for IPv4 and IPv6. Parsing follows Go's `net` package
 * (Docker 20.10 is built on it, so what it accepts is the reference: no
 * leading zeros in IPv4 octets, no zones, at most four hex digits a group).
 * Addresses are bigints so one code path serves both families and a /64's
 * host part fits without loss.
 */

/** 4 or 6. */
export type Family = 4 | 6;

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

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseV4(s: string): bigint | undefined {
  // A hand-rolled loop: this runs for every address key when the store is loaded.
  let v = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || octet > 255) return undefined;
      v = v * 256 + octet;
      if (++dots > 4) return undefined;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      // Go refuses leading zeros ("01"): they once meant octal.
      if (digits === 1 && octet === 0) return undefined;
      octet = octet * 10 + (c - 48);
      if (++digits > 3) return undefined;
    } else return undefined;
  }
  return dots === 4 ? BigInt(v) : undefined;
}

function parseV6(s: string): bigint | undefined {
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string, last: boolean): bigint[] | undefined => {
    if (part === '') return [];
    const out: bigint[] = [];
    const fields = part.split(':');
    for (const [i, f] of fields.entries()) {
      // An embedded IPv4 address may only end the address ("::ffff:10.0.0.1").
      if (last && i === fields.length - 1 && f.includes('.')) {
        const v4 = parseV4(f);
        if (v4 === undefined) return undefined;
        out.push(v4 >> 16n, v4 & 0xffffn);
      } else {
        if (!HEX_GROUP.test(f)) return undefined;
        out.push(BigInt(parseInt(f, 16)));
      }
    }
    return out;
  };
  const head = groupsOf(halves[0] ?? '', halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? '', true) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<bigint>(halves.length === 2 ? missing : 0).fill(0n), ...tail];
  return groups.reduce((acc, g) => (acc << 16n) | g, 0n);
}

/** Parses an IPv4 or IPv6 address; undefined when Go's net.ParseIP would return nil. */
export function parseIp(s: string): Ip | undefined {
  if (s.includes(':')) {
    const v = parseV6(s);
    return v === undefined ? undefined : { family: 6, value: v };
  }
  const v = parseV4(s);
  return v === undefined ? undefined : { family: 4, value: v };
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
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
  }
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  // The longest run of two or more zero groups becomes "::" (the first on a tie).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
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
