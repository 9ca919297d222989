/**
 * `docker commit` (POST /commit), as dockerd 20.10's
 * CreateImageFromContainer: the container's config (or the one the request
 * sends) with the `--change` instructions applied and the container's own
 * config merged under it, its changed files as one layer on its image (the
 * builder's differ, diff.ts; none when nothing changed, and then an
 * `empty_layer` history entry), the image's parent the container's image.
 * A running container is frozen while its files are read unless `pause` is
 * false. The tag is checked before anything is made, and written in the
 * same store transaction as the image.
 */
import { readdirSync } from 'node:fs';
import { conflict, notFound } from '../common/errors.js';
import { placeholders } from '../containers/changes.js';
import type { ContainerService } from '../containers/service.js';
import { applyChanges } from '../images/changes.js';
import { familiarString, parseRepoTag, type NamedRef } from '../images/reference.js';
import type { ImageStore } from '../images/store.js';
import type { ContainerConfig, HealthConfig } from '../images/types.js';
import { diffTar } from './diff.js';
import { childImageConfig, normalizeRunConfig, type RunConfig } from './runconfig.js';

/** The query (and body) of POST /commit. */
export interface CommitOptions {
  /** `container`: name or ID. */
  container: string;
  /** `repo`, `tag`: the name to give the image ('' for none). */
  repo: string;
  tag: string;
  author: string;
  comment: string;
  /** `--change` instructions. */
  changes: string[];
  /** Freeze a running container while its files are read (default true). */
  pause: boolean;
  /** A config sent in the body, used instead of the container's. */
  config?: ContainerConfig;
}

/** What commit needs of the daemon. */
export interface CommitDeps {
  images: ImageStore;
  containers: ContainerService;
  /** Recorded as the image's `docker_version`. */
  version: string;
}

const envKey = (e: string): string => e.split('=', 1)[0] as string;

/**
 * dockerd's merge(userConf, imageConf): what the commit's config leaves
 * empty comes from the container's (`base`); lists and maps are joined,
 * the commit's entries winning.
 */
export function mergeCommitConfig(user: ContainerConfig, base: ContainerConfig): ContainerConfig {
  const u: ContainerConfig = structuredClone(user);
  if (!u.User) u.User = base.User;
  if (!u.ExposedPorts || Object.keys(u.ExposedPorts).length === 0) {
    u.ExposedPorts = base.ExposedPorts;
  } else if (base.ExposedPorts) {
    for (const p of Object.keys(base.ExposedPorts)) u.ExposedPorts[p] ??= {};
  }
  if (!u.Env || u.Env.length === 0) {
    u.Env = base.Env;
  } else {
    const have = new Set(u.Env.map(envKey));
    for (const e of base.Env ?? []) if (!have.has(envKey(e))) u.Env.push(e);
  }
  u.Labels = { ...(base.Labels ?? {}), ...(u.Labels ?? {}) };
  if (!u.Entrypoint || u.Entrypoint.length === 0) {
    if (!u.Cmd || u.Cmd.length === 0) {
      u.Cmd = base.Cmd;
      if (base.ArgsEscaped !== undefined) u.ArgsEscaped = base.ArgsEscaped;
    }
    if (u.Entrypoint === undefined || u.Entrypoint === null) u.Entrypoint = base.Entrypoint;
  }
  if (base.Healthcheck) {
    if (!u.Healthcheck) u.Healthcheck = structuredClone(base.Healthcheck);
    else {
      const h: HealthConfig = u.Healthcheck;
      if (!h.Test || h.Test.length === 0) h.Test = base.Healthcheck.Test;
      const b = base.Healthcheck;
      for (const k of ['Interval', 'Timeout', 'StartPeriod', 'Retries'] as const) {
        if (!h[k] && b[k] !== undefined) h[k] = b[k];
      }
    }
  }
  if (!u.WorkingDir) u.WorkingDir = base.WorkingDir;
  if (!u.Volumes || Object.keys(u.Volumes).length === 0) u.Volumes = base.Volumes;
  else u.Volumes = { ...u.Volumes, ...(base.Volumes ?? {}) };
  if (!u.StopSignal) u.StopSignal = base.StopSignal;
  return u;
}

/** Commits the container as a new image; returns its ID (`sha256:...`). */
export async function commitContainer(deps: CommitDeps, o: CommitOptions): Promise<string> {
  const { containers, images } = deps;
  const c = containers.get(o.container);
  // Everything that can be refused is refused before a byte is written.
  const tags: NamedRef[] = o.repo ? [parseRepoTag(o.repo, o.tag || undefined)] : [];
  if (c.State.Status === 'dead') {
    throw conflict(`You cannot commit container ${c.Id} which is Dead`);
  }
  if (containers.isRemoving(c.Id) || c.State.Status === 'removing') {
    throw conflict(`You cannot commit container ${c.Id} which is being removed`);
  }
  const own = c.Config as unknown as ContainerConfig;
  const userConfig = applyChanges(o.config ?? own, o.changes);
  const config = normalizeRunConfig(mergeCommitConfig(userConfig, own));
  const containerConfig = normalizeRunConfig(own);
  const parent = await images.resolve(c.ImageID);
  if (!parent) throw notFound(`No such image: ${c.Image}`);
  const id = await containers.withRootfs(c.Id, { write: false, freeze: o.pause }, async () => {
    const upper = containers.upperDir(c.Id);
    const skip = placeholders(upper);
    // runc's mount points (and an `etc` holding only them) are no change
    const changed = readdirSync(upper).some((n) => !skip.has(n));
    return images.commitChild({
      parent: parent.id,
      tags,
      layer: changed ? () => diffTar(upper, skip) : undefined,
      configFor: (diffId) =>
        Buffer.from(
          JSON.stringify(
            commitImageConfig(parent.config, {
              config,
              containerConfig,
              containerId: c.Id,
              diffId,
              author: o.author,
              comment: o.comment,
              version: deps.version,
            }),
          ),
        ),
    });
  });
  containers.emit(c, 'commit', {
    comment: o.comment,
    imageID: id,
    imageRef: tags[0] ? familiarString(tags[0]) : '',
  });
  return id;
}

/** moby's NewChildImage for a commit: the parent's layers and history plus the container's. */
export function commitImageConfig(
  parent: Parameters<typeof childImageConfig>[0],
  s: {
    config: RunConfig;
    containerConfig: RunConfig;
    containerId: string;
    diffId: string | undefined;
    author: string;
    comment: string;
    version: string;
  },
): ReturnType<typeof childImageConfig> {
  const img = childImageConfig(parent, {
    config: s.config,
    containerConfig: s.containerConfig,
    containerId: s.containerId,
    diffId: s.diffId,
    author: s.author,
    created: new Date().toISOString(),
    version: s.version,
  });
  const last = img.history?.[img.history.length - 1];
  if (last && s.comment) {
    // NewHistory(author, comment, created_by, empty): comment before created_by
    const { created, author, created_by, empty_layer } = last;
    img.history![img.history!.length - 1] = {
      created,
      ...(author !== undefined ? { author } : {}),
      created_by,
      comment: s.comment,
      ...(empty_layer !== undefined ? { empty_layer } : {}),
    };
  }
  return img;
}
