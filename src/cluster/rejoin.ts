/**
 * A host that (re-)registers reconciles its own endpoints with the cluster
 * store, both ways (issue 13; decision 0024): after a SIGKILLed berthd
 * restarts, or once its lease expired while it was cut off and the other
 * hosts reaped its endpoints (reaper.ts).
 *
 * - An endpoint this host has (its record in the local store) that the
 *   cluster store lacks is put back with the same address if that address
 *   is still free (`GlobalNetworks.restore`, one transaction); if another
 *   endpoint took it meanwhile, the container loses that network (`onLost`),
 *   never the same address on two endpoints; if the network is gone, the
 *   local record goes.
 * - An endpoint of this host in the cluster store that no local record names
 *   (a daemon killed between the cluster's attach and the local record, an
 *   attach whose answer was lost, a detach that failed) is removed with its
 *   address. The store is read before the local records: a join writes its
 *   record before its attach, so an endpoint the store shows has its record
 *   by then, unless it is on its way out.
 * - An endpoint named differently in the store than here (a daemon killed
 *   between a rename's cluster write and its local commit, a rename's undo
 *   that failed) is renamed in the store as its record names it, unless a
 *   rename of its container is under way.
 * - A reaped endpoint's address is kept under a tombstone naming this host;
 *   `restore` takes it back, and one whose endpoint is gone here is freed.
 *
 * Runs after the local recovery (the local records are then those of running
 * containers) and again after every registration; one run at a time. When
 * the cluster's records may disagree with this host's (`onUnsettled`), it
 * runs soon, and again after every failed run, backing off, until one succeeds.
 */
import { messageOf } from '../common/errors.js';
import { Rerun } from '../common/rerun.js';
import type { Logger } from '../common/log.js';
import type { EndpointRecord } from '../network/records.js';
import type { GlobalEndpoint } from '../network/types.js';
import type { GlobalNetworks } from './networks.js';
import type { NodeRegistry } from './nodes.js';

/** What the reconcile needs of this host's endpoints (the network layer's `Endpoints`). */
export interface HostEndpoints {
  /** This host's endpoint records on networks it does not keep itself: global ones, or unknown. */
  notLocal(): Promise<EndpointRecord[]>;
  /** Makes a kept endpoint's names resolvable (again). */
  republish(ep: EndpointRecord): void;
  /** The endpoint's name in its record; `undefined` while its container is being renamed, or without a record. */
  nameNow(
    ep: Pick<EndpointRecord, 'ContainerID' | 'NetworkID' | 'Id'>,
  ): Promise<string | undefined>;
  /** Whether the record is still there. */
  hasRecord(ep: Pick<EndpointRecord, 'ContainerID' | 'NetworkID' | 'Id'>): Promise<boolean>;
  /** Drops the record of an endpoint whose network is gone (its kernel side went with it). */
  forget(ep: Pick<EndpointRecord, 'ContainerID' | 'NetworkID'>): Promise<void>;
}

/** What to do, from this host's records and the store's endpoints (pure). */
export function rejoinPlan(
  local: readonly EndpointRecord[],
  stored: readonly GlobalEndpoint[],
  self: string,
): { restore: EndpointRecord[]; remove: GlobalEndpoint[]; rename: EndpointRecord[] } {
  const inStore = new Map(stored.map((e) => [e.Id, e]));
  const here = new Set(local.map((e) => e.Id));
  return {
    restore: local.filter((e) => !inStore.has(e.Id) && e.IPv4 !== undefined),
    remove: stored.filter((e) => e.Node === self && !here.has(e.Id)),
    rename: local.filter((e) => {
      const s = inStore.get(e.Id);
      return s !== undefined && s.Node === self && e.Name !== undefined && s.Name !== e.Name;
    }),
  };
}

/** The first wait before a reconcile asked for by `settle`, and the longest between failed ones. */
const SETTLE_FIRST_MS = 500;
const SETTLE_MAX_MS = 30_000;

export class Rejoin {
  private closed = false;
  private lastRunFailed = false;
  private settleTimer: NodeJS.Timeout | undefined;
  private settleWait: number;
  private settleAgain = false;
  private readonly runs = new Rerun(
    () =>
      this.runOnce().then(
        () => {
          this.lastRunFailed = false;
        },
        (e: unknown) => {
          this.lastRunFailed = true;
          this.log.error(
            `cluster: reconciling this host's endpoints: ${messageOf(e)}; trying again`,
          );
          // Whatever asked for it (a registration too): again until one succeeds.
          this.settle();
        },
      ),
    () => this.closed,
  );

  constructor(
    private readonly global: GlobalNetworks,
    private readonly local: HostEndpoints,
    /** This host's advertise address. */
    private readonly self: string,
    private readonly log: Logger,
    /** Takes the container off the network: its address is another endpoint's now. */
    private readonly onLost: (ep: EndpointRecord, why: string) => Promise<void>,
    /** The first wait of `settle`, and its wait again after a run that succeeded. */
    private readonly settleFirstMs = SETTLE_FIRST_MS,
  ) {
    this.settleWait = settleFirstMs;
  }

  /** Runs now if the node is registered, and after every registration. */
  follow(nodes: NodeRegistry): void {
    nodes.onRegistered(() => void this.run());
    if (nodes.isRegistered) void this.run();
  }

  /** One reconcile (one more after it, if asked for while it runs). */
  run(): Promise<void> {
    return this.runs.run();
  }

  /**
   * A reconcile soon, and again after each one that fails (the store down),
   * waiting twice as long each time, until one succeeds.
   */
  settle(): void {
    if (this.closed) return;
    if (this.settleTimer) {
      // Waiting: the coming run covers it; running: one more after it.
      this.settleAgain = true;
      return;
    }
    this.settleTimer = setTimeout(() => {
      this.settleAgain = false;
      void this.run().then(() => {
        this.settleTimer = undefined;
        this.settleWait = this.lastRunFailed
          ? Math.min(this.settleWait * 2, SETTLE_MAX_MS)
          : this.settleFirstMs;
        if (this.lastRunFailed || this.settleAgain) this.settle();
      });
    }, this.settleWait);
    this.settleTimer.unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.settleTimer);
  }

  private async runOnce(): Promise<void> {
    await this.global.whenLoaded();
    if (this.closed) return;
    // The store first (see the top of this file).
    const stored = await this.global.storedEndpoints();
    const local = await this.local.notLocal();
    const plan = rejoinPlan(local, stored, this.self);
    const kept = new Set<string>();
    for (const ep of plan.restore) {
      if (this.closed) return;
      const what = `endpoint ${ep.Id.slice(0, 12)} (${ep.IPv4}) of container ${ep.ContainerID.slice(0, 12)}`;
      const r = await this.global.restore({
        Id: ep.Id,
        NetworkID: ep.NetworkID,
        ContainerID: ep.ContainerID,
        Name: ep.Name ?? '',
        Aliases: ep.Aliases ?? [],
        IPv4: ep.IPv4!,
        PrefixLen: ep.PrefixLen ?? 0,
        Mac: ep.Mac ?? '',
      });
      if (r === 'unregistered') return; // the next registration runs again
      if (r === 'restored' || r === 'present') kept.add(ep.Id);
      if (r === 'restored') {
        this.log.warn(`cluster: ${what} was not in the cluster store: put back`);
        // Removed here meanwhile (rm, a failed join): its removal may have missed the new entry.
        if (!(await this.local.hasRecord(ep))) await this.global.detach(ep.NetworkID, ep.Id);
      } else if (r === 'taken') {
        const why = `its address ${ep.IPv4} was given to another endpoint while this host was away`;
        this.log.error(`cluster: ${what}: ${why}; the container leaves network ${ep.NetworkID}`);
        await this.onLost(ep, why).catch((e: unknown) =>
          this.log.error(`cluster: taking ${what} off its network: ${messageOf(e)}`),
        );
      } else if (r === 'gone') {
        this.log.warn(`cluster: ${what}: network ${ep.NetworkID} was removed; forgetting it`);
        await this.local.forget(ep);
      }
    }
    // Named in the store as here (a rename's second write or its undo missed).
    for (const ep of plan.rename) {
      if (this.closed) return;
      const was = await this.global.conform(ep.NetworkID, ep.Id, () => this.local.nameNow(ep));
      if (was !== undefined) {
        this.log.warn(
          `cluster: endpoint ${ep.Id.slice(0, 12)} was named ${JSON.stringify(was)} in the cluster store, not as here: renamed`,
        );
      }
    }
    // Kept endpoints' names: start-up reconcile skips those of networks not read yet.
    const lost = new Set(plan.restore.filter((e) => !kept.has(e.Id)).map((e) => e.Id));
    for (const ep of local) if (!lost.has(ep.Id)) this.local.republish(ep);
    for (const e of plan.remove) {
      if (this.closed) return;
      this.log.warn(
        `cluster: endpoint ${e.Id.slice(0, 12)} (${e.IPv4}) of this host has no container here: removed`,
      );
      await this.global.detach(e.NetworkID, e.Id);
    }
    // Addresses the other hosts kept for endpoints of this host that are gone here too.
    const here = new Set(local.map((e) => e.Id));
    for (const t of await this.global.ownTombstones()) {
      if (this.closed || here.has(t.endpoint)) continue;
      this.log.info(`cluster: freeing the address kept for endpoint ${t.endpoint.slice(0, 12)}`);
      await this.global.dropTombstone(t.network, t.owner);
    }
  }
}
