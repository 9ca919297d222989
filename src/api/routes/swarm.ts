/**
 * Swarm mode is out of Berth's scope (the seed's multi-host is the classic
 * overlay over etcd). Its routes answer as dockerd 20.10 does on a node that
 * is not in a swarm (docs/reference/docker-20.10-inspect.json, "swarm"):
 * clients such as docker-py tolerate those answers. `swarm init` and `join`
 * get a clear refusal.
 */
import { BerthError, invalid } from '../../common/errors.js';
import { obj } from '../../common/validate.js';
import type { Router } from '../server.js';

const NOT_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const NO_SWARM_MODE =
  'berth does not support swarm mode: its multi-host networking is the overlay driver with a cluster store (--cluster-store)';

export function swarmRoutes(r: Router): void {
  const notManager = () => {
    throw new BerthError('UNAVAILABLE', NOT_MANAGER);
  };
  r.on('POST', '/swarm/leave', () => {
    throw new BerthError('UNAVAILABLE', 'This node is not part of a swarm');
  });
  r.on('POST', '/swarm/init', () => {
    throw invalid(NO_SWARM_MODE);
  });
  r.on('POST', '/swarm/join', async (ctx) => {
    const b = obj(await ctx.body(), 'body');
    // dockerd checks the request before it tries to join.
    if (!Array.isArray(b.RemoteAddrs) || b.RemoteAddrs.length === 0) {
      throw invalid('at least 1 RemoteAddr is required to join');
    }
    throw invalid(NO_SWARM_MODE);
  });
  r.on('GET', '/swarm', notManager);
  r.on('GET', '/swarm/unlockkey', notManager);
  r.on('POST', '/swarm/update', notManager);
  r.on('POST', '/swarm/unlock', notManager);
  for (const kind of ['services', 'nodes', 'tasks', 'secrets', 'configs']) {
    r.on('GET', `/${kind}`, notManager);
    r.on('GET', `/${kind}/*`, notManager);
    r.on('POST', `/${kind}/*`, notManager);
    r.on('DELETE', `/${kind}/*`, notManager);
  }
}
