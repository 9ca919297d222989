/**
 * The gateway bridge (S23; Docker 20.10's `docker_gwbridge`,
 * docs/reference/docker-20.10-overlay.md): a local bridge network that gives
 * a container on an overlay network its way out (the default route, NAT)
 * and the ports it publishes through its own host. Made at the first
 * container that needs it, with the next free local pool; a user may make it
 * first with other settings, as with Docker. Pure: the rule and the names.
 */
import type { NetworkRecord } from './types.js';

/** The network's name, and its Linux bridge's. */
export const GWBRIDGE = 'berth_gwbridge';

/** What creating it asks for: containers on it do not reach each other; NAT out. */
export const GWBRIDGE_CREATE = {
  Name: GWBRIDGE,
  Driver: 'bridge',
  Options: {
    'com.docker.network.bridge.enable_icc': 'false',
    'com.docker.network.bridge.enable_ip_masquerade': 'true',
    'com.docker.network.bridge.name': GWBRIDGE,
  },
};

/** A container's endpoint there, as `network inspect berth_gwbridge` names it. */
export const gatewayEndpointName = (containerId: string): string =>
  `gateway_${containerId.slice(0, 12)}`;

/**
 * Whether a container on these networks needs the gateway bridge, as
 * libnetwork decides it (sandbox.needDefaultGW): a non-internal network
 * without a gateway of its own (an overlay) needs it, unless a non-internal
 * bridge network gives the container its default route.
 */
export function needsGatewayBridge(nets: ReadonlyArray<NetworkRecord>): boolean {
  let need = false;
  for (const n of nets) {
    if (n.Name === GWBRIDGE || n.Internal || n.Driver === 'null' || n.Driver === 'host') continue;
    if (n.Driver === 'bridge') return false;
    need = true;
  }
  return need;
}
