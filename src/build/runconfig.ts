/**
 * The classic builder's run config (Docker's container.Config, every field,
 * in Go's order) and the image config of each step (moby's NewChildImage:
 * the parent's layers plus the step's, its history plus one entry, keys in
 * the order Docker's image JSON has them), and the cache key of a step.
 * Pure.
 */
import { createHash } from 'node:crypto';
import { hostArch } from '../images/ingest.js';
import type { ContainerConfig as ContainerRecordConfig } from '../containers/types.js';
import type { ContainerConfig, HealthConfig, ImageConfig } from '../images/types.js';

/**
 * Docker's container.Config as the builder carries it from step to step: a
 * container's Config, where Env and Labels may be null as in an image, plus
 * the fields only images carry.
 */
export interface RunConfig extends Omit<ContainerRecordConfig, 'Env' | 'Labels' | 'StopTimeout'> {
  Env: string[] | null;
  Labels: Record<string, string> | null;
  Healthcheck?: HealthConfig;
  ArgsEscaped?: boolean;
  Shell?: string[];
  /** `--stop-timeout` of a committed container (Go's omitempty pointer). */
  StopTimeout?: number;
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const list = (v: unknown): string[] | null => (Array.isArray(v) ? v.map(String) : null);
const record = <T>(v: unknown): Record<string, T> | null =>
  v && typeof v === 'object' ? { ...(v as Record<string, T>) } : null;

/** A run config in Go's field order (omitempty fields left out when empty). */
export function normalizeRunConfig(c: Partial<RunConfig> | ContainerConfig | undefined): RunConfig {
  const s = (c ?? {}) as Record<string, unknown>;
  const str = (k: string): string => (typeof s[k] === 'string' ? (s[k] as string) : '');
  const bool = (k: string): boolean => s[k] === true;
  const out: RunConfig = {
    Hostname: str('Hostname'),
    Domainname: str('Domainname'),
    User: str('User'),
    AttachStdin: bool('AttachStdin'),
    AttachStdout: bool('AttachStdout'),
    AttachStderr: bool('AttachStderr'),
  } as RunConfig;
  const ports = record<object>(s.ExposedPorts);
  if (ports && Object.keys(ports).length > 0) out.ExposedPorts = ports;
  out.Tty = bool('Tty');
  out.OpenStdin = bool('OpenStdin');
  out.StdinOnce = bool('StdinOnce');
  out.Env = list(s.Env);
  out.Cmd = list(s.Cmd);
  if (s.Healthcheck && typeof s.Healthcheck === 'object') {
    out.Healthcheck = structuredClone(s.Healthcheck as HealthConfig);
  }
  if (bool('ArgsEscaped')) out.ArgsEscaped = true;
  out.Image = str('Image');
  out.Volumes = record<object>(s.Volumes);
  out.WorkingDir = str('WorkingDir');
  out.Entrypoint = list(s.Entrypoint);
  if (str('MacAddress')) out.MacAddress = str('MacAddress');
  out.OnBuild = list(s.OnBuild);
  out.Labels = record<string>(s.Labels);
  if (str('StopSignal')) out.StopSignal = str('StopSignal');
  if (typeof s.StopTimeout === 'number') out.StopTimeout = s.StopTimeout;
  const shell = list(s.Shell);
  if (shell && shell.length > 0) out.Shell = shell;
  return out;
}

/** A copy with changes applied, re-ordered as Go would print it. */
export function withChanges(c: RunConfig, changes: Partial<RunConfig>): RunConfig {
  return normalizeRunConfig({ ...structuredClone(c), ...changes });
}

/** The builder's starting config of a stage: the base image's, with PATH, stdin off. */
export function stageRunConfig(base: ContainerConfig | undefined): RunConfig {
  const c = normalizeRunConfig(base);
  const env = c.Env ?? [];
  if (!env.some((e) => e.split('=', 1)[0] === 'PATH')) c.Env = [...env, DEFAULT_PATH];
  c.OpenStdin = false;
  c.StdinOnce = false;
  return c;
}

/** The shell that shell-form commands run with (SHELL, default `/bin/sh -c`). */
export function shellOf(c: RunConfig): string[] {
  return c.Shell && c.Shell.length > 0 ? [...c.Shell] : ['/bin/sh', '-c'];
}

/** The two-word nop comment most steps record as their command. */
export function commentCmd(c: RunConfig, comment: string): string[] {
  return [...shellOf(c), '#(nop) ', comment];
}

/** The one-word nop comment of WORKDIR, COPY and ADD. */
export function commentCmdString(c: RunConfig, comment: string): string[] {
  return [...shellOf(c), `#(nop) ${comment}`];
}

/** The cache key of a step: its parent image and the config it would be committed with. */
export function cacheKey(parentId: string, probe: RunConfig): string {
  const { Hostname: _h, ...rest } = probe;
  return createHash('sha256')
    .update(`${parentId}\n${JSON.stringify(rest)}`)
    .digest('hex');
}

/** What a step's image is made of. */
export interface ChildSpec {
  /** The step's config (the image's `config`). */
  config: RunConfig;
  /** The config the step ran with (`container_config`; its Cmd is the history's `created_by`). */
  containerConfig: RunConfig;
  /** The container that ran it, or ''. */
  containerId: string;
  /** The new layer, when the step changed files. */
  diffId?: string;
  /** MAINTAINER. */
  author: string;
  /** RFC 3339. */
  created: string;
  /** Recorded as `docker_version`. */
  version: string;
}

/** The image config of a step on top of `parent` (undefined for scratch), keys sorted as Docker's. */
export function childImageConfig(parent: ImageConfig | undefined, s: ChildSpec): ImageConfig {
  const history: Record<string, unknown> = { created: s.created };
  if (s.author) history.author = s.author;
  history.created_by = (s.containerConfig.Cmd ?? []).join(' ');
  if (!s.diffId) history.empty_layer = true;
  const out: ImageConfig = {
    architecture: parent?.architecture || hostArch(),
    ...(s.author ? { author: s.author } : {}),
    config: s.config as unknown as ContainerConfig,
    ...(s.containerId ? { container: s.containerId } : {}),
    container_config: s.containerConfig as unknown as ContainerConfig,
    created: s.created,
    docker_version: s.version,
    history: [...(parent?.history ?? []), history],
    os: parent?.os || 'linux',
    rootfs: {
      type: 'layers',
      diff_ids: [...(parent?.rootfs.diff_ids ?? []), ...(s.diffId ? [s.diffId] : [])],
    },
  };
  if (parent?.variant) out.variant = parent.variant;
  return out;
}
