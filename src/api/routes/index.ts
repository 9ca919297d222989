/** Every route of the Engine API berthd serves, on one router. */
import { Router } from '../server.js';
import { buildRoutes } from './build.js';
import { containerToolRoutes } from './container-tools.js';
import { containerRoutes } from './containers.js';
import { execRoutes } from './exec.js';
import { graphRoutes } from './graph.js';
import { imageRoutes } from './images.js';
import { networkRoutes } from './networks.js';
import type { Services } from './services.js';
import { storageRoutes } from './storage.js';
import { swarmRoutes } from './swarm.js';
import { systemRoutes } from './system.js';
import { traceRoutes } from './trace.js';
import { volumeRoutes } from './volumes.js';

export function apiRouter(services: Services): Router {
  const router = new Router();
  systemRoutes(router, services);
  // before the /containers/:id and /images/* patterns
  storageRoutes(router, services);
  containerRoutes(router, services);
  containerToolRoutes(router, services);
  execRoutes(router, services);
  imageRoutes(router, services);
  buildRoutes(router, services);
  networkRoutes(router, services);
  volumeRoutes(router, services);
  graphRoutes(router, services);
  traceRoutes(router, services);
  swarmRoutes(router);
  return router;
}
