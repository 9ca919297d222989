// The network controller and its endpoints without root: a temporary SQLite
// store, MemoryFirewall, a fake bridge driver (test/helpers/fake-network.ts).
// Networks are created and removed, containers join and leave, and every
// failure path — the driver, the store, the firewall, a held port, IPAM or
// the DNS failing at each step — leaves nothing behind: no network or
// endpoint record, no address, no host port or map element, no DNS record or
// listener, nothing in the driver.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError, hasCode } from '../../src/common/errors.js';
import { isReservedOwner } from '../../src/network/ipam/index.js';
import type { JoinRequest } from '../../src/network/endpoints.js';
import type { Joined } from '../../src/network/records.js';
import type {
  GlobalAttach,
  GlobalAttached,
  GlobalEndpoint,
  NetworkRecord,
} from '../../src/network/types.js';
import type { Op } from '../../src/store/types.js';
import {
  fakeGlobalScope,
  fakeOverlayDriver,
  fakeWorld,
  type FakeWorld,
} from '../helpers/fake-network.js';

const C1 = 'c1'.repeat(32);

/** A global overlay's record on 10.0.0.0/24, as the cluster store gives it (only what joins read). */
const overlayRecord = (Name: string, id: string, vni: number, autoSubnet: boolean) =>
  ({
    Name,
    Id: id.repeat(32),
    Scope: 'global',
    Driver: 'overlay',
    IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '10.0.0.0/24' }] },
    Options: {},
    berth: { vni, autoSubnet },
  }) as unknown as NetworkRecord;
const C2 = 'c2'.repeat(32);
const NETNS = '/nonexistent/netns/c1';

/** A cluster store's view that has one network. */
const holding = (net: NetworkRecord) => ({
  list: () => [net],
  get: (id: string) => (id === net.Id ? net : undefined),
});

/** An overlay driver that tells `step` what it is asked (`make` with the address it got), and fails its join. */
const failingJoinDriver = (step: (s: string) => void) =>
  fakeOverlayDriver({
    prepare: (_n, _sb, ifName) => ({
      hostIf: `veth-${ifName}`,
      make: async (a) => step(a ? `make ${a.ipv4}` : 'make'),
    }),
    join: async (_n, _sb, a) => {
      step(`join ${a.ipv4}`);
      throw new Error('the driver failed');
    },
    leave: async () => step('leave'),
  });

let w: FakeWorld;
beforeEach(async () => {
  w = await fakeWorld();
});
afterEach(async () => {
  await w.close();
});

const create = (body: Record<string, unknown>) => w.controller.createNetwork(body);
const join = (containerId: string, net: string, request: Partial<JoinRequest> = {}) =>
  w.controller.endpoints.join(containerId, NETNS, net, { defaultRoute: true, ...request });
const tcp8080 = [
  {
    proto: 'tcp' as const,
    containerPort: 80,
    hostIp: '',
    hostPorts: [8080, 8080] as [number, number],
  },
];

/** Everything in the store but IPAM's rotating hint (every subnet change rewrites it). */
async function storeDump(): Promise<Record<string, string>> {
  const all = await w.kv.list('');
  return Object.fromEntries(
    all.filter((e) => e.key !== 'ipam/local/space').map((e) => [e.key, e.value]),
  );
}

/** Endpoints' addresses IPAM holds on a network (not gateways or auxiliary ones). */
const endpointAddresses = (netId: string) =>
  w.ipam.allocations(netId).filter((a) => !isReservedOwner(a.owner));

/** Nothing of any endpoint is left: record, address, port, map element, name, driver state. */
async function assertNoEndpoint(netId: string, containerId = C1): Promise<void> {
  assert.deepEqual(await w.kv.list('endpoints/'), [], 'endpoint records');
  assert.deepEqual(endpointAddresses(netId), [], 'addresses');
  assert.deepEqual(w.controller.endpoints.publishedPorts(containerId), [], 'published ports');
  assert.deepEqual(w.controller.endpoints.portMappings(), [], 'port mappings');
  assert.deepEqual(w.firewall.dump().ports, [], 'map elements');
  assert.deepEqual([...w.held], [], 'held host ports');
  assert.deepEqual(w.dns.records.endpoints(), [], 'DNS records');
  assert.deepEqual([...w.driver.endpoints.keys()], [], "the driver's endpoints");
}

/** Fails with `match` (an error's message or a check) and returns the error. */
async function fails(p: Promise<unknown>, match: RegExp | string): Promise<Error> {
  const e = await p.then(
    () => assert.fail('expected a failure'),
    (err: unknown) => err as Error,
  );
  if (typeof match === 'string') assert.equal(e.message, match);
  else assert.match(e.message, match);
  return e;
}

/** An op's key and value, whatever its type. */
const keyOf = (o: Op) => ('key' in o ? o.key : '');
const valueOf = (o: Op) => (o.type === 'put' ? o.value : '');

const isReady = (ops: Op[]) =>
  ops.some(
    (o) => o.type === 'put' && o.key.startsWith('endpoints/') && o.value.includes('"ready"'),
  );

describe('network controller (fake driver, no root)', () => {
  it('opens with bridge, host and none; the default bridge has its subnet and forwarding is on', async () => {
    const names = w.controller.list().map((n) => `${n.Name}/${n.Driver}`);
    assert.deepEqual(names.sort(), ['bridge/bridge', 'host/host', 'none/null']);
    const bridge = w.controller.get('bridge');
    assert.deepEqual(bridge.IPAM.Config, [{ Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' }]);
    assert.deepEqual(w.driver.networks.get(bridge.Id), [
      { family: 4, address: '172.17.0.1', prefixLen: 16 },
    ]);
    assert.equal(w.sysctls.get('net.ipv4.ip_forward'), 1);
    // The default bridge gets no DNS listener (Docker's: names on user networks only).
    assert.deepEqual([...w.dns.listening.keys()], []);
  });

  it('creates a network: record, name, subnet, kernel side, DNS listener; removes all of it', async () => {
    const before = await storeDump();
    const { Id } = await create({ Name: 'web', IPAM: { Config: [{ Subnet: '10.40.0.0/24' }] } });
    const net = w.controller.get('web');
    assert.equal(net.Id, Id);
    assert.equal((await w.kv.get(`networks/names/web`))?.value, Id);
    assert.ok(await w.kv.get(`networks/by-id/${Id}`));
    assert.deepEqual(
      w.ipam.pools(Id).map((p) => [p.subnet, p.gateway]),
      [['10.40.0.0/24', '10.40.0.1']],
    );
    assert.deepEqual(w.driver.networks.get(Id), [
      { family: 4, address: '10.40.0.1', prefixLen: 24 },
    ]);
    assert.equal(w.dns.listening.get('10.40.0.1'), Id);
    assert.ok(w.firewall.dump().bridges.some((b) => b.name === `br-${Id.slice(0, 12)}`));

    await w.controller.removeNetwork('web');
    assert.equal(w.controller.find('web'), undefined);
    assert.deepEqual(await storeDump(), before);
    assert.deepEqual(w.ipam.pools(Id), []);
    assert.equal(w.driver.networks.has(Id), false);
    assert.deepEqual([...w.dns.listening.keys()], []);
    assert.ok(!w.firewall.dump().bridges.some((b) => b.name === `br-${Id.slice(0, 12)}`));
  });

  it('networks survive a restart: the same records, their kernel side and listeners made again', async () => {
    const { Id } = await create({ Name: 'web', IPAM: { Config: [{ Subnet: '10.41.0.0/24' }] } });
    const ids = w.controller
      .list()
      .map((n) => n.Id)
      .sort();
    w.driver.networks.clear();
    w.dns.listening.clear();
    await w.reopen();
    assert.deepEqual(
      w.controller
        .list()
        .map((n) => n.Id)
        .sort(),
      ids,
    );
    assert.ok(w.driver.networks.has(Id));
    assert.equal(w.dns.listening.get('10.41.0.1'), Id);
  });

  it("refuses a name that exists (Docker's 409) and the predefined networks' removal", async () => {
    await create({ Name: 'web' });
    await fails(create({ Name: 'web' }), 'network with name web already exists');
    for (const name of ['bridge', 'host', 'none']) {
      await fails(
        w.controller.removeNetwork(name),
        `${name} is a pre-defined network and cannot be removed`,
      );
    }
  });

  it('refuses an overlay network with IPv6 before the cluster store is asked', async () => {
    const asked: string[] = [];
    const g = await fakeWorld({
      global: fakeGlobalScope({
        create: async (req) => {
          asked.push(req.Name);
          throw new Error('not in this test');
        },
      }),
    });
    try {
      const ov = { Name: 'ov', Driver: 'overlay' };
      const e = await fails(
        g.controller.createNetwork({ ...ov, IPAM: { Config: [{ Subnet: 'fd00:1::/64' }] } }),
        'non-IPv6 network cannot have IPv6 subnets, enable IPv6 with --ipv6',
      );
      assert.ok(hasCode(e, 'FORBIDDEN'));
      await fails(
        g.controller.createNetwork({ ...ov, EnableIPv6: true }),
        'berth does not support IPv6 on overlay networks yet',
      );
      assert.deepEqual(asked, []);
    } finally {
      await g.close();
    }
  });

  it('refuses an encrypted overlay, and an overlay made local, before the cluster store is asked; takes its own scope', async () => {
    const asked: string[] = [];
    const made = { Name: 'ov', Id: 'cd'.repeat(32) } as NetworkRecord;
    const g = await fakeWorld({
      global: fakeGlobalScope({
        create: async (req) => {
          asked.push(req.Name);
          return { ...made, Name: req.Name };
        },
      }),
    });
    try {
      const before = await g.kv.list('');
      // dockerd 20.10 makes it, then refuses every container: nothing to
      // make here (decision 0038), whatever the option's value.
      for (const v of ['', 'true']) {
        const e = await fails(
          g.controller.createNetwork({ Name: 'sec', Driver: 'overlay', Options: { encrypted: v } }),
          'berth does not support encrypted overlay networks yet (-o encrypted): their traffic would cross hosts unencrypted',
        );
        assert.ok(hasCode(e, 'INVALID_ARGUMENT'));
      }
      // libnetwork's message and status.
      const e = await fails(
        g.controller.createNetwork({ Name: 'loc', Driver: 'overlay', Scope: 'local' }),
        'cannot downgrade network scope for overlay networks',
      );
      assert.ok(hasCode(e, 'FORBIDDEN'));
      await fails(
        g.controller.createNetwork({ Name: 'sw', Driver: 'overlay', Scope: 'swarm' }),
        'berth does not support swarm-scoped overlay networks yet (Scope): use a global network',
      );
      await fails(
        g.controller.createNetwork({ Name: 'br', Driver: 'bridge', Scope: 'global' }),
        'berth does not support global-scoped bridge networks yet (Scope): use a local network',
      );
      assert.deepEqual(asked, []);
      assert.deepEqual(await g.kv.list(''), before, 'nothing stored');
      // Its own scope said out loud is taken, and other options are kept, as dockerd keeps them.
      await g.controller.createNetwork({ Name: 'ov', Driver: 'overlay', Scope: 'global' });
      await g.controller.createNetwork({ Name: 'br', Scope: 'local', Options: { note: 'x' } });
      assert.deepEqual(asked, ['ov']);
      assert.equal(g.controller.find('br')?.Options.note, 'x');
    } finally {
      await g.close();
    }
  });

  for (const [what, autoSubnet, ip, message] of [
    [
      'whose subnet was automatic',
      true,
      '10.0.0.50',
      'user specified IP address is supported only when connecting to networks with user configured subnets',
    ],
    [
      'outside its subnet',
      false,
      '10.1.0.50',
      "Invalid address 10.1.0.50: It does not belong to any of this network's subnets",
    ],
  ] as const) {
    it(`refuses --ip on an overlay ${what}, before anything is made, as Docker`, async () => {
      const net = overlayRecord('ovauto', 'ef', 300, autoSubnet);
      const made: string[] = [];
      const g = await fakeWorld({
        drivers: {
          overlay: fakeOverlayDriver({
            prepare: () => ({ hostIf: 'veth-x', make: async () => void made.push('make') }),
          }),
        },
        global: fakeGlobalScope({
          ...holding(net),
          attach: async (req) => {
            made.push(`attach ${req.staticIPv4}`);
            throw new Error('not in this test');
          },
        }),
      });
      try {
        const before = await g.kv.list('');
        const e = await fails(
          g.controller.endpoints.join(C1, NETNS, net.Id, {
            defaultRoute: false,
            staticIPv4: ip,
          }),
          message,
        );
        assert.ok(hasCode(e, 'INVALID_ARGUMENT'));
        assert.deepEqual(made, [], 'no link made, nothing asked of the cluster store');
        assert.deepEqual(await g.kv.list(''), before);
      } finally {
        await g.close();
      }
    });
  }

  it('an overlay join whose network another host removed meanwhile leaves neither link nor network here', async () => {
    // The overlay driver makes the link (and, here, the network's kernel
    // side) while the cluster store's transaction runs; that transaction
    // finds the network gone. Everything make() built goes.
    const net: NetworkRecord = {
      Name: 'ov',
      Id: 'ab'.repeat(32),
      Created: new Date().toISOString(),
      Scope: 'global',
      Driver: 'overlay',
      EnableIPv4: true,
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '10.0.0.0/24' }] },
      Internal: false,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Options: {},
      Labels: {},
    };
    let known = true;
    const kernel = { networks: new Set<string>(), links: new Set<string>(), steps: [] as string[] };
    const overlay = fakeOverlayDriver({
      ensureNetwork: async () => void kernel.networks.add(net.Id),
      prepare: (_n, _sb, ifName) => ({
        hostIf: `veth-${ifName}`,
        make: async () => {
          kernel.networks.add(net.Id);
          kernel.links.add(`veth-${ifName}`);
          kernel.steps.push('make');
        },
      }),
      leave: async (_n, _sb, hostIf) => {
        if (hostIf) kernel.links.delete(hostIf);
        kernel.steps.push('leave');
      },
      removeNetwork: async (n) => {
        kernel.networks.delete(n.Id);
        kernel.steps.push('removeNetwork');
      },
    });
    const g = await fakeWorld({
      drivers: { overlay },
      global: fakeGlobalScope({
        list: () => (known ? [net] : []),
        get: (id) => (known && id === net.Id ? net : undefined),
        // Another host's network rm lands while this one's transaction, sent, runs.
        attach: async (req) => {
          req.sending?.({ ipv4: '10.0.0.2', prefixLen: 24, mac: '02:42:0a:00:00:02' });
          await new Promise((r) => setImmediate(r));
          known = false;
          throw new BerthError('NOT_FOUND', `network ${net.Id} not found`);
        },
        detach: async () => undefined,
      }),
    });
    try {
      await fails(
        g.controller.endpoints.join(C1, NETNS, net.Id, { defaultRoute: false }),
        `network ${net.Id} not found`,
      );
      assert.deepEqual(kernel.steps, ['make', 'leave', 'removeNetwork']);
      assert.deepEqual([...kernel.links, ...kernel.networks], []);
      assert.deepEqual(await g.kv.list('endpoints/'), [], 'endpoint records');
    } finally {
      await g.close();
    }
  });

  it("disconnect -f of a name this host has no container of: a gone host's endpoint goes, a live one's is refused", async () => {
    const net = overlayRecord('ovforce', 'ab', 302, true);
    const stale = {
      Id: 'e9',
      NetworkID: net.Id,
      Name: 'old',
      Node: '10.9.9.9:2375',
    } as GlobalEndpoint;
    let hostGone = false;
    const reaped: string[] = [];
    const g = await fakeWorld({
      global: fakeGlobalScope({
        ...holding(net),
        endpointsOf: () => (reaped.length ? [] : [stale]),
        endpoint: () => (reaped.length ? undefined : stale),
        reap: async (_n, id) => {
          if (!hostGone) return false;
          reaped.push(id);
          return true;
        },
      }),
    });
    try {
      const e = await fails(
        g.controller.forceEndpointDelete('old', 'ovforce'),
        /belongs to host 10\.9\.9\.9:2375, which is in the cluster/,
      );
      assert.ok(hasCode(e, 'FORBIDDEN'));
      hostGone = true;
      await g.controller.forceEndpointDelete('old', 'ovforce');
      assert.deepEqual(reaped, ['e9']);
      await fails(g.controller.forceEndpointDelete('old', 'ovforce'), 'endpoint old not found');
      await fails(g.controller.forceEndpointDelete('old', 'nonet'), 'network nonet not found');
    } finally {
      await g.close();
    }
  });

  it('an --ip this host sees taken waits for the transaction before making the link', async () => {
    const net = overlayRecord('ovip', 'cd', 301, false);
    const taken = { Id: 'other', NetworkID: net.Id, IPv4: '10.0.0.7' } as GlobalEndpoint;
    let steps: string[] = [];
    let answer: (req: GlobalAttach) => Promise<GlobalAttached> = async () => {
      throw new BerthError('FORBIDDEN', 'Address already in use');
    };
    const g = await fakeWorld({
      drivers: {
        overlay: failingJoinDriver((step) => steps.push(step)),
      },
      global: fakeGlobalScope({
        ...holding(net),
        endpointsOf: () => [taken],
        attach: async (req) => {
          steps.push(`attach ${req.staticIPv4 ?? ''}`);
          return answer(req);
        },
        detach: async () => void steps.push('detach'),
      }),
    });
    const join = (ip: string) =>
      g.controller.endpoints.join(C1, NETNS, net.Id, { defaultRoute: false, staticIPv4: ip });
    try {
      // Refused: no link was made, so none is removed.
      await fails(join('10.0.0.7'), 'Address already in use');
      assert.deepEqual(steps, ['attach 10.0.0.7']);
      // Free after all (this host's view was behind): the link comes after the answer.
      steps = [];
      answer = async () => ({
        endpoint: { ...taken, Id: 'mine', Mac: '02:42:0a:00:00:07', PrefixLen: 24 },
        revision: 9,
      });
      await fails(join('10.0.0.7'), 'the driver failed');
      assert.deepEqual(steps.slice(0, 3), ['attach 10.0.0.7', 'make', 'join 10.0.0.7']);
      assert.ok(steps.includes('leave') && steps.includes('detach'), steps.join());
      // An address this host sees free: the link is made beside the
      // transaction once it is sent, as before; the store refuses it then.
      steps = [];
      answer = async (req) => {
        req.sending?.({ ipv4: '10.0.0.8', prefixLen: 24, mac: '02:42:0a:00:00:08' });
        await new Promise((r) => setImmediate(r));
        throw new BerthError('FORBIDDEN', 'Address already in use');
      };
      await fails(join('10.0.0.8'), 'Address already in use');
      // Sent, then refused: whatever the error, it may have been written
      // (a retry meeting its own address), so the undo detaches it too.
      assert.deepEqual(steps.sort(), ['attach 10.0.0.8', 'detach', 'leave', 'make 10.0.0.8']);
      assert.deepEqual(await g.kv.list('endpoints/'), [], 'endpoint records');
    } finally {
      await g.close();
    }
  });

  const a2 = { ipv4: '10.0.0.2', prefixLen: 24, mac: '02:42:0a:00:00:02' };
  const a3 = { ipv4: '10.0.0.3', prefixLen: 24, mac: '02:42:0a:00:00:03' };
  for (const [what, sends, committed, want] of [
    [
      'once the transaction is written, with the address it sends',
      [a2],
      a2,
      ['written', 'make 10.0.0.2', 'join 10.0.0.2'],
    ],
    [
      'with the first address sent; join gets the one a retry committed',
      [a2, a3],
      a3,
      ['written', 'make 10.0.0.2', 'join 10.0.0.3'],
    ],
    ['not at all when the transaction is refused before it is sent', [], undefined, []],
  ] as const) {
    it(`an overlay join makes its link ${what}`, async () => {
      const net = overlayRecord('ovsend', 'de', 303, true);
      const steps: string[] = [];
      const g = await fakeWorld({
        drivers: { overlay: failingJoinDriver((step) => steps.push(step)) },
        global: fakeGlobalScope({
          ...holding(net),
          attach: async (req) => {
            for (const [i, a] of sends.entries()) {
              req.sending?.(a);
              // As Node's HTTP/2 client: the request reaches its socket from the event loop's immediates.
              await new Promise((r) => setImmediate(r));
              if (i === 0) steps.push('written');
            }
            if (!committed) throw new BerthError('FORBIDDEN', 'refused');
            const endpoint = { Id: 'mine', NetworkID: net.Id, IPv4: committed.ipv4, PrefixLen: 24 };
            return { endpoint: { ...endpoint, Mac: committed.mac } as GlobalEndpoint, revision: 9 };
          },
          detach: async () => void steps.push('detach'),
        }),
      });
      try {
        await fails(
          g.controller.endpoints.join(C1, NETNS, net.Id, { defaultRoute: false }),
          committed ? 'the driver failed' : 'refused',
        );
        assert.deepEqual(steps.slice(0, 3), want);
        if (committed) assert.ok(steps.includes('leave') && steps.includes('detach'), steps.join());
        else assert.deepEqual(steps, [], 'nothing made, nothing to undo');
        assert.deepEqual(await g.kv.list('endpoints/'), [], 'endpoint records');
      } finally {
        await g.close();
      }
    });
  }

  it('keeps the control plane in the firewall by changes only, and in what a flushed table gets back', async () => {
    const g = await fakeWorld();
    try {
      const a = { ip: '192.168.205.10', port: 2379 };
      const b = { ip: '192.168.205.11', port: 2375 };
      const c = { ip: 'fd00::12', port: 2375 };
      const sent: string[] = [];
      const change = g.firewall.changeControlPlane.bind(g.firewall);
      g.firewall.changeControlPlane = (add, remove) => {
        sent.push(`+${add.map((e) => e.ip).join()} -${remove.map((e) => e.ip).join()}`);
        change(add, remove);
      };
      g.controller.setControlPlane([a, b]);
      g.controller.setControlPlane([b, c]);
      g.controller.setControlPlane([b, c]);
      assert.deepEqual(sent, [
        '+192.168.205.10,192.168.205.11 -',
        '+fd00::12 -192.168.205.10',
        '+ -',
      ]);
      assert.deepEqual(g.firewall.dump().control, [b, c]);
      // A list the firewall refuses changes nothing, here or there.
      assert.throws(() => g.controller.setControlPlane([b, { ip: 'etcd1', port: 2379 }]), {
        code: 'INVALID_ARGUMENT',
      });
      assert.deepEqual(g.controller.firewallState().control, [b, c]);
      assert.deepEqual(g.firewall.dump().control, [b, c]);
      g.controller.setControlPlane([]);
      assert.equal(g.controller.firewallState().control, undefined);
    } finally {
      await g.close();
    }
  });

  it('after a restart, keeps the control plane the last daemon closed until the first list, or drops it outside a cluster', async () => {
    const a = { ip: '192.168.205.10', port: 2379 };
    const b = { ip: '192.168.205.11', port: 2375 };
    const c = { ip: '192.168.205.12', port: 2375 };
    for (const cluster of [true, false]) {
      const g = await fakeWorld(cluster ? { global: fakeGlobalScope() } : {});
      try {
        // What the last daemon left in the table (it survives the daemon).
        g.firewall.changeControlPlane([a, b], []);
        await g.controller.reconcile(new Set());
        if (!cluster) {
          assert.equal(g.firewall.dump().control, undefined, 'no cluster: nothing kept');
          continue;
        }
        assert.deepEqual(g.firewall.dump().control, [a, b], 'kept while the list is unknown');
        g.controller.setControlPlane([b, c]);
        assert.deepEqual(g.firewall.dump().control, [b, c], 'what left the cluster goes');
      } finally {
        await g.close();
      }
    }
  });

  it('a name another writer takes during the create: 409, and nothing of this create is left', async () => {
    const before = await storeDump();
    // Another daemon on the same store takes the name between the check and the commit.
    w.kv.beforeTxn = async (_c, ops) => {
      if (ops.some((o) => keyOf(o) === 'networks/names/web')) {
        await w.kv.inner.put('networks/names/web', 'another network');
      }
    };
    const e = await fails(create({ Name: 'web' }), 'network with name web already exists');
    assert.ok(hasCode(e, 'CONFLICT'));
    w.kv.beforeTxn = undefined;
    await w.kv.inner.delete('networks/names/web');
    assert.deepEqual(await storeDump(), before);
    assert.equal(w.controller.find('web'), undefined);
    assert.deepEqual(
      w.ipam.allocations().filter((a) => !w.controller.network(a.network)),
      [],
    );
  });

  it('refuses to remove a network with endpoints', async () => {
    const { Id } = await create({ Name: 'web' });
    await join(C1, 'web');
    await fails(
      w.controller.removeNetwork('web'),
      `error while removing network: network web id ${Id} has active endpoints`,
    );
    await w.controller.endpoints.leave(C1, Id);
    await w.controller.removeNetwork('web');
  });

  for (const [what, breakIt, message] of [
    [
      "the driver's kernel side",
      () => w.driver.fail('ensureNetwork'),
      'fake driver: ensureNetwork failed',
    ],
    [
      'the DNS listener',
      () => (w.dns.failListener = true),
      /listen udp 10\.42\.0\.1:53: bind: cannot assign requested address/,
    ],
    [
      'the record',
      () => w.kv.failNext((ops) => ops.some((o) => keyOf(o).startsWith('networks/names/'))),
      'store: disk on fire',
    ],
  ] as const) {
    it(`a create failing at ${what} leaves nothing behind`, async () => {
      const before = await storeDump();
      const bridges = w.firewall.dump().bridges;
      breakIt();
      await fails(create({ Name: 'web', IPAM: { Config: [{ Subnet: '10.42.0.0/24' }] } }), message);
      assert.equal(w.controller.find('web'), undefined);
      assert.deepEqual(await storeDump(), before);
      assert.deepEqual(
        w.ipam
          .allocations()
          .map((a) => a.subnet)
          .filter((s) => s.startsWith('10.42.')),
        [],
      );
      assert.deepEqual(w.firewall.dump().bridges, bridges);
      assert.deepEqual([...w.dns.listening.keys()], []);
      assert.equal(w.driver.networks.size, 1, 'only the default bridge');
      // The same network can be made now.
      await create({ Name: 'web', IPAM: { Config: [{ Subnet: '10.42.0.0/24' }] } });
    });
  }

  it('a removal whose kernel side fails is finished at the next start', async () => {
    const { Id } = await create({ Name: 'web' });
    w.driver.fail('removeNetwork');
    await w.controller.removeNetwork('web');
    assert.equal(w.controller.find('web'), undefined);
    assert.deepEqual(w.ipam.pools(Id), []);
    assert.ok(await w.kv.get(`networks/removing/${Id}`), 'kept for the next start');
    assert.ok(w.driver.networks.has(Id));
    await w.reopen();
    await w.controller.reconcile(new Set());
    assert.equal(await w.kv.get(`networks/removing/${Id}`), undefined);
    assert.equal(w.driver.networks.has(Id), false);
  });
});

describe('endpoints (fake driver, no root)', () => {
  it('joins a user network and leaves it: record, address, driver, DNS, then nothing', async () => {
    const { Id } = await create({ Name: 'web', IPAM: { Config: [{ Subnet: '10.50.0.0/24' }] } });
    let committed: Joined | undefined;
    const joined = await join(C1, 'web', {
      name: 'app',
      hostname: 'apphost',
      aliases: ['db'],
      commit: (j) => {
        committed = j;
        return [{ type: 'put', key: 'test/container', value: j.endpoint.IPAddress }];
      },
    });
    assert.equal(joined.name, 'web');
    assert.equal(joined.endpoint.IPAddress, '10.50.0.2');
    assert.equal(joined.endpoint.Gateway, '10.50.0.1');
    assert.equal(joined.endpoint.MacAddress, '02:42:0a:32:00:02');
    assert.deepEqual(joined.endpoint.Aliases, ['db', C1.slice(0, 12)]);
    assert.deepEqual(joined.endpoint.DNSNames, ['app', 'db', C1.slice(0, 12), 'apphost']);
    assert.equal(committed, joined);
    // Committed with the ready record, in one transaction.
    assert.equal((await w.kv.get('test/container'))?.value, '10.50.0.2');
    const rec = JSON.parse((await w.kv.get(`endpoints/${Id}/${C1}`))!.value);
    assert.equal(rec.State, 'ready');
    assert.equal(rec.IfName, 'eth0');
    assert.equal(rec.HostIf, 'fake1');
    assert.deepEqual(
      endpointAddresses(Id).map((a) => [a.address, a.owner]),
      [['10.50.0.2', rec.Id]],
    );
    const ep = w.driver.endpoints.get('fake1')!;
    assert.deepEqual(
      [ep.containerId, ep.addrs.ifName, ep.addrs.ipv4, ep.addrs.prefixLen, ep.addrs.defaultRoute],
      [C1, 'eth0', '10.50.0.2', 24, true],
    );
    assert.deepEqual(
      w.dns.records.endpoints().map((e) => [e.name, e.ipv4, e.networkId]),
      [['app', '10.50.0.2', Id]],
    );

    await w.controller.endpoints.leave(C1, Id, [{ type: 'delete', key: 'test/container' }]);
    assert.equal(await w.kv.get('test/container'), undefined);
    await assertNoEndpoint(Id);
    assert.deepEqual(w.driver.calls.slice(-1), ['leave web eth0']);
    // The next endpoint gets the address back; the sandbox's next name is eth1.
    const again = await join(C1, 'web');
    assert.equal(again.endpoint.IPAddress, '10.50.0.2');
    assert.equal(JSON.parse((await w.kv.get(`endpoints/${Id}/${C1}`))!.value).IfName, 'eth1');
  });

  it('publishes ports through the first bridge endpoint and takes them back on leave', async () => {
    const { Id } = await create({ Name: 'web' });
    await join(C1, 'web', { ports: tcp8080 });
    assert.deepEqual(
      w.controller.endpoints
        .publishedPorts(C1)
        .map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}`),
      [':8080->80'],
    );
    assert.deepEqual([...w.held], ['tcp//8080']);
    assert.deepEqual(
      w.firewall.dump().ports.map((m) => `${m.hostPort}->${m.containerIp}:${m.containerPort}`),
      ['8080->172.18.0.2:80'],
    );
    const rec = JSON.parse((await w.kv.get(`endpoints/${Id}/${C1}`))!.value);
    assert.equal(rec.Ports.length, 1);
    assert.equal(w.driver.endpoints.get(rec.HostIf)?.addrs.hairpin, true);
    await w.controller.endpoints.leave(C1, Id);
    await assertNoEndpoint(Id);
  });

  it('joins host and none: a record without addresses, nothing for the bridge driver', async () => {
    for (const name of ['host', 'none']) {
      const net = w.controller.get(name);
      const joined = await w.controller.endpoints.join(C1, undefined, name, { defaultRoute: true });
      assert.equal(joined.endpoint.IPAddress, '');
      const rec = JSON.parse((await w.kv.get(`endpoints/${net.Id}/${C1}`))!.value);
      assert.equal(rec.State, 'ready');
      assert.equal(rec.IPv4, undefined);
      await w.controller.endpoints.leave(C1, net.Id);
      await assertNoEndpoint(net.Id);
    }
  });

  it("a container's rename keeps the cluster's reconcile off its endpoints; a failed undo asks for it", async () => {
    const net = overlayRecord('ovr', 'ab', 300, false);
    const renames: string[] = [];
    let unsettled = 0;
    const g = await fakeWorld({
      global: fakeGlobalScope({
        ...holding(net),
        rename: async (_n, id, name) => {
          renames.push(`${id} ${name}`);
          if (name === 'old')
            throw new BerthError('UNAVAILABLE', 'cluster store (etcd) unavailable');
          return 'old';
        },
        onUnsettled: () => void unsettled++,
      }),
    });
    try {
      const ep = { Id: 'e1', NetworkID: net.Id, ContainerID: C1, Name: 'old', State: 'ready' };
      await g.kv.put(`endpoints/${net.Id}/${C1}`, JSON.stringify(ep));
      const eps = g.controller.endpoints;
      assert.equal(await eps.nameNow(ep), 'old');
      const r = await eps.renamed(C1, 'new');
      assert.equal(await eps.nameNow(ep), undefined, 'under way');
      await r.undo();
      assert.deepEqual(renames, ['e1 new', 'e1 old']);
      assert.equal(unsettled, 1, 'the store kept the new name: a reconcile is asked for');
      assert.equal(await eps.nameNow(ep), 'old');
      const again = await eps.renamed(C1, 'new');
      await g.kv.txn([], again.ops);
      again.publish();
      assert.equal(await eps.nameNow(ep), 'new');
    } finally {
      await g.close();
    }
  });

  it('refuses a second endpoint of a container on one network, and keeps the first', async () => {
    const { Id } = await create({ Name: 'web' });
    await join(C1, 'web', { ports: tcp8080 });
    const first = await w.kv.get(`endpoints/${Id}/${C1}`);
    const e = await fails(
      join(C1, 'web'),
      `endpoint with name ${C1} already exists in network web`,
    );
    assert.ok(hasCode(e, 'FORBIDDEN'));
    assert.deepEqual(await w.kv.get(`endpoints/${Id}/${C1}`), first);
    assert.equal(endpointAddresses(Id).length, 1);
    assert.equal(w.driver.endpoints.size, 1);
    assert.deepEqual([...w.held], ['tcp//8080']);
    assert.equal(w.dns.records.endpoints().length, 0, 'no name was asked for');
  });

  it('refuses what the rules refuse before writing anything', async () => {
    await create({ Name: 'web' }); // subnet picked by Berth
    const before = await storeDump();
    const calls = w.driver.calls.length;
    await fails(
      join(C1, 'web', { staticIPv4: '172.18.0.9' }),
      'user specified IP address is supported only when connecting to networks with user configured subnets',
    );
    await fails(
      join(C1, 'bridge', { aliases: ['db'] }),
      'network-scoped alias is supported only for containers in user defined networks',
    );
    await fails(
      w.controller.endpoints.join(C1, undefined, 'host', {
        defaultRoute: true,
        staticIPv4: '10.0.0.9',
      }),
      'user specified IP address is supported on user defined networks only',
    );
    assert.deepEqual(await storeDump(), before);
    assert.equal(w.driver.calls.length, calls);
  });

  describe('a join failing at each step leaves nothing behind', () => {
    const steps: Array<{
      step: string;
      breakIt: () => void;
      message: RegExp | string;
      ports?: boolean;
      /** The request's commit callback throws. */
      commitThrows?: boolean;
    }> = [
      {
        step: 'the endpoint record (store)',
        breakIt: () => w.kv.failNext((ops) => ops.some((o) => keyOf(o).startsWith('endpoints/'))),
        message: 'store: disk on fire',
      },
      {
        step: 'a host port held by another process',
        breakIt: () => w.busy.add(8080),
        message: new RegExp(
          `^driver failed programming external connectivity on endpoint app \\([0-9a-f]{64}\\): listen tcp4 :8080: bind: address in use$`,
        ),
        ports: true,
      },
      {
        step: 'recording the ports (store)',
        breakIt: () => w.kv.failNext((ops) => ops.some((o) => valueOf(o).includes('"Ports"'))),
        message: 'store: disk on fire',
        ports: true,
      },
      {
        step: "the driver's join",
        breakIt: () => w.driver.fail('join'),
        message: 'fake driver: join failed',
        ports: true,
      },
      {
        step: 'the port map elements (firewall)',
        breakIt: () => (w.firewall.failPortMapping = true),
        message: 'nftables: Could not process rule: No buffer space available',
        ports: true,
      },
      {
        step: "the caller's commit ops",
        breakIt: () => undefined,
        message: 'the container record cannot be written',
        ports: true,
        commitThrows: true,
      },
      {
        step: 'the ready commit (store)',
        breakIt: () => w.kv.failNext(isReady),
        message: 'store: disk on fire',
        ports: true,
      },
      {
        step: 'the ready commit, and the undo of the driver too',
        breakIt: () => {
          w.kv.failNext(isReady);
          w.driver.fail('leave');
        },
        message: 'store: disk on fire',
      },
    ];
    for (const s of steps) {
      it(s.step, async () => {
        const { Id } = await create({
          Name: 'web',
          IPAM: { Config: [{ Subnet: '10.60.0.0/24' }] },
        });
        const before = await storeDump();
        s.breakIt();
        await fails(
          join(C1, 'web', {
            name: 'app',
            ports: s.ports ? tcp8080 : undefined,
            commit: () => {
              if (s.commitThrows) throw new Error('the container record cannot be written');
              return [];
            },
          }),
          s.message,
        );
        w.busy.clear();
        if (s.step.includes('undo of the driver')) {
          // The driver could not undo its side: reported, and the rest still undone.
          assert.ok(
            w.log.lines.some((l) =>
              /^error: cleanup after failed attach \(driver\): fake driver: leave failed/.test(l),
            ),
            w.log.lines.join('\n'),
          );
          w.driver.endpoints.clear();
        }
        await assertNoEndpoint(Id);
        assert.deepEqual(await storeDump(), before);
        // Nothing is held: the next join gets the same address and port.
        const joined = await join(C1, 'web', { name: 'app', ports: tcp8080 });
        assert.equal(joined.endpoint.IPAddress, '10.60.0.2');
        assert.deepEqual([...w.held], ['tcp//8080']);
      });
    }

    it('IPAM has no address left (503), or the static one is taken (403)', async () => {
      const { Id } = await create({ Name: 'tiny', IPAM: { Config: [{ Subnet: '10.61.0.0/30' }] } });
      await join(C2, 'tiny', { staticIPv4: '10.61.0.2' });
      const held = endpointAddresses(Id);
      const before = await storeDump();
      const full = await fails(
        join(C1, 'tiny', { ports: tcp8080 }),
        `no available IPv4 addresses on this network's address pools: tiny (${Id})`,
      );
      assert.ok(hasCode(full, 'UNAVAILABLE'));
      assert.deepEqual(await storeDump(), before);
      assert.deepEqual(endpointAddresses(Id), held);
      assert.deepEqual([...w.held], []);
      assert.equal(w.driver.endpoints.size, 1);

      const { Id: other } = await create({
        Name: 'web',
        IPAM: { Config: [{ Subnet: '10.62.0.0/24' }] },
      });
      await join(C2, 'web', { staticIPv4: '10.62.0.7' });
      const taken = await fails(
        join(C1, 'web', { staticIPv4: '10.62.0.7' }),
        'Address already in use',
      );
      assert.ok(hasCode(taken, 'FORBIDDEN'));
      assert.deepEqual(
        endpointAddresses(other).map((a) => a.address),
        ['10.62.0.7'],
      );
      assert.equal(w.driver.endpoints.size, 2);
    });
  });
});
