/**
 * The cross-host part of a trace (pure; decision 0033, "Across hosts"): a
 * probe to another host's container over an overlay network. What was
 * observed on this host: the frame crossing br0 in the network's namespace
 * (a bridge-family trace there), the FDB entry vxlan0 has for the
 * destination's MAC (read before the probe), and the encapsulated packet —
 * the network's VNI, the probe inside — leaving the host's namespace for
 * the remote tunnel address (the host's trace, matched by raw offsets).
 * The far side, when the destination's host answers the request (peer.ts):
 * the VXLAN packet arriving in its host namespace and the frame crossing
 * its br0 to the container, observed there; else it is inferred from the
 * cluster store's endpoint record, and the sentence says so.
 */
import type { StoreNetwork, StoreRemoteEndpoint } from '../graph/snapshot.js';
import type { Hop, TraceReport } from './explain.js';
import { ruleWords, type TraceEvent } from './parse.js';

/** What dropped the probe, in words: a rule or chain policy of a table not Berth's trace's. */
function droppedBy(events: TraceEvent[]): string | undefined {
  const d = events.find(
    (e) => e.kind !== 'packet' && e.verdict === 'drop' && !e.table.startsWith('berth-trace-'),
  );
  return d && ruleWords(d);
}

export interface OverlayFacts {
  network: StoreNetwork;
  /** The destination's endpoint on the network, as the cluster store has it. */
  remote: StoreRemoteEndpoint;
  /** The network's namespace, as named on this host (`ov-<id12>`). */
  nsName: string;
  /** The probe's events in the network's namespace (the bridge family's). */
  events: TraceEvent[];
  /** vxlan0's FDB entries (MAC → tunnel address) as read; undefined: not readable. */
  fdb?: Array<{ mac: string; dst: string }>;
  /** The cluster's hosts, to name the remote one. */
  hosts?: Array<{ address: string; name: string }>;
  /** The destination host's own trace of the arrival (peer.ts); error: it did not answer. */
  far?: {
    events: TraceEvent[];
    overlayEvents: TraceEvent[];
    /** Whether the destination listens on the probe's port there, when it was asked. */
    listening?: boolean;
    error?: string;
  };
}

/** `192.168.205.11 (c2)`: a tunnel address with the host's registered name. */
export function hostText(vtep: string, node: string | undefined, facts: OverlayFacts): string {
  const reg = facts.hosts?.find(
    (h) => (node !== undefined && h.address === node) || h.address.split(':')[0] === vtep,
  );
  return reg?.name ? `${vtep} (${reg.name})` : vtep;
}

/** The hops in the overlay's namespace: br0 from the veth to vxlan0, and vxlan0's FDB entry. */
export function overlayHops(f: OverlayFacts): { hops: Hop[]; drop?: string } {
  const hops: Hop[] = [];
  const r = f.remote;
  const mine = f.events.filter((e) => e.kind === 'packet' && e.family === 'bridge');
  const iif = mine.find((e) => e.packet?.iif)?.packet?.iif;
  const oifs = [...new Set(mine.flatMap((e) => (e.packet?.oif ? [e.packet.oif] : [])))];
  hops.push({
    at: `bridge br0 (${f.nsName})`,
    what: mine.length
      ? `seen: in ${iif ?? '?'}${oifs.length ? `, out ${oifs.join(', ')}` : ', not forwarded'}`
      : 'not seen (the frame did not cross br0)',
  });
  // A rule of another bridge-family table in the network's namespace.
  const what = droppedBy(f.events);
  if (what) {
    hops[0]!.what += `; ${what}`;
    return { hops, drop: `${what} (in ${f.nsName})` };
  }
  if (!f.fdb) {
    hops.push({ at: 'fdb vxlan0', what: `not readable in ${f.nsName}` });
    return { hops };
  }
  const entries = f.fdb.filter((e) => e.mac.toLowerCase() === r.mac.toLowerCase());
  const store = `the store has ${r.name} on host ${hostText(r.vtep, r.node, f)}`;
  if (!entries.length) {
    hops.push({ at: 'fdb vxlan0', what: `no entry for ${r.mac} (${r.name}); ${store}` });
    return {
      hops,
      drop: `no VXLAN peer for ${r.mac} (${r.name}) on this host: vxlan0 of ${f.network.name} has no FDB entry for it (${store})`,
    };
  }
  const dsts = entries.map((e) => e.dst);
  hops.push({ at: 'fdb vxlan0', what: `${r.mac} (${r.name}) → ${dsts.join(', ')}` });
  if (!dsts.includes(r.vtep)) {
    return {
      hops,
      drop: `vxlan0 of ${f.network.name} sends ${r.mac} (${r.name}) to ${dsts.join(', ')}, but ${store}`,
    };
  }
  return { hops };
}

/** The encapsulated probe as the host's trace saw it leave (UDP to 4789), if it did. */
export function encapsulated(
  events: TraceEvent[],
  vxlanPort: number,
): { daddr?: string; saddr?: string; oif?: string } | undefined {
  const outer = events.filter((e) => e.kind === 'packet' && e.packet?.dport === vxlanPort);
  if (!outer.length) return undefined;
  const p = outer[outer.length - 1]!.packet!;
  return {
    ...(p.daddr ? { daddr: p.daddr } : {}),
    ...(p.saddr ? { saddr: p.saddr } : {}),
    ...(outer.find((e) => e.packet?.oif)?.packet?.oif
      ? { oif: outer.find((e) => e.packet?.oif)!.packet!.oif! }
      : {}),
  };
}

/** The VXLAN hop: the encapsulated probe as seen leaving, or not seen. */
export function vxlanHop(f: OverlayFacts, seen: ReturnType<typeof encapsulated>): Hop {
  const vni = f.network.vni ?? '?';
  return seen
    ? {
        at: 'vxlan',
        what:
          `encapsulated in VNI ${vni}: ${seen.saddr ?? '?'} → ${seen.daddr ?? '?'} udp 4789` +
          `${seen.oif ? ` out ${seen.oif}` : ''} (seen leaving this host)`,
      }
    : { at: 'vxlan', what: `no packet in VNI ${vni} seen leaving this host` };
}

/** The end of an overlay trace: the remote host, and the sentence. */
export function overlayEnd(
  f: OverlayFacts,
  seen: ReturnType<typeof encapsulated>,
  src: string,
  hops: Hop[],
  target: { proto: string; port?: number },
): TraceReport {
  const r = f.remote;
  const vni = f.network.vni ?? '?';
  const host = hostText(r.vtep, r.node, f);
  const ip = r.ipv4.split('/')[0];
  if (!seen) {
    return {
      outcome: 'unknown',
      hops,
      sentence: `unknown: ${src}'s probe was not seen leaving in VXLAN VNI ${vni} for host ${host}`,
    };
  }
  if (seen.daddr && seen.daddr !== r.vtep) {
    return {
      outcome: 'dropped',
      hops,
      sentence: `dropped: sent in VXLAN VNI ${vni} to ${seen.daddr}, but the store has ${r.name} on host ${host}`,
    };
  }
  const far = f.far;
  if (far && !far.error) return farEnd(f, far, host, hops, target);
  hops.push({
    at: 'remote',
    what:
      `host ${host} holds ${r.name} (${ip}) on ${f.network.name}, by the cluster store ` +
      `(not traced there${far?.error ? `: ${far.error}` : ''})`,
  });
  return {
    outcome: 'delivered',
    hops,
    sentence: `delivered: overlay ${f.network.name}, VXLAN VNI ${vni} to host ${host}, which holds ${r.name} (${ip}); its arrival there is inferred from the store, not traced`,
  };
}

/** The end as the destination's host traced it: the VXLAN packet arriving, br0 to the container. */
function farEnd(
  f: OverlayFacts,
  far: NonNullable<OverlayFacts['far']>,
  host: string,
  hops: Hop[],
  target: { proto: string; port?: number },
): TraceReport {
  const r = f.remote;
  const vni = f.network.vni ?? '?';
  const ip = r.ipv4.split('/')[0];
  const outer = far.events.find((e) => e.kind === 'packet' && e.packet?.iif);
  const chains = [
    ...new Set(
      far.events
        .filter((e) => e.kind === 'packet' && !e.table.startsWith('berth-trace-'))
        .map((e) => `${e.family} ${e.table} ${e.chain}`),
    ),
  ];
  hops.push({
    at: 'remote vxlan',
    what: outer
      ? `arrived at host ${host} in VNI ${vni} (in ${outer.packet!.iif}${chains.length ? `; through ${chains.join(', ')}` : ''}; seen there)`
      : `not seen arriving at host ${host} (traced there)`,
  });
  const what = droppedBy([...far.events, ...far.overlayEvents]);
  if (what) {
    return { outcome: 'dropped', hops, sentence: `dropped on host ${host}: ${what}` };
  }
  if (!outer && !far.overlayEvents.length) {
    return {
      outcome: 'dropped',
      hops,
      sentence: `dropped: sent in VXLAN VNI ${vni} to host ${host}, but it did not arrive there`,
    };
  }
  const mine = far.overlayEvents.filter((e) => e.kind === 'packet' && e.family === 'bridge');
  const iif = mine.find((e) => e.packet?.iif)?.packet?.iif;
  const oifs = [...new Set(mine.flatMap((e) => (e.packet?.oif ? [e.packet.oif] : [])))];
  const into = oifs.filter((o) => o !== 'vxlan0');
  hops.push({
    at: `remote bridge br0`,
    what: mine.length
      ? `on host ${host}: in ${iif ?? '?'}${into.length ? `, out ${into.join(', ')}` : ', not forwarded'} (seen there)`
      : `on host ${host}: not seen`,
  });
  if (!into.length) {
    return {
      outcome: 'dropped',
      hops,
      sentence: `dropped: arrived at host ${host} in VXLAN VNI ${vni}, but br0 there did not pass it to ${r.name}`,
    };
  }
  if (target.port !== undefined && far.listening === false) {
    const addr = `${ip}:${target.port}`;
    hops.push({
      at: 'arrival',
      what: `no socket on ${addr}/${target.proto} in ${r.name} on host ${host} (looked there)`,
    });
    return {
      outcome: 'no-listener',
      hops,
      sentence: `overlay ${f.network.name}, VXLAN VNI ${vni} to host ${host}, to ${r.name}, but no container listens on ${addr}`,
    };
  }
  hops.push({ at: 'arrival', what: `${r.name} (${ip}) on host ${host}` });
  return {
    outcome: 'delivered',
    hops,
    sentence: `delivered: overlay ${f.network.name}, VXLAN VNI ${vni} to host ${host}, to ${r.name} (${ip}); seen leaving here and arriving there`,
  };
}
