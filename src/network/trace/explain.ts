/**
 * A probe's trace explained (pure; decision 0033): the route in the
 * source's namespace, the veths and bridges from the store, each nftables
 * chain the probe passed and its verdict, NAT, the arrival or the drop —
 * and one plain sentence, using what Berth knows about its own chains:
 * a drop by the forward chain's bridge-to-bridge rule means the two
 * networks are isolated; a DNAT in `ports` is a published port.
 */
import { TABLE } from '../../kernel/firewall/ruleset.js';
import type { StoreNetwork } from '../graph/snapshot.js';
import { VXLAN_PORT } from '../../kernel/firewall/ruleset.js';
import { ruleWords, type TraceEvent } from './parse.js';
import { encapsulated, overlayEnd, overlayHops, vxlanHop, type OverlayFacts } from './overlay.js';
import type { Party, Plan, Target } from './resolve.js';

export interface Hop {
  /** Where: `route`, `veth`, `nft inet berth forward`, `nat`, `arrival`... */
  at: string;
  what: string;
}

export interface TraceReport {
  outcome: 'delivered' | 'dropped' | 'no-listener' | 'unknown';
  hops: Hop[];
  sentence: string;
}

export interface ExplainInput {
  src: Party;
  dst: Party;
  target: Target;
  plan: Plan;
  route: { dev?: string; gateway?: string; prefsrc?: string; type?: string; error?: string };
  /** The probe's events (parse.ts `probeEvents`). */
  events: TraceEvent[];
  /** The probe's own table (its chains are not hops). */
  table: string;
  networks: StoreNetwork[];
  /** The destination container has a socket on the port (undefined: not asked). */
  listening?: boolean;
  /** The destination is another host's container, over this overlay network. */
  overlay?: OverlayFacts;
}

const [BERTH_FAMILY, BERTH_TABLE] = TABLE.split(' ') as [string, string];

function label(p: Party): string {
  return p.kind === 'container' || p.kind === 'remote'
    ? p.name
    : p.kind === 'world'
      ? 'world'
      : p.ip;
}

function portText(t: Target, port?: number): string {
  return port === undefined ? ' (ICMP echo)' : `:${port}/${t.proto}`;
}

/** Why Berth's own rule dropped the packet, in its own words. */
function dropReason(e: TraceEvent, packet: TraceEvent | undefined, nets: StoreNetwork[]): string {
  const netOf = (ifname?: string) =>
    nets.find((n) => n.bridge !== undefined && n.bridge === ifname)?.name ?? ifname ?? '?';
  const iif = packet?.packet?.iif;
  const oif = packet?.packet?.oif;
  const rule = e.rule ?? '';
  if (e.family === BERTH_FAMILY && e.table === BERTH_TABLE) {
    if (e.chain === 'forward' && rule === 'iifname @bridges oifname @bridges drop') {
      return `${netOf(iif)} and ${netOf(oif)} are isolated from each other`;
    }
    if (e.chain === 'forward' && rule.startsWith('iifname @internal')) {
      return `network ${netOf(iif)} is internal: nothing leaves it`;
    }
    if (e.chain === 'forward' && rule.startsWith('oifname @internal')) {
      return `network ${netOf(oif)} is internal: nothing enters it from outside`;
    }
    if (e.chain === 'forward' && rule === 'oifname @bridges drop') {
      return `${netOf(oif)} takes no connections from outside except to published ports`;
    }
    if (e.chain === 'intra' && rule === 'drop') {
      return `containers on ${netOf(iif)} may not reach each other (icc is off)`;
    }
    if (rule.includes('udp dport 4789')) return 'containers may not send to the VXLAN port 4789';
    if (rule.includes('127.0.0.0/8') || rule.includes('::1')) {
      return "containers may not reach the host's loopback addresses";
    }
  }
  return ruleWords(e);
}

/** The hops and the sentence. */
export function explain(x: ExplainInput): TraceReport {
  const hops: Hop[] = [];
  const nets = x.networks;
  const bridgeOf = (networkId: string) => nets.find((n) => n.id === networkId);
  const dstText = `${x.plan.dst}${portText(x.target, x.plan.port)}`;
  const r = x.route;
  // `world` is probed from the host's own namespace (decision 0033).
  const from = x.src.kind === 'world' ? 'this host (for world)' : label(x.src);
  hops.push({
    at: 'route',
    what: r.error
      ? `in ${from}: no route to ${x.plan.dst}: ${r.error}`
      : `in ${from}: to ${x.plan.dst} ${r.type === 'local' ? 'is local' : `dev ${r.dev ?? '?'}`}` +
        `${r.gateway ? ` via ${r.gateway}` : ''}${r.prefsrc ? ` src ${r.prefsrc}` : ''}`,
  });
  if (r.error) {
    return {
      outcome: 'dropped',
      hops,
      sentence: `dropped: ${label(x.src)} has no route to ${x.plan.dst}`,
    };
  }
  const se = x.plan.srcEndpoint;
  if (se) {
    const n = bridgeOf(se.networkId);
    const br = n?.bridge ?? (x.overlay ? `br0 in ${x.overlay.nsName}` : '?');
    hops.push({
      at: 'veth',
      what: `${se.ifName} in ${label(x.src)} ↔ ${se.hostIf ?? '?'} on ${br} (network ${n?.name ?? se.networkId})`,
    });
  }
  // Another host's container: br0 and vxlan0 in the overlay's namespace, then the tunnel.
  const seen = x.overlay ? encapsulated(x.events, VXLAN_PORT) : undefined;
  if (x.overlay) {
    const ov = overlayHops(x.overlay);
    hops.push(...ov.hops);
    hops.push(vxlanHop(x.overlay, seen));
    if (ov.drop) return { outcome: 'dropped', hops, sentence: `dropped: ${ov.drop}` };
  }
  // Chains, in order: a chain's rules with a verdict other than continue, its end.
  let lastPacket: TraceEvent | undefined;
  let drop: { e: TraceEvent; packet?: TraceEvent } | undefined;
  let dnatTo: string | undefined;
  let sawDnat = false;
  const ours = (e: TraceEvent) => e.table === x.table;
  for (const e of x.events) {
    if (e.kind === 'packet') {
      if (sawDnat && !dnatTo && e.packet?.daddr && e.packet.daddr !== x.plan.dst) {
        dnatTo = `${e.packet.daddr}${e.packet.dport ? `:${e.packet.dport}` : ''}`;
      }
      lastPacket = e;
      if (ours(e)) continue;
      const p = e.packet ?? {};
      const ifs = [p.iif ? `in ${p.iif}` : '', p.oif ? `out ${p.oif}` : '']
        .filter(Boolean)
        .join(' ');
      hops.push({
        at: `nft ${e.family} ${e.table} ${e.chain}`,
        what: `seen${ifs ? ` (${ifs})` : ''}`,
      });
      continue;
    }
    if (ours(e)) continue;
    const v = e.verdict ?? '';
    const last = hops[hops.length - 1]!;
    // A rule of a chain jumped to (`ports`, `intra`) is named with it.
    const inChain = last.at.endsWith(` ${e.chain}`) ? '' : `${e.chain}: `;
    if (e.kind === 'rule' && v !== 'continue') {
      last.what += `; ${inChain}rule "${e.rule}" → ${v}`;
      if (/^dnat /.test(e.rule ?? '')) sawDnat = true;
    } else if (e.kind === 'policy' || (e.kind === 'verdict' && v !== 'continue')) {
      last.what += `; ${inChain}${e.kind} ${v}`;
    }
    if (v === 'drop' && !drop) drop = { e, ...(lastPacket ? { packet: lastPacket } : {}) };
  }
  if (sawDnat || x.plan.published) {
    const pub = x.plan.published;
    const to =
      dnatTo ??
      (x.plan.dstEndpoint
        ? `${x.plan.dstEndpoint.ipv4?.split('/')[0]}:${pub?.containerPort}`
        : '?');
    hops.push({ at: 'nat', what: `destination ${x.plan.dst}:${x.plan.port} rewritten to ${to}` });
  }
  if (drop) {
    return {
      outcome: 'dropped',
      hops,
      sentence: `dropped: ${dropReason(drop.e, drop.packet, nets)}`,
    };
  }
  if (x.overlay) return overlayEnd(x.overlay, seen, label(x.src), hops, x.target);
  const de = x.plan.dstEndpoint;
  if (x.dst.kind === 'container' && de) {
    const n = bridgeOf(de.networkId);
    hops.push({
      at: 'veth',
      what: `${de.hostIf ?? '?'} on ${n?.bridge ?? '?'} (network ${n?.name ?? de.networkId}) ↔ ${de.ifName} in ${x.dst.name}`,
    });
    const addr = `${de.ipv4?.split('/')[0]}:${x.plan.published?.containerPort ?? x.target.port}`;
    const pub = x.plan.published
      ? `published port ${x.plan.published.hostPort} → ${x.dst.name}:${x.plan.published.containerPort}`
      : '';
    if (x.target.port !== undefined && x.listening === false) {
      hops.push({ at: 'arrival', what: `no socket on ${addr}/${x.target.proto} in ${x.dst.name}` });
      return {
        outcome: 'no-listener',
        hops,
        sentence: `${pub ? `${pub}, but ` : ''}no container listens on ${addr}`,
      };
    }
    hops.push({
      at: 'arrival',
      what: `${x.dst.name} (${x.target.port === undefined ? de.ipv4?.split('/')[0] : addr})`,
    });
    return {
      outcome: 'delivered',
      hops,
      sentence: pub
        ? `delivered: ${pub} (${addr})`
        : `delivered: ${label(x.src)} → ${x.dst.name} (${dstText})`,
    };
  }
  const leaves = x.route.type === 'local' ? 'this host' : `dev ${x.route.dev ?? '?'}`;
  hops.push({ at: 'arrival', what: `${x.plan.dst} by ${leaves}` });
  return {
    outcome: 'delivered',
    hops,
    sentence: `delivered: ${label(x.src)} → ${label(x.dst)} (${dstText}), by ${leaves}`,
  };
}

/** The report as text lines for a terminal. */
export function renderReport(src: string, dst: string, r: TraceReport): string {
  const width = Math.max(...r.hops.map((h) => h.at.length), 5);
  const lines = [`trace ${src} → ${dst}`];
  r.hops.forEach((h, i) =>
    lines.push(`${String(i + 1).padStart(2)}. ${h.at.padEnd(width)}  ${h.what}`),
  );
  lines.push(r.sentence);
  return lines.join('\n') + '\n';
}
