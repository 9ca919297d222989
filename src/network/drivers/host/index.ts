/** `host`: the container shares the host's network namespace; nothing to set up. */
import type { NetworkDriver } from '../../types.js';

export const hostDriver: NetworkDriver = {
  name: 'host',
  ownNamespace: false,
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
