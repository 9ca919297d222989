/**
 * A container's endpoint settings, pure: what a client asked for each
 * network (EndpointsConfig), what inspect keeps once joined or before, which
 * network gives the default route, and the join request built from them.
 */
import { normaliseMac } from '../network/ipam/index.js';
import { portRequests } from '../network/ports/spec.js';
import { emptyEndpointSettings, type NetworkRecord } from '../network/types.js';
import type { ContainerRecord } from './types.js';

/**
 * What a client asked for one network (EndpointsConfig, from create or
 * connect): the static address (--ip), aliases (--network-alias), and the
 * fields inspect echoes back.
 */
export function endpointConfigFor(
  c: ContainerRecord,
  netName: string,
): {
  staticIPv4?: string;
  staticIPv6?: string;
  aliases?: string[];
  links?: string[];
  /** EndpointConfig.MacAddress, normalised (validated at create and connect). */
  mac?: string;
  macAsGiven?: string;
  shown: Record<string, unknown>;
} {
  const mode = c.HostConfig.NetworkMode;
  const isPrimary = netName === mode || (netName === 'bridge' && mode === 'default');
  const ec = (c.EndpointsConfig[netName] ??
    (isPrimary ? (c.EndpointsConfig[mode] ?? c.EndpointsConfig.default) : undefined)) as
    Record<string, unknown> | undefined;
  if (!ec) return { shown: {} };
  const shown: Record<string, unknown> = {};
  for (const k of ['IPAMConfig', 'Links', 'Aliases', 'DriverOpts'] as const) {
    if (ec[k] !== undefined && ec[k] !== null) shown[k] = ec[k];
  }
  const ipam = ec.IPAMConfig as { IPv4Address?: string; IPv6Address?: string } | null | undefined;
  const aliases = Array.isArray(ec.Aliases) ? (ec.Aliases as string[]).filter(Boolean) : undefined;
  const links = Array.isArray(ec.Links) ? (ec.Links as string[]).filter(Boolean) : undefined;
  const macAsGiven = typeof ec.MacAddress === 'string' && ec.MacAddress ? ec.MacAddress : undefined;
  return {
    mac: macAsGiven && normaliseMac(macAsGiven),
    macAsGiven,
    staticIPv4: ipam?.IPv4Address || undefined,
    staticIPv6: ipam?.IPv6Address || undefined,
    aliases: aliases?.length ? aliases : undefined,
    links: links?.length ? links : undefined,
    shown,
  };
}

/**
 * A joined endpoint as inspect keeps it: the live view with the settings
 * asked for; the aliases are the endpoint's (on a user network they include
 * the short ID dockerd adds), else those asked for.
 */
export function joinedSettings(
  endpoint: ContainerRecord['Networks'][string],
  ec: ReturnType<typeof endpointConfigFor>,
): ContainerRecord['Networks'][string] {
  const asked = ec.shown.Aliases as string[] | undefined;
  return { ...endpoint, ...ec.shown, Aliases: endpoint.Aliases ?? asked ?? null };
}

/**
 * A network of a container that has not joined it yet (created, or
 * connected while stopped): the settings asked for, the MAC address as
 * given (dockerd 20.10 shows it until the start, then the interface's).
 */
export function configuredEndpoint(
  net: NetworkRecord,
  ec: ReturnType<typeof endpointConfigFor>,
): ContainerRecord['Networks'][string] {
  return { ...emptyEndpointSettings(net.Id), ...ec.shown, MacAddress: ec.macAsGiven ?? '' };
}

/**
 * The network whose gateway is a container's default route, as libnetwork
 * orders a sandbox's endpoints: non-internal before internal, then by name
 * (docs/reference/docker-20.10-networking.md, "Which network gives the
 * default route"); only bridge networks have a gateway.
 */
export function gatewayNetwork(nets: NetworkRecord[]): NetworkRecord | undefined {
  return nets
    .filter((n) => n.Driver === 'bridge')
    .sort((a, b) => Number(a.Internal) - Number(b.Internal) || (a.Name < b.Name ? -1 : 1))[0];
}

/** What an endpoint only has while it exists (Docker's cleanOperationalData). */
export function clearOperational(n: ContainerRecord['Networks'][string]): void {
  Object.assign(n, {
    EndpointID: '',
    IPAddress: '',
    IPPrefixLen: 0,
    Gateway: '',
    MacAddress: '',
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
  });
}

/** The request to join a network with the settings `ec` the container has for it. */
export function joinOptions(
  c: ContainerRecord,
  ec: ReturnType<typeof endpointConfigFor>,
  defaultRoute: boolean,
  /** The container's first network (NetworkMode): `Config.MacAddress` is for it, as dockerd 20.10's. */
  primary = false,
) {
  const configMac = primary && c.Config.MacAddress ? normaliseMac(c.Config.MacAddress) : undefined;
  return {
    mac: configMac ?? ec.mac,
    defaultRoute,
    staticIPv4: ec.staticIPv4,
    staticIPv6: ec.staticIPv6,
    aliases: ec.aliases,
    links: ec.links,
    name: c.Name.slice(1),
    hostname: c.Config.Hostname,
    ports: portsOf(c),
  };
}

/** What the container publishes: its port bindings, and with -P every exposed port. */
export function portsOf(c: ContainerRecord): ReturnType<typeof portRequests> {
  return portRequests(
    Object.keys(c.Config.ExposedPorts ?? {}),
    c.HostConfig.PortBindings ?? {},
    c.HostConfig.PublishAllPorts,
  );
}
