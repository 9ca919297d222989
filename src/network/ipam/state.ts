/**
 * IPAM's in-memory model: a cache of what the store holds, plus the
 * reservations of transactions still in flight. It is rebuilt from the store
 * on open and re-read key by key after a conflict; the store stays the only
 * truth, because every commit compares the revisions this cache saw.
 */
import { BerthError } from '../../common/errors.js';
import type { KvEntry } from '../../store/types.js';
import { type Cidr, type Family, formatCidr, formatIp, parseCidr, parseIp } from './addr.js';
import { IntervalSet } from './intervals.js';
import {
  type PoolRecord,
  type SpaceRecord,
  decodeAddr,
  decodePool,
  isReservedOwner,
} from './records.js';

/** What a caller sees of a network subnet. */
export interface PoolInfo {
  /** Owning network's ID. */
  network: string;
  /** Address family. */
  family: Family;
  /** Canonical subnet ("172.18.0.0/16"). */
  subnet: string;
  /** The subnet as given (Docker shows it that way in inspect); equals `subnet` when automatic. */
  given: string;
  /** Prefix length. */
  prefixLen: number;
  /** The ip-range as given, if any. */
  ipRange?: string;
  /** Gateway address. */
  gateway: string;
  /** Auxiliary addresses by name. */
  auxAddresses: Record<string, string>;
  /** Whether the subnet came from the default pools. */
  auto: boolean;
  /** Position among the network's subnets of this family. */
  index: number;
}

/** One taken address, committed. */
interface Taken {
  owner: string;
  /** modRevision of its key: a release compares it. */
  rev: number;
}

/** One network subnet and the addresses taken in it. */
export class Pool {
  /** Canonical subnet text, the store key. */
  readonly key: string;
  /** The subnet. */
  readonly cidr: Cidr;
  /** Lowest address dynamic allocation may hand out (ip-range or subnet). */
  readonly rangeLo: bigint;
  /** Highest address dynamic allocation may hand out. */
  readonly rangeHi: bigint;
  /** modRevision of the pool key; 0 while its creation is in flight. */
  rev = 0;
  /** Set while a transaction removing it is in flight. */
  dying = false;
  /** Taken addresses: committed, in flight, and the reserved network/broadcast addresses. */
  readonly used = new IntervalSet();
  /** Committed addresses. */
  readonly taken = new Map<bigint, Taken>();
  /** Addresses of allocations in flight, with their owners. */
  readonly pending = new Map<bigint, string>();
  /** Addresses whose release is in flight. */
  readonly releasing = new Set<bigint>();
  /** Where serial allocation continues. */
  serialHint: bigint;
  /** Committed addresses held by endpoints (not the gateway or auxiliary ones). */
  endpoints = 0;
  // Most owners hold one address per subnet: a bare bigint until they hold two.
  private readonly byOwner = new Map<string, bigint | Set<bigint>>();

  constructor(readonly rec: PoolRecord) {
    const cidr = parseCidr(rec.subnet);
    if (!cidr || cidr.family !== rec.family) {
      throw new BerthError('INTERNAL', `ipam: bad subnet ${rec.subnet} in store`);
    }
    this.cidr = cidr;
    this.key = formatCidr(cidr);
    const range = rec.ipRange === undefined ? undefined : parseCidr(rec.ipRange);
    if (rec.ipRange !== undefined && (!range || range.family !== cidr.family)) {
      throw new BerthError('INTERNAL', `ipam: bad ip-range ${rec.ipRange} in store`);
    }
    this.rangeLo = range ? range.first : cidr.first;
    this.rangeHi = range ? range.last : cidr.last;
    this.serialHint = this.rangeLo;
    this.reserve();
  }

  /** Docker never hands out the subnet's first address, nor IPv4's broadcast address. */
  private reserve(): void {
    this.used.add(this.cidr.first, this.cidr.first);
    if (this.cidr.family === 4) this.used.add(this.cidr.last, this.cidr.last);
  }

  /** Whether `a` is the network or broadcast address. */
  isReserved(a: bigint): boolean {
    return a === this.cidr.first || (this.cidr.family === 4 && a === this.cidr.last);
  }

  /** Address text. */
  fmt(a: bigint): string {
    return formatIp(this.cidr.family, a);
  }

  /** Records a committed address (`mark` false: the caller rebuilds `used` itself). */
  take(a: bigint, owner: string, rev: number, mark = true): void {
    const old = this.taken.get(a);
    if (old) this.forget(a, old);
    this.taken.set(a, { owner, rev });
    if (!isReservedOwner(owner)) this.endpoints++;
    const s = this.byOwner.get(owner);
    if (s === undefined) this.byOwner.set(owner, a);
    else if (typeof s === 'bigint') {
      if (s !== a) this.byOwner.set(owner, new Set([s, a]));
    } else s.add(a);
    if (mark) this.used.add(a, a);
  }

  /** Forgets a committed address (freeing it unless an allocation in flight holds it). */
  drop(a: bigint): void {
    const t = this.taken.get(a);
    if (!t) return;
    this.taken.delete(a);
    this.forget(a, t);
    if (!this.pending.has(a) && !this.isReserved(a)) this.used.remove(a, a);
  }

  private forget(a: bigint, t: Taken): void {
    const s = this.byOwner.get(t.owner);
    if (s === a) this.byOwner.delete(t.owner);
    else if (typeof s === 'object') {
      s.delete(a);
      if (s.size === 0) this.byOwner.delete(t.owner);
    }
    if (!isReservedOwner(t.owner)) this.endpoints--;
  }

  /** Committed entry of `a`. */
  entry(a: bigint): Taken | undefined {
    return this.taken.get(a);
  }

  /** Committed addresses of one owner. */
  addressesOf(owner: string): bigint[] {
    const s = this.byOwner.get(owner);
    return s === undefined ? [] : typeof s === 'bigint' ? [s] : [...s];
  }

  /** Replaces the committed addresses with what the store holds; in-flight state survives. */
  reset(entries: readonly KvEntry[], parseKey: (key: string) => string | undefined): void {
    for (const a of [...this.taken.keys()]) this.drop(a);
    for (const e of entries) {
      const ip = parseKey(e.key);
      const parsed = ip === undefined ? undefined : parseIp(ip);
      if (!parsed || parsed.family !== this.cidr.family) {
        throw new BerthError('INTERNAL', `ipam: bad address key ${e.key}`);
      }
      this.take(parsed.value, decodeAddr(e.key, e.value).owner, e.modRevision, false);
    }
    // Keys come in text order ("x.10" before "x.2"): sort once and build the
    // runs in one pass instead of inserting into the middle 65k times.
    const all = [...this.taken.keys(), ...this.pending.keys(), this.cidr.first];
    if (this.cidr.family === 4) all.push(this.cidr.last);
    this.used.replace(all.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    // Serial allocation resumes after the highest address an endpoint holds.
    let top = this.rangeLo - 1n;
    for (const [a, t] of this.taken) {
      if (a > top && a <= this.rangeHi && !isReservedOwner(t.owner)) top = a;
    }
    this.serialHint = top + 1n > this.rangeHi ? this.rangeLo : top + 1n;
  }

  /** The caller's view. */
  info(): PoolInfo {
    const r = this.rec;
    return {
      network: r.network,
      family: r.family,
      subnet: this.key,
      given: r.subnet,
      prefixLen: this.cidr.prefix,
      ...(r.ipRange !== undefined ? { ipRange: r.ipRange } : {}),
      gateway: r.gateway,
      auxAddresses: { ...(r.aux ?? {}) },
      auto: r.auto,
      index: r.index,
    };
  }
}

/** The whole cache. */
export class State {
  /** Taken address blocks per family: the union of every subnet (merged runs). */
  readonly spaces: Record<Family, IntervalSet> = { 4: new IntervalSet(), 6: new IntervalSet() };
  /** Subnets by canonical text. */
  readonly pools = new Map<string, Pool>();
  /** Subnets by network ID, in family then index order. */
  private readonly byNetwork = new Map<string, Pool[]>();
  /** modRevision of the header key (0 = absent). */
  spaceRev = 0;
  /** Rotating start of the automatic search. */
  hint = 0n;
  // Subnets that overlap (only a damaged store has them) make removal from the
  // merged union unsafe; then the union is rebuilt instead.
  private overlapping = false;

  /** Subnets of one network, in family then index order. */
  poolsOf(network: string): readonly Pool[] {
    return this.byNetwork.get(network) ?? [];
  }

  /** Adds a subnet (committed or in flight). */
  addPool(p: Pool): void {
    const space = this.spaces[p.cidr.family];
    if (space.firstOverlap(p.cidr.first, p.cidr.last)) this.overlapping = true;
    space.add(p.cidr.first, p.cidr.last);
    this.pools.set(p.key, p);
    const list = [...this.poolsOf(p.rec.network), p];
    list.sort((a, b) => a.rec.family - b.rec.family || a.rec.index - b.rec.index);
    this.byNetwork.set(p.rec.network, list);
  }

  /** Removes a subnet. */
  removePool(p: Pool): void {
    if (this.pools.get(p.key) !== p) return;
    this.pools.delete(p.key);
    const list = this.poolsOf(p.rec.network).filter((x) => x !== p);
    if (list.length) this.byNetwork.set(p.rec.network, list);
    else this.byNetwork.delete(p.rec.network);
    if (!this.overlapping) {
      this.spaces[p.cidr.family].remove(p.cidr.first, p.cidr.last);
      return;
    }
    this.spaces[p.cidr.family] = new IntervalSet();
    for (const q of this.pools.values()) {
      if (q.cidr.family === p.cidr.family)
        this.spaces[q.cidr.family].add(q.cidr.first, q.cidr.last);
    }
  }

  /** Applies a header read from the store. */
  setSpace(rec: SpaceRecord | undefined, rev: number): void {
    this.spaceRev = rev;
    this.hint = rec ? BigInt(rec.hint) : 0n;
  }

  /**
   * Brings one subnet in line with the store: `entry` is its key's entry (or
   * undefined when gone), `addrs` its address entries. Pools whose creation
   * is in flight are left alone.
   */
  syncPool(
    key: string,
    entry: KvEntry | undefined,
    addrs: readonly KvEntry[],
    parseKey: (key: string) => string | undefined,
  ): void {
    let p = this.pools.get(key);
    if (p && p.rev === 0) return;
    if (!entry) {
      if (p) this.removePool(p);
      return;
    }
    if (!p || p.rev !== entry.modRevision) {
      if (p) this.removePool(p);
      p = new Pool(decodePool(entry.key, entry.value));
      if (p.key !== key) throw new BerthError('INTERNAL', `ipam: ${entry.key} holds ${p.key}`);
      p.rev = entry.modRevision;
      this.addPool(p);
    }
    p.reset(addrs, parseKey);
  }
}
