/**
 * The network controller: networks (records in the store), the drivers that
 * implement them, and each container's sandbox (its network namespace).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { notFound } from '../common/errors.js';
import type { KvStore } from '../store/types.js';
import type { EndpointSettings } from '../containers/types.js';
import { createNetns, deleteNetns } from '../kernel/netns/netns.js';
import { bridgeDriver } from './drivers/bridge/index.js';
import { hostDriver } from './drivers/host/index.js';
import { nullDriver } from './drivers/null/index.js';
import type { NetworkDriver, NetworkRecord, Sandbox } from './types.js';

const PREFIX = 'networks/by-id/';

const DRIVERS: Record<string, NetworkDriver> = {
  bridge: bridgeDriver,
  host: hostDriver,
  null: nullDriver,
};

/** Picks a driver by name. */
export function driverFor(name: string): NetworkDriver {
  const d = DRIVERS[name];
  if (!d) throw notFound(`plugin "${name}" not found`);
  return d;
}

export const newId = (): string => randomBytes(32).toString('hex');

function predefined(name: string, driver: string): NetworkRecord {
  const isBridge = driver === 'bridge';
  return {
    Name: name,
    Id: newId(),
    Created: new Date().toISOString(),
    Scope: 'local',
    Driver: driver,
    EnableIPv4: true,
    EnableIPv6: false,
    IPAM: {
      Driver: 'default',
      Options: null,
      Config: isBridge ? [{ Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' }] : [],
    },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Options: isBridge
      ? {
          'com.docker.network.bridge.default_bridge': 'true',
          'com.docker.network.bridge.enable_icc': 'true',
          'com.docker.network.bridge.enable_ip_masquerade': 'true',
          'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
          'com.docker.network.bridge.name': 'berth0',
          'com.docker.network.driver.mtu': '1500',
        }
      : {},
    Labels: {},
  };
}

/** A container's view of one network, before its endpoint exists. */
export function emptyEndpoint(net: NetworkRecord): EndpointSettings {
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: null,
    MacAddress: '',
    DriverOpts: null,
    GwPriority: 0,
    NetworkID: net.Id,
    EndpointID: '',
    Gateway: '',
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    DNSNames: null,
  };
}

export class NetworkController {
  private byId = new Map<string, NetworkRecord>();

  private constructor(
    private readonly kv: KvStore,
    private readonly execRoot: string,
  ) {}

  /** Loads networks, creating the predefined bridge, host and none on first start. */
  static async open(kv: KvStore, execRoot: string): Promise<NetworkController> {
    const c = new NetworkController(kv, execRoot);
    for (const e of await kv.list(PREFIX)) {
      const n = JSON.parse(e.value) as NetworkRecord;
      c.byId.set(n.Id, n);
    }
    for (const [name, driver] of [
      ['bridge', 'bridge'],
      ['host', 'host'],
      ['none', 'null'],
    ] as const) {
      if (![...c.byId.values()].some((n) => n.Name === name)) {
        const n = predefined(name, driver);
        await kv.put(PREFIX + n.Id, JSON.stringify(n), { ifModRevision: 0 });
        c.byId.set(n.Id, n);
      }
    }
    return c;
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

  /** Where a container's namespace file lives. */
  netnsPath(containerId: string): string {
    return join(this.execRoot, 'netns', containerId.slice(0, 16));
  }

  /**
   * Builds the container's sandbox and joins it to its network. Returns the
   * namespace path (undefined for host) and the endpoint as inspect shows it.
   * On failure nothing is left behind.
   */
  async setup(
    containerId: string,
    mode: string,
  ): Promise<{ netnsPath?: string; name: string; endpoint: EndpointSettings }> {
    const net = this.forMode(mode);
    const driver = driverFor(net.Driver);
    const sandbox: Sandbox = { containerId };
    if (driver.ownNamespace) {
      sandbox.netnsPath = this.netnsPath(containerId);
      createNetns(sandbox.netnsPath);
    }
    try {
      const info = await driver.join(net, sandbox);
      const endpoint: EndpointSettings = {
        ...emptyEndpoint(net),
        EndpointID: newId(),
        IPAddress: info.ipv4 ?? '',
        IPPrefixLen: info.prefixLen ?? 0,
        Gateway: info.gateway ?? '',
        MacAddress: info.mac ?? '',
      };
      return { netnsPath: sandbox.netnsPath, name: net.Name, endpoint };
    } catch (e) {
      if (sandbox.netnsPath) await deleteNetns(sandbox.netnsPath);
      throw e;
    }
  }

  /** Leaves the network and removes the sandbox; idempotent and best-effort. */
  async teardown(containerId: string, mode: string): Promise<void> {
    const net = this.find(mode === 'default' ? 'bridge' : mode);
    if (net) {
      const driver = DRIVERS[net.Driver];
      await driver
        ?.leave(net, { containerId, netnsPath: this.netnsPath(containerId) })
        .catch(() => undefined);
    }
    await deleteNetns(this.netnsPath(containerId));
  }
}
