/**
 * The hosts of a cluster, as the cluster store knows them: each berthd puts
 * `nodes/<advertise address>` (readable JSON) under a lease it keeps alive.
 * A host that dies disappears when its lease expires; one that stops cleanly
 * revokes it, so it disappears at once, unless its containers (which keep
 * running) have endpoints in the cluster: then the lease runs out as for a
 * dead host, so a restart within the TTL leaves the other hosts' data plane
 * alone (decision 0024). etcd is the whole membership protocol: no gossip of
 * Berth's own (the seed's `/docker/nodes/<ip:port>` is the model). Every
 * (re-)registration is announced (`onRegistered`): the host then reconciles
 * its endpoints with the store (rejoin.ts).
 *
 * Registration never blocks the daemon: with the store down, local work goes
 * on and the registry retries until the store answers again; a lease that
 * expired meanwhile (a host cut off for longer than the TTL) is replaced and
 * the node put again.
 */
import { hasCode, messageOf } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { KvStore, LeaseId } from '../store/types.js';
import { decodeAll, decodeNode } from './decode.js';

export const NODES = 'nodes/';

/** What a node publishes about itself. */
export interface NodeInfo {
  /** The advertise address other hosts reach it at (`ip:port`), also its key. */
  Addr: string;
  /** The host's name. */
  Name: string;
  /** The daemon's ID (`docker info`'s ID). */
  ID: string;
  Version: string;
  /** When this daemon started (RFC 3339). */
  StartedAt: string;
}

export interface NodeRegistryOptions {
  /** Seconds the node outlives its daemon (the lease's TTL). */
  ttlSeconds: number;
  /** Seconds between renewals (below the TTL). */
  heartbeatSeconds: number;
  log: Logger;
  /** Timers, for tests; default setTimeout/clearTimeout. */
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

export class NodeRegistry {
  private lease: LeaseId | undefined;
  private timer: unknown;
  private closed = false;
  /** Settles when the node is in the store (again); for tests and `docker info`. */
  private registered: Promise<void>;
  private markRegistered!: () => void;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly kv: KvStore,
    readonly self: NodeInfo,
    private readonly opts: NodeRegistryOptions,
  ) {
    this.registered = new Promise((r) => (this.markRegistered = r));
  }

  /** The key this node lives at. */
  get key(): string {
    return NODES + this.self.Addr;
  }

  /** The lease the node is registered under; undefined while it is not. */
  get leaseId(): LeaseId | undefined {
    return this.lease;
  }

  /** Starts registering and keeping alive in the background. */
  start(): void {
    this.schedule(0);
  }

  /** Resolves once the node has been put in the store. */
  whenRegistered(): Promise<void> {
    return this.registered;
  }

  /** Whether the node is in the store as far as this host knows (it holds a lease). */
  get isRegistered(): boolean {
    return this.lease !== undefined;
  }

  /** Calls `fn` after every registration: the first, and each after a lost lease. */
  onRegistered(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Every node the store lists now. */
  async list(): Promise<NodeInfo[]> {
    return decodeAll(await this.kv.list(NODES), NODES, decodeNode);
  }

  /**
   * Stops keeping alive. With `revoke` (the default) the lease goes and the
   * node with it at once; without, the node stays until the lease expires.
   */
  async close(opts: { revoke?: boolean } = {}): Promise<void> {
    this.closed = true;
    (this.opts.clearTimer ?? clearTimeout)(this.timer as NodeJS.Timeout);
    const lease = this.lease;
    this.lease = undefined;
    if (lease && opts.revoke !== false) await this.kv.revokeLease(lease).catch(() => undefined);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    const set = this.opts.setTimer ?? setTimeout;
    this.timer = set(() => void this.tick(), ms);
  }

  /** One step: register when there is no lease, else renew it. */
  private async tick(): Promise<void> {
    const renewMs = this.opts.heartbeatSeconds * 1000;
    try {
      if (!this.lease) {
        await this.register();
      } else {
        try {
          await this.kv.keepAlive(this.lease);
        } catch (e) {
          if (!hasCode(e, 'NOT_FOUND')) throw e;
          // Expired while the store was out of reach: our key went with it.
          this.opts.log.warn(
            `cluster: the lease of node ${this.self.Addr} expired; registering again`,
          );
          this.lease = undefined;
          await this.register();
        }
      }
      this.schedule(renewMs);
    } catch (e) {
      this.opts.log.warn(`cluster: node ${this.self.Addr}: ${messageOf(e)}; retrying`);
      this.schedule(Math.min(renewMs, 1000));
    }
  }

  private async register(): Promise<void> {
    const lease = await this.kv.grantLease(this.opts.ttlSeconds);
    if (this.closed) {
      await this.kv.revokeLease(lease).catch(() => undefined);
      return;
    }
    await this.kv.put(this.key, JSON.stringify(this.self), { lease });
    this.lease = lease;
    this.opts.log.info(`cluster: node ${this.self.Addr} registered`);
    this.markRegistered();
    for (const fn of this.listeners) {
      try {
        fn();
      } catch (e) {
        this.opts.log.error(`cluster: after registering: ${messageOf(e)}`);
      }
    }
  }
}
