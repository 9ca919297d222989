/**
 * What the network graph is drawn from (docs/decisions/0030-network-graph.md):
 * two plain-data snapshots taken at one moment, the store's (intent: networks,
 * endpoints, published ports, the cluster's hosts and other hosts' endpoints)
 * and the kernel's (links, addresses, default routes, FDB entries of each
 * namespace Berth uses, Berth's nftables sets, the DNS listeners). Types
 * only: collect.ts takes them, model.ts turns them into a graph, and unit
 * tests write them by hand.
 */
import type { BridgeSpec, PortMapping } from '../../kernel/firewall/index.js';
import type { Address, Link } from '../../kernel/netlink/index.js';
import type { PublishedPort } from '../ports/spec.js';

/** A link as the graph needs it (the kernel's Link is one). */
export type GraphLink = Pick<
  Link,
  | 'index'
  | 'name'
  | 'kind'
  | 'master'
  | 'parent'
  | 'parentNetnsId'
  | 'up'
  | 'mac'
  | 'group'
  | 'vxlan'
>;

/** One network namespace as read: its links, addresses, default routes and VXLAN FDB entries. */
export interface NamespaceState {
  links: GraphLink[];
  addresses: Array<Pick<Address, 'index' | 'cidr' | 'family'>>;
  /** Default routes only: the link they leave by and their gateway. */
  defaultRoutes: Array<{ family: 4 | 6; oif?: number; gateway?: string }>;
  /** FDB entries that name a remote tunnel endpoint (a VXLAN device's). */
  fdb?: Array<{ index: number; mac: string; dst: string }>;
}

/** A namespace read, or why it could not be (gone, not a namespace). */
export type NamespaceRead = NamespaceState | { error: string };

/** The kernel's side. */
export interface KernelSnapshot {
  /** The daemon's (the host's) namespace. */
  host: NamespaceState;
  /** Berth's nftables table: bridges in its sets, and the published ports' DNAT elements. */
  firewall: { bridges: BridgeSpec[]; ports: PortMapping[] };
  /** Containers' namespaces, by container ID (those the store has endpoints of). */
  sandboxes: Record<string, NamespaceRead>;
  /** Overlay networks' namespaces on this host, by network ID (those that exist or should). */
  overlays: Record<string, NamespaceRead>;
  /** Berth's DNS listeners; `netns` set for one inside an overlay network's namespace. */
  dns: Array<{ address: string; port: number; netns?: string; networkId?: string }>;
}

/** A network as the store has it, reduced to what the graph shows. */
export interface StoreNetwork {
  id: string;
  name: string;
  driver: string;
  scope: 'local' | 'global' | 'swarm';
  internal: boolean;
  /** Bridge networks: the Linux bridge's name. */
  bridge?: string;
  /** Bridge networks: Berth made the bridge (false: the user's, decision 0017). */
  bridgeCreated?: boolean;
  /** Bridge networks: containers reach each other; outgoing traffic masqueraded. */
  icc?: boolean;
  masquerade?: boolean;
  /** Gateway addresses with their prefix (`172.18.0.1/16`). */
  gateways: string[];
  /** Subnets (`172.18.0.0/16`). */
  subnets: string[];
  /** Berth's DNS answers on its gateway. */
  servesDns: boolean;
  /** Overlay networks: the VXLAN ID. */
  vni?: number;
}

/** This host's endpoint of a container on a network, as stored. */
export interface StoreEndpoint {
  id: string;
  networkId: string;
  containerId: string;
  /** The interface's name inside the container. */
  ifName: string;
  /** The other end of the veth (on the bridge), once made. */
  hostIf?: string;
  /** `address/prefix`. */
  ipv4?: string;
  ipv6?: string;
  mac?: string;
  state: 'attaching' | 'ready';
  /** Host ports published through it. */
  ports: PublishedPort[];
}

/** Another host's endpoint of a global network, as the cluster store has it. */
export interface StoreRemoteEndpoint {
  id: string;
  networkId: string;
  containerId: string;
  name: string;
  /** `address/prefix`. */
  ipv4: string;
  mac: string;
  /** The host it lives on (its advertise address) and that host's tunnel source. */
  node: string;
  vtep: string;
}

/** The store's side. */
export interface StoreSnapshot {
  /** This host: its name, and in a cluster its advertise address and tunnel source. */
  host: { name: string; advertise?: string; vtep?: string };
  networks: StoreNetwork[];
  /** This host's endpoints. */
  endpoints: StoreEndpoint[];
  /** Other hosts' endpoints of global networks. */
  remote: StoreRemoteEndpoint[];
  /** The cluster's registered hosts (undefined outside a cluster). */
  hosts?: Array<{ address: string; name: string }>;
  /** Containers by ID: their names and whether they run. */
  containers: Record<string, { name: string; running: boolean }>;
}
