/**
 * Crash safety: the store is IPAM's only truth. A plan that never reached the
 * store leaves nothing behind; a commit the process never learned about is
 * found on reopen; conflicts (two allocators on one file, a caller's own
 * compare failing, a store error with an unknown outcome) never hand out an
 * address twice. Last, a writer process is SIGKILLed at random points and the
 * store checked after each kill: every endpoint record has its address key and
 * every address key its endpoint record.
 *
 * Run with BERTH_IPAM_CRASH_CHILD=<db path>, this file is that writer.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STATUS_OF, conflict, hasCode } from '../../src/common/errors.js';
import { SqliteStore } from '../../src/store/embedded/sqlite.js';
import type { Compare, KvStore, Op, PutOptions, TxnResult } from '../../src/store/types.js';
import { Ipam, isReservedOwner } from '../../src/network/ipam/index.js';

const NET = 'net-id';

async function createNet(ipam: Ipam, network = NET, subnet?: string): Promise<string> {
  const { value } = await ipam.transact(async (tx) => ({
    value: (await tx.allocatePool({ network, networkName: network, ...(subnet ? { subnet } : {}) }))
      .subnet,
    ops: [{ type: 'put', key: `test/networks/${network}`, value: '{}' }],
  }));
  return value;
}

async function attach(ipam: Ipam, owner: string, network = NET): Promise<string> {
  const { value } = await ipam.transact((tx) => {
    const a = tx.allocateAddress({ network, networkName: network, family: 4, owner });
    return {
      value: a.address,
      ops: [{ type: 'put', key: `test/endpoints/${owner}`, value: a.address }],
    };
  });
  return value;
}

async function detach(ipam: Ipam, owner: string, network = NET): Promise<void> {
  await ipam.transact((tx) => {
    tx.releaseAddresses({ network, owner });
    return { value: undefined, ops: [{ type: 'delete', key: `test/endpoints/${owner}` }] };
  });
}

/** Every endpoint record has its address key and the other way round; returns the pairs. */
async function checkConsistent(store: KvStore): Promise<Map<string, string>> {
  const endpoints = new Map(
    (await store.list('test/endpoints/')).map((e) => [
      e.key.slice('test/endpoints/'.length),
      e.value,
    ]),
  );
  const held = new Map<string, string>();
  for (const e of await store.list('ipam/local/addrs/')) {
    const owner = (JSON.parse(e.value) as { owner: string }).owner;
    if (!isReservedOwner(owner)) held.set(owner, e.key.slice(e.key.lastIndexOf('/') + 1));
  }
  assert.deepEqual(held, endpoints, 'address keys and endpoint records disagree');
  return endpoints;
}

/** A store whose next txn can fail before committing, or commit and then fail. */
class FaultStore implements KvStore {
  next: 'before' | 'after' | ((c: Compare[], o: Op[]) => Promise<void>) | undefined;
  constructor(private readonly inner: KvStore) {}
  get = (k: string) => this.inner.get(k);
  list = (p: string) => this.inner.list(p);
  listWithRevision = (p: string) => this.inner.listWithRevision(p);
  put = (k: string, v: string, o?: PutOptions) => this.inner.put(k, v, o);
  delete = (k: string, o?: { ifModRevision?: number }) => this.inner.delete(k, o);
  watch: KvStore['watch'] = (p, cb, o) => this.inner.watch(p, cb, o);
  revision = () => this.inner.revision();
  compact = (r: number) => this.inner.compact(r);
  grantLease = (ttl: number) => this.inner.grantLease(ttl);
  keepAlive = (l: string) => this.inner.keepAlive(l);
  revokeLease = (l: string) => this.inner.revokeLease(l);
  leaseTimeToLive = (l: string) => this.inner.leaseTimeToLive(l);
  close = () => this.inner.close();
  async txn(c: Compare[], s: Op[], f?: Op[]): Promise<TxnResult> {
    const fault = this.next;
    this.next = undefined;
    if (fault === 'before') throw new Error('disk on fire');
    if (typeof fault === 'function') await fault(c, s);
    const r = await this.inner.txn(c, s, f);
    if (fault === 'after') throw new Error('connection lost after commit');
    return r;
  }
}

async function childMain(path: string): Promise<void> {
  const store = SqliteStore.open(path);
  const ipam = await Ipam.open(store);
  process.stdout.write('ready\n');
  let i = 0;
  for (;;) {
    const held = ipam.allocations(NET).filter((a) => !isReservedOwner(a.owner));
    const victim = held[Math.floor(Math.random() * held.length)];
    if (victim && (held.length > 200 || Math.random() < 0.4)) await detach(ipam, victim.owner);
    else await attach(ipam, `ep-${process.pid}-${i++}`);
  }
}

if (process.env.BERTH_IPAM_CRASH_CHILD) {
  await childMain(process.env.BERTH_IPAM_CRASH_CHILD);
} else {
  const root = mkdtempSync(join(tmpdir(), 'berth-ipam-crash-'));
  const open: KvStore[] = [];
  after(async () => {
    for (const s of open) await s.close();
    rmSync(root, { recursive: true, force: true });
  });
  let n = 0;
  const newPath = (): string => join(root, `s${++n}`, 'berth.db');
  const openStore = (path: string): SqliteStore => {
    const s = SqliteStore.open(path);
    open.push(s);
    return s;
  };

  describe('ipam crash safety', () => {
    it('a plan that never reached the store leaves nothing behind', async () => {
      const path = newPath();
      const store = openStore(path);
      const ipam = await Ipam.open(store);
      await createNet(ipam, NET, '10.7.0.0/24');
      const tx = ipam.begin();
      assert.equal(
        tx.allocateAddress({ network: NET, networkName: 'n', family: 4, owner: 'e1' }).address,
        '10.7.0.2',
      );
      // The process dies here, between computing the allocation and committing it.
      await store.close();
      const again = openStore(path);
      const reopened = await Ipam.open(again);
      assert.equal(reopened.ownerOf(NET, '10.7.0.2'), undefined);
      assert.deepEqual(
        reopened.allocations().map((a) => a.owner),
        ['gateway'],
      );
      assert.equal(await attach(reopened, 'e2'), '10.7.0.2');
      assert.equal(await attach(reopened, 'e3'), '10.7.0.3');
      await checkConsistent(again);
    });

    it('a commit the process never learned about is found, never handed out twice', async () => {
      const path = newPath();
      const store = openStore(path);
      const ipam = await Ipam.open(store);
      await createNet(ipam, NET, '10.8.0.0/24');
      const tx = ipam.begin();
      const a = tx.allocateAddress({ network: NET, networkName: 'n', family: 4, owner: 'e1' });
      const r = await store.txn(tx.compares(), [
        ...tx.ops(),
        { type: 'put', key: 'test/endpoints/e1', value: a.address },
      ]);
      assert.ok(r.succeeded);
      // The caller believes it failed: the cache forgets .2, the store keeps it.
      tx.abort();
      assert.equal(await attach(ipam, 'e2'), '10.8.0.3', 'the compare caught the stale cache');
      assert.ok(ipam.stats.conflicts >= 1);
      assert.equal(ipam.ownerOf(NET, '10.8.0.2'), 'e1', 'and the conflict refreshed it');
      await store.close();
      const reopened = await Ipam.open(openStore(path));
      assert.equal(reopened.ownerOf(NET, '10.8.0.2'), 'e1');
      assert.equal(await attach(reopened, 'e3'), '10.8.0.4');
    });

    it('survives store errors before and after the commit', async () => {
      const inner = openStore(newPath());
      const store = new FaultStore(inner);
      const ipam = await Ipam.open(store);
      await createNet(ipam, NET, '10.9.0.0/24');
      store.next = 'before';
      await assert.rejects(attach(ipam, 'e1'), /disk on fire/);
      assert.equal(await inner.get('test/endpoints/e1'), undefined);
      store.next = 'after';
      await assert.rejects(attach(ipam, 'e2'), /connection lost/);
      assert.equal(ipam.ownerOf(NET, '10.9.0.2'), 'e2', 'the unknown outcome was re-read');
      const conflicts = ipam.stats.conflicts;
      assert.equal(await attach(ipam, 'e3'), '10.9.0.3');
      assert.equal(ipam.stats.conflicts, conflicts, 'no retry needed');
      await checkConsistent(inner);
    });

    it("a caller's failing compare retries, then its error aborts with nothing left", async () => {
      const inner = openStore(newPath());
      const store = new FaultStore(inner);
      const ipam = await Ipam.open(store);
      await createNet(ipam, NET, '10.10.0.0/24');
      // Someone takes the endpoint's name between the build and the commit.
      store.next = async () => void (await inner.put('test/names/web', 'other'));
      let builds = 0;
      await assert.rejects(
        ipam.transact(async (tx) => {
          builds++;
          const name = await store.get('test/names/web');
          if (name) throw conflict('Conflict. The container name "/web" is already in use');
          const a = tx.allocateAddress({ network: NET, networkName: 'n', family: 4, owner: 'e1' });
          return {
            value: a,
            compares: [{ key: 'test/names/web', modRevision: 0 }],
            ops: [
              { type: 'put', key: 'test/names/web', value: 'e1' },
              { type: 'put', key: 'test/endpoints/e1', value: a.address },
            ],
          };
        }),
        (e) => hasCode(e, 'CONFLICT') && /already in use/.test((e as Error).message),
      );
      assert.equal(builds, 2);
      assert.equal(ipam.ownerOf(NET, '10.10.0.2'), undefined);
      assert.equal(await attach(ipam, 'e2'), '10.10.0.2');
      await checkConsistent(inner);
    });

    it('a compare that fails at every attempt gives up with its own code (not a message to match)', async () => {
      const inner = openStore(newPath());
      const store = new FaultStore(inner);
      const ipam = await Ipam.open(store, { attempts: 3 });
      await createNet(ipam, NET, '10.12.0.0/24');
      await inner.put('test/names/taken', 'other');
      let builds = 0;
      const err = await ipam
        .transact((tx) => {
          builds++;
          tx.allocateAddress({ network: NET, networkName: 'n', family: 4, owner: 'e1' });
          return { value: undefined, compares: [{ key: 'test/names/taken', modRevision: 0 }] };
        })
        .then(
          () => assert.fail('expected to give up'),
          (e: unknown) => e,
        );
      assert.ok(hasCode(err, 'RETRIES_EXHAUSTED'), String(err));
      assert.equal((err as Error).message, 'ipam: gave up after 3 conflicting attempts');
      assert.equal(STATUS_OF.RETRIES_EXHAUSTED, 409);
      assert.equal(builds, 3);
      // Nothing of the attempts is held.
      assert.equal(ipam.ownerOf(NET, '10.12.0.2'), undefined);
      await checkConsistent(inner);
    });

    it('concurrent attaches in one process get distinct addresses without conflicts', async () => {
      const store = openStore(newPath());
      const ipam = await Ipam.open(store);
      await createNet(ipam, NET, '10.11.0.0/24');
      const got = await Promise.all(Array.from({ length: 50 }, (_, i) => attach(ipam, `e${i}`)));
      assert.equal(new Set(got).size, 50);
      assert.equal(ipam.stats.conflicts, 0);
      assert.equal((await checkConsistent(store)).size, 50);
    });

    it('two allocators on one file never overlap subnets or share an address', async () => {
      const path = newPath();
      const [s1, s2] = [openStore(path), openStore(path)];
      const [a, b] = [await Ipam.open(s1), await Ipam.open(s2)];
      const subnets = await Promise.all(
        Array.from({ length: 12 }, (_, i) => createNet(i % 2 ? a : b, `net${i}`)),
      );
      assert.equal(new Set(subnets).size, 12, subnets.join(' '));
      assert.equal((await s1.list('ipam/local/pools/')).length, 12);
      await a.reload();
      await b.reload();
      const ips = await Promise.all(
        Array.from({ length: 60 }, (_, i) => attach(i % 2 ? a : b, `e${i}`, 'net0')),
      );
      assert.equal(new Set(ips).size, 60);
      await checkConsistent(s1);
      // One removes the network; the other's stale cache cannot allocate into it.
      await a.transact(async (tx) => ({ value: await tx.releasePools('net0', { force: true }) }));
      await assert.rejects(attach(b, 'late', 'net0'), (e) => hasCode(e, 'UNAVAILABLE'));
      assert.deepEqual(await s1.list('ipam/local/addrs/' + subnets[0] + '/'), []);
    });

    it('SIGKILL at random points never leaks or duplicates an address', async (t) => {
      const path = newPath();
      const setup = openStore(path);
      await createNet(await Ipam.open(setup), NET, '10.12.0.0/24');
      await setup.close();
      const self = fileURLToPath(import.meta.url);
      const rounds = 25;
      let endpoints = 0;
      for (let round = 0; round < rounds; round++) {
        const child = spawn(process.execPath, [self], {
          env: { ...process.env, BERTH_IPAM_CRASH_CHILD: path },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        const exited = new Promise((r) => child.once('exit', r));
        await new Promise<void>((resolve, reject) => {
          child.stdout.once('data', () => resolve());
          child.once('exit', () => reject(new Error('writer exited before it was ready')));
        });
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 60));
        child.kill('SIGKILL');
        await exited;
        const store = SqliteStore.open(path);
        try {
          endpoints = (await checkConsistent(store)).size;
          const ipam = await Ipam.open(store);
          const before = new Set(ipam.allocations(NET).map((x) => x.address));
          if (before.size < 254) assert.ok(!before.has(await attach(ipam, `probe${round}`)));
        } finally {
          await store.close();
        }
      }
      t.diagnostic(
        `${rounds} kills, ${endpoints} endpoints at the end, store consistent after each`,
      );
    });
  });
}
