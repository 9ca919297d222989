/**
 * `berth network trace SRC DST[:PORT[/PROTO]]` and `POST /berth/trace`
 * (decision 0033): the parties resolved from the store (resolve.ts), one
 * probe traced by the kernel side (src/kernel/firewall/trace.ts), the
 * events explained (explain.ts).
 */
import {
  Nftables,
  routeGet,
  socketTables,
  traceProbe,
  type ProbeSpec,
} from '../../kernel/firewall/index.js';
import { isNetns } from '../../kernel/netns/netns.js';
import { messageOf } from '../../common/errors.js';
import type { KernelSnapshot, StoreSnapshot } from '../graph/snapshot.js';
import { basename } from 'node:path';
import { explain, type TraceReport } from './explain.js';
import type { OverlayFacts } from './overlay.js';
import type { ArrivalReply, ArrivalRequest, PeerTrace } from './peer.js';
import { listens, probeEvents } from './parse.js';
import { parseTarget, planProbe, resolveParty } from './resolve.js';

export { explain, renderReport, type Hop, type TraceReport } from './explain.js';
export { listens, parseTraceLine, probeEvents } from './parse.js';
export { parseTarget, planProbe, resolveParty } from './resolve.js';
export { askPeer, servePeer, type ArrivalRequest, type PeerTrace } from './peer.js';

/** Asks host `node` (its advertise address) to trace a probe's arrival (peer.ts). */
export type AskPeer = (node: string, req: Omit<ArrivalRequest, 'lease'>) => Promise<PeerTrace>;

export interface TraceSources {
  snapshots(): Promise<{ store: StoreSnapshot; kernel: KernelSnapshot }>;
  /** A container's namespace file. */
  sandboxPath(containerId: string): string;
  /** An overlay network's namespace file on this host. */
  overlayPath(networkId: string): string;
  /** In a cluster: the far side of a trace across hosts. */
  peer?: AskPeer;
}

/** The answer of `POST /berth/trace`. */
export interface TraceResult extends TraceReport {
  src: string;
  dst: string;
  /** The probe: protocol, address, port, and its trace as `nft monitor trace` printed it. */
  probe: {
    proto: string;
    dst: string;
    port?: number;
    trace: string[];
    /** Across hosts: the trace in the overlay network's namespace. */
    overlayTrace?: string[];
    /** Across hosts: the destination host's trace (its namespace's, then its overlay's). */
    remoteTrace?: string[];
  };
}

/** The far side's answer as events (its lines are its probe's only). */
function farFacts(r: ArrivalReply): NonNullable<OverlayFacts['far']> {
  const parse = (ls?: string[]) => probeEvents(ls ?? [], '');
  return r.state === 'done'
    ? {
        events: parse(r.lines),
        overlayEvents: parse(r.overlayLines),
        ...(typeof r.listening === 'boolean' ? { listening: r.listening } : {}),
      }
    : { events: [], overlayEvents: [], error: r.error ?? 'no answer' };
}

/**
 * Whether something in the namespace `path` listens on `ip:port` (for TCP a
 * listening socket); undefined without a port or a namespace to look in.
 */
export function listeningIn(
  path: string | undefined,
  ip: string,
  port: number | undefined,
  proto: string,
): boolean | undefined {
  if (!path || port === undefined || (proto !== 'tcp' && proto !== 'udp') || !isNetns(path)) {
    return undefined;
  }
  const t = socketTables(path);
  return proto === 'tcp' ? listens(t.tcp, ip, port, true) : listens(t.udp, ip, port, false);
}

/** Traces one probe from `srcRef` to `dstSpec` (`DST[:PORT[/PROTO]]`). */
export async function runTrace(
  s: TraceSources,
  srcRef: string,
  dstSpec: string,
): Promise<TraceResult> {
  const target = parseTarget(dstSpec);
  const { store, kernel } = await s.snapshots();
  const src = resolveParty(srcRef, store);
  const dst = resolveParty(target.ref, store);
  const plan = planProbe(src, dst, target, kernel);
  const netns = src.kind === 'container' ? s.sandboxPath(src.id) : undefined;
  if (netns && !isNetns(netns)) throw new Error(`${srcRef}: its network namespace is gone`);
  const route = await routeGet(netns, plan.dst);
  // Another host's container: the overlay both are on, its namespace here and vxlan0's FDB.
  const re = plan.remoteEndpoint;
  const net = re ? store.networks.find((n) => n.id === re.networkId) : undefined;
  const ovPath = net ? s.overlayPath(net.id) : undefined;
  if (re && (!net || net.vni === undefined || !ovPath || !isNetns(ovPath))) {
    throw new Error(`${srcRef}: the overlay network's namespace is not on this host`);
  }
  const ovRead = net ? kernel.overlays[net.id] : undefined;
  const spec: ProbeSpec = {
    ...(netns ? { netns } : {}),
    dst: plan.dst,
    proto: target.proto,
    ...(plan.port !== undefined ? { port: plan.port } : {}),
    ...(ovPath && net?.vni !== undefined ? { overlay: { netns: ovPath, vni: net.vni } } : {}),
  };
  const nft = Nftables.open();
  let probe;
  // Across hosts: the destination's host traces the arrival, armed before the probe goes.
  let far: PeerTrace | undefined;
  let farReply: ArrivalReply | undefined;
  const peer = s.peer;
  try {
    probe = await traceProbe(nft, spec, {
      ...(re && net?.vni !== undefined && peer
        ? {
            beforeSend: async (tag: number) => {
              try {
                far = await peer(re.node, {
                  networkId: re.networkId,
                  vni: net.vni!,
                  dst: plan.dst,
                  proto: target.proto,
                  tag,
                  ...(target.port !== undefined && target.proto !== 'icmp'
                    ? { port: target.port }
                    : {}),
                  windowMs: 1000,
                });
              } catch (e) {
                farReply = { state: 'failed', error: messageOf(e) };
                return;
              }
              const armed = await far.armed;
              if (armed !== true) farReply = { state: 'failed', error: armed };
            },
          }
        : {}),
    });
    if (far && !farReply) farReply = await far.done;
  } finally {
    nft.close();
    await (far as PeerTrace | undefined)?.close();
  }
  const de = plan.dstEndpoint;
  const listening =
    dst.kind === 'container' && de?.ipv4
      ? listeningIn(
          s.sandboxPath(dst.id),
          de.ipv4.split('/')[0]!,
          plan.published?.containerPort ?? target.port,
          target.proto,
        )
      : undefined;
  const events = probeEvents(probe.lines, probe.table);
  const ids = new Set(events.map((e) => e.id));
  const ovEvents = probeEvents(probe.overlayLines ?? [], probe.table);
  const ovIds = new Set(ovEvents.map((e) => e.id));
  const overlay: OverlayFacts | undefined =
    re && net && ovPath
      ? {
          network: net,
          remote: re,
          nsName: basename(ovPath),
          events: ovEvents,
          ...(ovRead && !('error' in ovRead) && ovRead.fdb ? { fdb: ovRead.fdb } : {}),
          ...(store.hosts ? { hosts: store.hosts } : {}),
          ...(farReply ? { far: farFacts(farReply) } : {}),
        }
      : undefined;
  const report = explain({
    src,
    dst,
    target,
    plan,
    route,
    events,
    table: probe.table,
    networks: store.networks,
    ...(listening !== undefined ? { listening } : {}),
    ...(overlay ? { overlay } : {}),
  });
  return {
    src: srcRef,
    dst: dstSpec,
    probe: {
      proto: target.proto,
      dst: plan.dst,
      ...(plan.port ? { port: plan.port } : {}),
      trace: probe.lines.filter((l) => ids.has(l.split(' ')[2] ?? '')),
      ...(overlay
        ? {
            overlayTrace: (probe.overlayLines ?? []).filter((l) =>
              ovIds.has(l.split(' ')[2] ?? ''),
            ),
            ...(farReply?.state === 'done'
              ? { remoteTrace: [...(farReply.lines ?? []), ...(farReply.overlayLines ?? [])] }
              : {}),
          }
        : {}),
    },
    ...report,
  };
}
