/**
 * From a ContainerCreate request and the image's config to the container's
 * merged Config (moby's mergeAndVerifyConfig rules). Pure: unit-tested.
 */
import { invalid } from '../common/errors.js';
import { obj, optBool, optNum, optStr, optStrMap, optStrs } from '../common/validate.js';
import type { ContainerConfig, HostConfig } from './types.js';
import { checkPortBindings } from '../network/ports/spec.js';
import { validNetworkName } from '../network/create.js';
import { macAddressError } from '../network/ipam/index.js';
import {
  CONFIG_FIELDS,
  HOST_CONFIG_FIELDS,
  checkEndpointConfig,
  checkFields,
} from './create-fields.js';
import { checkCreateAsDockerd } from './create-checks.js';
import { checkUlimits } from './resources.js';
import { checkRuntimeFlags } from './runtime-flags.js';
import { parseSecurityOpts } from './security.js';
import { healthcheckFromBody, mergeHealthcheck, type HealthConfig } from './health.js';

/** The image config fields a container inherits. */
export interface ImageConfig {
  Env?: string[] | null;
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, object> | null;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  Volumes?: Record<string, object> | null;
  OnBuild?: string[] | null;
  Healthcheck?: HealthConfig;
}

export const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const RESTART = new Set(['', 'no', 'always', 'unless-stopped', 'on-failure']);

/** Validates a container name (with or without the slash) and returns it with the slash. */
export function checkName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw invalid(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name.startsWith('/') ? name : `/${name}`;
}

/** Refuses an entry with no name ("=V"); "K" alone is kept (the process gets no K). */
function checkEnv(list: string[]): void {
  for (const e of list) {
    if (e.startsWith('=')) throw invalid(`invalid environment variable: ${e}`);
  }
}

const envKey = (e: string): string => e.split('=', 1)[0]!;

/**
 * Config.Env as dockerd 20.10 merges it: the request's entries as given
 * ("K" alone included), then the image's whose names the request does not set.
 */
export function mergeEnv(image: string[] = [], request: string[] = []): string[] {
  if (request.length === 0) return [...image];
  const set = new Set(request.map(envKey));
  return [...request, ...image.filter((e) => !set.has(envKey(e)))];
}

/**
 * `overrides` over `defaults` as Docker's ReplaceOrAppendEnvValues: a "K=V"
 * replaces K in place or is appended; a bare "K" removes K.
 */
export function replaceOrAppendEnv(defaults: string[], overrides: string[]): string[] {
  const out = [...defaults];
  const at = new Map(out.map((e, i) => [envKey(e), i]));
  for (const e of overrides) {
    const i = at.get(envKey(e));
    if (!e.includes('=')) {
      if (i !== undefined) out[i] = '';
    } else if (i !== undefined) {
      out[i] = e;
    } else {
      at.set(envKey(e), out.push(e) - 1);
    }
  }
  return out.filter((e) => e !== '');
}

export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * A process's environment as dockerd builds it (CreateDaemonEnvironment):
 * PATH, HOSTNAME, TERM with a TTY, the link variables, then Config.Env over them.
 */
export function processEnv(o: {
  config: string[];
  hostname: string;
  tty: boolean;
  links: string[];
}): string[] {
  const defaults = [
    DEFAULT_PATH_ENV,
    `HOSTNAME=${o.hostname}`,
    ...(o.tty ? ['TERM=xterm'] : []),
    ...o.links,
  ];
  return replaceOrAppendEnv(defaults, o.config);
}

export interface CreateRequest {
  config: ContainerConfig;
  hostConfig: HostConfig;
  endpointsConfig: Record<string, unknown>;
}

/** Validates the body of POST /containers/create (before the image is looked up). */
export function parseCreate(body: unknown): CreateRequest {
  const b = obj(body, 'body');
  const hc = obj(b.HostConfig, 'HostConfig');
  checkCreateAsDockerd(b, hc);
  checkFields(b, CONFIG_FIELDS, '');
  const image = optStr(b, 'Image');
  if (!image) throw invalid('Config cannot be empty in order to create a container');
  checkFields(hc, HOST_CONFIG_FIELDS, 'HostConfig');
  // The runtime flags' own checks (runc's refusals made now, not at start).
  checkRuntimeFlags(b, hc);
  checkUlimits(hc.Ulimits);
  const rp = obj(hc.RestartPolicy, 'HostConfig.RestartPolicy');
  const restartName = optStr(rp, 'Name', 'HostConfig.RestartPolicy.Name') ?? '';
  if (!RESTART.has(restartName)) throw invalid(`invalid restart policy '${restartName}'`);
  const maxRetry =
    optNum(rp, 'MaximumRetryCount', 'HostConfig.RestartPolicy.MaximumRetryCount') ?? 0;
  if (maxRetry && restartName !== 'on-failure') {
    throw invalid(`maximum retry count cannot be used with restart policy '${restartName}'`);
  }
  const autoRemove = optBool(hc, 'AutoRemove', 'HostConfig.AutoRemove') ?? false;
  if (autoRemove && restartName !== '' && restartName !== 'no') {
    throw invalid("can't create 'AutoRemove' container with restart policy");
  }
  const consoleSize = hc.ConsoleSize;
  if (
    consoleSize !== undefined &&
    consoleSize !== null &&
    (!Array.isArray(consoleSize) ||
      consoleSize.length !== 2 ||
      consoleSize.some((n) => typeof n !== 'number'))
  ) {
    throw invalid('invalid HostConfig.ConsoleSize: expected [height, width]');
  }
  const portBindings = checkPortBindings(obj(hc.PortBindings, 'HostConfig.PortBindings'));
  const nc = obj(b.NetworkingConfig, 'NetworkingConfig');
  const endpointsConfig = obj(nc.EndpointsConfig, 'NetworkingConfig.EndpointsConfig');
  for (const [net, ec] of Object.entries(endpointsConfig)) {
    checkEndpointConfig(ec, `NetworkingConfig.EndpointsConfig.${net}`);
  }
  // dockerd 20.10's words; later networks are for `network connect`.
  const netNames = Object.keys(endpointsConfig);
  if (netNames.length > 1) {
    throw invalid(`Container cannot be connected to network endpoints: ${netNames.join(', ')}`);
  }
  const mac = optStr(b, 'MacAddress') ?? '';
  // dockerd parses it only at start (500 there); Berth refuses it before anything is made.
  const badMac = mac && macAddressError(mac);
  if (badMac) throw invalid(badMac);
  let networkMode = optStr(hc, 'NetworkMode', 'HostConfig.NetworkMode') ?? '';
  if (networkMode === '') networkMode = 'default';
  if (networkMode === 'container:') {
    throw invalid('Invalid network mode: invalid container format container:<name|id>');
  }
  // dockerd accepts any name here and fails at start (404); a name no network
  // can have (all blanks) is refused at once, before anything is made.
  if (!networkMode.startsWith('container:') && !validNetworkName(networkMode)) {
    throw invalid(`invalid network mode "${networkMode}": no network can have that name`);
  }
  const shmSize = optNum(hc, 'ShmSize', 'HostConfig.ShmSize') ?? 0;
  if (shmSize < 0) throw invalid('SHM size can not be less than 0');
  // Checked now (Docker reads a profile only at start), so a bad one changes nothing.
  const securityOpt = optStrs(hc, 'SecurityOpt', 'HostConfig.SecurityOpt') ?? null;
  parseSecurityOpts(securityOpt);

  const config: ContainerConfig = {
    Hostname: optStr(b, 'Hostname') ?? '',
    Domainname: optStr(b, 'Domainname') ?? '',
    User: optStr(b, 'User') ?? '',
    AttachStdin: optBool(b, 'AttachStdin') ?? false,
    AttachStdout: optBool(b, 'AttachStdout') ?? false,
    AttachStderr: optBool(b, 'AttachStderr') ?? false,
    ExposedPorts: obj(b.ExposedPorts, 'ExposedPorts') as Record<string, object>,
    Tty: optBool(b, 'Tty') ?? false,
    OpenStdin: optBool(b, 'OpenStdin') ?? false,
    StdinOnce: optBool(b, 'StdinOnce') ?? false,
    Env: optStrs(b, 'Env') ?? [],
    Cmd: optStrs(b, 'Cmd') ?? null,
    Image: image,
    Volumes: (b.Volumes as Record<string, object> | null) ?? null,
    WorkingDir: optStr(b, 'WorkingDir') ?? '',
    Entrypoint: optStrs(b, 'Entrypoint') ?? null,
    OnBuild: null,
    Labels: optStrMap(b, 'Labels') ?? {},
    StopSignal: optStr(b, 'StopSignal'),
    StopTimeout: optNum(b, 'StopTimeout'),
    ...(mac ? { MacAddress: mac } : {}),
    ...(b.Shell ? { Shell: optStrs(b, 'Shell') } : {}),
    ...(b.ArgsEscaped ? { ArgsEscaped: true } : {}),
  };
  const health = healthcheckFromBody(b.Healthcheck);
  if (health) config.Healthcheck = health;
  if (config.WorkingDir && !config.WorkingDir.startsWith('/')) {
    throw invalid(
      `the working directory '${config.WorkingDir}' is invalid, it needs to be an absolute path`,
    );
  }
  checkEnv(config.Env);
  if (config.Hostname && !/^[a-zA-Z0-9][a-zA-Z0-9.-]*$/.test(config.Hostname)) {
    throw invalid(`invalid hostname format: ${config.Hostname}`);
  }
  // What inspect echoes: the API's fields as the client sent them (unknown
  // keys are not kept), with Berth's values for those it decides.
  const known = Object.fromEntries(
    Object.entries(hc).filter(([k]) => Object.hasOwn(HOST_CONFIG_FIELDS, k)),
  );
  const hostConfig: HostConfig = {
    ...known,
    NetworkMode: networkMode,
    Links: optStrs(hc, 'Links', 'HostConfig.Links') ?? null,
    AutoRemove: autoRemove,
    RestartPolicy: { Name: restartName, MaximumRetryCount: maxRetry },
    Dns: optStrs(hc, 'Dns', 'HostConfig.Dns') ?? [],
    DnsOptions: optStrs(hc, 'DnsOptions', 'HostConfig.DnsOptions') ?? [],
    DnsSearch: optStrs(hc, 'DnsSearch', 'HostConfig.DnsSearch') ?? [],
    ExtraHosts: optStrs(hc, 'ExtraHosts', 'HostConfig.ExtraHosts') ?? null,
    CapAdd: optStrs(hc, 'CapAdd', 'HostConfig.CapAdd') ?? null,
    CapDrop: optStrs(hc, 'CapDrop', 'HostConfig.CapDrop') ?? null,
    Privileged: optBool(hc, 'Privileged', 'HostConfig.Privileged') ?? false,
    SecurityOpt: securityOpt,
    ReadonlyRootfs: optBool(hc, 'ReadonlyRootfs', 'HostConfig.ReadonlyRootfs') ?? false,
    PortBindings: portBindings as HostConfig['PortBindings'],
    PublishAllPorts: optBool(hc, 'PublishAllPorts', 'HostConfig.PublishAllPorts') ?? false,
    ShmSize: shmSize || 64 * 1024 * 1024,
    ConsoleSize: (consoleSize as [number, number] | undefined) ?? [0, 0],
  };
  for (const d of hostConfig.Dns) {
    if (!/^[0-9.]+$|^[0-9a-fA-F:]+$/.test(d)) throw invalid(`${d} is not an ip address`);
  }
  return { config, hostConfig, endpointsConfig };
}

/**
 * Checks a stored container's HostConfig again before it starts: a record
 * written before a field was refused (or by an older Berth) may carry a setting
 * Berth does not honour, and starting without it would ignore it. (Config is
 * not checked: it is stored merged with the image.) A record from before
 * mounts were honoured has binds or volumes but no MountPoints: it is
 * refused too (start.ts), as starting it would ignore them.
 */
export function checkStoredHostConfig(hostConfig: object): void {
  checkFields(hostConfig as Record<string, unknown>, HOST_CONFIG_FIELDS, 'HostConfig');
}

/**
 * Applies the image's defaults (moby's merge): env merged, cmd from the image
 * unless an entrypoint or cmd was given, entrypoint from the image unless given.
 * Returns the final Config and the argv (Path + Args).
 */
export function mergeWithImage(
  c: ContainerConfig,
  img: ImageConfig,
): { config: ContainerConfig; path: string; args: string[] } {
  const userEntry = c.Entrypoint;
  const clearEntry =
    userEntry !== null &&
    (userEntry.length === 0 || (userEntry.length === 1 && userEntry[0] === ''));
  let entrypoint = clearEntry ? null : userEntry;
  let cmd = c.Cmd && c.Cmd.length ? c.Cmd : null;
  if (!entrypoint || entrypoint.length === 0) {
    if (!cmd) cmd = img.Cmd && img.Cmd.length ? [...img.Cmd] : null;
    if (userEntry === null)
      entrypoint = img.Entrypoint && img.Entrypoint.length ? [...img.Entrypoint] : null;
  }
  const argv = [...(entrypoint ?? []), ...(cmd ?? [])];
  if (argv.length === 0) throw invalid('No command specified');
  const env = mergeEnv(img.Env ?? [], c.Env);
  if (!env.some((e) => e.startsWith('PATH='))) {
    env.unshift(DEFAULT_PATH_ENV);
  }
  const exposed = { ...(img.ExposedPorts ?? {}), ...(c.ExposedPorts ?? {}) };
  const config: ContainerConfig = {
    ...c,
    Env: env,
    Cmd: cmd,
    Entrypoint: entrypoint,
    WorkingDir: c.WorkingDir || img.WorkingDir || '',
    User: c.User || img.User || '',
    Labels: { ...(img.Labels ?? {}), ...c.Labels },
    OnBuild: img.OnBuild ?? null,
    StopSignal: c.StopSignal ?? img.StopSignal,
    // moby's merge: the image's volumes and the request's together.
    Volumes: c.Volumes || img.Volumes ? { ...(img.Volumes ?? {}), ...(c.Volumes ?? {}) } : null,
  };
  const health = mergeHealthcheck(c.Healthcheck, img.Healthcheck);
  if (health) config.Healthcheck = health;
  if (Object.keys(exposed).length) config.ExposedPorts = exposed;
  else delete config.ExposedPorts;
  return { config, path: argv[0] as string, args: argv.slice(1) };
}
