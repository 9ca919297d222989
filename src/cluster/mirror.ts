/**
 * A host's copy of one prefix of the cluster store: a watch from the
 * present, then a list, so no change falls between them; read again from
 * a fresh list when the watch ends (the history it needed was compacted, or
 * etcd cancelled it), and retried with a backoff while the store is down.
 * Values are decoded by the caller's decoder (decode.ts): one it refuses is
 * taken as absent and logged, so a bad record written by anyone leaves the
 * rest of the view whole (decision 0047). It knows the store revision its
 * view is at, and each entry's (decision 0023 waits on them). Pure
 * orchestration over KvStore.
 */
import { messageOf } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Decoder } from './decode.js';
import { isCompacted } from '../store/errors.js';
import type { KvStore, ListResult, WatchEvent } from '../store/types.js';

const EMPTY: ReadonlyMap<string, never> = new Map<string, never>();

export class Mirror<T> {
  private readonly entries = new Map<string, T>();
  /** The revision of each entry's last write, as far as known. */
  private readonly revisions = new Map<string, number>();
  /**
   * The revisions of this host's own writes (`remember`) whose watch events
   * have not come yet: an older change of the key, still on its way, is
   * not applied over them.
   */
  private readonly floors = new Map<string, number>();
  private readonly listeners = new Set<(key: string, revision: number) => void>();
  /** Callers of atLeast waiting for the view to reach a revision. */
  private readonly waiters = new Set<{ revision: number; done: (ok: boolean) => void }>();
  private rev = 0;
  private cancelWatch: (() => void) | undefined;
  private closed = false;
  /** The entries by group (with `groupOf`), each by key. */
  private readonly groups = new Map<string, Map<string, T>>();
  /** The entries by index value (with `indexOf`), each by key. */
  private readonly index = new Map<string, Map<string, T>>();
  /** Settles once the first list has been read. */
  readonly loaded: Promise<void>;

  constructor(
    private readonly kv: KvStore,
    /** The prefix followed; keys are given without it. */
    private readonly prefix: string,
    private readonly log: Logger,
    /** Each value from its text; what it throws on is taken as absent. */
    private readonly decode: Decoder<T>,
    /** The group of a key, for `group()` (e.g. the network of `<network>/<endpoint>`). */
    private readonly groupOf?: (key: string) => string,
    /** A second way to find entries, for `indexed()` (e.g. an endpoint's network and name). */
    private readonly indexOf?: (key: string, value: T) => string,
  ) {
    this.loaded = this.followUntilRead();
  }

  /** The entries of one group, by key, without a scan (empty without `groupOf`). */
  group(name: string): ReadonlyMap<string, T> {
    return this.groups.get(name) ?? EMPTY;
  }

  /** The entries whose `indexOf` is `value`, by key, without a scan (empty without `indexOf`). */
  indexed(value: string): ReadonlyMap<string, T> {
    return this.index.get(value) ?? EMPTY;
  }

  private set(key: string, value: T): void {
    this.unindex(key);
    this.entries.set(key, value);
    if (this.groupOf) addTo(this.groups, this.groupOf(key), key, value);
    if (this.indexOf) addTo(this.index, this.indexOf(key, value), key, value);
  }

  private unset(key: string): void {
    this.unindex(key);
    this.entries.delete(key);
    this.revisions.delete(key);
    if (this.groupOf) removeFrom(this.groups, this.groupOf(key), key);
  }

  /** Takes the entry at `key`, as it is now, out of the index. */
  private unindex(key: string): void {
    const old = this.entries.get(key);
    if (this.indexOf && old !== undefined) removeFrom(this.index, this.indexOf(key, old), key);
  }

  /** The value at `key` (without the prefix), as last seen. */
  get(key: string): T | undefined {
    return this.entries.get(key);
  }

  /** Every value, by key (without the prefix). */
  all(): Map<string, T> {
    return this.entries;
  }

  /**
   * The store revision this view is at: every change under the prefix up to
   * it is in (0 before the first list).
   */
  get revision(): number {
    return this.rev;
  }

  /** The revision `key` was last written at, when known. */
  revisionOf(key: string): number | undefined {
    return this.revisions.get(key);
  }

  /** Resolves true once the view is at `revision` or later; false after `timeoutMs`. */
  atLeast(revision: number, timeoutMs: number): Promise<boolean> {
    if (this.rev >= revision) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w = {
        revision,
        done: (ok: boolean) => {
          clearTimeout(timer);
          this.waiters.delete(w);
          resolve(ok);
        },
      };
      const timer = setTimeout(() => w.done(false), timeoutMs);
      this.waiters.add(w);
    });
  }

  /**
   * Calls `fn` with the key of every change and the revision the view is
   * then at (after a re-read: every key that changed, with the list's).
   */
  onChange(fn: (key: string, revision: number) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Records a change this host just committed (at `revision`, when known),
   * before its watch event comes (which then changes nothing): a caller
   * reads its own write at once.
   */
  remember(key: string, value: T | undefined, revision?: number): void {
    // The view has it already, or something newer of the key.
    if (revision !== undefined && revision <= this.rev) return;
    if (value === undefined) {
      this.unset(key);
    } else {
      this.set(key, value);
      if (revision !== undefined) this.revisions.set(key, revision);
    }
    // Older changes of the key may still come.
    if (revision !== undefined) this.floors.set(key, revision);
  }

  close(): void {
    this.closed = true;
    this.cancelWatch?.();
    for (const w of [...this.waiters]) w.done(false);
  }

  private async followUntilRead(): Promise<void> {
    for (let wait = 250; !this.closed; wait = Math.min(wait * 2, 5000)) {
      try {
        await this.follow();
        return;
      } catch (e) {
        this.log.warn(`cluster: reading ${this.prefix}: ${messageOf(e)}; retrying`);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  private async follow(): Promise<void> {
    // The watch first, from the store's present, then the list; a change
    // the list already has (at or below its revision) is skipped. Not a
    // watch from the list's revision: a write between the two would start
    // it in the past, and etcd serves such a watch only at its resync,
    // every 100 ms: under racing writes 9 of 30 such watches delivered late,
    // against 1-2 of 30 of the present (etcd's own window, watch.ts).
    /** The list's revision, once read: until then the watch's changes wait in `early`. */
    let listed: number | undefined = undefined;
    let failed: Error | undefined;
    const early: WatchEvent[] = [];
    const cancel = await this.kv.watch(
      this.prefix,
      (ev) => {
        if (listed === undefined) early.push(ev);
        else if (ev.revision > listed) this.apply(ev);
      },
      {
        onError: (e) => {
          if (this.closed) return;
          if (!isCompacted(e)) this.log.warn(`cluster: watching ${this.prefix}: ${messageOf(e)}`);
          if (listed === undefined) failed = e;
          else void this.followUntilRead();
        },
      },
    );
    let read: ListResult;
    try {
      read = await this.kv.listWithRevision(this.prefix);
      if (failed) throw failed;
    } catch (e) {
      cancel();
      throw e;
    }
    if (this.closed) {
      cancel();
      return;
    }
    this.cancelWatch = cancel;
    const { entries, revision } = read;
    const before = new Map(this.entries);
    const revisionsBefore = new Map(this.revisions);
    this.entries.clear();
    this.revisions.clear();
    this.groups.clear();
    this.index.clear();
    for (const e of entries) {
      const key = e.key.slice(this.prefix.length);
      const value = this.decoded(key, e.value, e.modRevision);
      if (value === undefined) continue;
      this.set(key, value);
      this.revisions.set(key, e.modRevision);
    }
    // This host's own writes after the list's snapshot stay as remembered.
    for (const [key, floor] of this.floors) {
      if (floor <= revision) {
        this.floors.delete(key);
        continue;
      }
      const kept = before.get(key);
      if (kept === undefined) this.unset(key);
      else this.set(key, kept);
      const at = revisionsBefore.get(key);
      if (at !== undefined) this.revisions.set(key, at);
    }
    this.rev = Math.max(this.rev, revision);
    listed = revision;
    for (const k of new Set([...before.keys(), ...this.entries.keys()])) {
      if (JSON.stringify(before.get(k)) !== JSON.stringify(this.entries.get(k))) this.emit(k);
    }
    this.wake();
    for (const ev of early.splice(0)) if (ev.revision > revision) this.apply(ev);
  }

  private apply(ev: WatchEvent): void {
    const key = ev.key.slice(this.prefix.length);
    const floor = this.floors.get(key);
    const older = floor !== undefined && ev.revision < floor;
    if (floor !== undefined && !older) this.floors.delete(key);
    if (older) {
      // Already overtaken by this host's own later write.
    } else if (ev.type === 'delete') {
      this.unset(key);
    } else if (ev.value !== undefined) {
      const value = this.decoded(key, ev.value, ev.revision);
      if (value === undefined) {
        this.unset(key);
      } else {
        this.set(key, value);
        this.revisions.set(key, ev.revision);
      }
    }
    this.rev = Math.max(this.rev, ev.revision);
    // The view has every change up to here: no older one can overtake a floor at or below it
    // (one whose own event never comes, a delete of a key already gone, goes too).
    for (const [k, floor] of this.floors) if (floor <= this.rev) this.floors.delete(k);
    this.emit(key);
    this.wake();
  }

  /** The value of `key` written at `revision`, or undefined (logged) if the decoder refuses it. */
  private decoded(key: string, raw: string, revision: number): T | undefined {
    try {
      return this.decode(key, raw);
    } catch (e) {
      this.log.warn(
        `cluster: ignoring ${this.prefix}${key} (revision ${revision}), not a record Berth can use: ${messageOf(e)}`,
      );
      return undefined;
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) if (this.rev >= w.revision) w.done(true);
  }

  private emit(key: string): void {
    for (const fn of this.listeners) {
      try {
        fn(key, this.rev);
      } catch (e) {
        this.log.error(`cluster: a change of ${this.prefix}${key}: ${messageOf(e)}`);
      }
    }
  }
}

function addTo<T>(maps: Map<string, Map<string, T>>, name: string, key: string, value: T): void {
  let m = maps.get(name);
  if (!m) maps.set(name, (m = new Map()));
  m.set(key, value);
}

function removeFrom<T>(maps: Map<string, Map<string, T>>, name: string, key: string): void {
  const m = maps.get(name);
  if (m?.delete(key) && m.size === 0) maps.delete(name);
}
