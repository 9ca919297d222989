/**
 * Volumes are not built yet (issue 14). Until they are, the routes answer as
 * dockerd 20.10 does with no volume (docs/reference/docker-20.10-inspect.json,
 * "volumes"), so clients that list or prune work, and creating one is refused
 * clearly instead of accepted and ignored.
 */
import { invalid, notFound } from '../../common/errors.js';
import { parseFilters } from '../../common/validate.js';
import { json, type Router } from '../server.js';

const FILTERS = new Set(['dangling', 'driver', 'label', 'name']);

function checkFilters(raw: string | null): void {
  for (const k of parseFilters(raw).keys()) {
    if (!FILTERS.has(k)) throw invalid(`Invalid filter '${k}'`);
  }
}

export function volumeRoutes(r: Router): void {
  r.on('GET', '/volumes', async ({ res, query }) => {
    checkFilters(query.get('filters'));
    json(res!, 200, { Volumes: [], Warnings: null });
  });
  r.on('POST', '/volumes/create', () => {
    throw invalid(
      'berth does not support volumes yet: run the container without a volume (its files live in its own layer)',
    );
  });
  r.on('POST', '/volumes/prune', async ({ res, query }) => {
    parseFilters(query.get('filters'));
    json(res!, 200, { VolumesDeleted: [], SpaceReclaimed: 0 });
  });
  r.on('GET', '/volumes/:name', ({ params }) => {
    throw notFound(`get ${params[0]}: no such volume`);
  });
  r.on('DELETE', '/volumes/:name', ({ params }) => {
    throw notFound(`get ${params[0]}: no such volume`);
  });
}
