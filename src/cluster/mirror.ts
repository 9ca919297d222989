/**
 * A host's copy of one prefix of the cluster store: a list, then a watch from
 * that list's revision + 1, so no change falls between them; read again from
 * a fresh list when the watch ends (the history it needed was compacted, or
 * etcd cancelled it), and retried with a backoff while the store is down.
 * Values are JSON. Pure orchestration over KvStore.
 */
import { messageOf } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { isCompacted } from '../store/errors.js';
import type { KvStore, WatchEvent } from '../store/types.js';

export class Mirror<T> {
  private readonly entries = new Map<string, T>();
  private readonly listeners = new Set<(key: string) => void>();
  private cancelWatch: (() => void) | undefined;
  private closed = false;
  /** Settles once the first list has been read. */
  readonly loaded: Promise<void>;

  constructor(
    private readonly kv: KvStore,
    /** The prefix followed; keys are given without it. */
    private readonly prefix: string,
    private readonly log: Logger,
  ) {
    this.loaded = this.followUntilRead();
  }

  /** The value at `key` (without the prefix), as last seen. */
  get(key: string): T | undefined {
    return this.entries.get(key);
  }

  /** Every value, by key (without the prefix). */
  all(): Map<string, T> {
    return this.entries;
  }

  /** Calls `fn` with the key of every change (after a re-read: every key that changed). */
  onChange(fn: (key: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Records a change this host just committed, before its watch event comes
   * (which then changes nothing): a caller reads its own write at once.
   */
  remember(key: string, value: T | undefined): void {
    if (value === undefined) this.entries.delete(key);
    else this.entries.set(key, value);
  }

  close(): void {
    this.closed = true;
    this.cancelWatch?.();
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
    const { entries, revision } = await this.kv.listWithRevision(this.prefix);
    const before = new Map(this.entries);
    this.entries.clear();
    for (const e of entries)
      this.entries.set(e.key.slice(this.prefix.length), JSON.parse(e.value) as T);
    for (const k of new Set([...before.keys(), ...this.entries.keys()])) {
      if (JSON.stringify(before.get(k)) !== JSON.stringify(this.entries.get(k))) this.emit(k);
    }
    this.cancelWatch = await this.kv.watch(this.prefix, (ev) => this.apply(ev), {
      fromRevision: revision + 1,
      onError: (e) => {
        if (this.closed) return;
        if (!isCompacted(e)) this.log.warn(`cluster: watching ${this.prefix}: ${messageOf(e)}`);
        void this.followUntilRead();
      },
    });
  }

  private apply(ev: WatchEvent): void {
    const key = ev.key.slice(this.prefix.length);
    if (ev.type === 'delete') this.entries.delete(key);
    else if (ev.value !== undefined) this.entries.set(key, JSON.parse(ev.value) as T);
    this.emit(key);
  }

  private emit(key: string): void {
    for (const fn of this.listeners) {
      try {
        fn(key);
      } catch (e) {
        this.log.error(`cluster: a change of ${this.prefix}${key}: ${messageOf(e)}`);
      }
    }
  }
}
