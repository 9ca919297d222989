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
import type {
  GlobalEndpoint,
  GlobalScope,
  NetworkDriver,
  NetworkRecord,
  Peer,
  PeerConvergence,
} from './types.js';

export interface OverlayPlaneDeps {
  global: GlobalScope;
  /** Reports what this host programmed; joins wait for the other hosts' (decision 0023). */
  convergence?: PeerConvergence;
  dns: NetworkDns;
  log: Logger;
  /** This host's tunnel source: the endpoints with another are the other hosts'. */
  vtep: string;
  network: (id: string) => NetworkRecord | undefined;
  driver: (name: string) => NetworkDriver | undefined;
  overlay: () => OverlayDriver | undefined;
}

export class OverlayPlane {
  /** Per overlay network, the peers update in flight (one at a time). */
  private readonly peerUpdates = new Map<string, Promise<void>>();
  /** Per overlay network, the update queued behind it, not started: later changes join it. */
  private readonly peersQueued = new Map<string, Promise<void>>();
  /**
   * Per overlay network, what its next update applies: the endpoints that
   * changed since the last one (IDs), or `all` (the whole network, as the
   * store's view has it: when it is new here, or after an update failed).
   */
  private readonly changed = new Map<string, Set<string> | 'all'>();
  /**
   * Per overlay network this host takes part in: the other hosts' endpoints
   * as programmed (FDB, neighbour, resolver names), by endpoint ID. An
   * update applies what changed against it, so a change costs the same
   * with 10 endpoints on the network as with 10,000.
   */
  private readonly programmed = new Map<string, Map<string, GlobalEndpoint>>();
  /**
   * Overlay networks this host was found not to take part in: their changes
   * cost nothing here. A host starts taking part with a join of its own (or
   * a restart), whose update reads all.
   */
  private readonly notHere = new Set<string>();
  /** Per overlay network this host takes part in: its resolver's address and namespace. */
  private readonly overlayListeners = new Map<string, { address: string; nsPath: string }>();
  /** Settles once the store's networks are read and what a killed daemon left is swept. */
  private readonly swept: Promise<void>;

  constructor(private readonly d: OverlayPlaneDeps) {
    d.global.onEndpointsChange((netId, epId) => void this.updatePeers(netId, epId));
    // What the store had before this listener came (a restart): programmed once read.
    // What a killed daemon left of overlay namespaces is swept first.
    this.swept = d.global.loaded.then(async () => {
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
   * After the daemon's start-up reconcile of its endpoint records, once the
   * store's networks are read: deletes the veths on this host's overlay
   * bridges that no endpoint record names (`named`: the links of every
   * record, read as late as possible).
   */
  async sweepStrays(named: () => Promise<ReadonlySet<string>>): Promise<void> {
    await this.swept;
    const driver = this.d.overlay();
    if (!driver) return;
    for (const net of this.d.global.list()) {
      const gone = await driver
        .deleteStrays(net, named)
        .catch((e: unknown) => this.d.log.warn(`${net.Name}: stray links: ${messageOf(e)}`));
      for (const name of gone ?? []) {
        this.d.log.warn(`deleted ${name} on overlay ${net.Name}: no endpoint of this host has it`);
      }
    }
  }

  /**
   * An overlay network's endpoint `endpointId` changed somewhere (without
   * it: the network may be new here, read all of it unless it is programmed
   * already): this host's data plane is made to match the store's view, one
   * update at a time per network, if this host takes part in the network (a
   * driver that has no namespace for it does nothing).
   */
  updatePeers(netId: string, endpointId?: string): Promise<void> {
    const c = this.changed.get(netId);
    if (endpointId === undefined) {
      if (!this.programmed.has(netId)) this.changed.set(netId, 'all');
    } else if (c === undefined) this.changed.set(netId, new Set([endpointId]));
    else if (c !== 'all') c.add(endpointId);
    // An update not started yet reads the store's view when it starts: it has this change too.
    const queued = this.peersQueued.get(netId);
    if (queued) return queued;
    const next = (this.peerUpdates.get(netId) ?? Promise.resolve())
      .then(() => this.applyPeers(netId))
      .catch((e: unknown) => {
        this.changed.set(netId, 'all'); // not known what was done: the next update reads all
        this.d.log.error(`network ${this.d.network(netId)?.Name ?? netId}: peers: ${messageOf(e)}`);
      });
    this.peerUpdates.set(netId, next);
    this.peersQueued.set(netId, next);
    return next;
  }

  /** One peers update: the store's view now, programmed, then reported (decision 0023). */
  private async applyPeers(netId: string): Promise<void> {
    this.peersQueued.delete(netId);
    const changed = this.changed.get(netId) ?? new Set<string>();
    this.changed.delete(netId);
    const net = this.d.network(netId);
    const driver = net && this.d.driver(net.Driver);
    const at = this.d.convergence?.revision();
    const skip = changed !== 'all' && this.notHere.has(netId);
    if (net && driver?.setPeers && driver.changePeers && !skip) {
      const had = this.programmed.get(netId);
      const done =
        had !== undefined &&
        changed !== 'all' &&
        (await this.changePeers(net, driver.changePeers.bind(driver), had, changed));
      if (!done) await this.setPeers(net, driver.setPeers.bind(driver), had);
    }
    if (at !== undefined) this.d.convergence?.applied(netId, at);
  }

  /** The other host's endpoint `id` of the network, as the store's view has it now. */
  private remote(netId: string, id: string): GlobalEndpoint | undefined {
    const e = this.d.global.endpoint(netId, id);
    return e && e.Vtep !== this.d.vtep ? e : undefined;
  }

  /** The endpoints that changed, applied on what is programmed; false if the driver needs all. */
  private async changePeers(
    net: NetworkRecord,
    change: NonNullable<NetworkDriver['changePeers']>,
    had: Map<string, GlobalEndpoint>,
    ids: Set<string>,
  ): Promise<boolean> {
    // Read now, before any wait: later changes come with the next update.
    const now = new Map([...ids].map((id) => [id, this.remote(net.Id, id)]));
    const gone: GlobalEndpoint[] = [];
    const came: GlobalEndpoint[] = [];
    for (const [id, e] of now) {
      const before = had.get(id);
      if (before && e && sameEndpoint(before, e)) continue;
      if (before) gone.push(before);
      if (e) came.push(e);
    }
    if (!gone.length && !came.length) return true;
    if (!(await change(net, { gone: gone.map(peerOf), came: came.map(peerOf) }))) return false;
    for (const [id, e] of now) {
      if (e) had.set(id, e);
      else had.delete(id);
    }
    this.changeNames(net, gone, came);
    return true;
  }

  /** The whole network as the store's view has it, if this host takes part in it. */
  private async setPeers(
    net: NetworkRecord,
    set: NonNullable<NetworkDriver['setPeers']>,
    had: Map<string, GlobalEndpoint> | undefined,
  ): Promise<void> {
    const now = new Map<string, GlobalEndpoint>();
    for (const e of this.d.global.endpointsOf(net.Id)) if (e.Vtep !== this.d.vtep) now.set(e.Id, e);
    if (!(await set(net, [...now.values()].map(peerOf)))) {
      // Not (or no longer) part of it here: the next update, when it is, reads all.
      if (had) this.changeNames(net, [...had.values()], []);
      this.programmed.delete(net.Id);
      // (A network removed meanwhile is forgotten, not remembered as not here.)
      if (this.d.network(net.Id)) this.notHere.add(net.Id);
      return;
    }
    this.notHere.delete(net.Id);
    await this.listen(net);
    this.changeNames(net, [...(had?.values() ?? [])], [...now.values()]);
    this.programmed.set(net.Id, now);
  }

  /**
   * A join on a multi-host network, before it returns: this host programs
   * the store's endpoints as of the join's commit `revision` or later, and
   * the other hosts of the network report they have programmed this one
   * (bounded; decision 0023), unless `others` is false (a connect,
   * decision 0039). With `later`: returns once this host has programmed,
   * and hands `later` the rest of the wait.
   */
  async convergePeers(
    netId: string,
    revision: number,
    later?: (others: Promise<void>) => void,
    others = true,
  ): Promise<void> {
    if (!this.d.convergence) return this.updatePeers(netId);
    let programmed!: () => void;
    const here = new Promise<void>((r) => (programmed = r));
    const program = async () => {
      try {
        await this.updatePeers(netId);
      } finally {
        programmed();
      }
    };
    const all = this.d.convergence.converge(netId, revision, program, others);
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
   * containers there, the other hosts' endpoints as records beside the
   * local ones, which the join publishes: changeNames).
   */
  private async listen(net: NetworkRecord): Promise<void> {
    const nsPath = this.d.overlay()?.nsPath(net);
    const gw = gatewayOf(net)?.split('/')[0];
    if (!gw || !nsPath || this.overlayListeners.has(net.Id) || !existsSync(nsPath)) return;
    await this.d.dns.addListener(gw, net.Id, nsPath);
    this.overlayListeners.set(net.Id, { address: gw, nsPath });
  }

  /** The other hosts' endpoints `gone` leave the resolver's records and `came` enter them. */
  private changeNames(net: NetworkRecord, gone: GlobalEndpoint[], came: GlobalEndpoint[]): void {
    const records = this.d.dns.records;
    const staying = new Set(came.map((e) => e.ContainerID));
    for (const e of gone)
      if (!staying.has(e.ContainerID)) records.removeEndpoint(e.ContainerID, net.Id, true);
    for (const e of came) {
      const added = records.upsertEndpoint({
        containerId: e.ContainerID,
        name: e.Name,
        aliases: e.Aliases,
        networkId: net.Id,
        networkName: net.Name,
        internal: net.Internal,
        ipv4: e.IPv4,
        remote: true,
      });
      if (!added)
        this.d.log.warn(
          `network ${net.Name}: endpoint ${e.Id.slice(0, 12)} of host ${e.Node} names container ${e.ContainerID.slice(0, 12)}, one of this host's: its names are not answered`,
        );
    }
  }

  /** An overlay network gone: its resolver and the other hosts' names go too. */
  private async dropOverlayNames(netId: string): Promise<void> {
    for (const e of this.programmed.get(netId)?.values() ?? [])
      this.d.dns.records.removeEndpoint(e.ContainerID, netId, true);
    this.programmed.delete(netId);
    this.changed.delete(netId);
    this.notHere.delete(netId);
    const l = this.overlayListeners.get(netId);
    this.overlayListeners.delete(netId);
    if (l) await this.d.dns.removeListener(l.address, l.nsPath);
  }
}

const peerOf = (e: GlobalEndpoint): Peer => ({ ip: e.IPv4, mac: e.Mac, vtep: e.Vtep });

/** Whether a remote endpoint changed nothing this host programs for it. */
function sameEndpoint(a: GlobalEndpoint, b: GlobalEndpoint): boolean {
  return (
    a.IPv4 === b.IPv4 &&
    a.Mac === b.Mac &&
    a.Vtep === b.Vtep &&
    a.ContainerID === b.ContainerID &&
    a.Name === b.Name &&
    a.Aliases.join('\0') === b.Aliases.join('\0')
  );
}
