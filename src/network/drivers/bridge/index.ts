/**
 * `bridge`: until the bridge driver lands (veth, IPAM, NAT), a container on a
 * bridge network gets its own namespace with only `lo`. README lists the gap.
 */
import type { NetworkDriver } from '../../types.js';

export const bridgeDriver: NetworkDriver = {
  name: 'bridge',
  ownNamespace: true,
  exclusive: false,
  join: async () => ({}),
  leave: async () => undefined,
};
