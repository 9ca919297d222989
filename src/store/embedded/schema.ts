/**
 * The embedded store's on-disk schema and every statement it runs. Kept apart
 * from the store so tests can EXPLAIN exactly the SQL the store prepares.
 *
 * Keys are TEXT with the default BINARY collation, so SQLite orders them by
 * their UTF-8 bytes — the same order etcd uses for its byte-string keys.
 */

/** Bumped whenever the tables change; a newer file is refused, an older one migrated. */
export const SCHEMA_VERSION = 2;

/** Schema 1 → 2: keys gain a lease (0 = none). The lease table comes with DDL. */
export const MIGRATE_1_TO_2 = `ALTER TABLE kv ADD COLUMN lease INTEGER NOT NULL DEFAULT 0;`;

/** Creates the tables of the current schema; idempotent. */
export const DDL = `
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL,
  create_rev INTEGER NOT NULL,
  mod_rev INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_lease ON kv (lease) WHERE lease != 0;
CREATE TABLE IF NOT EXISTS lease (
  id INTEGER PRIMARY KEY NOT NULL,
  ttl INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS meta (
  name TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0);
INSERT OR IGNORE INTO meta (name, value) VALUES ('next_lease', 1);
`;

const ENTRY = 'key, value, create_rev AS createRevision, mod_rev AS modRevision, version, lease';

/** The statements the store prepares once at open. */
export const SQL = {
  /** The store revision (a single row, so it survives deleting every key). */
  getRevision: `SELECT value FROM meta WHERE name = 'revision'`,
  /** Sets the store revision. */
  setRevision: `UPDATE meta SET value = ? WHERE name = 'revision'`,
  /** One entry by key. */
  get: `SELECT ${ENTRY} FROM kv WHERE key = ?`,
  /** The modRevision of one key (no row when absent). */
  getModRevision: `SELECT mod_rev FROM kv WHERE key = ?`,
  /** Entries in [from, to): a range scan of the primary key. */
  listRange: `SELECT ${ENTRY} FROM kv WHERE key >= ? AND key < ? ORDER BY key`,
  /** Entries from `from` to the end (prefixes with no upper bound). */
  listFrom: `SELECT ${ENTRY} FROM kv WHERE key >= ? ORDER BY key`,
  /** Creates a key at version 1 or bumps an existing one, in one statement. */
  upsert:
    `INSERT INTO kv (key, value, create_rev, mod_rev, version, lease) VALUES (?, ?, ?, ?, 1, ?) ` +
    `ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_rev = excluded.mod_rev, ` +
    `version = version + 1, lease = excluded.lease`,
  /** Deletes one key. */
  deleteKey: `DELETE FROM kv WHERE key = ?`,
  /** Keys in [from, to), to report deletes to watchers. */
  keysRange: `SELECT key FROM kv WHERE key >= ? AND key < ? ORDER BY key`,
  /** Keys from `from` to the end. */
  keysFrom: `SELECT key FROM kv WHERE key >= ? ORDER BY key`,
  /** Deletes the keys in [from, to). */
  deleteRange: `DELETE FROM kv WHERE key >= ? AND key < ?`,
  /** Deletes the keys from `from` to the end. */
  deleteFrom: `DELETE FROM kv WHERE key >= ?`,
  /** The next lease id to hand out (ids are never reused). */
  getNextLease: `SELECT value FROM meta WHERE name = 'next_lease'`,
  /** Sets the next lease id. */
  setNextLease: `UPDATE meta SET value = ? WHERE name = 'next_lease'`,
  /** One lease. */
  getLease: `SELECT ttl, expires_ms AS expiresMs FROM lease WHERE id = ?`,
  /** Creates a lease. */
  insertLease: `INSERT INTO lease (id, ttl, expires_ms) VALUES (?, ?, ?)`,
  /** Renews a lease. */
  renewLease: `UPDATE lease SET expires_ms = ? WHERE id = ?`,
  /** Forgets a lease (its keys are deleted separately). */
  deleteLease: `DELETE FROM lease WHERE id = ?`,
  /** The keys attached to a lease. */
  keysOfLease: `SELECT key FROM kv WHERE lease = ? ORDER BY key`,
  /** Leases whose expiry has passed. */
  expiredLeases: `SELECT id FROM lease WHERE expires_ms <= ? ORDER BY expires_ms`,
  /** When the next lease expires (NULL when there is none). */
  nextExpiry: `SELECT min(expires_ms) FROM lease`,
} as const;

/**
 * The smallest string greater than every string that starts with `prefix`, or
 * undefined when there is none (empty prefix, or only U+10FFFF characters).
 * UTF-8 byte order equals code point order, so incrementing the last code
 * point gives the exclusive upper bound of a range scan; LIKE would treat `%`
 * and `_` in keys as wildcards and could not use the index for every prefix.
 * `prefix` must be well-formed (no lone surrogates).
 */
export function prefixEnd(prefix: string): string | undefined {
  const points = Array.from(prefix);
  while (points.length > 0) {
    const last = points.pop()?.codePointAt(0) ?? 0;
    if (last < 0x10ffff) {
      // Surrogate code points cannot be encoded; the next scalar value after U+D7FF is U+E000.
      const next = last === 0xd7ff ? 0xe000 : last + 1;
      return points.join('') + String.fromCodePoint(next);
    }
  }
  return undefined;
}
