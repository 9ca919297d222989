/**
 * Reading Berth's elements back from the kernel (libnftables' JSON listing) and
 * comparing them with what the store wants (pure). Both sides are reduced to
 * the same canonical element text, so the difference is exact and the repair
 * touches only elements that are wrong.
 */
import { formatIp, tryParseIp } from './addr.js';
import {
  addCommands,
  bridgeElements,
  controlElement,
  deleteCommands,
  portElement,
  SET_NAMES,
  type BridgeSpec,
  type ControlEndpoint,
  type Element,
  type PortMapping,
  type Proto,
  type SetName,
} from './ruleset.js';

/** What Berth's sets and maps say, or should say. */
export interface FirewallState {
  /** Bridges and their options. */
  bridges: BridgeSpec[];
  /** Published ports. */
  ports: PortMapping[];
  /** The cluster's control plane on other hosts, kept from containers (decision 0040). */
  control?: ControlEndpoint[];
}

/** A dump: the elements understood, and any Berth cannot express (a user's edits). */
export interface Dump {
  /** True when the table exists. */
  present: boolean;
  /** Elements in canonical text. */
  elements: Element[];
  /** Set names that ensureBase would create but are missing. */
  missingSets: SetName[];
  /** Elements in Berth's sets that are not Berth's shape (e.g. a wildcard name), as raw JSON. */
  foreign: { set: string; elem: unknown }[];
  /** The table's chains and how many rules each has. */
  chains: Record<string, number>;
}

const PROTOS: Record<string, Proto> = {
  tcp: 'tcp',
  udp: 'udp',
  sctp: 'sctp',
  '6': 'tcp',
  '17': 'udp',
  '132': 'sctp',
};

class Foreign extends Error {}

function ifname(x: unknown): string {
  if (typeof x !== 'string' || !/^[A-Za-z0-9_.-]{1,15}$/.test(x)) throw new Foreign();
  return `"${x}"`;
}

function addr(x: unknown): string {
  const a = typeof x === 'string' ? tryParseIp(x) : undefined;
  if (!a) throw new Foreign();
  return formatIp(a);
}

function proto(x: unknown): string {
  const p = PROTOS[String(x)];
  if (!p) throw new Foreign();
  return p;
}

function port(x: unknown): string {
  const n = typeof x === 'number' ? x : typeof x === 'string' && /^\d+$/.test(x) ? Number(x) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Foreign();
  return String(n);
}

function concat(x: unknown, n: number): unknown[] {
  const c = (x as { concat?: unknown } | null)?.concat;
  if (!Array.isArray(c) || c.length !== n) throw new Foreign();
  return c;
}

/** Per set: JSON element → canonical key and value. */
const READERS: Record<SetName, (e: unknown) => { key: string; value?: string }> = {
  bridges: (e) => ({ key: ifname(e) }),
  icc: (e) => ({ key: ifname(e) }),
  internal: (e) => ({ key: ifname(e) }),
  masq4: (e) => ({ key: ifname(e) }),
  masq6: (e) => ({ key: ifname(e) }),
  'same-bridge': (e) => {
    const [a, b] = concat(e, 2);
    return { key: `${ifname(a)} . ${ifname(b)}` };
  },
  ports4: (e) => portsEl(e, false),
  ports6: (e) => portsEl(e, false),
  'ports-addr4': (e) => portsEl(e, true),
  'ports-addr6': (e) => portsEl(e, true),
  control4: (e) => controlEl(e),
  control6: (e) => controlEl(e),
};

function controlEl(e: unknown) {
  const [a, p] = concat(e, 2);
  return { key: `${addr(a)} . ${port(p)}` };
}

function portsEl(e: unknown, withAddr: boolean) {
  if (!Array.isArray(e) || e.length !== 2) throw new Foreign();
  const k = concat(e[0], withAddr ? 3 : 2);
  const [vaddr, vport] = concat(e[1], 2);
  const head = withAddr ? `${addr(k[0])} . ` : '';
  const [p, hp] = withAddr ? [k[1], k[2]] : [k[0], k[1]];
  return { key: `${head}${proto(p)} . ${port(hp)}`, value: `${addr(vaddr)} . ${port(vport)}` };
}

/** Parses the JSON of `list table inet berth` (libnftables' JSON output). */
export function parseDump(json: unknown): Dump {
  const items = (json as { nftables?: unknown } | null)?.nftables;
  if (!Array.isArray(items)) throw new Error('unexpected nftables JSON: no "nftables" array');
  const dump: Dump = { present: false, elements: [], missingSets: [], foreign: [], chains: {} };
  const seen = new Set<string>();
  for (const item of items as Record<string, unknown>[]) {
    if (item.table) dump.present = true;
    const chain = (item.chain as { name?: unknown } | undefined)?.name;
    if (typeof chain === 'string') dump.chains[chain] ??= 0;
    const ruleOf = (item.rule as { chain?: unknown } | undefined)?.chain;
    if (typeof ruleOf === 'string') dump.chains[ruleOf] = (dump.chains[ruleOf] ?? 0) + 1;
    const s = (item.set ?? item.map) as { name?: string; elem?: unknown[] } | undefined;
    if (!s || typeof s.name !== 'string') continue;
    seen.add(s.name);
    // A set of the user's own in Berth's table is theirs to keep.
    const read = READERS[s.name as SetName];
    if (!read) continue;
    for (const raw of s.elem ?? []) {
      // Elements with a timeout or counter come wrapped as {"elem": {"val": ...}}.
      const e = (raw as { elem?: { val?: unknown } } | null)?.elem?.val ?? raw;
      try {
        dump.elements.push({ set: s.name as SetName, ...read(e) });
      } catch (err) {
        if (!(err instanceof Foreign)) throw err;
        dump.foreign.push({ set: s.name, elem: raw });
      }
    }
  }
  if (dump.present) dump.missingSets = SET_NAMES.filter((n) => !seen.has(n));
  return dump;
}

/** The elements a desired state needs (validates every value on the way). */
export function desiredElements(state: FirewallState): Element[] {
  return [
    ...state.bridges.flatMap((b) => bridgeElements(b).present),
    ...state.ports.map(portElement),
    ...(state.control ?? []).map(controlElement),
  ];
}

const id = (e: Element): string => `${e.set} ${e.key}`;

/** Commands that turn `actual` into `desired`: deletes first, then adds, set by set; empty when equal. */
export function diffCommands(desired: Element[], actual: Element[]): string[] {
  const want = new Map(desired.map((e) => [id(e), e]));
  const have = new Map(actual.map((e) => [id(e), e]));
  const del: Element[] = [];
  const add: Element[] = [];
  for (const [k, e] of have) {
    const w = want.get(k);
    if (!w || w.value !== e.value) del.push(e);
  }
  for (const [k, e] of want) {
    const h = have.get(k);
    if (!h || h.value !== e.value) add.push(e);
  }
  // In the sets' order (the kernel lists them so; the memory back-end by insertion).
  const order = (e: Element) => SET_NAMES.indexOf(e.set);
  const bySet = (a: Element, b: Element) => order(a) - order(b);
  return [...deleteCommands(del.sort(bySet)), ...addCommands(add.sort(bySet))];
}

const unq = (s: string): string => s.replace(/^"|"$/g, '');

/** Rebuilds bridges and ports from canonical elements (what the kernel says Berth has). */
export function stateFromElements(els: Element[]): FirewallState {
  const by = (set: SetName) => els.filter((e) => e.set === set);
  const member = new Map<string, Set<string>>();
  for (const e of els) {
    if (e.value !== undefined || e.set.startsWith('ports') || e.set.startsWith('control')) continue;
    // same-bridge keys are `"x" . "x"`; a bridge is any name in any set.
    const name = unq(e.key.split(' . ')[0] as string);
    member.set(name, (member.get(name) ?? new Set()).add(e.set));
  }
  const bridges = [...member.keys()].sort().map((name): BridgeSpec => {
    const sets = member.get(name) as Set<string>;
    return {
      name,
      icc: sets.has('icc'),
      internal: sets.has('internal'),
      masquerade: sets.has('masq4'),
      masquerade6: sets.has('masq6'),
    };
  });
  const ports: PortMapping[] = [];
  for (const set of ['ports4', 'ports6', 'ports-addr4', 'ports-addr6'] as const) {
    for (const e of by(set)) {
      const k = e.key.split(' . ');
      const [cip, cport] = (e.value ?? '').split(' . ') as [string, string];
      const [hostIp, p, hp] = k.length === 3 ? k : [undefined, ...k];
      ports.push({
        proto: p as Proto,
        ...(hostIp ? { hostIp } : {}),
        hostPort: Number(hp),
        containerIp: cip,
        containerPort: Number(cport),
      });
    }
  }
  const control = [...by('control4'), ...by('control6')].map((e): ControlEndpoint => {
    const at = e.key.lastIndexOf(' . ');
    return { ip: e.key.slice(0, at), port: Number(e.key.slice(at + 3)) };
  });
  return { bridges, ports, ...(control.length ? { control } : {}) };
}
