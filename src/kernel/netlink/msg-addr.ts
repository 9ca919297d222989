/**
 * Address messages (RTM_*ADDR), IPv4 and IPv6: adding with the broadcast
 * address iproute2's `brd +` would compute, deleting, dumping, decoding.
 */
import { NlWriter, attrString, attrU32, parseAttrs, type NlMessage } from './codec.js';
import { broadcast4, formatIp, parsePrefix } from './addr.js';
import {
  AF_INET,
  AF_UNSPEC,
  IFADDRMSG_LEN,
  IFA_ADDRESS,
  IFA_BROADCAST,
  IFA_FLAGS,
  IFA_F_NODAD,
  IFA_LABEL,
  IFA_LOCAL,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_NEWADDR,
} from './constants.js';

/** An address as the kernel reports it. */
export interface Address {
  /** Index of the link it is on. */
  index: number;
  /** 4 or 6. */
  family: 4 | 6;
  /** The address, without prefix. */
  address: string;
  /** Prefix length. */
  prefixLength: number;
  /** `address/prefixLength`. */
  cidr: string;
  /** RT_SCOPE_* (0 universe, 253 link, 254 host). */
  scope: number;
  /** IFA_F_* flags (IFA_FLAGS when present, it has all 32 bits). */
  flags: number;
  /** IPv4 label (usually the link's name). */
  label?: string;
}

/** Options when adding an address. */
export interface AddAddressOptions {
  /** IPv6: skip duplicate address detection, so the address is usable at once. */
  nodad?: boolean;
  /** Replace an existing identical address instead of failing with EEXIST. */
  replace?: boolean;
}

function ifaddrmsg(family: number, prefixLength: number, flags: number, index: number): Buffer {
  const b = Buffer.alloc(IFADDRMSG_LEN);
  b.writeUInt8(family, 0);
  b.writeUInt8(prefixLength, 1);
  b.writeUInt8(flags & 0xff, 2);
  b.writeUInt32LE(index, 4);
  return b;
}

/** RTM_NEWADDR (add) or RTM_DELADDR (delete) of `cidr` on link `index`. */
export function addrMsg(
  type: typeof RTM_NEWADDR | typeof RTM_DELADDR,
  index: number,
  cidr: string,
  opts: AddAddressOptions = {},
): Buffer {
  const p = parsePrefix(cidr);
  const flags = opts.nodad ? IFA_F_NODAD : 0;
  const nl = type === RTM_NEWADDR ? NLM_F_CREATE | (opts.replace ? NLM_F_REPLACE : NLM_F_EXCL) : 0;
  const w = new NlWriter(type, nl, ifaddrmsg(p.family, p.length, flags, index));
  w.attr(IFA_LOCAL, p.bytes).attr(IFA_ADDRESS, p.bytes);
  if (type === RTM_NEWADDR && p.family === AF_INET && p.length < 31) {
    w.attr(IFA_BROADCAST, broadcast4(p));
  }
  return w.finish();
}

/** RTM_GETADDR dump; `family` AF_UNSPEC for both, `index` 0 for every link (filtered in the kernel). */
export function dumpAddrMsg(family = AF_UNSPEC, index = 0): Buffer {
  return new NlWriter(RTM_GETADDR, 0, ifaddrmsg(family, 0, 0, index)).finish();
}

/** Decodes an RTM_NEWADDR record. */
export function decodeAddress(m: NlMessage): Address {
  const p = m.payload;
  if (p.length < IFADDRMSG_LEN) throw new Error('netlink: short ifaddrmsg');
  const a = parseAttrs(p, IFADDRMSG_LEN);
  // IPv4 keeps the local address in IFA_LOCAL (IFA_ADDRESS is the peer on
  // point-to-point links); IPv6 sends only IFA_ADDRESS.
  const raw = a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS);
  const address = raw ? formatIp(raw) : '';
  const prefixLength = p.readUInt8(1);
  const out: Address = {
    index: p.readUInt32LE(4),
    family: p.readUInt8(0) === AF_INET ? 4 : 6,
    address,
    prefixLength,
    cidr: `${address}/${prefixLength}`,
    scope: p.readUInt8(3),
    flags: attrU32(a.get(IFA_FLAGS)) ?? p.readUInt8(2),
  };
  const label = attrString(a.get(IFA_LABEL));
  if (label) out.label = label;
  return out;
}
