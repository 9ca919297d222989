/**
 * `berth network trace` across hosts, its pure part (decision 0033 "Across
 * hosts"): another host's container resolved from the cluster store's
 * endpoints, the probe planned over the overlay both are on, the raw
 * VXLAN match and the overlay namespace's batch, and the lab's capture
 * (network-trace-overlay.fixtures.ts) explained: delivered to host 2 with
 * the VNI; a missing or wrong FDB entry; nothing seen leaving.
 */
import { describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedStore } from '../../src/store/index.js';
import {
  askPeer,
  parseArrivalRequest,
  servePeer,
  TRACE_REPLIES,
  TRACE_REQUESTS,
} from '../../src/network/trace/peer.js';
import { createLogger } from '../../src/common/log.js';
import assert from 'node:assert/strict';
import type { KvStore } from '../../src/store/types.js';
import { overlayBatch, traceBatch, vxlanMatch } from '../../src/kernel/firewall/trace.js';
import type { KernelSnapshot, StoreSnapshot } from '../../src/network/graph/snapshot.js';
import {
  explain,
  parseTarget,
  planProbe,
  probeEvents,
  resolveParty,
} from '../../src/network/trace/index.js';
import type { OverlayFacts } from '../../src/network/trace/overlay.js';
import { overlayPing } from './network-trace-overlay.fixtures.js';

const H1 = '192.168.205.10';
const H2 = '192.168.205.11';
const DB_MAC = '02:42:0a:00:00:03';
const demo = {
  id: 'ov1111111111aaaa',
  name: 'demo',
  driver: 'overlay',
  scope: 'global' as const,
  internal: false,
  gateways: ['10.0.0.1/24'],
  subnets: ['10.0.0.0/24'],
  servesDns: true,
  vni: 256,
};
const store: StoreSnapshot = {
  host: { name: 'c1', advertise: `${H1}:2375`, vtep: H1 },
  networks: [demo],
  endpoints: [
    {
      id: 'ep-app',
      networkId: demo.id,
      containerId: 'app0000',
      ifName: 'eth0',
      hostIf: 'veth4d72d15',
      ipv4: '10.0.0.2/24',
      mac: '02:42:0a:00:00:02',
      state: 'ready',
      ports: [],
    },
  ],
  remote: [
    {
      id: 'ep-db',
      networkId: demo.id,
      containerId: 'db00000',
      name: 'db',
      ipv4: '10.0.0.3/24',
      mac: DB_MAC,
      node: `${H2}:2375`,
      vtep: H2,
    },
  ],
  hosts: [
    { address: `${H1}:2375`, name: 'c1' },
    { address: `${H2}:2375`, name: 'c2' },
  ],
  containers: { app0000: { name: 'app', running: true } },
};
const kernel: KernelSnapshot = {
  host: { links: [], addresses: [], defaultRoutes: [] },
  firewall: { bridges: [], ports: [] },
  sandboxes: {},
  overlays: {},
  dns: [],
};

function run(
  fdb: OverlayFacts['fdb'],
  lines: { host: string[]; overlay: string[] } = overlayPing,
  far?: OverlayFacts['far'],
  ref = 'db',
) {
  const target = parseTarget(ref);
  const src = resolveParty('app', store);
  const dst = resolveParty(target.ref, store);
  const plan = planProbe(src, dst, target, kernel);
  return explain({
    src,
    dst,
    target,
    plan,
    route: { dev: 'eth0', prefsrc: '10.0.0.2' },
    events: probeEvents(lines.host, overlayPing.table),
    table: overlayPing.table,
    networks: store.networks,
    overlay: {
      network: demo,
      remote: plan.remoteEndpoint!,
      nsName: 'ov-ov1111111111',
      events: probeEvents(lines.overlay, overlayPing.table),
      ...(fdb ? { fdb } : {}),
      hosts: store.hosts!,
      ...(far ? { far } : {}),
    },
  });
}

/** Host 2's side of the lab's ping (its lines, as its trace printed them). */
const farHost = [
  'trace id 1 inet berth-trace-0b0b0b0b prerouting packet: iif "eth0" ip saddr 192.168.205.10 ip daddr 192.168.205.11 ip protocol udp udp sport 40010 udp dport 4789',
  'trace id 1 inet berth-trace-0b0b0b0b prerouting policy accept',
  'trace id 1 inet berth prerouting packet: iif "eth0" ip saddr 192.168.205.10 ip daddr 192.168.205.11 ip protocol udp udp sport 40010 udp dport 4789',
  'trace id 1 inet berth prerouting policy accept',
];
const farOverlay = [
  'trace id 2 bridge berth-trace-0b0b0b0b prerouting packet: iif "vxlan0" ip saddr 10.0.0.2 ip daddr 10.0.0.3 ip protocol icmp',
  'trace id 2 bridge berth-trace-0b0b0b0b forward packet: iif "vxlan0" oif "vethf5d4fc9" ip saddr 10.0.0.2 ip daddr 10.0.0.3 ip protocol icmp',
];
const farOf = (host: string[], ov: string[]) => ({
  events: probeEvents(host, ''),
  overlayEvents: probeEvents(ov, ''),
});

describe('network trace across hosts: who and what', () => {
  it('resolves another host’s container by name, ID prefix and address', () => {
    for (const ref of ['db', 'db000', '10.0.0.3']) {
      const p = resolveParty(ref, store);
      assert.equal(p.kind, 'remote', ref);
      assert.equal(p.kind === 'remote' && p.name, 'db');
    }
  });

  it('plans the probe over the shared overlay, and refuses the other way round', () => {
    const target = parseTarget('db:5432');
    const plan = planProbe(resolveParty('app', store), resolveParty('db', store), target, kernel);
    assert.deepEqual(
      [plan.dst, plan.port, plan.srcEndpoint?.id, plan.remoteEndpoint?.id],
      ['10.0.0.3', 5432, 'ep-app', 'ep-db'],
    );
    assert.throws(
      () => planProbe(resolveParty('db', store), resolveParty('app', store), target, kernel),
      /cannot trace from db: it runs on host 192\.168\.205\.11:2375; trace from there/,
    );
    const alone = { ...store, endpoints: [{ ...store.endpoints[0]!, networkId: 'other' }] };
    assert.throws(
      () => planProbe(resolveParty('app', alone), resolveParty('db', alone), target, kernel),
      /db is on host 192\.168\.205\.11:2375: a trace reaches it only from a container on an overlay network it is on/,
    );
  });

  it('matches the probe inside VXLAN by raw offsets, and traces br0 in the overlay', () => {
    const spec = {
      dst: '10.0.0.3',
      proto: 'icmp' as const,
      overlay: { netns: '/run/ov', vni: 256 },
    };
    assert.equal(
      vxlanMatch(spec, 41234),
      'udp dport 4789 @th,96,24 256 @th,312,8 1 @th,368,32 0x0a000003 @th,400,8 8 @th,432,16 41234',
    );
    assert.match(
      vxlanMatch({ ...spec, proto: 'tcp', port: 5432 }, 50000),
      / @th,312,8 6 .* @th,400,16 50000$/,
    );
    const host = traceBatch('berth-trace-x', spec, 41234);
    assert.match(
      host,
      /add rule inet berth-trace-x output udp dport 4789 @th,96,24 256 .* meta nftrace set 1/,
    );
    assert.match(host, /add rule inet berth-trace-x postrouting udp dport 4789 /);
    assert.doesNotMatch(traceBatch('berth-trace-x', { dst: '10.0.0.3', proto: 'icmp' }, 1), /4789/);
    const ov = overlayBatch('berth-trace-x', spec, 41234);
    assert.match(ov, /^add table bridge berth-trace-x$/m);
    for (const hook of ['prerouting', 'forward', 'postrouting']) {
      assert.ok(
        ov.includes(
          `add rule bridge berth-trace-x ${hook} ip daddr 10.0.0.3 icmp type echo-request icmp id 41234 meta nftrace set 1`,
        ),
      );
    }
  });
});

describe('network trace across hosts: explained', () => {
  it('delivered: br0 to vxlan0, the FDB entry, VNI 256 to host 2 (c2)', () => {
    const r = run([{ mac: DB_MAC, dst: H2 }]);
    assert.equal(r.outcome, 'delivered');
    assert.deepEqual(
      r.hops.map((h) => `${h.at}: ${h.what}`),
      [
        'route: in app: to 10.0.0.3 dev eth0 src 10.0.0.2',
        'veth: eth0 in app ↔ veth4d72d15 on br0 in ov-ov1111111111 (network demo)',
        'bridge br0 (ov-ov1111111111): seen: in veth4d72d15, out vxlan0',
        `fdb vxlan0: ${DB_MAC} (db) → ${H2}`,
        `vxlan: encapsulated in VNI 256: ${H1} → ${H2} udp 4789 out eth0 (seen leaving this host)`,
        'nft inet berth output: seen (out eth0); policy accept',
        'nft inet berth postrouting: seen (out eth0); policy accept',
        `remote: host ${H2} (c2) holds db (10.0.0.3) on demo, by the cluster store (not traced there)`,
      ],
    );
    assert.equal(
      r.sentence,
      `delivered: overlay demo, VXLAN VNI 256 to host ${H2} (c2), which holds db (10.0.0.3); its arrival there is inferred from the store, not traced`,
    );
  });

  it('a missing peer: no FDB entry for the MAC, dropped', () => {
    const r = run([], { host: [], overlay: overlayPing.overlay });
    assert.equal(r.outcome, 'dropped');
    assert.equal(
      r.sentence,
      `dropped: no VXLAN peer for ${DB_MAC} (db) on this host: vxlan0 of demo has no FDB entry for it (the store has db on host ${H2} (c2))`,
    );
    assert.ok(r.hops.some((h) => h.at === 'vxlan' && /^no packet in VNI 256 seen/.test(h.what)));
  });

  it('a stale peer: the FDB sends the MAC to another host', () => {
    const r = run([{ mac: DB_MAC, dst: '192.168.205.99' }]);
    assert.equal(r.outcome, 'dropped');
    assert.equal(
      r.sentence,
      `dropped: vxlan0 of demo sends ${DB_MAC} (db) to 192.168.205.99, but the store has db on host ${H2} (c2)`,
    );
  });

  it('nothing seen leaving: unknown, not delivered', () => {
    const r = run([{ mac: DB_MAC, dst: H2 }], { host: [], overlay: overlayPing.overlay });
    assert.equal(r.outcome, 'unknown');
    assert.equal(
      r.sentence,
      `unknown: app's probe was not seen leaving in VXLAN VNI 256 for host ${H2} (c2)`,
    );
  });
});

describe('network trace across hosts: the far side', () => {
  const ok = [{ mac: DB_MAC, dst: H2 }];

  it('traced there: arrived in eth0, br0 to db’s veth, delivered and seen on both hosts', () => {
    const r = run(ok, overlayPing, farOf(farHost, farOverlay));
    assert.equal(r.outcome, 'delivered');
    assert.deepEqual(
      r.hops.slice(-3).map((h) => `${h.at}: ${h.what}`),
      [
        `remote vxlan: arrived at host ${H2} (c2) in VNI 256 (in eth0; through inet berth prerouting; seen there)`,
        `remote bridge br0: on host ${H2} (c2): in vxlan0, out vethf5d4fc9 (seen there)`,
        `arrival: db (10.0.0.3) on host ${H2} (c2)`,
      ],
    );
    assert.equal(
      r.sentence,
      `delivered: overlay demo, VXLAN VNI 256 to host ${H2} (c2), to db (10.0.0.3); seen leaving here and arriving there`,
    );
  });

  it('traced there, and host 2 found nothing listening on the port: no listener, said so', () => {
    const far = { ...farOf(farHost, farOverlay), listening: false };
    const r = run(ok, overlayPing, far, 'db:5432');
    assert.equal(r.outcome, 'no-listener');
    assert.equal(
      `${r.hops.at(-1)!.at}: ${r.hops.at(-1)!.what}`,
      `arrival: no socket on 10.0.0.3:5432/tcp in db on host ${H2} (c2) (looked there)`,
    );
    assert.equal(
      r.sentence,
      `overlay demo, VXLAN VNI 256 to host ${H2} (c2), to db, but no container listens on 10.0.0.3:5432`,
    );
    // Listening, or not asked (a ping, an older far side): delivered.
    const cases: Array<[OverlayFacts['far'], string]> = [
      [{ ...farOf(farHost, farOverlay), listening: true }, 'db:5432'],
      [farOf(farHost, farOverlay), 'db:5432'],
      [{ ...farOf(farHost, farOverlay), listening: false }, 'db'],
    ];
    for (const [f, ref] of cases) {
      assert.equal(run(ok, overlayPing, f, ref).outcome, 'delivered', `${ref} ${f?.listening}`);
    }
  });

  it('dropped there by a rule: named with its host', () => {
    const host = [
      ...farHost,
      'trace id 1 inet usr in packet: iif "eth0" ip daddr 192.168.205.11 udp dport 4789',
      'trace id 1 inet usr in rule udp dport 4789 drop (verdict drop)',
    ];
    const r = run(ok, overlayPing, farOf(host, []));
    assert.equal(r.outcome, 'dropped');
    assert.equal(
      r.sentence,
      `dropped on host ${H2} (c2): rule "udp dport 4789 drop" in inet usr in drops it`,
    );
  });

  it('sent but not seen arriving; or arrived but not passed to the container', () => {
    assert.equal(
      run(ok, overlayPing, farOf([], [])).sentence,
      `dropped: sent in VXLAN VNI 256 to host ${H2} (c2), but it did not arrive there`,
    );
    const r = run(ok, overlayPing, farOf(farHost, farOverlay.slice(0, 1)));
    assert.equal(r.outcome, 'dropped');
    assert.equal(
      r.sentence,
      `dropped: arrived at host ${H2} (c2) in VXLAN VNI 256, but br0 there did not pass it to db`,
    );
  });

  it('no answer from there: the far side inferred, and why', () => {
    const r = run(ok, overlayPing, {
      events: [],
      overlayEvents: [],
      error: 'host x did not answer',
    });
    assert.equal(r.outcome, 'delivered');
    assert.match(r.hops.at(-1)!.what, /\(not traced there: host x did not answer\)$/);
    assert.match(r.sentence, /its arrival there is inferred from the store, not traced$/);
  });

  it('refuses a request whose fields are not what a trace needs, and never arms for it', async () => {
    const good = {
      networkId: 'ab12',
      vni: 256,
      dst: '10.0.0.3',
      proto: 'icmp',
      tag: 7,
      windowMs: 1000,
      lease: '42',
    };
    assert.deepEqual(parseArrivalRequest(JSON.stringify(good)), good);
    const tcp = { ...good, proto: 'tcp', port: 5432 };
    assert.deepEqual(parseArrivalRequest(JSON.stringify(tcp)), tcp);
    const bad: Array<[Record<string, unknown> | string, RegExp]> = [
      ['{', /not JSON/],
      ['null', /not an object/],
      [{ ...good, dst: '10.0.0.3 ; flush ruleset' }, /bad dst/],
      [{ ...good, dst: 'fe80::1' }, /bad dst/],
      [{ ...good, proto: 'tcp; drop' }, /bad proto/],
      [{ ...good, vni: 0 }, /bad vni/],
      [{ ...good, vni: 1 << 24 }, /bad vni/],
      [{ ...good, tag: 70000 }, /bad tag/],
      [{ ...good, windowMs: 1e9 }, /bad windowMs/],
      [{ ...good, networkId: 'x y' }, /bad networkId/],
      [{ ...good, lease: '1 2' }, /bad lease/],
      [{ ...good, proto: 'tcp', port: 0 }, /bad port/],
      [{ ...good, proto: 'tcp', port: 70000 }, /bad port/],
      [{ ...good, proto: 'udp', port: '53' }, /bad port/],
      [{ ...good, port: 80 }, /bad port/],
    ];
    for (const [v, why] of bad) {
      assert.match(String(parseArrivalRequest(typeof v === 'string' ? v : JSON.stringify(v))), why);
    }
    const d = mkdtempSync(join(tmpdir(), 'berth-tracepeer-'));
    const kv = await openEmbeddedStore(d);
    let armed = 0;
    const stop = await servePeer(
      kv,
      'h2:2375',
      () => {
        armed++;
        return Promise.reject(new Error('not expected'));
      },
      createLogger('error'),
    );
    try {
      await kv.put(`${TRACE_REQUESTS}h2:2375/x1`, 'not json');
      await kv.put(`${TRACE_REQUESTS}h2:2375/x2`, JSON.stringify({ ...good, windowMs: 1e9 }));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(armed, 0);
      assert.equal((await kv.list(TRACE_REPLIES)).length, 0);
    } finally {
      stop();
      await kv.close();
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('asks through the store: armed, then the lines; the keys go with the lease', async () => {
    const d = mkdtempSync(join(tmpdir(), 'berth-tracepeer-'));
    const kv = await openEmbeddedStore(d);
    const log = createLogger('error');
    let finished = false;
    const stop = await servePeer(
      kv,
      'h2:2375',
      async (req) => {
        assert.deepEqual([req.dst, req.vni, req.tag], ['10.0.0.3', 256, 41234]);
        return {
          finish: async () => {
            finished = true;
            return { lines: farHost, overlayLines: farOverlay };
          },
        };
      },
      log,
    );
    try {
      const req = { networkId: demo.id, vni: 256, dst: '10.0.0.3', proto: 'icmp' as const };
      const p = await askPeer(kv, 'h2:2375', { ...req, tag: 41234, windowMs: 50 });
      assert.equal(await p.armed, true);
      const done = await p.done;
      assert.deepEqual([done.state, done.lines, finished], ['done', farHost, true]);
      assert.equal((await kv.list(TRACE_REQUESTS)).length, 1);
      await p.close();
      assert.deepEqual(
        [(await kv.list(TRACE_REQUESTS)).length, (await kv.list(TRACE_REPLIES)).length],
        [0, 0],
      );
      // A host that does not serve requests: not armed, said so.
      const q = await askPeer(kv, 'h3:2375', { ...req, tag: 1, windowMs: 50 }, { armMs: 100 });
      assert.equal(await q.armed, 'host h3:2375 did not answer');
      await q.close();
    } finally {
      stop();
      await kv.close();
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('serves once the store can be followed: down at start, or its watch ended', async () => {
    const d = mkdtempSync(join(tmpdir(), 'berth-tracepeer-'));
    const kv = await openEmbeddedStore(d);
    const lines: string[] = [];
    const log = { ...createLogger('error'), warn: (m: string) => void lines.push(m) };
    // The store refuses the first two watches; the third ends by the store's doing.
    let tries = 0;
    let end: ((e: Error) => void) | undefined;
    const flaky: KvStore = Object.create(kv) as KvStore;
    flaky.watch = async (prefix, cb, opts) => {
      if (++tries <= 2) throw new Error('cluster store (etcd) unavailable');
      const cancel = await kv.watch(prefix, cb, opts);
      end = (e) => {
        cancel();
        opts?.onError?.(e);
      };
      return cancel;
    };
    let armed = 0;
    const arm = async () => {
      armed++;
      return { finish: async () => ({ lines: [], overlayLines: [] }) };
    };
    const stop = await servePeer(flaky, 'h2:2375', arm, log, 20);
    try {
      const req = { networkId: demo.id, vni: 256, dst: '10.0.0.3', proto: 'icmp' as const };
      const ask = async (tag: number) => {
        const p = await askPeer(kv, 'h2:2375', { ...req, tag, windowMs: 10 }, { armMs: 1000 });
        const r = await p.armed;
        await p.close();
        return r;
      };
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(tries, 3);
      assert.equal(await ask(1), true);
      assert.equal(armed, 1);
      assert.equal(lines.length, 1, 'one warning per outage');
      assert.match(lines[0]!, /trace requests: cluster store \(etcd\) unavailable; trying again/);
      end!(new Error('watch cancelled by the store'));
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(tries, 4);
      assert.equal(await ask(2), true);
      assert.equal(armed, 2);
    } finally {
      stop();
      await kv.close();
      rmSync(d, { recursive: true, force: true });
    }
  });
});
