/**
 * The cluster's control plane as this host knows it (decision 0040): the
 * etcd endpoints berthd was given, every member's client and peer URLs as
 * the cluster lists them, and every host's advertise address (its Engine
 * API in the seed's setup, `--cluster-advertise IP:2375`). Containers may
 * not reach them through this host: the daemon hands the whole list to the
 * firewall each time it changes. Only addresses written as IPs can be
 * matched; a name (an etcd URL with a host name) is left out, and said once.
 *
 * Pure orchestration over the nodes' mirror and the store's member list.
 */
import { isIP } from 'node:net';
import { messageOf } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { KvStore } from '../store/types.js';
import { decodeNode } from './decode.js';
import { Mirror } from './mirror.js';
import { NODES, type NodeInfo } from './nodes.js';

/**
 * How long a change of the hosts waits for more before the list is read and
 * applied: a burst of registrations (a cluster starting) costs one member
 * read and one firewall change, not one per host.
 */
export const SETTLE_MS = 50;

/**
 * How often at most the member list is read again when hosts change: every
 * host would otherwise ask etcd at each registration anywhere in the
 * cluster. Members change far less often than hosts come and go.
 */
export const MEMBERS_EVERY_MS = 30_000;

/** How soon a member list that could not be read is asked for again. */
const RETRY_MS = 1000;

/** One TCP endpoint: an address and a port. */
export interface Endpoint {
  ip: string;
  port: number;
}

export interface ControlPlaneOptions {
  /** The etcd endpoints berthd was given (`--cluster-store`), as URLs. */
  configured: readonly string[];
  /** Every member's URLs, as the cluster lists them now. */
  members: () => Promise<string[]>;
  /** Takes the whole list each time it changes; a failure is logged and tried at the next change. */
  apply: (list: Endpoint[]) => void;
  log: Logger;
  /** At most how often the members are read again; default MEMBERS_EVERY_MS. */
  membersEveryMs?: number;
}

/**
 * An endpoint from a URL (`http://IP:PORT`) or an advertise address
 * (`IP:PORT`, `[IPv6]:PORT`); undefined for a host name or no port.
 */
export function endpointOf(text: string): Endpoint | undefined {
  let u: URL;
  try {
    u = new URL(text.includes('://') ? text : `tcp://${text}`);
  } catch {
    return undefined;
  }
  const ip = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : u.protocol === 'http:' ? 80 : 0));
  if (!isIP(ip) || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { ip, port };
}

export class ControlPlane {
  private readonly nodes: Mirror<NodeInfo>;
  private members: string[] = [];
  private applied = '';
  private readonly named = new Set<string>();
  private reading = false;
  /** When the member list was last asked for (0: never). */
  private membersAskedAt = 0;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    kv: KvStore,
    private readonly opts: ControlPlaneOptions,
  ) {
    this.nodes = new Mirror(kv, NODES, opts.log, decodeNode);
    // A host came or went: the members may have too.
    this.nodes.onChange(() => this.settle());
    void this.nodes.loaded.then(() => this.refresh());
    // The configured endpoints at once; the rest as they are read.
    this.publish();
  }

  /** The endpoints now, sorted, each once. */
  list(): Endpoint[] {
    const texts = [...this.opts.configured, ...this.members, ...this.nodes.all().keys()];
    const seen = new Map<string, Endpoint>();
    for (const t of texts) {
      const e = endpointOf(t);
      if (!e) {
        if (!this.named.has(t)) {
          this.named.add(t);
          this.opts.log.warn(
            `cluster: ${t} is not an IP address and port: containers are not kept from it`,
          );
        }
        continue;
      }
      seen.set(`${e.ip} ${e.port}`, e);
    }
    return [...seen.values()].sort((a, b) =>
      a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1,
    );
  }

  /** A refresh `ms` from the first of a burst of changes. */
  private settle(ms = SETTLE_MS): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refresh();
    }, ms);
  }

  /**
   * Applies what is known, then reads the member list again (at most every
   * `membersEveryMs`) and applies the result (one read at a time; a change
   * meanwhile reads once more).
   */
  private refresh(): void {
    this.publish();
    if (this.reading) {
      this.again = true;
      return;
    }
    const every = this.opts.membersEveryMs ?? MEMBERS_EVERY_MS;
    if (this.membersAskedAt && Date.now() - this.membersAskedAt < every) return;
    this.membersAskedAt = Date.now();
    this.reading = true;
    this.opts
      .members()
      .then(
        (m) => {
          this.members = m;
        },
        (e: unknown) => {
          this.opts.log.debug(`cluster: member list: ${messageOf(e)}`);
          // Asked again soon: a store that failed once is not 30 s of members unknown.
          this.membersAskedAt = 0;
          this.settle(RETRY_MS);
        },
      )
      .finally(() => {
        this.reading = false;
        if (this.closed) return;
        this.publish();
        if (this.again) {
          this.again = false;
          this.refresh();
        }
      });
  }

  private publish(): void {
    if (this.closed) return;
    const list = this.list();
    const key = JSON.stringify(list);
    if (key === this.applied) return;
    try {
      this.opts.apply(list);
      this.applied = key;
    } catch (e) {
      this.opts.log.warn(`cluster: keeping containers from the control plane: ${messageOf(e)}`);
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.nodes.close();
  }
}
