/**
 * Global-scope (overlay) networks in the cluster store, shared by every host
 * (S19, S20). The record, its name, its VXLAN ID and its subnets are one
 * store transaction, so two hosts never take the same name, VNI or subnet,
 * also when they create at the same moment: every create and remove also
 * rewrites one `networks/generation` key, so a host whose view of the pools
 * was old retries with a fresh one instead of committing an overlap.
 *
 * Each host keeps a view of the records from a list and a watch from that
 * list's revision (resynced when the history it needs was compacted), so a
 * network made on another host is listed here within the watch's delay.
 * Pure orchestration over KvStore and Ipam: no kernel.
 */
import { randomBytes } from 'node:crypto';
import { conflict, forbidden, hasCode, messageOf, notFound } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { DOCKER_GLOBAL_POOLS, Ipam, type PoolInfo } from '../network/ipam/index.js';
import type {
  GlobalNetworkCreate as GlobalCreate,
  GlobalScope,
  NetworkRecord,
} from '../network/types.js';
import { isCompacted } from '../store/errors.js';
import type { KvStore, WatchEvent } from '../store/types.js';

export const GLOBAL_NETWORKS = 'networks/by-id/';
const NAMES = 'networks/names/';
const VNIS = 'networks/vni/';
const GENERATION = 'networks/generation';
/** Endpoints of global networks, one prefix per network (the overlay driver's). */
export const GLOBAL_ENDPOINTS = 'endpoints/';
/** Docker's first VXLAN ID. */
export const FIRST_VNI = 256;
const MAX_VNI = (1 << 24) - 1;

/** A global network as stored: inspect's record, its VXLAN ID in Berth's own part. */
export interface GlobalNetworkRecord extends NetworkRecord {
  Scope: 'global';
  berth: { vni: number };
}

const nameKey = (name: string) => NAMES + encodeURIComponent(name);

export class GlobalNetworks implements GlobalScope {
  private readonly byId = new Map<string, GlobalNetworkRecord>();
  private cancelWatch: (() => void) | undefined;
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  private ipamOpening: Promise<Ipam> | undefined;
  private readonly loaded: Promise<void>;

  private constructor(
    private readonly kv: KvStore,
    private readonly log: Logger,
  ) {
    this.loaded = this.followUntilRead();
  }

  /**
   * Starts following the global networks of `kv` in the background: with the
   * store down the daemon starts, lists what it knows (nothing yet), and
   * global operations fail with the store's error until it answers.
   */
  static start(kv: KvStore, log: Logger): GlobalNetworks {
    return new GlobalNetworks(kv, log);
  }

  /** `start`, then waits until the first list was read. */
  static async open(kv: KvStore, log: Logger): Promise<GlobalNetworks> {
    const g = GlobalNetworks.start(kv, log);
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

  private async followUntilRead(): Promise<void> {
    for (let wait = 250; !this.closed; wait = Math.min(wait * 2, 5000)) {
      try {
        await this.follow();
        return;
      } catch (e) {
        this.log.warn(`cluster: reading networks: ${messageOf(e)}; retrying`);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** Every global network this host knows of. */
  list(): GlobalNetworkRecord[] {
    return [...this.byId.values()];
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
      try {
        await ipam.transact(async (tx) => {
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
              { type: 'put', key: GENERATION, value: id },
              { type: 'put', key: GLOBAL_NETWORKS + id, value: JSON.stringify(net) },
            ],
          };
        });
      } catch (e) {
        if (!isConflict(e)) throw e;
        if (await this.kv.get(nameKey(req.Name))) {
          throw conflict(`network with name ${req.Name} already exists`);
        }
        if (attempt >= ATTEMPTS) throw e;
        await backoff(); // another host changed the pools or took the VNI: look again
        continue;
      }
      this.byId.set(id, net);
      return net;
    }
  }

  /** Removes a network from every host; refused while any host has endpoints on it. */
  async remove(net: NetworkRecord): Promise<void> {
    const known = this.byId.get(net.Id);
    if (!known) throw notFound(`network ${net.Name} not found`);
    return this.serial(() => this.removeOnce(known));
  }

  private async removeOnce(net: GlobalNetworkRecord): Promise<void> {
    const eps = await this.kv.list(`${GLOBAL_ENDPOINTS}${net.Id}/`);
    if (eps.length) {
      throw forbidden(
        `error while removing network: network ${net.Name} id ${net.Id} has active endpoints`,
      );
    }
    const ipam = await this.ipam();
    for (let attempt = 1; ; attempt++) {
      await ipam.reload();
      try {
        await ipam.transact(async (tx) => {
          await tx.releasePools(net.Id, { networkName: net.Name });
          return {
            value: undefined,
            ops: [
              { type: 'delete', key: GLOBAL_NETWORKS + net.Id },
              { type: 'delete', key: nameKey(net.Name) },
              { type: 'delete', key: VNIS + net.berth.vni },
              { type: 'put', key: GENERATION, value: net.Id },
            ],
          };
        });
        break;
      } catch (e) {
        if (!isConflict(e) || attempt >= ATTEMPTS) throw e;
        await backoff();
      }
    }
    this.byId.delete(net.Id);
  }

  /** Stops following the store. */
  close(): void {
    this.closed = true;
    this.cancelWatch?.();
  }

  /** List, then watch from the list's revision; again from a fresh list after a compaction. */
  private async follow(): Promise<void> {
    const { entries, revision } = await this.kv.listWithRevision(GLOBAL_NETWORKS);
    this.byId.clear();
    for (const e of entries) {
      const n = JSON.parse(e.value) as GlobalNetworkRecord;
      this.byId.set(n.Id, n);
    }
    this.cancelWatch = await this.kv.watch(GLOBAL_NETWORKS, (ev) => this.apply(ev), {
      fromRevision: revision + 1,
      onError: (e) => {
        if (this.closed) return;
        if (!isCompacted(e)) this.log.warn(`cluster: watching networks: ${messageOf(e)}`);
        void this.followUntilRead();
      },
    });
  }

  private apply(ev: WatchEvent): void {
    const id = ev.key.slice(GLOBAL_NETWORKS.length);
    if (ev.type === 'delete') this.byId.delete(id);
    else if (ev.value) this.byId.set(id, JSON.parse(ev.value) as GlobalNetworkRecord);
  }
}

/** Tries of one change against other hosts' changes. */
const ATTEMPTS = 32;

/** A short random pause, so hosts that collided do not collide again. */
const backoff = (): Promise<void> =>
  new Promise((r) => setTimeout(r, 2 + Math.floor(Math.random() * 20)));

/** Another host's change won: a conflict, or IPAM giving up after its attempts. */
function isConflict(e: unknown): boolean {
  return hasCode(e, 'CONFLICT') || hasCode(e, 'RETRIES_EXHAUSTED');
}
