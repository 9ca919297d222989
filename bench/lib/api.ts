/**
 * The same container lifecycle measured at the Engine API, without the CLI:
 * where each engine spends the time of `run -d` (create + start) and `rm -f`
 * (a forced DELETE of a running container). Context for the CLI figures, whose
 * floor is the docker CLI's own start-up and version negotiation.
 */
import { Http1, type Reply } from './http1.js';
import { order, type Samples } from './measure.js';
import type { Engine } from './report.js';

/** API samples per call, per engine, in ms. */
export interface ApiSamples {
  /** POST /containers/create. */
  create: Samples;
  /** POST /containers/{id}/start. */
  start: Samples;
  /** DELETE /containers/{id}?force=1 of the running container. */
  delete: Samples;
}

// Both engines speak it: dockerd 20.10's newest API version.
const API = '/v1.41';

const clients = new Map<string, Http1>();

/**
 * One Engine API call over a unix socket, timed from request to the end of
 * the response (one kept-alive connection per socket, see http1.ts).
 */
export function call(socket: string, method: string, path: string, body?: unknown): Promise<Reply> {
  let c = clients.get(socket);
  if (!c) clients.set(socket, (c = new Http1(socket)));
  return c.request(method, API + path, body);
}

/** create, start, forced delete of `sh -c LOOP` on each engine, alternating. */
export async function measureApi(
  sockets: Record<Engine, string>,
  cmd: string[],
  warmup: number,
  iterations: number,
  interrupted: () => boolean,
): Promise<ApiSamples> {
  const out: ApiSamples = {
    create: { berth: [], docker: [] },
    start: { berth: [], docker: [] },
    delete: { berth: [], docker: [] },
  };
  for (let i = 0; i < warmup + iterations; i++) {
    for (const e of order(i)) {
      if (interrupted()) throw new Error('interrupted');
      const sock = sockets[e];
      const c = await call(sock, 'POST', '/containers/create', { Image: 'busybox', Cmd: cmd });
      if (c.status !== 201) throw new Error(`${e}: API create ${c.status}: ${c.text}`);
      const id = (JSON.parse(c.text) as { Id: string }).Id;
      const s = await call(sock, 'POST', `/containers/${id}/start`);
      if (s.status !== 204) throw new Error(`${e}: API start ${s.status}: ${s.text}`);
      const d = await call(sock, 'DELETE', `/containers/${id}?force=1`);
      if (d.status !== 204) throw new Error(`${e}: API delete ${d.status}: ${d.text}`);
      if (i >= warmup) {
        out.create[e].push(c.ms);
        out.start[e].push(s.ms);
        out.delete[e].push(d.ms);
      }
    }
  }
  return out;
}
