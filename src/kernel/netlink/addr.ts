/**
 * IP and MAC address text ⇄ the bytes netlink carries. Strict: anything the
 * kernel would misread (an IPv4 octet of 256, a MAC with 5 bytes) throws
 * here, with the offending text, before a request is sent.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { AF_INET, AF_INET6 } from './constants.js';

/** An address in bytes, with its family. */
export interface IpBytes {
  /** AF_INET or AF_INET6. */
  family: number;
  /** 4 or 16 bytes, network order. */
  bytes: Buffer;
}

/** An address with its prefix length (a CIDR like 10.0.0.2/24 or fd00::2/64). */
export interface Prefix extends IpBytes {
  /** Prefix length in bits. */
  length: number;
}

/** Parses an IPv4 or IPv6 address (no prefix). */
export function parseIp(text: string): IpBytes {
  if (isIPv4(text)) return { family: AF_INET, bytes: Buffer.from(text.split('.').map(Number)) };
  if (isIPv6(text)) return { family: AF_INET6, bytes: ipv6Bytes(text) };
  throw new Error(`invalid IP address: ${JSON.stringify(text)}`);
}

function ipv6Bytes(text: string): Buffer {
  const out = Buffer.alloc(16);
  let groups = text.split(':');
  // An embedded IPv4 tail (::ffff:1.2.3.4) stands for the last two groups.
  const last = groups[groups.length - 1] ?? '';
  if (last.includes('.')) {
    const v4 = last.split('.').map(Number);
    groups = [
      ...groups.slice(0, -1),
      (((v4[0] ?? 0) << 8) | (v4[1] ?? 0)).toString(16),
      (((v4[2] ?? 0) << 8) | (v4[3] ?? 0)).toString(16),
    ];
  }
  const gap = text.indexOf('::');
  let head = groups;
  let tail: string[] = [];
  if (gap >= 0) {
    const [h, t] = groups.join(':').split('::') as [string, string];
    head = h ? h.split(':') : [];
    tail = t ? t.split(':') : [];
  }
  head.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  tail.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 16 - (tail.length - i) * 2));
  return out;
}

/** Parses `address/length`; the address keeps its host bits (10.0.0.2/24 stays .2). */
export function parsePrefix(text: string): Prefix {
  const slash = text.indexOf('/');
  if (slash < 0) throw new Error(`invalid CIDR (no /length): ${JSON.stringify(text)}`);
  const ip = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  const length = Number(lenText);
  const max = ip.bytes.length * 8;
  if (!/^\d{1,3}$/.test(lenText) || length > max) {
    throw new Error(`invalid prefix length in ${JSON.stringify(text)}`);
  }
  return { ...ip, length };
}

/** Formats 4 or 16 bytes as an address (IPv6 compressed, as Node and iproute2 print it). */
export function formatIp(bytes: Buffer): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw new Error(`not an IP address: ${bytes.length} bytes`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  // RFC 5952: compress the longest run (≥ 2) of zero groups, the first one on ties.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** The IPv4 broadcast address of a prefix (all host bits set). */
export function broadcast4(p: Prefix): Buffer {
  const ip = p.bytes.readUInt32BE(0);
  const hostMask = p.length === 0 ? 0xffffffff : (1 << (32 - p.length)) - 1;
  const out = Buffer.alloc(4);
  out.writeUInt32BE((ip | hostMask) >>> 0);
  return out;
}

/** Parses a MAC address (six hex pairs separated by `:` or `-`). */
export function parseMac(text: string): Buffer {
  if (!/^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i.test(text)) {
    throw new Error(`invalid MAC address: ${JSON.stringify(text)}`);
  }
  return Buffer.from(text.replace(/[:-]/g, ''), 'hex');
}

/** Formats link-layer bytes as lowercase hex pairs joined by `:`. */
export function formatMac(bytes: Buffer): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}
