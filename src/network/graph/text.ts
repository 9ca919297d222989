/**
 * The network graph as text for an 80-column terminal (pure): the uplink,
 * then a tree per bridge (NAT, DNS, each port with the veth's other end, the
 * container, its addresses and published ports; an overlay's VXLAN device
 * with its tunnels), then what belongs to no bridge, then the problems.
 * Anything not in agreement is marked ([LEAK], [MISSING], [MISMATCH]) and,
 * with `color`, red.
 */
import type { Graph, GraphEdge, GraphNode, GraphState } from './nodes.js';

/** The model's type, for the CLI (which may import this module only: it is pure). */
export type { Graph } from './nodes.js';

export interface TextOptions {
  /** Columns (default 80). */
  width?: number;
  /** ANSI red for what is not in agreement. */
  color?: boolean;
}

interface Line {
  /** Tree prefix of the first line and of continuation lines. */
  first: string;
  rest: string;
  text: string;
  bad: boolean;
}

const BAD: ReadonlySet<GraphState> = new Set(['leak', 'missing', 'mismatch']);
const mark = (s: GraphState): string => (BAD.has(s) ? `  [${s.toUpperCase()}]` : '');
/** A remote host's address after its name, unless the name is the address. */
const at = (h: GraphNode): string => {
  const a = h.addresses?.[0];
  return a && !h.name.endsWith(a) ? ` (${a})` : '';
};
const idx = (n: GraphNode | undefined): string =>
  n?.ifindex === undefined ? '' : ` [${n.ifindex}]`;

/** A node in one line: name [ifindex], addresses, notes, its state. */
function describe(n: GraphNode, withAddresses = true): string {
  const parts = [`${n.name}${idx(n)}`];
  if (withAddresses && n.addresses?.length) parts.push(n.addresses.join(' '));
  if (n.notes?.length) parts.push(n.notes.join(', '));
  return parts.join('  ') + mark(n.state);
}

/** Splits `text` at spaces so that every line fits `width` after its prefix. */
function wrap(l: Line, width: number): string[] {
  const out: string[] = [];
  let prefix = l.first;
  let cur = '';
  for (const word of l.text.split(' ')) {
    const room = width - prefix.length;
    if (cur && (cur + ' ' + word).length > room) {
      out.push(prefix + cur);
      prefix = l.rest;
      cur = word;
    } else cur = cur ? `${cur} ${word}` : word;
    // A single word longer than the room is cut into pieces.
    while (cur.length > width - prefix.length && width - prefix.length > 10) {
      const room2 = width - prefix.length;
      out.push(prefix + cur.slice(0, room2));
      prefix = l.rest;
      cur = cur.slice(room2);
    }
  }
  out.push(prefix + cur);
  return out.map((s) => s.trimEnd());
}

export function renderText(graph: Graph, opts: TextOptions = {}): string {
  const width = opts.width ?? 80;
  const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
  const from = (id: string, kind?: GraphEdge['kind']) =>
    graph.edges.filter((e) => e.from === id && (!kind || e.kind === kind));
  const to = (id: string, kind?: GraphEdge['kind']) =>
    graph.edges.filter((e) => e.to === id && (!kind || e.kind === kind));
  const shown = new Set<string>();
  const lines: Line[] = [];
  const line = (first: string, rest: string, text: string, bad = false) =>
    lines.push({ first, rest, text, bad });
  const blank = () => line('', '', '');

  const where = graph.host.advertise ? ` (${graph.host.advertise})` : '';
  line('', '  ', `Berth's networks on host ${graph.host.name}${where}`);
  for (const u of graph.nodes.filter((n) => n.kind === 'uplink')) {
    shown.add(u.id);
    line('', '  ', `uplink ${describe(u)}`, BAD.has(u.state));
  }

  /** The children of a bridge, each a head line and detail lines. */
  const children = (br: GraphNode): Array<{ head: string; bad: boolean; details: Line[] }> => {
    const out: Array<{ head: string; bad: boolean; details: Line[] }> = [];
    for (const e of from(br.id, 'nat')) {
      const u = nodes.get(e.to);
      out.push({
        head: `NAT ${e.label ?? ''} out of ${u?.name ?? '?'}${mark(e.state)}`,
        bad: BAD.has(e.state),
        details: [],
      });
    }
    for (const e of to(br.id, 'dns')) {
      const d = nodes.get(e.from)!;
      shown.add(d.id);
      out.push({ head: describe(d), bad: BAD.has(d.state), details: [] });
    }
    for (const e of from(br.id, 'port')) {
      const p = nodes.get(e.to)!;
      shown.add(p.id);
      out.push(p.kind === 'vxlan' ? vxlanChild(p) : portChild(p));
    }
    return out;
  };

  const portChild = (p: GraphNode) => {
    const details: Line[] = [];
    let head = describe(p);
    let bad = BAD.has(p.state);
    const pair = from(p.id, 'pair')[0];
    const iface = pair && nodes.get(pair.to);
    if (pair && iface) {
      shown.add(iface.id);
      const c = from(iface.id, 'in')
        .map((e) => nodes.get(e.to)!)
        .find(Boolean);
      if (c) shown.add(c.id);
      const who = c ? ` in ${c.name} (${c.notes?.[0] ?? ''})${mark(c.state)}` : '';
      head = `${describe(p)} <-> ${iface.name}${idx(iface)}${who}${mark(pair.state)}`;
      bad ||= BAD.has(pair.state) || BAD.has(c?.state ?? 'ok');
      const facts = [...(iface.addresses ?? []), ...(iface.mac ? [iface.mac] : [])];
      if (facts.length || BAD.has(iface.state)) {
        details.push({
          first: '',
          rest: '  ',
          text: facts.join('  ') + mark(iface.state),
          bad: BAD.has(iface.state),
        });
      }
      for (const d of to(iface.id, 'dnat')) {
        const port = nodes.get(d.from)!;
        shown.add(port.id);
        details.push({
          first: '',
          rest: '  ',
          text: `port ${port.name} -> ${d.label ?? ''}${mark(d.state === 'ok' ? port.state : d.state)}`,
          bad: BAD.has(port.state) || BAD.has(d.state),
        });
      }
    }
    return { head, bad, details };
  };

  const vxlanChild = (v: GraphNode) => {
    const details: Line[] = [];
    for (const e of from(v.id, 'tunnel')) {
      const h = nodes.get(e.to)!;
      shown.add(h.id);
      details.push({
        first: '',
        rest: '  ',
        text: `tunnel to ${h.name}${at(h)}: ${e.label ?? ''}${mark(e.state)}`,
        bad: BAD.has(e.state),
      });
      const here = `${v.network}: `;
      for (const n of h.notes ?? []) {
        if (n.startsWith(here))
          details.push({ first: '  ', rest: '    ', text: n.slice(here.length), bad: false });
      }
    }
    return { head: describe(v), bad: BAD.has(v.state), details };
  };

  const bridges = graph.nodes.filter((n) => n.kind === 'bridge');
  const nsLabel = new Map(graph.namespaces.map((n) => [n.id, n]));
  for (const br of bridges) {
    shown.add(br.id);
    blank();
    if (br.ns !== 'host') {
      const ns = nsLabel.get(br.ns);
      line('', '  ', `${ns?.label ?? br.ns}${mark(ns?.state ?? 'ok')}`, BAD.has(ns?.state ?? 'ok'));
    }
    const net = br.network ? `  network ${br.network}` : '';
    line(
      '',
      '  ',
      `bridge ${br.name}${idx(br)}${net}  ${(br.addresses ?? []).join(' ')}${br.notes?.length ? '  ' + br.notes.join(', ') : ''}${mark(br.state)}`,
      BAD.has(br.state),
    );
    const kids = children(br);
    kids.forEach((k, i) => {
      const last = i === kids.length - 1;
      const bar = last ? '    ' : '│   ';
      line(last ? '└── ' : '├── ', `${bar}  `, k.head, k.bad);
      for (const d of k.details) line(bar + '  ' + d.first, bar + '  ' + d.rest, d.text, d.bad);
    });
    if (!kids.length) line('└── ', '    ', '(no ports)');
  }

  const hosted = new Set(bridges.map((b) => b.network));
  const absent = graph.networks.filter(
    (n) => !hosted.has(n.name) && (n.driver === 'bridge' || n.driver === 'overlay'),
  );
  if (absent.length) blank();
  for (const n of absent) line('', '  ', `${n.driver} network ${n.name}: not on this host`);

  const rest = graph.nodes.filter((n) => !shown.has(n.id) && n.kind !== 'container');
  if (rest.length) {
    blank();
    line('', '  ', 'outside any bridge:');
    for (const n of rest) {
      const what = n.kind === 'remote-host' ? '' : `${n.kind} `;
      const plain = n.kind === 'remote-host' ? { ...n, notes: [] } : n;
      line('  ', '    ', `${what}${describe(plain)}`, BAD.has(n.state));
      if (n.kind === 'remote-host') for (const x of n.notes ?? []) line('    ', '      ', x);
    }
  }

  blank();
  const count = graph.problems.length;
  if (!count) line('', '  ', 'No problems: the store and the kernel agree.');
  else line('', '  ', `${count} problem${count === 1 ? '' : 's'}:`, true);
  for (const p of graph.problems)
    line('  ', ' '.repeat(12), `${p.kind.toUpperCase().padEnd(9)} ${p.message}`, true);

  const red = (s: string) => (opts.color ? `\x1b[31m${s}\x1b[0m` : s);
  return (
    lines.flatMap((l) => wrap(l, width).map((s) => (l.bad && s.trim() ? red(s) : s))).join('\n') +
    '\n'
  );
}
