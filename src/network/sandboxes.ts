/**
 * The network namespaces of running containers, as the controller keeps
 * them: where each is bound, the next interface name in it, and one
 * rtnetlink socket into it and one fd of it (opened on first use, closed
 * before the namespace is deleted: either would keep it, and its veths,
 * alive).
 */
import { closeSync, openSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createNetns, deleteNetns } from '../kernel/netns/netns.js';
import { Rtnl, writeSysctl } from '../kernel/netlink/index.js';
import type { Sandbox } from './types.js';

interface SandboxState {
  /**
   * The next `ethN`. As Docker's (libnetwork's nextIfIndex) it only grows
   * while the sandbox lives: a network connected again gets a new name,
   * never that of an interface the kernel may still be deleting. Unknown
   * after a daemon restart until the first attach works it out.
   */
  nextIf?: number;
  /** rtnetlink inside the namespace, once used. */
  netlink?: Rtnl;
  /** The namespace file open, once used (veth peers are born in it). */
  nsFd?: number;
}

export class Sandboxes {
  private readonly state = new Map<string, SandboxState>();

  constructor(
    /** Namespace files live in `<execRoot>/netns`. */
    private readonly execRoot: string,
    /** The interface names a container's endpoints have in the store (after a daemon restart). */
    private readonly storedIfNames: (containerId: string) => Promise<string[]>,
  ) {}

  /** Where a container's namespace file lives. */
  path(containerId: string): string {
    return join(this.execRoot, 'netns', containerId.slice(0, 16));
  }

  /** Creates and binds the container's namespace; returns its path. */
  create(containerId: string): string {
    const path = this.path(containerId);
    createNetns(path);
    this.state.set(containerId, { nextIf: 0 });
    // As Docker: no IPv6 in a container (not even ::1 or link-local) unless
    // a network gives it an IPv6 address; join turns it on per interface.
    writeSysctl('net.ipv6.conf.all.disable_ipv6', 1, path);
    writeSysctl('net.ipv6.conf.default.disable_ipv6', 1, path);
    return path;
  }

  /** Closes its socket and deletes the namespace; idempotent. */
  async delete(containerId: string): Promise<void> {
    const sb = this.state.get(containerId);
    sb?.netlink?.close();
    if (sb?.nsFd !== undefined) closeSync(sb.nsFd);
    this.state.delete(containerId);
    await deleteNetns(this.path(containerId));
  }

  /**
   * Deletes every namespace file but those of `running` containers: what a
   * daemon killed while starting or stopping a container left (daemon start).
   */
  async prune(running: Set<string>): Promise<void> {
    const keep = new Set([...running].map((id) => id.slice(0, 16)));
    const dir = join(this.execRoot, 'netns');
    for (const f of await readdir(dir).catch(() => [])) {
      if (!keep.has(f)) await deleteNetns(join(dir, f));
    }
  }

  /** `eth` + the sandbox's next index (after a daemon restart: past the highest in use, as Docker). */
  async nextIfName(containerId: string): Promise<string> {
    const sb = this.stateOf(containerId);
    const n = (sb.nextIf ??= pastHighest(await this.storedIfNames(containerId)));
    sb.nextIf = n + 1;
    return `eth${n}`;
  }

  /** The container's sandbox as drivers see it (`netnsPath` undefined: it has none, or it is gone). */
  view(containerId: string, netnsPath: string | undefined): Sandbox {
    const own = (): SandboxState => {
      if (!netnsPath) throw new Error('the container has no network namespace of its own');
      return this.stateOf(containerId);
    };
    return {
      containerId,
      netnsPath,
      netlink: () => (own().netlink ??= Rtnl.open({ netns: netnsPath })),
      nsFd: () => (own().nsFd ??= openSync(netnsPath!, 'r')),
    };
  }

  private stateOf(containerId: string): SandboxState {
    const sb = this.state.get(containerId) ?? {};
    this.state.set(containerId, sb);
    return sb;
  }
}

/** One past the highest `ethN` among `names` (0 when none). */
function pastHighest(names: string[]): number {
  let n = 0;
  for (const name of names) {
    const m = /^eth(\d+)$/.exec(name);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}
