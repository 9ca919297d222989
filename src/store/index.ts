/**
 * The store package: the KV interface every piece of daemon state goes through,
 * and the factory for the embedded (single-host) implementation.
 */
import { join } from 'node:path';
import type { KvStore } from './types.js';
import { SqliteStore, type SqliteStoreOptions } from './embedded/sqlite.js';

export type * from './types.js';
export { SqliteStore, type SqliteStoreOptions };

/** File name of the embedded store inside the daemon's data root. */
export const EMBEDDED_DB_FILE = 'berth.db';

/** Opens the embedded store at `<dataRoot>/berth.db`, creating it (and dataRoot) if needed. */
export async function openEmbeddedStore(
  dataRoot: string,
  opts: SqliteStoreOptions = {},
): Promise<KvStore> {
  return SqliteStore.open(join(dataRoot, EMBEDDED_DB_FILE), opts);
}
