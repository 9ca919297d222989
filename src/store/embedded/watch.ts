/**
 * In-process fan-out of committed changes to prefix watchers. Delivery is
 * queued as a microtask after the commit, so a callback never runs inside a
 * transaction and may itself write to the store; microtasks run in FIFO order,
 * so every watcher sees changes in revision order.
 */
import type { WatchEvent } from '../types.js';

interface Watcher {
  prefix: string;
  cb: (ev: WatchEvent) => void;
  /** Only changes with a revision above this are delivered (the revision at watch time). */
  after: number;
  live: boolean;
}

export class WatchHub {
  private readonly watchers = new Set<Watcher>();

  /** `onError` receives whatever a callback throws; one bad watcher must not starve the others. */
  constructor(private readonly onError: (e: unknown) => void) {}

  /** Whether anyone listens; writers skip building events otherwise. */
  get active(): boolean {
    return this.watchers.size > 0;
  }

  /** Registers `cb` for changes under `prefix` with a revision above `after`; returns cancel. */
  add(prefix: string, cb: (ev: WatchEvent) => void, after: number): () => void {
    const w: Watcher = { prefix, cb, after, live: true };
    this.watchers.add(w);
    return () => {
      w.live = false;
      this.watchers.delete(w);
    };
  }

  /** Queues the events of one committed transaction for delivery. */
  publish(events: WatchEvent[]): void {
    if (events.length > 0) queueMicrotask(() => this.deliver(events));
  }

  /** Cancels every watcher; queued events are dropped. */
  clear(): void {
    for (const w of this.watchers) w.live = false;
    this.watchers.clear();
  }

  private deliver(events: WatchEvent[]): void {
    // Copy: a callback may add or cancel watchers while we iterate.
    for (const w of [...this.watchers]) {
      for (const ev of events) {
        // Checked per event: a callback may cancel its own watch mid-transaction.
        if (!w.live) break;
        if (ev.revision <= w.after || !ev.key.startsWith(w.prefix)) continue;
        try {
          w.cb(ev);
        } catch (e) {
          this.onError(e);
        }
      }
    }
  }
}
