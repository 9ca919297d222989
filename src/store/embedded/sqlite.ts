/**
 * The default store: one SQLite file in WAL mode, shaped after etcd v3. One
 * global revision is bumped once per write transaction that changes something;
 * each key carries its create/mod revision and version. better-sqlite3 is
 * synchronous, so every call finishes its transaction before returning; the
 * promises exist to share one interface with the etcd store.
 *
 * Leases are local: rows with a wall-clock expiry, reaped by a timer of this
 * process (and at open, for leases that expired while no process had the file
 * open). Watch history is what this connection wrote since it opened (see
 * WatchHub); changes made through another connection to the same file are not
 * seen by this connection's watchers.
 *
 * Size: the whole KvStore contract (reads, transactions, leases, watches) on
 * one SQLite connection; each part shares the revision counter and the
 * statements, so they stay together.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { BerthError, conflict, invalid, messageOf } from '../../common/errors.js';
import type {
  Compare,
  KvEntry,
  KvStore,
  LeaseId,
  ListResult,
  Op,
  PutOptions,
  TxnResult,
  WatchEvent,
  WatchOptions,
} from '../types.js';
import { DDL, MIGRATE_1_TO_2, SCHEMA_VERSION, SQL, prefixEnd } from './schema.js';
import {
  checkCompares,
  checkKey,
  checkLease,
  checkOps,
  checkPrefix,
  checkRevision,
  checkTtl,
  checkValue,
} from '../validate.js';
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

/** A kv row as SQLite returns it: lease 0 means none. */
type Row = Omit<KvEntry, 'lease'> & { lease: number };

/** Drops the lease column when the key has none, so entries compare as etcd's do. */
function toEntry(row: Row | undefined): KvEntry | undefined {
  if (row === undefined) return undefined;
  const { lease, ...rest } = row;
  return lease === 0 ? rest : { ...rest, lease: String(lease) };
}

export class SqliteStore implements KvStore {
  private readonly stmt: Statements;
  private readonly hub: WatchHub;
  // Wrapped once: better-sqlite3 builds BEGIN/COMMIT handling per wrapper.
  private readonly writeTxn: Database.Transaction<(p: Pending, body: (p: Pending) => void) => void>;
  private closed = false;
  private expiryTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly db: Database.Database,
    opts: SqliteStoreOptions,
  ) {
    const stmt = {} as Record<string, Database.Statement>;
    for (const [name, sql] of Object.entries(SQL)) stmt[name] = db.prepare(sql);
    this.stmt = stmt as Statements;
    for (const name of [
      'getRevision',
      'getModRevision',
      'keysRange',
      'keysFrom',
      'getNextLease',
      'keysOfLease',
      'expiredLeases',
      'nextExpiry',
    ] as const) {
      this.stmt[name].pluck();
    }
    this.hub = new WatchHub(
      opts.onWatchError ?? defaultWatchError,
      this.stmt.getRevision.get() as number,
    );
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
      const store = new SqliteStore(db, opts);
      store.expireLeases();
      return store;
    } catch (e) {
      db?.close();
      throw storeError(e, `open store ${path}`);
    }
  }

  async get(key: string): Promise<KvEntry | undefined> {
    this.checkOpen();
    checkKey(key);
    return this.read(() => toEntry(this.stmt.get.get(key) as Row | undefined));
  }

  async list(prefix: string): Promise<KvEntry[]> {
    return (await this.listWithRevision(prefix)).entries;
  }

  async listWithRevision(prefix: string): Promise<ListResult> {
    this.checkOpen();
    checkPrefix(prefix);
    const end = prefixEnd(prefix);
    // better-sqlite3 is synchronous: nothing writes between the two reads.
    return this.read(() => {
      const rows = (
        end === undefined ? this.stmt.listFrom.all(prefix) : this.stmt.listRange.all(prefix, end)
      ) as Row[];
      return {
        entries: rows.map((r) => toEntry(r) as KvEntry),
        revision: this.stmt.getRevision.get() as number,
      };
    });
  }

  async put(key: string, value: string, opts?: PutOptions): Promise<number> {
    this.checkOpen();
    checkKey(key);
    checkValue(value);
    const want = opts?.ifModRevision;
    if (want !== undefined) checkRevision(want);
    if (opts?.lease !== undefined) checkLease(opts.lease);
    const p = this.write((p) => {
      if (want !== undefined) this.expectModRevision('put', key, want);
      this.applyPut(p, key, value, opts?.lease);
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
        if (op.type === 'put') this.applyPut(p, op.key, op.value, op.lease);
        else if (op.type === 'delete') this.applyDelete(p, op.key);
        else this.applyDeletePrefix(p, op.prefix);
      }
    });
    return { succeeded, revision: p.rev };
  }

  async watch(
    prefix: string,
    cb: (ev: WatchEvent) => void,
    opts: WatchOptions = {},
  ): Promise<() => void> {
    this.checkOpen();
    checkPrefix(prefix);
    if (typeof cb !== 'function')
      throw new BerthError('INVALID_ARGUMENT', 'watch callback must be a function');
    if (opts.fromRevision !== undefined) checkRevision(opts.fromRevision);
    const now = this.read(() => this.stmt.getRevision.get() as number);
    return this.hub.add(prefix, cb, now, opts.fromRevision, opts.onError);
  }

  async revision(): Promise<number> {
    this.checkOpen();
    return this.read(() => this.stmt.getRevision.get() as number);
  }

  async compact(revision: number): Promise<void> {
    this.checkOpen();
    checkRevision(revision);
    const now = await this.revision();
    if (revision > now) throw invalid(`compact ${revision}: a future revision (now ${now})`);
    this.hub.compact(revision);
  }

  async grantLease(ttlSeconds: number): Promise<LeaseId> {
    this.checkOpen();
    checkTtl(ttlSeconds);
    let id = 0;
    this.write(() => {
      id = this.stmt.getNextLease.get() as number;
      this.stmt.setNextLease.run(id + 1);
      this.stmt.insertLease.run(id, ttlSeconds, Date.now() + ttlSeconds * 1000);
    });
    this.scheduleExpiry();
    return String(id);
  }

  async keepAlive(lease: LeaseId): Promise<number> {
    this.checkOpen();
    checkLease(lease);
    this.expireLeases();
    const id = Number(lease);
    let ttl = 0;
    this.write(() => {
      const l = this.stmt.getLease.get(id) as { ttl: number } | undefined;
      if (!l) throw leaseNotFound(lease);
      ttl = l.ttl;
      this.stmt.renewLease.run(Date.now() + ttl * 1000, id);
    });
    this.scheduleExpiry();
    return ttl;
  }

  async revokeLease(lease: LeaseId): Promise<void> {
    this.checkOpen();
    checkLease(lease);
    this.expireLeases();
    this.write((p) => {
      if (!this.stmt.getLease.get(Number(lease))) throw leaseNotFound(lease);
      this.applyRevoke(p, Number(lease));
    });
  }

  async leaseTimeToLive(lease: LeaseId): Promise<number | undefined> {
    this.checkOpen();
    checkLease(lease);
    const l = this.read(
      () => this.stmt.getLease.get(Number(lease)) as { expiresMs: number } | undefined,
    );
    if (!l) return undefined;
    const left = l.expiresMs - Date.now();
    return left > 0 ? Math.ceil(left / 1000) : undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.expiryTimer);
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

  /** Revokes the due leases, each in its own transaction (one revision each, as etcd). */
  private expireLeases(): void {
    if (this.closed) return;
    const due = this.read(() => this.stmt.expiredLeases.all(Date.now()) as number[]);
    for (const id of due) {
      this.write((p) => {
        // Another connection may have renewed or revoked it meanwhile.
        const l = this.stmt.getLease.get(id) as { expiresMs: number } | undefined;
        if (l && l.expiresMs <= Date.now()) this.applyRevoke(p, id);
      });
    }
    this.scheduleExpiry();
  }

  /** Arms one timer for the earliest lease expiry; it never keeps the process alive. */
  private scheduleExpiry(): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    if (this.closed) return;
    const next = this.read(() => this.stmt.nextExpiry.get() as number | null);
    if (next === null) return;
    const wait = Math.min(Math.max(next - Date.now(), 0) + 5, 2 ** 31 - 1);
    this.expiryTimer = setTimeout(() => {
      try {
        this.expireLeases();
      } catch (e) {
        defaultWatchError(e);
      }
    }, wait);
    this.expiryTimer.unref();
  }

  /** Deletes a lease's keys and the lease itself, inside a write. */
  private applyRevoke(p: Pending, id: number): void {
    for (const key of this.stmt.keysOfLease.all(id) as string[]) this.applyDelete(p, key);
    this.stmt.deleteLease.run(id);
  }

  private applyPut(p: Pending, key: string, value: string, lease?: LeaseId): void {
    let leaseId = 0;
    if (lease !== undefined) {
      leaseId = Number(lease);
      const l = this.stmt.getLease.get(leaseId) as { expiresMs: number } | undefined;
      if (!l || l.expiresMs <= Date.now()) throw leaseNotFound(lease);
    }
    this.stmt.upsert.run(key, value, p.rev, p.rev, leaseId);
    p.changed = true;
    p.events.push({ type: 'put', key, value, revision: p.rev });
  }

  private applyDelete(p: Pending, key: string): boolean {
    if (this.stmt.deleteKey.run(key).changes === 0) return false;
    p.changed = true;
    p.events.push({ type: 'delete', key, revision: p.rev });
    return true;
  }

  private applyDeletePrefix(p: Pending, prefix: string): void {
    const end = prefixEnd(prefix);
    const args = end === undefined ? [prefix] : [prefix, end];
    // Always: the watch history records every change, watched or not.
    const keys = (end === undefined ? this.stmt.keysFrom : this.stmt.keysRange).all(
      ...args,
    ) as string[];
    for (const key of keys) p.events.push({ type: 'delete', key, revision: p.rev });
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
    if (version === 1) db.exec(MIGRATE_1_TO_2);
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

function leaseNotFound(lease: LeaseId): BerthError {
  return new BerthError('NOT_FOUND', `store: lease ${lease} not found (expired or revoked)`);
}

function defaultWatchError(e: unknown): void {
  process.emitWarning(`store watch callback threw: ${messageOf(e)}`, 'BerthStoreWarning');
}
