/**
 * The network graph in Graphviz's dot language (pure): one cluster per
 * namespace (the host, each container, each overlay network's), other hosts
 * outside them, and what is not in agreement between the store and the
 * kernel in red. `dot -Tsvg` / `-Tpng` lays it out (the CLI runs it;
 * docs/decisions/0030-network-graph.md says why Graphviz).
 */
import type { Graph, GraphEdge, GraphNode, GraphState } from './nodes.js';

const BAD: ReadonlySet<GraphState> = new Set(['leak', 'missing', 'mismatch']);
const RED = '#d00000';
const GREY = '#808080';

/** A dot string literal. */
const q = (s: string): string =>
  `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

const SHAPES: Record<GraphNode['kind'], string> = {
  uplink: 'shape=box, style="rounded,bold"',
  bridge: 'shape=box, style="rounded,filled", fillcolor="#e8f0fe"',
  veth: 'shape=box, style=rounded',
  interface: 'shape=box, style=rounded',
  container: 'shape=box3d',
  port: 'shape=cds',
  dns: 'shape=note',
  vxlan: 'shape=box, style="rounded,filled", fillcolor="#f3e5f5"',
  'remote-host': 'shape=box3d, style=bold',
  link: 'shape=box, style=dashed',
};

function label(n: GraphNode): string {
  const head = n.kind === 'bridge' || n.kind === 'uplink' ? `${n.kind} ${n.name}` : n.name;
  const lines = [n.ifindex === undefined ? head : `${head} [${n.ifindex}]`];
  if (n.network && (n.kind === 'bridge' || n.kind === 'vxlan')) lines.push(`network ${n.network}`);
  lines.push(...(n.addresses ?? []));
  if (n.mac) lines.push(n.mac);
  lines.push(...(n.notes ?? []));
  if (BAD.has(n.state)) lines.push(n.state.toUpperCase());
  return lines.join('\n');
}

function nodeLine(n: GraphNode): string {
  const attrs = [`label=${q(label(n))}`, SHAPES[n.kind]];
  if (BAD.has(n.state)) attrs.push(`color="${RED}", fontcolor="${RED}", penwidth=2`);
  else if (n.state === 'reaping' || n.state === 'foreign')
    attrs.push(`color="${GREY}", fontcolor="${GREY}"`);
  return `${q(n.id)} [${attrs.join(', ')}];`;
}

const EDGE_STYLE: Record<GraphEdge['kind'], string> = {
  port: 'arrowhead=none',
  pair: 'arrowhead=none, style=bold, color="#1a73e8"',
  in: 'arrowhead=none, style=dotted',
  nat: 'style=dashed',
  dnat: 'style=dashed',
  dns: 'arrowhead=none, style=dotted',
  tunnel: 'style=bold, color="#7b1fa2"',
  underlay: 'style=dotted',
};

function edgeLine(e: GraphEdge): string {
  const attrs = [EDGE_STYLE[e.kind]];
  if (e.label) attrs.push(`label=${q(e.label)}`);
  if (BAD.has(e.state)) attrs.push(`color="${RED}", fontcolor="${RED}", penwidth=2`);
  return `${q(e.from)} -> ${q(e.to)} [${attrs.join(', ')}];`;
}

export function renderDot(graph: Graph): string {
  const out: string[] = [];
  const where = graph.host.advertise ? ` (${graph.host.advertise})` : '';
  const problems = graph.problems.length;
  const title =
    `Berth's networks on host ${graph.host.name}${where}` +
    (problems ? `\n${problems} problem${problems === 1 ? '' : 's'}: in red` : '');
  out.push('digraph berth {');
  out.push(
    `  graph [rankdir=LR, fontname="Helvetica", fontsize=12, labelloc=t, label=${q(title)}${problems ? `, fontcolor="${RED}"` : ''}];`,
  );
  out.push('  node [fontname="Helvetica", fontsize=10];');
  out.push('  edge [fontname="Helvetica", fontsize=9];');
  graph.namespaces.forEach((ns, i) => {
    const members = graph.nodes.filter((n) => n.ns === ns.id);
    if (!members.length) return;
    out.push(`  subgraph cluster_${i} {`);
    // Set either way: a cluster takes the title's colour otherwise.
    const color = BAD.has(ns.state) ? `, color="${RED}", fontcolor="${RED}"` : ', fontcolor=black';
    const style = ns.kind === 'host' ? '' : ', style="rounded,dashed"';
    out.push(`    graph [label=${q(ns.label)}${style}${color}];`);
    for (const n of members) out.push(`    ${nodeLine(n)}`);
    out.push('  }');
  });
  const clustered = new Set(graph.namespaces.map((n) => n.id));
  for (const n of graph.nodes) if (!clustered.has(n.ns)) out.push(`  ${nodeLine(n)}`);
  for (const e of graph.edges) out.push(`  ${edgeLine(e)}`);
  out.push('}');
  return out.join('\n') + '\n';
}
