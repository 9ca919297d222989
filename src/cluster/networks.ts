/**
 * Global-scope (overlay) networks in the cluster store, shared by every host
 * (S19, S20). The record, its name, its VXLAN ID and its subnets are one
 * store transaction, so two hosts never take the same name, VNI or subnet,
 * also when they create at the same moment: every create and remove also
 * rewrites one `networks/generation` key, so a host whose view of the pools
 * was old retries with a fresh one instead of committing an overlap.
 *
 * Endpoints of these networks live there too, with their addresses from the
 * global pools (one transaction each, so no address is given twice) and the
 * host they are on: what every other host programs its data plane from.
 *
 * Each host mirrors the records and endpoints (mirror.ts), so a network or
 * endpoint made on another host is known here within the watch's delay.
 * Pure orchestration over KvStore and Ipam: no kernel.
 *
 * Size: create, remove, attach, detach and the reaper's guarded removals
 * share the key layout and the global IPAM's retry loop; the key layout is
 * the next to move out.
 */
import { randomBytes } from 'node:crypto';
import { conflict, forbidden, hasCode, notFound } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import {
  DOCKER_GLOBAL_POOLS,
  Ipam,
  type PoolInfo,
  macFromIPv4,
  parseReapedOwner,
  reapedOwner,
} from '../network/ipam/index.js';
import type {
  GlobalAttach,
  GlobalAttached,
  GlobalEndpoint,
  GlobalNetworkCreate as GlobalCreate,
  GlobalScope,
  NetworkRecord,
} from '../network/types.js';
import type { KvStore } from '../store/types.js';
import {
  FIRST_VNI,
  MAX_VNI,
  decodeAll,
  decodeEndpoint,
  decodeNetwork,
  decoded,
  type GlobalNetworkRecord,
} from './decode.js';
import { Mirror } from './mirror.js';
import { NODES } from './nodes.js';

export const GLOBAL_NETWORKS = 'networks/by-id/';
const NAMES = 'networks/names/';
const VNIS = 'networks/vni/';
const GENERATION = 'networks/generation';
/** Endpoints of global networks, one prefix per network (the overlay driver's). */
export const GLOBAL_ENDPOINTS = 'endpoints/';
export type { GlobalNetworkRecord } from './decode.js';

const nameKey = (name: string) => NAMES + encodeURIComponent(name);
const epKey = (net: string, ep: string) => `${GLOBAL_ENDPOINTS}${net}/${ep}`;
/** The network of an endpoints mirror key (`<network>/<endpoint>`). */
export const networkOfKey = (key: string): string => key.slice(0, key.indexOf('/'));
/** Rewritten by every attach to a network: a remove compares it, so none slips in between. */
const EPGEN = 'networks/endpoints-generation/';
/**
 * A network's endpoint names, each held by one endpoint (the value: its ID),
 * so two hosts never attach two containers of one name (Docker's `endpoint
 * with name … already exists`). The endpoint that holds its name says so
 * (`NameHeld`); one renamed to a name another holds does not (Docker allows
 * that rename), and only a holder frees its name.
 */
const EPNAMES = 'networks/endpoint-names/';
const epNameKey = (net: string, name: string) => `${EPNAMES}${net}/${encodeURIComponent(name)}`;
/** The endpoints mirror's index: a network and an endpoint name (names hold no NUL). */
const nameIndex = (net: string, name: string) => `${net}\0${name}`;

export class GlobalNetworks implements GlobalScope {
  private readonly networks: Mirror<GlobalNetworkRecord>;
  /** Every host's endpoints, as this host knows them (keys `<network>/<endpoint>`). */
  readonly endpoints: Mirror<GlobalEndpoint>;
  /** Settles once both were first read. */
  readonly loaded: Promise<void>;
  private tail: Promise<void> = Promise.resolve();
  /**
   * Called when this host's endpoints in the store may differ from its own
   * records: an attach sent whose outcome is not known to be nothing, a
   * detach that failed. The reconcile (rejoin.ts) then runs until it succeeds.
   */
  onUnsettled: () => void = () => undefined;

  private ipamOpening: Promise<Ipam> | undefined;

  private constructor(
    private readonly kv: KvStore,
    log: Logger,
    /** This host: its advertise address and VXLAN source address. */
    private readonly self: { node: string; vtep: string },
  ) {
    this.networks = new Mirror(kv, GLOBAL_NETWORKS, log, decodeNetwork);
    this.endpoints = new Mirror(kv, GLOBAL_ENDPOINTS, log, decodeEndpoint, networkOfKey, (key, e) =>
      nameIndex(networkOfKey(key), e.Name),
    );
    this.loaded = Promise.all([this.networks.loaded, this.endpoints.loaded]).then(() => undefined);
  }

  /**
   * Starts following the global networks of `kv` in the background: with the
   * store down the daemon starts, lists what it knows (nothing yet), and
   * global operations fail with the store's error until it answers.
   */
  static start(kv: KvStore, log: Logger, self: { node: string; vtep: string }): GlobalNetworks {
    return new GlobalNetworks(kv, log, self);
  }

  /** `start`, then waits until the first lists were read. */
  static async open(
    kv: KvStore,
    log: Logger,
    self: { node: string; vtep: string },
  ): Promise<GlobalNetworks> {
    const g = GlobalNetworks.start(kv, log, self);
    await g.loaded;
    return g;
  }

  /** The allocator of global subnets, opened at first use (it reads the store). */
  private ipam(): Promise<Ipam> {
    this.ipamOpening ??= Ipam.open(this.kv, {
      prefix: 'ipam/global/',
      defaultPools: DOCKER_GLOBAL_POOLS,
      addressSpace: 'GlobalDefault',
      // A conflict means another host moved: the caller reloads and tries again.
      attempts: 1,
    }).catch((e: unknown) => {
      this.ipamOpening = undefined;
      throw e;
    });
    return this.ipamOpening;
  }

  /** Every global network this host knows of. */
  list(): GlobalNetworkRecord[] {
    return [...this.networks.all().values()];
  }

  /** One global network by full ID, as last seen. */
  get(id: string): GlobalNetworkRecord | undefined {
    return this.networks.get(id);
  }

  /** Creates a network every host sees; Docker's messages for a taken name or subnet. */
  async create(req: GlobalCreate): Promise<GlobalNetworkRecord> {
    return this.serial(() => this.createOnce(req));
  }

  /** One change at a time from this host: only other hosts' can conflict. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async createOnce(req: GlobalCreate): Promise<GlobalNetworkRecord> {
    const id = randomBytes(32).toString('hex');
    for (let attempt = 1; ; attempt++) {
      // The generation first, then the pools: the view is at least that new, and
      // the commit compares the generation, so no other host changed pools between.
      const gen = (await this.kv.get(GENERATION))?.modRevision ?? 0;
      const ipam = await this.ipam();
      await ipam.reload();
      if (await this.kv.get(nameKey(req.Name))) {
        throw conflict(`network with name ${req.Name} already exists`);
      }
      const taken = new Set(
        (await this.kv.list(VNIS)).map((e) => Number(e.key.slice(VNIS.length))),
      );
      let vni = FIRST_VNI;
      while (taken.has(vni)) vni++;
      if (vni > MAX_VNI) throw forbidden('no VXLAN ID is free');
      const net: GlobalNetworkRecord = {
        Name: req.Name,
        Id: id,
        Created: new Date().toISOString(),
        Scope: 'global',
        Driver: req.Driver,
        EnableIPv4: true,
        EnableIPv6: false,
        IPAM: { ...req.IPAM, Config: [] },
        Internal: req.Internal,
        Attachable: req.Attachable,
        Ingress: false,
        ConfigFrom: { Network: '' },
        ConfigOnly: false,
        Options: req.Options,
        Labels: req.Labels,
        berth: { vni },
      };
      let revision: number;
      try {
        ({ revision } = await ipam.transact(async (tx) => {
          const configs = req.IPAM.Config.length ? req.IPAM.Config : [{}];
          const pools: PoolInfo[] = [];
          for (const c of configs) {
            pools.push(
              await tx.allocatePool({
                network: id,
                networkName: req.Name,
                subnet: c.Subnet,
                ipRange: c.IPRange,
                gateway: c.Gateway,
                auxAddresses: c.AuxiliaryAddresses,
              }),
            );
          }
          net.berth.autoSubnet = pools.every((p) => p.auto);
          net.IPAM.Config = pools.map((p) => ({
            Subnet: p.given,
            ...(p.ipRange ? { IPRange: p.ipRange } : {}),
            Gateway: p.gateway,
            ...(Object.keys(p.auxAddresses).length ? { AuxiliaryAddresses: p.auxAddresses } : {}),
          }));
          return {
            value: undefined,
            compares: [
              { key: nameKey(req.Name), modRevision: 0 },
              { key: VNIS + vni, modRevision: 0 },
              { key: GENERATION, modRevision: gen },
            ],
            ops: [
              { type: 'put', key: nameKey(req.Name), value: id },
              { type: 'put', key: VNIS + vni, value: id },
              { type: 'put', key: GENERATION, value: id, shared: true },
              { type: 'put', key: GLOBAL_NETWORKS + id, value: JSON.stringify(net) },
            ],
          };
        }));
      } catch (e) {
        if (!isConflict(e)) throw e;
        if (await this.kv.get(nameKey(req.Name))) {
          throw conflict(`network with name ${req.Name} already exists`);
        }
        if (attempt >= ATTEMPTS) throw e;
        await backoff(); // another host changed the pools or took the VNI: look again
        continue;
      }
      this.networks.remember(id, net, revision);
      return net;
    }
  }

  /** Removes a network from every host; refused while any host has endpoints on it. */
  async remove(net: NetworkRecord): Promise<void> {
    const known = this.networks.get(net.Id);
    if (!known) throw notFound(`network ${net.Name} not found`);
    return this.serial(() => this.removeOnce(known));
  }

  private async removeOnce(net: GlobalNetworkRecord): Promise<void> {
    const ipam = await this.ipam();
    for (let attempt = 1; ; attempt++) {
      // The endpoints' generation before the check: an attach after it fails the commit.
      const epGen = (await this.kv.get(EPGEN + net.Id))?.modRevision ?? 0;
      const eps = await this.kv.list(`${GLOBAL_ENDPOINTS}${net.Id}/`);
      if (eps.length) {
        throw forbidden(
          `error while removing network: network ${net.Name} id ${net.Id} has active endpoints`,
        );
      }
      await ipam.reload();
      let revision: number;
      try {
        ({ revision } = await ipam.transact(async (tx) => {
          await tx.releasePools(net.Id, { networkName: net.Name });
          return {
            value: undefined,
            compares: [{ key: EPGEN + net.Id, modRevision: epGen }],
            ops: [
              { type: 'delete', key: GLOBAL_NETWORKS + net.Id },
              { type: 'delete', key: nameKey(net.Name) },
              { type: 'delete', key: VNIS + net.berth.vni },
              { type: 'delete', key: EPGEN + net.Id },
              { type: 'deletePrefix', prefix: `${EPNAMES}${net.Id}/` },
              { type: 'put', key: GENERATION, value: net.Id },
            ],
          };
        }));
        this.networks.remember(net.Id, undefined, revision);
        return;
      } catch (e) {
        if (!isConflict(e) || attempt >= ATTEMPTS) throw e;
        await backoff();
      }
    }
  }

  /** The endpoints of a global network, on every host, as last seen. */
  endpointsOf(networkId: string): GlobalEndpoint[] {
    return [...this.endpoints.group(networkId).values()];
  }

  /** Whether another endpoint than `endpointId` has the name `name` on the network, as last seen. */
  nameTaken(networkId: string, name: string, endpointId: string): boolean {
    if (!name) return false;
    const holders = this.endpoints.indexed(nameIndex(networkId, name));
    return holders.size > (holders.has(`${networkId}/${endpointId}`) ? 1 : 0);
  }

  /** Calls `fn` with a network's ID when it was removed, on any host. */
  onNetworkRemoved(fn: (networkId: string) => void): () => void {
    return this.networks.onChange((id: string) => {
      if (!this.networks.get(id)) fn(id);
    });
  }

  /** One endpoint of a global network, as last seen. */
  endpoint(networkId: string, endpointId: string): GlobalEndpoint | undefined {
    return this.endpoints.get(`${networkId}/${endpointId}`);
  }

  /** Calls `fn` with the network's and the endpoint's ID whenever an endpoint comes, changes or goes, on any host. */
  onEndpointsChange(fn: (networkId: string, endpointId: string) => void): () => void {
    return this.endpoints.onChange((key: string) => {
      const slash = key.indexOf('/');
      fn(key.slice(0, slash), key.slice(slash + 1));
    });
  }

  /** A network and the revision of its last write, from the watch; undefined when either is unknown. */
  private cachedNetwork(id: string): { net: GlobalNetworkRecord; modRevision: number } | undefined {
    const net = this.networks.get(id);
    const modRevision = this.networks.revisionOf(id);
    return net && modRevision !== undefined ? { net, modRevision } : undefined;
  }

  /** A network and the revision of its last write, read from the store; 404 when it is gone. */
  private async storedNetwork(
    id: string,
  ): Promise<{ net: GlobalNetworkRecord; modRevision: number }> {
    const rec = await this.kv.get(GLOBAL_NETWORKS + id);
    if (!rec) throw notFound(`network ${id} not found`);
    return {
      net: decoded(decodeNetwork, GLOBAL_NETWORKS, rec.key, rec.value),
      modRevision: rec.modRevision,
    };
  }

  /**
   * Puts an endpoint in the cluster store with its address from the global
   * pools (static or the next free), in one transaction that also checks the
   * network still exists: no host ever gets an address another has.
   * Returns it with the revision it was committed at.
   */
  async attach(req: GlobalAttach): Promise<GlobalAttached> {
    // Whether a transaction was built to be sent: a failure after that may
    // have committed (an answer lost, a deadline passed after the commit).
    let sent = false;
    return this.serial(async () => {
      const ipam = await this.ipam();
      // The cached pools first (no read of every allocation per attach): the
      // transaction compares the address key absent and the pool as cached,
      // so a stale cache can only conflict, never give an address twice. A
      // conflict, or a refusal the cache may be wrong about (in use, none
      // left, no such subnet), reads the pools afresh and tries again.
      let reload = false;
      for (let attempt = 1; ; attempt++) {
        if (reload) await ipam.reload();
        // The network as the watch has it, at the revision of its last write:
        // the transaction compares that revision, so a stale copy can only
        // conflict, and the retry reads the store.
        const { net, modRevision } =
          (reload ? undefined : this.cachedNetwork(req.networkId)) ??
          (await this.storedNetwork(req.networkId));
        // Refused before any address: as Docker, the name comes first.
        if (this.nameTaken(net.Id, req.name, req.id)) throw nameTaken(req.name, net.Name);
        const claim = req.name ? epNameKey(net.Id, req.name) : undefined;
        let ep: GlobalEndpoint | undefined;
        let revision: number;
        let refused = false;
        try {
          ({ revision } = await ipam.transact((tx) => {
            let a;
            try {
              a = tx.allocateAddress({
                network: net.Id,
                networkName: net.Name,
                family: 4,
                owner: req.id,
                address: req.staticIPv4,
              });
            } catch (e) {
              refused = !reload;
              throw e;
            }
            ep = {
              Id: req.id,
              NetworkID: net.Id,
              ContainerID: req.containerId,
              Name: req.name,
              Aliases: req.aliases,
              IPv4: a.address,
              PrefixLen: a.prefixLen,
              Mac: req.mac ?? macFromIPv4(a.address),
              Node: this.self.node,
              Vtep: this.self.vtep,
              ...(claim ? { NameHeld: true } : {}),
              ...(req.awaited === false ? { Awaited: false } : {}),
            };
            sent = true;
            req.sending?.({ ipv4: ep.IPv4, prefixLen: ep.PrefixLen, mac: ep.Mac });
            return {
              value: undefined,
              compares: [
                { key: GLOBAL_NETWORKS + net.Id, modRevision },
                ...(claim ? [{ key: claim, modRevision: 0 }] : []),
              ],
              ops: [
                { type: 'put', key: epKey(net.Id, req.id), value: JSON.stringify(ep) },
                { type: 'put', key: EPGEN + net.Id, value: req.id, shared: true },
                ...(claim ? [{ type: 'put', key: claim, value: req.id } as const] : []),
              ],
            };
          }));
        } catch (e) {
          if (refused) {
            reload = true;
            continue;
          }
          if (isConflict(e) && claim) {
            // Another host's endpoint took the name after this host last saw it.
            const holder = await this.kv.get(claim);
            if (holder && holder.value !== req.id) throw nameTaken(req.name, net.Name);
          }
          if (!isConflict(e) || attempt >= ATTEMPTS) throw e;
          reload = true;
          await backoff();
          continue;
        }
        this.endpoints.remember(`${net.Id}/${req.id}`, ep, revision);
        return { endpoint: ep!, revision };
      }
    }).catch((e: unknown) => {
      // Sent: it may have been written, whatever the error says (a retry
      // that could not tell meets its own address or name).
      if (sent) this.onUnsettled();
      throw e;
    });
  }

  /** Takes an endpoint out of the cluster store and frees its address; missing is fine. */
  async detach(networkId: string, endpointId: string): Promise<void> {
    return this.detachOnce(networkId, endpointId).catch((e: unknown) => {
      this.onUnsettled();
      throw e;
    });
  }

  private detachOnce(networkId: string, endpointId: string): Promise<void> {
    return this.serial(async () => {
      const ipam = await this.ipam();
      // The cached pools first, as attach: the release compares the address
      // key at the revision cached. A cache that knows no address of the
      // endpoint may be stale: it reads afresh before deleting without one.
      // Its name is freed with it if it holds it: the endpoint as last seen,
      // compared, so a record changed meanwhile is read again.
      const key = epKey(networkId, endpointId);
      let ep = this.endpoints.get(`${networkId}/${endpointId}`);
      let epRevision = this.endpoints.revisionOf(`${networkId}/${endpointId}`);
      // Seen without its revision: read, or a name it holds would stay claimed.
      let reload = ep !== undefined && epRevision === undefined;
      for (let attempt = 1; ; attempt++) {
        if (reload) {
          await ipam.reload();
          const rec = await this.kv.get(key);
          ep = rec ? decoded(decodeEndpoint, GLOBAL_ENDPOINTS, key, rec.value) : undefined;
          epRevision = rec?.modRevision;
        }
        const freeName = ep?.NameHeld === true && epRevision !== undefined;
        let unknown = false;
        try {
          const { revision } = await ipam.transact((tx) => {
            const freed = tx.releaseAddresses({ network: networkId, owner: endpointId });
            if (freed.length === 0 && !reload) {
              unknown = true;
              throw new Error('no address cached');
            }
            return {
              value: undefined,
              compares: freeName ? [{ key, modRevision: epRevision! }] : [],
              ops: [
                { type: 'delete', key },
                ...(freeName
                  ? [{ type: 'delete', key: epNameKey(networkId, ep!.Name) } as const]
                  : []),
              ],
            };
          });
          this.endpoints.remember(`${networkId}/${endpointId}`, undefined, revision);
          return;
        } catch (e) {
          if (unknown) {
            reload = true;
            continue;
          }
          if (!isConflict(e) || attempt >= ATTEMPTS) throw e;
          reload = true;
          await backoff();
        }
      }
    });
  }

  /**
   * Renames one of this host's endpoints (its container was renamed): every
   * host resolves the new name, not the old. It takes the new name if no
   * endpoint holds it, and frees the old one if it held it. Returns the
   * name it had, when it renamed it.
   */
  rename(networkId: string, endpointId: string, name: string): Promise<string | undefined> {
    return this.renameTo(networkId, endpointId, () => Promise.resolve(name));
  }

  /**
   * Names one of this host's endpoints in the store as its local record
   * does, if they differ (a daemon killed between a rename's two writes, a
   * rename's undo that failed). `localName` is asked after the store's
   * record is read, in this host's turn: `undefined`
   * (a rename under way, the record gone) leaves the endpoint as it is.
   * Returns the name it had, when it renamed it.
   */
  conform(
    networkId: string,
    endpointId: string,
    localName: () => Promise<string | undefined>,
  ): Promise<string | undefined> {
    return this.renameTo(networkId, endpointId, localName);
  }

  private renameTo(
    networkId: string,
    endpointId: string,
    nameFor: () => Promise<string | undefined>,
  ): Promise<string | undefined> {
    return this.serial(async () => {
      const key = epKey(networkId, endpointId);
      for (let attempt = 1; ; attempt++) {
        const rec = await this.kv.get(key);
        if (!rec) return undefined;
        const ep = decoded(decodeEndpoint, GLOBAL_ENDPOINTS, key, rec.value);
        const name = await nameFor();
        if (name === undefined || ep.Name === name) return undefined;
        const claim = epNameKey(networkId, name);
        const holder = await this.kv.get(claim);
        const NameHeld = !holder || holder.value === endpointId;
        const next: GlobalEndpoint = { ...ep, Name: name, NameHeld };
        const r = await this.kv.txn(
          [
            { key, modRevision: rec.modRevision },
            { key: claim, modRevision: holder?.modRevision ?? 0 },
          ],
          [
            { type: 'put', key, value: JSON.stringify(next) },
            ...(ep.NameHeld
              ? [{ type: 'delete', key: epNameKey(networkId, ep.Name) } as const]
              : []),
            ...(NameHeld ? [{ type: 'put', key: claim, value: endpointId } as const] : []),
          ],
        );
        if (r.succeeded) {
          this.endpoints.remember(`${networkId}/${endpointId}`, next, r.revision);
          return ep.Name;
        }
        if (attempt >= ATTEMPTS)
          throw conflict(`endpoint ${endpointId}: changed while renaming it`);
        await backoff();
      }
    });
  }

  /** Settles once the networks and endpoints were first read. */
  whenLoaded(): Promise<void> {
    return Promise.all([this.networks.loaded, this.endpoints.loaded]).then(() => undefined);
  }

  /** Every endpoint of every global network, as the store has it now. */
  async storedEndpoints(): Promise<GlobalEndpoint[]> {
    return decodeAll(await this.kv.list(GLOBAL_ENDPOINTS), GLOBAL_ENDPOINTS, decodeEndpoint);
  }

  /** Whether any endpoint of this host is in the store, as last seen. */
  hasOwnEndpoints(): boolean {
    return [...this.endpoints.all().values()].some((e) => e.Node === this.self.node);
  }

  /**
   * Takes a dead host's endpoint out of the store and frees its address, in
   * one transaction that holds only while the host is still not registered
   * and the endpoint is as read: hosts racing free it once, and a host that
   * registered again meanwhile keeps it. Returns whether this call removed it.
   */
  async reap(networkId: string, endpointId: string): Promise<boolean> {
    return this.serial(async () => {
      const ipam = await this.ipam();
      const key = epKey(networkId, endpointId);
      for (let attempt = 1; ; attempt++) {
        const e = await this.kv.get(key);
        if (!e) return false;
        const ep = decoded(decodeEndpoint, GLOBAL_ENDPOINTS, key, e.value);
        if (await this.kv.get(NODES + ep.Node)) return false;
        await ipam.reload();
        let revision: number;
        try {
          ({ revision } = await ipam.transact((tx) => {
            // A tombstone, not a release: the address stays out of automatic
            // allocation while its container may still hold it (decision 0024).
            tx.reassignAddresses({
              network: networkId,
              from: endpointId,
              to: reapedOwner(endpointId, ep.Node),
            });
            return {
              value: undefined,
              compares: [
                { key: NODES + ep.Node, modRevision: 0 },
                { key, modRevision: e.modRevision },
              ],
              ops: [
                { type: 'delete', key },
                ...(ep.NameHeld
                  ? [{ type: 'delete', key: epNameKey(networkId, ep.Name) } as const]
                  : []),
              ],
            };
          }));
        } catch (err) {
          if (!isConflict(err) || attempt >= ATTEMPTS) throw err;
          await backoff(); // another host reaped it, or its node came back: look again
          continue;
        }
        this.endpoints.remember(`${networkId}/${endpointId}`, undefined, revision);
        return true;
      }
    });
  }

  /**
   * Puts one of this host's endpoints back in the store with the address it
   * has, if that address is still free (a host back after its lease ran
   * out). One transaction that holds only while this host is registered, the
   * network unchanged and the endpoint absent. `taken`: another endpoint has
   * the address now; `gone`: the network is gone; `unregistered`: this host
   * is not in the store (its next registration tries again).
   */
  async restore(
    ep: Omit<GlobalEndpoint, 'Node' | 'Vtep'>,
  ): Promise<'present' | 'restored' | 'taken' | 'gone' | 'unregistered'> {
    return this.serial(async () => {
      const ipam = await this.ipam();
      const key = epKey(ep.NetworkID, ep.Id);
      for (let attempt = 1; ; attempt++) {
        const node = await this.kv.get(NODES + this.self.node);
        if (!node) return 'unregistered';
        const rec = await this.kv.get(GLOBAL_NETWORKS + ep.NetworkID);
        if (!rec) return 'gone';
        if (await this.kv.get(key)) return 'present';
        const net = decoded(decodeNetwork, GLOBAL_NETWORKS, rec.key, rec.value);
        await ipam.reload();
        const owner = ipam.ownerOf(net.Id, ep.IPv4);
        const tomb = owner === undefined ? undefined : parseReapedOwner(owner);
        const ours = tomb?.endpoint === ep.Id && tomb.node === this.self.node;
        if (owner !== undefined && owner !== ep.Id && !ours) return 'taken';
        // Its name again, unless another endpoint took it meanwhile (it keeps
        // the name then, as a renamed one may).
        const claim = ep.Name ? epNameKey(net.Id, ep.Name) : undefined;
        const holder = claim ? await this.kv.get(claim) : undefined;
        const NameHeld = !!claim && (!holder || holder.value === ep.Id);
        const back: GlobalEndpoint = {
          ...ep,
          Node: this.self.node,
          Vtep: this.self.vtep,
          NameHeld,
        };
        let revision: number;
        try {
          ({ revision } = await ipam.transact((tx) => {
            if (ours) tx.reassignAddresses({ network: net.Id, from: owner!, to: ep.Id });
            else if (owner === undefined) {
              tx.allocateAddress({
                network: net.Id,
                networkName: net.Name,
                family: 4,
                owner: ep.Id,
                address: ep.IPv4,
              });
            }
            return {
              value: undefined,
              compares: [
                { key: NODES + this.self.node, modRevision: node.modRevision },
                { key: GLOBAL_NETWORKS + net.Id, modRevision: rec.modRevision },
                { key, modRevision: 0 },
                ...(claim ? [{ key: claim, modRevision: holder?.modRevision ?? 0 }] : []),
              ],
              ops: [
                { type: 'put', key, value: JSON.stringify(back) },
                { type: 'put', key: EPGEN + net.Id, value: ep.Id, shared: true },
                ...(NameHeld ? [{ type: 'put', key: claim!, value: ep.Id } as const] : []),
              ],
            };
          }));
        } catch (err) {
          if (!isConflict(err) || attempt >= ATTEMPTS) throw err;
          await backoff();
          continue;
        }
        this.endpoints.remember(`${net.Id}/${ep.Id}`, back, revision);
        return 'restored';
      }
    });
  }

  /** This host's tombstones (decision 0024): addresses of its endpoints that were reaped. */
  async ownTombstones(): Promise<{ network: string; endpoint: string; owner: string }[]> {
    return this.serial(async () => {
      const ipam = await this.ipam();
      await ipam.reload();
      return ipam.allocations().flatMap((a) => {
        const t = parseReapedOwner(a.owner);
        return t && t.node === this.self.node
          ? [{ network: a.network, endpoint: t.endpoint, owner: a.owner }]
          : [];
      });
    });
  }

  /** Frees the address a tombstone holds (its endpoint is gone from this host too). */
  async dropTombstone(network: string, owner: string): Promise<void> {
    return this.serial(async () => {
      const ipam = await this.ipam();
      await ipam.transact((tx) => {
        tx.releaseAddresses({ network, owner });
        return { value: undefined };
      });
    });
  }

  /** Stops following the store. */
  close(): void {
    this.networks.close();
    this.endpoints.close();
  }
}

/** Tries of one change against other hosts' changes. */
const ATTEMPTS = 32;

/** A short random pause, so hosts that collided do not collide again. */
const backoff = (): Promise<void> =>
  new Promise((r) => setTimeout(r, 2 + Math.floor(Math.random() * 20)));

/** Docker's refusal of a second endpoint of one name on a network (403). */
const nameTaken = (name: string, network: string) =>
  forbidden(`endpoint with name ${name} already exists in network ${network}`);

/** Another host's change won: a conflict, or IPAM giving up after its attempts. */
function isConflict(e: unknown): boolean {
  return hasCode(e, 'CONFLICT') || hasCode(e, 'RETRIES_EXHAUSTED');
}
