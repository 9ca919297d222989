/**
 * A container's OCI bundle: the generated /etc files (hosts, hostname,
 * resolv.conf) and config.json, written into the container's directory.
 * Synchronously: they are small and on every start's path, where a trip
 * through the thread pool costs more than the write itself.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { hostsFile, resolvConf, type ResolvInput } from './files.js';
import { goArch } from '../common/arch.js';
import { invalid } from '../common/errors.js';
import { parseSecurityOpts } from './security.js';
import { specJson } from './resources.js';
import { applyRuntimeFlags, utsMode, type RuntimeFlags } from './runtime-flags.js';
import { buildSpec } from './spec.js';
import type { OciMount } from './mounts.js';
import type { ContainerRecord } from './types.js';
import type { EndpointSettings } from '../network/types.js';
import { processEnv } from './config.js';
import { resolveUser } from './user.js';

/** The daemon's DNS settings written into containers that don't use Berth's DNS. */
export type DaemonDns = Pick<ResolvInput, 'daemonServers' | 'daemonSearch' | 'daemonOptions'>;

/** The special address of `--add-host NAME:host-gateway`. */
export const HOST_GATEWAY = 'host-gateway';

export interface BundleInput {
  /** The container's directory (files and bundle go there). */
  dir: string;
  /** The mounted root filesystem. */
  rootfs: string;
  /** The network namespace to join; undefined for the host's. */
  netnsPath?: string;
  hostNetwork: boolean;
  dns: DaemonDns;
  /** Where Berth's resolver answers on a network without a gateway shown (an overlay's). */
  resolverOf?: (ep: EndpointSettings) => string | undefined;
  /** --link children: their /etc/hosts lines and the parent's variables. */
  links: LinkedEntry[];
  /** Limits, sysctls, devices, namespaces, init (start-flags.ts). */
  flags: RuntimeFlags;
  /** What `--add-host NAME:host-gateway` names (ContainerNetworking.hostGateway). */
  hostGateway?: string;
  /** The container's binds, volumes and tmpfs mounts (mounts.ts). */
  mounts?: OciMount[];
  /** The root's propagation a shared or slave bind needs. */
  rootfsPropagation?: string;
}

/** One resolved --link of a container. */
export interface LinkedEntry {
  ip: string;
  /** Names for the hosts line: alias, the child's short ID, its name if different. */
  names: string[];
  /** The variables the link gives the parent (ALIAS_NAME, ALIAS_PORT_...). */
  env: string[];
}

/**
 * The container's own names in /etc/hosts, as libnetwork writes them: the
 * FQDN (hostname, dot, domainname), and the short name when it has a dot.
 */
export function ownNames(hostname: string, domainname = ''): string[] {
  const fqdn = domainname ? `${hostname}.${domainname}` : hostname;
  const dot = fqdn.indexOf('.');
  return dot > 0 ? [fqdn, fqdn.slice(0, dot)] : [fqdn];
}

/**
 * The container's /etc/hosts: Docker's header, linked children, its own
 * addresses, extra hosts (`NAME:host-gateway` is `hostGateway`, dockerd's
 * HostGatewayIP; 400 when there is none).
 */
export function hostsFor(c: ContainerRecord, links: LinkedEntry[], hostGateway?: string): string {
  const entries = links.map((l) => ({ ip: l.ip, names: l.names }));
  const own = ownNames(c.Config.Hostname, c.Config.Domainname);
  for (const n of Object.values(c.Networks)) {
    if (n.IPAddress) entries.push({ ip: n.IPAddress, names: own });
    if (n.GlobalIPv6Address) {
      entries.push({ ip: n.GlobalIPv6Address, names: own });
    }
  }
  for (const h of c.HostConfig.ExtraHosts ?? []) {
    const at = h.indexOf(':');
    let ip = h.slice(at + 1);
    if (ip === HOST_GATEWAY) {
      if (!hostGateway) throw invalid('unable to derive the IP value for host-gateway');
      ip = hostGateway;
    }
    entries.push({ ip, names: [h.slice(0, at)] });
  }
  return hostsFile(entries);
}

/**
 * The container's resolv.conf. On a user-defined network Berth's DNS answers
 * on the network's gateway address, with `options ndots:0` as Docker writes;
 * elsewhere the daemon's nameservers (or the container's --dns).
 */
export function resolvFor(
  c: ContainerRecord,
  dns: DaemonDns,
  /** Where Berth's resolver answers on a network without a gateway shown (an overlay's). */
  resolverOf: (ep: EndpointSettings) => string | undefined = () => undefined,
): string {
  const mode = c.HostConfig.NetworkMode;
  const primary = mode === 'default' ? 'bridge' : mode;
  const at = (ep: EndpointSettings) => ep.Gateway || resolverOf(ep);
  const user = Object.entries(c.Networks)
    .filter(([name, ep]) => name !== 'bridge' && name !== 'host' && name !== 'none' && at(ep))
    .sort(([a], [b]) => (a === primary ? -1 : b === primary ? 1 : 0));
  const gateway = user[0] && at(user[0][1]);
  if (gateway && !c.HostConfig.Dns.length) {
    return resolvConf({
      daemonServers: [gateway],
      daemonSearch: c.HostConfig.DnsSearch.length ? [] : dns.daemonSearch,
      daemonOptions: ['ndots:0'],
      dns: [],
      dnsSearch: c.HostConfig.DnsSearch,
      dnsOptions: c.HostConfig.DnsOptions.length ? ['ndots:0', ...c.HostConfig.DnsOptions] : [],
    });
  }
  return resolvConf({
    ...dns,
    dns: c.HostConfig.Dns,
    dnsSearch: c.HostConfig.DnsSearch,
    dnsOptions: c.HostConfig.DnsOptions,
  });
}

/** Where a container's generated /etc files are, in its directory. */
function etcFiles(dir: string) {
  return {
    hosts: join(dir, 'hosts'),
    hostname: join(dir, 'hostname'),
    resolvConf: join(dir, 'resolv.conf'),
  };
}

/** What /etc/hosts and /etc/resolv.conf are made of. */
export type EtcInput = Pick<
  BundleInput,
  'dir' | 'hostNetwork' | 'dns' | 'resolverOf' | 'links' | 'hostGateway'
>;

/**
 * Writes /etc/hosts and /etc/resolv.conf from the networks the container
 * has joined: after its joins, before its process runs. In place, as
 * runc may already have bind-mounted them (writeBundle makes them).
 */
export function writeEtcFiles(c: ContainerRecord, i: EtcInput): void {
  const files = etcFiles(i.dir);
  // On the host's network the host's own file, unless there are extra
  // hosts: then, as libnetwork, Docker's default lines and those alone.
  let hosts: string;
  if (i.hostNetwork && !c.HostConfig.ExtraHosts?.length) {
    try {
      hosts = readFileSync('/etc/hosts', 'utf8');
    } catch {
      hosts = hostsFile([]);
    }
  } else {
    hosts = hostsFor(c, i.links, i.hostGateway);
  }
  writeFileSync(files.hosts, hosts);
  writeFileSync(files.resolvConf, resolvFor(c, i.dns, i.resolverOf));
}

/**
 * Writes the bundle's config.json and the /etc files it bind-mounts, and
 * returns the bundle directory. /etc/hostname is written whole; /etc/hosts
 * and /etc/resolv.conf are only made to exist: their text depends on the
 * networks, which may be joined while runc creates the container, and
 * comes from writeEtcFiles before the process runs.
 */
export async function writeBundle(c: ContainerRecord, i: BundleInput): Promise<string> {
  const files = etcFiles(i.dir);
  writeFileSync(files.hostname, c.Config.Hostname + '\n');
  writeFileSync(files.hosts, '', { flag: 'a' });
  writeFileSync(files.resolvConf, '', { flag: 'a' });
  const user = await resolveUser(i.rootfs, c.Config.User, c.HostConfig.GroupAdd as string[] | null);
  const env = processEnv({
    config: c.Config.Env,
    hostname: c.Config.Hostname,
    tty: c.Config.Tty,
    links: i.links.flatMap((l) => l.env),
  });
  const spec = buildSpec({
    args: [c.Path, ...c.Args],
    env,
    cwd: c.Config.WorkingDir || '/',
    user,
    tty: c.Config.Tty,
    consoleSize: c.HostConfig.ConsoleSize,
    hostname: c.Config.Hostname,
    domainname: c.Config.Domainname,
    rootfs: i.rootfs,
    readonlyRootfs: c.HostConfig.ReadonlyRootfs,
    netnsPath: i.netnsPath,
    // Host networking keeps a UTS namespace of its own (the host's name by
    // default), as dockerd; --uts host shares the host's.
    hostUts: utsMode(c.HostConfig).kind === 'host',
    capAdd: c.HostConfig.CapAdd ?? [],
    capDrop: c.HostConfig.CapDrop ?? [],
    privileged: c.HostConfig.Privileged,
    files,
    cgroupsPath: `/berth/${c.Id}`,
    shmSize: c.HostConfig.ShmSize,
    userMounts: i.mounts,
    rootfsPropagation: i.rootfsPropagation,
    security: parseSecurityOpts(c.HostConfig.SecurityOpt),
    machine: { arch: goArch(), kernelRelease: release() },
  });
  const bundle = join(i.dir, 'bundle');
  mkdirSync(bundle, { recursive: true });
  applyRuntimeFlags(spec, i.flags);
  writeFileSync(join(bundle, 'config.json'), specJson(spec));
  return bundle;
}
