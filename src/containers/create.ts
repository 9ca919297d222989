/**
 * POST /containers/create: the body checked, the runtime and network mode
 * checked, the image resolved (a builtin made present), the config merged
 * with the image's, and the record built (its networks as configured, its
 * --link entries normalised) and stored with its directory.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { basename } from 'node:path';
import { invalid, notFound } from '../common/errors.js';
import { parseLink } from '../network/links/links.js';
import { PREDEFINED } from '../network/records.js';
import { emptyEndpointSettings } from '../network/types.js';
import { checkName, mergeWithImage, parseCreate } from './config.js';
import type { Lifecycle } from './lifecycle.js';
import { normaliseLinks } from './links.js';
import { generatedName, normalizeRef } from './names.js';
import { configuredEndpoint, endpointConfigFor } from './endpoint-settings.js';
import type { Json } from '../common/validate.js';
import { sysInfo } from '../kernel/sysinfo.js';
import { adaptResources, checkResources, ociResources } from './resources.js';
import { checkDevices } from './runtime-flags.js';
import { devicesFor } from './start-flags.js';
import { checkMounts, registerMountPoints } from './mounts.js';
import type { ContainerRecord } from './types.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';

/** What create needs of the service. */
export type CreateDeps = Pick<
  Lifecycle,
  'repo' | 'images' | 'networks' | 'runtime' | 'paths' | 'volumes'
>;

/**
 * Checks the body and builds the new container's record (not stored yet),
 * with the warnings the answer carries.
 */
export async function buildRecord(
  deps: CreateDeps,
  body: unknown,
  name?: string,
): Promise<{ record: ContainerRecord; warnings: string[] }> {
  const req = parseCreate(body);
  const hc = req.hostConfig as Json;
  // dockerd's verifyContainerSettings, before the image is looked up.
  const limitWarnings = checkResources(hc, sysInfo(), false);
  adaptResources(hc);
  ociResources(hc);
  // dockerd looks the nodes up at start (a 500); a missing one is refused now too.
  checkDevices(hc.Devices).forEach(devicesFor);
  const runtime = basename(deps.runtime.binary);
  const asked = req.hostConfig.Runtime;
  if (asked && asked !== runtime) throw invalid(`Unknown runtime specified ${String(asked)}`);
  req.hostConfig.Runtime = runtime;
  const id = randomBytes(32).toString('hex');
  const fullName = name ? checkName(name) : `/${generatedName(id)}`;
  const mode = req.hostConfig.NetworkMode;
  if (mode.startsWith('container:')) {
    deps.repo.get(mode.slice('container:'.length));
  }
  const publishes =
    Object.keys(req.hostConfig.PortBindings ?? {}).length > 0 || req.hostConfig.PublishAllPorts;
  const warnings = [...limitWarnings];
  if (mode === 'host' && publishes) {
    warnings.push('Published ports are discarded when using host network mode');
  }
  // Before anything is made: a bad mount spec changes nothing.
  checkMounts(req.config, req.hostConfig);
  // As dockerd: an image that is not here is a 404, and the client pulls it
  // (a builtin then shows its layers' progress, as a registry pull does).
  const img = await deps.images.resolve(req.config.Image);
  if (!img) throw notFound(`No such image: ${normalizeRef(req.config.Image)}`);
  const merged = mergeWithImage(req.config, img.config.config ?? {});
  const config = merged.config;
  if (!config.Hostname) {
    config.Hostname = mode === 'host' ? osHostname() : id.slice(0, 12);
  }
  const now = new Date().toISOString();
  const c: ContainerRecord = {
    Id: id,
    Name: fullName,
    Created: now,
    Image: req.config.Image,
    ImageID: img.id,
    Path: merged.path,
    Args: merged.args,
    Config: config,
    HostConfig: req.hostConfig,
    State: {
      Status: 'created',
      Pid: 0,
      ExitCode: 0,
      Error: '',
      StartedAt: ZERO_TIME,
      FinishedAt: ZERO_TIME,
    },
    RestartCount: 0,
    Networks: {},
    EndpointsConfig: req.endpointsConfig,
  };
  const net = mode.startsWith('container:')
    ? undefined
    : deps.networks.find(mode === 'default' ? 'bridge' : mode);
  // Docker accepts an unknown network here and fails at start (a 404 now would make the CLI pull).
  if (net) c.Networks[net.Name] = emptyEndpointSettings(net.Id);
  if (net && !PREDEFINED.includes(net.Name) && c.HostConfig.Links?.length) {
    // On a user-defined network a link is a name for this container's DNS
    // only, kept with the endpoint (HostConfig.Links null), as Docker's.
    for (const l of c.HostConfig.Links) parseLink(l);
    const key = c.EndpointsConfig[mode] ? mode : net.Name;
    const ec = (c.EndpointsConfig[key] ?? {}) as Record<string, unknown>;
    c.EndpointsConfig[key] = { ...ec, Links: ec.Links ?? c.HostConfig.Links };
    c.HostConfig.Links = null;
  } else {
    c.HostConfig.Links = normaliseLinks(deps.repo, c);
  }
  // What was asked for the network shows before the start, as dockerd 20.10 shows it.
  if (net) c.Networks[net.Name] = configuredEndpoint(net, endpointConfigFor(c, net.Name));
  return { record: c, warnings };
}

/** Builds the record, stores it with its name and makes its directory; returns it with the warnings. */
export async function createContainer(
  deps: CreateDeps,
  body: unknown,
  name?: string,
): Promise<{ record: ContainerRecord; warnings: string[] }> {
  const built = await buildRecord(deps, body, name);
  const c = built.record;
  // Volumes are made (or referenced) before the record is stored; the
  // references count as uses until then, so no removal slips in between.
  c.MountPoints = await registerMountPoints(deps, c.Id, c.Config, c.HostConfig);
  try {
    await deps.repo.insert(c);
  } catch (e) {
    deps.volumes.settle(c.Id);
    const made = c.MountPoints.filter((m) => m.Anonymous && m.Name);
    for (const m of made) await deps.volumes.remove(m.Name!).catch(() => undefined);
    throw e;
  }
  deps.volumes.settle(c.Id);
  try {
    await mkdir(deps.paths.dir(c.Id), { recursive: true });
  } catch (e) {
    await deps.repo.remove(c);
    throw e;
  }
  return built;
}
