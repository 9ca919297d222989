/**
 * IPAM's errors in Docker 20.10's words. The texts were taken from a real
 * dockerd 20.10.24 (API calls, so the stock CLI's own checks did not get in
 * the way). Status codes follow Docker where it answers 4xx; where Docker
 * answers 500 to bad input (an invalid subnet, a gateway outside it) Berth
 * answers 400 with the same text; exhaustion is 503 (libnetwork's own class
 * for it, NoService, before the daemon wraps it into a 500).
 */
import { BerthError, forbidden, invalid, notFound } from '../../common/errors.js';
import type { Family } from './addr.js';

/** libnetwork's reasons, quoted inside the "failed to allocate ..." messages. */
export const REASON = {
  outOfRange: 'Requested address is out of range',
  inUse: 'Address already in use',
  noAddresses: 'No available addresses on this pool',
} as const;

/** Docker's name of the local address space, quoted in some messages. */
export const LOCAL_ADDRESS_SPACE = 'LocalDefault';
/** Docker's name of the global (cluster) address space. */
export const GLOBAL_ADDRESS_SPACE = 'GlobalDefault';

/** `--subnet` is not a CIDR block. */
export const invalidSubnet = (s: string): BerthError =>
  invalid(`Invalid subnet ${s} : invalid CIDR address: ${s}`);

/** `--gateway` is not an address. */
export const invalidGateway = (g: string): BerthError =>
  invalid(`invalid gateway address ${g} in Ipam configuration`);

/** `--ip-range` is not a CIDR block. */
export const invalidIpRange = (space: string, subnet: string, range: string): BerthError =>
  invalid(
    `failed to parse pool request for address space "${space}" pool "${subnet}" subpool "${range}": Invalid Address SubPool`,
  );

/**
 * `--ip-range` outside its subnet. Docker 20.10 accepts this and silently
 * allocates from the wrong addresses; Berth refuses in the words later
 * Docker releases use.
 */
export const ipRangeOutside = (range: string, subnet: string): BerthError =>
  invalid(`invalid ip-range ${range}: parent subnet ${subnet} doesn't contain ip-range`);

/** `--ip-range` wider than its subnet (later Docker's words, as above). */
export const ipRangeTooBig = (range: string, subnet: string): BerthError =>
  invalid(`invalid ip-range ${range}: CIDR block is bigger than its parent subnet ${subnet}`);

/** `--ip-range` of the other family (later Docker's words, as above). */
export const ipRangeFamily = (range: string, family: Family): BerthError =>
  invalid(`invalid ip-range ${range}: parent subnet is an IPv${family} block`);

/** A subnet overlapping another network's (Docker: 403). */
export const poolOverlap = (): BerthError =>
  forbidden('Pool overlaps with other one on this address space');

/** No default pool left for an automatic subnet (Docker: 404). */
export const noDefaultPool = (family: Family): BerthError =>
  notFound(
    `could not find an available, non-overlapping IPv${family} address pool among the defaults to assign to the network`,
  );

/** The gateway could not be had; `given` is '' when Berth was picking it. */
export const gatewayFailed = (given: string, reason: string): BerthError =>
  invalid(`failed to allocate gateway (${given}): ${reason}`);

/** An auxiliary address that is not an address. */
export const auxUnparsable = (key: string, value: string, network: string): BerthError =>
  invalid(`non parsable secondary ip address (${key}:${value}) passed for network ${network}`);

/** An auxiliary address outside the subnet (Docker: 403). */
export const auxOutside = (key: string, value: string, subnet: string): BerthError =>
  forbidden(`auxiliary address: (${key}:${value}) must belong to the master pool: ${subnet}`);

/** An auxiliary address already taken (by the gateway or another auxiliary address). */
export const auxFailed = (key: string, value: string, reason: string): BerthError =>
  invalid(`failed to allocate secondary ip address (${key}:${value}): ${reason}`);

/** A static address (`--ip`) someone holds, or a network/broadcast address (Docker: 403). */
export const addressInUse = (): BerthError => forbidden(REASON.inUse);

/** A static address in none of the network's subnets. */
export const addressOutside = (address: string): BerthError =>
  invalid(`Invalid address ${address}: It does not belong to any of this network's subnets`);

/** A static address that does not parse as the family asked for. */
export const invalidAddress = (family: Family, address: string): BerthError =>
  invalid(`invalid IPv${family} address: ${address}`);

/** Every subnet of the network is full. */
export const noAddresses = (family: Family, name: string, id: string): BerthError =>
  new BerthError(
    'UNAVAILABLE',
    `no available IPv${family} addresses on this network's address pools: ${name} (${id})`,
  );

/** Removing a network some endpoint still holds an address on (Docker: 403). */
export const activeEndpoints = (name: string, id: string): BerthError =>
  forbidden(`error while removing network: network ${name} id ${id} has active endpoints`);

/** `--ip` on a network whose subnet Berth picked (for the controller). */
export const staticNeedsUserSubnet = (): BerthError =>
  invalid(
    'user specified IP address is supported only when connecting to networks with user configured subnets',
  );

/** `--ip` on the default bridge (for the controller). */
export const staticOnDefaultNetwork = (): BerthError =>
  invalid('user specified IP address is supported on user defined networks only');

/**
 * A transaction that conflicted with other writers at every one of its
 * attempts (its own compares, e.g. a name key another create took, or
 * IPAM's). Code RETRIES_EXHAUSTED, so callers need not match the text.
 */
export const retriesExhausted = (attempts: number): BerthError =>
  new BerthError('RETRIES_EXHAUSTED', `ipam: gave up after ${attempts} conflicting attempts`);
