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
 */
import { type Rtnl, isNotFound } from '../kernel/netlink/index.js';

/** Berth's device group ("BR" in ASCII): no link of anyone else should be in it. */
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

  constructor(
    /** A socket of the reaper's own, in the namespace of the doomed links. */
    private readonly rtnl: Rtnl,
    private readonly onError: (e: unknown) => void,
  ) {}

  /** A network operation is running: deletions wait until there is none for a while. */
  busy(): void {
    this.lastBusy = performance.now();
  }

  /** A link was just put in DOOMED_GROUP. */
  doomed(): void {
    if (this.closed) return; // the next start deletes the group
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

  /** Deletes the group now (daemon start and stop); resolves when the kernel is done. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    this.firstDoomed = undefined;
    await this.rtnl.deleteGroup(DOOMED_GROUP).catch((e) => {
      if (!isNotFound(e)) throw e;
    });
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
