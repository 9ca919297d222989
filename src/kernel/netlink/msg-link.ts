/**
 * Link messages (RTM_*LINK): building the requests for bridges, veth pairs
 * (the peer born in another namespace), VXLAN devices, changes, deletion and
 * lookups, and decoding the kernel's link records. Pure: names are already
 * resolved to indexes and namespace files to fds by the caller (rtnl.ts).
 */
import { NlWriter, attrString, attrU32, attrU8, parseAttrs, type NlMessage } from './codec.js';
import { formatIp, formatMac, parseIp, parseMac } from './addr.js';
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  IFLA_AF_SPEC,
  IFLA_INET6_ADDR_GEN_MODE,
  IN6_ADDR_GEN_MODE_NONE,
  IFF_LOWER_UP,
  IFF_UP,
  IFINFOMSG_LEN,
  IFLA_ADDRESS,
  IFLA_EXT_MASK,
  IFLA_GROUP,
  IFLA_NUM_RX_QUEUES,
  IFLA_NUM_TX_QUEUES,
  IFLA_IFNAME,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_INFO_SLAVE_DATA,
  IFLA_INFO_SLAVE_KIND,
  IFLA_BRPORT_MODE,
  IFLA_LINK,
  IFLA_LINKINFO,
  IFLA_LINK_NETNSID,
  IFLA_MASTER,
  IFLA_MTU,
  IFLA_NET_NS_FD,
  IFLA_OPERSTATE,
  IFLA_VXLAN_ID,
  IFLA_VXLAN_LEARNING,
  IFLA_VXLAN_LINK,
  IFLA_VXLAN_LOCAL,
  IFLA_VXLAN_LOCAL6,
  IFLA_VXLAN_PORT,
  IFLA_VXLAN_PROXY,
  NLM_F_CREATE,
  NLM_F_EXCL,
  RTEXT_FILTER_SKIP_STATS,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWLINK,
  RTM_SETLINK,
  VETH_INFO_PEER,
} from './constants.js';

/** A link as the kernel reports it. */
export interface Link {
  /** Interface index (unique within its namespace). */
  index: number;
  /** Interface name. */
  name: string;
  /** Driver kind from IFLA_INFO_KIND: bridge, veth, vxlan, ... (absent for lo, physical NICs). */
  kind?: string;
  /** Raw IFF_* flags. */
  flags: number;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Carrier present (IFF_LOWER_UP). */
  lowerUp: boolean;
  /** MTU in bytes. */
  mtu?: number;
  /** Link-layer address, lowercase `aa:bb:..`. */
  mac?: string;
  /** Index of the bridge (or bond) this link is enslaved to. */
  master?: number;
  /** IFLA_LINK: the peer's index for veth, the lower device for vlan/vxlan. */
  parent?: number;
  /** IFLA_LINK_NETNSID: set when `parent` lives in another namespace. */
  parentNetnsId?: number;
  /** RFC 2863 operational state (IF_OPER_UP = 6, IF_OPER_DOWN = 2). */
  operstate?: number;
  /** Device group (0 unless set; `ip link ... group N`). */
  group?: number;
  /** A VXLAN device's settings (IFLA_INFO_DATA), when `kind` is vxlan. */
  vxlan?: { vni?: number; local?: string; port?: number };
}

/** Settings every created link accepts. */
export interface LinkBase {
  /** Interface name (at most 15 bytes). */
  name: string;
  /** MTU; the driver's default when absent. */
  mtu?: number;
  /** MAC address; random when absent. */
  mac?: string;
  /** Bring the link up in the same request. */
  up?: boolean;
  /**
   * false: no IPv6 link-local address (IN6_ADDR_GEN_MODE_NONE). The kernel's
   * IPv6 setup of a link (address, DAD, routes) is most of the cost of
   * creating a bridge or veth, and of deleting it again. The kernel takes
   * it only for an existing link, so Rtnl sets the mode right after
   * creating the link, before it can have a carrier.
   */
  ipv6LinkLocal?: boolean;
}

/** A veth pair; `peer.nsFd` makes the peer be born in that namespace. */
export interface VethRequest extends LinkBase {
  /** Index of a bridge to enslave this end to, in the same request. */
  master?: number;
  /**
   * TX and RX queues of each end (the kernel's default is one per possible
   * CPU, each a set of sysfs objects made and removed with the link).
   */
  queues?: number;
  /**
   * The other end. It cannot be brought up in this request: the kernel
   * opens it before the pair is linked and refuses (ENOTCONN).
   */
  peer: Omit<LinkBase, 'up'> & {
    /** An open fd of the namespace the peer is created in (IFLA_NET_NS_FD). */
    nsFd?: number;
  };
}

/** A VXLAN device (an overlay network's tunnel end). */
export interface VxlanRequest extends LinkBase {
  /** VXLAN network identifier (24 bits). */
  vni: number;
  /** Local tunnel endpoint address. */
  local?: string;
  /** UDP destination port (the kernel's default is 8472; IANA's is 4789). */
  port?: number;
  /** Index of the underlay device. */
  dev?: number;
  /** MAC learning from received packets; off unless asked (entries come from the control plane). */
  learning?: boolean;
  /** Answer ARP and neighbour solicitations from the device's neighbour table (no flooding). */
  proxy?: boolean;
  /** Index of a bridge to enslave it to. */
  master?: number;
}

/** Changes to an existing link; each present field is applied in one request. */
export interface LinkChanges {
  /** Administrative state. */
  up?: boolean;
  /** Bridge index to enslave to; 0 or null releases it. */
  master?: number | null;
  /** New MTU. */
  mtu?: number;
  /** New name (the kernel refuses to rename a link that is up: EBUSY). */
  name?: string;
  /** New MAC address. */
  mac?: string;
  /** An open fd of a namespace to move the link into (it goes down and loses its addresses). */
  nsFd?: number;
  /** false: no IPv6 link-local address from now on (IN6_ADDR_GEN_MODE_NONE). */
  ipv6LinkLocal?: false;
  /** Device group (several links can then be deleted in one request). */
  group?: number;
}

/** struct ifinfomsg. */
export function ifinfomsg(index = 0, flags = 0, change = 0, family = AF_UNSPEC): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags >>> 0, 8);
  b.writeUInt32LE(change >>> 0, 12);
  return b;
}

function upFlags(up: boolean | undefined): [number, number] {
  return up === undefined ? [0, 0] : [up ? IFF_UP : 0, IFF_UP];
}

function common(w: NlWriter, spec: LinkBase): void {
  w.str(IFLA_IFNAME, spec.name);
  if (spec.mtu !== undefined) w.u32(IFLA_MTU, spec.mtu);
  if (spec.mac !== undefined) w.attr(IFLA_ADDRESS, parseMac(spec.mac));
}

function newLink(spec: LinkBase, master: number | undefined): NlWriter {
  const w = new NlWriter(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifinfomsg(0, ...upFlags(spec.up)));
  common(w, spec);
  if (master !== undefined) w.u32(IFLA_MASTER, master);
  return w;
}

/** RTM_NEWLINK for a bridge. */
export function newBridgeMsg(spec: LinkBase): Buffer {
  return newLink(spec, undefined)
    .nest(IFLA_LINKINFO, (w) => w.str(IFLA_INFO_KIND, 'bridge'))
    .finish();
}

/**
 * RTM_NEWLINK for a veth pair in one request: this end created (and
 * enslaved, and brought up) where the socket is, the peer created directly
 * in `peer.nsFd`'s namespace, so it never appears in the daemon's.
 */
export function newVethMsg(spec: VethRequest): Buffer {
  const peer = spec.peer;
  const queues = (w: NlWriter): void => {
    if (spec.queues === undefined) return;
    w.u32(IFLA_NUM_TX_QUEUES, spec.queues);
    w.u32(IFLA_NUM_RX_QUEUES, spec.queues);
  };
  const main = newLink(spec, spec.master);
  queues(main);
  return main
    .nest(IFLA_LINKINFO, (w) => {
      w.str(IFLA_INFO_KIND, 'veth');
      w.nest(IFLA_INFO_DATA, (d) => {
        d.nest(VETH_INFO_PEER, (p) => {
          p.bytes(ifinfomsg());
          // The peer does not inherit this end's MTU; an MTU mismatch drops big frames.
          common(p, { ...peer, mtu: peer.mtu ?? spec.mtu });
          queues(p);
          if (peer.nsFd !== undefined) p.u32(IFLA_NET_NS_FD, peer.nsFd);
        });
      });
    })
    .finish();
}

/** RTM_NEWLINK for a VXLAN device. */
export function newVxlanMsg(spec: VxlanRequest): Buffer {
  return newLink(spec, spec.master)
    .nest(IFLA_LINKINFO, (w) => {
      w.str(IFLA_INFO_KIND, 'vxlan');
      w.nest(IFLA_INFO_DATA, (d) => {
        d.u32(IFLA_VXLAN_ID, spec.vni);
        if (spec.local !== undefined) {
          const ip = parseIp(spec.local);
          d.attr(ip.family === AF_INET ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, ip.bytes);
        }
        if (spec.dev !== undefined) d.u32(IFLA_VXLAN_LINK, spec.dev);
        if (spec.port !== undefined) d.be16(IFLA_VXLAN_PORT, spec.port);
        d.u8(IFLA_VXLAN_LEARNING, spec.learning ? 1 : 0);
        if (spec.proxy) d.u8(IFLA_VXLAN_PROXY, 1);
      });
    })
    .finish();
}

/** Identifies a link in a request: by index, or by IFLA_IFNAME with index 0. */
function byRef(type: number, flags: number, ref: string | number, fl = 0, change = 0): NlWriter {
  if (typeof ref === 'number') return new NlWriter(type, flags, ifinfomsg(ref, fl, change));
  return new NlWriter(type, flags, ifinfomsg(0, fl, change)).str(IFLA_IFNAME, ref);
}

/** RTM_DELLINK by index or name (deleting one veth end deletes the pair). */
export function delLinkMsg(ref: string | number): Buffer {
  return byRef(RTM_DELLINK, 0, ref).finish();
}

/** RTM_DELLINK of every link in a device group: one teardown in the kernel for all of them. */
export function delGroupMsg(group: number): Buffer {
  return new NlWriter(RTM_DELLINK, 0, ifinfomsg()).u32(IFLA_GROUP, group).finish();
}

/**
 * RTM_SETLINK applying `changes` to the link with this index, or this name
 * (looked up by the kernel; a rename needs the index).
 */
export function setLinkMsg(ref: number | string, changes: LinkChanges): Buffer {
  if (typeof ref === 'string' && changes.name !== undefined) {
    throw new Error(`netlink: renaming ${ref} needs its index`);
  }
  const w = byRef(RTM_SETLINK, 0, ref, ...upFlags(changes.up));
  if (changes.name !== undefined) w.str(IFLA_IFNAME, changes.name);
  if (changes.mtu !== undefined) w.u32(IFLA_MTU, changes.mtu);
  if (changes.mac !== undefined) w.attr(IFLA_ADDRESS, parseMac(changes.mac));
  if (changes.master !== undefined) w.u32(IFLA_MASTER, changes.master ?? 0);
  if (changes.nsFd !== undefined) w.u32(IFLA_NET_NS_FD, changes.nsFd);
  if (changes.group !== undefined) w.u32(IFLA_GROUP, changes.group);
  if (changes.ipv6LinkLocal === false) {
    w.nest(IFLA_AF_SPEC, (a) =>
      a.nest(AF_INET6, (v6) => v6.u8(IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE)),
    );
  }
  return w.finish();
}

/**
 * RTM_NEWLINK (no create) changing a bridge port's own settings: `hairpin`
 * lets a frame leave by the port it came in on (`bridge link set hairpin on`).
 */
export function bridgePortMsg(ref: string | number, opts: { hairpin: boolean }): Buffer {
  return byRef(RTM_NEWLINK, 0, ref)
    .nest(IFLA_LINKINFO, (w) => {
      w.str(IFLA_INFO_SLAVE_KIND, 'bridge');
      w.nest(IFLA_INFO_SLAVE_DATA, (d) => d.u8(IFLA_BRPORT_MODE, opts.hairpin ? 1 : 0));
    })
    .finish();
}

/** RTM_GETLINK for one link, statistics left out. */
export function getLinkMsg(ref: string | number): Buffer {
  return byRef(RTM_GETLINK, 0, ref).u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS).finish();
}

/** RTM_GETLINK dump of all links; with `master`, the kernel returns only its ports. */
export function dumpLinksMsg(master?: number): Buffer {
  const w = new NlWriter(RTM_GETLINK, 0, ifinfomsg()).u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  if (master !== undefined) w.u32(IFLA_MASTER, master);
  return w.finish();
}

/** Decodes an RTM_NEWLINK record. */
export function decodeLink(m: NlMessage): Link {
  const p = m.payload;
  if (p.length < IFINFOMSG_LEN) throw new Error('netlink: short ifinfomsg');
  const flags = p.readUInt32LE(8);
  const a = parseAttrs(p, IFINFOMSG_LEN);
  const link: Link = {
    index: p.readInt32LE(4),
    name: attrString(a.get(IFLA_IFNAME)) ?? '',
    flags,
    up: (flags & IFF_UP) !== 0,
    lowerUp: (flags & IFF_LOWER_UP) !== 0,
  };
  const info = a.get(IFLA_LINKINFO);
  const infoAttrs = info && parseAttrs(info);
  const kind = infoAttrs && attrString(infoAttrs.get(IFLA_INFO_KIND));
  if (kind) link.kind = kind;
  const data = infoAttrs?.get(IFLA_INFO_DATA);
  if (kind === 'vxlan' && data) link.vxlan = decodeVxlan(data);
  const mtu = attrU32(a.get(IFLA_MTU));
  if (mtu !== undefined) link.mtu = mtu;
  const mac = a.get(IFLA_ADDRESS);
  if (mac && mac.length > 0) link.mac = formatMac(mac);
  const master = attrU32(a.get(IFLA_MASTER));
  if (master) link.master = master;
  const parent = attrU32(a.get(IFLA_LINK));
  if (parent !== undefined && parent !== link.index) link.parent = parent;
  const nsid = a.get(IFLA_LINK_NETNSID);
  if (nsid && nsid.length >= 4) link.parentNetnsId = nsid.readInt32LE(0);
  const oper = attrU8(a.get(IFLA_OPERSTATE));
  if (oper !== undefined) link.operstate = oper;
  const group = attrU32(a.get(IFLA_GROUP));
  if (group) link.group = group;
  return link;
}

/** A VXLAN device's IFLA_INFO_DATA: its VNI, source address and UDP port. */
function decodeVxlan(data: Buffer): NonNullable<Link['vxlan']> {
  const d = parseAttrs(data);
  const out: NonNullable<Link['vxlan']> = {};
  const vni = attrU32(d.get(IFLA_VXLAN_ID));
  if (vni !== undefined) out.vni = vni;
  const local = d.get(IFLA_VXLAN_LOCAL) ?? d.get(IFLA_VXLAN_LOCAL6);
  if (local && (local.length === 4 || local.length === 16)) out.local = formatIp(local);
  const port = d.get(IFLA_VXLAN_PORT);
  if (port && port.length >= 2) out.port = port.readUInt16BE(0);
  return out;
}
