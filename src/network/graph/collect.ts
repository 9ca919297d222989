/**
 * Taking the network graph's two snapshots (snapshot.ts): the kernel's by
 * rtnetlink dumps of each namespace Berth uses (a short-lived socket per
 * namespace, opened there and closed at once) and one listing of Berth's
 * nftables table; the store's from the controller's records. Read-only.
 */
import { isNetns } from '../../kernel/netns/netns.js';
import { withRtnl, type Rtnl } from '../../kernel/netlink/index.js';
import { messageOf } from '../../common/errors.js';
import type { Firewall } from '../../kernel/firewall/index.js';
import { bridgeCreated, bridgeName, bridgeSpec } from '../drivers/bridge/index.js';
import type { EndpointRecord } from '../records.js';
import type { GlobalScope, NetworkRecord } from '../types.js';
import type {
  KernelSnapshot,
  NamespaceRead,
  NamespaceState,
  StoreEndpoint,
  StoreNetwork,
  StoreRemoteEndpoint,
} from './snapshot.js';

/** Where the kernel's side is read. */
export interface KernelSources {
  /** rtnetlink in the daemon's (the host's) namespace. */
  rtnl: Rtnl;
  firewall: Pick<Firewall, 'dump'>;
  /** Berth's DNS listeners. */
  dns(): KernelSnapshot['dns'];
  /** A container's namespace file. */
  sandboxPath(containerId: string): string;
  /** An overlay network's namespace file on this host. */
  overlayPath(networkId: string): string;
}

/** One namespace's links, addresses, default routes and (with `fdb`) VXLAN FDB entries. */
export async function readNamespace(rt: Rtnl, fdb = false): Promise<NamespaceState> {
  const links = await rt.listLinks();
  const addresses = (await rt.listAddresses()).map(({ index, cidr, family }) => ({
    index,
    cidr,
    family,
  }));
  const defaultRoutes = (await rt.listRoutes())
    .filter((r) => r.dst === 'default' || r.dst.endsWith('/0'))
    .map((r) => ({
      family: r.family,
      ...(r.oif !== undefined ? { oif: r.oif } : {}),
      ...(r.gateway ? { gateway: r.gateway } : {}),
    }));
  const state: NamespaceState = { links, addresses, defaultRoutes };
  if (fdb) {
    state.fdb = (await rt.listFdb())
      .filter((f) => f.mac && f.ip)
      .map((f) => ({ index: f.index, mac: f.mac!, dst: f.ip! }));
  }
  return state;
}

async function readAt(path: string, fdb: boolean): Promise<NamespaceRead> {
  if (!isNetns(path)) return { error: `${path} is not a network namespace (gone?)` };
  try {
    return await withRtnl(path, (rt) => readNamespace(rt, fdb));
  } catch (e) {
    return { error: messageOf(e) };
  }
}

/**
 * The kernel's side: the host's namespace, the given containers' and
 * overlay networks' (an overlay's only where its namespace exists or the
 * store has endpoints of it here), Berth's table, the DNS listeners.
 */
export async function readKernel(
  src: KernelSources,
  containers: string[],
  overlays: Array<{ id: string; wanted: boolean }>,
): Promise<KernelSnapshot> {
  const host = await readNamespace(src.rtnl);
  const sandboxes: KernelSnapshot['sandboxes'] = {};
  for (const id of containers) sandboxes[id] = await readAt(src.sandboxPath(id), false);
  const ov: KernelSnapshot['overlays'] = {};
  for (const o of overlays) {
    const path = src.overlayPath(o.id);
    if (o.wanted || isNetns(path)) ov[o.id] = await readAt(path, true);
  }
  let firewall: KernelSnapshot['firewall'];
  try {
    firewall = src.firewall.dump();
  } catch {
    firewall = { bridges: [], ports: [] };
  }
  return { host, firewall, sandboxes, overlays: ov, dns: src.dns() };
}

/** A network as the graph shows it, with its gateways (`address/prefix`) and subnets. */
export function storeNetwork(
  n: NetworkRecord,
  gateways: string[],
  subnets: string[],
  servesDns: boolean,
): StoreNetwork {
  const bridge = n.Driver === 'bridge';
  const spec = bridge ? bridgeSpec(n) : undefined;
  return {
    id: n.Id,
    name: n.Name,
    driver: n.Driver,
    scope: n.Scope,
    internal: n.Internal,
    ...(spec
      ? {
          bridge: bridgeName(n),
          bridgeCreated: bridgeCreated(n),
          icc: spec.icc,
          masquerade: spec.masquerade,
        }
      : {}),
    gateways,
    subnets,
    servesDns,
    ...(n.berth?.vni !== undefined ? { vni: n.berth.vni } : {}),
  };
}

/** This host's endpoint record as the graph shows it. */
export function storeEndpoint(e: EndpointRecord): StoreEndpoint {
  return {
    id: e.Id,
    networkId: e.NetworkID,
    containerId: e.ContainerID,
    ifName: e.IfName,
    ...(e.HostIf ? { hostIf: e.HostIf } : {}),
    ...(e.IPv4 ? { ipv4: `${e.IPv4}/${e.PrefixLen}` } : {}),
    ...(e.IPv6 ? { ipv6: `${e.IPv6}/${e.PrefixLen6}` } : {}),
    ...(e.Mac ? { mac: e.Mac } : {}),
    state: e.State,
    ports: e.Ports ?? [],
  };
}

/** Other hosts' endpoints of the global networks (`self`: this host's tunnel source). */
export function remoteEndpoints(
  global: GlobalScope | undefined,
  self?: string,
): StoreRemoteEndpoint[] {
  if (!global) return [];
  return global
    .list()
    .flatMap((n) => global.endpointsOf(n.Id))
    .filter((e) => e.Vtep !== self)
    .map((e) => ({
      id: e.Id,
      networkId: e.NetworkID,
      containerId: e.ContainerID,
      name: e.Name,
      ipv4: `${e.IPv4}/${e.PrefixLen}`,
      mac: e.Mac,
      node: e.Node,
      vtep: e.Vtep,
    }));
}
