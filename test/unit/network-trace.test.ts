/**
 * `berth network trace`'s pure part (decision 0033): `nft monitor trace`
 * lines parsed, SRC/DST resolved against a store snapshot, and the probe's
 * events (captured in a lab: network-trace.fixtures.ts) explained with
 * Berth's knowledge of its own chains; the trace tables' batch.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { traceBatch } from '../../src/kernel/firewall/trace.js';
import type {
  KernelSnapshot,
  StoreEndpoint,
  StoreNetwork,
  StoreSnapshot,
} from '../../src/network/graph/snapshot.js';
import {
  explain,
  listens,
  parseTarget,
  parseTraceLine,
  planProbe,
  probeEvents,
  renderReport,
  resolveParty,
} from '../../src/network/trace/index.js';
import { isolation, published, sameBridge } from './network-trace.fixtures.js';

const net = (id: string, name: string, bridge: string): StoreNetwork => ({
  id,
  name,
  driver: 'bridge',
  scope: 'local',
  internal: false,
  bridge,
  bridgeCreated: true,
  icc: true,
  masquerade: true,
  gateways: [],
  subnets: [],
  servesDns: name !== 'bridge',
});
const ep = (
  containerId: string,
  networkId: string,
  ipv4: string,
  hostIf: string,
  ports: StoreEndpoint['ports'] = [],
): StoreEndpoint => ({
  id: `ep-${containerId}-${networkId}`,
  networkId,
  containerId,
  ifName: 'eth0',
  hostIf,
  ipv4,
  state: 'ready',
  ports,
});

const networks = [net('nb', 'bridge', 'berth0'), net('nm', 'my-bridge', 'br-7c5b1f0549a8')];
const store: StoreSnapshot = {
  host: { name: 'h1' },
  networks,
  endpoints: [
    ep('a1aaaa', 'nb', '172.17.0.2/16', 'vethc129168'),
    ep('webbbb', 'nb', '172.17.0.3/16', 'vethec7df16', [
      { proto: 'tcp', containerPort: 80, hostIp: '', hostPort: 8000 },
    ]),
    ep('u1cccc', 'nm', '172.18.0.2/16', 'veth6a1cb07'),
    ep('u2dddd', 'nm', '172.18.0.3/16', 'veth0bcaef0'),
  ],
  remote: [],
  containers: {
    a1aaaa: { name: 'a1', running: true },
    webbbb: { name: 'web', running: true },
    u1cccc: { name: 'u1', running: true },
    u2dddd: { name: 'u2', running: true },
  },
};
const kernel: KernelSnapshot = {
  host: {
    links: [{ index: 2, name: 'eth0', up: true }],
    addresses: [{ index: 2, cidr: '198.51.100.11/24', family: 4 }],
    defaultRoutes: [{ family: 4, oif: 2, gateway: '198.51.100.1' }],
  },
  firewall: { bridges: [], ports: [] },
  sandboxes: {},
  overlays: {},
  dns: [],
};

function run(
  srcRef: string,
  dstSpec: string,
  fx: { table: string; lines: string[] },
  extra: { listening?: boolean; route?: { dev?: string; type?: string } } = {},
) {
  const target = parseTarget(dstSpec);
  const src = resolveParty(srcRef, store);
  const dst = resolveParty(target.ref, store);
  const plan = planProbe(src, dst, target, kernel);
  return explain({
    src,
    dst,
    target,
    plan,
    route: extra.route ?? { dev: 'eth0' },
    events: probeEvents(fx.lines, fx.table),
    table: fx.table,
    networks,
    ...(extra.listening !== undefined ? { listening: extra.listening } : {}),
  });
}

describe('network trace: parsing', () => {
  it('reads packet, rule and policy lines', () => {
    const p = parseTraceLine(isolation.lines.find((l) => l.includes('berth forward packet'))!);
    assert.equal(p?.kind, 'packet');
    assert.deepEqual(
      {
        iif: p?.packet?.iif,
        oif: p?.packet?.oif,
        daddr: p?.packet?.daddr,
        dport: p?.packet?.dport,
      },
      { iif: 'berth0', oif: 'br-7c5b1f0549a8', daddr: '172.18.0.2', dport: 80 },
    );
    assert.deepEqual(
      parseTraceLine(
        'trace id 58caa99f inet berth forward rule iifname @bridges oifname @bridges drop (verdict drop)',
      ),
      {
        id: '58caa99f',
        family: 'inet',
        table: 'berth',
        chain: 'forward',
        kind: 'rule',
        rule: 'iifname @bridges oifname @bridges drop',
        verdict: 'drop',
      },
    );
    assert.equal(
      parseTraceLine('trace id 1 inet berth postrouting policy accept ')?.verdict,
      'accept',
    );
    assert.equal(parseTraceLine('something else'), undefined);
  });

  it("keeps only the traces that passed the probe's table", () => {
    const foreign =
      'trace id ffff0000 inet berth forward rule iifname @bridges oifname @bridges drop (verdict drop)';
    const events = probeEvents([...isolation.lines, foreign], isolation.table);
    assert.ok(!events.some((e) => e.id === 'ffff0000'));
    // The prerouting and the forward hooks gave the packet two trace IDs: both kept.
    assert.equal(new Set(events.map((e) => e.id)).size, 2);
  });

  it('finds listening sockets in /proc/net/tcp and tcp6, bound or wildcard', () => {
    const head =
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
    const tcp =
      head +
      '   0: 020012AC:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n';
    const tcp6 =
      head +
      '   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 0 0 0 0 0 1\n';
    const estab =
      head +
      '   0: 020012AC:0050 030012AC:A000 01 00000000:00000000 00:00000000 00000000     0        0 1\n';
    assert.equal(listens(tcp, '172.18.0.2', 80, true), true);
    assert.equal(listens(tcp, '172.18.0.3', 80, true), false);
    assert.equal(listens(tcp, '172.18.0.2', 81, true), false);
    assert.equal(listens(tcp6, '172.18.0.2', 80, true), true);
    assert.equal(listens(estab, '172.18.0.2', 80, true), false);
  });
});

describe('network trace: SRC and DST', () => {
  it('parses DST[:PORT[/PROTO]]', () => {
    assert.deepEqual(parseTarget('web'), { ref: 'web', proto: 'icmp' });
    assert.deepEqual(parseTarget('web:80'), { ref: 'web', port: 80, proto: 'tcp' });
    assert.deepEqual(parseTarget('10.0.0.1:53/udp'), { ref: '10.0.0.1', port: 53, proto: 'udp' });
    assert.throws(() => parseTarget('web:0'), /must be 1-65535/);
    assert.throws(() => parseTarget('web:80/sctp'), /invalid trace destination/);
  });

  it('resolves names, ID prefixes, addresses and world; unknown is a 404', () => {
    assert.equal(resolveParty('a1', store).kind, 'container');
    const byId = resolveParty('webb', store);
    assert.equal(byId.kind === 'container' && byId.name, 'web');
    const byIp = resolveParty('172.18.0.3', store);
    assert.equal(byIp.kind === 'container' && byIp.name, 'u2');
    assert.deepEqual(resolveParty('10.9.9.9', store), { kind: 'address', ip: '10.9.9.9' });
    assert.deepEqual(resolveParty('world', store), { kind: 'world' });
    assert.throws(() => resolveParty('nope', store), /No such container: nope/);
    assert.throws(() => resolveParty('fe80::1', store), /does not support tracing IPv6/);
  });

  it('world to a published port goes to the uplink address and the host port', () => {
    const plan = planProbe(
      resolveParty('world', store),
      resolveParty('web', store),
      parseTarget('web:80'),
      kernel,
    );
    assert.deepEqual(
      { dst: plan.dst, port: plan.port, published: plan.published },
      { dst: '198.51.100.11', port: 8000, published: { hostPort: 8000, containerPort: 80 } },
    );
  });

  it('refuses a source address that is not this host', () => {
    assert.throws(
      () =>
        planProbe(
          resolveParty('10.9.9.9', store),
          resolveParty('u1', store),
          parseTarget('u1:80'),
          kernel,
        ),
      /a source is a container, world, or an address of this host/,
    );
  });
});

describe('network trace: explained', () => {
  it('a drop by the bridge-to-bridge rule: the networks are isolated', () => {
    const r = run('a1', 'u1:80', isolation, { listening: true });
    assert.equal(r.outcome, 'dropped');
    assert.equal(r.sentence, 'dropped: bridge and my-bridge are isolated from each other');
    const fwd = r.hops.find((h) => h.at === 'nft inet berth forward');
    assert.match(fwd!.what, /in berth0 out br-7c5b1f0549a8/);
    assert.match(fwd!.what, /rule "iifname @bridges oifname @bridges drop" → drop/);
    // The probe's own table is no hop.
    assert.ok(!r.hops.some((h) => h.at.includes('berth-trace-')));
  });

  it('a published port: the DNAT and the sentence', () => {
    const r = run('world', 'web:80', published, { listening: true, route: { type: 'local' } });
    assert.equal(r.outcome, 'delivered');
    assert.equal(r.sentence, 'delivered: published port 8000 → web:80 (172.17.0.3:80)');
    const nat = r.hops.find((h) => h.at === 'nat');
    assert.equal(nat?.what, 'destination 198.51.100.11:8000 rewritten to 172.17.0.3:80');
    assert.match(
      r.hops.find((h) => h.at === 'nft inet berth output')!.what,
      /ports: rule "dnat ip to/,
    );
  });

  it('on one bridge: delivered, or no listener', () => {
    const ok = run('u2', 'u1:81', sameBridge, { listening: true });
    assert.equal(ok.outcome, 'delivered');
    assert.equal(ok.sentence, 'delivered: u2 → u1 (172.18.0.2:81/tcp)');
    assert.match(
      ok.hops.find((h) => h.at === 'nft inet berth forward')!.what,
      /intra: rule "iifname @icc accept" → accept/,
    );
    const none = run('u2', 'u1:81', sameBridge, { listening: false });
    assert.equal(none.outcome, 'no-listener');
    assert.equal(none.sentence, 'no container listens on 172.18.0.2:81');
    const text = renderReport('u2', 'u1:81', none);
    assert.match(text, /^trace u2 → u1:81\n 1\. route/);
    assert.match(text, /\nno container listens on 172\.18\.0\.2:81\n$/);
  });

  it('a drop in a chain Berth does not own names the rule', () => {
    const lines = [
      ...sameBridge.lines.filter(
        (l) => !l.includes('inet berth forward') && !l.includes('inet berth intra'),
      ),
      sameBridge.lines.find((l) => l.includes('inet berth forward packet'))!,
      sameBridge.lines
        .find((l) => l.includes('inet berth forward packet'))!
        .replace(/ packet: .*/, ' rule jump berth-user (verdict jump berth-user)'),
      sameBridge.lines
        .find((l) => l.includes('inet berth forward packet'))!
        .replace(
          / berth forward packet: .*/,
          ' berth berth-user rule tcp dport 81 drop (verdict drop)',
        ),
    ];
    const r = run('u2', 'u1:81', { table: sameBridge.table, lines }, { listening: true });
    assert.equal(r.sentence, 'dropped: rule "tcp dport 81 drop" in inet berth berth-user drops it');
  });
});

describe('network trace: the tables', () => {
  it('traces only the probe, in its own tables', () => {
    const b = traceBatch(
      'berth-trace-0a0b0c0d',
      { dst: '172.18.0.2', proto: 'tcp', port: 80 },
      45000,
    );
    const lines = b.trim().split('\n');
    assert.ok(
      lines.every((l) => / (inet|bridge) berth-trace-0a0b0c0d( |$)/.test(l)),
      b,
    );
    assert.ok(
      lines.includes(
        'add rule inet berth-trace-0a0b0c0d prerouting ip daddr 172.18.0.2 tcp sport 45000 tcp flags & (syn | ack) == syn meta nftrace set 1',
      ),
      b,
    );
    assert.ok(
      lines.includes(
        'add rule inet berth-trace-0a0b0c0d forward meta nfproto ipv4 tcp sport 45000 tcp flags & (syn | ack) == syn meta nftrace set 1',
      ),
      b,
    );
    assert.match(
      traceBatch('t', { dst: '10.0.0.1', proto: 'icmp' }, 7),
      /icmp type echo-request icmp id 7 meta nftrace set 1/,
    );
  });
});
