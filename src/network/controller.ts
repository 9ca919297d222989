/**
 * The network controller: networks (records in the store, with their subnets
 * allocated in the same transaction) and the drivers that implement them.
 * Containers' sandboxes and endpoints on these networks are `endpoints`
 * (endpoints.ts; docs/decisions/0010-network-state-and-reconcile.md); the
 * overlay side of a cluster is `OverlayPlane` (overlay-plane.ts).
 *
 * Size: network create, remove, reconcile and the default bridge from the
 * daemon's flags share the records, IPAM and the bridge-name claims kept
 * here; the default bridge's start-up part is the next to move out.
 */
import {
  BerthError,
  conflict,
  forbidden,
  hasCode,
  invalid,
  messageOf,
  notFound,
} from '../common/errors.js';
import { type NetworkCreate, parseNetworkCreate } from './create.js';
import type { KvStore } from '../store/types.js';
import type { Logger } from '../common/log.js';
import type { ControlEndpoint, Firewall, FirewallState } from '../kernel/firewall/index.js';
import { holdPort } from '../kernel/ports/reserve.js';
import { Rtnl, readSysctl, writeSysctl } from '../kernel/netlink/index.js';
import type { Conntrack } from '../kernel/netlink/conntrack.js';
import { isNetns } from '../kernel/netns/netns.js';
import {
  BridgeDriver,
  bridgeCreated,
  bridgeName,
  bridgeSpec,
  notABridge,
} from './drivers/bridge/index.js';
import { FirewallGuard } from './firewall-guard.js';
import { hostDriver } from './drivers/host/index.js';
import { nullDriver } from './drivers/null/index.js';
import { OverlayDriver, gatewayOf } from './drivers/overlay/index.js';
import { OverlayPlane } from './overlay-plane.js';
import {
  type Cidr,
  type Ipam,
  type PoolInfo,
  cidrContains,
  cidrOverlaps,
  formatCidr,
  formatIp,
  ipamErrors,
  parseCidr,
} from './ipam/index.js';
import type {
  GlobalScope,
  PeerConvergence,
  BerthNetworkState,
  Gateway,
  IpamConfig,
  NetworkDriver,
  NetworkRecord,
} from './types.js';
import { ENDPOINTS, Endpoints, type NetworkDns } from './endpoints.js';
import { takeSnapshots, type KernelSnapshot, type StoreSnapshot } from './graph/index.js';
import { DOOMED_GROUP, LinkReaper } from './reaper.js';
import { PREDEFINED, newNetworkRecord } from './records.js';
import { GWBRIDGE, GWBRIDGE_CREATE } from './gwbridge.js';

const NETWORKS = 'networks/by-id/';
const NAMES = 'networks/names/';
/**
 * A removed network whose kernel side is not undone yet: written with the
 * removal, deleted once the driver is done; a daemon killed between the two
 * finishes it at the next start (only what the record says Berth did).
 */
const REMOVING = 'networks/removing/';

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
  dns: NetworkDns;
  /** The default bridge's gateway/prefix (--bip); else the first free default pool. */
  bip?: string;
  /** MTU of the default bridge and of networks without their own (--mtu); else the uplink's. */
  mtu?: number;
  /** The default bridge from the daemon's flags (--icc, --ip-masq, --ip, --fixed-cidr, --ipv6). */
  defaultBridge?: {
    icc: boolean;
    ipMasq: boolean;
    ip?: string;
    fixedCidr?: string;
    ipv6?: boolean;
    fixedCidrV6?: string;
  };
  log: Logger;
  /** With --cluster-store: global-scope networks and this host's VXLAN source address. */
  global?: {
    /** Global-scope networks and their endpoints, through the cluster store. */
    scope: GlobalScope;
    /** This host's VXLAN source address (its advertise address). */
    vtep: string;
    /** Reports what this host programmed; joins wait for the other hosts' (decision 0023). */
    convergence?: PeerConvergence;
    /** The cluster's registered hosts (the network graph draws them). */
    hosts?: () => Promise<Array<{ address: string; name: string }>>;
  };
  /** The kernel work the controller does itself (default: the kernel's; tests pass fakes). */
  kernel?: ControllerKernel;
}

/**
 * Seam: what the controller and its endpoints do to the daemon's own
 * namespace besides `rtnl`, `firewall` and `conntrack`, which are passed in
 * already: make the drivers (the bridge driver makes links), open the
 * reaper's socket (it deletes Berth's device group at start and stop), set
 * ip_forward at start, and hold published ports with bound sockets. These
 * were called directly, so the controller could not be tested without root,
 * and a test run would have changed the machine's own namespace. The daemon
 * leaves it out and gets `KERNEL`; test/unit/network-controller.test.ts
 * passes fakes (a fake driver, a reaper socket that deletes nothing).
 */
export interface ControllerKernel {
  /** The drivers by name; what the bridge driver needs is in `deps`. */
  drivers(deps: DriverDeps): Record<string, NetworkDriver>;
  /** A rtnetlink socket of its own in the daemon's namespace (the reaper's). */
  openRtnl(): Rtnl;
  /** Writes a sysctl of the daemon's namespace. */
  writeSysctl(key: string, value: number): void;
  /** Holds a published host port with a bound socket (kernel/ports). */
  holdPort: typeof holdPort;
}

/** What the controller gives the drivers it makes. */
export interface DriverDeps {
  /** rtnetlink in the daemon's namespace. */
  rtnl: Rtnl;
  /** MTU of bridges and veths without their own option. */
  mtu: number;
  /** Berth's firewall table (the controller's guard around it). */
  firewall: Firewall;
  /** Deletes the links drivers give up, when the daemon is idle. */
  reaper: LinkReaper;
  /** Where namespaces the drivers own live (`<exec-root>/netns`). */
  execRoot: string;
  /** In a cluster: this host's VXLAN source address (the overlay driver exists then). */
  vtep?: string;
}

/** The drivers Berth has: one line each. */
export const DRIVERS = (deps: DriverDeps): Record<string, NetworkDriver> => ({
  bridge: new BridgeDriver(deps.rtnl, deps.mtu, deps.firewall, deps.reaper),
  host: hostDriver,
  null: nullDriver,
  ...(deps.vtep
    ? { overlay: new OverlayDriver(deps.rtnl, deps.execRoot, deps.vtep, deps.mtu, deps.reaper) }
    : {}),
});

/** The kernel's: what the daemon runs with. */
export const KERNEL: ControllerKernel = {
  drivers: DRIVERS,
  openRtnl: () => Rtnl.open(),
  writeSysctl: (key, value) => writeSysctl(key, value),
  holdPort,
};

export class NetworkController {
  private byId = new Map<string, NetworkRecord>();
  private readonly drivers: Record<string, NetworkDriver>;
  /** Containers' sandboxes and their endpoints on these networks. */
  readonly endpoints: Endpoints;
  /** Deletes links the drivers give up, when the daemon is idle. */
  private readonly reaper: LinkReaper;
  /** The firewall, restored from this state when another program deletes or edits it. */
  private readonly firewall: FirewallGuard;
  /** The cluster's control plane on other hosts, kept from containers (decision 0040). */
  private control: ControlEndpoint[] = [];
  /** Networks being created, by bridge name: two creates never share a bridge. */
  private readonly creating = new Map<string, NetworkRecord>();
  /** The gateway bridge being made, when it is. */
  private gwbridgeMaking: Promise<NetworkRecord> | undefined;

  /** Networks' records, their names and subnets' keys (IPAM's) live here. */
  private readonly kv: KvStore;
  /** Subnets and addresses, allocated in the store transactions of the records. */
  private readonly ipam: Ipam;
  /** rtnetlink in the daemon's namespace (bridges the user made, the default bridge's). */
  private readonly rtnl: Rtnl;
  /** Berth's DNS: a listener on each user bridge's gateway. */
  private readonly dns: NetworkDns;
  private readonly log: Logger;
  /** --bip: the default bridge's gateway/prefix. */
  private readonly bip?: string;
  /** The default bridge as the daemon's flags set it (--icc, --ip-masq, --ip, --fixed-cidr, --ipv6). */
  private readonly defaultBridge: ControllerOptions['defaultBridge'];
  /** Global-scope networks (--cluster-store); their endpoints go through it too. */
  readonly global?: GlobalScope;
  /** This host's side of the overlay networks: peers, names (with --cluster-store). */
  private readonly plane?: OverlayPlane;
  /** The kernel work done here rather than through rtnl or the firewall. */
  private readonly kernel: ControllerKernel;
  /** This host's side of a cluster, as the daemon gave it (the network graph reads it). */
  private readonly cluster: ControllerOptions['global'];

  private constructor(
    options: ControllerOptions,
    /** MTU of bridges and veths: the uplink's unless a network sets its own. */
    private readonly mtu: number,
  ) {
    this.kv = options.kv;
    this.ipam = options.ipam;
    this.rtnl = options.rtnl;
    this.dns = options.dns;
    this.log = options.log;
    this.bip = options.bip;
    this.defaultBridge = options.defaultBridge;
    this.global = options.global?.scope;
    this.cluster = options.global;
    this.kernel = options.kernel ?? KERNEL;
    this.firewall = new FirewallGuard(options.firewall, () => this.firewallState(), options.log);
    this.endpoints = new Endpoints(
      { ...options, firewall: this.firewall, holdPort: this.kernel.holdPort },
      this,
    );
    this.reaper = new LinkReaper(this.kernel.openRtnl(), (e) =>
      options.log.warn(`deleting links: ${messageOf(e)}`),
    );
    this.drivers = this.kernel.drivers({
      rtnl: options.rtnl,
      mtu,
      firewall: this.firewall,
      reaper: this.reaper,
      execRoot: options.execRoot,
      vtep: options.global?.vtep,
    });
    if (options.global) {
      this.plane = new OverlayPlane({
        global: options.global.scope,
        convergence: options.global.convergence,
        dns: this.dns,
        log: this.log,
        network: (id) => this.network(id),
        driver: (name) => this.drivers[name],
        overlay: () => this.overlay(),
        vtep: options.global.vtep,
      });
    }
  }

  /**
   * Loads networks, creating the predefined bridge, host and none on first
   * start, gives the default bridge its subnet (172.17.0.0/16 from Docker's
   * pools) and makes every bridge exist in the kernel.
   */
  static async open(options: ControllerOptions): Promise<NetworkController> {
    const controller = new NetworkController(
      options,
      options.mtu ?? (await uplinkMtu(options.rtnl)),
    );
    // Links a killed daemon gave up but never deleted.
    await controller.reaper.flush();
    for (const e of await options.kv.list(NETWORKS)) {
      const n = JSON.parse(e.value) as NetworkRecord;
      controller.byId.set(n.Id, n);
    }
    for (const [name, driver] of [
      ['bridge', 'bridge'],
      ['host', 'host'],
      ['none', 'null'],
    ] as const) {
      if (![...controller.byId.values()].some((n) => n.Name === name)) {
        const n = newNetworkRecord(name, driver);
        await options.kv.put(NETWORKS + n.Id, JSON.stringify(n), { ifModRevision: 0 });
        controller.byId.set(n.Id, n);
      }
    }
    await controller.ensureDefaultBridgePool();
    await controller.applyDaemonFlags();
    // As Docker: the host forwards, and Berth's own chains decide what (decision 0007).
    controller.kernel.writeSysctl('net.ipv4.ip_forward', 1);
    controller.firewall.ensureBase();
    for (const n of controller.byId.values()) {
      try {
        await controller.adoptedGone(n);
        await controller.driverFor(n.Driver).ensureNetwork(n, controller.gateways(n.Id));
      } catch (e) {
        // One user network's kernel side (a link of the user's in the way)
        // does not keep the daemon and the other networks from starting.
        if (PREDEFINED.includes(n.Name)) throw e;
        options.log.error(`network ${n.Name}: ${messageOf(e)}`);
        continue;
      }
      const pool = options.ipam.pools(n.Id).find((p) => p.family === 4);
      if (pool && controller.servesDns(n)) await options.dns.addListener(pool.gateway, n.Id);
    }
    return controller;
  }

  /**
   * The default bridge's subnets: the one it has, unless --bip asks for
   * another; --fixed-cidr as its range; with --ipv6 the --fixed-cidr-v6
   * subnet. Changed flags move it at the next start (refused while
   * containers use it, as every pool release is).
   */
  private async ensureDefaultBridgePool(): Promise<void> {
    const bridge = this.get('bridge');
    const f = this.defaultBridge;
    const bip = this.bip ? parseCidr(this.bip) : undefined;
    const current = this.ipam.pools(bridge.Id);
    const v4 = current.find((p) => p.family === 4);
    const v6 = current.find((p) => p.family === 6);
    const gateway = bip ? this.bip!.split('/')[0]! : undefined;
    const wantV6 = f?.ipv6 ? f.fixedCidrV6 : undefined;
    const same =
      v4 &&
      (!bip || (v4.subnet === formatCidr(bip) && v4.gateway === gateway)) &&
      v4.ipRange === f?.fixedCidr &&
      (wantV6 === undefined ? !v6 : v6?.given === wantV6);
    if (same) return;
    // Without --bip the bridge keeps its subnet and gateway (as docker0 its address).
    const keep = v4 && !bip ? { subnet: v4.given, gateway: v4.gateway } : undefined;
    const subnet = bip ? formatCidr(bip) : (keep?.subnet ?? this.ipam.pickDefaultSubnet(4));
    const range = f?.fixedCidr ? parseCidr(f.fixedCidr) : undefined;
    const net = subnet === undefined ? undefined : parseCidr(subnet);
    const inside = (n: Cidr, r: Cidr) =>
      r.prefix >= n.prefix && cidrContains(n, { family: 4, value: r.first });
    // Checked before anything is released: a refused start changes nothing.
    if (range && net && !inside(net, range)) {
      throw invalid(
        `--fixed-cidr ${f!.fixedCidr} is not inside the default bridge's subnet ${subnet}`,
      );
    }
    // A new subnet overlapping another network's would fail once the old
    // pools are gone: refused first, with IPAM's message.
    const others = this.list()
      .filter((n) => n.Id !== bridge.Id)
      .flatMap((n) => this.ipam.pools(n.Id))
      .map((p) => parseCidr(p.subnet)!);
    for (const want of [bip ? net : undefined, wantV6 ? parseCidr(wantV6) : undefined]) {
      if (want && others.some((o) => cidrOverlaps(o, want))) throw ipamErrors.poolOverlap();
    }
    if (current.length) {
      await this.ipam.transact(async (tx) => {
        await tx.releasePools(bridge.Id, { networkName: 'bridge' });
        return { value: undefined };
      });
      // Made again with the new addresses by ensureNetwork.
      await this.rtnl.deleteLink(bridgeName(bridge)).catch(() => undefined);
    }
    const { value: pools } = await this.ipam.transact(async (tx) => {
      const made = [
        await tx.allocatePool({
          network: bridge.Id,
          networkName: 'bridge',
          subnet,
          ipRange: f?.fixedCidr,
          // As dockerd 20.10 when no address is given: the range's first address.
          gateway: gateway ?? keep?.gateway ?? (range ? formatIp(4, range.first) : undefined),
        }),
      ];
      if (wantV6) {
        made.push(
          await tx.allocatePool({ network: bridge.Id, networkName: 'bridge', subnet: wantV6 }),
        );
      }
      return { value: made };
    });
    bridge.EnableIPv6 = !!wantV6;
    // IPv4 with its gateway (as dockerd shows it once docker0 has its address);
    // the IPv6 subnet without one, as dockerd 20.10.
    bridge.IPAM.Config = pools.map((p) =>
      p.family === 4
        ? { Subnet: p.given, ...(p.ipRange ? { IPRange: p.ipRange } : {}), Gateway: p.gateway }
        : { Subnet: p.given },
    );
    await this.kv.put(NETWORKS + bridge.Id, JSON.stringify(bridge));
  }

  /**
   * The default bridge's options follow the daemon's flags, as dockerd's
   * (inspect shows them): changed flags change the record at the next start.
   */
  private async applyDaemonFlags(): Promise<void> {
    const bridge = this.get('bridge');
    const f = this.defaultBridge;
    const Options = {
      ...bridge.Options,
      'com.docker.network.bridge.enable_icc': String(f?.icc ?? true),
      'com.docker.network.bridge.enable_ip_masquerade': String(f?.ipMasq ?? true),
      'com.docker.network.bridge.host_binding_ipv4': f?.ip ?? '0.0.0.0',
      'com.docker.network.driver.mtu': String(this.mtu),
    };
    if (Object.entries(Options).every(([k, v]) => bridge.Options[k] === v)) return;
    bridge.Options = Options;
    await this.kv.put(NETWORKS + bridge.Id, JSON.stringify(bridge));
  }

  /** A network's gateways: the first subnet of each family. */
  private gateways(netId: string): Gateway[] {
    const out: Gateway[] = [];
    for (const family of [4, 6] as const) {
      const p = this.ipam.pools(netId).find((x) => x.family === family);
      if (p) out.push({ family, address: p.gateway, prefixLen: p.prefixLen });
    }
    return out;
  }

  /**
   * A network on a bridge the user made, which is gone at this start: Berth
   * makes the bridge now (as dockerd makes a missing one), so it is Berth's.
   */
  private async adoptedGone(n: NetworkRecord): Promise<void> {
    if (n.Driver !== 'bridge' || bridgeCreated(n)) return;
    if (await this.rtnl.getLink(bridgeName(n))) return;
    n.berth = { bridgeCreated: true };
    await this.kv.put(NETWORKS + n.Id, JSON.stringify(n));
  }

  /**
   * What a new network's bridge name finds (decision 0017): another
   * network's bridge, or a link that is not a bridge, is refused; a bridge
   * the user made is used, and what Berth will add to it is remembered so
   * that network rm takes off only that. Berth makes the bridge otherwise.
   */
  /** Refuses a bridge name another network has or is being created with; claims it. */
  private claimBridge(net: NetworkRecord): string {
    const name = bridgeName(net);
    const other =
      this.list().find((n) => n.Driver === 'bridge' && bridgeName(n) === name) ??
      this.creating.get(name);
    if (other) {
      throw forbidden(
        `cannot create network ${net.Id} (${name}): conflicts with network ${other.Id} (${name}): networks have same bridge name`,
      );
    }
    this.creating.set(name, net);
    return name;
  }

  private async bridgeFor(net: NetworkRecord): Promise<{
    own: BerthNetworkState;
    existing?: Set<string>;
  }> {
    const name = bridgeName(net);
    // Berth's own names (br-<12 hex> of a new ID) are nobody else's.
    if (!net.Options['com.docker.network.bridge.name']) return { own: { bridgeCreated: true } };
    const link = await this.rtnl.getLink(name);
    if (!link) return { own: { bridgeCreated: true } };
    if (link.kind !== 'bridge') throw forbidden(notABridge(name));
    if (link.group === DOOMED_GROUP) {
      throw forbidden(`bridge ${name} is a removed network's, being deleted: choose another name`);
    }
    const addrs = await this.rtnl.listAddresses({ link: link.index });
    const localnet = readSysctl(`net/ipv4/conf/${name}/route_localnet`);
    return {
      own: { bridgeCreated: false, ...(localnet === '0' ? { setRouteLocalnet: true } : {}) },
      existing: new Set(addrs.map((a) => canonCidr(a.cidr))),
    };
  }

  /**
   * Whether Berth's DNS serves a network: user-defined bridges (Docker: not
   * the default bridge) and overlays; not the gateway bridge, whose
   * containers' names are their overlays'.
   */
  servesDns(net: NetworkRecord): boolean {
    if (net.Name === 'bridge' || net.Name === GWBRIDGE) return false;
    return net.Driver === 'bridge' || net.Driver === 'overlay';
  }

  /**
   * The gateway bridge (gwbridge.ts), made at its first use: the one a user
   * made under its name, else Berth's with Docker's options and the next
   * free local pool. Two containers starting at once make one.
   */
  gatewayBridge(): Promise<NetworkRecord> {
    const have = this.find(GWBRIDGE);
    if (have?.Name === GWBRIDGE) return Promise.resolve(have);
    this.gwbridgeMaking ??= this.createNetwork(GWBRIDGE_CREATE)
      .then(({ Id }) => this.get(Id))
      .finally(() => {
        this.gwbridgeMaking = undefined;
      });
    return this.gwbridgeMaking;
  }

  /** Picks a driver by name. */
  driverFor(name: string): NetworkDriver {
    const d = this.drivers[name];
    if (!d && name === 'overlay') throw new BerthError('NOT_IMPLEMENTED', NEEDS_CLUSTER);
    if (!d) throw notFound(`plugin "${name}" not found`);
    return d;
  }

  /** A network by its full ID. */
  network(id: string): NetworkRecord | undefined {
    return this.byId.get(id) ?? this.global?.get(id);
  }

  /** All networks: this host's, then the cluster's. */
  list(): NetworkRecord[] {
    return [...this.byId.values(), ...(this.global?.list() ?? [])];
  }

  /**
   * `network disconnect -f` of a container this host does not have:
   * dockerd's ForceEndpointDelete, meant for the endpoints a dead host left
   * in the store. On an overlay network, another host's endpoint of that
   * name goes if its host has left the cluster (its lease ran out before
   * the reaper took it); one of a host still in the cluster is refused, as
   * removing it here would cut that host's running container off.
   */
  async forceEndpointDelete(name: string, netRef: string): Promise<void> {
    const net = this.find(netRef);
    if (!net) throw notFound(`network ${netRef} not found`);
    const global = net.Scope === 'global' ? this.global : undefined;
    const ep = global?.endpointsOf(net.Id).find((e) => e.Name === name);
    if (!global || !ep) throw notFound(`endpoint ${name} not found`);
    if (await global.reap(net.Id, ep.Id)) return;
    if (global.endpoint(net.Id, ep.Id)) {
      throw forbidden(
        `endpoint ${name} belongs to host ${ep.Node}, which is in the cluster: ` +
          'disconnect it there, or it goes when that host leaves the cluster',
      );
    }
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
    if (req.Driver === 'overlay') return this.createGlobal(req);
    const net: NetworkRecord = {
      ...newNetworkRecord(req.Name, req.Driver),
      Internal: req.Internal,
      Attachable: req.Attachable,
      EnableIPv6: req.EnableIPv6,
      Options: req.Options,
      Labels: req.Labels,
    };
    net.IPAM = { Driver: req.IPAM.Driver, Options: req.IPAM.Options, Config: [] };
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
    // The bridge name is claimed before the first await, so two creates
    // naming one bridge cannot both pass bridgeFor's check.
    const claimed = req.Driver === 'bridge' ? this.claimBridge(net) : undefined;
    try {
      const bridge = claimed ? await this.bridgeFor(net) : undefined;
      if (bridge) net.berth = bridge.own;
      await this.record(net, configs, bridge?.existing);
    } finally {
      if (claimed) this.creating.delete(claimed);
    }
    try {
      const pool = this.ipam.pools(net.Id).find((p) => p.family === 4);
      await this.driverFor(net.Driver).ensureNetwork(net, this.gateways(net.Id));
      if (pool && this.servesDns(net)) await this.dns.addListener(pool.gateway, net.Id);
    } catch (e) {
      await this.removeNetwork(net.Id).catch(() => undefined);
      throw e;
    }
    return { Id: net.Id, Warning: '' };
  }

  /**
   * The record, its name and its subnets in one transaction; for a bridge
   * the user made, the gateways it lacks are what Berth will add.
   */
  private async record(
    net: NetworkRecord,
    configs: IpamConfig[],
    existing: Set<string> | undefined,
  ): Promise<void> {
    const nameKey = NAMES + net.Name;
    await this.ipam
      .transact(async (tx) => {
        const pools: PoolInfo[] = [];
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
        if (existing) {
          // The gateways (the first subnet of each family) the user's bridge lacks.
          const gateways = [4, 6].flatMap((f) => pools.find((p) => p.family === f) ?? []);
          net.berth!.addedAddresses = gateways
            .map((p) => `${p.gateway}/${p.prefixLen}`)
            .filter((c) => !existing.has(canonCidr(c)));
        }
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
        if (hasCode(e, 'RETRIES_EXHAUSTED')) {
          throw conflict(`network with name ${net.Name} already exists`);
        }
        throw e;
      });
    this.byId.set(net.Id, net);
  }

  /** An overlay network, in the cluster store: every host sees it (S19, S20). */
  private async createGlobal(req: NetworkCreate): Promise<{ Id: string; Warning: string }> {
    if (!this.global) throw new BerthError('NOT_IMPLEMENTED', NEEDS_CLUSTER);
    if (req.EnableIPv6) throw notImplemented('IPv6 on overlay networks');
    // As on a local network: an IPv6 subnet needs --ipv6, which overlays do not have.
    if (req.IPAM.Config.some((c) => c.Subnet?.includes(':'))) {
      throw forbidden('non-IPv6 network cannot have IPv6 subnets, enable IPv6 with --ipv6');
    }
    if (req.IPAM.Config.length > 1) throw notImplemented('several subnets on an overlay network');
    const net = await this.global.create({
      Name: req.Name,
      Driver: 'overlay',
      Internal: req.Internal,
      Attachable: req.Attachable,
      Options: req.Options,
      Labels: req.Labels,
      IPAM: req.IPAM,
    });
    return { Id: net.Id, Warning: '' };
  }

  /**
   * Where Berth's resolver answers containers on a network whose endpoints
   * show no gateway: an overlay's gateway, inside its namespace.
   */
  resolverAt(netId: string): string | undefined {
    const net = this.network(netId);
    return net?.Driver === 'overlay' ? gatewayOf(net)?.split('/')[0] : undefined;
  }

  /** A join on a multi-host network, before it returns: the peers converge (decision 0023). */
  async convergePeers(
    netId: string,
    revision: number,
    later?: (others: Promise<void>) => void,
    others = true,
  ): Promise<void> {
    await this.plane?.convergePeers(netId, revision, later, others);
  }

  /** The overlay driver, when this host is in a cluster. */
  private overlay(): OverlayDriver | undefined {
    const d = this.drivers.overlay;
    return d instanceof OverlayDriver ? d : undefined;
  }

  /** DELETE /networks/{id}: refused for predefined networks and while endpoints remain. */
  async removeNetwork(ref: string): Promise<void> {
    const net = this.get(ref);
    if (net.Scope === 'global') {
      await this.global!.remove(net);
      await this.plane?.forget(net.Id);
      return;
    }
    // Only the built-in networks carry these names: creating them is refused.
    if (PREDEFINED.includes(net.Name)) {
      throw forbidden(`${net.Name} is a pre-defined network and cannot be removed`);
    }
    if (await this.endpoints.anyOn(net.Id)) {
      throw forbidden(
        `error while removing network: network ${net.Name} id ${net.Id} has active endpoints`,
      );
    }
    const gateways = this.ipam.pools(net.Id).map((p) => p.gateway);
    const removing = net.Driver === 'bridge' ? REMOVING + net.Id : undefined;
    await this.ipam.transact(async (tx) => {
      await tx.releasePools(net.Id, { networkName: net.Name });
      return {
        value: undefined,
        ops: [
          { type: 'delete', key: NETWORKS + net.Id },
          { type: 'delete', key: NAMES + net.Name },
          ...(removing
            ? [{ type: 'put' as const, key: removing, value: JSON.stringify(net) }]
            : []),
        ],
      };
    });
    this.byId.delete(net.Id);
    for (const g of gateways) await this.dns.removeListener(g);
    await this.undoKernelSide(net, removing);
  }

  /** A removed network's kernel side, then its REMOVING key (kept when the kernel failed). */
  private async undoKernelSide(net: NetworkRecord, removing?: string): Promise<void> {
    try {
      await this.driverFor(net.Driver).removeNetwork(net);
    } catch (e) {
      this.log.warn(`removing ${net.Name}'s kernel side: ${messageOf(e)}`);
      return;
    }
    if (removing) await this.kv.delete(removing);
  }

  /** What Berth's firewall table should hold: every bridge network and published port. */
  firewallState(): FirewallState {
    return {
      bridges: this.list()
        .filter((n) => n.Driver === 'bridge')
        .map(bridgeSpec),
      ports: this.endpoints.portMappings(),
      ...(this.control.length ? { control: this.control } : {}),
    };
  }

  /**
   * The cluster's etcd members and hosts' APIs (decision 0040): containers
   * may not reach them through this host. Replaces the last list, sending
   * the firewall only what changed; a list that cannot be applied changes
   * nothing.
   */
  setControlPlane(list: readonly ControlEndpoint[]): void {
    const key = (e: ControlEndpoint) => `${e.ip} ${e.port}`;
    const had = new Set(this.control.map(key));
    const want = new Set(list.map(key));
    this.firewall.changeControlPlane(
      list.filter((e) => !had.has(key(e))),
      this.control.filter((e) => !want.has(key(e))),
    );
    this.control = [...list];
  }

  /**
   * The network graph's two snapshots (graph/, `GET /berth/graph`), the
   * store's and the kernel's, taken now; read-only.
   */
  graphSnapshots(
    host: { name: string; advertise?: string },
    containers: StoreSnapshot['containers'],
  ): Promise<{ store: StoreSnapshot; kernel: KernelSnapshot }> {
    return takeSnapshots(
      {
        kv: this.kv,
        endpointsPrefix: ENDPOINTS,
        ipam: this.ipam,
        networks: this.list(),
        servesDns: (n) => this.servesDns(n),
        global: this.global,
        vtep: this.cluster?.vtep,
        hosts: this.cluster?.hosts,
        rtnl: this.rtnl,
        firewall: this.firewall,
        dns: () => this.dns.listenerList?.() ?? [],
        sandboxPath: (id) => this.endpoints.netnsPath(id),
        overlayPath: (id) => this.overlayPath(id),
      },
      host,
      containers,
    );
  }

  /**
   * The namespace of this host's container that holds `ipv4` on the global
   * network `networkId` (the far side of a trace); undefined when none here.
   */
  sandboxHolding(networkId: string, ipv4: string): string | undefined {
    for (const ep of this.global?.endpointsOf(networkId) ?? []) {
      // Only this host's own records: another host's container ID names no sandbox here.
      if (ep.IPv4 !== ipv4 || ep.Vtep !== this.cluster?.vtep) continue;
      const path = this.endpoints.netnsPath(ep.ContainerID);
      if (isNetns(path)) return path;
    }
    return undefined;
  }

  /** An overlay network's namespace file on this host ('' without the overlay driver). */
  overlayPath(networkId: string): string {
    return this.overlay()?.nsPath({ Id: networkId }) ?? '';
  }

  /** Before the daemon exits: stops watching the firewall, deletes the links given up so far. */
  async close(): Promise<void> {
    this.firewall.stop();
    await this.reaper.close();
  }

  /**
   * After a daemon start, with the containers that still run: endpoints
   * first (see Endpoints.reconcile), then the bridges of networks the store
   * no longer has, and the control plane the last daemon closed.
   */
  async reconcile(running: Set<string>): Promise<void> {
    await this.endpoints.reconcile(running);
    // Overlay links no record names: once the cluster's networks are read (not awaited).
    void this.plane
      ?.sweepStrays(() => this.endpoints.namedLinks())
      .catch((e: unknown) => this.log.warn(`sweeping overlay links: ${messageOf(e)}`));
    // Bridges (and their nft elements) of networks the store no longer has:
    // a daemon killed between removing a network's record and its bridge.
    const ours = new Set(
      this.list()
        .filter((n) => n.Driver === 'bridge')
        .map(bridgeName),
    );
    const kernel = this.firewall.dump();
    for (const b of kernel.bridges) {
      if (!ours.has(b.name)) this.firewall.removeBridge(b.name);
    }
    // The control plane the last daemon kept from containers (decision 0040):
    // in a cluster it stays closed until the first list is known (etcd may
    // be down), which then takes out what is no longer in it; without one,
    // it goes.
    const left = kernel.control ?? [];
    if (this.global) this.control = left;
    else if (left.length) this.firewall.changeControlPlane([], left);
    // Networks removed by a daemon killed before their kernel side was
    // undone: only what their records say Berth made or added is undone.
    // Links Berth did not make are never deleted (decision 0017).
    for (const e of await this.kv.list(REMOVING)) {
      const net = JSON.parse(e.value) as NetworkRecord;
      if (ours.has(bridgeName(net))) {
        // The name is a live network's again: that bridge is not the removed one's.
        await this.kv.delete(e.key);
        continue;
      }
      this.log.warn(`finishing the removal of network ${net.Name}`);
      await this.undoKernelSide(net, e.key);
    }
    // From now on, a table another program deletes or edits comes back.
    this.firewall.watch();
  }
}

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

/** A CIDR in one spelling per address (IPv6 compressed, lower case), for comparing. */
function canonCidr(cidr: string): string {
  const [ip, len] = cidr.split('/');
  if (!ip?.includes(':')) return cidr;
  return `${new URL(`http://[${ip}]/`).hostname.slice(1, -1)}/${len}`;
}

/** Berth's refusal of what Docker does and Berth does not do yet. */
function notImplemented(what: string): BerthError {
  return new BerthError('NOT_IMPLEMENTED', `berth does not support ${what} yet`);
}

const NEEDS_CLUSTER =
  'overlay networks need a cluster store: start berthd with --cluster-store etcd://HOST:PORT and --cluster-advertise IP:PORT';
