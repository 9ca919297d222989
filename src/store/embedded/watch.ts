/**
 * In-process fan-out of committed changes to prefix watchers. Delivery is
 * queued as a microtask after the commit, so a callback never runs inside a
 * transaction and may itself write to the store; microtasks run in FIFO order,
 * so every watcher sees changes in revision order.
 *
 * The hub also keeps a bounded history of the changes made through this
 * connection since it opened, so a watch may start from an earlier revision
 * (list-then-watch, or resuming after a callback's owner restarted its
 * processing). What the history no longer holds is "compacted", as in etcd.
 */
import { CompactedError } from '../errors.js';
import type { WatchEvent } from '../types.js';

/** History bounds: whole revisions are dropped from the front past either. */
const MAX_HISTORY_EVENTS = 10_000;
const MAX_HISTORY_BYTES = 16 * 1024 * 1024;

interface Watcher {
  prefix: string;
  cb: (ev: WatchEvent) => void;
  /** Only changes with a revision above this are delivered live. */
  after: number;
  live: boolean;
}

export class WatchHub {
  private readonly watchers = new Set<Watcher>();
  /** Events in revision order; every event with a revision above `floor` is here. */
  private history: WatchEvent[] = [];
  private historyBytes = 0;
  private floor: number;

  /**
   * `onError` receives whatever a callback throws; one bad watcher must not
   * starve the others. `floor` is the store revision at open: no history before it.
   */
  constructor(
    private readonly onError: (e: unknown) => void,
    floor: number,
  ) {
    this.floor = floor;
  }

  /**
   * Registers `cb` for changes under `prefix` with a revision >= `from`
   * (default: above `now`, the store revision at watch time); returns cancel.
   * History older than the hub holds is reported to `onCompacted` instead.
   */
  add(
    prefix: string,
    cb: (ev: WatchEvent) => void,
    now: number,
    from: number | undefined,
    onCompacted: ((e: Error) => void) | undefined,
  ): () => void {
    const w: Watcher = { prefix, cb, after: now, live: true };
    const cancel = (): void => {
      w.live = false;
      this.watchers.delete(w);
    };
    if (from !== undefined && from <= now) {
      if (from <= this.floor) {
        const err = new CompactedError(from, this.floor + 1);
        w.live = false;
        queueMicrotask(() => (onCompacted ?? this.onError)(err));
        return cancel;
      }
      // Events up to `now` come from history; `after` keeps queued live deliveries
      // of the same events from repeating them.
      const replay = this.history.filter((ev) => ev.revision >= from && ev.revision <= now);
      queueMicrotask(() => this.deliverTo(w, replay, false));
    } else if (from !== undefined) {
      w.after = from - 1;
    }
    this.watchers.add(w);
    return cancel;
  }

  /** Records the events of one committed transaction and queues them for delivery. */
  publish(events: WatchEvent[]): void {
    if (events.length === 0) return;
    for (const ev of events) {
      this.history.push(ev);
      this.historyBytes += ev.key.length + (ev.value?.length ?? 0) + 64;
    }
    if (this.history.length > MAX_HISTORY_EVENTS || this.historyBytes > MAX_HISTORY_BYTES) {
      this.trim(Infinity);
    }
    if (this.watchers.size > 0) queueMicrotask(() => this.deliver(events));
  }

  /** Forgets history below `revision` (etcd's compact: a watch from `revision` still works). */
  compact(revision: number): void {
    if (revision - 1 > this.floor) this.trim(revision - 1);
  }

  /** Cancels every watcher; queued events are dropped. */
  clear(): void {
    for (const w of this.watchers) w.live = false;
    this.watchers.clear();
    this.history = [];
  }

  /** Drops history up to `upTo`, or (Infinity) oldest revisions until within bounds. */
  private trim(upTo: number): void {
    let i = 0;
    const h = this.history;
    const over = (): boolean =>
      upTo === Infinity
        ? h.length - i > MAX_HISTORY_EVENTS / 2 || this.historyBytes > MAX_HISTORY_BYTES / 2
        : (h[i] as WatchEvent).revision <= upTo;
    while (i < h.length && over()) {
      const rev = (h[i] as WatchEvent).revision;
      // Whole revisions only: a watch resumes at a revision boundary.
      for (let ev = h[i]; ev !== undefined && ev.revision === rev; ev = h[++i]) {
        this.historyBytes -= ev.key.length + (ev.value?.length ?? 0) + 64;
      }
      this.floor = rev;
    }
    if (upTo !== Infinity && upTo > this.floor) this.floor = upTo;
    this.history = h.slice(i);
  }

  private deliver(events: WatchEvent[]): void {
    // Copy: a callback may add or cancel watchers while we iterate.
    for (const w of [...this.watchers]) this.deliverTo(w, events, true);
  }

  /** Live deliveries skip what the watcher's replay (or its start) already covers. */
  private deliverTo(w: Watcher, events: WatchEvent[], live: boolean): void {
    for (const ev of events) {
      // Checked per event: a callback may cancel its own watch mid-transaction.
      if (!w.live) break;
      if (!ev.key.startsWith(w.prefix) || (live && ev.revision <= w.after)) continue;
      try {
        w.cb(ev);
      } catch (e) {
        this.onError(e);
      }
    }
  }
}
