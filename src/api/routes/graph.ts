/**
 * `GET /berth/graph` (a Berth extension, not Docker's API; decision 0030):
 * the network graph of this daemon's host, built from the store and the
 * live kernel, with what one has and the other lacks listed as problems.
 *
 *   ?network=NAME|ID   (repeatable) only these networks; else everything,
 *                      including Berth's things of no network (leaks)
 *   ?format=json       the model: host, networks, namespaces, nodes, edges,
 *                      problems (default)
 *          =text       the 80-column text tree
 *          =dot        Graphviz's dot language
 *
 * SVG and PNG are not served: the CLI lays the dot out with Graphviz on
 * the client's machine, so the daemon needs no Graphviz.
 */
import { invalid } from '../../common/errors.js';
import { buildGraph, renderDot, renderText, type Graph } from '../../network/graph/index.js';
import { json, type Router } from '../server.js';
import type { Services } from './services.js';

const FORMATS = ['json', 'text', 'dot'];

export function graphRoutes(r: Router, s: Services): void {
  r.on('GET', '/berth/graph', async ({ res, query }) => {
    const format = query.get('format') || 'json';
    if (!FORMATS.includes(format)) {
      const local =
        format === 'svg' || format === 'png'
          ? ` on the API: ask for format=dot and lay it out with Graphviz (berth network graph --format ${format} does)`
          : '';
      throw invalid(
        `berth does not support graph format ${JSON.stringify(format)}${local}; formats: ${FORMATS.join(', ')}`,
      );
    }
    const refs = query.getAll('network');
    if (refs.some((n) => n === '')) throw invalid('network must not be empty');
    const ids = refs.map((ref) => s.networks.get(ref).Id);
    const graph = await graphOf(s, ids);
    if (format === 'json') return json(res!, 200, graph);
    const body = format === 'text' ? renderText(graph) : renderDot(graph);
    res!.writeHead(200, {
      'Content-Type':
        format === 'dot' ? 'text/vnd.graphviz; charset=utf-8' : 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
    });
    res!.end(body);
  });
}

/** This host's graph (of the networks `ids`, else of everything), from the store and the kernel now. */
export async function graphOf(s: Services, ids: string[] = []): Promise<Graph> {
  const containers: Record<string, { name: string; running: boolean }> = {};
  for (const c of s.containers.list()) {
    containers[c.Id] = { name: c.Name.replace(/^\//, ''), running: c.State.Status === 'running' };
  }
  const host = {
    name: s.info.name,
    ...(s.info.clusterAdvertise ? { advertise: s.info.clusterAdvertise } : {}),
  };
  const { store, kernel } = await s.networks.graphSnapshots(host, containers);
  return buildGraph(store, kernel, ids.length ? { networks: ids } : {});
}
