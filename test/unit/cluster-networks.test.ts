/**
 * Global networks over one store shared by two "hosts" (two GlobalNetworks
 * on the same embedded store, as two berthds on one etcd): what one creates
 * the other lists; names, subnets and VXLAN IDs are never given twice, also
 * when both create at once; Docker's messages for a taken name or an
 * overlapping subnet; rm refused while endpoints exist, then gone for both.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GLOBAL_ENDPOINTS, GLOBAL_NETWORKS, GlobalNetworks } from '../../src/cluster/networks.js';
import type { GlobalNetworkCreate as GlobalCreate } from '../../src/network/types.js';
import { createLogger } from '../../src/common/log.js';
import { openEmbeddedStore } from '../../src/store/index.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const log = createLogger('error');
const req = (Name: string, Config: GlobalCreate['IPAM']['Config'] = []): GlobalCreate => ({
  Name,
  Driver: 'overlay',
  Internal: false,
  Attachable: false,
  Options: {},
  Labels: {},
  IPAM: { Driver: 'default', Options: null, Config },
});

const H1 = { node: '192.168.205.10:2375', vtep: '192.168.205.10' };
const H2 = { node: '192.168.205.11:2375', vtep: '192.168.205.11' };

async function twoHosts() {
  const d = mkdtempSync(join(tmpdir(), 'berth-global-'));
  dirs.push(d);
  const kv = await openEmbeddedStore(d);
  const h1 = await GlobalNetworks.open(kv, log, H1);
  const h2 = await GlobalNetworks.open(kv, log, H2);
  return { kv, h1, h2 };
}

async function eventually(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check());
}

describe('global networks', () => {
  it('gives the first 10.0.0.0/24 with gateway 10.0.0.1 and VNI 256; the other host lists it', async () => {
    const { kv, h1, h2 } = await twoHosts();
    const n = await h1.create(req('ov1'));
    assert.equal(n.Scope, 'global');
    assert.deepEqual(n.IPAM.Config, [{ Subnet: '10.0.0.0/24', Gateway: '10.0.0.1' }]);
    assert.equal(n.berth.vni, 256);
    // Its subnet was the pools' (so no --ip on it, as Docker).
    assert.equal(n.berth.autoSubnet, true);
    await eventually(() => h2.list().some((x) => x.Id === n.Id));
    const m = await h2.create(req('ov2'));
    assert.deepEqual(m.IPAM.Config, [{ Subnet: '10.0.1.0/24', Gateway: '10.0.1.1' }]);
    assert.equal(m.berth.vni, 257);
    // A subnet given is the user's.
    assert.equal(
      (await h1.create(req('ovs', [{ Subnet: '10.9.0.0/24' }]))).berth.autoSubnet,
      false,
    );
    h1.close();
    h2.close();
    await kv.close();
  });

  it("refuses a taken name and an overlapping subnet with Docker's words, from either host", async () => {
    const { kv, h1, h2 } = await twoHosts();
    await h1.create(req('ov1', [{ Subnet: '10.9.0.0/24' }]));
    // h2 has not looked at the store since: it must not rely on its old view.
    await assert.rejects(h2.create(req('ov1')), {
      message: 'network with name ov1 already exists',
    });
    await assert.rejects(h2.create(req('ovover', [{ Subnet: '10.9.0.0/16' }])), {
      message: 'Pool overlaps with other one on this address space',
    });
    h1.close();
    h2.close();
    await kv.close();
  });

  it('never gives a subnet or a VNI twice when both hosts create at once', async () => {
    const { kv, h1, h2 } = await twoHosts();
    const made = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? h1 : h2).create(req(`c${i}`))),
    );
    const subnets = made.map((n) => n.IPAM.Config[0]!.Subnet);
    assert.equal(new Set(subnets).size, 12, subnets.join(' '));
    assert.equal(new Set(made.map((n) => n.berth.vni)).size, 12);
    h1.close();
    h2.close();
    await kv.close();
  });

  it('refuses rm while a host has an endpoint, then removes it for every host', async () => {
    const { kv, h1, h2 } = await twoHosts();
    const n = await h1.create(req('ov1'));
    await kv.put(`${GLOBAL_ENDPOINTS}${n.Id}/ep1`, '{}');
    await assert.rejects(h2.remove(n), {
      message: `error while removing network: network ov1 id ${n.Id} has active endpoints`,
    });
    await kv.delete(`${GLOBAL_ENDPOINTS}${n.Id}/ep1`);
    await h2.remove(n);
    await eventually(() => h1.list().length === 0);
    // Its name and VNI are free again (automatic subnets move on, as Docker's).
    const again = await h1.create(req('ov1'));
    assert.equal(again.berth.vni, 256);
    await h2.create(req('ov9', [{ Subnet: '10.0.0.0/24' }]));
    h1.close();
    h2.close();
    await kv.close();
  });

  it('attaches from its view of the network, and from the store when that view is stale', async () => {
    const { kv, h1, h2 } = await twoHosts();
    const n = await h1.create(req('ov1'));
    const gone = await h1.create(req('ov2'));
    await eventually(() => h2.list().length === 2);
    const attach = (networkId: string, id: string) =>
      h2.attach({ networkId, id, containerId: id, name: id, aliases: [] });
    // The record rewritten behind h2's view: the compare fails, h2 reads it and attaches.
    const key = GLOBAL_NETWORKS + n.Id;
    await kv.put(key, (await kv.get(key))!.value);
    const a = await attach(n.Id, 'ep1');
    assert.equal(a.endpoint.IPv4, '10.0.0.2');
    // Removed, whatever h2's view says yet: 404, and no endpoint written.
    await h1.remove(gone);
    await assert.rejects(attach(gone.Id, 'ep2'), { message: `network ${gone.Id} not found` });
    assert.equal(await kv.get(`${GLOBAL_ENDPOINTS}${gone.Id}/ep2`), undefined);
    h1.close();
    h2.close();
    await kv.close();
  });

  it('gives endpoints addresses no other host has, also at once, and every host sees them', async () => {
    const { kv, h1, h2 } = await twoHosts();
    const n = await h1.create(req('ov1'));
    await eventually(() => h2.list().length === 1);
    const seen: string[] = [];
    h1.onEndpointsChange((net) => seen.push(net));
    const attach = (h: GlobalNetworks, i: number) =>
      h.attach({
        networkId: n.Id,
        id: `ep${i}`,
        containerId: `c${i}`,
        name: `c${i}`,
        aliases: [],
      });
    const attached = await Promise.all(
      Array.from({ length: 10 }, (_, i) => attach(i % 2 ? h1 : h2, i)),
    );
    const eps = attached.map((a) => a.endpoint);
    // Each with the revision it was committed at: one each, as the store has them.
    const revs = attached.map((a) => a.revision);
    assert.equal(new Set(revs).size, 10);
    for (const a of attached) {
      assert.equal(
        (await kv.get(`${GLOBAL_ENDPOINTS}${n.Id}/${a.endpoint.Id}`))?.modRevision,
        a.revision,
      );
    }
    const ips = eps.map((e) => e.IPv4);
    assert.equal(new Set(ips).size, 10, ips.join(' '));
    assert.ok(ips.every((ip) => /^10\.0\.0\.(\d+)$/.test(ip) && ip !== '10.0.0.1'));
    assert.equal(
      eps[0]!.Mac,
      `02:42:0a:00:00:${Number(ips[0]!.split('.')[3]).toString(16).padStart(2, '0')}`,
    );
    await eventually(
      () => h1.endpointsOf(n.Id).length === 10 && h2.endpointsOf(n.Id).length === 10,
    );
    assert.ok(seen.includes(n.Id));
    // Each endpoint names the host it is on and that host's tunnel source.
    assert.deepEqual(
      [eps[0]!.Node, eps[0]!.Vtep, eps[1]!.Node, eps[1]!.Vtep],
      [H2.node, H2.vtep, H1.node, H1.vtep],
    );
    // A static address another endpoint has is refused; a free one is given.
    await assert.rejects(
      h2.attach({
        networkId: n.Id,
        id: 'x',
        containerId: 'x',
        name: 'x',
        aliases: [],
        staticIPv4: eps[0]!.IPv4,
      }),
      /already in use|in use/,
    );
    const fixed = await h2.attach({
      networkId: n.Id,
      id: 'y',
      containerId: 'y',
      name: 'y',
      aliases: [],
      staticIPv4: '10.0.0.200',
    });
    assert.equal(fixed.endpoint.IPv4, '10.0.0.200');
    // Detached, the address is free again and every host forgets the endpoint.
    await h1.detach(n.Id, 'y');
    await eventually(() => !h2.endpointsOf(n.Id).some((e) => e.Id === 'y'));
    const again = await h1.attach({
      networkId: n.Id,
      id: 'z',
      containerId: 'z',
      name: 'z',
      aliases: [],
      staticIPv4: '10.0.0.200',
    });
    assert.equal(again.endpoint.IPv4, '10.0.0.200');
    // Each host allocates against its cached pools and reads them afresh only
    // on a conflict or a refusal: neither a stale "free" nor a stale "taken"
    // is ever believed.
    const at = (h: GlobalNetworks, id: string, ip: string) =>
      h.attach({ networkId: n.Id, id, containerId: id, name: id, aliases: [], staticIPv4: ip });
    await at(h1, 's1', '10.0.0.201');
    await assert.rejects(at(h2, 's2', '10.0.0.201'), /in use/); // h2's cache had it free
    await assert.rejects(at(h2, 's3', '10.0.0.200'), /in use/);
    await h1.detach(n.Id, 'z');
    assert.equal((await at(h2, 's4', '10.0.0.200')).endpoint.IPv4, '10.0.0.200'); // h2's had it taken
    await h2.detach(n.Id, 's1'); // h1's endpoint, unknown to h2's cache: its address is freed
    assert.equal((await at(h2, 's5', '10.0.0.201')).endpoint.IPv4, '10.0.0.201');
    const held = (await kv.list('ipam/global/')).filter((e) => e.value.includes('"owner"'));
    assert.equal(
      held.filter((e) => /"owner":"s[1-3]"/.test(e.value)).length,
      0,
      held.map((e) => e.value).join(' '),
    );
    // With nothing stale, attach and detach read no pool: O(1) in the endpoints.
    const pools: string[] = [];
    const list = kv.list.bind(kv);
    kv.list = (prefix: string) => {
      if (prefix.startsWith('ipam/')) pools.push(prefix);
      return list(prefix);
    };
    for (let i = 0; i < 3; i++) {
      await at(h2, `q${i}`, `10.0.0.${210 + i}`);
      await h2.detach(n.Id, `q${i}`);
    }
    kv.list = list;
    assert.deepEqual(pools, []);
    // The network cannot go while they are there.
    await assert.rejects(h2.remove(n), /has active endpoints/);
    h1.close();
    h2.close();
    await kv.close();
  });

  it('gives a name to one endpoint of a network across hosts, as Docker; a rename moves it', async () => {
    const { kv, h1, h2 } = await twoHosts();
    const n = await h1.create(req('ov1'));
    await eventually(() => h2.list().length === 1);
    const attach = (h: GlobalNetworks, id: string, name: string, staticIPv4?: string) =>
      h.attach({ networkId: n.Id, id, containerId: id, name, aliases: [], staticIPv4 });
    const taken = (name: string) => ({
      code: 'FORBIDDEN',
      message: `endpoint with name ${name} already exists in network ov1`,
    });
    const claims = async () =>
      (await kv.list(`networks/endpoint-names/${n.Id}/`)).map(
        (e) => `${e.key.split('/').pop()}=${e.value}`,
      );
    // The name held by an endpoint this host has not seen yet: the
    // transaction's compare refuses it, and nothing is written.
    const seeded = `networks/endpoint-names/${n.Id}/api`;
    await kv.put(seeded, 'elsewhere');
    await assert.rejects(attach(h1, 'z', 'api', '10.0.0.9'), taken('api'));
    assert.equal(await kv.get(`${GLOBAL_ENDPOINTS}${n.Id}/z`), undefined);
    await kv.delete(seeded);
    // Both hosts at once: one gets the name, the other Docker's 403.
    const both = await Promise.allSettled([
      attach(h1, 'a', 'web', '10.0.0.5'),
      attach(h2, 'b', 'web', '10.0.0.6'),
    ]);
    assert.equal(both.filter((r) => r.status === 'fulfilled').length, 1);
    const lost = both.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.deepEqual({ code: lost.reason.code, message: lost.reason.message }, taken('web'));
    const [winner, other] = both[0]!.status === 'fulfilled' ? [h1, h2] : [h2, h1];
    const held = both[0]!.status === 'fulfilled' ? 'a' : 'b';
    assert.equal(await kv.get(`${GLOBAL_ENDPOINTS}${n.Id}/${held === 'a' ? 'b' : 'a'}`), undefined);
    // Seen by the other host: refused before any address is taken.
    await eventually(() => other.endpointsOf(n.Id).length === 1);
    await assert.rejects(attach(other, 'c', 'web'), taken('web'));
    assert.deepEqual(await claims(), [`web=${held}`]);
    // Gone: the name is free again.
    await winner.detach(n.Id, held);
    assert.deepEqual(await claims(), []);
    await eventually(() => other.endpointsOf(n.Id).length === 0);
    await attach(other, 'd', 'web');
    // A rename moves the name: the old one is free, the new one held.
    assert.equal(await other.rename(n.Id, 'd', 'web2'), 'web');
    assert.equal(other.endpoint(n.Id, 'd')?.Name, 'web2');
    // The view's name index follows: the old name is free, the new one taken (not for itself).
    assert.deepEqual(
      [
        other.nameTaken(n.Id, 'web', 'x'),
        other.nameTaken(n.Id, 'web2', 'x'),
        other.nameTaken(n.Id, 'web2', 'd'),
      ],
      [false, true, false],
    );
    await eventually(() => winner.endpoint(n.Id, 'd')?.Name === 'web2');
    await attach(winner, 'e', 'web');
    await assert.rejects(attach(winner, 'f', 'web2'), taken('web2'));
    assert.deepEqual((await claims()).sort(), ['web2=d', 'web=e']);
    // Renamed to a name another endpoint holds: allowed (Docker allows it),
    // without the name; leaving, it frees its own old one and not the other's.
    await winner.rename(n.Id, 'e', 'web2');
    assert.deepEqual(await claims(), ['web2=d']);
    await winner.detach(n.Id, 'e');
    assert.deepEqual(await claims(), ['web2=d']);
    // A dead host's endpoint reaped: its name is free.
    assert.equal(await winner.reap(n.Id, 'd'), true);
    assert.deepEqual(await claims(), []);
    h1.close();
    h2.close();
    await kv.close();
  });
});
