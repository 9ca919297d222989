/**
 * What Berth keeps on disk, as dockerd 20.10 serves it: POST /commit (a
 * container as an image, build/commit.ts), GET /images/get and
 * /images/{name}/get (`docker save`, images/save.ts), the prunes of
 * containers, images and the build cache, and GET /system/df.
 */
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { commitContainer } from '../../build/commit.js';
import { conflict, invalid } from '../../common/errors.js';
import { parseFilters } from '../../common/validate.js';
import { CONFIG_FIELDS, checkFields } from '../../containers/create-fields.js';
import { listRow } from '../../containers/render.js';
import type { ContainerRecord } from '../../containers/types.js';
import type { ContainerConfig } from '../../images/types.js';
import { danglingOnly, pruneFilter } from '../prune.js';
import { json, type Router } from '../server.js';
import type { Services } from './services.js';

/** Docker's BoolValueOrDefault: absent is `def`; "", 0, no, false, none are false. */
function qBoolDefault(v: string | null, def: boolean): boolean {
  if (v === null) return def;
  return !['', '0', 'no', 'false', 'none'].includes(v.trim().toLowerCase());
}

/**
 * A config sent with POST /commit: container.Config's fields checked as a
 * create's (create-fields.ts), a one-string Cmd or Entrypoint as a list (Go's
 * StrSlice).
 */
function commitConfig(body: object): ContainerConfig {
  const o = { ...(body as Record<string, unknown>) };
  checkFields(o, CONFIG_FIELDS, '');
  for (const k of ['Cmd', 'Entrypoint', 'Shell']) if (typeof o[k] === 'string') o[k] = [o[k]];
  return o as ContainerConfig;
}

/** The object types `system df` reports (`type=`, API 1.42). */
const DF_TYPES = ['container', 'image', 'volume', 'build-cache'];

/** Whether the container counts as running for a prune (paused and restarting do). */
const isLive = (c: ContainerRecord) =>
  c.State.Status === 'running' || c.State.Status === 'restarting';

export function storageRoutes(r: Router, s: Services): void {
  const { containers, images } = s;
  /** One prune of each kind at a time, as dockerd's pruneRunning. */
  const pruning = new Set<string>();
  const onePrune = async <T>(kind: string, fn: () => Promise<T>): Promise<T> => {
    if (pruning.has(kind)) throw conflict('a prune operation is already running');
    pruning.add(kind);
    try {
      return await fn();
    } finally {
      pruning.delete(kind);
    }
  };

  r.on('POST', '/commit', async (ctx) => {
    const q = ctx.query;
    const body = await ctx.body();
    if (body !== null && (typeof body !== 'object' || Array.isArray(body))) {
      throw invalid('invalid JSON in request body: the container config must be an object');
    }
    const config = body && Object.keys(body).length > 0 ? commitConfig(body) : undefined;
    const id = await commitContainer(
      { images, containers, version: s.info.version },
      {
        container: q.get('container') ?? '',
        repo: q.get('repo') ?? '',
        tag: q.get('tag') ?? '',
        author: q.get('author') ?? '',
        comment: q.get('comment') ?? '',
        changes: q.getAll('changes'),
        pause: qBoolDefault(q.get('pause'), true),
        ...(config ? { config } : {}),
      },
    );
    json(ctx.res!, 201, { Id: id });
  });

  const save = async (res: ServerResponse, names: string[]) => {
    const archive = await images.save(names);
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    try {
      await pipeline(Readable.from(archive), res);
    } catch {
      // a layer that did not come out the same, or the client went away: cut
      res.destroy();
    }
  };
  r.on('GET', '/images/get', async ({ res, query }) => save(res!, query.getAll('names')));
  r.on('GET', '/images/*/get', async ({ res, params }) => save(res!, [params[0]!]));

  r.on('POST', '/containers/prune', async ({ res, query }) => {
    const wanted = pruneFilter(parseFilters(query.get('filters')));
    const out = await onePrune('container', async () => {
      const deleted: string[] = [];
      let reclaimed = 0;
      for (const c of containers.list()) {
        if (isLive(c) || !wanted({ labels: c.Config.Labels, created: Date.parse(c.Created) })) {
          continue;
        }
        const size = await containers.sizeRw(c.Id);
        try {
          await containers.remove(c.Id, false);
        } catch {
          continue; // started or removed since: kept, as dockerd
        }
        reclaimed += size;
        deleted.push(c.Id);
      }
      return { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
    });
    s.events.publish('container', 'prune', '', { reclaimed: String(out.SpaceReclaimed) });
    json(res!, 200, out);
  });

  r.on('POST', '/images/prune', async ({ res, query }) => {
    const f = parseFilters(query.get('filters'));
    const wanted = pruneFilter(f, ['dangling']);
    const dangling = danglingOnly(f);
    const out = await onePrune('image', () => images.prune(dangling, wanted));
    s.events.publish('image', 'prune', '', { reclaimed: String(out.SpaceReclaimed) });
    json(res!, 200, out);
  });

  // The classic builder keeps no cache but its images (which `image prune`
  // removes); there is no BuildKit cache to prune, and nothing is reported.
  r.on('POST', '/build/prune', async ({ res, query }) => {
    const f = parseFilters(query.get('filters'));
    const known = ['until', 'id', 'parent', 'type', 'description', 'inuse', 'shared', 'private'];
    for (const k of f.keys()) if (!known.includes(k)) throw invalid(`Invalid filter '${k}'`);
    json(res!, 200, { CachesDeleted: null, SpaceReclaimed: 0 });
  });

  r.on('GET', '/system/df', async ({ res, query }) => {
    const types = query.getAll('type');
    for (const t of types) if (!DF_TYPES.includes(t)) throw invalid(`unknown object type: ${t}`);
    const want = (t: string) => types.length === 0 || types.includes(t);
    const all = containers.list();
    const out: Record<string, unknown> = {};
    if (want('image')) {
      const u = images.usage((id) => all.filter((c) => c.ImageID === id).length);
      out.LayersSize = u.LayersSize;
      out.Images = u.Images;
    }
    if (want('container')) {
      const rows = [];
      for (const c of all.sort((a, b) => b.Created.localeCompare(a.Created))) {
        rows.push(
          listRow(c, s.networks.endpoints.publishedPorts(c.Id), await containerSizes(s, c)),
        );
      }
      out.Containers = rows;
    }
    if (want('volume')) {
      const vols = [];
      for (const v of s.volumes.all()) vols.push(await s.volumes.usage(v));
      out.Volumes = vols;
    }
    if (want('build-cache')) out.BuildCache = [];
    json(res!, 200, out);
  });
}

/** SizeRw and SizeRootFs: a container's changes, and those with its image's layers. */
export async function containerSizes(
  s: Services,
  c: ContainerRecord,
): Promise<{ SizeRw: number; SizeRootFs: number }> {
  const SizeRw = await s.containers.sizeRw(c.Id);
  return { SizeRw, SizeRootFs: SizeRw + s.images.sizeOf(c.ImageID) };
}
