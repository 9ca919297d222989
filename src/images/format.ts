/**
 * The image API's JSON, shaped as Docker 20.10 answers `GET /images/json` and
 * `GET /images/{name}/json`, and the `filters` of the list.
 */
import { invalid } from '../common/errors.js';
import { familiarMatch, familiarString, parseTagKey, withDefaultTag } from './reference.js';
import type { ContainerConfig, ImageConfig, ImageSummary } from './types.js';

/** What the formatters need to know about one stored image. */
export interface ImageView {
  /** `sha256:<hex>`. */
  id: string;
  /** The parsed config. */
  config: ImageConfig;
  /** Store keys of its tags (`docker.io/library/busybox:latest`). */
  tagKeys: string[];
  /** Parent image id or "". */
  parent: string;
  /** Bytes of all layers. */
  size: number;
  /** Layer diff dirs, top-most first. */
  layerDirs: string[];
  /** When it was last tagged, RFC 3339, or undefined. */
  lastTagTime?: string;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Unix seconds of an RFC 3339 time (0 when absent or unparsable). */
export function unixSeconds(rfc3339: string | undefined): number {
  if (!rfc3339) return 0;
  // Go writes nanoseconds; Date.parse wants at most milliseconds
  const t = Date.parse(rfc3339.replace(/(\.\d{3})\d+/, '$1'));
  return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
}

/** Familiar `name:tag` strings of a set of tag keys, sorted. */
export function familiarTags(tagKeys: string[]): string[] {
  return tagKeys.map((k) => familiarString(withDefaultTag(parseTagKey(k)))).sort();
}

/** The comment of an image's last history entry, or ''. */
function lastComment(c: ImageConfig): string {
  const last = c.history?.[c.history.length - 1]?.comment;
  return typeof last === 'string' ? last : '';
}

/** Docker's container.Config with every field present, as inspect shows it. */
export function fullContainerConfig(
  c: ContainerConfig | undefined,
  image = '',
): Record<string, unknown> {
  const src = c ?? {};
  const out: Record<string, unknown> = {
    // a build step's container_config names the step's container
    Hostname: typeof src.Hostname === 'string' ? src.Hostname : '',
    Domainname: '',
    User: src.User ?? '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
  };
  if (src.ExposedPorts && Object.keys(src.ExposedPorts).length > 0)
    out.ExposedPorts = src.ExposedPorts;
  Object.assign(out, {
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: src.Env ?? null,
    Cmd: src.Cmd ?? null,
  });
  if (src.Healthcheck) out.Healthcheck = src.Healthcheck;
  if (src.ArgsEscaped === true) out.ArgsEscaped = true;
  Object.assign(out, {
    Image: typeof src.Image === 'string' ? src.Image : image,
    Volumes: src.Volumes ?? null,
    WorkingDir: src.WorkingDir ?? '',
    Entrypoint: src.Entrypoint ?? null,
    OnBuild: src.OnBuild ?? null,
    Labels: src.Labels ?? null,
  });
  if (src.StopSignal) out.StopSignal = src.StopSignal;
  if (Array.isArray(src.Shell) && src.Shell.length > 0) out.Shell = src.Shell;
  return out;
}

/** One `GET /images/json` entry. */
export function summaryOf(v: ImageView): ImageSummary {
  const tags = familiarTags(v.tagKeys);
  return {
    Containers: -1,
    Created: unixSeconds(v.config.created),
    Id: v.id,
    Labels: v.config.config?.Labels ?? null,
    ParentId: v.parent,
    RepoDigests: tags.length === 0 ? ['<none>@<none>'] : [],
    RepoTags: tags.length === 0 ? ['<none>:<none>'] : tags,
    SharedSize: -1,
    Size: v.size,
    VirtualSize: v.size,
  };
}

/** The `GET /images/{name}/json` document. */
export function inspectOf(v: ImageView): Record<string, unknown> {
  const c = v.config;
  const data: Record<string, string> = {};
  const [upper, ...lower] = v.layerDirs;
  if (lower.length > 0) data.LowerDir = lower.join(':');
  if (upper) data.UpperDir = upper;
  const out: Record<string, unknown> = {
    Id: v.id,
    RepoTags: familiarTags(v.tagKeys),
    RepoDigests: [],
    Parent: v.parent,
    // as dockerd: the image's comment, else its last history entry's (a commit's message)
    Comment: c.comment || lastComment(c),
    Created: c.created ?? ZERO_TIME,
    Container: c.container ?? '',
    ContainerConfig: fullContainerConfig(c.container_config),
    DockerVersion: c.docker_version ?? '',
    Author: c.author ?? '',
    Config: fullContainerConfig(c.config),
    Architecture: c.architecture ?? '',
  };
  if (c.variant) out.Variant = c.variant;
  Object.assign(out, {
    Os: c.os ?? '',
    Size: v.size,
    VirtualSize: v.size,
    GraphDriver: { Data: data, Name: 'overlay2' },
    RootFS: { Type: c.rootfs?.type ?? 'layers', Layers: c.rootfs?.diff_ids ?? [] },
    Metadata: { LastTagTime: v.lastTagTime ?? ZERO_TIME },
  });
  return out;
}

/** Filters of `GET /images/json`, normalised to lists of values. */
export type ListFilters = Record<string, string[]>;

/** Accepts both `{"k":["v"]}` and `{"k":{"v":true}}`. */
export function normaliseFilters(f: unknown): ListFilters {
  const out: ListFilters = {};
  if (!f || typeof f !== 'object') return out;
  for (const [k, v] of Object.entries(f as Record<string, unknown>)) {
    if (Array.isArray(v)) out[k] = v.map(String);
    else if (v && typeof v === 'object') {
      out[k] = Object.entries(v as Record<string, unknown>)
        .filter(([, on]) => on === true || on === 'true')
        .map(([val]) => val);
    }
  }
  return out;
}

const KNOWN_FILTERS = new Set(['dangling', 'label', 'before', 'since', 'reference']);

/** Throws INVALID_ARGUMENT for filters Docker's image list does not know. */
export function checkFilters(filters: ListFilters): void {
  for (const key of Object.keys(filters)) {
    if (!KNOWN_FILTERS.has(key)) throw invalid(`invalid filter '${key}'`);
  }
  for (const want of filters.dangling ?? []) {
    if (!['true', 'false', '1', '0'].includes(want))
      throw invalid(`invalid filter 'dangling=${want}'`);
  }
}

/** Whether `v` passes the filters (already checked by `checkFilters`); `createdOf` maps a before/since reference to an image's creation time. */
export function matchesFilters(
  v: ImageView,
  filters: ListFilters,
  createdOf: (ref: string) => number,
): boolean {
  const dangling = filters.dangling;
  if (dangling && dangling.length > 0) {
    const want = dangling[0];
    const isDangling = v.tagKeys.length === 0;
    if (isDangling !== (want === 'true' || want === '1')) return false;
  }
  for (const l of filters.label ?? []) {
    const labels = v.config.config?.Labels ?? {};
    const eq = l.indexOf('=');
    if (eq < 0 ? !(l in labels) : labels[l.slice(0, eq)] !== l.slice(eq + 1)) return false;
  }
  const created = unixSeconds(v.config.created);
  for (const b of filters.before ?? []) if (!(created < createdOf(b))) return false;
  for (const s of filters.since ?? []) if (!(created > createdOf(s))) return false;
  const refs = filters.reference ?? [];
  if (refs.length > 0) {
    const named = v.tagKeys.map(parseTagKey);
    if (!refs.some((p) => named.some((r) => familiarMatch(p, r)))) return false;
  }
  return true;
}
