/**
 * Every field of the ContainerCreate body (`Config` and `HostConfig`, Engine
 * API 1.47, the version berthd advertises; moby's api/types/container), with
 * its JSON type and whether Berth honours it. A field Berth does not honour
 * is refused when set to anything but its zero value: never accepted and
 * ignored (a silently ignored `-v` loses a user's data). Pure.
 */
import { invalid } from '../common/errors.js';
import type { Json } from '../common/validate.js';
import { macAddressError } from '../network/ipam/index.js';

/** The JSON shapes of the API's Go types (null is every type's zero value). */
export type Kind =
  /** string */
  | 'str'
  | 'bool'
  /** int, int64, uint16...: an integer number */
  | 'int'
  /** strslice.StrSlice: an array of strings, or one string */
  | 'strs'
  /** []string */
  | 'list'
  /** map[string]string */
  | 'strmap'
  /** a struct or a map of structs */
  | 'obj'
  /** an array of structs */
  | 'objs'
  /** [2]uint */
  | 'pair';

export interface Field {
  kind: Kind;
  /**
   * Undefined: Berth honours the field. Otherwise the CLI flag(s) that set it,
   * and the field is refused when set to a value `isDefault` rejects.
   */
  unsupported?: string;
  /** Values that mean "not set" besides null and the kind's zero value. */
  isDefault?: (v: unknown) => boolean;
}

const no = (flag: string, kind: Kind, isDefault?: (v: unknown) => boolean): Field => ({
  kind,
  unsupported: flag,
  isDefault,
});
const yes = (kind: Kind): Field => ({ kind });
const oneOf =
  (...ok: unknown[]) =>
  (v: unknown) =>
    ok.includes(v);

/** Container `Config`: the top level of the create body. */
export const CONFIG_FIELDS: Record<string, Field> = {
  Hostname: yes('str'),
  Domainname: yes('str'),
  User: yes('str'),
  AttachStdin: yes('bool'),
  AttachStdout: yes('bool'),
  AttachStderr: yes('bool'),
  ExposedPorts: yes('obj'),
  Tty: yes('bool'),
  OpenStdin: yes('bool'),
  StdinOnce: yes('bool'),
  Env: yes('list'),
  Cmd: yes('strs'),
  // Checked by health.ts (dockerd's messages).
  Healthcheck: yes('obj'),
  // Windows-only: dockerd on Linux ignores it, as Berth does.
  ArgsEscaped: yes('bool'),
  Image: yes('str'),
  // Anonymous volumes (containers/mounts.ts), with the image's VOLUMEs.
  Volumes: yes('obj'),
  WorkingDir: yes('str'),
  Entrypoint: yes('strs'),
  NetworkDisabled: no('NetworkDisabled (use --network none)', 'bool'),
  // On the interface of the container's first network (docs/reference/docker-20.10-dockerpy-net.md).
  MacAddress: yes('str'),
  OnBuild: yes('list'),
  Labels: yes('strmap'),
  StopSignal: yes('str'),
  StopTimeout: yes('int'),
  // Only RUN/CMD/ENTRYPOINT of a build read it; dockerd keeps it, as Berth does.
  Shell: yes('strs'),
};

/** `HostConfig`, with the `Resources` it embeds. */
export const HOST_CONFIG_FIELDS: Record<string, Field> = {
  // Binds and named volumes (containers/mounts.ts, volumes/).
  Binds: yes('list'),
  // The client writes the file itself; dockerd only keeps the path, as Berth does.
  ContainerIDFile: yes('str'),
  // json-file, local and none, without options (runtime-flags.ts refuses the rest).
  LogConfig: yes('obj'),
  NetworkMode: yes('str'),
  PortBindings: yes('obj'),
  RestartPolicy: yes('obj'),
  AutoRemove: yes('bool'),
  // "local" only; any other is refused (volumes/service.ts checkDriver).
  VolumeDriver: yes('str'),
  VolumesFrom: yes('list'),
  ConsoleSize: yes('pair'),
  Annotations: no('--annotation', 'strmap'),
  CapAdd: yes('strs'),
  CapDrop: yes('strs'),
  // Berth's containers share the host's cgroup namespace: dockerd's "host" mode.
  CgroupnsMode: no('--cgroupns', 'str', oneOf('host')),
  Dns: yes('list'),
  DnsOptions: yes('list'),
  DnsSearch: yes('list'),
  ExtraHosts: yes('list'),
  GroupAdd: yes('list'),
  // private, shareable, none, host, container:X (runtime-flags.ts).
  IpcMode: yes('str'),
  Cgroup: no('--cgroup', 'str'),
  Links: yes('list'),
  OomScoreAdj: yes('int'),
  // host and container:X (runtime-flags.ts).
  PidMode: yes('str'),
  Privileged: yes('bool'),
  PublishAllPorts: yes('bool'),
  ReadonlyRootfs: yes('bool'),
  SecurityOpt: yes('list'),
  StorageOpt: no('--storage-opt', 'strmap'),
  Tmpfs: yes('strmap'),
  UTSMode: yes('str'),
  // No user-namespace remapping: every container is in the host's, "host".
  UsernsMode: no('--userns', 'str', oneOf('host')),
  ShmSize: yes('int'),
  // Those in the container's namespaces; runc's refusals for the rest, at create.
  Sysctls: yes('strmap'),
  // Checked against the daemon's runtime by the service.
  Runtime: yes('str'),
  // Linux has one isolation, "default"; dockerd refuses the others (create-checks.ts).
  Isolation: yes('str'),
  // Resources
  // Limits: resources.ts (decision 0032).
  CpuShares: yes('int'),
  Memory: yes('int'),
  NanoCpus: yes('int'),
  CgroupParent: no('--cgroup-parent', 'str'),
  BlkioWeight: no('--blkio-weight', 'int'),
  BlkioWeightDevice: no('--blkio-weight-device', 'objs'),
  BlkioDeviceReadBps: no('--device-read-bps', 'objs'),
  BlkioDeviceWriteBps: no('--device-write-bps', 'objs'),
  BlkioDeviceReadIOps: no('--device-read-iops', 'objs'),
  BlkioDeviceWriteIOps: no('--device-write-iops', 'objs'),
  CpuPeriod: yes('int'),
  CpuQuota: yes('int'),
  CpuRealtimePeriod: no('--cpu-rt-period', 'int'),
  CpuRealtimeRuntime: no('--cpu-rt-runtime', 'int'),
  CpusetCpus: yes('str'),
  CpusetMems: yes('str'),
  Devices: yes('objs'),
  DeviceCgroupRules: no('--device-cgroup-rule', 'list'),
  DeviceRequests: no('--gpus', 'objs'),
  KernelMemory: no('--kernel-memory', 'int'),
  KernelMemoryTCP: no('KernelMemoryTCP', 'int'),
  MemoryReservation: yes('int'),
  MemorySwap: yes('int'),
  // The CLI sends -1 for "not set".
  MemorySwappiness: yes('int'),
  OomKillDisable: yes('bool'),
  // 0 and -1 both mean unlimited.
  PidsLimit: yes('int'),
  Ulimits: yes('objs'),
  CpuCount: no('--cpu-count', 'int'),
  CpuPercent: no('--cpu-percent', 'int'),
  IOMaximumIOps: no('--io-maxiops', 'int'),
  IOMaximumBandwidth: no('--io-maxbandwidth', 'int'),
  // HostConfig proper, continued
  // Their later fields Berth lacks are refused one by one (containers/mounts.ts readMount).
  Mounts: yes('objs'),
  MaskedPaths: no('--security-opt systempaths=unconfined', 'list'),
  ReadonlyPaths: no('--security-opt systempaths=unconfined', 'list'),
  // Debian's tini as /sbin/docker-init.
  Init: yes('bool'),
};

/**
 * JSON's zero values: null, "", 0, false, [] and {}. A map with a key is set
 * even when its value is empty (`Volumes: {"/data": {}}` asks for a volume).
 */
export function isZero(v: unknown): boolean {
  if (v === null || v === undefined || v === '' || v === 0 || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v).length === 0;
  return false;
}

const typeName = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const KIND_TEXT: Record<Kind, string> = {
  str: 'a string',
  bool: 'a boolean',
  int: 'an integer',
  strs: 'a string or an array of strings',
  list: 'an array of strings',
  strmap: 'an object of strings',
  obj: 'an object',
  objs: 'an array of objects',
  pair: 'an array of two non-negative integers',
};

function hasKind(v: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'str':
      return typeof v === 'string';
    case 'bool':
      return typeof v === 'boolean';
    case 'int':
      return Number.isSafeInteger(v);
    case 'strs':
      return typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    case 'list':
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
    case 'strmap':
      return isObj(v) && Object.values(v).every((x) => typeof x === 'string');
    case 'obj':
      return isObj(v);
    case 'objs':
      return Array.isArray(v) && v.every((x) => isObj(x));
    case 'pair':
      return (
        Array.isArray(v) &&
        v.length === 2 &&
        v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)
      );
  }
}

/**
 * Checks every known field of `o` (`section` prefixes its name in messages:
 * "HostConfig"; none for the top level): its JSON type (400 naming the field), and that a field
 * Berth does not honour is not set (400 saying so). Unknown fields are left
 * alone, as dockerd's JSON decoder leaves them.
 */
export function checkFields(o: Json, fields: Record<string, Field>, section: string): void {
  for (const [name, f] of Object.entries(fields)) {
    const v = o[name];
    if (v === undefined || v === null) continue;
    const where = section ? `${section}.${name}` : name;
    if (f.kind === 'strmap' && isObj(v)) {
      const bad = Object.entries(v).find(([, x]) => typeof x !== 'string');
      if (bad)
        throw invalid(`invalid ${where}.${bad[0]}: expected a string, got ${typeName(bad[1])}`);
    }
    if (!hasKind(v, f.kind)) {
      throw invalid(`invalid ${where}: expected ${KIND_TEXT[f.kind]}, got ${typeName(v)}`);
    }
    if (f.unsupported && !isZero(v) && !f.isDefault?.(v)) {
      throw invalid(
        `berth does not support ${f.unsupported} (${where}) yet: create the container without it`,
      );
    }
  }
}

/** `EndpointSettings`: each network of `NetworkingConfig.EndpointsConfig`, and `network connect`'s. */
export const ENDPOINT_FIELDS: Record<string, Field> = {
  IPAMConfig: yes('obj'),
  Links: yes('list'),
  Aliases: yes('list'),
  // Honoured as dockerd since API 1.44 honours it (20.10 ignores it).
  MacAddress: yes('str'),
  // Kept and shown, as dockerd's bridge driver keeps them.
  DriverOpts: yes('strmap'),
  GwPriority: no('--gw-priority', 'int'),
  // What inspect reports: dockerd ignores them in a request, as Berth does.
  NetworkID: yes('str'),
  EndpointID: yes('str'),
  Gateway: yes('str'),
  IPAddress: yes('str'),
  IPPrefixLen: yes('int'),
  IPv6Gateway: yes('str'),
  GlobalIPv6Address: yes('str'),
  GlobalIPv6PrefixLen: yes('int'),
  DNSNames: yes('list'),
};

/** `EndpointIPAMConfig`: the addresses asked for on one network. */
export const ENDPOINT_IPAM_FIELDS: Record<string, Field> = {
  IPv4Address: yes('str'),
  IPv6Address: yes('str'),
  LinkLocalIPs: no('--link-local-ip', 'list'),
};

/** Checks one network's endpoint settings (`where` names it: "EndpointConfig", ...). */
export function checkEndpointConfig(v: unknown, where: string): void {
  if (v === undefined || v === null) return;
  if (!isObj(v)) throw invalid(`invalid ${where}: expected an object, got ${typeName(v)}`);
  checkFields(v, ENDPOINT_FIELDS, where);
  if (isObj(v.IPAMConfig)) checkFields(v.IPAMConfig, ENDPOINT_IPAM_FIELDS, `${where}.IPAMConfig`);
  const bad = typeof v.MacAddress === 'string' && v.MacAddress && macAddressError(v.MacAddress);
  if (bad) throw invalid(bad);
}
