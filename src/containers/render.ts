/** Containers as Docker's API shows them: inspect JSON, list rows, status text. */
import type { ContainerRecord, Status } from './types.js';
import { comparePortKeys, type PublishedPort } from '../network/ports/spec.js';
import { MASKED_PATHS, READONLY_PATHS } from './spec.js';
import { healthWords } from './health.js';

/** State.Status as Docker shows it: a paused container's record says running. */
export function statusOf(c: ContainerRecord): Status {
  return c.State.Status === 'running' && c.State.Paused ? 'paused' : c.State.Status;
}
import { mountsView } from '../volumes/parse.js';

/** "Up 2 minutes", "Exited (0) 3 seconds ago", "Created" — docker ps's STATUS. */
export function statusText(c: ContainerRecord, now = Date.now()): string {
  const s = c.State;
  if (s.Status === 'running') {
    const up = `Up ${humanDuration(now - Date.parse(s.StartedAt))}`;
    if (s.Paused) return `${up} (Paused)`;
    return s.Health ? `${up} (${healthWords(s.Health.Status)})` : up;
  }
  if (s.Status === 'restarting') {
    return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
  }
  if (s.Status === 'exited') {
    if (s.FinishedAt.startsWith('0001')) return 'Created';
    return `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
  }
  if (s.Status === 'removing') return 'Removal In Progress';
  if (s.Status === 'dead') return 'Dead';
  return 'Created';
}

/** Docker's units.HumanDuration. */
export function humanDuration(ms: number): string {
  const sec = Math.floor(ms / 1000);
  if (sec < 1) return 'Less than a second';
  if (sec === 1) return '1 second';
  if (sec < 60) return `${sec} seconds`;
  const min = Math.floor(sec / 60);
  if (min === 1) return 'About a minute';
  if (min < 60) return `${min} minutes`;
  const h = Math.round(sec / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

/** NetworkSettings.Ports: every exposed port, with the host ports it is published on (else null). */
function portsOf(
  c: ContainerRecord,
  published: readonly PublishedPort[],
): Record<string, Array<{ HostIp: string; HostPort: string }> | null> {
  const out: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
  // Docker resets a stopped container's NetworkSettings: no ports at all.
  if (c.State.Status !== 'running') return out;
  const keys = [
    ...Object.keys(c.Config.ExposedPorts ?? {}),
    ...published.map((p) => `${p.containerPort}/${p.proto}`),
  ];
  for (const k of keys.sort(comparePortKeys)) out[k] = null;
  for (const p of published) {
    (out[`${p.containerPort}/${p.proto}`] ??= []).push({
      HostIp: p.hostIp || '0.0.0.0',
      HostPort: String(p.hostPort),
    });
  }
  return out;
}

/** The Ports of a GET /containers/json row: published ones with their host side, then the rest. */
function listPorts(c: ContainerRecord, published: readonly PublishedPort[]): object[] {
  const out: object[] = published.map((p) => ({
    IP: p.hostIp || '0.0.0.0',
    PrivatePort: p.containerPort,
    PublicPort: p.hostPort,
    Type: p.proto,
  }));
  const shown = new Set(published.map((p) => `${p.containerPort}/${p.proto}`));
  for (const k of Object.keys(c.Config.ExposedPorts ?? {})) {
    if (shown.has(k)) continue;
    const [port = '', proto = 'tcp'] = k.split('/');
    out.push({ PrivatePort: Number(port), Type: proto });
  }
  return out;
}

/**
 * Every HostConfig field dockerd 20.10 shows in inspect, in its order, with
 * the value it shows when the create body left the field out
 * (docs/reference/docker-20.10-inspect.json). Clients read some of them
 * unconditionally (docker-py: `HostConfig.LogConfig.Type`).
 */
const HOST_CONFIG_ZERO: Readonly<Record<string, unknown>> = {
  Binds: null,
  ContainerIDFile: '',
  LogConfig: { Type: 'json-file', Config: {} },
  NetworkMode: 'default',
  PortBindings: null,
  RestartPolicy: { Name: '', MaximumRetryCount: 0 },
  AutoRemove: false,
  VolumeDriver: '',
  VolumesFrom: null,
  CapAdd: null,
  CapDrop: null,
  CgroupnsMode: 'host',
  Dns: null,
  DnsOptions: null,
  DnsSearch: null,
  ExtraHosts: null,
  GroupAdd: null,
  IpcMode: 'private',
  Cgroup: '',
  Links: null,
  OomScoreAdj: 0,
  PidMode: '',
  Privileged: false,
  PublishAllPorts: false,
  ReadonlyRootfs: false,
  SecurityOpt: null,
  UTSMode: '',
  UsernsMode: '',
  ShmSize: 64 * 1024 * 1024,
  Runtime: 'runc',
  ConsoleSize: [0, 0],
  Isolation: '',
  CpuShares: 0,
  Memory: 0,
  NanoCpus: 0,
  CgroupParent: '',
  BlkioWeight: 0,
  BlkioWeightDevice: null,
  BlkioDeviceReadBps: null,
  BlkioDeviceWriteBps: null,
  BlkioDeviceReadIOps: null,
  BlkioDeviceWriteIOps: null,
  CpuPeriod: 0,
  CpuQuota: 0,
  CpuRealtimePeriod: 0,
  CpuRealtimeRuntime: 0,
  CpusetCpus: '',
  CpusetMems: '',
  Devices: null,
  DeviceCgroupRules: null,
  DeviceRequests: null,
  KernelMemory: 0,
  KernelMemoryTCP: 0,
  MemoryReservation: 0,
  MemorySwap: 0,
  MemorySwappiness: null,
  OomKillDisable: false,
  PidsLimit: null,
  Ulimits: null,
  CpuCount: 0,
  CpuPercent: 0,
  IOMaximumIOps: 0,
  IOMaximumBandwidth: 0,
  MaskedPaths: null,
  ReadonlyPaths: null,
};

/**
 * HostConfig as inspect shows it: every field dockerd shows, the container's
 * values over the zero ones (a null sent for a field keeps the zero value);
 * the defaults dockerd fills in for empty strings (log driver, IPC and
 * cgroup namespace modes), and the paths masked in a container that is not
 * privileged.
 */
export function hostConfigView(hc: ContainerRecord['HostConfig']): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ...HOST_CONFIG_ZERO,
    MaskedPaths: hc.Privileged ? null : [...MASKED_PATHS],
    ReadonlyPaths: hc.Privileged ? null : [...READONLY_PATHS],
  };
  for (const [k, v] of Object.entries(hc)) {
    // Berth masks what dockerd masks by default and refuses other lists.
    if (k === 'MaskedPaths' || k === 'ReadonlyPaths') continue;
    if ((v !== null && v !== undefined) || !(k in out)) out[k] = v;
  }
  const log = (hc.LogConfig ?? {}) as { Type?: unknown; Config?: unknown };
  out.LogConfig = { Type: log.Type || 'json-file', Config: log.Config ?? {} };
  if (out.IpcMode === '') out.IpcMode = 'private';
  if (out.CgroupnsMode === '') out.CgroupnsMode = 'host';
  return out;
}

/** GET /containers/{id}/json. */
export function inspect(
  c: ContainerRecord,
  paths: {
    dir: string;
    logPath: string;
    netns?: string;
    published: readonly PublishedPort[];
    /** The overlay's directories (LowerDir, UpperDir, WorkDir, MergedDir). */
    graph: Record<string, string>;
    /** `size=1`: SizeRw and SizeRootFs (shown even when 0, as dockerd's pointers). */
    sizes?: ContainerSizes;
  },
): object {
  const s = c.State;
  const running = s.Status === 'running';
  const primary = Object.values(c.Networks)[0];
  return {
    Id: c.Id,
    Created: c.Created,
    Path: c.Path,
    Args: c.Args,
    State: {
      Status: statusOf(c),
      // Docker counts a container waiting to restart as running.
      Running: running || s.Status === 'restarting',
      Paused: running && !!s.Paused,
      Restarting: s.Status === 'restarting',
      OOMKilled: false,
      Dead: s.Status === 'dead',
      Pid: s.Pid,
      ExitCode: s.ExitCode,
      Error: s.Error,
      StartedAt: s.StartedAt,
      FinishedAt: s.FinishedAt,
      ...(s.Health ? { Health: s.Health } : {}),
    },
    Image: `sha256:${c.ImageID.replace(/^sha256:/, '')}`,
    ResolvConfPath: `${paths.dir}/resolv.conf`,
    HostnamePath: `${paths.dir}/hostname`,
    HostsPath: `${paths.dir}/hosts`,
    // dockerd shows the path of json-file logs only (none for local and none).
    LogPath: logDriver(c) === 'json-file' ? paths.logPath : '',
    Name: c.Name,
    RestartCount: c.RestartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: hostConfigView(c.HostConfig),
    GraphDriver: { Name: 'overlay2', Data: paths.graph },
    ...(paths.sizes ?? {}),
    Mounts: mountsView(c.MountPoints),
    Config: c.Config,
    NetworkSettings: {
      Bridge: '',
      SandboxID: running && paths.netns ? c.Id : '',
      HairpinMode: false,
      LinkLocalIPv6Address: '',
      LinkLocalIPv6PrefixLen: 0,
      Ports: portsOf(c, paths.published),
      SandboxKey: running && paths.netns ? paths.netns : '',
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: c.Networks.bridge?.EndpointID ?? '',
      Gateway: c.Networks.bridge?.Gateway ?? '',
      GlobalIPv6Address: c.Networks.bridge?.GlobalIPv6Address ?? '',
      GlobalIPv6PrefixLen: c.Networks.bridge?.GlobalIPv6PrefixLen ?? 0,
      IPAddress: c.Networks.bridge?.IPAddress ?? '',
      IPPrefixLen: c.Networks.bridge?.IPPrefixLen ?? 0,
      IPv6Gateway: c.Networks.bridge?.IPv6Gateway ?? '',
      MacAddress: c.Networks.bridge?.MacAddress ?? primary?.MacAddress ?? '',
      Networks: c.Networks,
    },
  };
}

/** The container's log driver ("json-file" when none was named). */
export function logDriver(c: ContainerRecord): string {
  const lc = c.HostConfig.LogConfig as { Type?: unknown } | null | undefined;
  return typeof lc?.Type === 'string' && lc.Type ? lc.Type : 'json-file';
}

/** The command as docker ps shows it: arguments with spaces in single quotes. */
export function commandText(c: ContainerRecord): string {
  return [c.Path, ...c.Args.map((a) => (a.includes(' ') ? `'${a}'` : a))].join(' ');
}

/** A container's disk use: its own changes, and those plus its image's layers. */
export interface ContainerSizes {
  SizeRw: number;
  SizeRootFs: number;
}

/** One row of GET /containers/json; `sizes` with `size=1` (left out when 0, as Go's omitempty). */
export function listRow(
  c: ContainerRecord,
  published: readonly PublishedPort[],
  sizes?: ContainerSizes,
): object {
  return {
    Id: c.Id,
    Names: [c.Name],
    Image: c.Image,
    ImageID: `sha256:${c.ImageID.replace(/^sha256:/, '')}`,
    Command: commandText(c),
    Created: Math.floor(Date.parse(c.Created) / 1000),
    Ports: listPorts(c, published),
    ...(sizes?.SizeRw ? { SizeRw: sizes.SizeRw } : {}),
    ...(sizes?.SizeRootFs ? { SizeRootFs: sizes.SizeRootFs } : {}),
    Labels: c.Config.Labels ?? {},
    State: statusOf(c),
    Status: statusText(c),
    HostConfig: { NetworkMode: c.HostConfig.NetworkMode },
    NetworkSettings: { Networks: c.Networks },
    Mounts: mountsView(c.MountPoints),
  };
}
