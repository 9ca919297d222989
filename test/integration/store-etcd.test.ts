/**
 * The etcd store against a real etcd (Debian's etcd-server) that the tests
 * start on unix sockets: the shared KvStore contract, then what only a cluster
 * store must survive — failover between members, watches resuming across a
 * member's crash without losing or repeating events, compaction while a
 * watcher was away, no quorum failing fast and recovering by itself, TLS.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hasCode } from '../../src/common/errors.js';
import { EtcdStore } from '../../src/store/etcd/etcd.js';
import { isCompacted } from '../../src/store/errors.js';
import type { KvStore, WatchEvent } from '../../src/store/types.js';
import { runStoreContract } from '../unit/store-contract.js';
import { EtcdCluster, makeTestPki, type TestPki } from '../helpers/etcd.js';

let single: EtcdCluster | undefined;
let n = 0;

before(async () => {
  single = await EtcdCluster.start(1);
});
after(async () => {
  await single?.destroy();
});

runStoreContract('etcd', async () =>
  EtcdStore.open({ endpoints: (single as EtcdCluster).endpoints(), prefix: `/contract/${++n}/` }),
);
