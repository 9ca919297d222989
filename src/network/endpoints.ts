/**
 * Containers' endpoints (CNM): a sandbox (the container's network namespace)
 * joined to networks. An endpoint's record and its addresses are written in
 * one transaction before the kernel is touched, the driver makes its kernel
 * side, its names go to the DNS and its published ports to the firewall; on
 * the way out the record goes first (docs/decisions/0010). After a daemon
 * start, `reconcile` makes store and kernel agree both ways.
 *
 * Size: join's steps and their undos, leave and reconcile share the record
 * layout and the undo order; `reconcile` is the next to move out.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { BerthError, forbidden, invalid, messageOf, notFound } from '../common/errors.js';
import { Stopwatch } from '../common/stopwatch.js';
import type { Logger } from '../common/log.js';
import type { Firewall, PortMapping } from '../kernel/firewall/index.js';
import { type Rtnl, readSysctl } from '../kernel/netlink/index.js';
import type { Conntrack } from '../kernel/netlink/conntrack.js';
import type { holdPort } from '../kernel/ports/reserve.js';
import type { KvStore, Op } from '../store/types.js';
import type { DnsResolver } from './dns/index.js';
import { bridgeCreated, bridgeName } from './drivers/bridge/index.js';
import {
  type Family,
  type Ipam,
  type PoolInfo,
  cidrContains,
  formatIp,
  ipamErrors,
  ipv6FromMac,
  macFromIPv4,
  parseCidr,
  parseIp,
} from './ipam/index.js';
import { PortPublisher } from './ports/publisher.js';
import { type PortRequest, type PublishedPort, onNetwork } from './ports/spec.js';
import { type EndpointRecord, type Joined, joinedView, newId } from './records.js';
import { parseLink } from './links/links.js';
import { Sandboxes } from './sandboxes.js';
import type {
  ExpectedAddress,
  GlobalAttached,
  GlobalScope,
  NetworkDriver,
  NetworkRecord,
  PreparedLink,
  Sandbox,
} from './types.js';

/** Where endpoint records live in the store: `endpoints/<network id>/<container id>`. */
export const ENDPOINTS = 'endpoints/';

/** What endpoints need to know of the networks (the controller). */
export interface NetworkLookup {
  /** A network by its full ID. */
  network(id: string): NetworkRecord | undefined;
  list(): NetworkRecord[];
  /** The network a NetworkMode or reference names (404 when none). */
  forMode(ref: string): NetworkRecord;
  driverFor(name: string): NetworkDriver;
  /** Whether Berth's DNS serves the network. */
  servesDns(net: NetworkRecord): boolean;
  /** Global-scope networks and their endpoints (with --cluster-store). */
  readonly global?: GlobalScope;
  /**
   * A join on a multi-host network committed at `revision`: this host's data
   * plane of it matches the store's endpoints, and the other hosts' have it
   * (bounded; not waited for at all when `others` is false). With `later`,
   * it returns once this host's part is done and hands `later` the wait for
   * the other hosts'.
   */
  convergePeers(
    netId: string,
    revision: number,
    later?: (others: Promise<void>) => void,
    others?: boolean,
  ): Promise<void>;
}

/** What a container asks of one network it joins. */
export interface JoinRequest {
  /** Whether this network gives the container its default route. */
  defaultRoute: boolean;
  /** `--ip`, `--ip6`: addresses asked for. */
  staticIPv4?: string;
  staticIPv6?: string;
  /** `--network-alias`. */
  aliases?: string[];
  /** The interface's MAC address (normalised); else Docker's, from the IPv4 address. */
  mac?: string;
  /** `--link` on a user network (target[:alias]). */
  links?: string[];
  name?: string;
  hostname?: string;
  /** Ports to publish; they go through the container's first non-internal bridge endpoint. */
  ports?: PortRequest[];
  /** Store ops to commit together with the endpoint becoming ready. */
  commit?: (joined: Joined) => Op[];
  /**
   * On a multi-host network, the wait for the other hosts to reach this
   * endpoint (decision 0023) is handed here instead of awaited, for a caller
   * with work of its own before it answers (a start: the launch), which
   * must await it before it does. This host's own side is done either way.
   */
  othersConverged?: (wait: Promise<void>) => void;
  /**
   * False: the other hosts are not waited for at all (a `network connect`,
   * decision 0039); they program the endpoint as their watches bring it,
   * and write no report for it. This host's own side is done either way.
   */
  awaitOthers?: boolean;
}

/** What the rules of a join look at. */
type JoinRules = Pick<JoinRequest, 'staticIPv4' | 'staticIPv6' | 'aliases'>;

/**
 * The rules a join must pass before anything is written, in Docker 20.10's
 * words and order: static addresses and aliases only on user-defined
 * networks whose driver gives addresses (not the default bridge, host or
 * none), a static address only where the user configured the subnet, and
 * inside one of the network's subnets (when `pools` name them: IPAM says
 * the same later, but a global network's transaction runs beside the
 * driver's link, which would be made for nothing).
 * Pure: throws the first refusal (400), or returns.
 */
export function checkJoin(
  net: Pick<NetworkRecord, 'Name'>,
  driver: Pick<NetworkDriver, 'addressed'>,
  pools: ReadonlyArray<JoinPool>,
  request: JoinRules,
): void {
  const userDefined = driver.addressed && net.Name !== 'bridge';
  const pool4 = pools.find((p) => p.family === 4);
  const pool6 = pools.find((p) => p.family === 6);
  if (request.staticIPv6 && !pool6 && userDefined) throw ipamErrors.staticNeedsUserSubnet();
  if (request.staticIPv6 && !userDefined) throw ipamErrors.staticOnDefaultNetwork();
  if (request.staticIPv4 && !userDefined) throw ipamErrors.staticOnDefaultNetwork();
  if (request.staticIPv4 && pool4?.auto) throw ipamErrors.staticNeedsUserSubnet();
  if (request.aliases?.length && !userDefined) {
    throw invalid('network-scoped alias is supported only for containers in user defined networks');
  }
  checkInSubnets(4, request.staticIPv4, pools);
  checkInSubnets(6, request.staticIPv6, pools);
}

/** What checkJoin needs of a subnet; `subnet` when known, `auto` when the record says. */
type JoinPool = Pick<PoolInfo, 'family'> & { auto?: boolean; subnet?: string };

/** A static address of `family` outside every known subnet of that family is refused, as IPAM would. */
function checkInSubnets(family: Family, address: string | undefined, pools: readonly JoinPool[]) {
  const ip = address === undefined ? undefined : parseIp(address);
  if (ip?.family !== family) return; // none asked, or IPAM's own message for a malformed one
  const subnets = pools
    .filter((p) => p.family === family)
    .map((p) => p.subnet && parseCidr(p.subnet));
  if (subnets.length === 0 || !subnets.every((c) => c)) return; // not all known: IPAM decides
  if (subnets.some((c) => c && cidrContains(c, ip))) return;
  throw ipamErrors.addressOutside(formatIp(ip.family, ip.value));
}

/**
 * A global network's subnets as checkJoin needs them (their pools live in
 * the cluster store), from its record: each subnet, and whether it was
 * automatic when the record says.
 */
function globalPools(net: NetworkRecord): JoinPool[] {
  const auto = net.berth?.autoSubnet;
  return net.IPAM.Config.flatMap((c) => {
    const cidr = c.Subnet ? parseCidr(c.Subnet) : undefined;
    return cidr
      ? [{ family: cidr.family, subnet: c.Subnet, ...(auto === undefined ? {} : { auto }) }]
      : [];
  });
}

/**
 * The undo of each step a join has done so far. `run` undoes them in
 * reverse order and goes on past a failing one (decision 0010: a setup
 * that fails half-way runs its teardown before it reports).
 */
class UndoSteps {
  private readonly steps: Array<{ step: string; undo: () => Promise<void> }> = [];

  push(step: string, undo: () => Promise<void>): void {
    this.steps.push({ step, undo });
  }

  async run(onError: (step: string, e: unknown) => void): Promise<void> {
    for (const { step, undo } of this.steps.reverse()) {
      try {
        await undo();
      } catch (e) {
        onError(step, e);
      }
    }
  }
}

/** What endpoints and the controller use of Berth's DNS (a seam: tests pass one that binds nothing). */
export type NetworkDns = Pick<DnsResolver, 'records' | 'addListener' | 'removeListener'> &
  Partial<Pick<DnsResolver, 'listenerList'>>;

export interface EndpointsOptions {
  kv: KvStore;
  ipam: Ipam;
  /** rtnetlink in the daemon's namespace (stray veths at reconcile). */
  rtnl: Rtnl;
  firewall: Firewall;
  conntrack?: Conntrack;
  dns: NetworkDns;
  execRoot: string;
  log: Logger;
  /** Holds a published host port (default: a bound socket; the controller's kernel seam). */
  holdPort?: typeof holdPort;
}

export class Endpoints {
  /** Endpoint records (and IPAM's address keys, through `ipam`). */
  private readonly kv: KvStore;
  /** Endpoints' addresses, allocated in the transaction of their records. */
  private readonly ipam: Ipam;
  /** rtnetlink in the daemon's namespace (stray veths at reconcile). */
  private readonly rtnl: Rtnl;
  /** Berth's firewall table (stray port map elements at reconcile). */
  private readonly firewall: Firewall;
  /** Berth's DNS: endpoints' names, per network. */
  private readonly dns: NetworkDns;
  private readonly log: Logger;
  /** Published ports: host port allocation, held sockets, DNAT map elements. */
  private readonly ports: PortPublisher;
  /** Running containers' namespaces: paths, interface names, sockets. */
  private readonly sandboxes: Sandboxes;
  /** Containers whose rename is under way (between the cluster's write and the local commit). */
  private readonly renaming = new Set<string>();

  constructor(
    options: EndpointsOptions,
    /** The networks (the controller). */
    private readonly networks: NetworkLookup,
  ) {
    this.kv = options.kv;
    this.ipam = options.ipam;
    this.rtnl = options.rtnl;
    this.firewall = options.firewall;
    this.dns = options.dns;
    this.log = options.log;
    this.sandboxes = new Sandboxes(options.execRoot, (id) => this.storedIfNames(id));
    this.ports = new PortPublisher(
      options.firewall,
      ephemeralRange(),
      async (proto, port) => {
        await options.conntrack?.deleteByDestPort(proto, port);
      },
      options.holdPort,
    );
  }

  /** Whether any endpoint is on the network. */
  async anyOn(netId: string): Promise<boolean> {
    return (await this.kv.list(`${ENDPOINTS}${netId}/`)).length > 0;
  }

  /** This host's endpoints on a network, as stored. */
  async on(netId: string): Promise<EndpointRecord[]> {
    return (await this.kv.list(`${ENDPOINTS}${netId}/`)).map(
      (e) => JSON.parse(e.value) as EndpointRecord,
    );
  }

  /** Whether the container has an endpoint on the network. */
  async has(netId: string, containerId: string): Promise<boolean> {
    return !!(await this.kv.get(this.epKey(netId, containerId)));
  }

  /** Makes an endpoint's names resolvable by the containers on its network. */
  private publishName(net: NetworkRecord, ep: EndpointRecord): void {
    if (!this.networks.servesDns(net) || !ep.Name) return;
    this.dns.records.upsertEndpoint({
      containerId: ep.ContainerID,
      name: ep.Name,
      aliases: ep.Aliases,
      hostname: ep.Hostname,
      networkId: net.Id,
      networkName: net.Name,
      internal: net.Internal,
      ipv4: ep.IPv4,
      ipv6: ep.IPv6,
      links: ep.Links?.map((l) => {
        const { name, alias } = parseLink(l);
        return { target: name, alias };
      }),
    });
  }

  /** Where a container's namespace file lives. */
  netnsPath(containerId: string): string {
    return this.sandboxes.path(containerId);
  }

  private epKey(netId: string, containerId: string): string {
    return `${ENDPOINTS}${netId}/${containerId}`;
  }

  /** Creates the container's namespace when its primary network needs one; returns its path. */
  createSandbox(containerId: string, mode: string): string | undefined {
    const driver = this.networks.driverFor(this.networks.forMode(mode).Driver);
    return driver.ownNamespace ? this.sandboxes.create(containerId) : undefined;
  }

  /**
   * The rules of a join (checkJoin) alone: for a stopped container's
   * `network connect`, refused then as dockerd refuses it, not at its start.
   */
  check(netRef: string, request: JoinRules): void {
    const net = this.networks.forMode(netRef);
    this.rules(net, this.networks.driverFor(net.Driver), request);
  }

  private rules(net: NetworkRecord, driver: NetworkDriver, request: JoinRules): void {
    const pools = net.Scope === 'global' ? globalPools(net) : this.ipam.pools(net.Id);
    checkJoin(net, driver, pools, request);
  }

  /**
   * Joins a container's sandbox to one network: the rules (checkJoin), then
   * steps, each registering its undo as soon as it has done something:
   * the endpoint record and its addresses in one transaction, the published
   * ports, the driver's kernel side, the ports' map elements, then `ready`
   * (in one transaction with the caller's `commit` ops, e.g. its container
   * record) and the names in the DNS. Returns the endpoint as inspect shows
   * it. When a step fails, those done are undone in reverse order, past
   * errors (decision 0010): nothing of the endpoint is left behind.
   */
  async join(
    containerId: string,
    netnsPath: string | undefined,
    netRef: string,
    request: JoinRequest,
  ): Promise<Joined> {
    const net = this.networks.forMode(netRef);
    const driver = this.networks.driverFor(net.Driver);
    this.rules(net, driver, request);
    const pools = this.ipam.pools(net.Id);
    const sw = new Stopwatch();
    const undo = new UndoSteps();
    try {
      const sandbox = this.sandboxes.view(containerId, netnsPath);
      const { ep, revision, prepared } = await this.recordEndpoint(
        net,
        driver,
        pools,
        sandbox,
        request,
        undo,
      );
      sw.lap('record');
      // Before the join returns, this host reaches every remote endpoint and
      // every other host of the network reaches this one (decision 0023).
      // Begun now: it waits for this host's view of the commit and programs
      // the remote endpoints in the network's namespace, beside the rest of
      // the join, which does not touch them. It never rejects.
      const converged =
        revision === undefined
          ? undefined
          : this.networks.convergePeers(
              net.Id,
              revision,
              request.othersConverged,
              request.awaitOthers !== false,
            );
      const publish = await this.reservePorts(net, ep, request, undo);
      await this.joinDriver(net, driver, sandbox, ep, { request, publish, prepared }, undo);
      sw.lap('driver');
      // Undone with the ports (their release takes the map elements out too).
      if (publish && ep.IPv4) await this.ports.activate(containerId, ep.IPv4, ep.IPv6);
      const joined = await this.commitReady(net, ep, request);
      sw.lap('ready');
      if (converged) {
        await converged;
        sw.lap('peers');
      }
      undo.push('names', async () => {
        this.dns.records.removeEndpoint(containerId, net.Id);
      });
      this.publishName(net, ep);
      this.log.debug(`join ${containerId.slice(0, 12)} ${net.Name}: ${sw}`);
      return joined;
    } catch (e) {
      await undo.run((step, err) =>
        this.log.error(`cleanup after failed attach (${step}): ${messageOf(err)}`),
      );
      throw e;
    }
  }

  /**
   * Join's first step: the endpoint's record (`attaching`) and, on an
   * addressed network, its addresses, in one transaction. A container has
   * one endpoint per network: a second is refused (403) before anything is
   * written. Undo: the record and its addresses go, in one transaction.
   * On a global network (recordGlobal), also the cluster store's revision
   * of the endpoint, and the link the driver prepared meanwhile.
   */
  private async recordEndpoint(
    net: NetworkRecord,
    driver: NetworkDriver,
    pools: PoolInfo[],
    sandbox: Sandbox,
    request: JoinRequest,
    undo: UndoSteps,
  ): Promise<{ ep: EndpointRecord; revision?: number; prepared?: PreparedLink }> {
    const containerId = sandbox.containerId;
    const key = this.epKey(net.Id, containerId);
    if (await this.kv.get(key)) {
      throw forbidden(`endpoint with name ${containerId} already exists in network ${net.Name}`);
    }
    const ep: EndpointRecord = {
      Id: newId(),
      NetworkID: net.Id,
      ContainerID: containerId,
      IfName: await this.sandboxes.nextIfName(containerId),
      State: 'attaching',
      Name: request.name,
      Hostname: request.hostname,
      Aliases: request.aliases,
      Links: request.links?.length ? request.links : undefined,
    };
    if (net.Scope === 'global') {
      return { ep, ...(await this.recordGlobal(net, driver, sandbox, ep, request, undo)) };
    }
    if (driver.addressed) {
      const pool6 = pools.find((p) => p.family === 6);
      await this.ipam.transact((tx) => {
        const v4 = tx.allocateAddress({
          network: net.Id,
          networkName: net.Name,
          family: 4,
          owner: ep.Id,
          address: request.staticIPv4,
        });
        Object.assign(ep, {
          IPv4: v4.address,
          PrefixLen: v4.prefixLen,
          Gateway: v4.gateway,
          Mac: request.mac ?? macFromIPv4(v4.address),
        });
        if (pool6) {
          const v6 = tx.allocateAddress({
            network: net.Id,
            networkName: net.Name,
            family: 6,
            owner: ep.Id,
            // dockerd's default bridge derives it from the MAC; others go lowest-free.
            address:
              request.staticIPv6 ??
              (net.Name === 'bridge' ? ipv6FromMac(pool6.subnet, ep.Mac!) : undefined),
          });
          Object.assign(ep, { IPv6: v6.address, PrefixLen6: v6.prefixLen, Gateway6: v6.gateway });
        }
        return {
          value: undefined,
          compares: [{ key, modRevision: 0 }],
          ops: [{ type: 'put', key, value: JSON.stringify(ep) }],
        };
      });
    } else {
      await this.kv.put(key, JSON.stringify(ep), { ifModRevision: 0 });
    }
    undo.push('endpoint record', () =>
      this.ipam
        .transact((tx) => {
          tx.releaseAddresses({ network: net.Id, owner: ep.Id });
          return { value: undefined, ops: [{ type: 'delete', key }] };
        })
        .then(() => undefined),
    );
    return { ep };
  }

  /**
   * The record step on a global network (decision 0035): this host's record
   * first, naming the link the driver will make; then, side by side, the
   * endpoint and its address in the cluster store (its transaction gives an
   * address no other host has; it returns the revision it committed at) and
   * the driver's link, begun once the transaction is written and given the
   * address it is sending, its container end down: it carries nothing until
   * join brings it up (decision 0045). The address reaches this host's
   * record when the endpoint is ready. Undo: the link, the cluster's
   * endpoint, the record.
   */
  private async recordGlobal(
    net: NetworkRecord,
    driver: NetworkDriver,
    sandbox: Sandbox,
    ep: EndpointRecord,
    request: JoinRequest,
    undo: UndoSteps,
  ): Promise<{ revision: number; prepared?: PreparedLink }> {
    const global = this.networks.global;
    if (!global) throw notFound(`network ${net.Name} not found`);
    const key = this.epKey(net.Id, ep.ContainerID);
    const prepared = sandbox.netnsPath ? driver.prepare?.(net, sandbox, ep.IfName) : undefined;
    if (prepared) ep.HostIf = prepared.hostIf;
    await this.kv.put(key, JSON.stringify(ep), { ifModRevision: 0 });
    undo.push('endpoint record', async () => {
      await this.kv.delete(key);
    });
    const [attached, made, sent] = await this.attachWithLink(global, net, ep, request, prepared);
    // Also when it failed once sent: it may have been written (its answer lost).
    if (attached.status === 'fulfilled' || sent) {
      undo.push('cluster endpoint', () => global.detach(net.Id, ep.Id));
    }
    if (prepared && made?.status === 'fulfilled' && made.value) {
      // make() may have made the network's kernel side here for a network
      // another host removed meanwhile (its removal already forgotten here):
      // it goes after the link, if the network is gone by then.
      undo.push('network removed meanwhile', async () => {
        if (!global.get(net.Id)) await driver.removeNetwork(net);
      });
      undo.push('driver', () => driver.leave(net, sandbox, prepared.hostIf, ep.IfName));
    }
    if (attached.status === 'rejected') throw attached.reason;
    if (made?.status === 'rejected') throw made.reason;
    const { endpoint: g, revision } = attached.value;
    Object.assign(ep, { IPv4: g.IPv4, PrefixLen: g.PrefixLen, Mac: g.Mac });
    return { revision, prepared };
  }

  /**
   * The record step's cluster transaction and, beside it, the prepared link
   * (decision 0045). Settles both; the link's result says whether it was
   * made (false: not begun), and is missing when it was not tried; last,
   * whether the transaction was sent.
   */
  private async attachWithLink(
    global: GlobalScope,
    net: NetworkRecord,
    ep: EndpointRecord,
    request: JoinRequest,
    prepared: PreparedLink | undefined,
  ): Promise<
    [PromiseSettledResult<GlobalAttached>, PromiseSettledResult<boolean> | undefined, boolean]
  > {
    // The address the transaction is about to commit, for the link made
    // beside it; nothing once the transaction has settled without one.
    let expect!: (a?: ExpectedAddress) => void;
    const expected = new Promise<ExpectedAddress | undefined>((r) => (expect = r));
    let refused = false;
    const attach = () =>
      global
        .attach({
          networkId: net.Id,
          id: ep.Id,
          containerId: ep.ContainerID,
          name: request.name ?? '',
          aliases: request.aliases ?? [],
          staticIPv4: request.staticIPv4,
          mac: request.mac,
          awaited: request.awaitOthers !== false,
          sending: expect,
        })
        .catch((e: unknown) => {
          refused = true;
          throw e;
        })
        .finally(() => expect());
    // An --ip or a name this host sees taken is most likely refused: then
    // the link waits for the transaction's answer, so a refusal has made nothing.
    const seenTaken =
      global.nameTaken(net.Id, request.name ?? '', ep.Id) ||
      (request.staticIPv4 !== undefined &&
        global.endpointsOf(net.Id).some((e) => e.IPv4 === request.staticIPv4));
    const sent = async () => (await expected) !== undefined;
    if (seenTaken) {
      const [attached] = await Promise.allSettled([attach()]);
      if (!prepared || attached.status === 'rejected') return [attached, undefined, await sent()];
      const [made] = await Promise.allSettled([prepared.make().then(() => true)]);
      return [attached, made, true];
    }
    // The link is begun once the transaction is on its way: the store's
    // client writes it from the event loop (Node's HTTP/2 does, in its
    // immediates), and the link's synchronous netlink calls would hold
    // that write back until they are all done (decision 0045).
    const link = async (p: PreparedLink) => {
      const a = await expected;
      // Refused before it was sent (the name, the network gone): no link.
      if (refused) return false;
      if (a) await nextTurn();
      await p.make(a);
      return true;
    };
    const [attached, made] = await Promise.allSettled([
      attach(),
      prepared ? link(prepared) : false,
    ]);
    return [attached, made, await sent()];
  }

  /**
   * Join's second step, on the container's first non-internal bridge
   * endpoint only (decision 0013): its ports' host ports chosen and held,
   * then recorded in the endpoint before any map element exists (a crash
   * leaks none). Returns whether this endpoint publishes. Undo: the ports
   * are released (their map elements too, once activated).
   */
  private async reservePorts(
    net: NetworkRecord,
    ep: EndpointRecord,
    request: JoinRequest,
    undo: UndoSteps,
  ): Promise<boolean> {
    const containerId = ep.ContainerID;
    const publish =
      !!request.ports?.length &&
      net.Driver === 'bridge' &&
      !net.Internal &&
      this.ports.published(containerId).length === 0;
    if (!publish) return false;
    const reqs = onNetwork(
      request.ports ?? [],
      net.Options['com.docker.network.bridge.host_binding_ipv4'],
    );
    const ports = await this.ports.reserve(containerId, reqs, !!ep.IPv6).catch((e) => {
      throw new BerthError(
        'INTERNAL',
        `driver failed programming external connectivity on endpoint ${request.name ?? containerId.slice(0, 12)} (${ep.Id}): ${messageOf(e)}`,
      );
    });
    ep.Ports = ports;
    // Released whatever the record says: releasing is idempotent.
    undo.push('published ports', () =>
      this.ports.release(containerId, { ports, containerIp: ep.IPv4, containerIp6: ep.IPv6 }),
    );
    await this.kv.put(this.epKey(net.Id, containerId), JSON.stringify(ep));
    return true;
  }

  /**
   * Join's third step: the driver's kernel side (for a bridge, a veth whose
   * container end is born in the sandbox with the endpoint's addresses; a
   * link prepared in the record step is configured). Undo: the driver's
   * leave, with the link it made (a prepared one's was registered then).
   */
  private async joinDriver(
    net: NetworkRecord,
    driver: NetworkDriver,
    sandbox: Sandbox,
    ep: EndpointRecord,
    how: { request: JoinRequest; publish: boolean; prepared?: PreparedLink },
    undo: UndoSteps,
  ): Promise<void> {
    const { prepared } = how;
    const info = await driver.join(
      net,
      sandbox,
      {
        ifName: ep.IfName,
        ipv4: ep.IPv4,
        prefixLen: ep.PrefixLen,
        gateway: ep.Gateway,
        ipv6: ep.IPv6,
        prefixLen6: ep.PrefixLen6,
        gateway6: ep.Gateway6,
        mac: ep.Mac,
        defaultRoute: how.request.defaultRoute,
        hairpin: how.publish,
      },
      prepared,
    );
    ep.HostIf = info.hostIf;
    if (!prepared) undo.push('driver', () => driver.leave(net, sandbox, info.hostIf, ep.IfName));
  }

  /**
   * Join's last step that can fail: the endpoint is `ready`, in one
   * transaction with the caller's ops. Nothing to undo: it either committed
   * (the join is done) or not (the steps before are undone).
   */
  private async commitReady(
    net: NetworkRecord,
    ep: EndpointRecord,
    request: JoinRequest,
  ): Promise<Joined> {
    ep.State = 'ready';
    const joined = joinedView(net, ep, request, this.networks.servesDns(net));
    await this.kv.txn(
      [],
      [
        { type: 'put', key: this.epKey(net.Id, ep.ContainerID), value: JSON.stringify(ep) },
        ...(request.commit?.(joined) ?? []),
      ],
    );
    return joined;
  }

  /**
   * A renamed container's endpoint records as store ops; `publish` makes the
   * new name resolvable (and the old one not) once they are committed.
   */
  async renamed(
    containerId: string,
    name: string,
  ): Promise<{ ops: Op[]; publish: () => void; undo: () => Promise<void> }> {
    const eps: Array<[NetworkRecord, EndpointRecord]> = [];
    for (const net of this.networks.list()) {
      const e = await this.kv.get(this.epKey(net.Id, containerId));
      if (e) eps.push([net, { ...(JSON.parse(e.value) as EndpointRecord), Name: name }]);
    }
    // A global network's endpoint is renamed in the cluster store first, so
    // every host resolves the new name; what the local commit does not
    // follow is renamed back by `undo`. Until one of the two, the
    // cluster's reconcile leaves the names alone (`nameNow`).
    const global = this.networks.global;
    const renamedGlobally: Array<{ net: NetworkRecord; id: string; was: string }> = [];
    this.renaming.add(containerId);
    const undo = async () => {
      for (const { net, id, was } of renamedGlobally.splice(0)) {
        await global?.rename(net.Id, id, was).catch((e: unknown) => {
          this.log.warn(`network ${net.Name}: naming endpoint ${id} back: ${messageOf(e)}`);
          global.onUnsettled();
        });
      }
      this.renaming.delete(containerId);
    };
    for (const [net, ep] of eps) {
      if (net.Scope !== 'global' || !global) continue;
      let was: string | undefined;
      try {
        was = await global.rename(net.Id, ep.Id, name);
      } catch (e) {
        await undo();
        throw e;
      }
      if (was !== undefined) renamedGlobally.push({ net, id: ep.Id, was });
    }
    return {
      undo,
      ops: eps.map(([net, ep]) => ({
        type: 'put',
        key: this.epKey(net.Id, containerId),
        value: JSON.stringify(ep),
      })),
      publish: () => {
        this.renaming.delete(containerId);
        for (const [net, ep] of eps) if (ep.State === 'ready') this.publishName(net, ep);
      },
    };
  }

  /** Points the container's default routes at these gateways (either may be empty), replacing any. */
  async setDefaultRoute(containerId: string, gateways: Array<string | undefined>): Promise<void> {
    const rt = this.sandboxes.view(containerId, this.netnsPath(containerId)).netlink();
    for (const gateway of gateways) if (gateway) await rt.addRoute({ gateway }, { replace: true });
  }

  /** Every published port's map element, as the firewall should hold them. */
  portMappings(): PortMapping[] {
    return this.ports.mappings();
  }

  /** The host ports a container publishes now (empty when none, or when it is not running). */
  publishedPorts(containerId: string): PublishedPort[] {
    return this.ports.published(containerId);
  }

  /** The interface names of the container's endpoints, as stored. */
  private async storedIfNames(containerId: string): Promise<string[]> {
    const names: string[] = [];
    for (const n of this.networks.list()) {
      const e = await this.kv.get(this.epKey(n.Id, containerId));
      if (e) names.push((JSON.parse(e.value) as EndpointRecord).IfName);
    }
    return names;
  }

  /**
   * Leaves one network: the record and its address go in one transaction
   * (with the caller's `commit` ops), then the kernel side.
   */
  async leave(containerId: string, netId: string, commit: Op[] = []): Promise<void> {
    const net = this.networks.network(netId);
    if (net) await this.removeEndpoint(net, containerId, this.netnsPath(containerId), commit);
    else if (commit.length) await this.kv.txn([], commit);
  }

  /**
   * Removes the sandbox and every endpoint of the container. Idempotent and
   * best-effort: continues past errors.
   */
  async teardown(containerId: string): Promise<void> {
    // Unbinding the namespace first lets the kernel destroy it with its veth
    // ends (no process is left in it): deleting each veth by request costs
    // the kernel 15-20 ms apiece, and the host end then goes with its peer.
    await this.sandboxes.delete(containerId);
    // Every network is checked, not only those the container's record lists:
    // a daemon killed between attaching and saving that record leaves an
    // endpoint the record does not name.
    for (const net of this.networks.list()) {
      await this.removeEndpoint(net, containerId, undefined).catch((e) =>
        this.log.warn(`teardown ${net.Name}: ${messageOf(e)}`),
      );
    }
  }

  /**
   * Removes one endpoint: its names and ports, then its record and address
   * in one transaction with `commit`, then its kernel side (`netnsPath`
   * undefined: the namespace is gone already). A daemon killed after the
   * transaction leaves a veth that no record names, which reconcile deletes.
   */
  private async removeEndpoint(
    net: NetworkRecord,
    containerId: string,
    netnsPath: string | undefined,
    commit: Op[] = [],
  ): Promise<void> {
    const key = this.epKey(net.Id, containerId);
    const entry = await this.kv.get(key);
    const ep = entry && (JSON.parse(entry.value) as EndpointRecord);
    if (!ep && !commit.length) return;
    if (ep) {
      this.dns.records.removeEndpoint(containerId, net.Id);
      if (ep.Ports?.length) {
        // A firewall that cannot take the elements out must not keep the
        // record and its address: start-up reconcile deletes stray elements.
        await this.ports
          .release(containerId, { ports: ep.Ports, containerIp: ep.IPv4, containerIp6: ep.IPv6 })
          .catch((e) => this.log.error(`releasing ${net.Name}'s ports: ${messageOf(e)}`));
      }
    }
    await this.ipam.transact((tx) => {
      if (ep) tx.releaseAddresses({ network: net.Id, owner: ep.Id });
      const ops: Op[] = ep ? [{ type: 'delete', key }] : [];
      return { value: undefined, ops: [...ops, ...commit] };
    });
    // A global endpoint's address and record are the cluster's.
    if (ep && net.Scope === 'global') {
      await this.networks.global
        ?.detach(net.Id, ep.Id)
        .catch((e: unknown) => this.log.error(`releasing ${net.Name}'s endpoint: ${messageOf(e)}`));
    }
    if (!ep) return;
    await this.networks
      .driverFor(net.Driver)
      .leave(net, this.sandboxes.view(containerId, netnsPath), ep.HostIf, ep.IfName)
      .catch((e) => this.log.warn(`leave ${net.Name}: ${messageOf(e)}`));
  }

  /**
   * After a daemon start: every endpoint whose container does not run, or
   * that was caught half-way (not ready), is torn down and released; veths
   * on Berth's bridges that no endpoint names, and namespace files of
   * containers that do not run, are deleted.
   */
  async reconcile(running: Set<string>): Promise<void> {
    const known = new Set<string>();
    for (const e of await this.kv.list(ENDPOINTS)) {
      const ep = JSON.parse(e.value) as EndpointRecord;
      const net = this.networks.network(ep.NetworkID);
      if (net && running.has(ep.ContainerID) && ep.State === 'ready') {
        if (ep.HostIf) known.add(ep.HostIf);
        this.publishName(net, ep);
        if (ep.Ports?.length && ep.IPv4) {
          await this.ports.adopt(ep.ContainerID, ep.Ports, { v4: ep.IPv4, v6: ep.IPv6 }, (m) =>
            this.log.warn(`published port not held: ${m}`),
          );
        }
        continue;
      }
      if (!net && this.networks.global && running.has(ep.ContainerID) && ep.State === 'ready') {
        // A global network this host has not read yet (the cluster store is
        // slow or down): the cluster's reconcile decides (src/cluster/rejoin.ts).
        continue;
      }
      this.log.warn(`releasing stale endpoint ${ep.Id.slice(0, 12)} (${ep.State})`);
      if (net) {
        // A container that does not run has no namespace to reach into.
        const netnsPath = running.has(ep.ContainerID) ? this.netnsPath(ep.ContainerID) : undefined;
        await this.removeEndpoint(net, ep.ContainerID, netnsPath).catch((err) =>
          this.log.error(`reconcile: ${messageOf(err)}`),
        );
      } else {
        await this.kv.delete(e.key);
      }
    }
    for (const n of this.networks.list()) {
      // On a bridge the user made, a veth may be the user's: left alone.
      if (n.Driver !== 'bridge' || !bridgeCreated(n)) continue;
      const ports = await this.rtnl.listLinks({ master: bridgeName(n) }).catch(() => []);
      for (const l of ports) {
        if (l.name.startsWith('veth') && !known.has(l.name)) {
          this.log.warn(`deleting stray ${l.name} on ${bridgeName(n)}`);
          await this.rtnl.deleteLink(l.name).catch(() => undefined);
        }
      }
    }
    // Map elements no endpoint publishes: a daemon killed while releasing them.
    const want = new Set(this.ports.mappings().map(mappingKey));
    const stray = this.firewall.dump().ports.filter((m) => !want.has(mappingKey(m)));
    if (stray.length) this.firewall.removePortMapping(stray);
    // Namespaces of containers that do not run (killed between creating one and starting).
    await this.sandboxes.prune(running);
  }

  /** The host-side links every endpoint record of this host names, in any state. */
  async namedLinks(): Promise<ReadonlySet<string>> {
    const out = new Set<string>();
    for (const e of await this.kv.list(ENDPOINTS)) {
      const ep = JSON.parse(e.value) as EndpointRecord;
      if (ep.HostIf) out.add(ep.HostIf);
    }
    return out;
  }

  /**
   * This host's endpoint records on networks it does not keep in its own
   * store: global ones, and ones of networks not known (yet). Only this
   * host's: the local store has no other host's endpoints.
   */
  async notLocal(): Promise<EndpointRecord[]> {
    const out: EndpointRecord[] = [];
    for (const e of await this.kv.list(ENDPOINTS)) {
      const ep = JSON.parse(e.value) as EndpointRecord;
      const net = this.networks.network(ep.NetworkID);
      if (!net || net.Scope === 'global') out.push(ep);
    }
    return out;
  }

  /**
   * Makes a kept endpoint's names resolvable again (idempotent): one whose
   * network start-up reconcile did not know yet.
   */
  republish(ep: EndpointRecord): void {
    const net = this.networks.network(ep.NetworkID);
    if (net && ep.State === 'ready') this.publishName(net, ep);
  }

  /**
   * The endpoint's name as its record has it now; `undefined` while its
   * container's rename is under way, or when the record is gone.
   */
  async nameNow(
    ep: Pick<EndpointRecord, 'ContainerID' | 'NetworkID' | 'Id'>,
  ): Promise<string | undefined> {
    if (this.renaming.has(ep.ContainerID)) return undefined;
    const e = await this.kv.get(this.epKey(ep.NetworkID, ep.ContainerID));
    const rec = e && (JSON.parse(e.value) as EndpointRecord);
    return rec && rec.Id === ep.Id ? (rec.Name ?? '') : undefined;
  }

  /** Whether this endpoint's record is still in the store. */
  async hasRecord(ep: Pick<EndpointRecord, 'ContainerID' | 'NetworkID' | 'Id'>): Promise<boolean> {
    const e = await this.kv.get(this.epKey(ep.NetworkID, ep.ContainerID));
    return !!e && (JSON.parse(e.value) as EndpointRecord).Id === ep.Id;
  }

  /**
   * Drops the record of an endpoint whose network is gone from the cluster
   * (removed while this host was away): its kernel side went with the
   * network's namespace, its names go from the DNS.
   */
  async forget(ep: Pick<EndpointRecord, 'ContainerID' | 'NetworkID'>): Promise<void> {
    this.dns.records.removeEndpoint(ep.ContainerID, ep.NetworkID);
    await this.kv.delete(this.epKey(ep.NetworkID, ep.ContainerID));
  }
}

/** The host's ephemeral port range (ip_local_port_range), where `-p 80` and `-P` pick from. */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readSysctl('net.ipv4.ip_local_port_range').split(/\s+/).map(Number);
    if (lo && hi && lo <= hi) return [lo, hi];
  } catch {
    // unreadable: the kernel's default
  }
  return [32768, 60999];
}

/** A mapping's identity; "every address" is spelled several ways (the container's address gives the family). */
const mappingKey = (m: PortMapping): string => {
  const any = !m.hostIp || m.hostIp === '0.0.0.0' || m.hostIp === '::';
  return `${m.proto}/${any ? '*' : m.hostIp}/${m.hostPort}>${m.containerIp}:${m.containerPort}`;
};
