/**
 * OverlayPlane's peer updates without a kernel: the store's view (a fake
 * global scope whose endpoints change as a watch would bring them) is
 * programmed whole the first time, and then change by change (the driver
 * is told what went and what came, never the whole list again), with the
 * resolver's records for the other hosts' endpoints following; changes
 * that come while an update runs are applied together by the next; a
 * driver that cannot apply a change, or fails, gets the whole set; a
 * network this host is not on costs nothing per change; every update is
 * reported to the convergence wait (decision 0023).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/common/log.js';
import { DnsRecords } from '../../src/network/dns/records.js';
import type { OverlayDriver } from '../../src/network/drivers/overlay/index.js';
import { OverlayPlane } from '../../src/network/overlay-plane.js';
import { fakeGlobalScope, fakeOverlayDriver } from '../helpers/fake-network.js';
import type {
  GlobalEndpoint,
  GlobalScope,
  NetworkDriver,
  NetworkRecord,
  Peer,
  PeersChange,
} from '../../src/network/types.js';

const HERE = '192.168.205.10';
const THERE = '192.168.205.11';
const NET = 'a1'.repeat(32);

const net = {
  Name: 'ov',
  Id: NET,
  Driver: 'overlay',
  Internal: false,
  IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '10.0.0.0/24' }] },
} as unknown as NetworkRecord;

function endpoint(n: number, vtep = THERE, extra: Partial<GlobalEndpoint> = {}): GlobalEndpoint {
  return {
    Id: `ep${n}`,
    NetworkID: NET,
    ContainerID: `c${n}`.padEnd(64, '0'),
    Name: `web${n}`,
    Aliases: [],
    IPv4: `10.0.0.${n}`,
    PrefixLen: 24,
    Mac: `02:42:0a:00:00:${n.toString(16).padStart(2, '0')}`,
    Node: `${vtep}:2375`,
    Vtep: vtep,
    ...extra,
  };
}

const peer = (e: GlobalEndpoint): Peer => ({ ip: e.IPv4, mac: e.Mac, vtep: e.Vtep });

/** The store's view of one network, changed as a watch would, telling the plane. */
class FakeGlobal {
  readonly eps = new Map<string, GlobalEndpoint>();
  private listeners: Array<(net: string, ep: string) => void> = [];
  reads = 0;

  put(e: GlobalEndpoint): void {
    this.eps.set(e.Id, e);
    for (const fn of this.listeners) fn(NET, e.Id);
  }

  del(id: string): void {
    this.eps.delete(id);
    for (const fn of this.listeners) fn(NET, id);
  }

  scope(): GlobalScope {
    return fakeGlobalScope({
      list: () => [net],
      get: (id) => (id === NET ? net : undefined),
      loaded: new Promise(() => undefined), // the start-up pass is not this test's
      endpointsOf: () => {
        this.reads++;
        return [...this.eps.values()];
      },
      endpoint: (_net, id) => this.eps.get(id),
      onEndpointsChange: (fn) => {
        this.listeners.push(fn);
        return () => undefined;
      },
    });
  }
}

/** A multi-host driver that records what it is asked, can be held, and can refuse or fail. */
class FakeDriver {
  readonly calls: Array<{ set: Peer[] } | { change: PeersChange }> = [];
  takesPart = true;
  refuseChange = false;
  failNext = false;
  hold: Promise<void> | undefined;

  private async step(): Promise<void> {
    await this.hold;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('netlink: no such device');
    }
  }

  driver(): NetworkDriver {
    return fakeOverlayDriver({
      setPeers: async (_n, peers) => {
        await this.step();
        if (!this.takesPart) return false;
        this.calls.push({ set: peers });
        return true;
      },
      changePeers: async (_n, change) => {
        await this.step();
        if (!this.takesPart || this.refuseChange) return false;
        this.calls.push({ change });
        return true;
      },
    });
  }
}

function world() {
  const g = new FakeGlobal();
  const d = new FakeDriver();
  const records = new DnsRecords();
  const applied: number[] = [];
  let revision = 0;
  const plane = new OverlayPlane({
    global: g.scope(),
    convergence: {
      revision: () => revision,
      applied: (_net, at) => applied.push(at),
      converge: async () => ({ hosts: [], missing: [], skipped: [], ms: 0 }),
    },
    dns: {
      records,
      addListener: async () => undefined,
      removeListener: async () => false,
    },
    log: createLogger('error'),
    vtep: HERE,
    network: (id) => (id === NET ? net : undefined),
    driver: () => d.driver(),
    overlay: () => undefined,
  });
  const names = () =>
    records
      .endpoints()
      .map((e) => `${e.name}=${e.ipv4}`)
      .sort();
  const put = (e: GlobalEndpoint) => {
    revision++;
    g.put(e);
  };
  const del = (id: string) => {
    revision++;
    g.del(id);
  };
  /**
   * Lets the updates the changes started run to their end: an endpoint no
   * store has, whose update comes after them (and changes nothing).
   */
  const settle = () => plane.updatePeers(NET, 'no-such-endpoint');
  return { g, d, plane, names, put, del, settle, applied, revision: () => revision };
}

describe('overlay plane: peers follow the store change by change', () => {
  it('programs the whole network first, then only what changed, names too', async () => {
    const w = world();
    w.g.eps.set('ep2', endpoint(2, HERE));
    w.g.eps.set('ep3', endpoint(3));
    await w.plane.updatePeers(NET);
    assert.deepEqual(
      w.d.calls,
      [{ set: [peer(endpoint(3))] }],
      'this host’s own endpoint is no peer',
    );
    assert.deepEqual(w.names(), ['web3=10.0.0.3']);

    w.put(endpoint(4));
    await w.settle();
    w.del('ep3');
    await w.settle();
    assert.deepEqual(w.d.calls.slice(1), [
      { change: { gone: [], came: [peer(endpoint(4))] } },
      { change: { gone: [peer(endpoint(3))], came: [] } },
    ]);
    assert.deepEqual(w.names(), ['web4=10.0.0.4']);
    assert.equal(w.g.reads, 1, 'the network was read whole once');

    // This host's own endpoints, and a write that changes nothing programmed, cost no driver call.
    w.put(endpoint(5, HERE));
    w.put(endpoint(4));
    await w.settle();
    assert.equal(w.d.calls.length, 3);

    // An endpoint that moved host, and one whose aliases changed: gone and came.
    const moved = endpoint(4, '192.168.205.12');
    const aliased = endpoint(6, THERE, { Aliases: ['db'] });
    w.put(endpoint(6));
    await w.settle();
    w.put(moved);
    w.put(aliased);
    await w.settle();
    assert.deepEqual(w.d.calls.at(-1), {
      change: { gone: [peer(endpoint(4)), peer(endpoint(6))], came: [peer(moved), peer(aliased)] },
    });
    assert.deepEqual(w.names(), ['web4=10.0.0.4', 'web6=10.0.0.6']);
    assert.equal(
      w.applied.at(-1),
      w.revision(),
      'every update is reported to the convergence wait',
    );
    // A later join of this host's own (no endpoint named) reads nothing again.
    await w.plane.updatePeers(NET);
    assert.equal(w.g.reads, 1);
  });

  it('applies the changes that came during an update together, in the next one', async () => {
    const w = world();
    await w.plane.updatePeers(NET);
    let release!: () => void;
    w.d.hold = new Promise((r) => (release = r));
    w.put(endpoint(2));
    const first = w.settle();
    await new Promise((r) => setImmediate(r)); // that update has started, and waits on the driver
    for (const n of [3, 4, 5]) w.put(endpoint(n));
    w.del('ep3');
    release();
    w.d.hold = undefined;
    await first;
    await w.settle();
    const changes = w.d.calls.slice(1);
    assert.deepEqual(changes, [
      { change: { gone: [], came: [peer(endpoint(2))] } },
      { change: { gone: [], came: [peer(endpoint(4)), peer(endpoint(5))] } },
    ]);
    assert.deepEqual(w.names(), ['web2=10.0.0.2', 'web4=10.0.0.4', 'web5=10.0.0.5']);
    assert.deepEqual(w.applied.at(-1), 5, 'reported at the revision the update read');
  });

  it('gives the driver the whole set when it cannot apply a change, or after a failure', async () => {
    const w = world();
    w.g.eps.set('ep2', endpoint(2));
    await w.plane.updatePeers(NET);
    // The driver lost its entries (its VXLAN device was made again).
    w.d.refuseChange = true;
    w.put(endpoint(3));
    await w.settle();
    assert.deepEqual(w.d.calls.at(-1), { set: [peer(endpoint(2)), peer(endpoint(3))] });
    w.d.refuseChange = false;
    // A failed update: what it did is not known, so the next one reads all.
    w.d.failNext = true;
    w.put(endpoint(4));
    await w.settle();
    assert.equal(w.d.calls.length, 2);
    w.del('ep2');
    await w.settle();
    assert.deepEqual(w.d.calls.at(-1), { set: [peer(endpoint(3)), peer(endpoint(4))] });
    assert.deepEqual(w.names(), ['web3=10.0.0.3', 'web4=10.0.0.4'], 'no name of ep2 is left');
    assert.equal(w.g.reads, 3);
  });

  it('a network this host is not on costs nothing per change, until a join here reads it', async () => {
    const w = world();
    w.d.takesPart = false;
    w.g.eps.set('ep2', endpoint(2));
    await w.plane.updatePeers(NET);
    for (const n of [3, 4, 5]) {
      w.put(endpoint(n));
      await w.settle();
    }
    assert.equal(w.g.reads, 1, 'not read again per change');
    assert.deepEqual(w.d.calls, []);
    assert.deepEqual(w.names(), []);
    assert.equal(w.applied.length, 4, 'still reported: nothing here to program');
    // This host's first join on it.
    w.d.takesPart = true;
    await w.plane.updatePeers(NET);
    assert.deepEqual(w.d.calls, [{ set: [2, 3, 4, 5].map((n) => peer(endpoint(n))) }]);
    assert.equal(w.names().length, 4);
  });
});

describe('overlay plane: links no endpoint names', () => {
  it('are swept after the store is read and its namespaces are swept, per network, with the names read then', async () => {
    const steps: string[] = [];
    let loaded!: () => void;
    let swept!: () => void;
    const sweeping = new Promise<void>((r) => (swept = r));
    const overlay = {
      sweep: async () => {
        steps.push('sweep');
        await sweeping;
      },
      deleteStrays: async (n: NetworkRecord, named: () => Promise<ReadonlySet<string>>) => {
        steps.push(`strays ${n.Name}: keep ${[...(await named())].join(' ')}`);
        return ['veth0stray'];
      },
    } as unknown as OverlayDriver;
    const warned: string[] = [];
    const log = createLogger('error');
    log.warn = (m: string) => void warned.push(m);
    const plane = new OverlayPlane({
      global: fakeGlobalScope({
        list: () => [net],
        get: () => net,
        loaded: new Promise<void>((r) => (loaded = r)),
        endpointsOf: () => [],
        onEndpointsChange: () => () => undefined,
      }),
      dns: {
        records: new DnsRecords(),
        addListener: async () => undefined,
        removeListener: async () => false,
      },
      log,
      vtep: HERE,
      network: () => net,
      driver: () => undefined,
      overlay: () => overlay,
    });
    const done = plane.sweepStrays(() => {
      steps.push('named read');
      return Promise.resolve(new Set(['veth0kept']));
    });
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(steps, [], 'nothing before the store is read');
    loaded();
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(steps, ['sweep'], 'nothing before the namespaces are swept');
    swept();
    await done;
    assert.deepEqual(steps, ['sweep', 'named read', 'strays ov: keep veth0kept']);
    assert.deepEqual(warned, ['deleted veth0stray on overlay ov: no endpoint of this host has it']);
  });
});
