/**
 * The default store: one SQLite file in WAL mode, shaped after etcd v3. One
 * global revision is bumped once per write transaction that changes something;
 * each key carries its create/mod revision and version. better-sqlite3 is
 * synchronous, so every call finishes its transaction before returning; the
 * promises exist to share one interface with the etcd store.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { BerthError, conflict, messageOf } from '../../common/errors.js';
import type { Compare, KvEntry, KvStore, Op, TxnResult, WatchEvent } from '../types.js';
import { DDL, SCHEMA_VERSION, SQL, prefixEnd } from './schema.js';
import {
  checkCompares,
  checkKey,
  checkOps,
  checkPrefix,
  checkRevision,
  checkValue,
} from './validate.js';
import { WatchHub } from './watch.js';

/** How long a writer waits for another connection's write lock before giving up. */
const BUSY_TIMEOUT_MS = 5000;

/** Options of SqliteStore.open. */
export interface SqliteStoreOptions {
  /** Receives errors thrown by watch callbacks (default: a process warning). */
  onWatchError?: (e: unknown) => void;
}

/** The state of one write transaction while it runs. */
interface Pending {
  /** The revision this transaction writes at; after commit, the store revision. */
  rev: number;
  changed: boolean;
  events: WatchEvent[];
}

type Statements = { [K in keyof typeof SQL]: Database.Statement };

export class SqliteStore implements KvStore {
  private readonly stmt: Statements;
  private readonly hub: WatchHub;
  // Wrapped once: better-sqlite3 builds BEGIN/COMMIT handling per wrapper.
  private readonly writeTxn: Database.Transaction<(p: Pending, body: (p: Pending) => void) => void>;
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    opts: SqliteStoreOptions,
  ) {
    const stmt = {} as Record<string, Database.Statement>;
    for (const [name, sql] of Object.entries(SQL)) stmt[name] = db.prepare(sql);
    this.stmt = stmt as Statements;
    for (const name of ['getRevision', 'getModRevision', 'keysRange', 'keysFrom'] as const) {
      this.stmt[name].pluck();
    }
    this.hub = new WatchHub(opts.onWatchError ?? defaultWatchError);
    this.writeTxn = db.transaction((p: Pending, body: (p: Pending) => void) => {
      p.rev = (this.stmt.getRevision.get() as number) + 1;
      body(p);
      // etcd does not bump the revision for a transaction that changed nothing.
      if (p.changed) this.stmt.setRevision.run(p.rev);
      else p.rev -= 1;
    });
  }

  /** Opens (creating if needed) the store at `path`, a file path, creating its directory. */
  static open(path: string, opts: SqliteStoreOptions = {}): SqliteStore {
    let db: Database.Database | undefined;
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal')
        throw new BerthError('INTERNAL', `store ${path}: WAL mode unavailable (${String(mode)})`);
      // In WAL mode NORMAL syncs only at checkpoints: a killed process loses nothing, a
      // power cut may lose the last transactions but never corrupts the file.
      db.pragma('synchronous = NORMAL');
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      migrate(db, path);
      return new SqliteStore(db, opts);
    } catch (e) {
      db?.close();
      throw storeError(e, `open store ${path}`);
    }
  }

  async get(key: string): Promise<KvEntry | undefined> {
    this.checkOpen();
    checkKey(key);
    return this.read(() => this.stmt.get.get(key) as KvEntry | undefined);
  }

  async list(prefix: string): Promise<KvEntry[]> {
    this.checkOpen();
    checkPrefix(prefix);
    const end = prefixEnd(prefix);
    return this.read(
      () =>
        (end === undefined
          ? this.stmt.listFrom.all(prefix)
          : this.stmt.listRange.all(prefix, end)) as KvEntry[],
    );
  }

  async put(key: string, value: string, opts?: { ifModRevision?: number }): Promise<number> {
    this.checkOpen();
    checkKey(key);
    checkValue(value);
    const want = opts?.ifModRevision;
    if (want !== undefined) checkRevision(want);
    const p = this.write((p) => {
      if (want !== undefined) this.expectModRevision('put', key, want);
      this.applyPut(p, key, value);
    });
    return p.rev;
  }

  async delete(key: string, opts?: { ifModRevision?: number }): Promise<boolean> {
    this.checkOpen();
    checkKey(key);
    const want = opts?.ifModRevision;
    if (want !== undefined) checkRevision(want);
    let existed = false;
    this.write((p) => {
      if (want !== undefined) this.expectModRevision('delete', key, want);
      existed = this.applyDelete(p, key);
    });
    return existed;
  }

  async txn(compares: Compare[], success: Op[], failure: Op[] = []): Promise<TxnResult> {
    this.checkOpen();
    checkCompares(compares);
    checkOps(success);
    checkOps(failure);
    let succeeded = false;
    const p = this.write((p) => {
      succeeded = compares.every((c) => this.modRevisionOf(c.key) === c.modRevision);
      for (const op of succeeded ? success : failure) {
        if (op.type === 'put') this.applyPut(p, op.key, op.value);
        else if (op.type === 'delete') this.applyDelete(p, op.key);
        else this.applyDeletePrefix(p, op.prefix);
      }
    });
    return { succeeded, revision: p.rev };
  }

  async watch(prefix: string, cb: (ev: WatchEvent) => void): Promise<() => void> {
    this.checkOpen();
    checkPrefix(prefix);
    if (typeof cb !== 'function')
      throw new BerthError('INVALID_ARGUMENT', 'watch callback must be a function');
    const now = this.read(() => this.stmt.getRevision.get() as number);
    return this.hub.add(prefix, cb, now);
  }

  async revision(): Promise<number> {
    this.checkOpen();
    return this.read(() => this.stmt.getRevision.get() as number);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.hub.clear();
    try {
      // Keeps query plans good for the next start; a failure here costs nothing.
      this.db.pragma('optimize');
    } catch {
      // ignored: the close below is what matters
    }
    this.db.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new BerthError('UNAVAILABLE', 'store is closed');
  }

  private read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw storeError(e, 'store read');
    }
  }

  /** Runs `body` in one IMMEDIATE transaction, then hands its events to the watchers. */
  private write(body: (p: Pending) => void): Pending {
    const p: Pending = { rev: 0, changed: false, events: [] };
    try {
      // IMMEDIATE takes the write lock up front: a deferred read-then-write could fail
      // with SQLITE_BUSY_SNAPSHOT when another connection writes in between.
      this.writeTxn.immediate(p, body);
    } catch (e) {
      throw storeError(e, 'store write');
    }
    this.hub.publish(p.events);
    return p;
  }

  private modRevisionOf(key: string): number {
    return (this.stmt.getModRevision.get(key) as number | undefined) ?? 0;
  }

  private expectModRevision(what: string, key: string, want: number): void {
    const have = this.modRevisionOf(key);
    if (have !== want) {
      throw conflict(`${what} ${key}: modRevision is ${have}, expected ${want}`);
    }
  }

  private applyPut(p: Pending, key: string, value: string): void {
    this.stmt.upsert.run(key, value, p.rev, p.rev);
    p.changed = true;
    if (this.hub.active) p.events.push({ type: 'put', key, value, revision: p.rev });
  }

  private applyDelete(p: Pending, key: string): boolean {
    if (this.stmt.deleteKey.run(key).changes === 0) return false;
    p.changed = true;
    if (this.hub.active) p.events.push({ type: 'delete', key, revision: p.rev });
    return true;
  }

  private applyDeletePrefix(p: Pending, prefix: string): void {
    const end = prefixEnd(prefix);
    const args = end === undefined ? [prefix] : [prefix, end];
    if (this.hub.active) {
      const keys = (end === undefined ? this.stmt.keysFrom : this.stmt.keysRange).all(
        ...args,
      ) as string[];
      for (const key of keys) p.events.push({ type: 'delete', key, revision: p.rev });
    }
    const del = end === undefined ? this.stmt.deleteFrom : this.stmt.deleteRange;
    if (del.run(...args).changes > 0) p.changed = true;
  }
}

/** Brings the file to SCHEMA_VERSION, refusing files written by a newer berth. */
function migrate(db: Database.Database, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new BerthError(
      'INTERNAL',
      `store ${path} has schema ${version}, newer than this berth supports (${SCHEMA_VERSION})`,
    );
  }
  if (version === SCHEMA_VERSION) return;
  db.transaction(() => {
    db.exec(DDL);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/** Passes BerthErrors through; turns SQLite's errors into coded ones. */
function storeError(e: unknown, what: string): BerthError {
  // By name, not instanceof: the error may come from another copy of this module.
  if (e instanceof Error && e.name === 'BerthError') return e as BerthError;
  const code = (e as { code?: unknown })?.code;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new BerthError('UNAVAILABLE', `${what}: database is locked by another process`, {
      cause: e,
    });
  }
  return new BerthError('INTERNAL', `${what}: ${messageOf(e)}`, { cause: e });
}

function defaultWatchError(e: unknown): void {
  process.emitWarning(`store watch callback threw: ${messageOf(e)}`, 'BerthStoreWarning');
}
