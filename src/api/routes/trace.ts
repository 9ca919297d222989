/**
 * `POST /berth/trace` (a Berth extension, not Docker's API; decision 0033):
 * the path one probe packet takes from SRC to DST, hop by hop, and a
 * sentence saying whether and why it arrived.
 *
 *   body {"Source": "web", "Destination": "db:5432/tcp", "Format": "json"|"text"}
 *
 * Source: a container (name, ID, address), an address of this host, or
 * `world`; Destination: the same, with an optional `:PORT[/tcp|udp]` (no
 * port: an ICMP echo).
 */
import { invalid } from '../../common/errors.js';
import { renderReport, runTrace } from '../../network/trace/index.js';
import { json, type Router } from '../server.js';
import type { Services } from './services.js';

const FIELDS = ['Source', 'Destination', 'Format'];

export function traceRoutes(r: Router, s: Services): void {
  r.on('POST', '/berth/trace', async (ctx) => {
    const body = (await ctx.body()) as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw invalid('a JSON object with Source and Destination is required');
    }
    for (const k of Object.keys(body)) {
      if (!FIELDS.includes(k)) throw invalid(`berth does not support trace field ${k} yet`);
    }
    const { Source: src, Destination: dst, Format: format = 'json' } = body;
    if (typeof src !== 'string' || !src) throw invalid('Source must be a non-empty string');
    if (typeof dst !== 'string' || !dst) throw invalid('Destination must be a non-empty string');
    if (format !== 'json' && format !== 'text') {
      throw invalid(
        `berth does not support trace format ${JSON.stringify(format)}; formats: json, text`,
      );
    }
    const containers: Record<string, { name: string; running: boolean }> = {};
    for (const c of s.containers.list()) {
      containers[c.Id] = { name: c.Name.replace(/^\//, ''), running: c.State.Status === 'running' };
    }
    const result = await runTrace(
      {
        snapshots: () => s.networks.graphSnapshots({ name: s.info.name }, containers),
        sandboxPath: (id) => s.networks.endpoints.netnsPath(id),
        overlayPath: (id) => s.networks.overlayPath(id),
        ...(s.tracePeer ? { peer: s.tracePeer } : {}),
      },
      src,
      dst,
    );
    if (format === 'json') return json(ctx.res!, 200, result);
    const text = renderReport(src, dst, result);
    ctx.res!.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
    });
    ctx.res!.end(text);
  });
}
