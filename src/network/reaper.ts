/**
 * Links on their way out (a detached veth, a removed network's bridge) are
 * put down, moved to Berth's device group and deleted later, all at once,
 * when the daemon has had no network operation for a moment.
 *
 * The kernel takes 15-40 ms to delete a link and holds the global rtnl lock
 * for much of it, so a deletion started at once delays whatever link work
 * comes next (a `network create` right after a `network rm` waited ~10 ms).
 * Deleting the group in one request also pays the kernel's RCU grace
 * periods once for every link in it. A daemon killed before that leaves
 * links in the group: the next start deletes them first (decision 0010).
 *
 * Links of other namespaces (an overlay network's, where its containers'
 * veths have their other end) are doomed the same way there: the reaper
 * deletes that namespace's group too, on a socket it opens for the deletion
 * and closes after it, so it never keeps a namespace alive.
 */
import { existsSync } from 'node:fs';
import { messageOf } from '../common/errors.js';
import { Rtnl, isNotFound } from '../kernel/netlink/index.js';

/**
 * Berth's device group ("BR" in ASCII): only links Berth made are put in it
 * (decision 0017); the daemon deletes whatever it holds.
 */
export const DOOMED_GROUP = 0x4252;

/** How long the daemon must be without network operations before deleting. */
const IDLE_MS = 100;
/** The longest a doomed link waits when the daemon is never idle that long. */
const MAX_WAIT_MS = 1000;

export class LinkReaper {
  private lastBusy = 0;
  private firstDoomed?: number;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private closed = false;
  /** Other namespaces (their files) holding doomed links. */
  private readonly elsewhere = new Set<string>();

  constructor(
    /** A socket of the reaper's own, in the namespace of the doomed links. */
    private readonly rtnl: Rtnl,
    private readonly onError: (e: unknown) => void,
    /** Opens a socket in another namespace (tests may pass their own). */
    private readonly openIn: (netns: string) => Rtnl = (netns) => Rtnl.open({ netns }),
  ) {}

  /** A network operation is running: deletions wait until there is none for a while. */
  busy(): void {
    this.lastBusy = performance.now();
  }

  /** A link was just put in DOOMED_GROUP (of the namespace `netns`, else the reaper's own). */
  doomed(netns?: string): void {
    if (this.closed) return; // the next start deletes the group
    if (netns) this.elsewhere.add(netns);
    this.busy();
    this.firstDoomed ??= this.lastBusy;
    this.schedule(IDLE_MS);
  }

  /** Deletes one link now, in the background (ENODEV, when the kernel was faster, is fine). */
  deleteNow(link: string): void {
    if (this.closed) return;
    void this.rtnl.deleteLink(link).catch((e) => {
      if (!isNotFound(e)) this.onError(e);
    });
  }

  /**
   * Deletes the group now (daemon start and stop); resolves when the kernel
   * is done. It never fails: what cannot be deleted is reported (onError)
   * and taken out of the group.
   */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    this.firstDoomed = undefined;
    await this.deleteGroup(this.rtnl);
    const others = [...this.elsewhere];
    this.elsewhere.clear();
    for (const netns of others) {
      if (!existsSync(netns)) continue; // the namespace went, and its links with it
      let r: Rtnl;
      try {
        r = this.openIn(netns);
      } catch (e) {
        if (existsSync(netns)) this.onError(new Error(`${netns}: ${messageOf(e)}`));
        continue; // else it went meanwhile
      }
      try {
        await this.deleteGroup(r);
      } finally {
        r.close();
      }
    }
  }

  private async deleteGroup(rtnl: Rtnl): Promise<void> {
    try {
      await rtnl.deleteGroup(DOOMED_GROUP);
    } catch (e) {
      if (isNotFound(e)) return; // an empty group
      await this.oneByOne(rtnl, e);
    }
  }

  /**
   * The kernel refuses a group delete as a whole when one link in it cannot
   * be deleted (a loopback or a physical NIC has no delete operation), and
   * that link would make every later group delete fail too. So each link
   * of the group is deleted alone, and one the kernel still refuses leaves
   * the group (back to the default group), so it blocks nothing again.
   */
  private async oneByOne(rtnl: Rtnl, groupError: unknown): Promise<void> {
    let links;
    try {
      links = (await rtnl.listLinks()).filter((l) => l.group === DOOMED_GROUP);
    } catch (e) {
      this.onError(
        new Error(`group delete: ${messageOf(groupError)}; listing it: ${messageOf(e)}`),
      );
      return;
    }
    for (const l of links) {
      try {
        await rtnl.deleteLink(l.index);
      } catch (e) {
        if (isNotFound(e)) continue;
        this.onError(
          new Error(`${l.name} cannot be deleted (${messageOf(e)}): taken out of the group`),
        );
        await rtnl.setLink(l.index, { group: 0 }).catch(this.onError);
      }
    }
  }

  /** At daemon stop: deletes what is doomed, then closes the reaper's socket. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.closed = true;
      this.rtnl.close();
    }
  }

  private schedule(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = performance.now();
      const idleFor = now - this.lastBusy;
      const waited = now - (this.firstDoomed ?? now);
      if (idleFor < IDLE_MS && waited < MAX_WAIT_MS) {
        this.schedule(Math.min(IDLE_MS - idleFor, MAX_WAIT_MS - waited));
        return;
      }
      this.running = this.flush()
        .catch(this.onError)
        .finally(() => (this.running = undefined));
    }, ms);
    this.timer.unref();
  }
}
