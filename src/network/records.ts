/**
 * What the controller stores and shows about networks and endpoints, and the
 * pure builders of those records (no store, no kernel).
 */
import { randomBytes } from 'node:crypto';
import type { PublishedPort } from './ports/spec.js';
import { emptyEndpointSettings, type EndpointSettings, type NetworkRecord } from './types.js';

export const newId = (): string => randomBytes(32).toString('hex');

/** The networks every daemon has, which users cannot create or remove. */
export const PREDEFINED = ['bridge', 'host', 'none'];

/** An endpoint as stored: what inspect shows plus what teardown needs. */
export interface EndpointRecord {
  Id: string;
  NetworkID: string;
  ContainerID: string;
  IfName: string;
  IPv4?: string;
  PrefixLen?: number;
  Gateway?: string;
  IPv6?: string;
  PrefixLen6?: number;
  Gateway6?: string;
  Mac?: string;
  /** The host side of the veth, once created. */
  HostIf?: string;
  /** The container's name, hostname and aliases on this network (for DNS). */
  Name?: string;
  Hostname?: string;
  Aliases?: string[];
  /** `--link target[:alias]` on a user network: DNS aliases for this container only. */
  Links?: string[];
  /** Host ports published through this endpoint (a container publishes through one). */
  Ports?: PublishedPort[];
  /**
   * attaching → ready; an endpoint not ready is cleaned on start. Detach
   * deletes the record first: the kernel side left by a crash then is a veth
   * no record names, which reconcile deletes.
   */
  State: 'attaching' | 'ready';
}

/** An endpoint as join returns it: the network's name and inspect's view. */
export interface Joined {
  name: string;
  endpoint: EndpointSettings;
}

/**
 * A new network's record with Docker's defaults: a fresh ID, created now.
 * The daemon's own networks (bridge, host, none) are these as they are;
 * a user's network is built on it (its options, labels and flags replace
 * these). On the bridge driver the options are the default bridge's.
 */
export function newNetworkRecord(name: string, driver: string): NetworkRecord {
  const isBridge = driver === 'bridge';
  return {
    Name: name,
    Id: newId(),
    Created: new Date().toISOString(),
    Scope: 'local',
    Driver: driver,
    EnableIPv4: true,
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: [] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Options: isBridge
      ? {
          'com.docker.network.bridge.default_bridge': 'true',
          'com.docker.network.bridge.enable_icc': 'true',
          'com.docker.network.bridge.enable_ip_masquerade': 'true',
          'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
          'com.docker.network.bridge.name': 'berth0',
          'com.docker.network.driver.mtu': '1500',
        }
      : {},
    Labels: {},
  };
}

/** An endpoint as inspect shows it; `dns`: the network answers its names. */
export function joinedView(
  net: NetworkRecord,
  ep: EndpointRecord,
  o: { aliases?: string[]; name?: string; hostname?: string },
  dns: boolean,
): Joined {
  return {
    name: net.Name,
    endpoint: {
      ...emptyEndpointSettings(net.Id),
      EndpointID: ep.Id,
      IPAddress: ep.IPv4 ?? '',
      IPPrefixLen: ep.PrefixLen ?? 0,
      Gateway: ep.Gateway ?? '',
      GlobalIPv6Address: ep.IPv6 ?? '',
      GlobalIPv6PrefixLen: ep.PrefixLen6 ?? 0,
      IPv6Gateway: ep.Gateway6 ?? '',
      MacAddress: ep.Mac ?? '',
      Aliases: aliasesShown(net, ep.ContainerID, o.aliases),
      // What the DNS answers for this endpoint (current moby's inspect field).
      DNSNames:
        dns && o.name
          ? [
              ...new Set([
                o.name,
                ...(o.aliases ?? []),
                ep.ContainerID.slice(0, 12),
                ...(o.hostname ? [o.hostname] : []),
              ]),
            ]
          : null,
    },
  };
}

/**
 * The aliases inspect shows: on a user-defined network dockerd 20.10 adds the
 * container's short ID to those asked for (and keeps it after the container
 * exits); on the predefined ones only what was asked for.
 */
function aliasesShown(
  net: NetworkRecord,
  containerId: string,
  aliases?: string[],
): string[] | null {
  if (PREDEFINED.includes(net.Name)) return aliases?.length ? aliases : null;
  return [...new Set([...(aliases ?? []), containerId.slice(0, 12)])];
}
