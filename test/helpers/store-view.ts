/**
 * Read-only views of a lab daemon's store (its SQLite file, opened beside the
 * running daemon: WAL lets a second reader in), for tests that check what a
 * crash or a race left behind.
 */
import Database from 'better-sqlite3';

export interface StoredContainer {
  Id: string;
  Name: string;
  State: { Status: string };
}

/** Every row whose key starts with `prefix`, in key order. */
export function storeRows(dataRoot: string, prefix: string): Array<{ key: string; value: string }> {
  const db = new Database(`${dataRoot}/berth.db`, { readonly: true, fileMustExist: true });
  try {
    // The prefix's successor bounds the range (no LIKE: '_' is a wildcard there).
    const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    return db
      .prepare('SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key')
      .all(prefix, end) as Array<{ key: string; value: string }>;
  } finally {
    db.close();
  }
}

/**
 * The container records and name keys in the store, and what is wrong
 * between them: a record whose name key names another container (or
 * nothing), a name key whose record is gone, two records with one name.
 */
export function containerStore(dataRoot: string): {
  records: StoredContainer[];
  names: Map<string, string>;
  problems: string[];
} {
  const records = storeRows(dataRoot, 'containers/by-id/').map(
    (r) => JSON.parse(r.value) as StoredContainer,
  );
  const names = new Map(
    storeRows(dataRoot, 'containers/names/').map((r) => [
      r.key.slice('containers/names/'.length),
      r.value,
    ]),
  );
  const problems: string[] = [];
  const byName = new Map<string, string[]>();
  for (const c of records) {
    const n = c.Name.slice(1);
    byName.set(n, [...(byName.get(n) ?? []), c.Id.slice(0, 12)]);
    if (names.get(n) !== c.Id) {
      problems.push(`record ${c.Id.slice(0, 12)} (${c.Name}) does not own its name key`);
    }
  }
  for (const [n, ids] of byName) {
    if (ids.length > 1) problems.push(`${ids.length} records named /${n}: ${ids.join(' ')}`);
  }
  const ids = new Set(records.map((c) => c.Id));
  for (const [n, id] of names) {
    if (!ids.has(id)) problems.push(`name key ${n} names a missing record ${id.slice(0, 12)}`);
  }
  return { records, names, problems };
}
