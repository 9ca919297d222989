/**
 * The store package: the KV interface every piece of daemon state goes through,
 * the factory for the embedded (single-host) implementation, and the one for
 * the cluster store on etcd (loaded on demand: gRPC costs start-up time).
 */
import { join } from 'node:path';
import type { ClusterMembers, KvStore } from './types.js';
import { SqliteStore, type SqliteStoreOptions } from './embedded/sqlite.js';

export type * from './types.js';
export type { EtcdStoreOptions, EtcdTlsFiles } from './etcd/options.js';
export { CompactedError, isCompacted } from './errors.js';
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

/** Opens the cluster store on etcd (see EtcdStore.open). */
export async function openClusterStore(
  opts: import('./etcd/options.js').EtcdStoreOptions,
  verify = true,
): Promise<KvStore & ClusterMembers> {
  const { EtcdStore } = await import('./etcd/etcd.js');
  return EtcdStore.open(opts, verify);
}
