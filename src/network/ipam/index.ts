/**
 * IPAM: network subnets and endpoint addresses, persisted in the KV store and
 * allocated in the same transaction as the records that use them. See
 * docs/decisions/0008-ipam.md for the data layout and the figures.
 */
export {
  type Cidr,
  type Family,
  type Ip,
  bitsOf,
  cidrContains,
  cidrOverlaps,
  formatCidr,
  formatIp,
  ipv6FromMac,
  macAddressError,
  macFromIPv4,
  normaliseMac,
  parseCidr,
  parseIp,
} from './addr.js';
export * as ipamErrors from './errors.js';
export { IntervalSet } from './intervals.js';
export { type Allocation, Ipam, type IpamOptions, type IpamPlan } from './ipam.js';
export {
  DOCKER_GLOBAL_POOLS,
  DOCKER_LOCAL_POOLS,
  DefaultPools,
  type PoolSpec,
  parseAddressPoolFlag,
} from './pools.js';
export {
  OWNER_AUX,
  OWNER_GATEWAY,
  isReservedOwner,
  parseReapedOwner,
  reapedOwner,
} from './records.js';
export type { PoolInfo } from './state.js';
export { type AddressInfo, type AddressRequest, IpamTxn, type PoolRequest } from './txn.js';
