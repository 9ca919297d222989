/** The nftables firewall back-end: batches (pure), state diffing (pure), and execution. */
export {
  NftFirewall,
  type Firewall,
  type NftFirewallOptions,
  type ReconcileResult,
} from './firewall.js';
export { FirewallError, Nftables, type NftablesOptions } from './libnftables.js';
export { MemoryFirewall } from './memory.js';
export {
  addBridgeBatch,
  addPortBatch,
  baseBatch,
  destroyBatch,
  HAIRPIN_MARK,
  removeBridgeBatch,
  removePortBatch,
  TABLE,
  USER_CHAIN,
  USER_INPUT_CHAIN,
  VXLAN_PORT,
  type BaseOptions,
  type BridgeSpec,
  type ControlEndpoint,
  type PortMapping,
  type Proto,
} from './ruleset.js';
export {
  diffCommands,
  parseDump,
  stateFromElements,
  type Dump,
  type FirewallState,
} from './state.js';
export {
  routeGet,
  socketTables,
  sweepTraceTables,
  overlayBatch,
  traceBatch,
  vxlanMatch,
  traceProbe,
  armArrival,
  TRACE_PREFIX,
  type ProbeProto,
  type ProbeResult,
  type ProbeSpec,
} from './trace.js';
