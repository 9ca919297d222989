/**
 * The network graph's overlay part (pure): an overlay network's namespace on
 * this host (br0 with the gateway, vxlan0 with its VNI, source address and
 * UDP port), and its tunnels to the other hosts: one edge per host that has
 * endpoints of the network, checked against vxlan0's FDB entries (one per
 * remote endpoint, its MAC behind its host's address; decision 0021). An
 * entry no endpoint explains is a leak; an endpoint without its entry is
 * missing, and so is one whose host is not registered in the cluster.
 */
import { addDns, bridgePorts } from './model.js';
import { bridgeNodeId, readNs, type Ctx, type GraphNode } from './nodes.js';
import type { StoreNetwork, StoreRemoteEndpoint } from './snapshot.js';

const short = (id: string): string => id.slice(0, 12);

/** An overlay network's namespace on this host, if it takes part (endpoints here, or the namespace). */
export function addOverlay(ctx: Ctx, net: StoreNetwork): void {
  const { g, kernel, store } = ctx;
  const local = store.endpoints.some((e) => e.networkId === net.id);
  const read = kernel.overlays[net.id];
  if (!local && !read) return;
  const nsId = `overlay:${net.id}`;
  const ns = readNs(read);
  g.namespace({
    id: nsId,
    kind: 'overlay',
    label: `overlay ${net.name} (namespace ov-${short(net.id)})`,
    state: ns ? 'ok' : 'missing',
  });
  const brLink = ns?.byName.get('br0');
  const br = g.node({
    id: bridgeNodeId(net)!,
    kind: 'bridge',
    name: 'br0',
    ...(brLink ? { ifindex: brLink.index } : {}),
    ns: nsId,
    network: net.name,
    addresses: ns?.addresses(brLink?.index) ?? [],
    state: 'ok',
  });
  if (!ns) {
    const why = read && 'error' in read ? `: ${read.error}` : '';
    g.problem('missing', `the namespace of overlay network ${net.name} cannot be read${why}`, br);
  } else if (!brLink) {
    g.problem('missing', `overlay network ${net.name} has no br0 in its namespace`, br);
  } else {
    for (const gw of net.gateways) {
      if (!br.addresses!.includes(gw)) g.problem('missing', `br0 of ${net.name} lacks ${gw}`, br);
    }
  }
  if (net.servesDns) addDns(ctx, net, br, net.id);
  const vx = ns?.byName.get('vxlan0');
  const info = vx?.vxlan;
  const vxNode = g.node({
    id: `${nsId}/vxlan0`,
    kind: 'vxlan',
    name: 'vxlan0',
    ...(vx ? { ifindex: vx.index } : {}),
    ns: nsId,
    network: net.name,
    notes: [
      `VNI ${info?.vni ?? net.vni ?? '?'}`,
      ...(info?.local ? [`local ${info.local}`] : []),
      ...(info?.port ? [`udp ${info.port}`] : []),
    ],
    state: 'ok',
  });
  ctx.used.add(vxNode.id);
  g.edge({ from: br.id, to: vxNode.id, kind: 'port', state: vx ? 'ok' : 'missing' });
  if (ns && !vx) g.problem('missing', `overlay network ${net.name} has no vxlan0`, vxNode);
  if (vx && net.vni !== undefined && info?.vni !== undefined && info.vni !== net.vni) {
    g.problem(
      'mismatch',
      `vxlan0 of ${net.name} has VNI ${info.vni}, the network ${net.vni}`,
      vxNode,
    );
  }
  if (vx && brLink && vx.master !== brLink.index) {
    g.problem('mismatch', `vxlan0 of ${net.name} is not a port of br0`, vxNode);
  }
  if (vx && ctx.uplink) {
    const label = `udp ${info?.port ?? 4789}${info?.local ? ` from ${info.local}` : ''}`;
    g.edge({ from: vxNode.id, to: ctx.uplink.id, kind: 'underlay', label, state: 'ok' });
  }
  if (ns && brLink) ctx.later.push(() => bridgePorts(ctx, net, br, ns, brLink.index, nsId));
  if (vx)
    tunnels(
      ctx,
      net,
      vxNode,
      info?.vni ?? net.vni,
      ns!.state.fdb?.filter((f) => f.index === vx.index) ?? [],
    );
}

/** The remote host's node (one per tunnel address, shared by networks). */
function remoteHost(ctx: Ctx, vtep: string, node?: string): GraphNode {
  const reg = ctx.store.hosts?.find((h) => h.address === node || h.address.split(':')[0] === vtep);
  return ctx.g.node({
    id: `remote:${vtep}`,
    kind: 'remote-host',
    name: reg?.name ? `host ${reg.name}` : `host ${vtep}`,
    ns: 'remote',
    addresses: [vtep],
    notes: [],
    state: 'ok',
  });
}

/** vxlan0's tunnels: the store's remote endpoints against the kernel's FDB entries. */
function tunnels(
  ctx: Ctx,
  net: StoreNetwork,
  vx: GraphNode,
  vni: number | undefined,
  fdb: Array<{ mac: string; dst: string }>,
): void {
  const { g, store } = ctx;
  const self = store.host.vtep;
  const remote = store.remote.filter((r) => r.networkId === net.id && r.vtep !== self);
  const byHost = new Map<string, StoreRemoteEndpoint[]>();
  for (const r of remote) byHost.set(r.vtep, [...(byHost.get(r.vtep) ?? []), r]);
  for (const [vtep, eps] of [...byHost].sort(([a], [b]) => a.localeCompare(b))) {
    const host = remoteHost(ctx, vtep, eps[0]!.node);
    let state: GraphNode['state'] = 'ok';
    for (const r of eps.sort((a, b) => a.name.localeCompare(b.name))) {
      host.notes!.push(`${net.name}: ${r.name} ${r.ipv4} ${r.mac}`);
      if (!fdb.some((f) => f.mac === r.mac && f.dst === vtep)) {
        state = 'missing';
        g.problem(
          'missing',
          `vxlan0 of ${net.name} has no FDB entry for ${r.name} (${r.mac}) behind ${vtep}`,
          vx,
          false,
        );
      }
      if (store.hosts && !store.hosts.some((h) => h.address === r.node)) {
        g.problem(
          'missing',
          `${r.name}'s endpoint on ${net.name} is on host ${r.node}, which is not registered in the cluster`,
          host,
        );
      }
    }
    const n = eps.length;
    const label = `VXLAN VNI ${vni ?? '?'}, ${n} endpoint${n === 1 ? '' : 's'}`;
    g.edge({ from: vx.id, to: host.id, kind: 'tunnel', label, state });
  }
  for (const f of fdb) {
    if (f.mac === '00:00:00:00:00:00') continue;
    if (remote.some((r) => r.mac === f.mac && r.vtep === f.dst)) continue;
    const host = remoteHost(ctx, f.dst);
    g.edge({
      from: vx.id,
      to: host.id,
      kind: 'tunnel',
      label: `FDB ${f.mac}, no endpoint`,
      state: 'leak',
    });
    g.problem(
      'leak',
      `vxlan0 of ${net.name} sends ${f.mac} to ${f.dst}, but no endpoint of the network has that MAC there`,
      vx,
      false,
    );
  }
}

/** The cluster's other registered hosts, shown even without tunnels (unfiltered graphs). */
export function addRemoteHosts(ctx: Ctx, _nets: StoreNetwork[], all: boolean): void {
  if (!all || !ctx.store.hosts) return;
  const self = ctx.store.host.advertise;
  for (const h of [...ctx.store.hosts].sort((a, b) => a.address.localeCompare(b.address))) {
    if (h.address === self) continue;
    remoteHost(ctx, h.address.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1'), h.address);
  }
}
