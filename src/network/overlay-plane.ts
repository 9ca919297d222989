/**
 * This host's side of the multi-host (overlay) networks: the data plane
 * follows the cluster store's endpoints (one peers update at a time per
 * network, coalesced, reported for the convergence wait of decision 0023),
 * each network's resolver in its namespace answers the other hosts'
 * endpoints too, and what a killed daemon left is swept once the store's
 * networks are read. The controller owns it when the daemon is in a
 * cluster; pure orchestration over the driver, the DNS and the store.
 */
import { existsSync } from 'node:fs';
import { messageOf } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { type OverlayDriver, gatewayOf } from './drivers/overlay/index.js';
import type { NetworkDns } from './endpoints.js';
import type { GlobalScope, NetworkDriver, NetworkRecord, PeerConvergence } from './types.js';

export interface OverlayPlaneDeps {
  global: GlobalScope;
  /** Reports what this host programmed; joins wait for the other hosts' (decision 0023). */
  convergence?: PeerConvergence;
  dns: NetworkDns;
  log: Logger;
  network: (id: string) => NetworkRecord | undefined;
  driver: (name: string) => NetworkDriver | undefined;
  overlay: () => OverlayDriver | undefined;
}

export class OverlayPlane {
  /** Per overlay network, the peers update in flight (one at a time). */
  private readonly peerUpdates = new Map<string, Promise<void>>();
  /** Per overlay network, the update queued behind it, not started: later changes join it. */
  private readonly peersQueued = new Map<string, Promise<void>>();
  /** Per overlay network this host takes part in: its resolver's address and namespace. */
  private readonly overlayListeners = new Map<string, { address: string; nsPath: string }>();
  /** Per overlay network: the other hosts' containers whose names the resolver has. */
  private readonly remoteNames = new Map<string, Set<string>>();

  constructor(private readonly d: OverlayPlaneDeps) {
    d.global.onEndpointsChange((netId) => void this.updatePeers(netId));
    // What the store had before this listener came (a restart): programmed once read.
    // What a killed daemon left of overlay namespaces is swept first.
    void d.global.loaded.then(async () => {
      // Asked as it goes: a network made meanwhile is known.
      const known = (id12: string) => d.global.list().find((n) => n.Id.startsWith(id12));
      await d
        .overlay()
        ?.sweep(known)
        .catch((e: unknown) => d.log.warn(`sweeping overlay namespaces: ${messageOf(e)}`));
      for (const n of d.global.list()) void this.updatePeers(n.Id);
    });
    // A network removed on any host: this host's part of it goes too.
    d.global.onNetworkRemoved((netId) => {
      void this.forget(netId).catch((e: unknown) =>
        d.log.warn(`removing overlay ${netId}: ${messageOf(e)}`),
      );
    });
  }

  /**
   * An overlay network's endpoints changed somewhere: this host's data plane
   * is made to match the store's view, one update at a time per network, if
   * this host takes part in the network (a driver that has no namespace for
   * it does nothing).
   */
  updatePeers(netId: string): Promise<void> {
    // An update not started yet reads the store's view when it starts: it has this change too.
    const queued = this.peersQueued.get(netId);
    if (queued) return queued;
    const next = (this.peerUpdates.get(netId) ?? Promise.resolve())
      .then(() => this.applyPeers(netId))
      .catch((e: unknown) =>
        this.d.log.error(`network ${this.d.network(netId)?.Name ?? netId}: peers: ${messageOf(e)}`),
      );
    this.peerUpdates.set(netId, next);
    this.peersQueued.set(netId, next);
    return next;
  }

  /** One peers update: the store's view now, programmed, then reported (decision 0023). */
  private async applyPeers(netId: string): Promise<void> {
    this.peersQueued.delete(netId);
    const net = this.d.network(netId);
    const driver = net && this.d.driver(net.Driver);
    const at = this.d.convergence?.revision();
    if (net && driver?.setPeers) {
      const peers = this.d.global.endpointsOf(netId).map((e) => ({
        ip: e.IPv4,
        mac: e.Mac,
        vtep: e.Vtep,
      }));
      await driver.setPeers(net, peers);
      await this.overlayNames(net);
    }
    if (at !== undefined) this.d.convergence?.applied(netId, at);
  }

  /**
   * A join on a multi-host network, before it returns: this host programs
   * the store's endpoints as of the join's commit `revision` or later, and
   * the other hosts of the network report they have programmed this one
   * (bounded; decision 0023). With `later`: returns once this host has
   * programmed, and hands `later` the rest of the wait.
   */
  async convergePeers(
    netId: string,
    revision: number,
    later?: (others: Promise<void>) => void,
  ): Promise<void> {
    if (!this.d.convergence) return this.updatePeers(netId);
    let programmed!: () => void;
    const here = new Promise<void>((r) => (programmed = r));
    const all = this.d.convergence.converge(netId, revision, async () => {
      try {
        await this.updatePeers(netId);
      } finally {
        programmed();
      }
    });
    if (!later) {
      await all;
      return;
    }
    // converge never rejects (it logs and bounds): `here` or its end, whichever first.
    await Promise.race([here, all]);
    later(all.then(() => undefined));
  }

  /** A network removed (here or on another host): this host's part of it goes. */
  async forget(netId: string): Promise<void> {
    await this.dropOverlayNames(netId);
    await this.d.overlay()?.removeNetworkById(netId);
  }

  /**
   * Names on an overlay network this host takes part in: a resolver in the
   * network's namespace on its gateway (each host answers its own
   * containers there), and the other hosts' endpoints as records beside the
   * local ones (which the join publishes).
   */
  private async overlayNames(net: NetworkRecord): Promise<void> {
    const overlay = this.d.overlay();
    const nsPath = overlay?.nsPath(net);
    if (!overlay || !nsPath || !existsSync(nsPath)) return;
    const gw = gatewayOf(net)?.split('/')[0];
    if (gw && !this.overlayListeners.has(net.Id)) {
      await this.d.dns.addListener(gw, net.Id, nsPath);
      this.overlayListeners.set(net.Id, { address: gw, nsPath });
    }
    const had = this.remoteNames.get(net.Id) ?? new Set<string>();
    const now = new Set<string>();
    for (const e of this.d.global.endpointsOf(net.Id)) {
      if (e.Vtep === overlay.vtep) continue;
      now.add(e.ContainerID);
      this.d.dns.records.upsertEndpoint({
        containerId: e.ContainerID,
        name: e.Name,
        aliases: e.Aliases,
        networkId: net.Id,
        networkName: net.Name,
        internal: net.Internal,
        ipv4: e.IPv4,
      });
    }
    for (const id of had) if (!now.has(id)) this.d.dns.records.removeEndpoint(id, net.Id);
    this.remoteNames.set(net.Id, now);
  }

  /** An overlay network gone: its resolver and the other hosts' names go too. */
  private async dropOverlayNames(netId: string): Promise<void> {
    for (const id of this.remoteNames.get(netId) ?? [])
      this.d.dns.records.removeEndpoint(id, netId);
    this.remoteNames.delete(netId);
    const l = this.overlayListeners.get(netId);
    this.overlayListeners.delete(netId);
    if (l) await this.d.dns.removeListener(l.address, l.nsPath);
  }
}
