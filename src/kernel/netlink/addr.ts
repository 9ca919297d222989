/**
 * IP and MAC address text ⇄ the bytes netlink carries. Strict: anything the
 * kernel would misread (an IPv4 octet of 256, a MAC with 5 bytes) throws
 * here, with the offending text, before a request is sent.
 */
import { formatIp as formatBytes, parseIp as parseBytes } from '../../common/ip.js';
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
  const a = parseBytes(text);
  if (!a) throw new Error(`invalid IP address: ${JSON.stringify(text)}`);
  return { family: a.family === 4 ? AF_INET : AF_INET6, bytes: a.bytes };
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

/** Formats 4 or 16 bytes as an address (IPv6 compressed, as iproute2 prints it). */
export function formatIp(bytes: Buffer): string {
  return formatBytes(bytes);
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
