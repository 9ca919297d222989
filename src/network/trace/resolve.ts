/**
 * Who SRC and DST of `berth network trace` are (pure): a container (name,
 * ID or unique ID prefix, or one of its addresses), an address, or `world`;
 * and which addresses the probe goes between, from the store's and the
 * kernel's snapshots (../graph/snapshot.ts).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { invalid, notFound } from '../../common/errors.js';
import type {
  KernelSnapshot,
  StoreEndpoint,
  StoreRemoteEndpoint,
  StoreSnapshot,
} from '../graph/snapshot.js';
import type { ProbeProto } from '../../kernel/firewall/trace.js';

export type Party =
  | { kind: 'container'; id: string; name: string; endpoints: StoreEndpoint[] }
  /** A container of another host of the cluster, known by its overlay endpoints. */
  | { kind: 'remote'; id: string; name: string; endpoints: StoreRemoteEndpoint[] }
  | { kind: 'world' }
  | { kind: 'address'; ip: string };

export interface Target {
  ref: string;
  port?: number;
  proto: ProbeProto;
}

/** `DST[:PORT[/PROTO]]`: no port is an ICMP echo; a port is TCP unless `/udp`. */
export function parseTarget(s: string): Target {
  const m = /^([^:/]+)(?::(\d+)(?:\/(tcp|udp))?)?$/.exec(s);
  if (!m) throw invalid(`invalid trace destination ${JSON.stringify(s)}: use DST[:PORT[/tcp|udp]]`);
  const [, ref, port, proto] = m;
  if (port === undefined) return { ref: ref!, proto: 'icmp' };
  const p = Number(port);
  if (!(p >= 1 && p <= 65535)) throw invalid(`invalid port ${port}: must be 1-65535`);
  return { ref: ref!, port: p, proto: (proto as ProbeProto | undefined) ?? 'tcp' };
}

const ip4 = (cidr?: string) => cidr?.split('/')[0];

/** A container, `world` or an address, as the store knows it. */
export function resolveParty(ref: string, store: StoreSnapshot): Party {
  if (ref === 'world') return { kind: 'world' };
  if (isIPv6(ref)) throw invalid('berth does not support tracing IPv6 yet');
  const endpointsOf = (id: string) =>
    store.endpoints.filter((e) => e.containerId === id && e.ipv4 && e.state === 'ready');
  const container = (id: string): Party => ({
    kind: 'container',
    id,
    name: store.containers[id]?.name ?? id.slice(0, 12),
    endpoints: endpointsOf(id),
  });
  const remote = (id: string): Party => {
    const endpoints = store.remote.filter((r) => r.containerId === id);
    return { kind: 'remote', id, name: endpoints[0]!.name, endpoints };
  };
  if (isIPv4(ref)) {
    const e = store.endpoints.find((x) => ip4(x.ipv4) === ref);
    if (e) return container(e.containerId);
    const r = store.remote.find((x) => ip4(x.ipv4) === ref);
    return r ? remote(r.containerId) : { kind: 'address', ip: ref };
  }
  const ids = Object.keys(store.containers);
  const byName = ids.find((id) => store.containers[id]!.name === ref);
  if (byName) return container(byName);
  const byId = ids.filter((id) => id.startsWith(ref));
  if (byId.length === 1) return container(byId[0]!);
  // Another host's container, as the cluster store has its overlay endpoints.
  const rName = store.remote.find((r) => r.name === ref);
  if (rName) return remote(rName.containerId);
  const rIds = [...new Set(store.remote.map((r) => r.containerId))].filter((id) =>
    id.startsWith(ref),
  );
  if (!byId.length && rIds.length === 1) return remote(rIds[0]!);
  throw notFound(`No such container: ${ref}`);
}

/** The host's own IPv4 address on its uplink (the default route's link). */
export function uplinkAddress(kernel: KernelSnapshot): { ip: string; dev: string } | undefined {
  const route = kernel.host.defaultRoutes.find((r) => r.family === 4 && r.oif !== undefined);
  if (!route) return undefined;
  const addr = kernel.host.addresses.find((a) => a.index === route.oif && a.family === 4);
  const link = kernel.host.links.find((l) => l.index === route.oif);
  return addr && link ? { ip: addr.cidr.split('/')[0]!, dev: link.name } : undefined;
}

/** What the probe is: from where, to which address and port, and what that means. */
export interface Plan {
  /** The source container's endpoint the probe leaves by (the one on a shared network). */
  srcEndpoint?: StoreEndpoint;
  /** The destination container's endpoint it should arrive at. */
  dstEndpoint?: StoreEndpoint;
  /** The address and port the probe is sent to. */
  dst: string;
  port?: number;
  /** A published port the probe is sent to: host port → container's. */
  published?: { hostPort: number; containerPort: number };
  /** Another host's endpoint, on the overlay network the source shares with it. */
  remoteEndpoint?: StoreRemoteEndpoint;
}

/** Picks the addresses: a shared network first; `world` reaches published ports on the uplink. */
export function planProbe(src: Party, dst: Party, target: Target, kernel: KernelSnapshot): Plan {
  if (src.kind === 'address') {
    const own = kernel.host.addresses.some((a) => a.cidr.split('/')[0] === src.ip);
    if (!own) {
      throw invalid(
        `cannot trace from ${src.ip}: a source is a container, world, or an address of this host`,
      );
    }
  }
  if (src.kind === 'remote') {
    throw invalid(
      `cannot trace from ${src.name}: it runs on host ${src.endpoints[0]?.node ?? '?'}; trace from there`,
    );
  }
  const srcEps = src.kind === 'container' ? src.endpoints : [];
  if (src.kind === 'container' && !srcEps.length) {
    throw invalid(`container ${src.name} has no IPv4 endpoint here (is it running?)`);
  }
  if (dst.kind === 'world') {
    const gw = kernel.host.defaultRoutes.find((r) => r.family === 4 && r.gateway)?.gateway;
    if (!gw) throw invalid('cannot trace to world: this host has no IPv4 default gateway');
    return { ...(srcEps[0] ? { srcEndpoint: srcEps[0] } : {}), dst: gw, port: target.port };
  }
  if (dst.kind === 'address') {
    // An address of this host with a published port: the DNAT is what is traced.
    return { ...(srcEps[0] ? { srcEndpoint: srcEps[0] } : {}), dst: dst.ip, port: target.port };
  }
  if (dst.kind === 'remote') {
    // Another host's container is reached over an overlay network both are on.
    for (const s of srcEps) {
      const r = dst.endpoints.find((d) => d.networkId === s.networkId);
      if (r) return { srcEndpoint: s, remoteEndpoint: r, dst: ip4(r.ipv4)!, port: target.port };
    }
    throw invalid(
      `${dst.name} is on host ${dst.endpoints[0]?.node ?? '?'}: a trace reaches it only ` +
        `from a container on an overlay network it is on`,
    );
  }
  if (!dst.endpoints.length) {
    throw invalid(`container ${dst.name} has no IPv4 endpoint here (is it running?)`);
  }
  if (src.kind === 'world' && target.port !== undefined) {
    const up = uplinkAddress(kernel);
    for (const e of dst.endpoints) {
      const p = e.ports.find(
        (x) => x.proto === target.proto && x.containerPort === target.port && x.hostPort,
      );
      if (p && up) {
        return {
          dstEndpoint: e,
          dst: up.ip,
          port: p.hostPort,
          published: { hostPort: p.hostPort, containerPort: p.containerPort },
        };
      }
    }
  }
  const shared = srcEps.find((s) => dst.endpoints.some((d) => d.networkId === s.networkId));
  const dstEp = shared
    ? dst.endpoints.find((d) => d.networkId === shared.networkId)!
    : dst.endpoints[0]!;
  const srcEp = shared ?? srcEps[0];
  return {
    ...(srcEp ? { srcEndpoint: srcEp } : {}),
    dstEndpoint: dstEp,
    dst: ip4(dstEp.ipv4)!,
    port: target.port,
  };
}
