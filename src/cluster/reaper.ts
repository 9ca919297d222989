/**
 * Dead hosts' endpoints leave the cluster (issue 13; decision 0024). Every
 * host follows `nodes/`; when a node goes (its lease expired, or it stopped
 * cleanly with nothing in the cluster) and once at start, each host sweeps
 * the endpoints of every host that is not registered, taking each out of
 * the store with its address in one guarded transaction
 * (`GlobalNetworks.reap`: only while the node is still absent and the
 * endpoint unchanged), so hosts racing free an address once and a host that
 * came back keeps its endpoints. The other hosts' data planes drop the
 * entries from their endpoint mirrors (`OverlayPlane.updatePeers`).
 *
 * This host's own endpoints are never reaped here: it reconciles them itself
 * when it registers (rejoin.ts).
 */
import { messageOf } from '../common/errors.js';
import { Rerun } from '../common/rerun.js';
import type { Logger } from '../common/log.js';
import type { GlobalEndpoint } from '../network/types.js';
import type { KvStore } from '../store/types.js';
import { decodeNode } from './decode.js';
import { Mirror } from './mirror.js';
import type { GlobalNetworks } from './networks.js';
import { NODES, type NodeInfo } from './nodes.js';

/**
 * The endpoints to reap: those of hosts that are not registered, other than
 * `self` (pure).
 */
export function orphans(
  endpoints: readonly GlobalEndpoint[],
  registered: ReadonlySet<string>,
  self: string,
): GlobalEndpoint[] {
  return endpoints.filter((e) => e.Node !== self && !registered.has(e.Node));
}

export class Reaper {
  private readonly nodes: Mirror<NodeInfo>;
  private closed = false;
  private readonly runs = new Rerun(
    () =>
      this.sweepOnce().catch((e: unknown) =>
        this.log.warn(`cluster: reaping dead hosts' endpoints: ${messageOf(e)}`),
      ),
    () => this.closed,
  );

  constructor(
    private readonly kv: KvStore,
    private readonly global: GlobalNetworks,
    /** This host's advertise address. */
    private readonly self: string,
    private readonly log: Logger,
  ) {
    this.nodes = new Mirror(kv, NODES, log, decodeNode);
    this.nodes.onChange((addr) => {
      if (addr !== self && !this.nodes.get(addr)) void this.sweep();
    });
    // Hosts that died while no host watched: swept once both lists are read.
    void Promise.all([this.nodes.loaded, global.whenLoaded()]).then(() => this.sweep());
  }

  /**
   * Reaps every endpoint of an unregistered host, as the store has them now;
   * a sweep asked for while one runs runs again after it. Resolves when done.
   */
  sweep(): Promise<void> {
    return this.runs.run();
  }

  private async sweepOnce(): Promise<void> {
    if (this.closed) return;
    const registered = new Set((await this.kv.list(NODES)).map((e) => e.key.slice(NODES.length)));
    const stored = await this.global.storedEndpoints();
    for (const ep of orphans(stored, registered, this.self)) {
      if (this.closed) return;
      if (await this.global.reap(ep.NetworkID, ep.Id)) {
        this.log.info(
          `cluster: host ${ep.Node} is gone: released its endpoint ${ep.Id.slice(0, 12)} (${ep.IPv4})`,
        );
      }
    }
  }

  close(): void {
    this.closed = true;
    this.nodes.close();
  }
}
