// A network controller without root: a temporary SQLite store, IPAM on it,
// MemoryFirewall, a DNS that binds nothing, and a fake bridge driver that
// keeps its networks and endpoints in memory and fails on request. Nothing
// here touches the kernel: the controller's kernel seam (ControllerKernel)
// gets fakes for the reaper's socket, sysctls and held ports.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../src/common/log.js';
import { MemoryFirewall, type Firewall } from '../../src/kernel/firewall/index.js';
import type { Rtnl } from '../../src/kernel/netlink/index.js';
import { BindError, type HeldPort } from '../../src/kernel/ports/reserve.js';
import { NetworkController, type ControllerKernel } from '../../src/network/controller.js';
import { DnsRecords } from '../../src/network/dns/index.js';
import { bridgeName, bridgeSpec } from '../../src/network/drivers/bridge/index.js';
import { hostDriver } from '../../src/network/drivers/host/index.js';
import { nullDriver } from '../../src/network/drivers/null/index.js';
import type { NetworkDns } from '../../src/network/endpoints.js';
import { Ipam } from '../../src/network/ipam/index.js';
import type {
  EndpointAddresses,
  EndpointInfo,
  Gateway,
  GlobalScope,
  NetworkDriver,
  NetworkRecord,
  Sandbox,
} from '../../src/network/types.js';
import { SqliteStore } from '../../src/store/embedded/sqlite.js';
import type { Compare, KvStore, Op, PutOptions, TxnResult } from '../../src/store/types.js';

type DriverStep = 'ensureNetwork' | 'join' | 'leave' | 'removeNetwork';

/** One endpoint the fake driver joined. */
export interface FakeEndpoint {
  networkId: string;
  containerId: string;
  addrs: EndpointAddresses;
}

/**
 * A bridge-like driver in memory: `ensureNetwork` and `removeNetwork` put the
 * bridge in and out of the firewall, as the bridge driver does; `fail` makes
 * the next call of a step throw (once).
 */
export class FakeDriver implements NetworkDriver {
  readonly name = 'bridge';
  readonly ownNamespace = true;
  readonly exclusive = false;
  readonly addressed = true;
  readonly ipv6 = true;
  readonly gatewayRoute = true;
  readonly scope = 'local';
  /** Networks whose kernel side exists, with their gateways. */
  readonly networks = new Map<string, Gateway[]>();
  /** Joined endpoints by host link name. */
  readonly endpoints = new Map<string, FakeEndpoint>();
  /** Every call, in order: `step networkName [ifName]`. */
  readonly calls: string[] = [];
  private readonly failing = new Map<DriverStep, Error>();
  private links = 0;

  constructor(private readonly firewall: Firewall) {}

  /** The next call of `step` throws `error`. */
  fail(step: DriverStep, error = new Error(`fake driver: ${step} failed`)): void {
    this.failing.set(step, error);
  }

  private step(step: DriverStep, what: string): void {
    this.calls.push(`${step} ${what}`);
    const e = this.failing.get(step);
    if (!e) return;
    this.failing.delete(step);
    throw e;
  }

  async ensureNetwork(net: NetworkRecord, gateways: Gateway[]): Promise<void> {
    this.step('ensureNetwork', net.Name);
    this.networks.set(net.Id, gateways);
    this.firewall.addBridge(bridgeSpec(net));
  }

  async join(
    net: NetworkRecord,
    sandbox: Sandbox,
    addrs: EndpointAddresses,
  ): Promise<EndpointInfo> {
    this.step('join', `${net.Name} ${addrs.ifName}`);
    if (!this.networks.has(net.Id)) throw new Error(`fake driver: no network ${net.Name}`);
    const hostIf = `fake${++this.links}`;
    this.endpoints.set(hostIf, { networkId: net.Id, containerId: sandbox.containerId, addrs });
    return {
      ipv4: addrs.ipv4,
      prefixLen: addrs.prefixLen,
      gateway: addrs.gateway,
      ipv6: addrs.ipv6,
      ipv6PrefixLen: addrs.prefixLen6,
      ipv6Gateway: addrs.gateway6,
      mac: addrs.mac,
      hostIf,
    };
  }

  async leave(net: NetworkRecord, _sandbox: Sandbox, hostIf?: string, ifName?: string) {
    this.step('leave', `${net.Name} ${ifName ?? '-'}`);
    if (hostIf) this.endpoints.delete(hostIf);
  }

  async removeNetwork(net: NetworkRecord): Promise<void> {
    this.step('removeNetwork', net.Name);
    this.firewall.removeBridge(bridgeName(net));
    this.networks.delete(net.Id);
  }
}

/** A store whose writes can be made to fail: `failNext(match)` fails the next write `match` accepts. */
export class FaultStore implements KvStore {
  private faults: Array<(ops: Op[]) => boolean> = [];
  /** Runs before each txn (e.g. another writer's change). */
  beforeTxn?: (compares: Compare[], ops: Op[]) => Promise<void>;

  constructor(readonly inner: KvStore) {}

  /** The next write (put or txn) whose ops `match` accepts throws before committing. */
  failNext(match: (ops: Op[]) => boolean): void {
    this.faults.push(match);
  }

  private check(ops: Op[]): void {
    const i = this.faults.findIndex((f) => f(ops));
    if (i < 0) return;
    this.faults.splice(i, 1);
    throw new Error('store: disk on fire');
  }

  get = (k: string) => this.inner.get(k);
  list = (p: string) => this.inner.list(p);
  listWithRevision = (p: string) => this.inner.listWithRevision(p);
  async put(k: string, v: string, o?: PutOptions) {
    this.check([{ type: 'put', key: k, value: v }]);
    return this.inner.put(k, v, o);
  }
  async delete(k: string, o?: { ifModRevision?: number }) {
    this.check([{ type: 'delete', key: k }]);
    return this.inner.delete(k, o);
  }
  watch: KvStore['watch'] = (p, cb, o) => this.inner.watch(p, cb, o);
  revision = () => this.inner.revision();
  compact = (r: number) => this.inner.compact(r);
  grantLease = (ttl: number) => this.inner.grantLease(ttl);
  keepAlive = (l: string) => this.inner.keepAlive(l);
  revokeLease = (l: string) => this.inner.revokeLease(l);
  leaseTimeToLive = (l: string) => this.inner.leaseTimeToLive(l);
  close = () => this.inner.close();
  async txn(c: Compare[], s: Op[], f?: Op[]): Promise<TxnResult> {
    this.check(s);
    await this.beforeTxn?.(c, s);
    return this.inner.txn(c, s, f);
  }
}

/** A firewall whose next port-mapping change can fail. */
export class FaultFirewall extends MemoryFirewall {
  failPortMapping = false;
  override addPortMapping(m: Parameters<MemoryFirewall['addPortMapping']>[0]): void {
    if (this.failPortMapping) {
      this.failPortMapping = false;
      throw new Error('nftables: Could not process rule: No buffer space available');
    }
    super.addPortMapping(m);
  }
}

/** Berth's DNS as the controller uses it, binding nothing: listeners are a set. */
export class FakeDns implements NetworkDns {
  readonly records = new DnsRecords();
  readonly listening = new Map<string, string | undefined>();
  failListener = false;
  async addListener(address: string, networkId?: string): Promise<void> {
    if (this.failListener) {
      this.failListener = false;
      throw new Error(`listen udp ${address}:53: bind: cannot assign requested address`);
    }
    this.listening.set(address, networkId);
  }
  async removeListener(address: string): Promise<boolean> {
    return this.listening.delete(address);
  }
}

/** A log kept in memory. */
export function memoryLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (msg: string) => void lines.push(`${level}: ${msg}`);
  return { lines, debug: () => undefined, info: at('info'), warn: at('warn'), error: at('error') };
}

/** rtnetlink that sees an empty namespace and changes nothing (the controller's and the reaper's). */
export function emptyRtnl(): Rtnl {
  const none = async () => undefined;
  return {
    getLink: none,
    listLinks: async () => [],
    listAddresses: async () => [],
    listRoutes: async () => [],
    deleteLink: none,
    deleteGroup: none,
    setLink: none,
    close: () => undefined,
  } as unknown as Rtnl;
}

export interface FakeWorld {
  dir: string;
  kv: FaultStore;
  ipam: Ipam;
  firewall: FaultFirewall;
  dns: FakeDns;
  driver: FakeDriver;
  controller: NetworkController;
  log: ReturnType<typeof memoryLog>;
  /** Host ports held now, as `proto/ip/port`. */
  held: Set<string>;
  /** Ports a host process holds: holding them fails with EADDRINUSE. */
  busy: Set<number>;
  /** Sysctls the controller wrote. */
  sysctls: Map<string, number>;
  /** Opens the controller again on the same store (a daemon restart). */
  reopen(): Promise<NetworkController>;
  close(): Promise<void>;
}

const notInThisTest = async (): Promise<never> => {
  throw new Error('not in this test');
};

/** A cluster's global scope with nothing in it, whose writes throw unless `over` gives them. */
export function fakeGlobalScope(over: Partial<GlobalScope> = {}): GlobalScope {
  return {
    list: () => [],
    get: () => undefined,
    create: notInThisTest,
    remove: notInThisTest,
    loaded: Promise.resolve(),
    attach: notInThisTest,
    detach: notInThisTest,
    rename: notInThisTest,
    reap: notInThisTest,
    endpointsOf: () => [],
    endpoint: () => undefined,
    nameTaken: () => false,
    onEndpointsChange: () => () => undefined,
    onNetworkRemoved: () => () => undefined,
    onUnsettled: () => undefined,
    ...over,
  };
}

/** A multi-host driver with the overlay's capabilities, whose steps throw unless `over` gives them. */
export function fakeOverlayDriver(over: Partial<NetworkDriver> = {}): NetworkDriver {
  return {
    name: 'overlay',
    ownNamespace: true,
    exclusive: false,
    addressed: true,
    ipv6: false,
    gatewayRoute: false,
    scope: 'global',
    ensureNetwork: notInThisTest,
    join: notInThisTest,
    leave: notInThisTest,
    removeNetwork: notInThisTest,
    ...over,
  };
}

/** A controller on a fresh temporary store, with the fakes above (and a cluster's global scope, if given). */
export async function fakeWorld(
  opts: { global?: GlobalScope; drivers?: Record<string, NetworkDriver> } = {},
): Promise<FakeWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-netctl-'));
  const kv = new FaultStore(SqliteStore.open(join(dir, 'berth.db')));
  const firewall = new FaultFirewall();
  const dns = new FakeDns();
  const driver = new FakeDriver(firewall);
  const log = memoryLog();
  const held = new Set<string>();
  const busy = new Set<number>();
  const sysctls = new Map<string, number>();
  let ipam = await Ipam.open(kv);
  const kernel: ControllerKernel = {
    drivers: () => ({ bridge: driver, host: hostDriver, null: nullDriver, ...opts.drivers }),
    openRtnl: emptyRtnl,
    writeSysctl: (key, value) => void sysctls.set(key, value),
    holdPort: async (proto, ip, port): Promise<HeldPort> => {
      if (busy.has(port)) {
        throw new BindError('EADDRINUSE', `listen ${proto}4 ${ip}:${port}: bind: address in use`);
      }
      const key = `${proto}/${ip}/${port}`;
      held.add(key);
      return { close: async () => void held.delete(key) };
    },
  };
  const open = () =>
    NetworkController.open({
      kv,
      execRoot: join(dir, 'exec'),
      ipam,
      rtnl: emptyRtnl(),
      firewall,
      dns,
      log,
      mtu: 1500,
      kernel,
      global: opts.global && { scope: opts.global, vtep: '192.0.2.10' },
    });
  const world: FakeWorld = {
    dir,
    kv,
    ipam,
    firewall,
    dns,
    driver,
    controller: await open(),
    log,
    held,
    busy,
    sysctls,
    async reopen() {
      await world.controller.close();
      ipam = world.ipam = await Ipam.open(kv);
      world.controller = await open();
      return world.controller;
    },
    async close() {
      await world.controller.close();
      await kv.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return world;
}
