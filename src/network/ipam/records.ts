/**
 * IPAM's layout in the KV store (values are JSON):
 *
 *   <prefix>space                   {"v":1,"hint":"<slot>"}       rotating start of the automatic
 *                                                                 search; every subnet change
 *                                                                 rewrites it, so its modRevision
 *                                                                 is the subnet table's version
 *   <prefix>pools/<subnet>          PoolRecord                    one per network subnet, keyed by
 *                                                                 its canonical text (10.1.0.0/16)
 *   <prefix>addrs/<subnet>/<ip>     {"owner":"<id>"}              one per taken address: endpoint
 *                                                                 ID, "gateway" or "aux:<name>"
 *
 * One key per address makes an allocation a create-if-absent of that key:
 * concurrent allocations of different addresses never conflict, and the key
 * names its owner, so a leak can be traced to an endpoint.
 */
import { BerthError } from '../../common/errors.js';
import type { Family } from './addr.js';

/** A network subnet as stored. */
export interface PoolRecord {
  /** Layout version. */
  v: 1;
  /** Owning network's ID. */
  network: string;
  /** Address family. */
  family: Family;
  /** The subnet as given (may carry host bits, as Docker keeps them). */
  subnet: string;
  /** The ip-range as given, if any. */
  ipRange?: string;
  /** The gateway address. */
  gateway: string;
  /** Auxiliary addresses by name, as given. */
  aux?: Record<string, string>;
  /** Whether Berth picked the subnet from the default pools. */
  auto: boolean;
  /** Position among the network's subnets of this family (Docker tries them in order). */
  index: number;
  /** Allocate after the last address handed out instead of the lowest free one. */
  serial?: boolean;
}

/** A taken address as stored. */
export interface AddrRecord {
  /** Endpoint ID, or OWNER_GATEWAY, or OWNER_AUX + name. */
  owner: string;
}

/** The subnet table's header as stored. */
export interface SpaceRecord {
  /** Layout version. */
  v: 1;
  /** Slot number the next automatic search starts at (decimal; slots may exceed 2^53). */
  hint: string;
}

/** Owner of a subnet's gateway address. */
export const OWNER_GATEWAY = 'gateway';
/** Owner prefix of auxiliary addresses ("aux:" + name). */
export const OWNER_AUX = 'aux:';

/**
 * Owner prefix of a dead host's address ("reaped:" + endpoint + "@" + node):
 * kept out of automatic allocation until its host comes back for it or the
 * pool has nothing else (decision 0024).
 */
export const OWNER_REAPED = 'reaped:';

/** The tombstone owner of a reaped endpoint's address. */
export const reapedOwner = (endpoint: string, node: string): string =>
  `${OWNER_REAPED}${endpoint}@${node}`;

/** The endpoint and node a tombstone owner names, or undefined for any other owner. */
export function parseReapedOwner(owner: string): { endpoint: string; node: string } | undefined {
  if (!owner.startsWith(OWNER_REAPED)) return undefined;
  const rest = owner.slice(OWNER_REAPED.length);
  const at = rest.indexOf('@');
  if (at <= 0 || at === rest.length - 1) return undefined;
  return { endpoint: rest.slice(0, at), node: rest.slice(at + 1) };
}

/** Whether `owner` is a reservation (gateway, aux, tombstone) rather than an endpoint. */
export const isReservedOwner = (owner: string): boolean =>
  owner === OWNER_GATEWAY || owner.startsWith(OWNER_AUX) || owner.startsWith(OWNER_REAPED);

/** Key names under one prefix. */
export class Keys {
  /** The header key. */
  readonly space: string;
  /** Prefix of all subnet keys. */
  readonly pools: string;
  /** Prefix of all address keys. */
  readonly addrs: string;

  constructor(readonly prefix: string) {
    this.space = `${prefix}space`;
    this.pools = `${prefix}pools/`;
    this.addrs = `${prefix}addrs/`;
  }

  /** Key of a subnet. */
  pool(subnet: string): string {
    return this.pools + subnet;
  }

  /** Prefix of a subnet's addresses (with the trailing slash, so /1 never matches /16). */
  addrsOf(subnet: string): string {
    return `${this.addrs}${subnet}/`;
  }

  /** Key of one address. */
  addr(subnet: string, ip: string): string {
    return `${this.addrs}${subnet}/${ip}`;
  }

  /** Splits an address key into its subnet and address text. */
  parseAddr(key: string): { subnet: string; ip: string } | undefined {
    if (!key.startsWith(this.addrs)) return undefined;
    const rest = key.slice(this.addrs.length);
    const cut = rest.lastIndexOf('/');
    if (cut < 0) return undefined;
    return { subnet: rest.slice(0, cut), ip: rest.slice(cut + 1) };
  }
}

const corrupt = (key: string, why: string): BerthError =>
  new BerthError('INTERNAL', `ipam: corrupt record at ${key}: ${why}`);

function parseJson(key: string, value: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch (e) {
    throw corrupt(key, (e as Error).message);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw corrupt(key, 'not an object');
  return v as Record<string, unknown>;
}

/** Decodes a subnet record; a record Berth cannot read stops it rather than risk overlaps. */
export function decodePool(key: string, value: string): PoolRecord {
  const r = parseJson(key, value);
  if (r.v !== 1) throw corrupt(key, `unknown version ${String(r.v)}`);
  if (typeof r.network !== 'string' || typeof r.subnet !== 'string') {
    throw corrupt(key, 'network or subnet missing');
  }
  if (r.family !== 4 && r.family !== 6) throw corrupt(key, 'bad family');
  if (typeof r.gateway !== 'string' || typeof r.index !== 'number') {
    throw corrupt(key, 'gateway or index missing');
  }
  return r as unknown as PoolRecord;
}

/** Decodes an address record. */
export function decodeAddr(key: string, value: string): AddrRecord {
  const r = parseJson(key, value);
  if (typeof r.owner !== 'string') throw corrupt(key, 'owner missing');
  return { owner: r.owner };
}

/** Decodes the header. */
export function decodeSpace(key: string, value: string): SpaceRecord {
  const r = parseJson(key, value);
  if (r.v !== 1 || typeof r.hint !== 'string' || !/^\d+$/.test(r.hint)) {
    throw corrupt(key, 'bad header');
  }
  return { v: 1, hint: r.hint };
}
