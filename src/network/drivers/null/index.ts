/** `null` (network `none`): a namespace of its own with only `lo`. */
import type { NetworkDriver } from '../../types.js';

export const nullDriver: NetworkDriver = {
  name: 'null',
  ownNamespace: true,
  exclusive: true,
  addressed: false,
  ipv6: false,
  gatewayRoute: false,
  scope: 'local',
  ensureNetwork: async () => undefined,
  removeNetwork: async () => undefined,
  join: async () => ({}),
  leave: async () => undefined,
};
