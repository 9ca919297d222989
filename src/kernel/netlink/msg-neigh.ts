/**
 * Neighbour messages (RTM_*NEIGH): static ARP/NDP entries, and bridge FDB
 * entries (family AF_BRIDGE), which is how a VXLAN device learns which
 * remote endpoint a MAC lives behind when learning is off.
 */
import { NlWriter, attrU32, parseAttrs, type NlMessage } from './codec.js';
import { formatIp, formatMac, parseIp, parseMac } from './addr.js';
import {
  AF_BRIDGE,
  AF_UNSPEC,
  NDA_DST,
  NDA_LLADDR,
  NDA_MASTER,
  NDA_VNI,
  NDMSG_LEN,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NTF_MASTER,
  NTF_SELF,
  NUD_NOARP,
  NUD_PERMANENT,
  NUD_REACHABLE,
  RTM_DELNEIGH,
  RTM_GETNEIGH,
  RTM_NEWNEIGH,
} from './constants.js';

/** A neighbour (ARP/NDP) entry to add or delete. */
export interface NeighbourRequest {
  /** Link index. */
  index: number;
  /** The neighbour's IP address. */
  ip: string;
  /** Its MAC (needed to add, ignored to delete). */
  mac?: string;
}

/** A bridge/VXLAN forwarding-database entry to add or delete. */
export interface FdbRequest {
  /** Index of the port (a VXLAN device, or a bridge port). */
  index: number;
  /** The MAC address (00:00:00:00:00:00 for the VXLAN flood list). */
  mac: string;
  /** VXLAN: the remote tunnel endpoint behind which `mac` lives. */
  dst?: string;
  /** VXLAN: the VNI, when it differs from the device's. */
  vni?: number;
  /** Entry in the bridge's table (NTF_MASTER) rather than the device's own (NTF_SELF, default). */
  master?: boolean;
  /**
   * A bridge's static entry for a port (NUD_NOARP|NUD_REACHABLE, `bridge fdb
   * add ... static`) instead of iproute2's default NUD_NOARP|NUD_PERMANENT,
   * which VXLAN requires and which a bridge reads as a local address.
   */
  static?: boolean;
}

/** A neighbour or FDB entry as the kernel reports it. */
export interface Neighbour {
  /** AF_INET, AF_INET6 or AF_BRIDGE. */
  family: number;
  /** Link index. */
  index: number;
  /** IP address (neighbours) or remote endpoint (VXLAN FDB). */
  ip?: string;
  /** Link-layer address. */
  mac?: string;
  /** NUD_* state bits. */
  state: number;
  /** NTF_* flags. */
  flags: number;
  /** For FDB entries, the bridge the port belongs to. */
  master?: number;
  /** VXLAN VNI, when the entry has one. */
  vni?: number;
}

function ndmsg(family: number, index: number, state: number, flags: number): Buffer {
  const b = Buffer.alloc(NDMSG_LEN);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt16LE(state, 8);
  b.writeUInt8(flags, 10);
  return b;
}

/** RTM_NEWNEIGH (permanent; `replace` to overwrite) or RTM_DELNEIGH of an IP neighbour. */
export function neighMsg(
  type: typeof RTM_NEWNEIGH | typeof RTM_DELNEIGH,
  n: NeighbourRequest,
  replace = false,
): Buffer {
  const ip = parseIp(n.ip);
  const add = type === RTM_NEWNEIGH;
  const w = new NlWriter(
    type,
    add ? NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL) : 0,
    ndmsg(ip.family, n.index, add ? NUD_PERMANENT : 0, 0),
  );
  w.attr(NDA_DST, ip.bytes);
  if (add) {
    if (!n.mac) throw new Error('neighbour: a MAC address is required to add');
    w.attr(NDA_LLADDR, parseMac(n.mac));
  }
  return w.finish();
}

/**
 * RTM_NEWNEIGH or RTM_DELNEIGH of an FDB entry. Adding with `append` keeps
 * other entries for the same MAC (several remotes in the flood list).
 */
export function fdbMsg(
  type: typeof RTM_NEWNEIGH | typeof RTM_DELNEIGH,
  f: FdbRequest,
  append = false,
): Buffer {
  const add = type === RTM_NEWNEIGH;
  const state = NUD_NOARP | (f.static ? NUD_REACHABLE : NUD_PERMANENT);
  const w = new NlWriter(
    type,
    add ? NLM_F_CREATE | (append ? NLM_F_APPEND : NLM_F_EXCL) : 0,
    ndmsg(AF_BRIDGE, f.index, state, f.master ? NTF_MASTER : NTF_SELF),
  );
  w.attr(NDA_LLADDR, parseMac(f.mac));
  if (f.dst !== undefined) w.attr(NDA_DST, parseIp(f.dst).bytes);
  if (f.vni !== undefined) w.u32(NDA_VNI, f.vni);
  return w.finish();
}

/** RTM_GETNEIGH dump: AF_INET/AF_INET6 neighbours, AF_BRIDGE for FDB, AF_UNSPEC for all. */
export function dumpNeighMsg(family = AF_UNSPEC): Buffer {
  return new NlWriter(RTM_GETNEIGH, 0, ndmsg(family, 0, 0, 0)).finish();
}

/** Decodes an RTM_NEWNEIGH record. */
export function decodeNeighbour(m: NlMessage): Neighbour {
  const p = m.payload;
  if (p.length < NDMSG_LEN) throw new Error('netlink: short ndmsg');
  const a = parseAttrs(p, NDMSG_LEN);
  const n: Neighbour = {
    family: p.readUInt8(0),
    index: p.readInt32LE(4),
    state: p.readUInt16LE(8),
    flags: p.readUInt8(10),
  };
  const dst = a.get(NDA_DST);
  if (dst && (dst.length === 4 || dst.length === 16)) n.ip = formatIp(dst);
  const ll = a.get(NDA_LLADDR);
  if (ll && ll.length > 0) n.mac = formatMac(ll);
  const master = attrU32(a.get(NDA_MASTER));
  if (master !== undefined) n.master = master;
  const vni = attrU32(a.get(NDA_VNI));
  if (vni !== undefined) n.vni = vni;
  return n;
}
