/**
 * The network graph (`GET /berth/graph`, `berth network graph`; decision
 * 0030): both snapshots taken (collect.ts), a pure model built from them
 * (model.ts, overlay.ts), rendered as text (text.ts) or dot (dot.ts).
 */
import type { Ipam } from '../ipam/index.js';
import type { KvStore } from '../../store/types.js';
import { gatewayOf } from '../drivers/overlay/index.js';
import type { EndpointRecord } from '../records.js';
import type { GlobalScope, NetworkRecord } from '../types.js';
import {
  readKernel,
  remoteEndpoints,
  storeEndpoint,
  storeNetwork,
  type KernelSources,
} from './collect.js';
import type { KernelSnapshot, StoreSnapshot } from './snapshot.js';

export { buildGraph, type Graph, type GraphFilter, type GraphNode, type Problem } from './model.js';
export { renderText, type TextOptions } from './text.js';
export { renderDot } from './dot.js';
export type { KernelSnapshot, StoreSnapshot } from './snapshot.js';

/** What the controller gives to take the snapshots. */
export interface GraphSources extends KernelSources {
  kv: KvStore;
  /** Where endpoint records live (`endpoints/`). */
  endpointsPrefix: string;
  ipam: Ipam;
  networks: NetworkRecord[];
  servesDns(net: NetworkRecord): boolean;
  global?: GlobalScope;
  /** This host's tunnel source, in a cluster. */
  vtep?: string;
  /** The cluster's registered hosts, in a cluster. */
  hosts?: () => Promise<Array<{ address: string; name: string }>>;
}

/** Both snapshots, the store's first (the kernel is then read for what it names). */
export async function takeSnapshots(
  src: GraphSources,
  host: { name: string; advertise?: string },
  containers: StoreSnapshot['containers'],
): Promise<{ store: StoreSnapshot; kernel: KernelSnapshot }> {
  const networks = src.networks.map((n) => {
    if (n.Scope === 'global') {
      const gw = gatewayOf(n);
      const subnets = (n.IPAM.Config ?? []).flatMap((c) => (c.Subnet ? [c.Subnet] : []));
      return storeNetwork(n, gw ? [gw] : [], subnets, src.servesDns(n));
    }
    const pools = src.ipam.pools(n.Id);
    const gateways = [4, 6].flatMap((f) => {
      const p = pools.find((x) => x.family === f);
      return p ? [`${p.gateway}/${p.prefixLen}`] : [];
    });
    return storeNetwork(
      n,
      gateways,
      pools.map((p) => p.subnet),
      src.servesDns(n),
    );
  });
  const endpoints = (await src.kv.list(src.endpointsPrefix)).map((e) =>
    storeEndpoint(JSON.parse(e.value) as EndpointRecord),
  );
  let hosts: StoreSnapshot['hosts'];
  if (src.hosts) hosts = await src.hosts().catch(() => undefined);
  const store: StoreSnapshot = {
    host: { ...host, ...(src.vtep ? { vtep: src.vtep } : {}) },
    networks,
    endpoints,
    remote: remoteEndpoints(src.global, src.vtep),
    ...(hosts ? { hosts } : {}),
    containers,
  };
  const withEndpoints = new Set(endpoints.map((e) => e.networkId));
  const kernel = await readKernel(
    src,
    [...new Set(endpoints.map((e) => e.containerId))],
    networks
      .filter((n) => n.driver === 'overlay')
      .map((n) => ({ id: n.id, wanted: withEndpoints.has(n.id) })),
  );
  return { store, kernel };
}
