/**
 * Dead hosts' endpoints and a returning host (decision 0024), over one
 * embedded store shared by several "hosts" (GlobalNetworks each, as berthds
 * on one etcd): which endpoints are reaped and which restored (pure), the
 * guarded reap (hosts racing free an address once; a host that registered
 * again keeps its endpoints), the reaper following `nodes/`, the restore
 * with the same address or not at all, and the returning host's reconcile
 * both ways (with a stand-in for its local records).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GLOBAL_ENDPOINTS, GlobalNetworks } from '../../src/cluster/networks.js';
import { NODES } from '../../src/cluster/nodes.js';
import { Reaper, orphans } from '../../src/cluster/reaper.js';
import { Rejoin, rejoinPlan, type HostEndpoints } from '../../src/cluster/rejoin.js';
import { BerthError } from '../../src/common/errors.js';
import { createLogger } from '../../src/common/log.js';
import type { EndpointRecord } from '../../src/network/records.js';
import type { GlobalEndpoint } from '../../src/network/types.js';
import { openEmbeddedStore } from '../../src/store/index.js';
import type { KvStore } from '../../src/store/types.js';
import { waitFor } from '../helpers/wait.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const log = createLogger('error');
const H1 = { node: '192.168.205.10:2375', vtep: '192.168.205.10' };
const H2 = { node: '192.168.205.11:2375', vtep: '192.168.205.11' };
const H3 = { node: '192.168.205.12:2375', vtep: '192.168.205.12' };

const gep = (Id: string, Node: string, IPv4 = '10.0.0.9'): GlobalEndpoint => ({
  Id,
  NetworkID: 'n1',
  ContainerID: `c-${Id}`,
  Name: Id,
  Aliases: [],
  IPv4,
  PrefixLen: 24,
  Mac: '02:42:0a:00:00:09',
  Node,
  Vtep: Node.split(':')[0]!,
});
const lep = (Id: string, State: EndpointRecord['State'] = 'ready'): EndpointRecord => ({
  Id,
  NetworkID: 'n1',
  ContainerID: `c-${Id}`,
  IfName: 'eth0',
  IPv4: '10.0.0.9',
  PrefixLen: 24,
  Mac: '02:42:0a:00:00:09',
  State,
});

describe('which endpoints go and which come back (pure)', () => {
  it("reaps the endpoints of hosts that are not registered, never this host's", () => {
    const eps = [gep('a', H1.node), gep('b', H2.node), gep('c', H3.node), gep('d', H3.node)];
    const got = orphans(eps, new Set([H2.node]), H1.node).map((e) => e.Id);
    assert.deepEqual(got, ['c', 'd']);
    assert.deepEqual(orphans(eps, new Set([H1.node, H2.node, H3.node]), H1.node), []);
  });

  it('restores local endpoints the store lacks; removes own entries no local record names', () => {
    const local = [lep('kept'), lep('lost'), lep('joining', 'attaching')];
    const stored = [gep('kept', H1.node), gep('leftover', H1.node), gep('others', H2.node)];
    const plan = rejoinPlan(local, stored, H1.node);
    assert.deepEqual(
      plan.restore.map((e) => e.Id),
      ['lost', 'joining'],
    );
    assert.deepEqual(
      plan.remove.map((e) => e.Id),
      ['leftover'],
    );
    assert.deepEqual(plan.rename, []);
  });

  it("renames own entries named differently than here, not other hosts' ones", () => {
    const local = [
      { ...lep('mine'), Name: 'new' },
      { ...lep('same'), Name: 'same' },
      lep('theirs'),
    ];
    const stored = [gep('mine', H1.node), gep('same', H1.node), gep('theirs', H2.node)];
    assert.deepEqual(
      rejoinPlan(local, stored, H1.node).rename.map((e) => e.Id),
      ['mine'],
    );
  });
});

async function cluster() {
  const d = mkdtempSync(join(tmpdir(), 'berth-reap-'));
  dirs.push(d);
  const kv = await openEmbeddedStore(d);
  const hosts = await Promise.all([H1, H2, H3].map((h) => GlobalNetworks.open(kv, log, h)));
  for (const h of [H1, H2, H3]) await kv.put(NODES + h.node, JSON.stringify({ Addr: h.node }));
  const net = await hosts[0]!.create({
    Name: 'ov1',
    Driver: 'overlay',
    Internal: false,
    Attachable: false,
    Options: {},
    Labels: {},
    IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '10.0.0.0/24' }] },
  });
  const attach = async (h: GlobalNetworks, id: string, ip?: string) =>
    (
      await h.attach({
        networkId: net.Id,
        id,
        containerId: `c-${id}`,
        name: id,
        aliases: [],
        staticIPv4: ip,
      })
    ).endpoint;
  const close = async () => {
    for (const h of hosts) h.close();
    await kv.close();
  };
  return { kv, h1: hosts[0]!, h2: hosts[1]!, h3: hosts[2]!, net, attach, close };
}

/** The address keys of the global IPAM, as `ip → owner`. */
async function addresses(kv: KvStore): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await kv.list('ipam/global/addrs/')) {
    const owner = (JSON.parse(e.value) as { owner: string }).owner;
    if (owner !== 'gateway') out[e.key.split('/').pop()!] = owner;
  }
  return out;
}

async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(what);
}

describe('reaping a dead host', () => {
  it('does nothing while the host is registered; once it is gone, racing hosts free each address once', async () => {
    const c = await cluster();
    const eps = await Promise.all([c.attach(c.h2, 'e1'), c.attach(c.h2, 'e2')]);
    const key = (id: string) => `${GLOBAL_ENDPOINTS}${c.net.Id}/${id}`;
    assert.equal(await c.h1.reap(c.net.Id, 'e1'), false);
    assert.ok(await c.kv.get(key('e1')));
    await c.kv.delete(NODES + H2.node);
    const won = await Promise.all(
      eps.flatMap((e) => [c.h1.reap(c.net.Id, e.Id), c.h3.reap(c.net.Id, e.Id)]),
    );
    assert.deepEqual(
      [won[0]! !== won[1]!, won[2]! !== won[3]!],
      [true, true],
      `each endpoint reaped by exactly one host: ${won.join(' ')}`,
    );
    assert.equal(await c.kv.get(key('e1')), undefined);
    assert.equal(await c.kv.get(key('e2')), undefined);
    // Each address is kept under one tombstone naming the endpoint and its host.
    assert.deepEqual(await addresses(c.kv), {
      [eps[0]!.IPv4]: `reaped:e1@${H2.node}`,
      [eps[1]!.IPv4]: `reaped:e2@${H2.node}`,
    });
    await c.close();
  });

  it('keeps the endpoints of a host that registered again before the reap committed', async () => {
    const c = await cluster();
    await c.attach(c.h2, 'e1');
    await c.kv.delete(NODES + H2.node);
    await c.kv.put(NODES + H2.node, JSON.stringify({ Addr: H2.node }));
    assert.equal(await c.h1.reap(c.net.Id, 'e1'), false);
    assert.deepEqual(Object.values(await addresses(c.kv)), ['e1']);
    await c.close();
  });

  it("follows nodes/: a host's lease runs out, every other host's reaper sweeps, its endpoints go and their addresses are kept", async () => {
    const c = await cluster();
    const lease = await c.kv.grantLease(30);
    await c.kv.put(NODES + H2.node, JSON.stringify({ Addr: H2.node }), { lease });
    const e1 = await c.attach(c.h2, 'e1');
    const own = await c.attach(c.h1, 'mine');
    const reapers = [new Reaper(c.kv, c.h1, H1.node, log), new Reaper(c.kv, c.h3, H3.node, log)];
    const seen: string[] = [];
    c.h1.onEndpointsChange((n) => seen.push(n));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await c.h1.storedEndpoints()).length, 2, 'nothing reaped while it lives');
    await c.kv.revokeLease(lease);
    await eventually('e1 reaped', async () => (await c.h1.storedEndpoints()).length === 1);
    assert.deepEqual(await addresses(c.kv), {
      [own.IPv4]: 'mine',
      [e1.IPv4]: `reaped:e1@${H2.node}`,
    });
    await eventually('h1 saw the change', async () => seen.includes(c.net.Id));
    assert.deepEqual(
      c.h1.endpointsOf(c.net.Id).map((e) => e.Id),
      ['mine'],
    );
    for (const r of reapers) r.close();
    await c.close();
  });

  it('sweeps at start the endpoints of a host that died while no host watched', async () => {
    const c = await cluster();
    const e1 = await c.attach(c.h3, 'e1');
    await c.kv.delete(NODES + H3.node);
    const r = new Reaper(c.kv, c.h1, H1.node, log);
    await eventually('swept', async () => (await c.h1.storedEndpoints()).length === 0);
    assert.deepEqual(await addresses(c.kv), { [e1.IPv4]: `reaped:e1@${H3.node}` });
    r.close();
    await c.close();
  });
});

describe("a dead host's addresses", () => {
  it('are kept from automatic allocation while the pool has others, then the oldest goes first', async () => {
    const c = await cluster();
    const small = await c.h1.create({
      Name: 'ov-small',
      Driver: 'overlay',
      Internal: false,
      Attachable: false,
      Options: {},
      Labels: {},
      IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '10.9.0.0/29' }] },
    });
    const att = (h: GlobalNetworks, id: string, ip?: string) =>
      h.attach({
        networkId: small.Id,
        id,
        containerId: `c-${id}`,
        name: id,
        aliases: [],
        staticIPv4: ip,
      });
    const a = (await att(c.h2, 'a')).endpoint; // 10.9.0.2
    const b = (await att(c.h2, 'b')).endpoint; // 10.9.0.3
    await c.kv.delete(NODES + H2.node);
    assert.equal(await c.h1.reap(small.Id, a.Id), true);
    assert.equal(await c.h1.reap(small.Id, b.Id), true);
    // .4 .5 .6 are free: automatic attaches take those, not the dead host's.
    const got: string[] = [];
    for (const id of ['x', 'y', 'z']) got.push((await att(c.h1, id)).endpoint.IPv4);
    assert.deepEqual(got, ['10.9.0.4', '10.9.0.5', '10.9.0.6']);
    // Full: the address reaped first is taken over, then the next.
    assert.equal((await att(c.h1, 'w')).endpoint.IPv4, a.IPv4);
    assert.equal((await att(c.h3, 'v')).endpoint.IPv4, b.IPv4);
    await assert.rejects(att(c.h1, 'u'), /no available IPv4 addresses|no addresses/i);
    await c.kv.put(NODES + H2.node, JSON.stringify({ Addr: H2.node }));
    const { Node: _n, Vtep: _v, ...back } = a;
    assert.equal(await c.h2.restore(back), 'taken');
    await c.close();
  });

  it('are given when asked for by name (--ip), and a kept one goes with its network', async () => {
    const c = await cluster();
    const ep = await c.attach(c.h2, 'e1');
    await c.kv.delete(NODES + H2.node);
    assert.equal(await c.h1.reap(c.net.Id, 'e1'), true);
    assert.equal((await c.attach(c.h1, 'named', ep.IPv4)).IPv4, ep.IPv4);
    assert.deepEqual(await addresses(c.kv), { [ep.IPv4]: 'named' });
    await c.h1.detach(c.net.Id, 'named');
    // Another reaped address does not keep the network from going.
    await c.attach(c.h2, 'e2');
    await c.h1.reap(c.net.Id, 'e2');
    await c.h1.remove(c.net);
    assert.deepEqual(await addresses(c.kv), {});
    await c.close();
  });
});

describe('a host coming back', () => {
  it('gets its endpoint back with the same address when it is free', async () => {
    const c = await cluster();
    const ep = await c.attach(c.h2, 'e1');
    await c.kv.delete(NODES + H2.node);
    assert.equal(await c.h1.reap(c.net.Id, 'e1'), true);
    const { Node: _n, Vtep: _v, ...back } = ep;
    assert.equal(await c.h2.restore(back), 'unregistered', 'not while it is unregistered');
    await c.kv.put(NODES + H2.node, JSON.stringify({ Addr: H2.node }));
    assert.equal(await c.h2.restore(back), 'restored');
    assert.equal(await c.h2.restore(back), 'present');
    assert.deepEqual(await c.h2.storedEndpoints(), [ep]);
    assert.deepEqual(await addresses(c.kv), { [ep.IPv4]: 'e1' });
    // The next attach does not get it.
    const other = await c.attach(c.h1, 'e2');
    assert.notEqual(other.IPv4, ep.IPv4);
    await c.close();
  });

  it('takes its name back, unless another endpoint took it: then it keeps the name without the claim', async () => {
    const c = await cluster();
    const claim = (name: string) => c.kv.get(`networks/endpoint-names/${c.net.Id}/${name}`);
    const ep = await c.attach(c.h2, 'e1');
    await c.kv.delete(NODES + H2.node);
    assert.equal(await c.h1.reap(c.net.Id, 'e1'), true);
    assert.equal(await claim(ep.Name), undefined, 'freed with the reaped endpoint');
    await c.kv.put(NODES + H2.node, JSON.stringify({ Addr: H2.node }));
    const { Node: _n, Vtep: _v, ...back } = ep;
    assert.equal(await c.h2.restore(back), 'restored');
    assert.equal((await claim(ep.Name))?.value, 'e1');
    // Again, with the name taken while the host was away.
    await c.kv.delete(NODES + H2.node);
    assert.equal(await c.h1.reap(c.net.Id, 'e1'), true);
    await c.h1.attach({
      networkId: c.net.Id,
      id: 'other',
      containerId: 'o',
      name: ep.Name,
      aliases: [],
    });
    await c.kv.put(NODES + H2.node, JSON.stringify({ Addr: H2.node }));
    assert.equal(await c.h2.restore(back), 'restored');
    assert.equal((await claim(ep.Name))?.value, 'other');
    const stored = (await c.h2.storedEndpoints()).find((e) => e.Id === 'e1');
    assert.deepEqual([stored?.Name, stored?.NameHeld], [ep.Name, false]);
    // Leaving, it frees nothing of the other's.
    await c.h2.detach(c.net.Id, 'e1');
    assert.equal((await claim(ep.Name))?.value, 'other');
    await c.close();
  });

  it('frees the name of an endpoint it put back and removed before its watch brought it', async () => {
    const c = await cluster();
    const claim = (name: string) => c.kv.get(`networks/endpoint-names/${c.net.Id}/${name}`);
    const ep = await c.attach(c.h2, 'e1');
    await c.kv.delete(NODES + H2.node);
    assert.equal(await c.h1.reap(c.net.Id, 'e1'), true);
    await c.kv.put(NODES + H2.node, JSON.stringify({ Addr: H2.node }));
    // h2 again, its watch's events held back once it has read the store.
    c.h2.close();
    let holding = false;
    const slow: KvStore = Object.create(c.kv) as KvStore;
    slow.watch = (prefix, cb, opts) =>
      c.kv.watch(prefix, (ev) => (holding ? undefined : cb(ev)), opts);
    const h2 = await GlobalNetworks.open(slow, log, H2);
    await h2.whenLoaded();
    holding = true;
    const { Node: _n, Vtep: _v, ...back } = ep;
    assert.equal(await h2.restore(back), 'restored');
    assert.equal((await claim(ep.Name))?.value, 'e1');
    await h2.detach(c.net.Id, 'e1');
    assert.equal(await claim(ep.Name), undefined);
    h2.close();
    await c.close();
  });

  it('does not get it back when another endpoint took the address, nor when the network went', async () => {
    const c = await cluster();
    const ep = await c.attach(c.h2, 'e1');
    await c.kv.delete(NODES + H2.node);
    assert.equal(await c.h3.reap(c.net.Id, 'e1'), true);
    await c.attach(c.h1, 'thief', ep.IPv4);
    await c.kv.put(NODES + H2.node, JSON.stringify({ Addr: H2.node }));
    const { Node: _n, Vtep: _v, ...back } = ep;
    assert.equal(await c.h2.restore(back), 'taken');
    assert.deepEqual(await addresses(c.kv), { [ep.IPv4]: 'thief' });
    await c.h1.detach(c.net.Id, 'thief');
    await c.h1.remove(c.net);
    assert.equal(await c.h2.restore(back), 'gone');
    await c.close();
  });
});

/** A stand-in for the network layer's local records (a map). */
function localRecords(records: EndpointRecord[]) {
  const m = new Map(records.map((r) => [r.Id, r]));
  const calls: string[] = [];
  const local: HostEndpoints = {
    notLocal: () => Promise.resolve([...m.values()]),
    republish: (ep) => void calls.push(`republish ${ep.Id}`),
    hasRecord: (ep) => Promise.resolve(m.has(ep.Id)),
    nameNow: (ep) => Promise.resolve(m.get(ep.Id)?.Name ?? (m.has(ep.Id) ? '' : undefined)),
    forget: (ep) => {
      for (const [id, r] of m) if (r.ContainerID === ep.ContainerID) m.delete(id);
      calls.push(`forget ${ep.ContainerID}`);
      return Promise.resolve();
    },
  };
  return { m, calls, local };
}

describe("a returning host's reconcile", () => {
  it('puts back what the store lost, takes off what another took, removes what it has no record of', async () => {
    const c = await cluster();
    const kept = await c.attach(c.h2, 'kept');
    const lost = await c.attach(c.h2, 'lost');
    const taken = await c.attach(c.h2, 'taken');
    await c.attach(c.h2, 'leftover');
    const gone = await c.attach(c.h2, 'gone');
    // h2 is away: h1 reaps 'lost' and 'taken', and gives 'taken''s address away.
    await c.kv.delete(NODES + H2.node);
    await c.h1.reap(c.net.Id, 'lost');
    await c.h1.reap(c.net.Id, 'taken');
    await c.h1.reap(c.net.Id, 'gone');
    await c.attach(c.h1, 'thief', taken.IPv4);
    await c.kv.put(NODES + H2.node, JSON.stringify({ Addr: H2.node }));
    // h2's process restarted: its attaches are not its own process's any more.
    c.h2.close();
    const h2 = await GlobalNetworks.open(c.kv, log, H2);
    const rec = (g: GlobalEndpoint): EndpointRecord => ({
      ...lep(g.Id),
      NetworkID: g.NetworkID,
      ContainerID: g.ContainerID,
      IPv4: g.IPv4,
      Mac: g.Mac,
      Name: g.Name,
      Aliases: g.Aliases,
    });
    const { calls, local } = localRecords([rec(kept), rec(lost), rec(taken)]);
    const offNetwork: string[] = [];
    const rejoin = new Rejoin(h2, local, H2.node, log, (ep) => {
      offNetwork.push(ep.Id);
      return Promise.resolve();
    });
    await rejoin.run();
    assert.deepEqual(offNetwork, ['taken']);
    const byId = Object.fromEntries((await h2.storedEndpoints()).map((e) => [e.Id, e]));
    assert.deepEqual(Object.keys(byId).sort(), ['kept', 'lost', 'thief']);
    assert.deepEqual(byId.lost, lost, 'back as it was: same address, MAC, name');
    assert.deepEqual(await addresses(c.kv), {
      [kept.IPv4]: 'kept',
      [lost.IPv4]: 'lost',
      [taken.IPv4]: 'thief',
    });
    assert.ok(!(gone.IPv4 in (await addresses(c.kv))), "the address kept for 'gone' is freed");
    assert.deepEqual(calls.sort(), ['republish kept', 'republish lost']);
    h2.close();
    await c.close();
  });

  it('leaves alone an endpoint joined while it reads (the store is read first); forgets a network that went', async () => {
    const c = await cluster();
    const { m, calls, local } = localRecords([{ ...lep('orphan'), NetworkID: 'gone-net' }]);
    // A join as Endpoints makes it, between the reconcile's two reads: its
    // record, then its attach. Read the other way round, it looks stray.
    const notLocal = local.notLocal;
    local.notLocal = async () => {
      const seen = await notLocal();
      m.set('joining', { ...lep('joining', 'attaching'), IPv4: undefined });
      await c.attach(c.h2, 'joining');
      return seen;
    };
    const rejoin = new Rejoin(c.h2, local, H2.node, log, () => Promise.resolve());
    await rejoin.run();
    assert.deepEqual(
      (await c.h2.storedEndpoints()).map((e) => e.Id),
      ['joining'],
    );
    assert.deepEqual(calls, ['forget c-orphan']);
    await c.close();
  });

  it("names an endpoint in the store as its record does, unless its container's rename is under way", async () => {
    const c = await cluster();
    const kept = await c.attach(c.h2, 'kept');
    const moving = await c.attach(c.h2, 'moving');
    // Killed between a rename's cluster write and its local commit: the store has the new name.
    await c.h2.rename(c.net.Id, 'kept', 'newer');
    await c.h2.rename(c.net.Id, 'moving', 'next');
    const rec = (g: GlobalEndpoint): EndpointRecord => ({
      ...lep(g.Id),
      ContainerID: g.ContainerID,
      NetworkID: g.NetworkID,
      IPv4: g.IPv4,
      Name: g.Name,
    });
    const { local } = localRecords([rec(kept), rec(moving)]);
    const nameNow = local.nameNow;
    local.nameNow = (ep) => (ep.Id === 'moving' ? Promise.resolve(undefined) : nameNow(ep));
    await new Rejoin(c.h2, local, H2.node, log, () => Promise.resolve()).run();
    const names = Object.fromEntries((await c.h1.storedEndpoints()).map((e) => [e.Id, e.Name]));
    assert.deepEqual(names, { kept: 'kept', moving: 'next' });
    // The name claims follow: 'kept' is held again, 'newer' is free.
    const claims = (await c.kv.list('networks/endpoint-names/')).map(
      (e) => `${e.key.split('/').pop()!}=${e.value}`,
    );
    assert.deepEqual(claims.sort(), ['kept=kept', 'next=moving']);
    await c.close();
  });

  it('takes off, once the store answers again, an attach whose answer was lost and a detach that failed', async () => {
    const c = await cluster();
    const store = flaky(c.kv);
    const h2 = await GlobalNetworks.open(store.kv, log, H2);
    const { local } = localRecords([]);
    const rejoin = new Rejoin(h2, local, H2.node, log, () => Promise.resolve(), 1000);
    let unsettled = 0;
    h2.onUnsettled = () => {
      unsettled++;
      rejoin.settle();
    };
    const stays = await c.attach(h2, 'stays');
    const left = await c.attach(h2, 'left');
    // Its container left here (no record), and the container of 'stays' runs.
    local.notLocal = () => Promise.resolve([{ ...lep('stays'), IPv4: stays.IPv4 }]);
    // Committed, but the answer never came.
    store.mode = 'answer lost';
    await assert.rejects(c.attach(h2, 'lost'), /unavailable/);
    // The store down for the cluster's part of the leave.
    store.mode = 'down';
    await assert.rejects(h2.detach(c.net.Id, 'left'), /unavailable/);
    assert.equal(unsettled, 2);
    assert.deepEqual((await c.h1.storedEndpoints()).map((e) => e.Id).sort(), [
      'left',
      'lost',
      'stays',
    ]);
    // A reconcile finds the store still down; a later one does it.
    await waitFor(() => store.endpointReads > 0, 'a reconcile while the store is down', 5000);
    store.mode = 'ok';
    let stored = 3;
    const reading = setInterval(() => {
      void c.h1.storedEndpoints().then((eps) => (stored = eps.length));
    }, 50);
    try {
      await waitFor(() => stored === 1, 'the leftovers removed', 10_000);
    } finally {
      clearInterval(reading);
    }
    assert.deepEqual(
      (await c.h1.storedEndpoints()).map((e) => e.Id),
      ['stays'],
    );
    assert.deepEqual(await addresses(c.kv), { [stays.IPv4]: 'stays' });
    assert.ok(!(left.IPv4 in (await addresses(c.kv))));
    rejoin.close();
    h2.close();
    await c.close();
  });
});

/**
 * A store whose transactions can lose their answer (applied, then
 * UNAVAILABLE) or whose reads and writes are refused (etcd down);
 * watches go on.
 */
function flaky(kv: KvStore) {
  const unavailable = () => new BerthError('UNAVAILABLE', 'cluster store (etcd) unavailable: test');
  const state = { mode: 'ok' as 'ok' | 'answer lost' | 'down', endpointReads: 0, kv };
  const refuse = () => {
    if (state.mode === 'down') throw unavailable();
  };
  state.kv = new Proxy(kv, {
    get(target, prop: keyof KvStore) {
      if (prop === 'txn') {
        return async (...a: Parameters<KvStore['txn']>) => {
          refuse();
          const r = await target.txn(...a);
          if (state.mode === 'answer lost') throw unavailable();
          return r;
        };
      }
      if (prop === 'get' || prop === 'list' || prop === 'listWithRevision' || prop === 'put') {
        return async (...a: unknown[]) => {
          // The reconcile's read of every endpoint (no other step lists them).
          if (prop === 'list' && a[0] === GLOBAL_ENDPOINTS && state.mode === 'down') {
            state.endpointReads++;
          }
          refuse();
          return (target[prop] as (...x: unknown[]) => unknown).apply(target, a);
        };
      }
      const v = target[prop];
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return state;
}
