/**
 * The network graph's model types (pure): nodes (links, containers,
 * published ports, DNS listeners, other hosts), edges between them, the
 * problems found, and the helpers the builder's parts share (model.ts,
 * endpoint.ts, overlay.ts).
 */
import type {
  GraphLink,
  KernelSnapshot,
  NamespaceRead,
  NamespaceState,
  StoreNetwork,
  StoreSnapshot,
} from './snapshot.js';

/** How a node or edge compares between store and kernel. */
export type GraphState =
  /** Both agree. */
  | 'ok'
  /** In the kernel, wanted by no record. */
  | 'leak'
  /** Wanted by a record, not in the kernel. */
  | 'missing'
  /** In both, but not as the record says. */
  | 'mismatch'
  /** On a bridge the user made and not Berth's: shown, left alone. */
  | 'foreign'
  /** Given up by Berth and being deleted (the reaper's group). */
  | 'reaping';

export type NodeKind =
  | 'uplink'
  | 'bridge'
  | 'veth'
  | 'interface'
  | 'container'
  | 'port'
  | 'dns'
  | 'vxlan'
  | 'remote-host'
  | 'link';

export interface GraphNode {
  id: string;
  kind: NodeKind;
  name: string;
  /** Interface index in its namespace. */
  ifindex?: number;
  /** Namespace id (Graph.namespaces), or `remote` for other hosts. */
  ns: string;
  /** The network it belongs to (its name). */
  network?: string;
  addresses?: string[];
  mac?: string;
  /** Short facts shown after the name (VNI, "internal", a peer's index...). */
  notes?: string[];
  state: GraphState;
}

export type EdgeKind =
  /** A bridge and one of its ports. */
  | 'port'
  /** The two ends of a veth pair. */
  | 'pair'
  /** An interface and the container it is in. */
  | 'in'
  /** Masquerade from a bridge out of the uplink. */
  | 'nat'
  /** A published port's DNAT to a container's address. */
  | 'dnat'
  /** A DNS listener on a bridge's gateway. */
  | 'dns'
  /** A VXLAN device's tunnel to another host. */
  | 'tunnel'
  /** A VXLAN device's UDP socket on the host's underlay. */
  | 'underlay';

export interface GraphEdge {
  from: string;
  to: string;
  kind: EdgeKind;
  label?: string;
  state: GraphState;
}

export interface Problem {
  kind: 'leak' | 'missing' | 'mismatch';
  /** The node drawn for it, if any. */
  node?: string;
  message: string;
}

export interface GraphNamespace {
  id: string;
  kind: 'host' | 'container' | 'overlay';
  label: string;
  state: GraphState;
}

export interface GraphNetwork {
  id: string;
  name: string;
  driver: string;
  scope: string;
  subnets: string[];
  /** The node of its bridge (br0 in its namespace for an overlay). */
  bridge?: string;
}

export interface Graph {
  host: { name: string; advertise?: string };
  networks: GraphNetwork[];
  namespaces: GraphNamespace[];
  nodes: GraphNode[];
  edges: GraphEdge[];
  problems: Problem[];
}

/** What buildGraph is asked for: some networks only (their IDs), else everything. */
export interface GraphFilter {
  networks?: string[];
}

/** Collects nodes, edges and problems; a node added twice keeps its first version. */
export class GraphBuilder {
  readonly nodes = new Map<string, GraphNode>();
  readonly edges: GraphEdge[] = [];
  readonly problems: Problem[] = [];
  readonly namespaces = new Map<string, GraphNamespace>();

  node(n: GraphNode): GraphNode {
    const had = this.nodes.get(n.id);
    if (had) return had;
    this.nodes.set(n.id, n);
    return n;
  }

  edge(e: GraphEdge): void {
    this.edges.push(e);
  }

  /** A problem; `node` (if any) takes its state, unless `mark` is false (an edge shows it). */
  problem(kind: Problem['kind'], message: string, node?: GraphNode, mark = true): void {
    if (mark && node && node.state === 'ok') node.state = kind;
    this.problems.push({ kind, message, ...(node ? { node: node.id } : {}) });
  }

  namespace(ns: GraphNamespace): void {
    if (!this.namespaces.has(ns.id)) this.namespaces.set(ns.id, ns);
  }
}

/** A namespace's links and addresses, looked up by name and index. */
export class Ns {
  readonly byName = new Map<string, GraphLink>();
  readonly byIndex = new Map<number, GraphLink>();
  constructor(readonly state: NamespaceState) {
    for (const l of state.links) {
      this.byName.set(l.name, l);
      this.byIndex.set(l.index, l);
    }
  }
  addresses(index: number | undefined): string[] {
    if (index === undefined) return [];
    // IPv6 link-local addresses are every link's: left out of the picture.
    return this.state.addresses
      .filter((a) => a.index === index && !/^fe80:/i.test(a.cidr))
      .map((a) => a.cidr);
  }
  ports(master: number): GraphLink[] {
    return this.state.links.filter((l) => l.master === master);
  }
}

/** A namespace read, or undefined with the reason. */
export function readNs(r: NamespaceRead | undefined): Ns | undefined {
  return r && !('error' in r) ? new Ns(r) : undefined;
}

/** The peer of a veth, as the kernel says where it is. */
export function peerNote(l: GraphLink, ns: Ns): string | undefined {
  if (l.parent === undefined) return undefined;
  if (l.parentNetnsId === undefined) {
    const p = ns.byIndex.get(l.parent);
    return p ? `peer ${p.name} [${p.index}] in the same namespace` : `peer [${l.parent}]`;
  }
  return `peer [${l.parent}] in netns id ${l.parentNetnsId}`;
}

/** What the parts of the builder share. */
export interface Ctx {
  g: GraphBuilder;
  store: StoreSnapshot;
  kernel: KernelSnapshot;
  host: Ns;
  uplink?: GraphNode;
  /** Links accounted for, as `<ns id>/<name>`. */
  used: Set<string>;
  /** Published ports' DNAT elements an endpoint claimed (portKey). */
  portsSeen: Set<string>;
  /** Bridges' ports no endpoint has, drawn after the endpoints' (bridgePorts). */
  later: Array<() => void>;
}

/** The node id of a network's bridge. */
export function bridgeNodeId(net: StoreNetwork): string | undefined {
  if (net.driver === 'bridge' && net.bridge) return `host/${net.bridge}`;
  if (net.driver === 'overlay') return `overlay:${net.id}/br0`;
  return undefined;
}
