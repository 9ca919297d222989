/**
 * In-process rtnetlink for the network drivers: see rtnl.ts for the API,
 * socket.ts for the exchanges, docs/decisions/0006-netlink.md for why it is
 * our own codec over a koffi-bound socket.
 */
export { Rtnl, withRtnl, deleteLinkIfExists } from './rtnl.js';
export type {
  BridgeSpec,
  FdbSpec,
  LinkAddress,
  LinkRef,
  LinkUpdate,
  NeighbourChange,
  NeighbourSpec,
  RouteSpec,
  VethSpec,
  VxlanSpec,
} from './rtnl.js';
export type { Address, AddAddressOptions } from './msg-addr.js';
export type { Link, LinkBase } from './msg-link.js';
export type { Route } from './msg-route.js';
export type { Neighbour } from './msg-neigh.js';
export { NetlinkSocket, type Offload, type OpenOptions, type Transport } from './socket.js';
export { NetlinkError, isExists, isNotFound } from './errors.js';
export { readSysctl, writeSysctl } from './sysctl.js';
