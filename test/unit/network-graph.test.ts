// The network graph's model (src/network/graph) on hand-written snapshots:
// S4's picture (berth0, two containers, their veth pairs, NAT) with nothing
// wrong, then each kind of disagreement between the store and the kernel —
// a leaked veth, an endpoint without its interface, a published port without
// its DNAT element and an element without its port, a bridge no network has,
// a missing DNS listener, an overlay's missing and stray FDB entries — and
// the text (80 columns) and dot renderers of the result.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildGraph, renderDot, renderText, type Graph } from '../../src/network/graph/index.js';
import type {
  KernelSnapshot,
  NamespaceState,
  StoreSnapshot,
} from '../../src/network/graph/snapshot.js';
import { DOOMED_GROUP } from '../../src/network/reaper.js';
import { layOut } from '../../src/cli/commands/graph.js';
import { which } from '../../src/lab/proc.js';

const C1 = 'c1'.repeat(32);
const C2 = 'c2'.repeat(32);
const C3 = 'c3'.repeat(32);
const BRIDGE_NET = 'b'.repeat(64);
const USER_NET = 'u'.repeat(64);
const OV_NET = 'o'.repeat(64);

const link = (index: number, name: string, more: Record<string, unknown> = {}) => ({
  index,
  name,
  up: true,
  ...more,
});

/** A container's namespace: lo and eth0 [2] whose peer is `peer` on the host. */
const sandbox = (peer: number, cidr: string, mac: string): NamespaceState => ({
  links: [link(1, 'lo'), link(2, 'eth0', { kind: 'veth', parent: peer, parentNetnsId: 0, mac })],
  addresses: [
    { index: 1, cidr: '127.0.0.1/8', family: 4 },
    { index: 2, cidr, family: 4 },
  ],
  defaultRoutes: [{ family: 4, oif: 2, gateway: cidr.replace(/\.\d+\/\d+$/, '.1') }],
});

/** S4: the default bridge with test1 and test2. */
function s4(): { store: StoreSnapshot; kernel: KernelSnapshot } {
  const store: StoreSnapshot = {
    host: { name: 'lab1' },
    networks: [
      {
        id: BRIDGE_NET,
        name: 'bridge',
        driver: 'bridge',
        scope: 'local',
        internal: false,
        bridge: 'berth0',
        bridgeCreated: true,
        icc: true,
        masquerade: true,
        gateways: ['172.17.0.1/16'],
        subnets: ['172.17.0.0/16'],
        servesDns: false,
      },
    ],
    endpoints: [
      {
        id: 'e1'.repeat(32),
        networkId: BRIDGE_NET,
        containerId: C1,
        ifName: 'eth0',
        hostIf: 'veth1111111',
        ipv4: '172.17.0.2/16',
        mac: '02:42:ac:11:00:02',
        state: 'ready',
        ports: [],
      },
      {
        id: 'e2'.repeat(32),
        networkId: BRIDGE_NET,
        containerId: C2,
        ifName: 'eth0',
        hostIf: 'veth2222222',
        ipv4: '172.17.0.3/16',
        mac: '02:42:ac:11:00:03',
        state: 'ready',
        ports: [],
      },
    ],
    remote: [],
    containers: {
      [C1]: { name: 'test1', running: true },
      [C2]: { name: 'test2', running: true },
    },
  };
  const kernel: KernelSnapshot = {
    host: {
      links: [
        link(1, 'lo'),
        link(2, 'eth0', { mac: '02:00:00:00:00:01' }),
        link(3, 'berth0', { kind: 'bridge' }),
        link(5, 'veth1111111', { kind: 'veth', master: 3, parent: 2, parentNetnsId: 1 }),
        link(7, 'veth2222222', { kind: 'veth', master: 3, parent: 2, parentNetnsId: 2 }),
      ],
      addresses: [
        { index: 2, cidr: '192.168.205.10/24', family: 4 },
        { index: 3, cidr: '172.17.0.1/16', family: 4 },
      ],
      defaultRoutes: [{ family: 4, oif: 2, gateway: '192.168.205.1' }],
    },
    firewall: {
      bridges: [{ name: 'berth0', icc: true, masquerade: true, internal: false }],
      ports: [],
    },
    sandboxes: {
      [C1]: sandbox(5, '172.17.0.2/16', '02:42:ac:11:00:02'),
      [C2]: sandbox(7, '172.17.0.3/16', '02:42:ac:11:00:03'),
    },
    overlays: {},
    dns: [],
  };
  return { store, kernel };
}

/** A user network `web` on br-<12 u> with one container publishing 8080 → 80. */
function withUserNetwork(): { store: StoreSnapshot; kernel: KernelSnapshot } {
  const { store, kernel } = s4();
  store.networks.push({
    id: USER_NET,
    name: 'web',
    driver: 'bridge',
    scope: 'local',
    internal: false,
    bridge: 'br-uuuuuuuuuuuu',
    bridgeCreated: true,
    icc: true,
    masquerade: true,
    gateways: ['172.18.0.1/16'],
    subnets: ['172.18.0.0/16'],
    servesDns: true,
  });
  store.endpoints.push({
    id: 'e3'.repeat(32),
    networkId: USER_NET,
    containerId: C3,
    ifName: 'eth0',
    hostIf: 'veth3333333',
    ipv4: '172.18.0.2/16',
    mac: '02:42:ac:12:00:02',
    state: 'ready',
    ports: [{ proto: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80 }],
  });
  store.containers[C3] = { name: 'site', running: true };
  kernel.host.links.push(
    link(10, 'br-uuuuuuuuuuuu', { kind: 'bridge' }),
    link(12, 'veth3333333', { kind: 'veth', master: 10, parent: 2, parentNetnsId: 3 }),
  );
  kernel.host.addresses.push({ index: 10, cidr: '172.18.0.1/16', family: 4 });
  kernel.firewall.bridges.push({
    name: 'br-uuuuuuuuuuuu',
    icc: true,
    masquerade: true,
    internal: false,
  });
  kernel.firewall.ports.push({
    proto: 'tcp',
    hostPort: 8080,
    containerIp: '172.18.0.2',
    containerPort: 80,
  });
  kernel.sandboxes[C3] = sandbox(12, '172.18.0.2/16', '02:42:ac:12:00:02');
  kernel.dns.push({ address: '172.18.0.1', port: 53, networkId: USER_NET });
  return { store, kernel };
}

const node = (g: Graph, id: string) => {
  const n = g.nodes.find((x) => x.id === id);
  assert.ok(n, `node ${id} in ${g.nodes.map((x) => x.id).join(', ')}`);
  return n;
};
const kinds = (g: Graph) => g.problems.map((p) => `${p.kind}: ${p.message}`);

describe('network graph model', () => {
  it("S4: berth0, both veth pairs with their ifindexes, the containers' addresses, NAT; no problems", () => {
    const { store, kernel } = s4();
    const g = buildGraph(store, kernel);
    assert.deepEqual(g.problems, []);
    const br = node(g, 'host/berth0');
    assert.equal(br.ifindex, 3);
    assert.deepEqual(br.addresses, ['172.17.0.1/16']);
    assert.equal(node(g, 'host/veth1111111').ifindex, 5);
    assert.equal(node(g, 'host/veth2222222').ifindex, 7);
    const if1 = node(g, `container:${C1}/eth0`);
    assert.equal(if1.ifindex, 2);
    assert.deepEqual(if1.addresses, ['172.17.0.2/16']);
    assert.equal(node(g, `container:${C1}`).name, 'test1');
    const pair = g.edges.find((e) => e.kind === 'pair' && e.from === 'host/veth2222222');
    assert.equal(pair?.to, `container:${C2}/eth0`);
    assert.equal(pair?.state, 'ok');
    const nat = g.edges.find((e) => e.kind === 'nat');
    assert.deepEqual(
      [nat?.from, nat?.to, nat?.label, nat?.state],
      ['host/berth0', 'host/eth0', 'masquerade 172.17.0.0/16', 'ok'],
    );
    assert.ok(g.nodes.every((n) => n.state === 'ok'));
  });

  it('a veth on berth0 that no endpoint uses is a leak, with its peer', () => {
    const { store, kernel } = s4();
    kernel.host.links.push(
      link(8, 'vethdeadbef', { kind: 'veth', parent: 9 }),
      link(9, 'vethdeadbee', { kind: 'veth', master: 3, parent: 8 }),
    );
    const g = buildGraph(store, kernel);
    const leak = node(g, 'host/vethdeadbee');
    assert.equal(leak.state, 'leak');
    assert.deepEqual(leak.notes, ['peer vethdeadbef [8] in the same namespace']);
    assert.deepEqual(kinds(g), [
      'leak: veth vethdeadbee [9] on berth0 (network bridge) belongs to no endpoint',
    ]);
    assert.ok(g.edges.some((e) => e.from === 'host/berth0' && e.to === leak.id));
  });

  it('a veth the reaper is deleting, and a port of a bridge the user made, are not leaks', () => {
    const { store, kernel } = s4();
    kernel.host.links.push(
      link(9, 'vethdeadbee', { kind: 'veth', master: 3, group: DOOMED_GROUP }),
      link(20, 'mybr', { kind: 'bridge' }),
      link(21, 'ens9', { master: 20 }),
    );
    store.networks.push({
      ...store.networks[0]!,
      id: USER_NET,
      name: 'mine',
      bridge: 'mybr',
      bridgeCreated: false,
      gateways: [],
      subnets: [],
    });
    kernel.firewall.bridges.push({ name: 'mybr', icc: true, masquerade: true, internal: false });
    const g = buildGraph(store, kernel);
    assert.deepEqual(g.problems, []);
    assert.equal(node(g, 'host/vethdeadbee').state, 'reaping');
    assert.equal(node(g, 'host/ens9').state, 'foreign');
  });

  it("an endpoint whose veth is gone, and one whose container's namespace is gone, are missing", () => {
    const { store, kernel } = s4();
    kernel.host.links = kernel.host.links.filter((l) => l.name !== 'veth2222222');
    kernel.sandboxes[C1] = { error: '/run/berth/netns/c1 is not a network namespace (gone?)' };
    const g = buildGraph(store, kernel);
    assert.equal(node(g, 'host/veth2222222').state, 'missing');
    assert.equal(node(g, `container:${C1}/eth0`).state, 'missing');
    assert.deepEqual(kinds(g).sort(), [
      "missing: test1's endpoint on bridge: the container's namespace cannot be read: /run/berth/netns/c1 is not a network namespace (gone?)",
      "missing: test2's endpoint on bridge: its veth veth2222222 is not in the host's namespace",
    ]);
    const pair = g.edges.find((e) => e.kind === 'pair' && e.from === 'host/veth2222222');
    assert.equal(pair?.state, 'missing');
  });

  it('crossed veth ends and a missing address are mismatches', () => {
    const { store, kernel } = s4();
    kernel.sandboxes[C1] = sandbox(7, '172.17.0.9/16', '02:42:ac:11:00:02');
    const g = buildGraph(store, kernel);
    assert.deepEqual(kinds(g), [
      "missing: test1's endpoint on bridge: eth0 lacks 172.17.0.2/16",
      "mismatch: test1's endpoint on bridge: veth1111111 [5] and eth0 [2] are not the two ends of one veth",
    ]);
  });

  it('a user network: DNS on its gateway, a published port with its DNAT element', () => {
    const { store, kernel } = withUserNetwork();
    const g = buildGraph(store, kernel);
    assert.deepEqual(g.problems, []);
    const port = node(g, 'port:tcp/0.0.0.0:8080');
    const dnat = g.edges.find((e) => e.from === port.id);
    assert.deepEqual(
      [dnat?.to, dnat?.label, dnat?.state],
      [`container:${C3}/eth0`, 'DNAT to 172.18.0.2:80', 'ok'],
    );
    assert.equal(node(g, 'dns:host/172.18.0.1').name, 'DNS 172.18.0.1:53');
  });

  it('a published port without its DNAT element, and an element without its port', () => {
    const { store, kernel } = withUserNetwork();
    kernel.firewall.ports = [
      { proto: 'udp', hostPort: 5353, containerIp: '172.18.0.2', containerPort: 53 },
    ];
    kernel.dns = [];
    const g = buildGraph(store, kernel);
    assert.equal(node(g, 'port:tcp/0.0.0.0:8080').state, 'missing');
    assert.deepEqual(kinds(g), [
      "missing: Berth's DNS does not listen on 172.18.0.1, the gateway of network web",
      "missing: published port tcp 0.0.0.0:8080 of site has no DNAT element in Berth's table",
      "leak: DNAT element udp 0.0.0.0:5353 -> 172.18.0.2:53 in Berth's table belongs to no endpoint",
    ]);
    assert.equal(node(g, 'dns:host/172.18.0.1').state, 'missing');
  });

  it('a bridge in the firewall that no network has is a leak, but only in the whole picture', () => {
    const { store, kernel } = s4();
    kernel.host.links.push(link(30, 'br-0123456789ab', { kind: 'bridge' }));
    kernel.firewall.bridges.push({
      name: 'br-0123456789ab',
      icc: true,
      masquerade: true,
      internal: false,
    });
    const g = buildGraph(store, kernel);
    assert.deepEqual(kinds(g), [
      "leak: br-0123456789ab is in Berth's firewall sets but no network has it",
    ]);
    assert.equal(node(g, 'host/br-0123456789ab').state, 'leak');
    assert.deepEqual(buildGraph(store, kernel, { networks: [BRIDGE_NET] }).problems, []);
  });

  it('a bridge network whose bridge is gone, or is out of the NAT set', () => {
    const { store, kernel } = s4();
    kernel.firewall.bridges[0]!.masquerade = false;
    let g = buildGraph(store, kernel);
    assert.equal(g.edges.find((e) => e.kind === 'nat')?.state, 'missing');
    kernel.host.links = kernel.host.links.filter((l) => l.name !== 'berth0');
    kernel.firewall.bridges = [];
    g = buildGraph(store, kernel);
    assert.equal(node(g, 'host/berth0').state, 'missing');
    assert.ok(kinds(g).includes('missing: bridge berth0 of network bridge is not in the kernel'));
  });

  it("a bridge whose ICC or internal elements differ from its network's options", () => {
    const { store, kernel } = s4();
    kernel.firewall.bridges[0] = { ...kernel.firewall.bridges[0]!, icc: false, internal: true };
    const g = buildGraph(store, kernel);
    assert.equal(node(g, 'host/berth0').state, 'mismatch');
    assert.deepEqual(kinds(g).slice(0, 2), [
      "mismatch: berth0 is not in Berth's ICC set, but network bridge says ICC on",
      "mismatch: berth0 is in Berth's internal set, but network bridge says internal off",
    ]);
  });

  it('filters by network: only its bridge, endpoints and ports', () => {
    const { store, kernel } = withUserNetwork();
    const g = buildGraph(store, kernel, { networks: [USER_NET] });
    assert.deepEqual(
      g.networks.map((n) => n.name),
      ['web'],
    );
    assert.ok(!g.nodes.some((n) => n.id === 'host/berth0'));
    assert.ok(g.nodes.some((n) => n.id === 'host/veth3333333'));
  });
});

/** An overlay `demo` (VNI 256) with `app` here and `db` on 192.168.205.11. */
function overlay(): { store: StoreSnapshot; kernel: KernelSnapshot } {
  const { store, kernel } = s4();
  store.host = { name: 'lab1', advertise: '192.168.205.10:2375', vtep: '192.168.205.10' };
  store.hosts = [
    { address: '192.168.205.10:2375', name: 'lab1' },
    { address: '192.168.205.11:2375', name: 'lab2' },
  ];
  store.networks.push({
    id: OV_NET,
    name: 'demo',
    driver: 'overlay',
    scope: 'global',
    internal: false,
    gateways: ['10.0.0.1/24'],
    subnets: ['10.0.0.0/24'],
    servesDns: true,
    vni: 256,
  });
  store.endpoints.push({
    id: 'e4'.repeat(32),
    networkId: OV_NET,
    containerId: C3,
    ifName: 'eth0',
    hostIf: 'veth4444444',
    ipv4: '10.0.0.3/24',
    mac: '02:42:0a:00:00:03',
    state: 'ready',
    ports: [],
  });
  store.containers[C3] = { name: 'app', running: true };
  store.remote.push({
    id: 'r1'.repeat(32),
    networkId: OV_NET,
    containerId: 'd'.repeat(64),
    name: 'db',
    ipv4: '10.0.0.2/24',
    mac: '02:42:0a:00:00:02',
    node: '192.168.205.11:2375',
    vtep: '192.168.205.11',
  });
  kernel.overlays[OV_NET] = {
    links: [
      link(1, 'lo'),
      link(2, 'br0', { kind: 'bridge' }),
      link(3, 'vxlan0', {
        kind: 'vxlan',
        master: 2,
        vxlan: { vni: 256, local: '192.168.205.10', port: 4789 },
      }),
      link(5, 'veth4444444', { kind: 'veth', master: 2, parent: 2, parentNetnsId: 4 }),
    ],
    addresses: [{ index: 2, cidr: '10.0.0.1/24', family: 4 }],
    defaultRoutes: [],
    fdb: [{ index: 3, mac: '02:42:0a:00:00:02', dst: '192.168.205.11' }],
  };
  kernel.sandboxes[C3] = sandbox(5, '10.0.0.3/24', '02:42:0a:00:00:03');
  kernel.dns.push({
    address: '10.0.0.1',
    port: 53,
    networkId: OV_NET,
    netns: `/run/berth/overlay/ov-${OV_NET.slice(0, 12)}`,
  });
  return { store, kernel };
}

describe('network graph model: overlay', () => {
  it('draws vxlan0 with its VNI and the tunnel to the other host', () => {
    const { store, kernel } = overlay();
    const g = buildGraph(store, kernel);
    assert.deepEqual(g.problems, []);
    const vx = node(g, `overlay:${OV_NET}/vxlan0`);
    assert.deepEqual(vx.notes, ['VNI 256', 'local 192.168.205.10', 'udp 4789']);
    const t = g.edges.find((e) => e.kind === 'tunnel');
    assert.deepEqual(
      [t?.from, t?.to, t?.label, t?.state],
      [vx.id, 'remote:192.168.205.11', 'VXLAN VNI 256, 1 endpoint', 'ok'],
    );
    assert.equal(node(g, 'remote:192.168.205.11').name, 'host lab2');
    assert.equal(node(g, `container:${C3}/eth0`).state, 'ok');
  });

  it('a remote endpoint without its FDB entry is missing; an entry no endpoint explains leaks', () => {
    const { store, kernel } = overlay();
    const ns = kernel.overlays[OV_NET] as NamespaceState;
    ns.fdb = [{ index: 3, mac: '02:42:0a:00:00:09', dst: '192.168.205.12' }];
    const g = buildGraph(store, kernel);
    assert.deepEqual(kinds(g), [
      'missing: vxlan0 of demo has no FDB entry for db (02:42:0a:00:00:02) behind 192.168.205.11',
      'leak: vxlan0 of demo sends 02:42:0a:00:00:09 to 192.168.205.12, but no endpoint of the network has that MAC there',
    ]);
    // The tunnels are red, not the device.
    assert.equal(node(g, `overlay:${OV_NET}/vxlan0`).state, 'ok');
    const states = g.edges.filter((e) => e.kind === 'tunnel').map((e) => [e.to, e.state]);
    assert.deepEqual(states, [
      ['remote:192.168.205.11', 'missing'],
      ['remote:192.168.205.12', 'leak'],
    ]);
  });

  it("an endpoint of a host that is not registered; the overlay's namespace missing", () => {
    const { store, kernel } = overlay();
    store.hosts = store.hosts!.slice(0, 1);
    let g = buildGraph(store, kernel);
    assert.deepEqual(kinds(g), [
      "missing: db's endpoint on demo is on host 192.168.205.11:2375, which is not registered in the cluster",
    ]);
    assert.equal(node(g, 'remote:192.168.205.11').state, 'missing');
    delete kernel.overlays[OV_NET];
    g = buildGraph(store, kernel);
    assert.deepEqual(kinds(g), [
      'missing: the namespace of overlay network demo cannot be read',
      "missing: app's endpoint on demo: its veth veth4444444 is not in the network's namespace",
    ]);
  });
});

describe('network graph renderers', () => {
  const leaky = () => {
    const { store, kernel } = withUserNetwork();
    store.host.name = 'a-host-with-a-rather-long-name-that-goes-on-and-on.example.internal';
    store.containers[C3] = { name: 'x'.repeat(70), running: true };
    kernel.host.links.push(link(9, 'vethdeadbee', { kind: 'veth', master: 3, parent: 8 }));
    return buildGraph(store, kernel);
  };

  it('text: a tree per bridge, every line within 80 columns, the leak marked and listed', () => {
    const text = renderText(leaky());
    const lines = text.split('\n');
    for (const l of lines) assert.ok([...l].length <= 80, `${[...l].length}: ${l}`);
    assert.match(text, /^bridge berth0 \[3\] {2}network bridge {2}172\.17\.0\.1\/16$/m);
    assert.match(text, /^├── veth1111111 \[5\] <-> eth0 \[2\] in test1 \(c1c1c1c1c1c1\)$/m);
    assert.match(text, /^│ {5}172\.17\.0\.2\/16 {2}02:42:ac:11:00:02$/m);
    assert.match(text, /^├── NAT masquerade 172\.17\.0\.0\/16 out of eth0$/m);
    assert.match(text, /vethdeadbee \[9\] {2}peer \[8\] {2}\[LEAK\]/);
    assert.match(text, /port tcp 0\.0\.0\.0:8080 -> DNAT to 172\.18\.0\.2:80/);
    assert.match(text, /^├── DNS 172\.18\.0\.1:53$/m);
    assert.match(text, /^1 problem:$/m);
    assert.match(text, /^ {2}LEAK {6}veth vethdeadbee \[9\] on berth0/m);
    assert.doesNotMatch(text, /\x1b/);
    const red = renderText(leaky(), { color: true });
    assert.match(red, /\x1b\[31m└── vethdeadbee/);
  });

  it('text: says so when store and kernel agree', () => {
    const { store, kernel } = s4();
    assert.match(
      renderText(buildGraph(store, kernel)),
      /No problems: the store and the kernel agree\./,
    );
  });

  it('dot: clusters per namespace, the leak in red, labels escaped', () => {
    const dot = renderDot(leaky());
    assert.match(dot, /^digraph berth \{/);
    assert.match(dot, /subgraph cluster_\d+ \{\n {4}graph \[label="host a-host/);
    assert.match(
      dot,
      /"host\/vethdeadbee" \[label="vethdeadbee \[9\]\\npeer \[8\]\\nLEAK", [^\n]*color="#d00000"/,
    );
    assert.match(
      dot,
      /"host\/berth0" -> "host\/eth0" \[style=dashed, label="masquerade 172\.17\.0\.0\/16"\]/,
    );
    assert.match(
      dot,
      /"host\/veth1111111" -> "container:c1[c1]*\/eth0" \[arrowhead=none, style=bold/,
    );
    assert.match(dot, /label="test1\\nc1c1c1c1c1c1"/);
  });

  it('svg and png through Graphviz, and a plain message without it', async () => {
    await assert.rejects(layOut('digraph { a }', 'svg', '/nonexistent/dot'), {
      message: /needs Graphviz's dot command \(Debian: apt-get install graphviz\)/,
    });
    // scripts/setup.sh installs graphviz: without it this is a failure, not a skip.
    assert.ok(which('dot'), 'Graphviz is not installed: run scripts/setup.sh');
    const svg = (await layOut(renderDot(leaky()), 'svg')).toString();
    assert.match(svg, /<svg /);
    assert.match(svg, />test1</);
    const png = await layOut(renderDot(leaky()), 'png');
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
  });
});
