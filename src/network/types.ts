/** The Container Network Model's records and the driver interface. */
import type { Rtnl } from '../kernel/netlink/index.js';

export interface IpamConfig {
  Subnet?: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

/** A network as Docker's `GET /networks/{id}` shows it (without Containers). */
export interface NetworkRecord {
  Name: string;
  Id: string;
  Created: string;
  Scope: 'local' | 'global' | 'swarm';
  Driver: string;
  EnableIPv4: boolean;
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: IpamConfig[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  /** Berth's own facts about the network: stored, never shown by the API. */
  berth?: BerthNetworkState;
}

/**
 * A container's view of one network (inspect's `NetworkSettings.Networks`
 * values, and the `EndpointConfig` a client sends): the network's type, which
 * the container record holds.
 */
export interface EndpointSettings {
  IPAMConfig: unknown;
  Links: string[] | null;
  Aliases: string[] | null;
  MacAddress: string;
  DriverOpts: Record<string, string> | null;
  GwPriority?: number;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  DNSNames: string[] | null;
}

/**
 * An EndpointSettings with every field at Go's zero value, in the order Go
 * marshals them: a container's view of a network before its endpoint exists,
 * and the base of the CLI's EndpointConfig (pure, shared by both).
 */
export function emptyEndpointSettings(networkId = ''): EndpointSettings {
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: null,
    MacAddress: '',
    DriverOpts: null,
    GwPriority: 0,
    NetworkID: networkId,
    EndpointID: '',
    Gateway: '',
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    DNSNames: null,
  };
}

/** What Berth keeps about a network's kernel side (decision 0017). */
export interface BerthNetworkState {
  /**
   * Bridge networks: whether Berth made the bridge. false: a bridge the user
   * made beforehand, which Berth uses but never deletes (nor puts in the
   * reaper's group).
   */
  bridgeCreated?: boolean;
  /** Overlay networks: the VXLAN network identifier, cluster-wide. */
  vni?: number;
  /**
   * Overlay networks: whether its subnet was given by the pools, not the
   * user (no `--ip` then, as Docker); unknown on records made before it was kept.
   */
  autoSubnet?: boolean;
  /** On a bridge the user made: the addresses Berth put on it (network rm takes these off). */
  addedAddresses?: string[];
  /** On a bridge the user made: Berth turned route_localnet on (network rm turns it off). */
  setRouteLocalnet?: boolean;
}

/** Where a container's network lives. */
export interface Sandbox {
  /** Container ID. */
  containerId: string;
  /** Bind-mounted namespace file; undefined when the container shares the host's. */
  netnsPath?: string;
  /**
   * rtnetlink inside `netnsPath`: one socket per sandbox, opened on first
   * use and closed by the controller when the sandbox goes (drivers never
   * close it). Throws when the namespace is gone.
   */
  netlink(): Rtnl;
  /** An open fd of `netnsPath`, kept with the socket and closed with it. */
  nsFd(): number;
}

/** The addresses an endpoint was given (by IPAM) that the driver puts in place. */
export interface EndpointAddresses {
  /** Interface name inside the container (eth0, eth1 … in attach order). */
  ifName: string;
  ipv4?: string;
  prefixLen?: number;
  gateway?: string;
  ipv6?: string;
  prefixLen6?: number;
  gateway6?: string;
  mac?: string;
  /** Whether this network gives the container its default route. */
  defaultRoute: boolean;
  /**
   * The container publishes host ports through this endpoint: its bridge
   * port must send DNATed frames back out where they came in (the container
   * reaching its own published port).
   */
  hairpin?: boolean;
}

/** What a driver reports for an endpoint it joined to a sandbox. */
export interface EndpointInfo {
  ipv4?: string;
  prefixLen?: number;
  gateway?: string;
  mac?: string;
  ipv6?: string;
  ipv6PrefixLen?: number;
  ipv6Gateway?: string;
  /** The host side of the link, when there is one (a veth name). */
  hostIf?: string;
}

/** A link a driver prepares before the endpoint's addresses are known (`NetworkDriver.prepare`). */
export interface PreparedLink {
  /** The host side's name, chosen before anything exists. */
  readonly hostIf: string;
  /**
   * Builds the link; on failure nothing of it is left. `expected` is the
   * address the store's transaction is about to commit: the driver may give
   * it to the container's end, still down, while the transaction runs, so
   * that `join` only brings the end up when that address is the one
   * committed (decision 0045).
   */
  make(expected?: ExpectedAddress): Promise<void>;
  /** The container end's interface index, once make() learnt it (join looks it up otherwise). */
  index?: number;
}

/** The address and MAC a cluster-store transaction is about to commit for an endpoint. */
export type ExpectedAddress = Required<Pick<EndpointAddresses, 'ipv4' | 'prefixLen' | 'mac'>>;

/** A network's gateway address on one of its subnets. */
export interface Gateway {
  family: 4 | 6;
  address: string;
  prefixLen: number;
}

/** One network driver (bridge, host, null, overlay): one interface, picked by name. */
export interface NetworkDriver {
  /** The driver's name as `network ls` shows it. */
  readonly name: string;
  /** Whether a container on this network gets a namespace of its own (host: no). */
  readonly ownNamespace: boolean;
  /** Whether a container may be on this network and another at the same time. */
  readonly exclusive: boolean;
  /** Whether endpoints on this network get addresses from IPAM. */
  readonly addressed: boolean;
  /** Whether its endpoints may have IPv6 addresses (addressed drivers; join refuses them otherwise). */
  readonly ipv6: boolean;
  /**
   * Whether a container's default route can go through the network's
   * gateway (addressed drivers; join refuses `defaultRoute` otherwise).
   */
  readonly gatewayRoute: boolean;
  /**
   * libnetwork's data scope: 'local' networks are this host's, 'global' ones
   * are shared through the cluster store and have `setPeers` and `changePeers`.
   */
  readonly scope: 'local' | 'global';
  /** Makes the network's kernel side exist (a bridge with its gateways); idempotent. */
  ensureNetwork(net: NetworkRecord, gateways: Gateway[]): Promise<void>;
  /**
   * Optional, for drivers whose addresses take a cluster-store round trip
   * (overlay): names the endpoint's link at once, so the caller records the
   * name first, and `make()` then builds it without addresses, the
   * container's end down (it carries nothing), beside the allocation.
   * `join` with it only configures the link (decision 0035).
   */
  prepare?(net: NetworkRecord, sandbox: Sandbox, ifName: string): PreparedLink;
  /**
   * Connects the sandbox to the network with the given addresses; with
   * `prepared` (from `prepare`, made), finishes that link.
   */
  join(
    net: NetworkRecord,
    sandbox: Sandbox,
    addrs: EndpointAddresses,
    prepared?: PreparedLink,
  ): Promise<EndpointInfo>;
  /**
   * Undoes join; idempotent, best-effort. When it returns the container no
   * longer has the interface (`ifName`); the kernel may still be freeing it.
   */
  leave(net: NetworkRecord, sandbox: Sandbox, hostIf?: string, ifName?: string): Promise<void>;
  /** Removes the network's kernel side (a bridge); idempotent. */
  removeNetwork(net: NetworkRecord): Promise<void>;
  /**
   * Multi-host drivers: makes the network's remote endpoints on this host
   * exactly `peers` (the control plane's view), if this host takes part in
   * it; false (and nothing done) when it does not.
   */
  setPeers?(net: NetworkRecord, peers: Peer[]): Promise<boolean>;
  /**
   * Multi-host drivers: after `setPeers`, the remote endpoints `gone` are
   * taken out and then those that `came` are put in (one that moved is in
   * both); false (and nothing done) when this host no longer takes part.
   */
  changePeers?(net: NetworkRecord, change: PeersChange): Promise<boolean>;
}

/** What changed of a network's remote endpoints (NetworkDriver.changePeers). */
export interface PeersChange {
  gone: Peer[];
  came: Peer[];
}

/** What a global-scope network create asks for (checked as a bridge's is). */
export interface GlobalNetworkCreate {
  Name: string;
  Driver: 'overlay';
  Internal: boolean;
  Attachable: boolean;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: IpamConfig[] };
}

/**
 * Networks of global scope, shared by every host through the cluster store
 * (src/cluster/networks.ts); absent without `--cluster-store`.
 */
export interface GlobalScope {
  /** The global networks this host knows of (followed from the store). */
  list(): NetworkRecord[];
  /** One of them by full ID. */
  get(id: string): NetworkRecord | undefined;
  create(req: GlobalNetworkCreate): Promise<NetworkRecord>;
  /** Refused while any host has endpoints on it. */
  remove(net: NetworkRecord): Promise<void>;
  /** Settles once the networks and endpoints were first read from the store. */
  readonly loaded: Promise<void>;
  /** Puts an endpoint of this host in the store, with its address from the global pools. */
  attach(req: GlobalAttach): Promise<GlobalAttached>;
  /** Takes it out and frees its address; missing is fine. */
  detach(networkId: string, endpointId: string): Promise<void>;
  /** Gives one of this host's endpoints its container's new name, on every host; the name it had. */
  rename(networkId: string, endpointId: string, name: string): Promise<string | undefined>;
  /** Asks for the cluster's reconcile of this host's endpoints: the store may differ from the records. */
  onUnsettled(): void;
  /**
   * Takes another host's endpoint out and keeps its address for that host
   * (decision 0024), only while that host is not in the cluster; whether it did.
   */
  reap(networkId: string, endpointId: string): Promise<boolean>;
  /** The endpoints of a global network, on every host, as last seen. */
  endpointsOf(networkId: string): GlobalEndpoint[];
  /** One of them, as last seen. */
  endpoint(networkId: string, endpointId: string): GlobalEndpoint | undefined;
  /** Whether an endpoint other than `endpointId` has the name on the network, as last seen. */
  nameTaken(networkId: string, name: string, endpointId: string): boolean;
  /** Calls `fn` with the network's and the endpoint's ID when an endpoint comes, changes or goes, on any host. */
  onEndpointsChange(fn: (networkId: string, endpointId: string) => void): () => void;
  /** Calls `fn` with a network's ID when it was removed, on any host. */
  onNetworkRemoved(fn: (networkId: string) => void): () => void;
}

/** What an endpoint of this host asks of a global network. */
export interface GlobalAttach {
  networkId: string;
  /** The endpoint's ID (its address's owner). */
  id: string;
  containerId: string;
  name: string;
  aliases: string[];
  /** `--ip`; else the next free address. */
  staticIPv4?: string;
  /** `--mac-address`; else 02:42 and the IPv4 address, as Docker. */
  mac?: string;
  /**
   * False when the joiner does not wait for the other hosts to program it
   * (a `network connect`): they write no report for it (decision 0039).
   */
  awaited?: boolean;
  /** Told, before each attempt's transaction is sent, the address and MAC it commits if it succeeds. */
  sending?: (a: ExpectedAddress) => void;
}

/** An endpoint of a global network, as every host sees it. */
export interface GlobalEndpoint {
  Id: string;
  NetworkID: string;
  ContainerID: string;
  Name: string;
  Aliases: string[];
  IPv4: string;
  PrefixLen: number;
  Mac: string;
  /** The host it lives on (its advertise address). */
  Node: string;
  /** That host's VXLAN source address. */
  Vtep: string;
  /** Only when false (a connect's): no host reports it applied, none waits for it (decision 0039). */
  Awaited?: boolean;
  /** Whether it holds the network's claim on its name (no other host's endpoint can take the name). */
  NameHeld?: boolean;
}

/** A remote endpoint a multi-host driver must reach: its addresses and its host. */
export interface Peer {
  ip: string;
  mac: string;
  /** The address of the host it lives on (that host's tunnel source). */
  vtep: string;
}

/** An endpoint just put in the cluster store, and the store revision of that write. */
export interface GlobalAttached {
  endpoint: GlobalEndpoint;
  revision: number;
}

/** What a join waited for (PeerConvergence.converge). */
export interface Converged {
  /** The other hosts it waited for. */
  hosts: string[];
  /** Those that did not report in time (the wait gave up on them). */
  missing: string[];
  /** Hosts an earlier wait gave up on, not waited for (nor confirmed) this time. */
  skipped: string[];
  /** How long the whole wait took. */
  ms: number;
}

/**
 * The convergence guarantee of multi-host networks (src/cluster/applied.ts,
 * decision 0023): each host reports the store revision up to which it has
 * programmed its peers, and a join waits until the other hosts of its
 * network report its endpoint's, bounded.
 */
export interface PeerConvergence {
  /** The store revision of the endpoints this host knows: what programming them now applies. */
  revision(): number;
  /** This host's peers of a network are programmed as the store had them at `revision`. */
  applied(networkId: string, revision: number): void;
  /**
   * After a join committed its endpoint at `revision`: waits until this
   * host's view has it, runs `program` (this host's peers of the network),
   * and (unless `others` is false: a connect, decision 0039) waits until
   * every other live host that had an endpoint on the network before
   * `revision` has applied it. Bounded; never throws.
   */
  converge(
    networkId: string,
    revision: number,
    program: () => Promise<void>,
    others?: boolean,
  ): Promise<Converged>;
}
