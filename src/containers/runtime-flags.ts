/**
 * The runtime flags of a container besides its limits, as dockerd 20.10
 * reads them: `--sysctl` (with runc's refusals, made at create), the
 * default network sysctls, `--ipc`, `--pid`, `--uts` modes, `--device`
 * mappings, `--log-driver`, `--init`; and what each puts in the OCI spec
 * (applyRuntimeFlags). Pure: the device nodes and the other containers'
 * PIDs come resolved (decision 0032).
 */
import { isIpcSysctl } from '../common/sysctls.js';
import { invalid } from '../common/errors.js';
import type { Json } from '../common/validate.js';
import { rlimits, type OciResources, type Ulimit } from './resources.js';

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** A namespace mode: the container's own, the host's, none, or another container's. */
export type NsMode =
  { kind: 'private' } | { kind: 'host' } | { kind: 'none' } | { kind: 'container'; ref: string };

function nsMode(
  v: string,
  what: string,
  allowed: Array<NsMode['kind']>,
  extra: string[] = [],
): NsMode {
  if (v === '' || extra.includes(v)) return { kind: 'private' };
  if (v === 'host' && allowed.includes('host')) return { kind: 'host' };
  if (v === 'none' && allowed.includes('none')) return { kind: 'none' };
  if (v.startsWith('container:') && allowed.includes('container')) {
    const ref = v.slice('container:'.length);
    if (ref) return { kind: 'container', ref };
  }
  throw invalid(`Invalid ${what} mode: ${v}`);
}

/** HostConfig.IpcMode: "", private, shareable, none, host, container:X. */
export const ipcMode = (hc: Json): NsMode =>
  nsMode(str(hc.IpcMode), 'IPC', ['host', 'none', 'container'], ['private', 'shareable']);
/** HostConfig.PidMode: "", host, container:X. */
export const pidMode = (hc: Json): NsMode => nsMode(str(hc.PidMode), 'PID', ['host', 'container']);
/** HostConfig.UTSMode: "" or host. */
export const utsMode = (hc: Json): NsMode => nsMode(str(hc.UTSMode), 'UTS', ['host']);

/** Whether the container has a network namespace of its own (dockerd's NetworkMode.IsPrivate). */
export const ownNetwork = (hc: Json): boolean => {
  const m = str(hc.NetworkMode);
  return m !== 'host' && !m.startsWith('container:');
};

/**
 * runc's sysctl validation, made at create (dockerd makes it at start, a
 * 500): a sysctl needs the namespace it belongs to.
 */
export function checkSysctls(hc: Json): void {
  const sysctls = (hc.Sysctls ?? {}) as Record<string, string>;
  const ipc = ipcMode(hc);
  for (const k of Object.keys(sysctls)) {
    if (isIpcSysctl(k)) {
      if (ipc.kind === 'host')
        throw invalid(`sysctl "${k}" is not allowed in the hosts ipc namespace`);
      continue;
    }
    if (k.startsWith('net.')) {
      if (str(hc.NetworkMode) === 'host') {
        throw invalid(`sysctl "${k}" not allowed in host network namespace`);
      }
      continue;
    }
    if (k === 'kernel.domainname' && utsMode(hc).kind !== 'host') continue;
    if (k === 'kernel.hostname' && utsMode(hc).kind !== 'host') {
      throw invalid(
        `sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field`,
      );
    }
    throw invalid(`sysctl "${k}" is not in a separate kernel namespace`);
  }
}

/**
 * The sysctls of the spec: Docker's defaults in a network namespace of the
 * container's own (unprivileged ping and low ports), then the container's.
 */
export function sysctlsFor(hc: Json): Record<string, string> {
  const out: Record<string, string> = {};
  if (ownNetwork(hc)) {
    out['net.ipv4.ping_group_range'] = '0 2147483647';
    out['net.ipv4.ip_unprivileged_port_start'] = '0';
  }
  return { ...out, ...((hc.Sysctls ?? {}) as Record<string, string>) };
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

/** HostConfig.Devices, checked: a host path, a container path, permissions of r, w, m. */
export function checkDevices(v: unknown): DeviceMapping[] {
  if (!Array.isArray(v)) return [];
  return v.map((d: Json) => {
    const host = str(d.PathOnHost);
    const perms = str(d.CgroupPermissions) || 'rwm';
    if (!host.startsWith('/')) throw invalid(`bad format for path: ${host}`);
    if (!/^[rwm]{1,3}$/.test(perms) || new Set(perms).size !== perms.length) {
      throw invalid(`bad mode specified: ${perms}`);
    }
    return {
      PathOnHost: host,
      PathInContainer: str(d.PathInContainer) || host,
      CgroupPermissions: perms,
    };
  });
}

/** A device node found on the host for a mapping (kernel side: stat). */
export interface DeviceNode {
  /** Where it appears in the container. */
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
  permissions: string;
}

/** The log drivers Berth has: json-file (the default), local (kept the same way) and none. */
const LOG_DRIVERS = new Set(['', 'json-file', 'local', 'none']);

/**
 * HostConfig.LogConfig: the drivers Berth has, without options (Berth does
 * no rotation). Runs after dockerd's own check of the driver's name.
 */
export function checkLogConfig(v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return;
  const lc = v as Json;
  const type = str(lc.Type);
  if (!LOG_DRIVERS.has(type)) {
    throw invalid(
      `berth does not support log driver ${type} yet: use json-file, local or none (HostConfig.LogConfig)`,
    );
  }
  const opts = lc.Config;
  if (typeof opts === 'object' && opts !== null && Object.keys(opts).length) {
    throw invalid(
      'berth does not support --log-opt (HostConfig.LogConfig.Config) yet: create the container without it',
    );
  }
}

/** Whether the container's output is kept for `docker logs` (driver none keeps nothing). */
export function keepsLogs(hc: Json): boolean {
  const lc = hc.LogConfig as Json | null | undefined;
  return str(lc?.Type) !== 'none';
}

/** Every create-time check of this module, in the order dockerd would meet them. */
export function checkRuntimeFlags(config: Json, hc: Json): void {
  if (utsMode(hc).kind === 'host' && str(config.Hostname)) {
    throw invalid('conflicting options: hostname and the UTS mode');
  }
  ipcMode(hc);
  pidMode(hc);
  checkSysctls(hc);
  checkDevices(hc.Devices);
  checkLogConfig(hc.LogConfig);
}

/** Where the container's namespaces come from, resolved (another container's running PID). */
export interface RuntimeFlags {
  resources: OciResources;
  ulimits: Ulimit[];
  oomScoreAdj: number;
  sysctl: Record<string, string>;
  devices: DeviceNode[];
  /** `shm`: the host tmpfs a shareable container's /dev/shm is (its own, or its donor's). */
  ipc:
    | { kind: 'private' | 'none' | 'host' }
    | { kind: 'shareable'; shm: string }
    | { kind: 'container'; pid: number; shm: string };
  pid: { kind: 'private' | 'host' } | { kind: 'container'; pid: number };
  /** The host's init binary to run as PID 1 (`--init`), when the container asks for one. */
  init?: string;
}

type Mount = { destination: string; type: string; source: string; options: string[] };
type Namespace = { type: string; path?: string };
interface SpecShape {
  process: { args: string[]; rlimits?: unknown[]; oomScoreAdj?: number };
  mounts: Mount[];
  linux: {
    namespaces: Namespace[];
    resources: Record<string, unknown> & { devices?: unknown[] };
    sysctl?: Record<string, string>;
    devices?: unknown[];
  };
}

/** Where Docker binds the init: /sbin/docker-init. */
export const INIT_PATH = '/sbin/docker-init';

/** Applies the flags to a spec buildSpec made (namespaces, mounts, resources, process). */
export function applyRuntimeFlags(spec: Record<string, unknown>, f: RuntimeFlags): void {
  const s = spec as unknown as SpecShape;
  const setNs = (type: string, how: 'remove' | { path?: string }) => {
    s.linux.namespaces = s.linux.namespaces.filter((n) => n.type !== type);
    if (how !== 'remove') s.linux.namespaces.push({ type, ...how });
  };
  if (f.pid.kind === 'host') setNs('pid', 'remove');
  if (f.pid.kind === 'container') setNs('pid', { path: `/proc/${f.pid.pid}/ns/pid` });
  const shm = s.mounts.findIndex((m) => m.destination === '/dev/shm');
  if (f.ipc.kind === 'host') {
    setNs('ipc', 'remove');
    if (shm >= 0) s.mounts[shm] = bindShm('/dev/shm');
  } else if (f.ipc.kind === 'container') {
    setNs('ipc', { path: `/proc/${f.ipc.pid}/ns/ipc` });
    if (shm >= 0) s.mounts[shm] = bindShm(f.ipc.shm);
  } else if (f.ipc.kind === 'shareable' && shm >= 0) {
    s.mounts[shm] = bindShm(f.ipc.shm);
  } else if (f.ipc.kind === 'none' && shm >= 0) {
    s.mounts.splice(shm, 1);
  }
  if (f.init && f.pid.kind === 'private') {
    s.process.args = [INIT_PATH, '--', ...s.process.args];
    s.mounts.push({
      destination: INIT_PATH,
      type: 'bind',
      source: f.init,
      options: ['bind', 'ro'],
    });
  }
  if (f.ulimits.length) s.process.rlimits = rlimits(f.ulimits);
  if (f.oomScoreAdj) s.process.oomScoreAdj = f.oomScoreAdj;
  if (Object.keys(f.sysctl).length) s.linux.sysctl = f.sysctl;
  s.linux.resources = { ...s.linux.resources, ...f.resources };
  if (f.devices.length) {
    s.linux.devices = f.devices.map((d) => ({
      path: d.path,
      type: d.type,
      major: d.major,
      minor: d.minor,
      fileMode: d.fileMode,
      uid: d.uid,
      gid: d.gid,
    }));
    s.linux.resources.devices = [
      ...(s.linux.resources.devices ?? []),
      ...f.devices.map((d) => ({
        allow: true,
        type: d.type,
        major: d.major,
        minor: d.minor,
        access: d.permissions,
      })),
    ];
  }
}

/** /dev/shm bound from elsewhere (the host's, another container's). */
const bindShm = (source: string): Mount => ({
  destination: '/dev/shm',
  type: 'bind',
  source,
  options: ['rbind', 'rprivate'],
});
