/**
 * Publishing a container's ports: host ports chosen (PortAllocator), held by
 * a bound socket (kernel/ports), and mapped to the container by one nftables
 * batch of map elements, whatever their number. Undone in reverse. One owner
 * (a container) publishes through one endpoint at a time, as in Docker.
 */
import { BerthError, messageOf } from '../../common/errors.js';
import type { Firewall, PortMapping, Proto } from '../../kernel/firewall/index.js';
import { BindError, holdPort, type HeldPort } from '../../kernel/ports/reserve.js';
import { PortAllocator, type HostPort } from './allocator.js';
import type { PortRequest, PublishedPort } from './spec.js';

/** Tries per `-p 80`/`-P` port when a host process holds the one picked (Docker: 10). */
const MAX_ATTEMPTS = 10;

interface Owned {
  ports: PublishedPort[];
  held: HeldPort[];
  /** Set once the map elements are in: the addresses they point at. */
  containerIp?: string;
  containerIp6?: string;
}

const taken = (p: PublishedPort): HostPort => ({
  proto: p.proto,
  hostIp: p.hostIp,
  port: p.hostPort,
});

const shownIp = (ip: string): string => (ip === '' ? '0.0.0.0' : ip);

/** Docker's portallocator messages: a taken port, or no free port left in a range. */
function allocated(r: PortRequest, port?: number): BerthError {
  return new BerthError(
    'INTERNAL',
    port === undefined
      ? 'all ports are allocated'
      : `Bind for ${shownIp(r.hostIp)}:${port} failed: port is already allocated`,
  );
}

/** The firewall's view of one published port: to the container's address of the host address's family. */
export function mappingOf(
  p: PublishedPort,
  containerIp: string,
  containerIp6?: string,
): PortMapping {
  return {
    proto: p.proto,
    hostIp: p.hostIp,
    hostPort: p.hostPort,
    containerIp: p.hostIp.includes(':') ? (containerIp6 ?? '') : containerIp,
    containerPort: p.containerPort,
  };
}

export class PortPublisher {
  private readonly alloc: PortAllocator;
  private readonly owners = new Map<string, Owned>();

  constructor(
    private readonly firewall: Firewall,
    /** The ephemeral range `-p 80` and `-P` pick from. */
    range?: [number, number],
    /** Drops the kernel's conntrack entries to a host port (UDP and SCTP "flows" outlive their mapping). */
    private readonly forget: (proto: Proto, port: number) => Promise<void> = () =>
      Promise.resolve(),
    private readonly hold: typeof holdPort = holdPort,
  ) {
    this.alloc = new PortAllocator(range);
  }

  /** What `owner` publishes (empty when nothing). */
  published(owner: string): PublishedPort[] {
    return this.owners.get(owner)?.ports ?? [];
  }

  /** Every published port and where it points (for reconciling the firewall). */
  mappings(): PortMapping[] {
    const out: PortMapping[] = [];
    for (const o of this.owners.values()) {
      if (o.containerIp)
        for (const p of o.ports) out.push(mappingOf(p, o.containerIp, o.containerIp6));
    }
    return out;
  }

  /**
   * Chooses and holds a host port for every request; all or nothing. Throws
   * with Docker's message when a port is taken by another container or a
   * host process (or no port of a range is free).
   */
  async reserve(owner: string, reqs: PortRequest[], ipv6 = false): Promise<PublishedPort[]> {
    if (this.owners.has(owner)) throw new Error(`${owner.slice(0, 12)} already publishes ports`);
    const o: Owned = { ports: [], held: [] };
    this.owners.set(owner, o);
    try {
      for (const r of reqs) {
        // An IPv6 host address needs an IPv6 container address (no proxy).
        if (r.hostIp.includes(':') && !ipv6) continue;
        const port = await this.reserveOne(owner, o, r);
        // "Every address" on a dual-stack container: the same port on IPv6.
        if (r.hostIp === '' && ipv6 && !r.v4Only) {
          await this.reserveOne(owner, o, { ...r, hostIp: '::', hostPorts: [port, port] });
        }
      }
    } catch (e) {
      await this.release(owner);
      throw e;
    }
    return o.ports;
  }

  private async reserveOne(owner: string, o: Owned, r: PortRequest): Promise<number> {
    const [lo, hi] = r.hostPorts;
    const fixed = lo !== 0 && lo === hi;
    const tried = new Set<number>();
    for (let attempt = 1; ; attempt++) {
      let port: number | undefined;
      if (fixed) {
        port = lo;
        if (this.alloc.holder({ proto: r.proto, hostIp: r.hostIp, port })) throw allocated(r, port);
      } else {
        port = this.alloc.next(r.proto, r.hostIp, lo === 0 ? undefined : [lo, hi], tried);
        if (port === undefined) throw allocated(r);
      }
      const hp: HostPort = { proto: r.proto, hostIp: r.hostIp, port };
      // Taken before the await: a concurrent reservation must not pick it too.
      this.alloc.take(hp, owner);
      try {
        o.held.push(await this.hold(r.proto, r.hostIp, port));
        o.ports.push({
          proto: r.proto,
          hostIp: r.hostIp,
          hostPort: port,
          containerPort: r.containerPort,
        });
        return port;
      } catch (e) {
        this.alloc.release(hp, owner);
        const busy = e instanceof BindError && e.code === 'EADDRINUSE';
        if (fixed || !busy || attempt >= MAX_ATTEMPTS) {
          throw new BerthError('INTERNAL', messageOf(e));
        }
        tried.add(port);
      }
    }
  }

  /** Points the reserved ports at the container (one firewall batch). */
  async activate(owner: string, containerIp: string, containerIp6?: string): Promise<void> {
    const o = this.owners.get(owner);
    if (!o || o.ports.length === 0) return;
    this.firewall.addPortMapping(o.ports.map((p) => mappingOf(p, containerIp, containerIp6)));
    o.containerIp = containerIp;
    o.containerIp6 = containerIp6;
    await this.forgetFlows(o.ports);
  }

  private async forgetFlows(ports: readonly PublishedPort[]): Promise<void> {
    for (const p of ports) if (p.proto !== 'tcp') await this.forget(p.proto, p.hostPort);
  }

  /**
   * Takes back ports recorded before a daemon restart: the allocator and the
   * firewall learn them again; a socket that cannot be re-bound is reported
   * through `onError` (the mapping still works; the port is just not held).
   */
  async adopt(
    owner: string,
    ports: PublishedPort[],
    ip: { v4: string; v6?: string },
    onError: (msg: string) => void,
  ): Promise<void> {
    const o: Owned = { ports: [], held: [], containerIp: ip.v4, containerIp6: ip.v6 };
    this.owners.set(owner, o);
    for (const p of ports) {
      this.alloc.take(taken(p), owner);
      o.ports.push(p);
      try {
        o.held.push(await this.hold(p.proto, p.hostIp, p.hostPort));
      } catch (e) {
        onError(messageOf(e));
      }
    }
    this.firewall.addPortMapping(ports.map((p) => mappingOf(p, ip.v4, ip.v6)));
  }

  /**
   * Unpublishes everything `owner` has: map elements, sockets, allocations.
   * `recorded` covers a daemon that restarted in between (nothing in memory):
   * its elements are removed from what the endpoint record says.
   */
  async release(
    owner: string,
    recorded?: { ports: PublishedPort[]; containerIp?: string; containerIp6?: string },
  ): Promise<void> {
    const o = this.owners.get(owner);
    this.owners.delete(owner);
    const ports = o?.ports ?? recorded?.ports ?? [];
    const ip = o ? o.containerIp : recorded?.containerIp;
    const ip6 = o ? o.containerIp6 : recorded?.containerIp6;
    try {
      if (ip && ports.length) {
        this.firewall.removePortMapping(ports.map((p) => mappingOf(p, ip, ip6)));
      }
    } finally {
      // A failed firewall change must not keep the ports: they would stay
      // taken (and their sockets open) until the daemon restarts.
      for (const h of o?.held ?? []) await h.close();
      for (const p of o?.ports ?? []) this.alloc.release(taken(p), owner);
    }
    await this.forgetFlows(ports);
  }
}
