/**
 * The everyday per-container tools beyond the lifecycle: GET
 * /containers/{id}/top (the host's ps over the container's cgroup) and
 * /containers/{id}/stats (its cgroup counters, one sample, or one a second).
 */
import { emptyStats, sample, type StatsJson } from '../../containers/stats.js';
import { top } from '../../containers/top.js';
import { conflict, invalid } from '../../common/errors.js';
import { json, type Router } from '../server.js';
import type { Services } from './services.js';

/** Docker's BoolValueOrDefault: absent is `def`; "", 0, no, false, none are false. */
function qBoolDefault(v: string | null, def: boolean): boolean {
  if (v === null) return def;
  return !['', '0', 'no', 'false', 'none'].includes(v.trim().toLowerCase());
}

const TICK_MS = 1000;

export function containerToolRoutes(r: Router, s: Services): void {
  const { containers } = s;

  r.on('GET', '/containers/:id/top', async ({ res, params, query }) => {
    const c = containers.get(params[0]!);
    if (c.State.Status === 'restarting') {
      throw conflict(`Container ${c.Id} is restarting, wait until the container is running`);
    }
    if (c.State.Status !== 'running') throw conflict(`Container ${c.Id} is not running`);
    const list = await top(containers.cgroupPids(c.Id), query.get('ps_args') ?? '');
    containers.emit(c, 'top');
    json(res!, 200, list);
  });

  r.on('GET', '/containers/:id/stats', async ({ res, params, query }) => {
    const c = containers.get(params[0]!);
    const stream = qBoolDefault(query.get('stream'), true);
    const oneShot = qBoolDefault(query.get('one-shot'), false);
    if (stream && oneShot) throw invalid('cannot have stream=true and one-shot=true');
    const running = () => c.State.Status === 'running';
    if (!running() && !stream) return json(res!, 200, emptyStats(c.Name, c.Id));
    let prev: StatsJson | undefined;
    const next = (): StatsJson => {
      const cur = running()
        ? sample(
            {
              name: c.Name,
              id: c.Id,
              pid: c.State.Pid,
              hostNetwork: c.HostConfig.NetworkMode === 'host',
            },
            containers.cgroupDirs(c.Id),
          )
        : emptyStats(c.Name, c.Id);
      if (prev) {
        cur.precpu_stats = prev.cpu_stats;
        cur.preread = prev.read;
      }
      prev = cur;
      return cur;
    };
    if (oneShot) return json(res!, 200, next());
    if (!stream) {
      // As dockerd: a first sample primes the CPU figures, the second is sent.
      next();
      await new Promise((ok) => setTimeout(ok, TICK_MS));
      return json(res!, 200, next());
    }
    res!.writeHead(200, { 'Content-Type': 'application/json' });
    res!.flushHeaders();
    let closed = false;
    res!.on('close', () => (closed = true));
    while (!closed && containers.find(c.Id) === c) {
      res!.write(JSON.stringify(next()) + '\n');
      await new Promise((ok) => setTimeout(ok, TICK_MS));
    }
    res!.end();
  });
}
