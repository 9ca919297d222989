/**
 * The one IP address parser and formatter. Parsing follows Go's `net` package
 * (Docker 20.10 is built on it, so what it accepts is the reference): dotted
 * quads without leading zeros ("010" is octal to some parsers), IPv6 groups of
 * at most four hex digits, one `::`, an embedded IPv4 address only at the end,
 * no zone, no prefix. Formatting is the dotted quad or RFC 5952 (lower case, the
 * longest run of two or more zero groups as `::`, the first on a tie).
 *
 * The layers keep their own shapes on top of these bytes: IPAM counts with
 * bigints, netlink sends buffers with AF_ constants, the firewall prints text
 * into nft batches, the resolver packs A/AAAA records.
 */

/** 4 or 6. */
export type Family = 4 | 6;

/** An address: its family and 4 or 16 network-order bytes. */
export interface IpBytes {
  family: Family;
  bytes: Buffer;
}

/** The four bytes of a dotted quad, or undefined. A loop, not a regex: IPAM parses every stored key. */
function parseV4(s: string, from = 0): Buffer | undefined {
  const out = Buffer.alloc(4);
  let octet = 0;
  let digits = 0;
  let n = 0;
  for (let i = from; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || octet > 255 || n > 3) return undefined;
      out[n++] = octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return undefined;
      octet = octet * 10 + (c - 48);
      if (++digits > 3) return undefined;
    } else return undefined;
  }
  return n === 4 ? out : undefined;
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseV6(s: string): Buffer | undefined {
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string, last: boolean): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const fields = part.split(':');
    for (const [i, f] of fields.entries()) {
      if (last && i === fields.length - 1 && f.includes('.')) {
        const v4 = parseV4(f);
        if (!v4) return undefined;
        out.push(v4.readUInt16BE(0), v4.readUInt16BE(2));
      } else {
        if (!HEX_GROUP.test(f)) return undefined;
        out.push(parseInt(f, 16));
      }
    }
    return out;
  };
  const head = groupsOf(halves[0] ?? '', halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? '', true) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const out = Buffer.alloc(16);
  head.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  tail.forEach((g, i) => out.writeUInt16BE(g, (8 - tail.length + i) * 2));
  return out;
}

/** Parses an IPv4 or IPv6 address; undefined where Go's net.ParseIP returns nil. */
export function parseIp(s: string): IpBytes | undefined {
  if (typeof s !== 'string' || s.length > 45) return undefined;
  if (s.includes(':')) {
    const b = parseV6(s);
    return b && { family: 6, bytes: b };
  }
  const b = parseV4(s);
  return b && { family: 4, bytes: b };
}

/** How `formatIp` writes an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
export type MappedStyle = 'hex' | 'mixed' | 'ipv4';

/**
 * Text of 4 or 16 address bytes: the dotted quad, or RFC 5952. An IPv4-mapped
 * address is written as plain hex groups (`hex`, Go's text for a 16-byte
 * slice that is not mapped), `::ffff:1.2.3.4` (`mixed`, as nft and Node print
 * it), or as the IPv4 client it is (`ipv4`).
 */
export function formatIp(bytes: Uint8Array, mapped: MappedStyle = 'hex'): string {
  const b = bytes;
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) throw new TypeError(`not an IP address: ${b.length} bytes`);
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i] as number) << 8) | (b[i + 1] as number));
  if (mapped !== 'hex' && g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    const v4 = `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
    return mapped === 'ipv4' ? v4 : `::ffff:${v4}`;
  }
  let best = -1;
  let bestLen = 1; // a single zero group is not compressed (RFC 5952 4.2.2)
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** The address as an unsigned integer (32 or 128 bits). */
export function bytesToBigint(bytes: Uint8Array): bigint {
  if (bytes.length === 4) {
    return (
      BigInt(
        ((bytes[0] as number) << 24) |
          ((bytes[1] as number) << 16) |
          ((bytes[2] as number) << 8) |
          (bytes[3] as number),
      ) & 0xffffffffn
    );
  }
  let v = 0n;
  for (const x of bytes) v = (v << 8n) | BigInt(x);
  return v;
}

/** The 4 (family 4) or 16 bytes of an unsigned integer address. */
export function bigintToBytes(family: Family, v: bigint): Buffer {
  const n = family === 4 ? 4 : 16;
  const out = Buffer.alloc(n);
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}
