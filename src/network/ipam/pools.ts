/**
 * The default address pools automatic subnets come from, in Docker's order,
 * and the search for the next free one. A pool list is a few "groups" (a base
 * block split into equal slots); slots are numbered across groups in list
 * order, and the search walks slot numbers from a rotating start without ever
 * listing them, jumping over a whole run of taken addresses at a time.
 */
import { invalid } from '../../common/errors.js';
import { type Family, bitsOf, formatCidr, parseCidr } from './addr.js';
import { invalidSubnet } from './errors.js';
import { IntervalSet } from './intervals.js';

/** One `--default-address-pool`: `base` split into blocks of prefix length `size`. */
export interface PoolSpec {
  /** Base block, CIDR text. */
  base: string;
  /** Prefix length of each block carved from it. */
  size: number;
}

/**
 * Docker's local default pools (libnetwork ipamutils): 172.17-19 as /16s, three
 * /14s split in /16s, then 192.168.0.0/16 in /20s: 31 blocks. The default
 * bridge takes the first.
 */
export const DOCKER_LOCAL_POOLS: readonly PoolSpec[] = Object.freeze([
  { base: '172.17.0.0/16', size: 16 },
  { base: '172.18.0.0/16', size: 16 },
  { base: '172.19.0.0/16', size: 16 },
  { base: '172.20.0.0/14', size: 16 },
  { base: '172.24.0.0/14', size: 16 },
  { base: '172.28.0.0/14', size: 16 },
  { base: '192.168.0.0/16', size: 20 },
]);

/** Docker's global (overlay) default pools: 10.0.0.0/8 in /24s. */
export const DOCKER_GLOBAL_POOLS: readonly PoolSpec[] = Object.freeze([
  { base: '10.0.0.0/8', size: 24 },
]);

/**
 * Parses one `--default-address-pool` value ("base=10.128.0.0/9,size=24") as
 * Docker's opts.PoolsOpt does, with its messages. Several flags make a list
 * that replaces DOCKER_LOCAL_POOLS.
 */
export function parseAddressPoolFlag(value: string): PoolSpec {
  const spec: PoolSpec = { base: '', size: 0 };
  for (const field of value.split(',')) {
    const eq = field.indexOf('=');
    if (eq < 0) throw invalid(`invalid field '${field}' must be a key=value pair`);
    const key = field.slice(0, eq).toLowerCase();
    const v = field.slice(eq + 1).toLowerCase();
    if (key === 'base') spec.base = v;
    else if (key === 'size') {
      if (!/^[+-]?\d+$/.test(v)) {
        throw invalid(
          `invalid size value: "${v}" (must be integer): strconv.Atoi: parsing "${v}": invalid syntax`,
        );
      }
      spec.size = Number(v);
    } else throw invalid(`unexpected key '${key}' in '${field}'`);
  }
  return spec;
}

/** One base block of a pool list, split into slots. */
interface Group {
  family: Family;
  /** First address of the base block. */
  first: bigint;
  /** Last address of the base block. */
  last: bigint;
  /** Prefix length of each slot. */
  size: number;
  /** Addresses per slot. */
  step: bigint;
  /** Number of slots. */
  count: bigint;
  /** Slot number of this group's first slot. */
  offset: bigint;
}

/** A slot: one candidate block for an automatic subnet. */
export interface Slot {
  /** Its number in the list (what the rotating start index counts). */
  index: bigint;
  family: Family;
  first: bigint;
  last: bigint;
  prefix: number;
}

/**
 * Where a candidate block is blocked: the end of a run of taken addresses that
 * overlaps it, or undefined when the block is free.
 */
export type BlockedUntil = (family: Family, first: bigint, last: bigint) => bigint | undefined;

/** A validated pool list. */
export class DefaultPools {
  private readonly groups: Group[] = [];
  /** Total number of slots. */
  readonly total: bigint;

  constructor(specs: readonly PoolSpec[]) {
    let offset = 0n;
    for (const s of specs) {
      const base = parseCidr(s.base);
      if (!base) throw invalid(`invalid base pool "${s.base}": invalid CIDR address: ${s.base}`);
      if (!Number.isInteger(s.size) || s.size <= 0 || s.size < base.prefix) {
        throw invalid(`invalid pools size: ${s.size}`);
      }
      if (s.size > bitsOf(base.family)) throw invalid(`invalid pools size: ${s.size}`);
      const count = 1n << BigInt(s.size - base.prefix);
      const step = 1n << BigInt(bitsOf(base.family) - s.size);
      this.groups.push({ ...base, size: s.size, step, count, offset });
      offset += count;
    }
    this.total = offset;
  }

  /** The slot numbered `i` (0 <= i < total). */
  slot(i: bigint): Slot {
    const g = this.groupOf(i);
    const first = g.first + (i - g.offset) * g.step;
    return { index: i, family: g.family, first, last: first + g.step - 1n, prefix: g.size };
  }

  /** The CIDR text of slot `i`. */
  slotCidr(i: bigint): string {
    return formatCidr(this.slot(i));
  }

  private groupOf(i: bigint): Group {
    let a = 0;
    let b = this.groups.length - 1;
    while (a < b) {
      const m = (a + b + 1) >>> 1;
      if ((this.groups[m] as Group).offset <= i) a = m;
      else b = m - 1;
    }
    return this.groups[a] as Group;
  }

  /**
   * The first free slot of `family` at or after `start`, wrapping around once
   * (Docker rotates its start index past each pick). `probes` counts the
   * candidate blocks looked at, so tests can see the search stays short.
   */
  find(
    family: Family,
    start: bigint,
    blockedUntil: BlockedUntil,
    probes: { count: number },
  ): Slot | undefined {
    if (this.total === 0n) return undefined;
    const from = start >= 0n && start < this.total ? start : 0n;
    let i = from;
    let wrapped = false;
    for (;;) {
      if (i >= this.total) {
        if (wrapped) return undefined;
        wrapped = true;
        i = 0n;
      }
      if (wrapped && i >= from) return undefined;
      const g = this.groupOf(i);
      if (g.family !== family) {
        i = g.offset + g.count;
        continue;
      }
      probes.count++;
      const slot = this.slot(i);
      const end = blockedUntil(family, slot.first, slot.last);
      if (end === undefined) return slot;
      // Every slot starting at or before `end` is blocked by the same run.
      const next = end >= g.last ? g.offset + g.count : g.offset + (end + 1n - g.first) / g.step;
      i = next > i ? next : i + 1n;
    }
  }
}

/** The blocks to avoid (CIDRs or single addresses), per family. */
export function avoidSets(avoid: readonly string[] | undefined): Record<Family, IntervalSet> {
  const sets: Record<Family, IntervalSet> = { 4: new IntervalSet(), 6: new IntervalSet() };
  for (const a of avoid ?? []) {
    const c = parseCidr(a.includes('/') ? a : `${a}/${a.includes(':') ? 128 : 32}`);
    if (!c) throw invalidSubnet(a);
    // A default route says nothing about which subnets are free.
    if (c.prefix > 0) sets[c.family].add(c.first, c.last);
  }
  return sets;
}

/** A slot is blocked until the furthest end of the taken runs (subnets or avoided) overlapping it. */
export function blockedBy(...sets: Record<Family, IntervalSet>[]): BlockedUntil {
  return (family, first, last) => {
    let end: bigint | undefined;
    for (const s of sets) {
      const run = s[family].firstOverlap(first, last);
      if (run && (end === undefined || run[1] > end)) end = run[1];
    }
    return end;
  };
}
