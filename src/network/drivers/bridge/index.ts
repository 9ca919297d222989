/**
 * `bridge`: a Linux bridge per network on the host, a veth pair per endpoint
 * whose container end is born inside the container's namespace (one netlink
 * request), addresses, MAC (02:42 + IPv4), MTU and the default route set from
 * a socket opened in that namespace. No process is spawned.
 */
import { randomBytes } from 'node:crypto';
import { forbidden, notFound } from '../../../common/errors.js';
import type { BridgeSpec, Firewall } from '../../../kernel/firewall/index.js';
import {
  type LinkAddress,
  type RouteSpec,
  type Rtnl,
  isExists,
  isNotFound,
  writeSysctl,
} from '../../../kernel/netlink/index.js';
import { DOOMED_GROUP, type LinkReaper } from '../../reaper.js';
import type {
  EndpointAddresses,
  EndpointInfo,
  Gateway,
  NetworkDriver,
  NetworkRecord,
  Sandbox,
} from '../../types.js';

/** The bridge's interface name: the option, else berth0 for the default, else br-<12 hex>. */
export function bridgeName(net: NetworkRecord): string {
  return net.Options['com.docker.network.bridge.name'] || `br-${net.Id.slice(0, 12)}`;
}

/** What Berth's firewall holds for a bridge network. */
export function bridgeSpec(net: NetworkRecord): BridgeSpec {
  return {
    name: bridgeName(net),
    icc: net.Options['com.docker.network.bridge.enable_icc'] !== 'false',
    masquerade: net.Options['com.docker.network.bridge.enable_ip_masquerade'] !== 'false',
    internal: net.Internal,
  };
}

/**
 * Whether Berth made the network's bridge (decision 0017): only such a
 * bridge is ever deleted. A record of a Berth before 0017 does not say: its
 * bridge was Berth's own when Berth named it (br-<12 hex>, the default
 * bridge); one named by the option may have been a link of the user's.
 */
export function bridgeCreated(net: NetworkRecord): boolean {
  if (net.berth?.bridgeCreated !== undefined) return net.berth.bridgeCreated;
  return !net.Options['com.docker.network.bridge.name'] || net.Name === 'bridge';
}

/** The message for a link of the option's name that is not a bridge (dockerd's, and what to do). */
export function notABridge(name: string): string {
  return `existing interface ${name} is not a bridge (Berth makes or uses only a bridge of that name, and changes no other link)`;
}

/** A host-side veth name as Docker makes them: "veth" + 7 hex. */
export function vethName(): string {
  return `veth${randomBytes(4).toString('hex').slice(0, 7)}`;
}

/**
 * A bridge's MAC as Docker makes them: 02:42 + 4 random bytes. Set at
 * creation it stays: a bridge whose MAC the kernel chose takes the lowest
 * MAC among its ports, so a veth joining with a lower one would change the
 * gateway's MAC under every container's ARP cache.
 */
export function bridgeMac(): string {
  return ['02', '42', ...randomBytes(4).toString('hex').match(/../g)!].join(':');
}

/** A removed network's bridge until the reaper deletes it: its own name is free at once. */
function doomedBridgeName(): string {
  return `br-x${randomBytes(6).toString('hex')}`.slice(0, 15);
}

export class BridgeDriver implements NetworkDriver {
  readonly name = 'bridge';
  readonly ownNamespace = true;
  readonly exclusive = false;
  readonly addressed = true;
  readonly ipv6 = true;
  readonly gatewayRoute = true;
  readonly scope = 'local';
  private readonly bridgeIndex = new Map<string, number>();

  constructor(
    /** rtnetlink in the daemon's (the host's) namespace. */
    private readonly host: Rtnl,
    /** MTU for bridges and veths without their own option. */
    private readonly defaultMtu: number,
    /** Berth's nftables table (masquerade, isolation, ICC, internal). */
    private readonly firewall: Firewall,
    /** Deletes the links this driver gives up, later and together. */
    private readonly reaper: LinkReaper,
  ) {}

  /**
   * The bridge's index, looked up once per bridge: every attach enslaves by
   * index. When a call with the remembered index fails and the bridge now
   * has another index (made again under the same name), it is tried again.
   */
  private async withBridgeIndex<T>(
    net: NetworkRecord,
    fn: (master: number) => Promise<T>,
  ): Promise<T> {
    const name = bridgeName(net);
    const known = this.bridgeIndex.get(name);
    if (known !== undefined) {
      try {
        return await fn(known);
      } catch (e) {
        this.bridgeIndex.delete(name);
        const now = await this.host.index(name).catch(() => undefined);
        if (now === undefined || now === known) throw e;
      }
    }
    const index = await this.host.index(name);
    this.bridgeIndex.set(name, index);
    return fn(index);
  }

  private mtuOf(net: NetworkRecord): number {
    const v = Number(net.Options['com.docker.network.driver.mtu']);
    return Number.isInteger(v) && v > 0 ? v : this.defaultMtu;
  }

  async ensureNetwork(net: NetworkRecord, gateways: Gateway[]): Promise<void> {
    this.reaper.busy();
    const name = bridgeName(net);
    this.bridgeIndex.delete(name);
    if (bridgeCreated(net)) {
      try {
        // IPv6 (link-local, DAD) only where the network has it: it is most of
        // the kernel's work to create and delete a link.
        const ipv6LinkLocal = gateways.some((g) => g.family === 6);
        const mac = bridgeMac();
        await this.host.createBridge({ name, mtu: this.mtuOf(net), mac, up: true, ipv6LinkLocal });
      } catch (e) {
        if (!isExists(e)) throw e;
        // Made by an earlier start: its MTU follows the flags of this one, and
        // its MAC, set again, is pinned (one made by an older Berth was not).
        // A link of that name that is not a bridge is not Berth's: untouched.
        const link = await this.host.getLink(name);
        if (link && link.kind !== 'bridge') throw forbidden(notABridge(name));
        await this.host.setLink(name, { up: true, mtu: this.mtuOf(net), mac: link?.mac });
      }
    } else {
      // A bridge the user made: used as dockerd uses it, up with the
      // gateways; its MTU, MAC and other addresses stay the user's.
      const link = await this.host.getLink(name);
      if (!link) throw notFound(`bridge ${name} (made by the user) no longer exists`);
      if (link.kind !== 'bridge') throw forbidden(notABridge(name));
      if (!link.up) await this.host.setLink(link.index, { up: true });
    }
    if (gateways.some((g) => g.family === 6)) {
      // As Docker: no router advertisements taken on the bridge; the host routes IPv6.
      writeSysctl(`net/ipv6/conf/${name}/accept_ra`, 0);
      writeSysctl('net.ipv6.conf.all.forwarding', 1);
    }
    for (const g of gateways) {
      try {
        await this.host.addAddress(name, `${g.address}/${g.prefixLen}`, { nodad: g.family === 6 });
      } catch (e) {
        if (!isExists(e)) throw e;
      }
    }
    // Published ports answer on 127.0.0.1 without a proxy: the host may route
    // loopback-sourced packets out of (and their answers in by) Berth's bridges.
    writeSysctl(`net/ipv4/conf/${name}/route_localnet`, 1);
    this.firewall.addBridge(bridgeSpec(net));
  }

  async join(
    net: NetworkRecord,
    sandbox: Sandbox,
    addrs: EndpointAddresses,
  ): Promise<EndpointInfo> {
    if (!sandbox.netnsPath) throw new Error('bridge endpoints need a network namespace');
    this.reaper.busy();
    const hostIf = vethName();
    const mtu = this.mtuOf(net);
    await this.withBridgeIndex(net, (master) =>
      this.host.createVeth({
        name: hostIf,
        mtu,
        // One queue each way instead of one per possible CPU: fewer sysfs
        // objects to make and remove (decision 0010).
        queues: 1,
        up: true,
        ipv6LinkLocal: !!addrs.ipv6,
        master,
        peer: { name: addrs.ifName, mtu, mac: addrs.mac, nsFd: sandbox.nsFd() },
      }),
    );
    try {
      // A container reaching its own published port: br_netfilter bridges the
      // DNATed frame straight back out of the port it came in on.
      if (addrs.hairpin) await this.host.setBridgePort(hostIf, { hairpin: true });
      const inside = sandbox.netlink();
      const addresses: LinkAddress[] = [];
      const routes: RouteSpec[] = [];
      if (addrs.ipv4 && addrs.prefixLen !== undefined) {
        addresses.push({ cidr: `${addrs.ipv4}/${addrs.prefixLen}` });
      }
      if (addrs.ipv6 && addrs.prefixLen6 !== undefined) {
        for (const dev of ['lo', addrs.ifName]) {
          writeSysctl(`net/ipv6/conf/${dev}/disable_ipv6`, 0, sandbox.netnsPath);
        }
        addresses.push({ cidr: `${addrs.ipv6}/${addrs.prefixLen6}`, nodad: true });
      }
      if (addrs.defaultRoute && addrs.gateway) routes.push({ gateway: addrs.gateway });
      if (addrs.defaultRoute && addrs.gateway6) routes.push({ gateway: addrs.gateway6 });
      // One lookup, then addresses, up and default routes in one round trip.
      await inside.configureLink(await inside.index(addrs.ifName), { addresses, up: true, routes });
    } catch (e) {
      await this.leave(net, sandbox, hostIf);
      throw e;
    }
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

  /**
   * The container's end goes down at once (no address or route of it is
   * left usable); the pair goes to the reaper. Its name is not reused
   * meanwhile: a sandbox's interface names only grow (as Docker's). Without
   * `ifName` (an attach that failed) the host end goes down instead, so a
   * half-made container end has no carrier. Without a namespace (a stopped
   * container) the pair is deleted at once.
   */
  async leave(
    _net: NetworkRecord,
    sandbox: Sandbox,
    hostIf?: string,
    ifName?: string,
  ): Promise<void> {
    if (!hostIf) return;
    this.reaper.busy();
    if (!sandbox.netnsPath) {
      // The namespace is gone (the container stopped) and the pair with it,
      // unless something still holds the namespace: make sure, now.
      this.reaper.deleteNow(hostIf);
      return;
    }
    if (ifName) {
      try {
        await sandbox.netlink().setLink(ifName, { up: false });
      } catch {
        // Best-effort: the namespace (and the pair with it) may be gone already.
      }
    }
    try {
      await this.host.setLink(hostIf, { group: DOOMED_GROUP, ...(ifName ? {} : { up: false }) });
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    this.reaper.doomed();
  }

  /**
   * Takes the bridge out of Berth's sets, then sets it down and renames it
   * (its name is free for a new network at once) into the reaper's group.
   * A bridge the user made is never deleted: it loses only what Berth gave
   * it (its place in Berth's sets, the addresses and route_localnet Berth
   * set) and stays up, as dockerd leaves it.
   */
  async removeNetwork(net: NetworkRecord): Promise<void> {
    this.reaper.busy();
    const name = bridgeName(net);
    this.bridgeIndex.delete(name);
    this.firewall.removeBridge(name);
    if (!bridgeCreated(net)) {
      await this.giveBack(name, net.berth);
      return;
    }
    try {
      // Only a bridge: a link of that name that is not one was never Berth's.
      const link = await this.host.getLink(name);
      if (!link || link.kind !== 'bridge') return;
      await this.host.setLink(link.index, { up: false });
      await this.host.setLink(link.index, { name: doomedBridgeName(), group: DOOMED_GROUP });
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    this.reaper.doomed();
  }

  /** Takes off a user's bridge what Berth put on it (idempotent). */
  private async giveBack(name: string, own: NetworkRecord['berth']): Promise<void> {
    const link = await this.host.getLink(name);
    if (!link || link.kind !== 'bridge') return;
    for (const cidr of own?.addedAddresses ?? []) {
      await this.host.deleteAddress(link.index, cidr).catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
    }
    if (own?.setRouteLocalnet) writeSysctl(`net/ipv4/conf/${name}/route_localnet`, 0);
  }
}
