/**
 * The network controller: networks (records in the store), the drivers that
 * implement them, each container's sandbox (its network namespace) and its
 * endpoints. Endpoint state is written before the kernel is touched and
 * addresses are allocated in the same transaction as the endpoint record
 * (docs/decisions/0010-network-state-and-reconcile.md).
 */
import { BerthError, conflict, forbidden, invalid, messageOf, notFound } from '../common/errors.js';
import { PREDEFINED, parseNetworkCreate } from './create.js';
import type { KvStore, Op } from '../store/types.js';
import type { Logger } from '../daemon/log.js';
import type { Firewall, PortMapping } from '../kernel/firewall/index.js';
import { Rtnl, readSysctl, writeSysctl } from '../kernel/netlink/index.js';
import type { Conntrack } from '../kernel/netlink/conntrack.js';
import { BridgeDriver, bridgeName } from './drivers/bridge/index.js';
import { hostDriver } from './drivers/host/index.js';
import { nullDriver } from './drivers/null/index.js';
import { type Ipam, formatCidr, ipamErrors, macFromIPv4, parseCidr } from './ipam/index.js';
import type { DnsResolver } from './dns/index.js';
import type { Gateway, IpamConfig, NetworkDriver, NetworkRecord } from './types.js';
import { PortPublisher } from './ports/publisher.js';
import { LinkReaper } from './reaper.js';
import { Sandboxes } from './sandboxes.js';
import { Stopwatch } from '../common/stopwatch.js';
import {
  type EndpointRecord,
  type Joined,
  joinedView,
  newId,
  predefinedNetwork,
} from './records.js';
import type { PortRequest, PublishedPort } from './ports/spec.js';

const NETWORKS = 'networks/by-id/';
const NAMES = 'networks/names/';
const ENDPOINTS = 'endpoints/';

export interface ControllerOptions {
  kv: KvStore;
  execRoot: string;
  ipam: Ipam;
  /** rtnetlink in the daemon's namespace. */
  rtnl: Rtnl;
  /** Berth's nftables table in the daemon's namespace. */
  firewall: Firewall;
  /** Conntrack in the daemon's namespace (stale UDP flows of published ports are dropped). */
  conntrack?: Conntrack;
  /** Berth's DNS: listens on user bridges' gateways, answers their containers' names. */
  dns: DnsResolver;
  /** The default bridge's gateway/prefix (--bip); else the first free default pool. */
  bip?: string;
  log: Logger;
}

export class NetworkController {
  private byId = new Map<string, NetworkRecord>();
  private readonly drivers: Record<string, NetworkDriver>;
  /** Published ports: host port allocation, held sockets, DNAT map elements. */
  private readonly ports: PortPublisher;
  /** Running containers' namespaces: paths, interface names, sockets. */
  private readonly sandboxes: Sandboxes;
  /** Deletes links the drivers give up, when the daemon is idle. */
  private readonly reaper: LinkReaper;

  private constructor(
    private readonly o: ControllerOptions,
    /** MTU of bridges and veths: the uplink's unless a network sets its own. */
    private readonly mtu: number,
  ) {
    this.sandboxes = new Sandboxes(o.execRoot, (id) => this.storedIfNames(id));
    this.reaper = new LinkReaper(Rtnl.open(), (e) => o.log.warn(`deleting links: ${messageOf(e)}`));
    this.drivers = {
      bridge: new BridgeDriver(o.rtnl, mtu, o.firewall, this.reaper),
      host: hostDriver,
      null: nullDriver,
    };
    this.ports = new PortPublisher(o.firewall, ephemeralRange(), async (proto, port) => {
      await o.conntrack?.deleteByDestPort(proto, port);
    });
  }

  /**
   * Loads networks, creating the predefined bridge, host and none on first
   * start, gives the default bridge its subnet (172.17.0.0/16 from Docker's
   * pools) and makes every bridge exist in the kernel.
   */
  static async open(o: ControllerOptions): Promise<NetworkController> {
    const c = new NetworkController(o, await uplinkMtu(o.rtnl));
    // Links a killed daemon gave up but never deleted.
    await c.reaper.flush();
    for (const e of await o.kv.list(NETWORKS)) {
      const n = JSON.parse(e.value) as NetworkRecord;
      c.byId.set(n.Id, n);
    }
    for (const [name, driver] of [
      ['bridge', 'bridge'],
      ['host', 'host'],
      ['none', 'null'],
    ] as const) {
      if (![...c.byId.values()].some((n) => n.Name === name)) {
        const n = predefinedNetwork(name, driver);
        n.Options['com.docker.network.driver.mtu'] &&= String(c.mtu);
        await o.kv.put(NETWORKS + n.Id, JSON.stringify(n), { ifModRevision: 0 });
        c.byId.set(n.Id, n);
      }
    }
    await c.ensureDefaultBridgePool();
    // As Docker: the host forwards, and Berth's own chains decide what (ARCHITECTURE.md).
    writeSysctl('net.ipv4.ip_forward', 1);
    o.firewall.ensureBase();
    for (const n of c.byId.values()) {
      await c.driverFor(n.Driver).ensureNetwork(n, c.gateways(n.Id));
      const pool = o.ipam.pools(n.Id).find((p) => p.family === 4);
      if (pool && c.servesDns(n)) await o.dns.addListener(pool.gateway, n.Id);
    }
    return c;
  }

  private async ensureDefaultBridgePool(): Promise<void> {
    const bridge = this.get('bridge');
    const bip = this.o.bip ? parseCidr(this.o.bip) : undefined;
    const want = bip && {
      subnet: formatCidr(bip),
      gateway: this.o.bip!.split('/')[0]!,
    };
    const current = this.o.ipam.pools(bridge.Id)[0];
    if (current && (!want || (current.subnet === want.subnet && current.gateway === want.gateway)))
      return;
    if (current) {
      // --bip changed since the last start: move the default bridge (refused while containers use it).
      await this.o.ipam.transact(async (tx) => {
        await tx.releasePools(bridge.Id, { networkName: 'bridge' });
        return { value: undefined };
      });
      await this.o.rtnl.deleteLink(bridgeName(bridge)).catch(() => undefined);
    }
    const { value: pool } = await this.o.ipam.transact(async (tx) => {
      const p = await tx.allocatePool({
        network: bridge.Id,
        networkName: 'bridge',
        subnet: want?.subnet ?? this.o.ipam.pickDefaultSubnet(4),
        gateway: want?.gateway,
      });
      return { value: p };
    });
    bridge.IPAM.Config = [{ Subnet: pool.given, Gateway: pool.gateway }];
    await this.o.kv.put(NETWORKS + bridge.Id, JSON.stringify(bridge));
  }

  /** A network's gateways: the first subnet of each family. */
  private gateways(netId: string): Gateway[] {
    const out: Gateway[] = [];
    for (const family of [4, 6] as const) {
      const p = this.o.ipam.pools(netId).find((x) => x.family === family);
      if (p) out.push({ family, address: p.gateway, prefixLen: p.prefixLen });
    }
    return out;
  }

  /** Whether Berth's DNS serves a network: user-defined bridges (Docker: not the default bridge). */
  servesDns(net: NetworkRecord): boolean {
    return net.Driver === 'bridge' && net.Name !== 'bridge';
  }

  /** Makes an endpoint's names resolvable by the containers on its network. */
  private publishName(net: NetworkRecord, ep: EndpointRecord): void {
    if (!this.servesDns(net) || !ep.Name) return;
    this.o.dns.records.upsertEndpoint({
      containerId: ep.ContainerID,
      name: ep.Name,
      aliases: ep.Aliases,
      hostname: ep.Hostname,
      networkId: net.Id,
      networkName: net.Name,
      internal: net.Internal,
      ipv4: ep.IPv4,
      ipv6: ep.IPv6,
    });
  }

  /** Picks a driver by name. */
  driverFor(name: string): NetworkDriver {
    const d = this.drivers[name];
    if (!d) throw notFound(`plugin "${name}" not found`);
    return d;
  }

  /** All networks. */
  list(): NetworkRecord[] {
    return [...this.byId.values()];
  }

  /** Finds a network by full name, full ID or unique ID prefix (Docker's order). */
  find(ref: string): NetworkRecord | undefined {
    const all = this.list();
    return (
      all.find((n) => n.Name === ref) ??
      all.find((n) => n.Id === ref) ??
      (() => {
        const m = all.filter((n) => n.Id.startsWith(ref));
        return m.length === 1 ? m[0] : undefined;
      })()
    );
  }

  /** Like find, but 404 `network X not found`. */
  get(ref: string): NetworkRecord {
    const n = this.find(ref);
    if (!n) throw notFound(`network ${ref} not found`);
    return n;
  }

  /** The network a NetworkMode names ("default" is the bridge). */
  forMode(mode: string): NetworkRecord {
    return this.get(mode === 'default' || mode === '' ? 'bridge' : mode);
  }

  /** POST /networks/create: record, name and subnets in one transaction, then the bridge. */
  async createNetwork(body: unknown): Promise<{ Id: string; Warning: string }> {
    const req = parseNetworkCreate(
      body,
      (name) => !!this.find(name) && this.find(name)!.Name === name,
    );
    const net: NetworkRecord = {
      ...predefinedNetwork(req.Name, req.Driver),
      Internal: req.Internal,
      Attachable: req.Attachable,
      EnableIPv6: req.EnableIPv6,
      Options: req.Options,
      Labels: req.Labels,
    };
    net.IPAM = { Driver: req.IPAM.Driver, Options: req.IPAM.Options, Config: [] };
    const nameKey = NAMES + net.Name;
    const isV6 = (c: IpamConfig) => !!c.Subnet?.includes(':');
    const v6 = req.IPAM.Config.filter(isV6);
    if (v6.length && !req.EnableIPv6) {
      throw forbidden('non-IPv6 network cannot have IPv6 subnets, enable IPv6 with --ipv6');
    }
    if (req.EnableIPv6 && !v6.length) throw ipamErrors.noDefaultPool(6);
    // An IPv4 subnet is always there: from the pools unless given.
    const v4 = req.IPAM.Config.filter((c) => !isV6(c));
    if (req.Driver === 'bridge' && (v4.length > 1 || v6.length > 1)) {
      throw forbidden("bridge driver doesn't support multiple subnets");
    }
    const configs = [...(v4.length ? v4 : [{}]), ...v6];
    await this.o.ipam
      .transact(async (tx) => {
        const pools = [];
        for (const c of configs) {
          pools.push(
            await tx.allocatePool({
              network: net.Id,
              networkName: net.Name,
              subnet: c.Subnet,
              ipRange: c.IPRange,
              gateway: c.Gateway,
              auxAddresses: c.AuxiliaryAddresses,
            }),
          );
        }
        net.IPAM.Config = pools.map((p, i) => ({
          Subnet: p.given,
          ...(p.ipRange ? { IPRange: p.ipRange } : {}),
          ...(p.auto || configs[i]?.Gateway ? { Gateway: p.gateway } : {}),
          ...(Object.keys(p.auxAddresses).length ? { AuxiliaryAddresses: p.auxAddresses } : {}),
        }));
        return {
          value: undefined,
          compares: [{ key: nameKey, modRevision: 0 }],
          ops: [
            { type: 'put', key: nameKey, value: net.Id },
            { type: 'put', key: NETWORKS + net.Id, value: JSON.stringify(net) },
          ],
        };
      })
      .catch((e: unknown) => {
        if ((e as { code?: string }).code === 'CONFLICT' && /gave up/.test(messageOf(e))) {
          throw conflict(`network with name ${net.Name} already exists`);
        }
        throw e;
      });
    this.byId.set(net.Id, net);
    try {
      const pool = this.o.ipam.pools(net.Id).find((p) => p.family === 4);
      await this.driverFor(net.Driver).ensureNetwork(net, this.gateways(net.Id));
      if (pool && this.servesDns(net)) await this.o.dns.addListener(pool.gateway, net.Id);
    } catch (e) {
      await this.removeNetwork(net.Id).catch(() => undefined);
      throw e;
    }
    return { Id: net.Id, Warning: '' };
  }

  /** DELETE /networks/{id}: refused for predefined networks and while endpoints remain. */
  async removeNetwork(ref: string): Promise<void> {
    const net = this.get(ref);
    // Only the built-in networks carry these names: creating them is refused.
    if (PREDEFINED.includes(net.Name)) {
      throw forbidden(`${net.Name} is a pre-defined network and cannot be removed`);
    }
    const eps = await this.o.kv.list(`${ENDPOINTS}${net.Id}/`);
    if (eps.length) {
      throw forbidden(
        `error while removing network: network ${net.Name} id ${net.Id} has active endpoints`,
      );
    }
    const gateways = this.o.ipam.pools(net.Id).map((p) => p.gateway);
    await this.o.ipam.transact(async (tx) => {
      await tx.releasePools(net.Id, { networkName: net.Name });
      return {
        value: undefined,
        ops: [
          { type: 'delete', key: NETWORKS + net.Id },
          { type: 'delete', key: NAMES + net.Name },
        ],
      };
    });
    this.byId.delete(net.Id);
    for (const g of gateways) await this.o.dns.removeListener(g);
    await this.driverFor(net.Driver)
      .removeNetwork(net)
      .catch((e) => this.o.log.warn(`removing ${net.Name}'s kernel side: ${messageOf(e)}`));
  }

  /** Before the daemon exits: deletes the links given up so far. */
  async close(): Promise<void> {
    await this.reaper.flush();
  }

  /** Where a container's namespace file lives. */
  netnsPath(containerId: string): string {
    return this.sandboxes.path(containerId);
  }

  private epKey(netId: string, containerId: string): string {
    return `${ENDPOINTS}${netId}/${containerId}`;
  }

  /** Creates the container's namespace when its primary network needs one; returns its path. */
  createSandbox(containerId: string, mode: string): string | undefined {
    const driver = this.driverFor(this.forMode(mode).Driver);
    return driver.ownNamespace ? this.sandboxes.create(containerId) : undefined;
  }

  /**
   * Joins a container's sandbox to one network: the endpoint record and its
   * address in one transaction, then the kernel, then `ready` (in one
   * transaction with the caller's `commit` ops, e.g. its container record).
   * Returns the endpoint as inspect shows it. On failure nothing of it is
   * left behind.
   */
  async join(
    containerId: string,
    netnsPath: string | undefined,
    netRef: string,
    o: {
      defaultRoute: boolean;
      staticIPv4?: string;
      staticIPv6?: string;
      aliases?: string[];
      name?: string;
      hostname?: string;
      /** Ports to publish; they go through the container's first non-internal bridge endpoint. */
      ports?: PortRequest[];
      /** Store ops to commit together with the endpoint becoming ready. */
      commit?: (joined: Joined) => Op[];
    },
  ): Promise<Joined> {
    const net = this.forMode(netRef);
    const driver = this.driverFor(net.Driver);
    const pool = this.o.ipam.pools(net.Id).find((p) => p.family === 4);
    const pool6 = this.o.ipam.pools(net.Id).find((p) => p.family === 6);
    if (o.staticIPv6 && !pool6 && driver.addressed && net.Name !== 'bridge') {
      throw invalid(
        'user specified IP address is supported only when connecting to networks with user configured subnets',
      );
    }
    if (o.staticIPv6 && (!driver.addressed || net.Name === 'bridge')) {
      throw invalid('user specified IP address is supported on user defined networks only');
    }
    if (o.staticIPv4 && (!driver.addressed || net.Name === 'bridge')) {
      throw invalid('user specified IP address is supported on user defined networks only');
    }
    if (o.staticIPv4 && pool?.auto) {
      throw invalid(
        'user specified IP address is supported only when connecting to networks with user configured subnets',
      );
    }
    if (o.aliases?.length && (!driver.addressed || net.Name === 'bridge')) {
      throw invalid(
        'network-scoped alias is supported only for containers in user defined networks',
      );
    }
    const sw = new Stopwatch();
    const key = this.epKey(net.Id, containerId);
    if (await this.o.kv.get(key)) {
      throw forbidden(`endpoint with name ${containerId} already exists in network ${net.Name}`);
    }
    const ep: EndpointRecord = {
      Id: newId(),
      NetworkID: net.Id,
      ContainerID: containerId,
      IfName: await this.sandboxes.nextIfName(containerId),
      State: 'attaching',
      Name: o.name,
      Hostname: o.hostname,
      Aliases: o.aliases,
    };
    if (driver.addressed) {
      await this.o.ipam.transact((tx) => {
        const a = tx.allocateAddress({
          network: net.Id,
          networkName: net.Name,
          family: 4,
          owner: ep.Id,
          address: o.staticIPv4,
        });
        Object.assign(ep, {
          IPv4: a.address,
          PrefixLen: a.prefixLen,
          Gateway: a.gateway,
          Mac: macFromIPv4(a.address),
        });
        if (pool6) {
          const b = tx.allocateAddress({
            network: net.Id,
            networkName: net.Name,
            family: 6,
            owner: ep.Id,
            address: o.staticIPv6,
          });
          Object.assign(ep, { IPv6: b.address, PrefixLen6: b.prefixLen, Gateway6: b.gateway });
        }
        return {
          value: undefined,
          compares: [{ key, modRevision: 0 }],
          ops: [{ type: 'put', key, value: JSON.stringify(ep) }],
        };
      });
    } else {
      await this.o.kv.put(key, JSON.stringify(ep), { ifModRevision: 0 });
    }
    sw.lap('record');
    try {
      const publish =
        !!o.ports?.length &&
        net.Driver === 'bridge' &&
        !net.Internal &&
        this.ports.published(containerId).length === 0;
      if (publish) {
        ep.Ports = await this.ports.reserve(containerId, o.ports ?? [], !!ep.IPv6).catch((e) => {
          throw new BerthError(
            'INTERNAL',
            `driver failed programming external connectivity on endpoint ${o.name ?? containerId.slice(0, 12)} (${ep.Id}): ${messageOf(e)}`,
          );
        });
        // Recorded before any map element exists, so a crash leaks none.
        await this.o.kv.put(key, JSON.stringify(ep));
      }
      const info = await driver.join(net, this.sandboxes.view(containerId, netnsPath), {
        ifName: ep.IfName,
        ipv4: ep.IPv4,
        prefixLen: ep.PrefixLen,
        gateway: ep.Gateway,
        ipv6: ep.IPv6,
        prefixLen6: ep.PrefixLen6,
        gateway6: ep.Gateway6,
        mac: ep.Mac,
        defaultRoute: o.defaultRoute,
        hairpin: publish,
      });
      sw.lap('driver');
      ep.HostIf = info.hostIf;
      if (publish && ep.IPv4) await this.ports.activate(containerId, ep.IPv4, ep.IPv6);
      ep.State = 'ready';
      const joined = joinedView(net, ep, o, this.servesDns(net));
      await this.o.kv.txn(
        [],
        [{ type: 'put', key, value: JSON.stringify(ep) }, ...(o.commit?.(joined) ?? [])],
      );
      this.publishName(net, ep);
      sw.lap('ready');
      this.o.log.debug(`join ${containerId.slice(0, 12)} ${net.Name}: ${sw}`);
      return joined;
    } catch (e) {
      // Ports this attach reserved go even if its record never got to say so.
      if (ep.Ports) {
        await this.ports.release(containerId, {
          ports: ep.Ports,
          containerIp: ep.IPv4,
          containerIp6: ep.IPv6,
        });
      }
      await this.removeEndpoint(net, containerId, netnsPath).catch((err) =>
        this.o.log.error(`cleanup after failed attach: ${messageOf(err)}`),
      );
      throw e;
    }
  }

  /** The host ports a container publishes now (empty when none, or when it is not running). */
  publishedPorts(containerId: string): PublishedPort[] {
    return this.ports.published(containerId);
  }

  /** The interface names of the container's endpoints, as stored. */
  private async storedIfNames(containerId: string): Promise<string[]> {
    const names: string[] = [];
    for (const id of this.byId.keys()) {
      const e = await this.o.kv.get(this.epKey(id, containerId));
      if (e) names.push((JSON.parse(e.value) as EndpointRecord).IfName);
    }
    return names;
  }

  /**
   * Leaves one network: the record and its address go in one transaction
   * (with the caller's `commit` ops), then the kernel side.
   */
  async leave(containerId: string, netId: string, commit: Op[] = []): Promise<void> {
    const net = this.byId.get(netId);
    if (net) await this.removeEndpoint(net, containerId, this.netnsPath(containerId), commit);
    else if (commit.length) await this.o.kv.txn([], commit);
  }

  /**
   * Removes the sandbox and every endpoint of the container. Idempotent and
   * best-effort: continues past errors.
   */
  async teardown(containerId: string): Promise<void> {
    // Unbinding the namespace first lets the kernel destroy it with its veth
    // ends (no process is left in it): deleting each veth by request costs
    // the kernel 15-20 ms apiece, and the host end then goes with its peer.
    await this.sandboxes.delete(containerId);
    // Every network is checked, not only those the container's record lists:
    // a daemon killed between attaching and saving that record leaves an
    // endpoint the record does not name.
    for (const net of this.byId.values()) {
      await this.removeEndpoint(net, containerId, undefined).catch((e) =>
        this.o.log.warn(`teardown ${net.Name}: ${messageOf(e)}`),
      );
    }
  }

  /**
   * Removes one endpoint: its names and ports, then its record and address
   * in one transaction with `commit`, then its kernel side (`netnsPath`
   * undefined: the namespace is gone already). A daemon killed after the
   * transaction leaves a veth that no record names, which reconcile deletes.
   */
  private async removeEndpoint(
    net: NetworkRecord,
    containerId: string,
    netnsPath: string | undefined,
    commit: Op[] = [],
  ): Promise<void> {
    const key = this.epKey(net.Id, containerId);
    const entry = await this.o.kv.get(key);
    const ep = entry && (JSON.parse(entry.value) as EndpointRecord);
    if (!ep && !commit.length) return;
    if (ep) {
      this.o.dns.records.removeEndpoint(containerId, net.Id);
      if (ep.Ports?.length) {
        await this.ports.release(containerId, {
          ports: ep.Ports,
          containerIp: ep.IPv4,
          containerIp6: ep.IPv6,
        });
      }
    }
    await this.o.ipam.transact((tx) => {
      if (ep) tx.releaseAddresses({ network: net.Id, owner: ep.Id });
      const ops: Op[] = ep ? [{ type: 'delete', key }] : [];
      return { value: undefined, ops: [...ops, ...commit] };
    });
    if (!ep) return;
    await this.drivers[net.Driver]
      ?.leave(net, this.sandboxes.view(containerId, netnsPath), ep.HostIf, ep.IfName)
      .catch((e) => this.o.log.warn(`leave ${net.Name}: ${messageOf(e)}`));
  }

  /**
   * After a daemon start: every endpoint whose container does not run, or
   * that was caught half-way (not ready), is torn down and released; veths
   * on Berth's bridges that no endpoint names are deleted.
   */
  async reconcile(running: Set<string>): Promise<void> {
    const known = new Set<string>();
    for (const e of await this.o.kv.list(ENDPOINTS)) {
      const ep = JSON.parse(e.value) as EndpointRecord;
      const net = this.byId.get(ep.NetworkID);
      if (net && running.has(ep.ContainerID) && ep.State === 'ready') {
        if (ep.HostIf) known.add(ep.HostIf);
        this.publishName(net, ep);
        if (ep.Ports?.length && ep.IPv4) {
          await this.ports.adopt(ep.ContainerID, ep.Ports, { v4: ep.IPv4, v6: ep.IPv6 }, (m) =>
            this.o.log.warn(`published port not held: ${m}`),
          );
        }
        continue;
      }
      this.o.log.warn(`releasing stale endpoint ${ep.Id.slice(0, 12)} (${ep.State})`);
      if (net) {
        // A container that does not run has no namespace to reach into.
        const netnsPath = running.has(ep.ContainerID) ? this.netnsPath(ep.ContainerID) : undefined;
        await this.removeEndpoint(net, ep.ContainerID, netnsPath).catch((err) =>
          this.o.log.error(`reconcile: ${messageOf(err)}`),
        );
      } else {
        await this.o.kv.delete(e.key);
      }
    }
    for (const n of this.byId.values()) {
      if (n.Driver !== 'bridge') continue;
      const ports = await this.o.rtnl.listLinks({ master: bridgeName(n) }).catch(() => []);
      for (const l of ports) {
        if (l.name.startsWith('veth') && !known.has(l.name)) {
          this.o.log.warn(`deleting stray ${l.name} on ${bridgeName(n)}`);
          await this.o.rtnl.deleteLink(l.name).catch(() => undefined);
        }
      }
    }
    // Map elements no endpoint publishes: a daemon killed while releasing them.
    const want = new Set(this.ports.mappings().map(mappingKey));
    const stray = this.o.firewall.dump().ports.filter((m) => !want.has(mappingKey(m)));
    if (stray.length) this.o.firewall.removePortMapping(stray);
    // Bridges (and their nft elements) of networks the store no longer has:
    // a daemon killed between removing a network's record and its bridge.
    const ours = new Set(
      this.list()
        .filter((n) => n.Driver === 'bridge')
        .map(bridgeName),
    );
    for (const b of this.o.firewall.dump().bridges) {
      if (!ours.has(b.name)) this.o.firewall.removeBridge(b.name);
    }
    for (const l of await this.o.rtnl.listLinks({ kind: 'bridge' }).catch(() => [])) {
      // br-x…: a removed network's bridge that a killed daemon (of an
      // older version, or between its two requests) did not hand to the reaper.
      if (l.name.startsWith('br-') && !ours.has(l.name)) {
        this.o.log.warn(`deleting stray bridge ${l.name}`);
        await this.o.rtnl.deleteLink(l.name).catch(() => undefined);
      }
    }
  }
}

/** The host's ephemeral port range (ip_local_port_range), where `-p 80` and `-P` pick from. */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readSysctl('net.ipv4.ip_local_port_range').split(/\s+/).map(Number);
    if (lo && hi && lo <= hi) return [lo, hi];
  } catch {
    // unreadable: the kernel's default
  }
  return [32768, 60999];
}

/** A mapping's identity; "every address" is spelled several ways (the container's address gives the family). */
const mappingKey = (m: PortMapping): string => {
  const any = !m.hostIp || m.hostIp === '0.0.0.0' || m.hostIp === '::';
  return `${m.proto}/${any ? '*' : m.hostIp}/${m.hostPort}>${m.containerIp}:${m.containerPort}`;
};

/** The MTU of the interface holding the host's default route (1500 without one). */
async function uplinkMtu(rtnl: Rtnl): Promise<number> {
  try {
    const routes = await rtnl.listRoutes({ family: 4 });
    const def = routes.find((r) => !r.dst || r.dst === 'default' || r.dst.endsWith('/0'));
    if (def?.oif) return (await rtnl.getLink(def.oif))?.mtu ?? 1500;
  } catch {
    // no routes readable: keep the default
  }
  return 1500;
}
