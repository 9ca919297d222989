/**
 * The key-value store every piece of daemon state lives in. Shaped after etcd v3
 * (revisions, compare-and-swap transactions, prefix watches) so the embedded
 * SQLite store and a later etcd store satisfy one interface and one contract
 * test suite. Values are strings (JSON by convention).
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
}

/** A condition of a transaction: the key's modRevision must equal this (0 = key absent). */
export interface Compare {
  key: string;
  modRevision: number;
}

export type Op =
  | { type: 'put'; key: string; value: string }
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
  /**
   * Writes `value` at `key` and returns the new revision. With `ifModRevision`
   * the write happens only if the key's modRevision equals it (0 = must not
   * exist); otherwise it throws a BerthError with code CONFLICT.
   */
  put(key: string, value: string, opts?: { ifModRevision?: number }): Promise<number>;
  /** Deletes `key`; true if it existed. With `ifModRevision`, CONFLICT unless it matches. */
  delete(key: string, opts?: { ifModRevision?: number }): Promise<boolean>;
  /** Atomically: if all compares hold apply `success`, else apply `failure`. */
  txn(compares: Compare[], success: Op[], failure?: Op[]): Promise<TxnResult>;
  /** Calls `cb` for every change under `prefix` after this call; returns a cancel function. */
  watch(prefix: string, cb: (ev: WatchEvent) => void): Promise<() => void>;
  /** The current store revision. */
  revision(): Promise<number>;
  /** Releases the store. */
  close(): Promise<void>;
}
