/**
 * The key-value store every piece of daemon state lives in. Shaped after etcd v3
 * (revisions, compare-and-swap transactions, prefix watches, leases) so the
 * embedded SQLite store and the etcd store satisfy one interface and one
 * contract test suite. Values are strings (JSON by convention).
 */
export interface KvEntry {
  key: string;
  value: string;
  /** Store revision at which this key was created. */
  createRevision: number;
  /** Store revision of the last write to this key. */
  modRevision: number;
  /** Number of writes since creation (1 after the first put). */
  version: number;
  /** The lease the key is attached to; absent when it has none. */
  lease?: LeaseId;
}

/**
 * A lease: keys put with it are deleted (one revision, watchers see deletes)
 * when it expires or is revoked. etcd's ids are 64-bit, hence a decimal string.
 */
export type LeaseId = string;

/** Options of put. */
export interface PutOptions {
  /** Write only if the key's modRevision equals this (0 = must not exist); else CONFLICT. */
  ifModRevision?: number;
  /** Attach the key to this lease (NOT_FOUND if it is unknown or expired). */
  lease?: LeaseId;
}

/** A list and the store revision it was read at: watch from revision + 1 for no gap. */
export interface ListResult {
  entries: KvEntry[];
  revision: number;
}

/** Options of watch. */
export interface WatchOptions {
  /**
   * Deliver every change with a revision >= this (etcd's start_revision), also
   * ones already made; default: from the present. When that history
   * is gone (compacted), `onError` receives an error for which isCompacted()
   * holds and the watch ends: list again and watch from the list's revision + 1.
   */
  fromRevision?: number;
  /**
   * Called once when the watch ends for good (compaction, etcd cancelling
   * it; not when the caller cancels or closes the store). Transient disconnects are not errors: the
   * watch resumes after its last delivered revision, losing and repeating nothing.
   */
  onError?: (e: Error) => void;
}

/** A condition of a transaction: the key's modRevision must equal this (0 = key absent). */
export interface Compare {
  key: string;
  modRevision: number;
}

export type Op =
  | {
      type: 'put';
      key: string;
      value: string;
      lease?: LeaseId;
      /**
       * A key other writers overwrite too (a counter every attach bumps):
       * a retried transaction whose answer was lost is judged applied
       * without it holding this value, if it was written at or after the
       * transaction's other puts. Ignored where no write is ever retried.
       */
      shared?: boolean;
    }
  | { type: 'delete'; key: string }
  | { type: 'deletePrefix'; prefix: string };

export interface TxnResult {
  /** Whether every compare held (and so the success ops were applied). */
  succeeded: boolean;
  /** The store revision after the transaction. */
  revision: number;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  /** The new value (put) or undefined (delete). */
  value?: string;
  /** Revision of the change. */
  revision: number;
}

export interface KvStore {
  /** The entry at `key`, or undefined. */
  get(key: string): Promise<KvEntry | undefined>;
  /** All entries whose key starts with `prefix`, in key order. */
  list(prefix: string): Promise<KvEntry[]>;
  /** As list, with the revision of the snapshot it read (list-then-watch without a gap). */
  listWithRevision(prefix: string): Promise<ListResult>;
  /**
   * Writes `value` at `key` and returns the new revision. With `ifModRevision`
   * the write happens only if the key's modRevision equals it (0 = must not
   * exist); otherwise it throws a BerthError with code CONFLICT. Without
   * `lease` a key loses any lease it had (as in etcd).
   */
  put(key: string, value: string, opts?: PutOptions): Promise<number>;
  /** Deletes `key`; true if it existed. With `ifModRevision`, CONFLICT unless it matches. */
  delete(key: string, opts?: { ifModRevision?: number }): Promise<boolean>;
  /** Atomically: if all compares hold apply `success`, else apply `failure`. */
  txn(compares: Compare[], success: Op[], failure?: Op[]): Promise<TxnResult>;
  /**
   * Calls `cb` for every change under `prefix` from when the watch is in
   * place (at the latest when the returned promise resolves; a change made
   * while the call runs may or may not come) or from `opts.fromRevision`, in
   * revision order, never synchronously; returns a cancel function.
   */
  watch(prefix: string, cb: (ev: WatchEvent) => void, opts?: WatchOptions): Promise<() => void>;
  /** The current store revision. */
  revision(): Promise<number>;
  /**
   * Forgets the history before `revision`: later watches from an older
   * revision get a compacted error. INVALID_ARGUMENT for a future revision;
   * compacting at or below an earlier compaction does nothing.
   */
  compact(revision: number): Promise<void>;
  /** Grants a lease of `ttlSeconds` (an integer >= 1; etcd may round it up). */
  grantLease(ttlSeconds: number): Promise<LeaseId>;
  /** Renews a lease to its full TTL and returns that TTL; NOT_FOUND once it has expired. */
  keepAlive(lease: LeaseId): Promise<number>;
  /** Revokes a lease, deleting its keys; NOT_FOUND if it is unknown or expired. */
  revokeLease(lease: LeaseId): Promise<void>;
  /** Seconds the lease has left, or undefined if it is unknown or expired. */
  leaseTimeToLive(lease: LeaseId): Promise<number | undefined>;
  /** Releases the store. */
  close(): Promise<void>;
}

/** A store served by a cluster of members (etcd): where they answer clients and each other. */
export interface ClusterMembers {
  /** Every member's client and peer URLs, as the cluster lists them. */
  memberUrls(): Promise<string[]>;
}
