/**
 * The resolver's record table: which names each network answers, and which
 * networks each client (a container, found by its source address) may see.
 * Updates are synchronous map edits, so a name is answerable the moment
 * `upsertEndpoint` returns and gone when `removeEndpoint` returns. Lookups
 * are a few map reads and return precomputed record bytes.
 */
import { invalid } from '../../common/errors.js';
import { canonicalIp, ipv4Bytes, ipv6Bytes } from './ip.js';
import { TYPE_A, TYPE_AAAA, addressRecords, ptrRecord } from './wire.js';

/** One container's attachment to one user-defined network, as the daemon knows it. */
export interface DnsEndpoint {
  /** Container ID; its first 12 characters are answered as a name too (Docker's short ID). */
  containerId: string;
  /** Container name (a leading '/' is ignored). */
  name: string;
  /** Network aliases on this network (`--network-alias`, `connect --alias`). */
  aliases?: readonly string[];
  /** The container's hostname, answered as one more name. */
  hostname?: string;
  /** Network ID. */
  networkId: string;
  /** Network name, for `name.network` and PTR answers. */
  networkName: string;
  /** `--internal` network: a client only on internal networks gets nothing forwarded upstream. */
  internal?: boolean;
  /** The endpoint's IPv4 address, if any. */
  ipv4?: string;
  /** The endpoint's IPv6 address, if any. */
  ipv6?: string;
  /**
   * `--link target:alias` on this network: `alias` answers as `target` does
   * there, for this container only (Docker's links on user networks).
   */
  links?: ReadonlyArray<{ target: string; alias: string }>;
  /**
   * Another host's endpoint (a global network's, from the cluster store):
   * it answers to its names, but never asks (no query comes from it here),
   * and never takes the place of this host's own endpoints.
   */
  remote?: boolean;
}

/** Precomputed records for one name on one network: every endpoint answering to it. */
export class NameSet {
  /** Endpoints answering to the name, in registration order. */
  readonly eps: Ep[] = [];
  /** aRecords(), once built. */
  private cachedA: Buffer | undefined;
  /** aaaaRecords(), once built. */
  private cachedAaaa: Buffer | undefined;
  /** A records (16 bytes each) for every endpoint with IPv4, built on first use. */
  aRecords(): Buffer {
    return (this.cachedA ??= addressRecords(
      this.eps.flatMap((e) => (e.v4b ? [e.v4b] : [])),
      TYPE_A,
    ));
  }
  /** AAAA records (28 bytes each) for every endpoint with IPv6, built on first use. */
  aaaaRecords(): Buffer {
    return (this.cachedAaaa ??= addressRecords(
      this.eps.flatMap((e) => (e.v6b ? [e.v6b] : [])),
      TYPE_AAAA,
    ));
  }
  /** Drops the precomputed records after a change. */
  invalidate(): void {
    this.cachedA = this.cachedAaaa = undefined;
  }
}

/** One network's names and addresses. */
class NetIndex {
  readonly names = new Map<string, NameSet>();
  readonly byIp = new Map<string, Ep>();
  endpoints = 0;
  lname: string;
  constructor(
    readonly id: string,
    public name: string,
    public internal: boolean,
  ) {
    this.lname = name.toLowerCase();
  }
}

/** A registered endpoint with its derived keys. */
export class Ep {
  /** Lower-case names this endpoint answers to on its network (deduplicated). */
  readonly names: string[];
  /** Canonical IPv4 text. */
  readonly v4: string | undefined;
  /** Canonical IPv6 text. */
  readonly v6: string | undefined;
  /** IPv4 bytes for A records. */
  readonly v4b: Buffer | undefined;
  /** IPv6 bytes for AAAA records. */
  readonly v6b: Buffer | undefined;
  /** Link aliases → the names they stand for (lower-case); undefined without links. */
  readonly links: Map<string, string> | undefined;
  private ptr: Buffer | undefined;
  constructor(
    /** The record as the daemon gave it. */
    readonly rec: DnsEndpoint,
    /** The network's index. */
    readonly net: NetIndex,
  ) {
    const name = rec.name.replace(/^\//, '');
    const all = [name, ...(rec.aliases ?? []), rec.hostname ?? ''];
    if (rec.containerId.length >= 12) all.push(rec.containerId.slice(0, 12));
    this.names = [...new Set(all.map((n) => n.toLowerCase().replace(/\.$/, '')))].filter(
      (n) => n !== '',
    );
    this.v4 = rec.ipv4 ? canonicalIp(rec.ipv4) : undefined;
    this.v6 = rec.ipv6 ? canonicalIp(rec.ipv6) : undefined;
    this.v4b = this.v4 ? ipv4Bytes(this.v4) : undefined;
    this.v6b = this.v6 ? ipv6Bytes(this.v6) : undefined;
    const key = (n: string) => n.toLowerCase().replace(/^\//, '');
    this.links = rec.links?.length
      ? new Map(rec.links.map((l) => [key(l.alias), key(l.target)]))
      : undefined;
  }
  /** The PTR record for this endpoint's addresses: `name.network`, as Docker answers. */
  ptrRecord(): Buffer {
    return (this.ptr ??= ptrRecord(`${this.rec.name.replace(/^\//, '')}.${this.net.name}`));
  }
}

/** A client: one container and the networks it may see, in attach order. */
export class Scope {
  /** Endpoints by network ID; insertion order is attach order. */
  readonly eps = new Map<string, Ep>();
  /** The same endpoints as a list (rebuilt on change). */
  list: Ep[] = [];
  /** The networks the client is on, in attach order (rebuilt on change). */
  nets: NetIndex[] = [];
  /** Whether any of its networks is not internal (so names may be forwarded). */
  external = false;
  constructor(
    /** Container ID. */
    readonly containerId: string,
  ) {}
  /** Recomputes `nets` and `external` after the endpoints changed. */
  rebuild(): void {
    this.list = [...this.eps.values()];
    this.nets = this.list.map((e) => e.net);
    this.external = this.nets.some((n) => !n.internal);
  }
}

/** The table the daemon keeps current and the resolver reads. */
export class DnsRecords {
  private readonly nets = new Map<string, NetIndex>();
  private readonly scopes = new Map<string, Scope>();
  private readonly clients = new Map<string, Ep[]>();

  /**
   * Adds or replaces a container's endpoint on a network; effective
   * immediately. False (and nothing changed) for another host's endpoint
   * whose container ID is one of this host's containers; this host's own
   * endpoint takes the place of another host's under its ID.
   */
  upsertEndpoint(rec: DnsEndpoint): boolean {
    if (!rec.containerId || !rec.networkId)
      throw invalid('dns: containerId and networkId required');
    if (rec.ipv4 !== undefined && !ipv4Bytes(rec.ipv4))
      throw invalid(`dns: invalid IPv4 address ${rec.ipv4}`);
    if (rec.ipv6 !== undefined && !ipv6Bytes(rec.ipv6))
      throw invalid(`dns: invalid IPv6 address ${rec.ipv6}`);
    const known = this.scopes.get(rec.containerId);
    const own = known && [...known.eps.values()].filter((e) => !e.rec.remote);
    if (rec.remote && own?.length) return false;
    if (!rec.remote && known && own?.length !== known.eps.size) {
      for (const [netId, e] of known.eps) {
        if (!e.rec.remote) continue;
        this.unindex(e);
        known.eps.delete(netId);
      }
    }
    const scope = known ?? new Scope(rec.containerId);
    this.scopes.set(rec.containerId, scope);
    const old = scope.eps.get(rec.networkId);
    if (old) this.unindex(old);
    let net = this.nets.get(rec.networkId);
    if (!net) {
      net = new NetIndex(rec.networkId, rec.networkName, rec.internal === true);
      this.nets.set(rec.networkId, net);
    }
    net.name = rec.networkName;
    net.lname = rec.networkName.toLowerCase();
    const internalChanged = net.internal !== (rec.internal === true);
    net.internal = rec.internal === true;
    const ep = new Ep({ ...rec, aliases: [...(rec.aliases ?? [])] }, net);
    scope.eps.set(rec.networkId, ep);
    this.index(ep);
    scope.rebuild();
    // Only a change of the network's internal flag alters other clients' scopes.
    if (internalChanged) for (const s of this.scopes.values()) if (s.eps.has(net.id)) s.rebuild();
    return true;
  }

  /**
   * Removes a container's endpoint on a network; false when there was none
   * (with `remote`: when there was no other host's endpoint).
   */
  removeEndpoint(containerId: string, networkId: string, remote = false): boolean {
    const scope = this.scopes.get(containerId);
    const ep = scope?.eps.get(networkId);
    if (!scope || !ep || (remote && !ep.rec.remote)) return false;
    this.unindex(ep);
    scope.eps.delete(networkId);
    if (scope.eps.size === 0) this.scopes.delete(containerId);
    else scope.rebuild();
    return true;
  }

  /** Removes every endpoint of a container; returns how many there were. */
  removeContainer(containerId: string): number {
    const scope = this.scopes.get(containerId);
    if (!scope) return 0;
    const ids = [...scope.eps.keys()];
    for (const id of ids) this.removeEndpoint(containerId, id);
    return ids.length;
  }

  /** Every registered endpoint (for debugging and tests). */
  endpoints(): DnsEndpoint[] {
    return [...this.scopes.values()].flatMap((s) => [...s.eps.values()].map((e) => e.rec));
  }

  /**
   * The client behind a source address. Addresses are unique per host, but
   * should two endpoints share one the network owning the address the query
   * came in on decides. Undefined: not a container on a user network.
   */
  client(sourceIp: string, listenerNetworkId?: string): Scope | undefined {
    const eps = this.clients.get(sourceIp);
    if (!eps) return undefined;
    let ep = eps[0];
    if (eps.length > 1 && listenerNetworkId !== undefined)
      ep = eps.find((e) => e.net.id === listenerNetworkId) ?? ep;
    return ep ? this.scopes.get(ep.rec.containerId) : undefined;
  }

  /**
   * The names answering `name` (lower-case, no trailing dot) for a client, as
   * Docker's sandbox resolves them: the whole name on each of the client's
   * networks in attach order (a link alias of the client's endpoint there
   * standing for its target), then `a.b.c` as `a.b` on a network named `c`,
   * `a` on `b.c`, and so on. The first network with the name wins.
   */
  resolve(scope: Scope, name: string): NameSet | undefined {
    const eps = scope.list;
    for (let k = 0; k < eps.length; k++) {
      const ep = eps[k] as Ep;
      const s = ep.net.names.get(ep.links?.get(name) ?? name);
      if (s) return s;
    }
    const nets = scope.nets;
    for (let i = name.lastIndexOf('.'); i > 0; i = name.lastIndexOf('.', i - 1)) {
      const suffixLen = name.length - i - 1;
      for (let k = 0; k < nets.length; k++) {
        const net = nets[k] as NetIndex;
        if (net.lname.length !== suffixLen || !name.endsWith(net.lname)) continue;
        const s = net.names.get(name.slice(0, i));
        if (s) return s;
      }
    }
    return undefined;
  }

  /** The endpoint holding `ip` on one of the client's networks, for PTR. */
  resolveAddress(scope: Scope, ip: string): Ep | undefined {
    for (const net of scope.nets) {
      const ep = net.byIp.get(ip);
      if (ep) return ep;
    }
    return undefined;
  }

  private index(ep: Ep): void {
    const net = ep.net;
    net.endpoints++;
    for (const n of ep.names) {
      let set = net.names.get(n);
      if (!set) net.names.set(n, (set = new NameSet()));
      set.eps.push(ep);
      set.invalidate();
    }
    for (const ip of [ep.v4, ep.v6]) {
      if (ip === undefined) continue;
      if (ep.rec.remote) {
        // Answered by address only where no endpoint of this host has it.
        if (!net.byIp.has(ip)) net.byIp.set(ip, ep);
        continue;
      }
      net.byIp.set(ip, ep);
      const list = this.clients.get(ip);
      if (list) list.push(ep);
      else this.clients.set(ip, [ep]);
    }
  }

  private unindex(ep: Ep): void {
    const net = ep.net;
    for (const n of ep.names) {
      const set = net.names.get(n);
      if (!set) continue;
      const i = set.eps.indexOf(ep);
      if (i >= 0) set.eps.splice(i, 1);
      if (set.eps.length === 0) net.names.delete(n);
      else set.invalidate();
    }
    for (const ip of [ep.v4, ep.v6]) {
      if (ip === undefined) continue;
      if (net.byIp.get(ip) === ep) net.byIp.delete(ip);
      const list = this.clients.get(ip);
      const i = list ? list.indexOf(ep) : -1;
      if (list && i >= 0) list.splice(i, 1);
      if (list && list.length === 0) this.clients.delete(ip);
    }
    if (--net.endpoints === 0) this.nets.delete(net.id);
  }
}
