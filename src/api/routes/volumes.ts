/**
 * The volume routes of Engine API 1.47 as dockerd answers them, on the
 * `local` driver (src/volumes/service.ts): create (201, an existing volume
 * returned as it is), list with filters, inspect, remove (409 while in use,
 * `force` for a missing one), prune.
 */
import { invalid } from '../../common/errors.js';
import { obj, optStr, optStrMap, parseFilters, qBool } from '../../common/validate.js';
import { empty, json, type Router } from '../server.js';
import type { Services } from './services.js';

export function volumeRoutes(r: Router, s: Services): void {
  const { volumes } = s;
  r.on('GET', '/volumes', async ({ res, query }) => {
    const list = volumes.list(parseFilters(query.get('filters')));
    json(res!, 200, { Volumes: list.map((v) => volumes.view(v)), Warnings: null });
  });
  r.on('POST', '/volumes/create', async (ctx) => {
    const b = obj(await ctx.body(), 'body');
    const cluster = b.ClusterVolumeSpec;
    if (cluster !== undefined && cluster !== null) {
      throw invalid('berth does not support cluster volumes (ClusterVolumeSpec) yet');
    }
    const v = await volumes.create({
      name: optStr(b, 'Name') ?? '',
      driver: optStr(b, 'Driver') ?? '',
      opts: optStrMap(b, 'DriverOpts') ?? null,
      labels: optStrMap(b, 'Labels') ?? null,
    });
    json(ctx.res!, 201, volumes.view(v));
  });
  r.on('POST', '/volumes/prune', async ({ res, query, version }) => {
    json(res!, 200, await volumes.prune(parseFilters(query.get('filters')), version));
  });
  r.on('GET', '/volumes/:name', async ({ res, params }) => {
    json(res!, 200, volumes.view(volumes.get(params[0]!)));
  });
  r.on('DELETE', '/volumes/:name', async ({ res, params, query }) => {
    await volumes.remove(params[0]!, qBool(query.get('force')));
    empty(res!, 204);
  });
}
