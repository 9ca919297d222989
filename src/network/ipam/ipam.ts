/**
 * Berth's IPAM: network subnets from Docker's default pools (or the user's),
 * and endpoint addresses inside them, kept in the KV store. Every allocation
 * and release is a set of compares and ops the caller commits in the same
 * store transaction as its own record (endpoint, network), so the two can
 * never disagree, even across a SIGKILL. `transact` runs that loop, retrying
 * on conflicts; `begin` gives the pieces to callers that drive the store
 * themselves.
 *
 * Nothing here touches the kernel: the controller passes in what it needs
 * (the host's routes to avoid) and applies what it gets.
 */
import type { Compare, KvEntry, KvStore, Op } from '../../store/types.js';
import { type Family, cidrContains, formatCidr, parseIp } from './addr.js';
import { LOCAL_ADDRESS_SPACE, retriesExhausted } from './errors.js';
import { DOCKER_LOCAL_POOLS, DefaultPools, type PoolSpec, avoidSets, blockedBy } from './pools.js';
import { Keys, decodeAddr, decodeSpace } from './records.js';
import { type PoolInfo, State } from './state.js';
import { IpamTxn, type TxnContext } from './txn.js';

/** Options of Ipam.open. */
export interface IpamOptions {
  /** Key prefix of this allocator's state; default 'ipam/local/'. */
  prefix?: string;
  /** Pools automatic subnets come from, in order; default Docker's local pools. */
  defaultPools?: readonly PoolSpec[];
  /** Docker's address space name quoted in messages; default 'LocalDefault'. */
  addressSpace?: string;
  /** How many times transact tries before giving up on conflicts; default 16. */
  attempts?: number;
}

/** What a transact callback adds to the transaction. */
export interface IpamPlan<T> {
  /** The caller's own compares. */
  compares?: Compare[];
  /** The caller's own ops (its records). */
  ops?: Op[];
  /** Returned by transact once committed. */
  value: T;
}

/** One taken address, for reconciliation and inspect. */
export interface Allocation {
  /** Network ID. */
  network: string;
  /** Canonical subnet. */
  subnet: string;
  /** The address. */
  address: string;
  /** Endpoint ID, "gateway" or "aux:<name>". */
  owner: string;
}

/** A promise-chain mutex. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();

  lock(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const before = this.tail;
    this.tail = before.then(() => held);
    return before.then(() => release);
  }
}

/** See the file comment. */
export class Ipam {
  /** Counters for tests and benchmarks. */
  readonly stats = { poolProbes: 0, conflicts: 0, reloads: 0 };
  /** The default pools in use. */
  readonly defaults: DefaultPools;
  private readonly keys: Keys;
  private readonly state = new State();
  private readonly poolLock = new Mutex();
  private readonly ctx: TxnContext;
  private readonly attempts: number;

  private constructor(
    private readonly store: KvStore,
    opts: IpamOptions,
  ) {
    this.keys = new Keys(opts.prefix ?? 'ipam/local/');
    this.defaults = new DefaultPools(opts.defaultPools ?? DOCKER_LOCAL_POOLS);
    this.attempts = opts.attempts ?? 16;
    this.ctx = {
      state: this.state,
      keys: this.keys,
      defaults: this.defaults,
      addressSpace: opts.addressSpace ?? LOCAL_ADDRESS_SPACE,
      lockPools: () => this.poolLock.lock(),
      stats: this.stats,
    };
  }

  /** Opens the allocator on `store`, loading its state (the store is the only truth). */
  static async open(store: KvStore, opts: IpamOptions = {}): Promise<Ipam> {
    const ipam = new Ipam(store, opts);
    await ipam.reload();
    return ipam;
  }

  /** Starts a transaction; the caller must commit(revision) or abort() it. */
  begin(attempt = 1): IpamTxn {
    return new IpamTxn(this.ctx, attempt);
  }

  /**
   * Runs `build` and commits its plan together with the IPAM's in one store
   * transaction; on a conflict re-reads what changed and runs `build` again
   * (so it should read its own state afresh each time, and throw when that
   * state makes the operation impossible). Errors from `build` abort. When
   * every attempt conflicted: `retriesExhausted` (code RETRIES_EXHAUSTED).
   */
  async transact<T>(
    build: (tx: IpamTxn) => IpamPlan<T> | Promise<IpamPlan<T>>,
  ): Promise<{ value: T; revision: number }> {
    for (let attempt = 1; ; attempt++) {
      const tx = this.begin(attempt);
      let plan: IpamPlan<T>;
      let committed: { succeeded: boolean; revision: number };
      try {
        plan = await build(tx);
      } catch (e) {
        tx.abort();
        throw e;
      }
      try {
        committed = await this.store.txn(
          [...tx.compares(), ...(plan.compares ?? [])],
          [...tx.ops(), ...(plan.ops ?? [])],
        );
      } catch (e) {
        tx.abort();
        // Whether a store error committed is unknown (etcd can time out after
        // committing): re-read so the cache cannot believe a taken address free.
        await this.refreshKeys(tx.touched()).catch(() => undefined);
        throw e;
      }
      if (committed.succeeded) {
        tx.commit(committed.revision);
        return { value: plan.value, revision: committed.revision };
      }
      tx.abort();
      this.stats.conflicts++;
      await this.refreshKeys(tx.touched());
      if (attempt >= this.attempts) {
        throw retriesExhausted(attempt);
      }
    }
  }

  /** Re-reads everything from the store (in-flight reservations are kept). */
  async reload(): Promise<void> {
    this.stats.reloads++;
    const entries = await this.store.list(this.keys.prefix);
    const pools = new Map<string, KvEntry>();
    const addrs = new Map<string, KvEntry[]>();
    let space: KvEntry | undefined;
    for (const e of entries) {
      if (e.key === this.keys.space) space = e;
      else if (e.key.startsWith(this.keys.pools)) pools.set(e.key.slice(this.keys.pools.length), e);
      else {
        const a = this.keys.parseAddr(e.key);
        if (!a) continue;
        let list = addrs.get(a.subnet);
        if (!list) addrs.set(a.subnet, (list = []));
        list.push(e);
      }
    }
    this.state.setSpace(space && decodeSpace(space.key, space.value), space?.modRevision ?? 0);
    for (const key of [...this.state.pools.keys()]) {
      if (!pools.has(key)) this.state.syncPool(key, undefined, [], this.parseAddrIp);
    }
    for (const [key, e] of pools) {
      this.state.syncPool(key, e, addrs.get(key) ?? [], this.parseAddrIp);
    }
  }

  private readonly parseAddrIp = (key: string): string | undefined => this.keys.parseAddr(key)?.ip;

  /** Re-reads the keys a failed plan compared, and whatever they imply. */
  private async refreshKeys(keys: readonly string[]): Promise<void> {
    const pools = new Set<string>();
    const addrs: { key: string; subnet: string; ip: string }[] = [];
    for (const k of keys) {
      if (k === this.keys.space) {
        const e = await this.store.get(k);
        if ((e?.modRevision ?? 0) !== this.state.spaceRev) return this.reload();
      } else if (k.startsWith(this.keys.pools)) pools.add(k.slice(this.keys.pools.length));
      else {
        const a = this.keys.parseAddr(k);
        if (a) addrs.push({ key: k, ...a });
      }
    }
    const resynced = new Set<string>();
    for (const subnet of pools) {
      const e = await this.store.get(this.keys.pool(subnet));
      if ((e?.modRevision ?? 0) === (this.state.pools.get(subnet)?.rev ?? 0)) continue;
      const list = e ? await this.store.list(this.keys.addrsOf(subnet)) : [];
      this.state.syncPool(subnet, e, list, this.parseAddrIp);
      resynced.add(subnet);
    }
    for (const a of addrs) {
      const p = this.state.pools.get(a.subnet);
      const ip = parseIp(a.ip);
      if (!p || p.rev === 0 || resynced.has(a.subnet) || !ip) continue;
      const e = await this.store.get(a.key);
      if (e) p.take(ip.value, decodeAddr(e.key, e.value).owner, e.modRevision);
      else p.drop(ip.value);
    }
  }

  /** Committed subnets of one network (family, then index order), or of all networks. */
  pools(network?: string): PoolInfo[] {
    const list =
      network === undefined ? [...this.state.pools.values()] : this.state.poolsOf(network);
    return list.filter((p) => p.rev > 0).map((p) => p.info());
  }

  /**
   * The first default-pool block, from the top of the list, that overlaps no
   * subnet and nothing in `avoid`: what Docker gives its default bridge when
   * `--bip` is not set. Reserves nothing.
   */
  pickDefaultSubnet(family: Family = 4, avoid: readonly string[] = []): string | undefined {
    const blocked = blockedBy(this.state.spaces, avoidSets(avoid));
    const slot = this.defaults.find(family, 0n, blocked, { count: 0 });
    return slot && formatCidr(slot);
  }

  /** Every committed address of one network, or of all (for reconciliation and inspect). */
  allocations(network?: string): Allocation[] {
    const list =
      network === undefined ? [...this.state.pools.values()] : this.state.poolsOf(network);
    const out: Allocation[] = [];
    for (const p of list) {
      if (p.rev === 0) continue;
      for (const [a, t] of p.taken) {
        out.push({ network: p.rec.network, subnet: p.key, address: p.fmt(a), owner: t.owner });
      }
    }
    return out;
  }

  /** Who holds `address` on `network`, or undefined when it is free. */
  ownerOf(network: string, address: string): string | undefined {
    const ip = parseIp(address);
    if (!ip) return undefined;
    const p = this.state.poolsOf(network).find((x) => x.rev > 0 && cidrContains(x.cidr, ip));
    return p?.entry(ip.value)?.owner;
  }
}
