/**
 * The convergence guarantee's logic (src/cluster/applied.ts, decision
 * 0023) with three "hosts" on one embedded store, as three berthds on one
 * etcd; each programs nothing but a set of endpoint IDs, through a chain
 * shaped like the controller's updatePeers, and can be held. A join waits
 * until the hosts that had an endpoint on the network before it have
 * programmed it; not for hosts off the network, nor hosts that came after,
 * nor hosts whose node key went; gives up after its bound and then skips
 * that host until it has caught up; a burst costs a host fewer reports
 * than starts, written under its node's lease.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APPLIED, Convergence } from '../../src/cluster/applied.js';
import { GlobalNetworks } from '../../src/cluster/networks.js';
import { NODES } from '../../src/cluster/nodes.js';
import type { GlobalNetworkCreate } from '../../src/network/types.js';
import { createLogger } from '../../src/common/log.js';
import { openEmbeddedStore } from '../../src/store/index.js';
import type { KvStore, LeaseId } from '../../src/store/types.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const log = createLogger('fatal');
const create: GlobalNetworkCreate = {
  Name: 'ov',
  Driver: 'overlay',
  Internal: false,
  Attachable: false,
  Options: {},
  Labels: {},
  IPAM: { Driver: 'default', Options: null, Config: [] },
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually(check: () => boolean | Promise<boolean>, ms = 2000): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) assert.fail(`not within ${ms} ms`);
    await sleep(5);
  }
}

/** One host: its global networks, its convergence, and a controller that programs a set. */
async function host(kv: KvStore, i: number, timeoutMs = 2000, reportsLingerMs?: number) {
  const self = { node: `192.168.205.${10 + i}:2375`, vtep: `192.168.205.${10 + i}` };
  const lease: LeaseId = await kv.grantLease(60);
  await kv.put(NODES + self.node, '{}', { lease });
  const g = GlobalNetworks.start(kv, log, self);
  // The convergence's store, its reads and watches counted.
  let reads = 0;
  const counted = new Proxy(kv, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      const f = v as (...args: unknown[]) => unknown;
      const read = ['get', 'list', 'listWithRevision', 'watch', 'revision'].includes(String(prop));
      return (...args: unknown[]) => {
        if (read) reads++;
        return f.apply(target, args);
      };
    },
  });
  const c = new Convergence(counted, {
    node: self.node,
    lease: () => lease,
    endpoints: g.endpoints,
    log,
    timeoutMs,
    ...(reportsLingerMs === undefined ? {} : { reportsLingerMs }),
  });
  await g.loaded;
  /** The remote endpoints this host has programmed. */
  const programmed = new Set<string>();
  let hold: Promise<void> = Promise.resolve();
  let release = () => {};
  let tail: Promise<void> = Promise.resolve();
  let queued: Promise<void> | undefined;
  /** The controller's updatePeers: one at a time, later changes join one not started. */
  const update = (net: string): Promise<void> => {
    if (queued) return queued;
    const run = tail.then(async () => {
      queued = undefined;
      const at = c.revision();
      const peers = g.endpointsOf(net).filter((e) => e.Node !== self.node);
      await hold;
      for (const p of peers) programmed.add(p.Id);
      c.applied(net, at);
    });
    tail = run;
    queued = run;
    return run;
  };
  g.onEndpointsChange((net) => void update(net));
  let n = 0;
  return {
    self,
    lease,
    g,
    c,
    programmed,
    /** How many reads and watches the convergence has made of the store. */
    reads: () => reads,
    /** Programming waits until released. */
    hold() {
      hold = new Promise((r) => (release = r));
    },
    release: () => release(),
    /** Slows every programming by `ms`. */
    slow(ms: number) {
      hold = { then: (r: () => void) => setTimeout(r, ms) } as unknown as Promise<void>;
    },
    /**
     * A join: the endpoint in the store, then the wait as the controller
     * does it; a connect (`others` false) marks it not awaited and does not
     * wait for the other hosts.
     */
    async join(netId: string, others = true) {
      const k = n++;
      const { endpoint, revision } = await g.attach({
        networkId: netId,
        id: `ep${i}-${k}`,
        containerId: `c${i}`,
        name: `c${i}-${k}`,
        aliases: [],
        ...(others ? {} : { awaited: false }),
      });
      const r = await c.converge(netId, revision, () => update(netId), others);
      return { ...r, endpoint, revision };
    },
    close() {
      release();
      c.close();
      g.close();
    },
  };
}

type Host = Awaited<ReturnType<typeof host>>;

async function cluster(n: number, timeoutMs?: number, reportsLingerMs?: number) {
  const d = mkdtempSync(join(tmpdir(), 'berth-applied-'));
  dirs.push(d);
  const kv = await openEmbeddedStore(d);
  const hosts: Host[] = [];
  for (let i = 0; i < n; i++) hosts.push(await host(kv, i, timeoutMs, reportsLingerMs));
  const net = await hosts[0]!.g.create(create);
  await eventually(() => hosts.every((h) => h.g.get(net.Id) !== undefined));
  return {
    kv,
    hosts,
    net: net.Id,
    async close() {
      for (const h of hosts) h.close();
      await kv.close();
    },
  };
}

describe('convergence', () => {
  it('returns a join once the other host on the network has programmed it', async () => {
    const { kv, hosts, net, close } = await cluster(3);
    const [h1, h2, h3] = hosts as [(typeof hosts)[0], (typeof hosts)[0], (typeof hosts)[0]];
    await h2.join(net);
    h2.hold();
    let done = false;
    const joining = h1.join(net).then((r) => ((done = true), r));
    await sleep(150);
    assert.equal(done, false, 'the join waited for host 2');
    h2.release();
    const r = await joining;
    assert.ok(h2.programmed.has(r.endpoint.Id), 'host 2 had programmed it when the join returned');
    assert.deepEqual([r.hosts, r.missing, r.skipped], [[h2.self.node], [], []]);
    // Host 3 is on no endpoint of the network: not waited for, and it wrote nothing.
    assert.equal(await kv.get(APPLIED + h3.self.node), undefined);
    // Host 2's report lives under its node's lease.
    const report = await kv.get(APPLIED + h2.self.node);
    assert.ok(Number(report?.value) >= r.revision);
    assert.equal(report?.lease, h2.lease);
    await close();
  });

  it('a connect waits for no other host, and no host writes a report for it (decision 0039)', async () => {
    const { kv, hosts, net, close } = await cluster(2);
    const [h1, h2] = hosts as [(typeof hosts)[0], (typeof hosts)[0]];
    await h2.join(net);
    const before = await kv.get(APPLIED + h2.self.node);
    h2.hold();
    const t0 = performance.now();
    const r = await h1.join(net, false);
    assert.ok(performance.now() - t0 < 500, 'it did not wait for the held host');
    assert.deepEqual([r.hosts, r.missing, r.skipped], [[], [], []]);
    assert.ok(h1.c.revision() >= r.revision, 'this host’s own view has it');
    const stored = await kv.get(`endpoints/${net}/${r.endpoint.Id}`);
    assert.equal(JSON.parse(stored!.value).Awaited, false);
    // The other host still programs it, as its watch brings it ...
    h2.release();
    await eventually(() => h2.programmed.has(r.endpoint.Id));
    await sleep(50);
    // ... and writes nothing for it.
    assert.deepEqual(await kv.get(APPLIED + h2.self.node), before);
    // A start after it is waited for and reported as ever.
    const s = await h1.join(net);
    assert.deepEqual([s.hosts, s.missing], [[h2.self.node], []]);
    assert.ok(Number((await kv.get(APPLIED + h2.self.node))?.value) >= s.revision);
    await close();
  });

  it('reads nothing from the store for joins in a row whose peers have reported', async () => {
    const { hosts, net, close } = await cluster(2);
    const [h1, h2] = hosts as [(typeof hosts)[0], (typeof hosts)[0]];
    await h2.join(net);
    // The first join reads the reports (a list, then a watch) ...
    const first = h1.reads();
    await h1.join(net);
    assert.equal(h1.reads() - first, 2, 'the first wait lists and watches applied/');
    // ... a join that waits: the report comes through the mirror's watch, no read.
    h2.slow(30);
    const before = h1.reads();
    const waited = await h1.join(net);
    assert.deepEqual([waited.hosts, waited.missing], [[h2.self.node], []]);
    assert.ok(h2.programmed.has(waited.endpoint.Id));
    // One whose peer reported already (programmed before the wait begins).
    h2.slow(0);
    const { revision } = await h1.g.attach({
      networkId: net,
      id: 'reported',
      containerId: 'r',
      name: 'r',
      aliases: [],
    });
    await eventually(() => h2.programmed.has('reported'));
    await sleep(50);
    const t0 = performance.now();
    const r = await h1.c.converge(net, revision, async () => {});
    assert.deepEqual([r.hosts, r.missing], [[h2.self.node], []]);
    // Well under the 2 s bound a wait for a new report would run into.
    assert.ok(performance.now() - t0 < 1000, `took ${performance.now() - t0} ms`);
    assert.equal(h1.reads() - before, 0, 'no read or watch of the store by the waits');
    await close();
  });

  it('follows applied/ only while joining: a host that does not join never reads it, and it goes after the linger', async () => {
    const { hosts, net, close } = await cluster(2, undefined, 100);
    const [h1, h2] = hosts as [(typeof hosts)[0], (typeof hosts)[0]];
    await h2.join(net);
    const idle = h2.reads();
    const before = h1.reads();
    for (let k = 0; k < 3; k++) await h1.join(net);
    assert.equal(h1.reads() - before, 2, 'one list and one watch for three joins in a row');
    assert.equal(h2.reads(), idle, "the peer reports, but does not follow the others' reports");
    await sleep(250);
    const again = h1.reads();
    const r = await h1.join(net);
    assert.deepEqual([r.hosts, r.missing], [[h2.self.node], []]);
    assert.equal(h1.reads() - again, 2, 'after the linger the next join lists and watches again');
    await close();
  });

  it('does not wait for a host whose endpoint came after the join', async () => {
    const { hosts, net, close } = await cluster(2);
    const [h1, h2] = hosts as [(typeof hosts)[0], (typeof hosts)[0]];
    const { revision } = await h1.g.attach({
      networkId: net,
      id: 'first',
      containerId: 'c',
      name: 'c',
      aliases: [],
    });
    h2.hold();
    await h2.g.attach({ networkId: net, id: 'later', containerId: 'd', name: 'd', aliases: [] });
    await eventually(() => h1.g.endpointsOf(net).length === 2);
    const r = await h1.c.converge(net, revision, async () => {});
    assert.deepEqual(r.hosts, []);
    await close();
  });

  it('stops waiting for a host whose node key goes', async () => {
    const { kv, hosts, net, close } = await cluster(2);
    const [h1, h2] = hosts as [(typeof hosts)[0], (typeof hosts)[0]];
    await h2.join(net);
    h2.hold();
    const joining = h1.join(net);
    await sleep(100);
    const t0 = Date.now();
    await kv.revokeLease(h2.lease);
    const r = await joining;
    assert.ok(Date.now() - t0 < 1000, 'ended by the node going, not by the bound');
    assert.deepEqual(r.missing, []);
    // Later joins do not wait for it at all.
    assert.deepEqual((await h1.join(net)).hosts, []);
    await close();
  });

  it('gives up after its bound, then skips that host until it has caught up', async () => {
    const { hosts, net, close } = await cluster(2, 300);
    const [h1, h2] = hosts as [(typeof hosts)[0], (typeof hosts)[0]];
    await h2.join(net);
    h2.hold();
    const t0 = Date.now();
    const gaveUp = await h1.join(net);
    const took = Date.now() - t0;
    assert.ok(took >= 280 && took < 1000, `gave up after ${took} ms`);
    assert.deepEqual([gaveUp.hosts, gaveUp.missing], [[h2.self.node], [h2.self.node]]);
    // While it lags, a join does not wait for it.
    const t1 = Date.now();
    const skipped = await h1.join(net);
    assert.ok(Date.now() - t1 < 280, 'not the 300 ms bound');
    assert.deepEqual([skipped.hosts, skipped.missing, skipped.skipped], [[], [], [h2.self.node]]);
    // Caught up: waited for again, and programmed when the join returns.
    h2.release();
    await eventually(() => h2.c.appliedRevision() >= skipped.revision);
    await sleep(50);
    const back = await h1.join(net);
    assert.deepEqual([back.hosts, back.missing, back.skipped], [[h2.self.node], [], []]);
    assert.ok(h2.programmed.has(back.endpoint.Id));
    await close();
  });

  it('costs a host fewer reports than starts in a burst', async () => {
    const { kv, hosts, net, close } = await cluster(2);
    const [h1, h2] = hosts as [(typeof hosts)[0], (typeof hosts)[0]];
    await h2.join(net);
    let writes = 0;
    const stop = await kv.watch(APPLIED + h2.self.node, () => writes++);
    h2.slow(100);
    const starts = 10;
    const joins = [];
    for (let i = 0; i < starts; i++) joins.push(await h1.join(net).catch(() => undefined));
    // Sequential joins each wait: every one was confirmed.
    assert.ok(joins.every((j) => j && j.missing.length === 0));
    const w1 = writes;
    assert.ok(w1 >= 1 && w1 <= starts, `${w1} reports for ${starts} sequential starts`);
    // Concurrent starts share the reports.
    writes = 0;
    const burst = await Promise.all(
      Array.from({ length: starts }, async (_, k) => {
        const { revision } = await h1.g.attach({
          networkId: net,
          id: `b${k}`,
          containerId: `b${k}`,
          name: `b${k}`,
          aliases: [],
        });
        return revision;
      }),
    );
    const last = Math.max(...burst);
    await eventually(async () => Number((await kv.get(APPLIED + h2.self.node))?.value) >= last);
    assert.ok(writes >= 1 && writes < starts / 2, `${writes} reports for a burst of ${starts}`);
    stop();
    await close();
  });
});
