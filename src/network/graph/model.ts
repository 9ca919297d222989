/**
 * The network graph's model (pure): nodes (links, containers, published
 * ports, DNS listeners, other hosts), edges between them, and the problems
 * found by comparing the store's snapshot with the kernel's. Whatever one
 * side has and the other lacks is a node or edge in a state other than `ok`
 * and a problem in the list: a leak (the kernel has it, no record wants it)
 * or something missing (a record wants it, the kernel lacks it).
 *
 * Only what Berth owns is looked at: its networks' bridges and their ports,
 * its containers' namespaces, its overlay namespaces, its nftables sets, its
 * DNS listeners, the temporary VXLAN names it uses; plus the uplink.
 * The endpoints and published ports are endpoint.ts; the overlay part (VXLAN
 * devices, tunnels to other hosts) is overlay.ts; the types are nodes.ts.
 */
import { DOOMED_GROUP } from '../reaper.js';
import { addEndpoint, everythingElse, strayPorts } from './endpoint.js';
import {
  GraphBuilder,
  Ns,
  bridgeNodeId,
  peerNote,
  type Ctx,
  type Graph,
  type GraphFilter,
  type GraphNode,
} from './nodes.js';
import { addOverlay, addRemoteHosts } from './overlay.js';
import type { KernelSnapshot, StoreEndpoint, StoreNetwork, StoreSnapshot } from './snapshot.js';

export * from './nodes.js';

const short = (id: string): string => id.slice(0, 12);

/** The graph of Berth's networks on this host, from the two snapshots. */
export function buildGraph(
  store: StoreSnapshot,
  kernel: KernelSnapshot,
  filter: GraphFilter = {},
): Graph {
  const g = new GraphBuilder();
  const chosen = filter.networks ? new Set(filter.networks) : undefined;
  const all = !chosen;
  const nets = [...store.networks]
    .filter((n) => !chosen || chosen.has(n.id))
    .sort((a, b) => a.name.localeCompare(b.name));
  const host = new Ns(kernel.host);
  g.namespace({ id: 'host', kind: 'host', label: `host ${store.host.name}`, state: 'ok' });
  const uplink = addUplink(g, host);
  const ctx: Ctx = {
    g,
    store,
    kernel,
    host,
    uplink,
    used: new Set(),
    portsSeen: new Set(),
    later: [],
  };
  for (const net of nets) {
    if (net.driver === 'bridge') addBridge(ctx, net);
    if (net.driver === 'overlay') addOverlay(ctx, net);
  }
  for (const net of nets) {
    const eps = store.endpoints
      .filter((e) => e.networkId === net.id)
      .sort((a, b) => nameOf(store, a).localeCompare(nameOf(store, b)));
    for (const ep of eps) addEndpoint(ctx, net, ep);
  }
  for (const f of ctx.later) f();
  for (const net of nets) strayPorts(ctx, net);
  if (all) everythingElse(ctx);
  addRemoteHosts(ctx, nets, all);
  return {
    host: {
      name: store.host.name,
      ...(store.host.advertise ? { advertise: store.host.advertise } : {}),
    },
    networks: nets.map((n) => ({
      id: n.id,
      name: n.name,
      driver: n.driver,
      scope: n.scope,
      subnets: n.subnets,
      ...(bridgeNodeId(n) && g.nodes.has(bridgeNodeId(n)!) ? { bridge: bridgeNodeId(n) } : {}),
    })),
    namespaces: [...g.namespaces.values()],
    nodes: [...g.nodes.values()],
    edges: g.edges,
    problems: g.problems,
  };
}

function nameOf(store: StoreSnapshot, ep: StoreEndpoint): string {
  return store.containers[ep.containerId]?.name ?? ep.containerId;
}

function addUplink(g: GraphBuilder, host: Ns): GraphNode | undefined {
  const route = host.state.defaultRoutes.find((r) => r.family === 4 && r.oif !== undefined);
  const link = route?.oif === undefined ? undefined : host.byIndex.get(route.oif);
  if (!link) return undefined;
  return g.node({
    id: `host/${link.name}`,
    kind: 'uplink',
    name: link.name,
    ifindex: link.index,
    ns: 'host',
    addresses: host.addresses(link.index),
    ...(route?.gateway ? { notes: [`default via ${route.gateway}`] } : {}),
    state: 'ok',
  });
}

/** A bridge network's bridge, its gateway, NAT, DNS listener and the ports no endpoint has. */
function addBridge(ctx: Ctx, net: StoreNetwork): void {
  const { g, host, kernel } = ctx;
  const name = net.bridge!;
  const link = host.byName.get(name);
  const notes = [
    ...(net.internal ? ['internal'] : []),
    ...(net.icc === false ? ['no ICC'] : []),
    ...(net.bridgeCreated === false ? ["the user's bridge"] : []),
  ];
  const br = g.node({
    id: bridgeNodeId(net)!,
    kind: 'bridge',
    name,
    ...(link ? { ifindex: link.index } : {}),
    ns: 'host',
    network: net.name,
    addresses: host.addresses(link?.index),
    ...(notes.length ? { notes } : {}),
    state: 'ok',
  });
  ctx.used.add(`host/${name}`);
  if (!link) {
    g.problem('missing', `bridge ${name} of network ${net.name} is not in the kernel`, br);
  } else if (link.kind !== 'bridge') {
    g.problem(
      'mismatch',
      `${name} of network ${net.name} is a ${link.kind ?? 'device'}, not a bridge`,
      br,
    );
  } else {
    for (const gw of net.gateways) {
      if (!br.addresses!.includes(gw)) {
        g.problem('missing', `bridge ${name} lacks its gateway address ${gw}`, br);
      }
    }
  }
  const fw = kernel.firewall.bridges.find((b) => b.name === name);
  if (!fw) {
    g.problem(
      'missing',
      `bridge ${name} is not in Berth's firewall sets (no NAT, isolation or forwarding for network ${net.name})`,
      br,
    );
  }
  for (const [set, want, has] of [
    ['ICC', net.icc !== false, fw?.icc],
    ['internal', net.internal, fw?.internal],
  ] as const) {
    if (fw && want !== has) {
      const say = want ? `is not in Berth's ${set} set` : `is in Berth's ${set} set`;
      g.problem(
        'mismatch',
        `${name} ${say}, but network ${net.name} says ${set} ${want ? 'on' : 'off'}`,
        br,
      );
    }
  }
  const wantNat = !!net.masquerade && !net.internal;
  const hasNat = !!fw?.masquerade;
  if (wantNat || hasNat) {
    const subnets = net.subnets.filter((s) => !s.includes(':')).join(', ');
    const state = wantNat === hasNat ? 'ok' : wantNat ? 'missing' : 'mismatch';
    const out = ctx.uplink?.id ?? 'host/uplink?';
    if (!ctx.uplink)
      g.node({ id: out, kind: 'uplink', name: '(no default route)', ns: 'host', state: 'missing' });
    g.edge({ from: br.id, to: out, kind: 'nat', label: `masquerade ${subnets}`.trim(), state });
    if (state === 'missing')
      g.problem(
        'missing',
        `network ${net.name} masquerades, but ${name} is not in Berth's masquerade set`,
      );
    if (state === 'mismatch')
      g.problem(
        'mismatch',
        `${name} is in Berth's masquerade set, but network ${net.name} does not masquerade`,
      );
  }
  if (net.servesDns) addDns(ctx, net, br, undefined);
  if (link) ctx.later.push(() => bridgePorts(ctx, net, br, host, link.index, 'host'));
}

/** The DNS listener a network wants on its gateway (inside `nsPath` for an overlay). */
export function addDns(
  ctx: Ctx,
  net: StoreNetwork,
  br: GraphNode,
  overlayId: string | undefined,
): void {
  const gw = net.gateways.find((x) => !x.includes(':'))?.split('/')[0];
  if (!gw) return;
  const l = ctx.kernel.dns.find(
    (d) =>
      d.address === gw &&
      (overlayId === undefined ? !d.netns : !!d.netns?.endsWith(`ov-${short(overlayId)}`)),
  );
  const dns = ctx.g.node({
    id: `dns:${br.ns}/${gw}`,
    kind: 'dns',
    name: `DNS ${gw}:${l?.port ?? 53}`,
    ns: br.ns,
    network: net.name,
    state: l ? 'ok' : 'missing',
  });
  ctx.g.edge({ from: dns.id, to: br.id, kind: 'dns', state: dns.state });
  if (!l)
    ctx.g.problem(
      'missing',
      `Berth's DNS does not listen on ${gw}, the gateway of network ${net.name}`,
    );
}

/**
 * The ports of a bridge that no endpoint explains: given up (being deleted),
 * a user's on a user's bridge, or leaked. Endpoints' veths are drawn by
 * addEndpoint, which runs after and finds them unused.
 */
export function bridgePorts(
  ctx: Ctx,
  net: StoreNetwork,
  br: GraphNode,
  ns: Ns,
  master: number,
  nsId: string,
): void {
  const own = new Set(
    ctx.store.endpoints.filter((e) => e.networkId === net.id && e.hostIf).map((e) => e.hostIf!),
  );
  for (const l of ns.ports(master)) {
    if (own.has(l.name) || l.kind === 'vxlan') continue;
    ctx.used.add(`${nsId}/${l.name}`);
    const peer = peerNote(l, ns);
    const state =
      l.group === DOOMED_GROUP ? 'reaping' : net.bridgeCreated === false ? 'foreign' : 'ok';
    const node = ctx.g.node({
      id: `${nsId}/${l.name}`,
      kind: l.kind === 'veth' ? 'veth' : 'link',
      name: l.name,
      ifindex: l.index,
      ns: nsId,
      network: net.name,
      notes: [
        ...(peer ? [peer] : []),
        ...(state === 'reaping' ? ['given up, being deleted'] : []),
        ...(state === 'foreign' ? ["not Berth's"] : []),
      ],
      state,
    });
    ctx.g.edge({ from: br.id, to: node.id, kind: 'port', state });
    if (state === 'ok') {
      ctx.g.problem(
        'leak',
        `${l.kind ?? 'link'} ${l.name} [${l.index}] on ${br.name} (network ${net.name}) belongs to no endpoint`,
        node,
      );
    }
  }
}
