/**
 * The rtnetlink API the network drivers use: links, addresses, routes,
 * neighbours and FDB entries in one namespace, over one socket. Every call
 * is one kernel exchange (two when a name must first be resolved to an
 * index) and rejects with a NetlinkError carrying the kernel's errno.
 *
 *   const rt = Rtnl.open({ netns: '/run/berth/netns/abc' });
 *   try { await rt.setLink('eth0', { up: true }); } finally { rt.close(); }
 *
 * Size: one small method per kernel request the drivers make; the encoding
 * lives in messages.ts and codec.ts, so this file is only the API.
 */
import { closeSync, openSync } from 'node:fs';
import { NetlinkSocket, type OpenOptions } from './socket.js';
import { isNotFound } from './errors.js';
import {
  AF_BRIDGE,
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  RTM_DELADDR,
  RTM_DELNEIGH,
  RTM_DELROUTE,
  RTM_NEWADDR,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RT_TABLE_MAIN,
} from './constants.js';
import {
  decodeLink,
  delGroupMsg,
  delLinkMsg,
  dumpLinksMsg,
  getLinkMsg,
  newBridgeMsg,
  newVethMsg,
  newVxlanMsg,
  setLinkMsg,
  bridgePortMsg,
  type Link,
  type LinkBase,
  type LinkChanges,
  type VxlanRequest,
} from './msg-link.js';
import {
  addrMsg,
  decodeAddress,
  dumpAddrMsg,
  type AddAddressOptions,
  type Address,
} from './msg-addr.js';
import { decodeRoute, dumpRouteMsg, routeMsg, type Route, type RouteRequest } from './msg-route.js';
import {
  decodeNeighbour,
  dumpNeighMsg,
  fdbMsg,
  neighMsg,
  type FdbRequest,
  type Neighbour,
} from './msg-neigh.js';

/**
 * One step of Rtnl.changeNeighbours: a neighbour or FDB entry added
 * (`replace`, `append` as addNeighbour and addFdb take them) or deleted, on
 * a link given by index.
 */
export type NeighbourChange =
  | { op: 'add-neighbour'; entry: NeighbourSpec & { link: number }; replace?: boolean }
  | { op: 'delete-neighbour'; entry: NeighbourSpec & { link: number } }
  | { op: 'add-fdb'; entry: FdbSpec & { link: number }; append?: boolean }
  | { op: 'delete-fdb'; entry: FdbSpec & { link: number } };

/**
 * Requests per datagram in changeNeighbours: each is processed inside the
 * one send(2), and all their acknowledgements wait in the socket's receive
 * buffer until read (about 1 KiB of buffer each, of the default 208 KiB:
 * one the kernel cannot queue is lost).
 */
const NEIGHBOURS_PER_DATAGRAM = 64;

/** A link named or numbered (index); names cost one extra lookup where an index is needed. */
export type LinkRef = string | number;

/** A bridge to create. */
export type BridgeSpec = LinkBase;

/** A veth pair to create. */
export interface VethSpec extends LinkBase {
  /** Bridge to enslave this end to, in the creating request. */
  master?: LinkRef;
  /** TX and RX queues of each end (the kernel's default: one per possible CPU). */
  queues?: number;
  /**
   * The other end; with `netns` it is created directly inside that
   * namespace. Bring it up from a socket there (the kernel refuses to in
   * the creating request).
   */
  peer: Omit<LinkBase, 'up'> & {
    /** Bind-mounted namespace file the peer is born in (IFLA_NET_NS_FD). */
    netns?: string;
    /** Or an open fd of that namespace, which the caller keeps (saves an open(2) per call). */
    nsFd?: number;
  };
}

/** A VXLAN device to create. */
export interface VxlanSpec extends Omit<VxlanRequest, 'dev' | 'master'> {
  /** Underlay device. */
  dev?: LinkRef;
  /** Bridge to enslave it to. */
  master?: LinkRef;
}

/** Changes to a link; `master: null` releases it from its bridge. */
export interface LinkUpdate extends Omit<LinkChanges, 'master' | 'nsFd'> {
  /** Bridge to enslave to, or null to release. */
  master?: LinkRef | null;
  /** Namespace file to move the link into (applied first; the rest then happens there). */
  netns?: string;
}

/** An address to put on a link (`nodad`: IPv6 usable at once, no duplicate detection). */
export interface LinkAddress {
  cidr: string;
  nodad?: boolean;
}

/** A route; `dev` may be a name. */
export interface RouteSpec extends Omit<RouteRequest, 'oif'> {
  /** Output link. */
  dev?: LinkRef;
}

/** A neighbour entry; `link` may be a name. */
export interface NeighbourSpec {
  /** The link the neighbour is on. */
  link: LinkRef;
  /** Its IP address. */
  ip: string;
  /** Its MAC address (needed to add). */
  mac?: string;
}

/** An FDB entry; `link` may be a name. */
export interface FdbSpec extends Omit<FdbRequest, 'index'> {
  /** The VXLAN device or bridge port. */
  link: LinkRef;
}

const familyOf = (v: 4 | 6 | undefined): number =>
  v === 4 ? AF_INET : v === 6 ? AF_INET6 : AF_UNSPEC;

const linkWhat = (ref: LinkRef): string => (typeof ref === 'number' ? `ifindex ${ref}` : ref);

/** rtnetlink operations on one namespace; calls on one instance run in order. */
export class Rtnl {
  private constructor(private readonly sock: NetlinkSocket) {}

  /** Opens a socket in the current namespace, or inside `opts.netns` (no thread stays there). */
  static open(opts: OpenOptions = {}): Rtnl {
    return new Rtnl(NetlinkSocket.open(opts));
  }

  /** Wraps an existing socket (tests give one with a scripted transport). */
  static over(sock: NetlinkSocket): Rtnl {
    return new Rtnl(sock);
  }

  /** Closes the socket after the calls already made. */
  close(): void {
    this.sock.close();
  }

  // --- links ---

  /** The link, or undefined when there is none by that name or index. */
  async getLink(ref: LinkRef): Promise<Link | undefined> {
    try {
      const [m] = await this.sock.request(getLinkMsg(ref), linkWhat(ref));
      return m && decodeLink(m);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** The index of a link; a number is returned as is. Rejects with ENODEV when missing. */
  async index(ref: LinkRef): Promise<number> {
    if (typeof ref === 'number') return ref;
    const [m] = await this.sock.request(getLinkMsg(ref), ref);
    if (!m) throw new Error(`netlink: no reply for link ${ref}`);
    return decodeLink(m).index;
  }

  /** All links; `master` keeps a bridge's ports, `kind` the links of one driver. */
  async listLinks(filter: { master?: LinkRef; kind?: string } = {}): Promise<Link[]> {
    const master = filter.master === undefined ? undefined : await this.index(filter.master);
    return (await this.sock.dump(dumpLinksMsg(master), 'links'))
      .map(decodeLink)
      .filter((l) => master === undefined || l.master === master)
      .filter((l) => filter.kind === undefined || l.kind === filter.kind);
  }

  /** Creates a bridge; EEXIST when a link has that name. */
  async createBridge(spec: BridgeSpec): Promise<void> {
    const { up, ipv6LinkLocal, ...rest } = spec;
    if (ipv6LinkLocal !== false) {
      await this.sock.request(newBridgeMsg(spec), spec.name);
      return;
    }
    await this.sock.request(newBridgeMsg(rest), spec.name);
    await this.noLinkLocal(spec.name, up);
  }

  /**
   * Sets IPv6 address generation to none on a new (down) link, then brings
   * it up if asked. A link without IPv6 at all (an MTU below 1280, IPv6
   * disabled) answers EAFNOSUPPORT: it gets no link-local address either.
   */
  private async noLinkLocal(name: string, up?: boolean): Promise<void> {
    try {
      await this.sock.request(setLinkMsg(name, { ipv6LinkLocal: false }), name);
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'EAFNOSUPPORT') throw e;
    }
    if (up) await this.sock.request(setLinkMsg(name, { up: true }), name);
  }

  /**
   * Creates a veth pair in one request: this end here (optionally enslaved
   * and up), the peer directly inside `peer.netns` when given.
   */
  async createVeth(spec: VethSpec): Promise<void> {
    const master = spec.master === undefined ? undefined : await this.index(spec.master);
    const opened =
      spec.peer.nsFd === undefined && spec.peer.netns !== undefined
        ? openSync(spec.peer.netns, 'r')
        : undefined;
    const nsFd = spec.peer.nsFd ?? opened;
    try {
      const { netns: _ns, ...peer } = spec.peer;
      const msg = newVethMsg({ ...spec, master, peer: { ...peer, nsFd } });
      await this.sock.request(msg, `${spec.name}/${spec.peer.name}`);
      // The peer is born down, so this end has no carrier and no IPv6
      // link-local address yet even if up: turned off now, it never gets one.
      if (spec.ipv6LinkLocal === false) {
        await this.noLinkLocal(spec.name).catch(async (e: unknown) => {
          await this.deleteLink(spec.name).catch(() => undefined); // all or nothing
          throw e;
        });
      }
    } finally {
      if (opened !== undefined) closeSync(opened);
    }
  }

  /**
   * Configures a link in one round trip: its MAC address, its addresses,
   * then up, then its routes, added or replaced (each on this link unless
   * it names another).
   */
  async configureLink(
    index: number,
    c: { mac?: string; addresses?: LinkAddress[]; up?: boolean; routes?: RouteSpec[] },
  ): Promise<void> {
    const parts: Array<{ msg: Buffer; what: string }> = [];
    if (c.mac) parts.push({ msg: setLinkMsg(index, { mac: c.mac }), what: linkWhat(index) });
    for (const a of c.addresses ?? []) {
      const msg = addrMsg(RTM_NEWADDR, index, a.cidr, { nodad: a.nodad });
      parts.push({ msg, what: `${a.cidr} ${linkWhat(index)}` });
    }
    if (c.up) parts.push({ msg: setLinkMsg(index, { up: true }), what: linkWhat(index) });
    for (const r of c.routes ?? []) {
      const req = await this.routeReq({ dev: index, ...r });
      parts.push({ msg: routeMsg(RTM_NEWROUTE, req, true), what: routeWhat(r) });
    }
    if (parts.length) await this.sock.requestAll(parts);
  }

  /** Creates a VXLAN device (learning off unless asked). */
  async createVxlan(spec: VxlanSpec): Promise<void> {
    const dev = spec.dev === undefined ? undefined : await this.index(spec.dev);
    const master = spec.master === undefined ? undefined : await this.index(spec.master);
    await this.sock.request(newVxlanMsg({ ...spec, dev, master }), spec.name);
  }

  /** Deletes a link (a veth's peer goes with it); ENODEV when missing. */
  async deleteLink(ref: LinkRef): Promise<void> {
    await this.sock.request(delLinkMsg(ref), linkWhat(ref));
  }

  /**
   * Deletes every link of a device group in one request: the kernel tears
   * them down together, paying its RCU grace periods once for all of them.
   */
  async deleteGroup(group: number): Promise<void> {
    await this.sock.request(delGroupMsg(group), `group ${group}`);
  }

  /** Applies the given changes in one request (a rename happens before bringing up). */
  async setLink(ref: LinkRef, update: LinkUpdate): Promise<void> {
    const { master, netns, ...changes } = update;
    const req: LinkChanges = changes;
    if (master !== undefined) req.master = master === null ? 0 : await this.index(master);
    // By name the kernel looks the link up itself, except for a rename.
    const target = changes.name === undefined ? ref : await this.index(ref);
    if (netns !== undefined) req.nsFd = openSync(netns, 'r');
    try {
      await this.sock.request(setLinkMsg(target, req), linkWhat(ref));
    } finally {
      if (req.nsFd !== undefined) closeSync(req.nsFd);
    }
  }

  /** Changes a bridge port's settings (the link must be enslaved to a bridge). */
  async setBridgePort(ref: LinkRef, opts: { hairpin: boolean }): Promise<void> {
    // By name or index: no lookup round trip.
    await this.sock.request(bridgePortMsg(ref, opts), linkWhat(ref));
  }

  // --- addresses ---

  /** Adds `cidr` (e.g. 172.17.0.2/16 or fd00::2/64) to a link; EEXIST when present. */
  async addAddress(link: LinkRef, cidr: string, opts: AddAddressOptions = {}): Promise<void> {
    const msg = addrMsg(RTM_NEWADDR, await this.index(link), cidr, opts);
    await this.sock.request(msg, `${cidr} ${linkWhat(link)}`);
  }

  /** Removes `cidr` from a link; EADDRNOTAVAIL when absent. */
  async deleteAddress(link: LinkRef, cidr: string): Promise<void> {
    const msg = addrMsg(RTM_DELADDR, await this.index(link), cidr);
    await this.sock.request(msg, `${cidr} ${linkWhat(link)}`);
  }

  /** Addresses, of one link and/or family if asked. */
  async listAddresses(filter: { link?: LinkRef; family?: 4 | 6 } = {}): Promise<Address[]> {
    const index = filter.link === undefined ? 0 : await this.index(filter.link);
    return (await this.sock.dump(dumpAddrMsg(familyOf(filter.family), index), 'addresses'))
      .map(decodeAddress)
      .filter((a) => index === 0 || a.index === index)
      .filter((a) => filter.family === undefined || a.family === filter.family);
  }

  // --- routes ---

  /** Adds a route (`replace` to create or overwrite); EEXIST when present. */
  async addRoute(spec: RouteSpec, opts: { replace?: boolean } = {}): Promise<void> {
    const msg = routeMsg(RTM_NEWROUTE, await this.routeReq(spec), opts.replace);
    await this.sock.request(msg, routeWhat(spec));
  }

  /** Deletes a route; ESRCH when there is no such route. */
  async deleteRoute(spec: RouteSpec): Promise<void> {
    await this.sock.request(routeMsg(RTM_DELROUTE, await this.routeReq(spec)), routeWhat(spec));
  }

  /** Routes of one table (main unless given; `all` for every table). */
  async listRoutes(filter: { family?: 4 | 6; table?: number | 'all' } = {}): Promise<Route[]> {
    const table = filter.table ?? RT_TABLE_MAIN;
    return (await this.sock.dump(dumpRouteMsg(familyOf(filter.family)), 'routes'))
      .map(decodeRoute)
      .filter((r) => table === 'all' || r.table === table)
      .filter((r) => filter.family === undefined || r.family === filter.family);
  }

  private async routeReq(spec: RouteSpec): Promise<RouteRequest> {
    const { dev, ...rest } = spec;
    return dev === undefined ? rest : { ...rest, oif: await this.index(dev) };
  }

  // --- neighbours and FDB ---

  /** Adds a permanent neighbour entry (`replace` to overwrite); EEXIST when present. */
  async addNeighbour(n: NeighbourSpec, opts: { replace?: boolean } = {}): Promise<void> {
    const req = { index: await this.index(n.link), ip: n.ip, ...(n.mac ? { mac: n.mac } : {}) };
    await this.sock.request(neighMsg(RTM_NEWNEIGH, req, opts.replace), neighWhat(n));
  }

  /** Deletes a neighbour entry; ENOENT when absent. */
  async deleteNeighbour(n: NeighbourSpec): Promise<void> {
    const req = { index: await this.index(n.link), ip: n.ip };
    await this.sock.request(neighMsg(RTM_DELNEIGH, req), neighWhat(n));
  }

  /** Neighbour entries (IPv4 and IPv6), of one link and/or family if asked. */
  async listNeighbours(filter: { link?: LinkRef; family?: 4 | 6 } = {}): Promise<Neighbour[]> {
    const index = filter.link === undefined ? 0 : await this.index(filter.link);
    const family = familyOf(filter.family);
    return (await this.sock.dump(dumpNeighMsg(family), 'neighbours'))
      .map(decodeNeighbour)
      .filter((n) => n.family === AF_INET || n.family === AF_INET6)
      .filter((n) => family === AF_UNSPEC || n.family === family)
      .filter((n) => index === 0 || n.index === index);
  }

  /** Adds an FDB entry (`append` keeps other remotes for the same MAC). */
  async addFdb(f: FdbSpec, opts: { append?: boolean } = {}): Promise<void> {
    const { link, ...rest } = f;
    const msg = fdbMsg(RTM_NEWNEIGH, { ...rest, index: await this.index(link) }, opts.append);
    await this.sock.request(msg, fdbWhat(f));
  }

  /** Deletes an FDB entry; ENOENT when absent. */
  async deleteFdb(f: FdbSpec): Promise<void> {
    const { link, ...rest } = f;
    const msg = fdbMsg(RTM_DELNEIGH, { ...rest, index: await this.index(link) });
    await this.sock.request(msg, fdbWhat(f));
  }

  /**
   * Neighbour and FDB entries added and deleted in order, many per datagram
   * (a VXLAN device's peers: thousands at a host's first join). A delete
   * of an entry that is not there is fine. Links are given by index.
   */
  async changeNeighbours(changes: NeighbourChange[]): Promise<void> {
    const parts = changes.map((c) => {
      switch (c.op) {
        case 'add-neighbour':
        case 'delete-neighbour': {
          const add = c.op === 'add-neighbour';
          const n = c.entry;
          const req = { index: n.link, ip: n.ip, ...(add && n.mac ? { mac: n.mac } : {}) };
          const msg = neighMsg(add ? RTM_NEWNEIGH : RTM_DELNEIGH, req, add && c.replace);
          return { msg, what: neighWhat(n) };
        }
        case 'add-fdb':
        case 'delete-fdb': {
          const add = c.op === 'add-fdb';
          const { link, ...rest } = c.entry;
          const msg = fdbMsg(
            add ? RTM_NEWNEIGH : RTM_DELNEIGH,
            { ...rest, index: link },
            add && c.append,
          );
          return { msg, what: fdbWhat(c.entry) };
        }
      }
    });
    // An entry to delete that is not there (ENOENT); a missing link (ENODEV) is an error.
    const absent = (e: unknown) => {
      const x = e as { code?: unknown; requestType?: unknown };
      return x.code === 'ENOENT' && x.requestType === RTM_DELNEIGH;
    };
    for (let i = 0; i < parts.length; i += NEIGHBOURS_PER_DATAGRAM) {
      await this.sock.requestAll(parts.slice(i, i + NEIGHBOURS_PER_DATAGRAM), absent);
    }
  }

  /** FDB entries, of one port if asked. */
  async listFdb(filter: { link?: LinkRef } = {}): Promise<Neighbour[]> {
    const index = filter.link === undefined ? 0 : await this.index(filter.link);
    return (await this.sock.dump(dumpNeighMsg(AF_BRIDGE), 'fdb'))
      .map(decodeNeighbour)
      .filter((n) => n.family === AF_BRIDGE && (index === 0 || n.index === index));
  }
}

function neighWhat(n: NeighbourSpec): string {
  return `${n.ip} ${linkWhat(n.link)}`;
}

function routeWhat(r: RouteSpec): string {
  const dev = r.dev === undefined ? '' : ` dev ${linkWhat(r.dev)}`;
  return `${r.dst ?? 'default'}${r.gateway ? ` via ${r.gateway}` : ''}${dev}`;
}

function fdbWhat(f: FdbSpec): string {
  return `${f.mac} ${linkWhat(f.link)}${f.dst ? ` dst ${f.dst}` : ''}`;
}

/** Opens a socket (here or in `netns`), runs `fn`, closes it. */
export async function withRtnl<T>(
  netns: string | undefined,
  fn: (rt: Rtnl) => Promise<T>,
): Promise<T> {
  const rt = Rtnl.open(netns === undefined ? {} : { netns });
  try {
    return await fn(rt);
  } finally {
    rt.close();
  }
}

/** Deletes a link, treating "already gone" as done (idempotent teardown); true if it deleted. */
export async function deleteLinkIfExists(rt: Rtnl, ref: LinkRef): Promise<boolean> {
  try {
    await rt.deleteLink(ref);
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}
