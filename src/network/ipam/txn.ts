/**
 * One IPAM transaction: plans allocations and releases against the cache and
 * collects the store compares and ops that make them real. The caller commits
 * those together with its own ops (the endpoint or network record) in one
 * `KvStore.txn`, then calls commit(revision) or abort(). Until then the plan
 * only reserves in memory, so a crash before the commit leaves nothing behind,
 * and a commit is all or nothing: the address key and the endpoint record are
 * written at one revision or not at all.
 *
 * Size: pools and addresses are planned in the same transaction object, so
 * both live here (about 480 lines, with the hand-over of kept addresses).
 */
import { BerthError } from '../../common/errors.js';
import type { Compare, Op } from '../../store/types.js';
import { type Family, cidrContains, formatCidr, formatIp, parseCidr, parseIp } from './addr.js';
import * as E from './errors.js';
import { type DefaultPools, type Slot, avoidSets, blockedBy } from './pools.js';
import {
  type Keys,
  OWNER_AUX,
  OWNER_GATEWAY,
  OWNER_REAPED,
  type PoolRecord,
  isReservedOwner,
} from './records.js';
import { Pool, type PoolInfo, type State } from './state.js';

/** What an allocation returns for address `a` of pool `p`. */
function addressInfo(p: Pool, a: bigint, req: AddressRequest): AddressInfo {
  return {
    network: req.network,
    family: req.family,
    subnet: p.key,
    address: p.fmt(a),
    prefixLen: p.cidr.prefix,
    gateway: p.rec.gateway,
    owner: req.owner,
  };
}

/** A network subnet to create. */
export interface PoolRequest {
  /** Owning network's ID. */
  network: string;
  /** Network name, quoted in Docker's messages. */
  networkName: string;
  /** Family of an automatic subnet (default 4); a given subnet decides its own. */
  family?: Family;
  /** The subnet (`--subnet`); automatic from the default pools when absent. */
  subnet?: string;
  /** Where dynamic addresses come from (`--ip-range`). */
  ipRange?: string;
  /** Gateway (`--gateway`); the first free address of the range when absent. */
  gateway?: string;
  /** Addresses to keep out of allocation (`--aux-address`), by name. */
  auxAddresses?: Record<string, string>;
  /** Blocks an automatic subnet must not overlap: the host's routes and nameservers. */
  avoid?: readonly string[];
  /** Hand out addresses after the last one instead of the lowest free one. */
  serial?: boolean;
}

/** An address to allocate for an endpoint. */
export interface AddressRequest {
  /** Network ID. */
  network: string;
  /** Network name, quoted in the exhaustion message. */
  networkName: string;
  /** Address family. */
  family: Family;
  /** Who holds the address: the endpoint ID. */
  owner: string;
  /** A static address (`--ip`); the next free one when absent. */
  address?: string;
}

/** An allocated address. */
export interface AddressInfo {
  /** Network ID. */
  network: string;
  /** Address family. */
  family: Family;
  /** Canonical subnet it came from. */
  subnet: string;
  /** The address. */
  address: string;
  /** Prefix length of its subnet. */
  prefixLen: number;
  /** The subnet's gateway. */
  gateway: string;
  /** The holder. */
  owner: string;
}

/** What a transaction needs of its allocator. */
export interface TxnContext {
  /** The cache. */
  state: State;
  /** Key names. */
  keys: Keys;
  /** Default pools. */
  defaults: DefaultPools;
  /** Docker's address space name, quoted in messages. */
  addressSpace: string;
  /** Serializes subnet changes within this process (they all rewrite the header). */
  lockPools(): Promise<() => void>;
  /** Counters for tests and benchmarks. */
  stats: { poolProbes: number };
}

type Effect = { commit(rev: number): void; abort(): void };

/** See the file comment. */
export class IpamTxn {
  private readonly cmp = new Map<string, number>();
  private readonly puts = new Map<string, string>();
  private readonly dels = new Set<string>();
  private readonly prefixes: string[] = [];
  private readonly effects: Effect[] = [];
  private status: 'open' | 'committed' | 'aborted' = 'open';
  private unlock: (() => void) | undefined;
  private hint: bigint | undefined;
  private spaceDirty = false;
  // Endpoint addresses this transaction releases, per subnet.
  private readonly released = new Map<Pool, number>();

  constructor(
    private readonly ctx: TxnContext,
    /** 1 on the first try; more when retried after a conflict. */
    readonly attempt = 1,
  ) {}

  /** Compares to include in the store transaction. */
  compares(): Compare[] {
    return [...this.cmp].map(([key, modRevision]) => ({ key, modRevision }));
  }

  /** Ops to include in the store transaction. */
  ops(): Op[] {
    const out: Op[] = [];
    for (const [key, value] of this.puts) out.push({ type: 'put', key, value });
    if (this.spaceDirty) {
      const hint = (this.hint ?? this.ctx.state.hint).toString();
      // Every pool change on any host rewrites it: a retried write's check
      // asks only that it was written then or later (store/types.ts).
      out.push({
        type: 'put',
        key: this.ctx.keys.space,
        value: JSON.stringify({ v: 1, hint }),
        shared: true,
      });
    }
    for (const key of this.dels) out.push({ type: 'delete', key });
    for (const prefix of this.prefixes) out.push({ type: 'deletePrefix', prefix });
    return out;
  }

  /** Keys whose revisions this plan relies on (re-read after a conflict). */
  touched(): string[] {
    return [...this.cmp.keys()];
  }

  private open(): void {
    if (this.status !== 'open') throw new BerthError('INTERNAL', `ipam txn already ${this.status}`);
  }

  private expect(key: string, rev: number): void {
    if (!this.cmp.has(key)) this.cmp.set(key, rev);
  }

  private async holdPools(): Promise<void> {
    this.open();
    if (!this.unlock) this.unlock = await this.ctx.lockPools();
    this.open();
    if (!this.spaceDirty) {
      this.expect(this.ctx.keys.space, this.ctx.state.spaceRev);
      this.spaceDirty = true;
    }
  }

  /** Plans a network subnet with its gateway and auxiliary addresses. */
  async allocatePool(req: PoolRequest): Promise<PoolInfo> {
    await this.holdPools();
    const { state, keys } = this.ctx;
    // Docker's order of checks: subnet, gateway syntax, ip-range, overlap, gateway, aux.
    const given = req.subnet === undefined ? undefined : parseCidr(req.subnet);
    if (req.subnet !== undefined && !given) throw E.invalidSubnet(req.subnet);
    const gw = req.gateway ? parseIp(req.gateway) : undefined;
    if (req.gateway && !gw) throw E.invalidGateway(req.gateway);
    const family = given?.family ?? req.family ?? 4;
    if (req.ipRange !== undefined) {
      const r = given ? parseCidr(req.ipRange) : undefined;
      if (!r || !given)
        throw E.invalidIpRange(this.ctx.addressSpace, req.subnet ?? '', req.ipRange);
      const canonical = formatCidr(given);
      if (r.family !== family) throw E.ipRangeFamily(req.ipRange, family);
      if (r.prefix < given.prefix) throw E.ipRangeTooBig(req.ipRange, canonical);
      if (r.first < given.first || r.last > given.last)
        throw E.ipRangeOutside(req.ipRange, canonical);
    }
    let subnetText: string;
    let slot: Slot | undefined;
    if (given) {
      if (state.spaces[family].firstOverlap(given.first, given.last)) throw E.poolOverlap();
      subnetText = req.subnet as string;
    } else {
      slot = this.findSlot(family, this.hint ?? state.hint, req.avoid);
      if (!slot) throw E.noDefaultPool(family);
      subnetText = formatCidr(slot);
    }
    const index = state.poolsOf(req.network).filter((p) => p.rec.family === family).length;
    const rec: PoolRecord = {
      v: 1,
      network: req.network,
      family,
      subnet: subnetText,
      ...(req.ipRange !== undefined ? { ipRange: req.ipRange } : {}),
      gateway: '',
      ...(req.auxAddresses && Object.keys(req.auxAddresses).length
        ? { aux: { ...req.auxAddresses } }
        : {}),
      auto: !given,
      index,
      ...(req.serial ? { serial: true } : {}),
    };
    const pool = new Pool(rec);
    const reserve = (a: bigint, owner: string): void => {
      pool.pending.set(a, owner);
      pool.used.add(a, a);
    };
    let gwAddr: bigint | undefined;
    if (gw) {
      if (!cidrContains(pool.cidr, gw))
        throw E.gatewayFailed(req.gateway ?? '', E.REASON.outOfRange);
      if (pool.used.has(gw.value)) throw E.gatewayFailed(req.gateway ?? '', E.REASON.inUse);
      gwAddr = gw.value;
    } else {
      gwAddr = pool.used.firstFree(pool.rangeLo, pool.rangeHi);
      if (gwAddr === undefined) throw E.gatewayFailed('', E.REASON.noAddresses);
    }
    reserve(gwAddr, OWNER_GATEWAY);
    rec.gateway = pool.fmt(gwAddr);
    // Go visits a map in random order; Berth takes the names in sorted order.
    for (const [k, v] of Object.entries(req.auxAddresses ?? {}).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    )) {
      const ip = parseIp(v);
      if (!ip) throw E.auxUnparsable(k, v, req.networkName);
      if (!cidrContains(pool.cidr, ip)) throw E.auxOutside(k, v, pool.key);
      if (pool.used.has(ip.value)) throw E.auxFailed(k, v, E.REASON.inUse);
      reserve(ip.value, OWNER_AUX + k);
    }
    if (slot) {
      const next = slot.index + 1n;
      this.hint = next >= this.ctx.defaults.total ? 0n : next;
    }
    state.addPool(pool);
    this.expect(keys.pool(pool.key), 0);
    this.puts.set(keys.pool(pool.key), JSON.stringify(rec));
    for (const [a, owner] of pool.pending) {
      const key = keys.addr(pool.key, pool.fmt(a));
      this.expect(key, 0);
      this.puts.set(key, JSON.stringify({ owner }));
    }
    this.effects.push({
      commit: (rev) => {
        pool.rev = rev;
        for (const [a, owner] of pool.pending) pool.take(a, owner, rev);
        pool.pending.clear();
      },
      abort: () => state.removePool(pool),
    });
    return pool.info();
  }

  private findSlot(family: Family, start: bigint, avoid?: readonly string[]): Slot | undefined {
    const probes = { count: 0 };
    const blocked = blockedBy(this.ctx.state.spaces, avoidSets(avoid));
    const slot = this.ctx.defaults.find(family, start, blocked, probes);
    this.ctx.stats.poolProbes += probes.count;
    return slot;
  }

  /**
   * Plans the removal of every subnet of a network, with the gateway and
   * auxiliary addresses. Refused while an endpoint holds an address there
   * (committed, or in a transaction in flight) unless this transaction
   * releases it, or `force` says to drop those too.
   */
  async releasePools(
    network: string,
    opts: { networkName?: string; force?: boolean } = {},
  ): Promise<PoolInfo[]> {
    await this.holdPools();
    const { state, keys } = this.ctx;
    const pools = state.poolsOf(network).filter((p) => p.rev > 0 && !p.dying);
    for (const p of pools) {
      let held = p.endpoints - (this.released.get(p) ?? 0);
      for (const owner of p.pending.values()) if (!isReservedOwner(owner)) held++;
      if (held > 0 && !opts.force) throw E.activeEndpoints(opts.networkName ?? network, network);
    }
    for (const p of pools) {
      p.dying = true;
      this.expect(keys.pool(p.key), p.rev);
      this.dels.add(keys.pool(p.key));
      this.prefixes.push(keys.addrsOf(p.key));
      this.effects.push({ commit: () => state.removePool(p), abort: () => (p.dying = false) });
    }
    return pools.map((p) => p.info());
  }

  /** Plans an endpoint's address: the static one asked for, or the next free one. */
  allocateAddress(req: AddressRequest): AddressInfo {
    this.open();
    const pools = this.ctx.state
      .poolsOf(req.network)
      .filter((p) => p.rec.family === req.family && p.rev > 0 && !p.dying);
    let pool: Pool | undefined;
    let a: bigint | undefined;
    if (req.address !== undefined) {
      const ip = parseIp(req.address);
      if (!ip || ip.family !== req.family) throw E.invalidAddress(req.family, req.address);
      pool = pools.find((p) => cidrContains(p.cidr, ip));
      if (!pool) throw E.addressOutside(formatIp(ip.family, ip.value));
      const t = pool.entry(ip.value);
      // A dead host's address is kept from automatic allocation only: asked
      // for by name, it is given (its host, back, then leaves that network).
      if (t?.owner.startsWith(OWNER_REAPED) && !pool.releasing.has(ip.value)) {
        return this.takeOver(pool, ip.value, t.rev, req);
      }
      if (pool.used.has(ip.value)) throw E.addressInUse();
      a = ip.value;
    } else {
      for (const p of pools) {
        a = p.rec.serial
          ? (p.used.firstFree(p.serialHint, p.rangeHi) ?? p.used.firstFree(p.rangeLo, p.rangeHi))
          : p.used.firstFree(p.rangeLo, p.rangeHi);
        if (a !== undefined) {
          pool = p;
          break;
        }
      }
      if (!pool || a === undefined) {
        // Nothing free: the oldest dead host's address, rather than none.
        const old = this.oldestTombstone(pools);
        if (old) return this.takeOver(old.pool, old.a, old.rev, req);
        throw E.noAddresses(req.family, req.networkName, req.network);
      }
    }
    const p = pool;
    const addr = a;
    p.pending.set(addr, req.owner);
    p.used.add(addr, addr);
    const key = this.ctx.keys.addr(p.key, p.fmt(addr));
    this.expect(key, 0);
    this.expect(this.ctx.keys.pool(p.key), p.rev);
    this.puts.set(key, JSON.stringify({ owner: req.owner }));
    this.effects.push({
      commit: (rev) => {
        p.pending.delete(addr);
        p.take(addr, req.owner, rev);
        if (p.rec.serial) p.serialHint = addr >= p.rangeHi ? p.rangeLo : addr + 1n;
      },
      abort: () => {
        p.pending.delete(addr);
        if (!p.taken.has(addr) && !p.isReserved(addr)) p.used.remove(addr, addr);
      },
    });
    return addressInfo(p, addr, req);
  }

  /** The tombstone written first (lowest revision) in `pools`, if any. */
  private oldestTombstone(pools: Pool[]): { pool: Pool; a: bigint; rev: number } | undefined {
    let best: { pool: Pool; a: bigint; rev: number } | undefined;
    for (const pool of pools) {
      for (const [a, t] of pool.taken) {
        if (!t.owner.startsWith(OWNER_REAPED) || pool.releasing.has(a)) continue;
        if (!best || t.rev < best.rev) best = { pool, a, rev: t.rev };
      }
    }
    return best;
  }

  /** Plans handing a taken address (at `rev`) to `req.owner` in place. */
  private takeOver(p: Pool, a: bigint, rev: number, req: AddressRequest): AddressInfo {
    this.handOver(p, a, rev, req.owner);
    this.expect(this.ctx.keys.pool(p.key), p.rev);
    return addressInfo(p, a, req);
  }

  /** Plans rewriting the owner of committed address `a` (at `rev`) to `to`. */
  private handOver(p: Pool, a: bigint, rev: number, to: string): void {
    const key = this.ctx.keys.addr(p.key, p.fmt(a));
    p.releasing.add(a);
    this.expect(key, rev);
    this.puts.set(key, JSON.stringify({ owner: to }));
    this.effects.push({
      commit: (r) => {
        p.releasing.delete(a);
        p.take(a, to, r);
      },
      abort: () => p.releasing.delete(a),
    });
  }

  /**
   * Plans handing every address `from` holds on a network to `to`, each
   * address staying taken throughout: a dead host's endpoint to its
   * tombstone (decision 0024), and back when its host returns. Returns them.
   */
  reassignAddresses(req: { network: string; from: string; to: string }): string[] {
    this.open();
    const out: string[] = [];
    for (const p of this.ctx.state.poolsOf(req.network)) {
      for (const a of p.addressesOf(req.from)) {
        const t = p.entry(a);
        if (!t || p.releasing.has(a)) continue;
        this.handOver(p, a, t.rev, req.to);
        out.push(p.fmt(a));
      }
    }
    return out;
  }

  /**
   * Plans the release of one address of a network. Releasing what is not
   * taken (or, with `owner`, taken by someone else) plans nothing and returns
   * false, so teardown can be repeated.
   */
  releaseAddress(req: { network: string; address: string; owner?: string }): boolean {
    this.open();
    const ip = parseIp(req.address);
    if (!ip) return false;
    const p = this.ctx.state.poolsOf(req.network).find((x) => cidrContains(x.cidr, ip));
    const t = p?.entry(ip.value);
    if (!p || !t || (req.owner !== undefined && t.owner !== req.owner)) return false;
    if (p.releasing.has(ip.value)) return false;
    const a = ip.value;
    const key = this.ctx.keys.addr(p.key, p.fmt(a));
    p.releasing.add(a);
    if (!isReservedOwner(t.owner)) this.released.set(p, (this.released.get(p) ?? 0) + 1);
    this.expect(key, t.rev);
    this.dels.add(key);
    this.effects.push({
      commit: () => {
        p.releasing.delete(a);
        p.drop(a);
      },
      abort: () => p.releasing.delete(a),
    });
    return true;
  }

  /** Plans the release of every address `owner` holds on a network; returns them. */
  releaseAddresses(req: { network: string; owner: string }): string[] {
    this.open();
    const out: string[] = [];
    for (const p of this.ctx.state.poolsOf(req.network)) {
      for (const a of p.addressesOf(req.owner)) {
        const address = p.fmt(a);
        if (this.releaseAddress({ network: req.network, address, owner: req.owner })) {
          out.push(address);
        }
      }
    }
    return out;
  }

  /** Makes the plan the cache's truth after the store committed it at `revision`. */
  commit(revision: number): void {
    this.open();
    this.status = 'committed';
    for (const e of this.effects) e.commit(revision);
    if (this.spaceDirty) {
      this.ctx.state.spaceRev = revision;
      if (this.hint !== undefined) this.ctx.state.hint = this.hint;
    }
    this.unlock?.();
  }

  /** Drops the plan's reservations (the store transaction failed or never ran); idempotent. */
  abort(): void {
    if (this.status !== 'open') return;
    this.status = 'aborted';
    for (const e of [...this.effects].reverse()) e.abort();
    this.unlock?.();
  }
}
