/**
 * Which host ports are taken, and by which owner (pure, in memory; rebuilt
 * from the endpoint records when the daemon starts). A port on all addresses
 * conflicts with the same port on any one address and the other way round,
 * as Docker's portallocator decides. Free ports for `-p 80` and `-P` are
 * handed out in order from the ephemeral range (and from a `-p` host range),
 * continuing after the last one given per protocol and host address, so a port just freed is not reused at once.
 */
import type { Proto } from '../../kernel/firewall/index.js';

/** One taken host port. */
export interface HostPort {
  proto: Proto;
  /** '' = every IPv4 address, '::' every IPv6 address. */
  hostIp: string;
  port: number;
}

export class PortAllocator {
  /** `proto/port` → (host address → owner). */
  private readonly taken = new Map<string, Map<string, string>>();
  /** Next-fit: the last port handed out, per protocol and host address. */
  private readonly last = new Map<string, number>();

  constructor(
    /** The ephemeral range (Linux's ip_local_port_range), inclusive. */
    readonly range: [number, number] = [32768, 60999],
  ) {}

  /** Who holds a port that `p` would conflict with, if anybody. */
  holder(p: HostPort): string | undefined {
    const m = this.taken.get(`${p.proto}/${p.port}`);
    if (!m) return undefined;
    const v6 = p.hostIp.includes(':');
    // '' is every IPv4 address, '::' every IPv6 one; the families don't clash.
    const any = v6 ? '::' : '';
    if (p.hostIp === any) {
      for (const [ip, owner] of m) if (ip.includes(':') === v6) return owner;
      return undefined;
    }
    return m.get(p.hostIp) ?? m.get(any);
  }

  /** Marks a port taken; the caller checked `holder` first. */
  take(p: HostPort, owner: string): void {
    const k = `${p.proto}/${p.port}`;
    let m = this.taken.get(k);
    if (!m) this.taken.set(k, (m = new Map()));
    m.set(p.hostIp, owner);
  }

  /** Frees one port if `owner` holds it. */
  release(p: HostPort, owner: string): void {
    const k = `${p.proto}/${p.port}`;
    const m = this.taken.get(k);
    if (m?.get(p.hostIp) !== owner) return;
    m.delete(p.hostIp);
    if (m.size === 0) this.taken.delete(k);
  }

  /**
   * The next port of `range` (default: the ephemeral range) that neither is
   * taken nor in `skip`, continuing after the last one handed out; undefined
   * when every one is.
   */
  next(
    proto: Proto,
    hostIp: string,
    range: [number, number] = this.range,
    skip: ReadonlySet<number> = new Set(),
  ): number | undefined {
    const [lo, hi] = range;
    const size = hi - lo + 1;
    const key = `${proto}/${hostIp}`;
    const last = this.last.get(key);
    // Continue after the last port given, when it lies in this range.
    const after = last !== undefined && last >= lo && last <= hi ? last : hi;
    for (let i = 1; i <= size; i++) {
      const port = lo + ((((after - lo + i) % size) + size) % size);
      if (skip.has(port) || this.holder({ proto, hostIp, port }) !== undefined) continue;
      this.last.set(key, port);
      return port;
    }
    return undefined;
  }
}
