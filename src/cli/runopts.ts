/**
 * The flags of `run`/`create` and the ContainerCreate body they produce, in
 * the exact shape docker CLI 28 sends (field order, nulls, zero fields), so
 * that berthd sees the same request from berth and from docker.
 *
 * Size: one table entry per `docker run` flag and one place that turns them
 * into the body; split, a flag's definition and its use would part.
 */
import { parseMountFlag } from './mountopt.js';
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { emptyEndpointSettings } from '../network/types.js';
import type { FlagDef, Flags } from './flags.js';
import { RUN_LIMIT_FLAGS, runLimitFields } from './limitopts.js';
import { parsePortSpecs, sortKeys } from './ports.js';
import { parseGoDuration } from '../common/goduration.js';

const L = (long: string, short: string | undefined, usage: string, argName = 'list'): FlagDef => ({
  long,
  short,
  type: 'list',
  usage,
  argName,
});
const S = (long: string, short: string | undefined, usage: string, def?: string): FlagDef => ({
  long,
  short,
  type: 'string',
  usage,
  def,
});
const B = (long: string, short: string | undefined, usage: string): FlagDef => ({
  long,
  short,
  type: 'bool',
  usage,
});

/**
 * A flag berthd refuses until Berth supports it: parsed and sent as docker
 * sends it, so the daemon's refusal names it, but not listed in --help.
 */
const hide = (d: FlagDef): FlagDef => ({ ...d, hidden: true });

/** Flags shared by `run` and `create`. */
export const CONTAINER_FLAGS: FlagDef[] = [
  L('add-host', undefined, 'Add a custom host-to-IP mapping (host:ip)'),
  L('attach', 'a', 'Attach to STDIN, STDOUT or STDERR'),
  L('cap-add', undefined, 'Add Linux capabilities'),
  L('cap-drop', undefined, 'Drop Linux capabilities'),
  S('cidfile', undefined, 'Write the container ID to the file'),
  L('dns', undefined, 'Set custom DNS servers'),
  L('dns-option', undefined, 'Set DNS options'),
  L('dns-search', undefined, 'Set custom DNS search domains'),
  S('domainname', undefined, 'Container NIS domain name'),
  S('entrypoint', undefined, 'Overwrite the default ENTRYPOINT of the image'),
  L('env', 'e', 'Set environment variables'),
  L('env-file', undefined, 'Read in a file of environment variables'),
  L('expose', undefined, 'Expose a port or a range of ports'),
  L('group-add', undefined, 'Add additional groups to join'),
  S('health-cmd', undefined, 'Command to run to check health'),
  S('health-interval', undefined, 'Time between running the check (ms|s|m|h) (default 0s)'),
  { long: 'health-retries', type: 'int', usage: 'Consecutive failures needed to report unhealthy' },
  S(
    'health-start-interval',
    undefined,
    'Time between running the check during the start period (ms|s|m|h) (default 0s)',
  ),
  S(
    'health-start-period',
    undefined,
    'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)',
  ),
  S('health-timeout', undefined, 'Maximum time to allow one check to run (ms|s|m|h) (default 0s)'),
  S('hostname', 'h', 'Container host name'),
  B(
    'init',
    undefined,
    'Run an init inside the container that forwards signals and reaps processes',
  ),
  B('interactive', 'i', 'Keep STDIN open even if not attached'),
  S('ip', undefined, 'IPv4 address (e.g., 172.30.100.104)'),
  S('ip6', undefined, 'IPv6 address (e.g., 2001:db8::33)'),
  S('ipc', undefined, 'IPC mode to use'),
  L('label', 'l', 'Set meta data on a container'),
  L('label-file', undefined, 'Read in a line delimited file of labels'),
  L('link', undefined, 'Add link to another container'),
  hide(L('link-local-ip', undefined, 'Container IPv4/IPv6 link-local addresses')),
  S('log-driver', undefined, 'Logging driver for the container'),
  hide(L('log-opt', undefined, 'Log driver options')),
  hide(S('mac-address', undefined, 'Container MAC address (e.g., 92:d0:c6:0a:29:33)')),
  {
    long: 'net',
    type: 'list',
    usage: 'Connect a container to a network',
    argName: 'network',
    hidden: true,
  },
  {
    long: 'net-alias',
    type: 'list',
    usage: 'Add network-scoped alias for the container',
    hidden: true,
  },
  { long: 'network', type: 'list', usage: 'Connect a container to a network', argName: 'network' },
  L('network-alias', undefined, 'Add network-scoped alias for the container'),
  S('pid', undefined, 'PID namespace to use'),
  B('privileged', undefined, 'Give extended privileges to this container'),
  L('publish', 'p', "Publish a container's port(s) to the host"),
  B('publish-all', 'P', 'Publish all exposed ports to random ports'),
  S('pull', undefined, 'Pull image before running ("always", "missing", "never")', 'missing'),
  B('quiet', 'q', 'Suppress the pull output'),
  B('read-only', undefined, "Mount the container's root filesystem as read only"),
  S('restart', undefined, 'Restart policy to apply when a container exits', 'no'),
  B(
    'rm',
    undefined,
    'Automatically remove the container and its associated anonymous volumes when it exits',
  ),
  L('security-opt', undefined, 'Security Options'),
  S('stop-signal', undefined, 'Signal to stop the container'),
  { long: 'stop-timeout', type: 'int', usage: 'Timeout (in seconds) to stop a container' },
  L('sysctl', undefined, 'Sysctl options', 'map'),
  L('tmpfs', undefined, 'Mount a tmpfs directory'),
  B('tty', 't', 'Allocate a pseudo-TTY'),
  S('user', 'u', 'Username or UID (format: <name|uid>[:<group|gid>])'),
  S('uts', undefined, 'UTS namespace to use'),
  L('volume', 'v', 'Bind mount a volume'),
  S('volume-driver', undefined, 'Optional volume driver for the container'),
  L('volumes-from', undefined, 'Mount volumes from the specified container(s)'),
  L('mount', undefined, 'Attach a filesystem mount to the container', 'mount'),
  S('workdir', 'w', 'Working directory inside the container'),
  S('name', undefined, 'Assign a name to the container'),
  B('no-healthcheck', undefined, 'Disable any container-specified HEALTHCHECK'),
  S('platform', undefined, 'Set platform if server is multi-platform capable'),
  ...RUN_LIMIT_FLAGS,
];

/** A user error in the options (reported with "See '... --help'.", exit 125). */
export class OptionError extends Error {}

/** A duration flag (0 when not given), as the docker CLI parses it. */
function durationFlag(f: Flags, name: string): number {
  const v = f.str(name);
  if (v === '') return 0;
  const ns = parseGoDuration(v);
  if (ns === undefined) {
    throw new OptionError(
      `invalid argument "${v}" for "--${name}" flag: time: invalid duration ${JSON.stringify(v)}`,
    );
  }
  return ns;
}

/** Config.Healthcheck from the --health-* flags, as docker CLI 28 builds it (zero fields left out). */
function healthConfig(f: Flags): Record<string, unknown> | undefined {
  const cmd = f.str('health-cmd');
  const d = {
    Interval: durationFlag(f, 'health-interval'),
    Timeout: durationFlag(f, 'health-timeout'),
    StartPeriod: durationFlag(f, 'health-start-period'),
    StartInterval: durationFlag(f, 'health-start-interval'),
  };
  const retries = f.has('health-retries') ? f.int('health-retries') : 0;
  const any = cmd !== '' || retries !== 0 || Object.values(d).some((x) => x !== 0);
  if (f.bool('no-healthcheck')) {
    if (any) throw new OptionError('--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  if (!any) return undefined;
  const flagOf = {
    Interval: 'interval',
    Timeout: 'timeout',
    StartPeriod: 'start-period',
    StartInterval: 'start-interval',
  };
  for (const [k, v] of Object.entries(d)) {
    if (v < 0) throw new OptionError(`--health-${flagOf[k as keyof typeof d]} cannot be negative`);
  }
  if (retries < 0) throw new OptionError('--health-retries cannot be negative');
  const out: Record<string, unknown> = {};
  if (cmd !== '') out.Test = ['CMD-SHELL', cmd];
  for (const [k, v] of Object.entries(d)) if (v !== 0) out[k] = v;
  if (retries !== 0) out.Retries = retries;
  return out;
}

/** What `run`/`create` need besides the body. */
export interface CreateRequest {
  /** ?name= of the create call ("" = none). */
  name: string;
  /** The JSON body of POST /containers/create. */
  body: Record<string, unknown>;
}

function lookupEnv(k: string, env: NodeJS.ProcessEnv): string | undefined {
  return Object.prototype.hasOwnProperty.call(env, k) ? env[k] : undefined;
}

/** opts.ValidateEnv: "K" takes its value from the caller's environment when set. */
function validateEnv(v: string, env: NodeJS.ProcessEnv): string {
  const eq = v.indexOf('=');
  const k = eq < 0 ? v : v.slice(0, eq);
  if (k === '') throw new OptionError(`invalid environment variable: ${v}`);
  if (eq >= 0) return v;
  const val = lookupEnv(k, env);
  return val === undefined ? v : `${k}=${val}`;
}

function readEnvFile(path: string, env: NodeJS.ProcessEnv): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new OptionError(`open ${path}: no such file or directory`);
  }
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\s+/, '').replace(/\r$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq === 0) throw new OptionError(`invalid environment variable: ${line}`);
    if (eq > 0) out.push(line);
    else {
      const val = lookupEnv(line.trim(), env);
      if (val !== undefined) out.push(`${line.trim()}=${val}`);
    }
  }
  return out;
}

function restartPolicy(p: string): { Name: string; MaximumRetryCount: number } {
  const parts = p.split(':');
  if (parts.length > 2) throw new OptionError('invalid restart policy format');
  let count = 0;
  if (parts.length === 2) {
    if (!/^[-+]?\d+$/.test(parts[1]!))
      throw new OptionError('maximum retry count must be an integer');
    count = Number(parts[1]);
  }
  return { Name: parts[0]!, MaximumRetryCount: count };
}

/** JSON with the whitespace between tokens removed, the rest byte for byte (Go's json.Compact). */
export function compactJson(text: string): string {
  JSON.parse(text); // throws on what is not JSON
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inString) {
      out += ch;
      if (ch === '\\') out += text[++i] ?? '';
      else if (ch === '"') inString = false;
    } else if (ch === '"') {
      inString = true;
      out += ch;
    } else if (!' \t\n\r'.includes(ch)) out += ch;
  }
  return out;
}

/**
 * The docker CLI's reading of --security-opt: every option but
 * no-new-privileges needs a value, and a seccomp profile is a file read here
 * and sent as `seccomp=<compact json>` (unconfined and builtin are names).
 */
export function securityOpts(opts: string[]): string[] {
  return opts.map((opt) => {
    let at = opt.indexOf('=');
    if (at < 0 && opt !== 'no-new-privileges') at = opt.indexOf(':');
    const key = at < 0 ? opt : opt.slice(0, at);
    const value = at < 0 ? '' : opt.slice(at + 1);
    if ((at < 0 || value === '') && key !== 'no-new-privileges') {
      throw new OptionError(`Invalid --security-opt: ${JSON.stringify(opt)}`);
    }
    if (key !== 'seccomp' || value === 'unconfined' || value === 'builtin') return opt;
    let text: string;
    try {
      text = readFileSync(value, 'utf8');
    } catch (e) {
      const why =
        (e as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'no such file or directory'
          : (e as Error).message;
      throw new OptionError(`opening seccomp profile (${value}) failed: open ${value}: ${why}`);
    }
    try {
      return `seccomp=${compactJson(text)}`;
    } catch (e) {
      throw new OptionError(
        `compacting json for seccomp profile (${value}) failed: ${(e as Error).message}`,
      );
    }
  });
}

const normalizeCap = (c: string): string => {
  const u = c.toUpperCase();
  return u === 'ALL' || u.startsWith('CAP_') ? u : `CAP_${u}`;
};

/** Docker's network-mode classes: only names outside these are user-defined networks. */
export function isUserDefinedNetwork(mode: string): boolean {
  return !['default', 'bridge', 'host', 'none'].includes(mode) && !mode.startsWith('container:');
}

/** An EndpointSettings with every field, as Go marshals it. */
export function endpointSettings(o: {
  ipam?: Record<string, unknown> | null;
  links?: string[] | null;
  aliases?: string[] | null;
  mac?: string;
  driverOpts?: Record<string, string> | null;
}): Record<string, unknown> {
  return {
    ...emptyEndpointSettings(),
    IPAMConfig: o.ipam ?? null,
    Links: o.links ?? null,
    Aliases: o.aliases ?? null,
    MacAddress: o.mac ?? '',
    DriverOpts: o.driverOpts ?? null,
  };
}

function kvMap(list: string[]): Record<string, string> {
  const m: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    m[eq < 0 ? kv : kv.slice(0, eq)] = eq < 0 ? '' : kv.slice(eq + 1);
  }
  return sortKeys(m);
}

function endpoints(f: Flags, networks: string[]): Record<string, unknown> {
  const aliases = [...f.list('network-alias'), ...f.list('net-alias')];
  const links = f.list('link');
  const ip = f.str('ip');
  const ip6 = f.str('ip6');
  const lla = f.list('link-local-ip');
  const mac = f.str('mac-address');
  const first = (target: string): Record<string, unknown> => {
    const userDefined = isUserDefinedNetwork(target);
    if (!userDefined && aliases.length)
      throw new OptionError('network-scoped aliases are only supported for user-defined networks');
    const epLinks = userDefined && links.length ? links : null;
    const ipam =
      ip || ip6 || lla.length
        ? {
            ...(ip ? { IPv4Address: ip } : {}),
            ...(ip6 ? { IPv6Address: ip6 } : {}),
            ...(lla.length ? { LinkLocalIPs: lla } : {}),
          }
        : null;
    return endpointSettings({
      ipam,
      links: epLinks,
      aliases: aliases.length ? aliases : null,
      mac,
    });
  };
  if (networks.length === 0) return { default: first('default') };
  const out: Record<string, unknown> = {};
  let user = false;
  let nonUser = false;
  networks.forEach((n, i) => {
    if (isUserDefinedNetwork(n)) user = true;
    else nonUser = true;
    if (out[n]) throw new OptionError(`network "${n}" is specified multiple times`);
    const ep = i === 0 ? first(n) : endpointSettings({});
    // A single network without options is left out: the daemon creates it from NetworkMode.
    const empty = JSON.stringify(ep) === JSON.stringify(endpointSettings({}));
    if (i === 0 && networks.length === 1 && empty) return;
    out[n] = ep;
  });
  if (user && nonUser)
    throw new OptionError(
      'conflicting options: cannot attach both user-defined and non-user-defined network-modes',
    );
  return out;
}

/** Builds the create request for `run`/`create` from parsed flags, image and command. */
export function buildCreateRequest(
  f: Flags,
  image: string,
  cmd: string[],
  opts: { detach?: boolean; env?: NodeJS.ProcessEnv; consoleSize?: [number, number] } = {},
): CreateRequest {
  const env = opts.env ?? process.env;
  const attach = f.list('attach').map((s) => s.toLowerCase());
  for (const a of attach)
    if (!['stdin', 'stdout', 'stderr'].includes(a))
      throw new OptionError(`valid streams are STDIN, STDOUT and STDERR`);
  let attachStdin = attach.includes('stdin') || f.bool('interactive');
  let attachStdout = attach.length === 0 || attach.includes('stdout');
  let attachStderr = attach.length === 0 || attach.includes('stderr');
  const openStdin = f.bool('interactive');
  let stdinOnce = openStdin && attachStdin;
  if (opts.detach) {
    if (attach.length)
      throw new OptionError('conflicting options: cannot specify both --attach and --detach');
    attachStdin = attachStdout = attachStderr = stdinOnce = false;
  }
  const hostname = f.str('hostname');
  if (hostname.length > 64)
    throw new OptionError(
      `invalid hostname (${hostname}): hostname cannot be longer than 64 characters`,
    );
  const ports = parsePortSpecs(f.list('publish'), f.list('expose'));
  const envList = [
    ...f.list('env-file').flatMap((p) => readEnvFile(p, env)),
    ...f.list('env').map((e) => validateEnv(e, env)),
  ];
  const labels = kvMap([
    ...f.list('label-file').flatMap((p) =>
      readFileSync(p, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#')),
    ),
    ...f.list('label'),
  ]);
  const entrypoint =
    f.str('entrypoint') !== '' ? [f.str('entrypoint')] : f.has('entrypoint') ? [''] : null;
  const volumes: Record<string, Record<string, never>> = {};
  const binds: string[] = [];
  for (const v of f.list('volume')) {
    // As docker's CLI (23+): a host part "." or "./x" means the current directory.
    const host = v.split(':')[0]!;
    if (v.includes(':') && (host === '.' || host.startsWith('./'))) {
      binds.push(resolvePath(host) + v.slice(host.length));
    } else if (v.includes(':')) binds.push(v);
    else volumes[v] = {};
  }
  const mounts = f.list('mount').map((m) => {
    try {
      return parseMountFlag(m);
    } catch (e) {
      throw new OptionError(`invalid argument "${m}" for "--mount" flag: ${(e as Error).message}`);
    }
  });
  const restart = restartPolicy(f.str('restart') || 'no');
  if (f.bool('rm') && restart.Name !== 'no' && restart.Name !== '')
    throw new OptionError('Conflicting options: --restart and --rm');
  const networks = [...f.list('network'), ...f.list('net')];
  const links = f.list('link');
  const logOpts = kvMap(f.list('log-opt'));
  const tmpfs: Record<string, string> = {};
  for (const t of f.list('tmpfs')) {
    const c = t.indexOf(':');
    tmpfs[c < 0 ? t : t.slice(0, c)] = c < 0 ? '' : t.slice(c + 1);
  }
  const health = healthConfig(f);
  const config: Record<string, unknown> = {
    Hostname: hostname,
    Domainname: f.str('domainname'),
    User: f.str('user'),
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
    ...(Object.keys(ports.exposed).length ? { ExposedPorts: ports.exposed } : {}),
    Tty: f.bool('tty'),
    OpenStdin: openStdin,
    StdinOnce: stdinOnce,
    Env: envList.length ? envList : null,
    Cmd: cmd.length ? cmd : null,
    ...(health ? { Healthcheck: health } : {}),
    Image: image,
    Volumes: sortKeys(volumes),
    WorkingDir: f.str('workdir'),
    Entrypoint: entrypoint,
    ...(f.str('mac-address') ? { MacAddress: f.str('mac-address') } : {}),
    OnBuild: null,
    Labels: labels,
    ...(f.str('stop-signal') ? { StopSignal: f.str('stop-signal') } : {}),
    ...(f.has('stop-timeout') ? { StopTimeout: f.int('stop-timeout') } : {}),
  };
  const hostConfig: Record<string, unknown> = {
    Binds: binds.length ? binds : null,
    ContainerIDFile: f.str('cidfile'),
    LogConfig: { Type: f.str('log-driver'), Config: logOpts },
    NetworkMode: networks[0] ?? 'default',
    PortBindings: ports.bindings,
    RestartPolicy: restart,
    AutoRemove: f.bool('rm'),
    VolumeDriver: f.str('volume-driver'),
    VolumesFrom: f.list('volumes-from').length ? f.list('volumes-from') : null,
    ConsoleSize: opts.consoleSize ?? [0, 0],
    CapAdd: f.list('cap-add').length ? f.list('cap-add').map(normalizeCap) : null,
    CapDrop: f.list('cap-drop').length ? f.list('cap-drop').map(normalizeCap) : null,
    CgroupnsMode: '',
    Dns: f.list('dns'),
    DnsOptions: f.list('dns-option'),
    DnsSearch: f.list('dns-search'),
    ExtraHosts: f.list('add-host').length ? f.list('add-host') : null,
    GroupAdd: f.list('group-add').length ? f.list('group-add') : null,
    IpcMode: f.str('ipc'),
    Cgroup: '',
    Links: links.length ? links : null,
    OomScoreAdj: 0,
    PidMode: f.str('pid'),
    Privileged: f.bool('privileged'),
    PublishAllPorts: f.bool('publish-all'),
    ReadonlyRootfs: f.bool('read-only'),
    SecurityOpt: f.list('security-opt').length ? securityOpts(f.list('security-opt')) : null,
    ...(Object.keys(tmpfs).length ? { Tmpfs: tmpfs } : {}),
    ...(mounts.length ? { Mounts: mounts } : {}),
    UTSMode: f.str('uts'),
    UsernsMode: '',
    ShmSize: 0,
    ...(f.list('sysctl').length ? { Sysctls: kvMap(f.list('sysctl')) } : {}),
    Isolation: '',
    CpuShares: 0,
    Memory: 0,
    NanoCpus: 0,
    CgroupParent: '',
    BlkioWeight: 0,
    BlkioWeightDevice: [],
    BlkioDeviceReadBps: [],
    BlkioDeviceWriteBps: [],
    BlkioDeviceReadIOps: [],
    BlkioDeviceWriteIOps: [],
    CpuPeriod: 0,
    CpuQuota: 0,
    CpuRealtimePeriod: 0,
    CpuRealtimeRuntime: 0,
    CpusetCpus: '',
    CpusetMems: '',
    Devices: [],
    DeviceCgroupRules: null,
    DeviceRequests: null,
    MemoryReservation: 0,
    MemorySwap: 0,
    MemorySwappiness: -1,
    OomKillDisable: false,
    PidsLimit: 0,
    Ulimits: [],
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
    MaskedPaths: null,
    ReadonlyPaths: null,
    ...(f.bool('init') ? { Init: true } : {}),
    // Over the zero values above, in their places: the limits given.
    ...runLimitFields(f),
  };
  const body = {
    ...config,
    HostConfig: hostConfig,
    NetworkingConfig: { EndpointsConfig: endpoints(f, networks) },
  };
  return { name: f.str('name'), body };
}
