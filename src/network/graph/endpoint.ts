/**
 * The network graph's endpoints (pure): each endpoint's veth on its bridge,
 * the container's end (the two must be one pair: each names the other's
 * ifindex), its addresses, and its published ports against Berth's DNAT
 * elements; then, for a graph of everything, Berth's things that belong to
 * no network (bridges left in its sets, DNAT elements, temporary VXLAN
 * devices, DNS listeners).
 */
import { bridgeNodeId, readNs, type Ctx, type GraphEdge, type GraphNode } from './nodes.js';
import type { KernelSnapshot, StoreEndpoint, StoreNetwork } from './snapshot.js';

const short = (id: string): string => id.slice(0, 12);
const idx = (l: { index: number } | undefined): string => (l ? ` [${l.index}]` : '');

/** One endpoint: its veth on the bridge, the container's end, addresses, ports. */
export function addEndpoint(ctx: Ctx, net: StoreNetwork, ep: StoreEndpoint): void {
  const { g, store, kernel } = ctx;
  const overlay = net.driver === 'overlay';
  if (net.driver !== 'bridge' && !overlay) return;
  const nsId = overlay ? `overlay:${net.id}` : 'host';
  const side = overlay ? readNs(kernel.overlays[net.id]) : ctx.host;
  const br = g.nodes.get(bridgeNodeId(net)!);
  const c = store.containers[ep.containerId];
  const cname = c?.name ?? short(ep.containerId);
  const cns = `container:${ep.containerId}`;
  const sb = kernel.sandboxes[ep.containerId];
  const inside = readNs(sb);
  g.namespace({
    id: cns,
    kind: 'container',
    label: `container ${cname} (${short(ep.containerId)})`,
    state: inside ? 'ok' : 'missing',
  });
  const cnode = g.node({
    id: `container:${ep.containerId}`,
    kind: 'container',
    name: cname,
    ns: cns,
    notes: [short(ep.containerId)],
    state: 'ok',
  });
  if (!c)
    g.problem(
      'mismatch',
      `endpoint ${short(ep.id)} on ${net.name} is of container ${short(ep.containerId)}, which does not exist`,
      cnode,
    );
  else if (!c.running)
    g.problem(
      'mismatch',
      `endpoint of ${cname} on ${net.name} remains, but ${cname} is not running`,
      cnode,
    );
  const hostLink = ep.hostIf ? side?.byName.get(ep.hostIf) : undefined;
  const veth = g.node({
    id: `${nsId}/${ep.hostIf ?? `?${short(ep.id)}`}`,
    kind: 'veth',
    name: ep.hostIf ?? '(none yet)',
    ...(hostLink ? { ifindex: hostLink.index } : {}),
    ns: nsId,
    network: net.name,
    ...(ep.state === 'attaching' ? { notes: ['attaching'] } : {}),
    state: 'ok',
  });
  ctx.used.add(veth.id);
  if (br) g.edge({ from: br.id, to: veth.id, kind: 'port', state: 'ok' });
  const where = `${cname}'s endpoint on ${net.name}`;
  if (!ep.hostIf) {
    if (ep.state === 'ready') g.problem('missing', `${where} has no veth recorded`, veth);
  } else if (!hostLink) {
    g.problem(
      'missing',
      `${where}: its veth ${ep.hostIf} is not in the ${overlay ? "network's" : "host's"} namespace`,
      veth,
    );
  } else {
    const bridgeLink = br?.ifindex;
    if (bridgeLink !== undefined && hostLink.master !== bridgeLink) {
      g.problem('mismatch', `${where}: veth ${ep.hostIf} is not a port of ${br!.name}`, veth);
    }
  }
  const cl = inside?.byName.get(ep.ifName);
  const iface = g.node({
    id: `${cns}/${ep.ifName}`,
    kind: 'interface',
    name: ep.ifName,
    ...(cl ? { ifindex: cl.index } : {}),
    ns: cns,
    network: net.name,
    addresses: inside?.addresses(cl?.index) ?? [],
    ...((cl?.mac ?? ep.mac) ? { mac: cl?.mac ?? ep.mac } : {}),
    state: 'ok',
  });
  if (!inside) {
    const why = sb && 'error' in sb ? `: ${sb.error}` : '';
    g.problem('missing', `${where}: the container's namespace cannot be read${why}`, iface);
  } else if (!cl) {
    g.problem('missing', `${where}: ${cname} has no ${ep.ifName}`, iface);
  } else {
    for (const want of [ep.ipv4, ep.ipv6]) {
      if (want && !iface.addresses!.includes(want))
        g.problem('missing', `${where}: ${ep.ifName} lacks ${want}`, iface);
    }
  }
  let pair: GraphEdge['state'] = hostLink && cl ? 'ok' : 'missing';
  if (hostLink && cl && (hostLink.parent !== cl.index || cl.parent !== hostLink.index)) {
    pair = 'mismatch';
    g.problem(
      'mismatch',
      `${where}: ${ep.hostIf}${idx(hostLink)} and ${ep.ifName}${idx(cl)} are not the two ends of one veth`,
      veth,
    );
  }
  g.edge({ from: veth.id, to: iface.id, kind: 'pair', label: 'veth', state: pair });
  g.edge({ from: iface.id, to: cnode.id, kind: 'in', state: 'ok' });
  for (const p of ep.ports) {
    const ip = p.hostIp.includes(':') ? ep.ipv6 : ep.ipv4;
    const cip = ip?.split('/')[0] ?? '';
    const key = portKey(p.proto, p.hostIp, p.hostPort, cip, p.containerPort);
    const has = kernel.firewall.ports.some(
      (m) => portKey(m.proto, m.hostIp, m.hostPort, m.containerIp, m.containerPort) === key,
    );
    ctx.portsSeen.add(key);
    const port = g.node({
      id: `port:${p.proto}/${hostAddr(p.hostIp)}:${p.hostPort}`,
      kind: 'port',
      name: `${p.proto} ${hostAddr(p.hostIp)}:${p.hostPort}`,
      ns: 'host',
      network: net.name,
      state: has ? 'ok' : 'missing',
    });
    g.edge({
      from: port.id,
      to: iface.id,
      kind: 'dnat',
      label: `DNAT to ${fmtAddr(cip)}:${p.containerPort}`,
      state: port.state,
    });
    if (!has)
      g.problem(
        'missing',
        `published port ${port.name} of ${cname} has no DNAT element in Berth's table`,
      );
  }
}

/** A host address as shown: '' is every IPv4 address. */
const hostAddr = (ip: string | undefined): string =>
  !ip ? '0.0.0.0' : ip.includes(':') ? `[${ip}]` : ip;
const fmtAddr = (ip: string): string => (ip.includes(':') ? `[${ip}]` : ip);

/** A published port's identity, the same for the store's and the kernel's spelling. */
export function portKey(
  proto: string,
  hostIp: string | undefined,
  hostPort: number,
  cip: string,
  cport: number,
): string {
  const any = !hostIp || hostIp === '0.0.0.0' || hostIp === '::';
  const fam = cip.includes(':') ? 6 : 4;
  return `${proto}/${any ? `*${fam}` : hostIp}/${hostPort}>${cip}:${cport}`;
}

/** DNAT elements whose container address is on the network and which no endpoint has. */
export function strayPorts(ctx: Ctx, net: StoreNetwork): void {
  if (net.driver !== 'bridge') return;
  const ifaces = [...ctx.g.nodes.values()].filter(
    (n) => n.kind === 'interface' && n.network === net.name,
  );
  for (const m of ctx.kernel.firewall.ports) {
    const key = portKey(m.proto, m.hostIp, m.hostPort, m.containerIp, m.containerPort);
    if (ctx.portsSeen.has(key) || !net.subnets.some((s) => inSubnet(m.containerIp, s))) continue;
    ctx.portsSeen.add(key);
    leakedPort(
      ctx,
      m,
      ifaces.find((i) => i.addresses?.some((a) => a.split('/')[0] === m.containerIp)),
    );
  }
}

function leakedPort(
  ctx: Ctx,
  m: KernelSnapshot['firewall']['ports'][number],
  to?: GraphNode,
): void {
  const name = `${m.proto} ${hostAddr(m.hostIp)}:${m.hostPort}`;
  const node = ctx.g.node({
    id: `port:${m.proto}/${hostAddr(m.hostIp)}:${m.hostPort}>${m.containerIp}`,
    kind: 'port',
    name,
    ns: 'host',
    notes: [`DNAT to ${fmtAddr(m.containerIp)}:${m.containerPort}`],
    state: 'ok',
  });
  if (to)
    ctx.g.edge({
      from: node.id,
      to: to.id,
      kind: 'dnat',
      label: `DNAT to ${fmtAddr(m.containerIp)}:${m.containerPort}`,
      state: 'leak',
    });
  ctx.g.problem(
    'leak',
    `DNAT element ${name} -> ${fmtAddr(m.containerIp)}:${m.containerPort} in Berth's table belongs to no endpoint`,
    node,
  );
}

/** Whether an IPv4 address is in a subnet (IPv6: by prefix text, enough to attribute a port). */
export function inSubnet(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  if (!base || ip.includes(':') !== base.includes(':')) return false;
  if (ip.includes(':')) return ip.startsWith(base.replace(/::$/, ':'));
  const n = (a: string) => a.split('.').reduce((acc, x) => acc * 256 + Number(x), 0);
  const size = 2 ** (32 - Number(bits));
  return Math.floor(n(ip) / size) === Math.floor(n(base) / size);
}

/** Unfiltered graphs: Berth's things that belong to no network at all. */
export function everythingElse(ctx: Ctx): void {
  const { g, kernel, store, host } = ctx;
  const bridges = new Set(store.networks.filter((n) => n.bridge).map((n) => n.bridge!));
  for (const b of kernel.firewall.bridges) {
    if (bridges.has(b.name)) continue;
    const link = host.byName.get(b.name);
    const node = g.node({
      id: `host/${b.name}`,
      kind: 'bridge',
      name: b.name,
      ...(link ? { ifindex: link.index } : {}),
      ns: 'host',
      addresses: host.addresses(link?.index),
      state: 'ok',
    });
    g.problem(
      'leak',
      `${b.name} is in Berth's firewall sets but no network has it${link ? '' : ' (and there is no such link)'}`,
      node,
    );
  }
  for (const l of host.state.links) {
    if (ctx.used.has(`host/${l.name}`)) continue;
    if (l.kind === 'vxlan' && /^vx[0-9a-f]{10}$/.test(l.name)) {
      const node = g.node({
        id: `host/${l.name}`,
        kind: 'vxlan',
        name: l.name,
        ifindex: l.index,
        ns: 'host',
        notes: l.vxlan?.vni ? [`VNI ${l.vxlan.vni}`] : [],
        state: 'ok',
      });
      g.problem(
        'leak',
        `VXLAN device ${l.name} [${l.index}] under Berth's temporary name was never moved into an overlay namespace`,
        node,
      );
    }
  }
  for (const m of kernel.firewall.ports) {
    const key = portKey(m.proto, m.hostIp, m.hostPort, m.containerIp, m.containerPort);
    if (!ctx.portsSeen.has(key)) leakedPort(ctx, m);
  }
  const ids = new Set(store.networks.map((n) => n.id));
  for (const d of kernel.dns) {
    if (d.networkId && !ids.has(d.networkId)) {
      const node = g.node({
        id: `dns:${d.netns ?? 'host'}/${d.address}`,
        kind: 'dns',
        name: `DNS ${d.address}:${d.port}`,
        ns: 'host',
        state: 'ok',
      });
      g.problem(
        'leak',
        `Berth's DNS listens on ${d.address} for network ${short(d.networkId)}, which does not exist`,
        node,
      );
    }
  }
}
