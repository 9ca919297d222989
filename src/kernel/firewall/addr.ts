/**
 * Strict IP address parsing for the firewall. Every address that ends
 * up in nftables command text is parsed to bytes here and printed back from
 * those bytes, so nothing a caller passes can smuggle nft syntax into a batch,
 * and kernel dumps and desired state compare equal whatever notation they use.
 */
import { invalid } from '../../common/errors.js';
import { formatIp as formatBytes, parseIp as parseBytes } from '../../common/ip.js';

/** A parsed address: 4 or 16 bytes. */
export interface IpAddr {
  /** 4 for IPv4, 6 for IPv6. */
  family: 4 | 6;
  /** Network-order bytes (4 or 16 of them). */
  bytes: Uint8Array;
}

/** Parses an IPv4 or IPv6 address (no zone, no prefix); undefined when it is not one. */
export function tryParseIp(s: string): IpAddr | undefined {
  return parseBytes(s);
}

/** Parses an IPv4 or IPv6 address or throws INVALID_ARGUMENT naming `what`. */
export function parseIp(s: string, what = 'address'): IpAddr {
  const a = typeof s === 'string' ? tryParseIp(s) : undefined;
  if (!a) throw invalid(`invalid ${what}: ${JSON.stringify(s)}`);
  return a;
}

/** Canonical text: dotted quad, or RFC 5952 for IPv6 (::ffff:1.2.3.4 as nft prints it). */
export function formatIp(a: IpAddr): string {
  return formatBytes(a.bytes, 'mixed');
}

/** True for 0.0.0.0 and :: (Docker's "all addresses"). */
export function isUnspecified(a: IpAddr): boolean {
  return a.bytes.every((x) => x === 0);
}
