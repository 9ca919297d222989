/**
 * The live view's listener (`berthd --web ADDR`, decision 0034): one page,
 * the network graph pushed to it as server-sent events whenever a container
 * or network event is published (and when a read every KERNEL_POLL_MS finds
 * the kernel changed without one), and containers' inspect data. Read-only
 * and nothing else: its router has these four GET routes and no other, so
 * the Engine API (create, exec, ...) is not reachable on this port (404).
 *
 *   GET /                     the page (self-contained: inline script and style)
 *   GET /berth/graph          the graph, as on the API (json, text or dot)
 *   GET /berth/live           text/event-stream: `event: graph` with the JSON
 *                             graph now, then again after every change
 *   GET /containers/{id}/json the container's inspect data
 */
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { BerthError, messageOf } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { BerthEvent } from '../../events/bus.js';
import { inspectContainer } from '../routes/containers.js';
import { graphOf, graphRoutes } from '../routes/graph.js';
import type { Services } from '../routes/services.js';
import { json, Router, type Ctx, type Handler } from '../server.js';
import { PAGE_SCRIPT, PAGE_STYLE, pageHtml } from './page.js';
import { writeOrDrop } from '../flow.js';

/** How long after an event the graph is read: events come in bursts (create, connect, start). */
const SOON_MS = 150;
/** And once more after the burst: the daemon deletes links in the background. */
const LATE_MS = 1500;
/** A comment line now and then, so proxies and the browser keep the stream open. */
const KEEPALIVE_MS = 20_000;
/**
 * How often the graph is read again while a page is open, for what no event
 * announces: a link, rule or FDB entry changed in the kernel by someone else
 * (a leak). Sent only when the graph differs from the one last sent.
 */
export const KERNEL_POLL_MS = 2000;

const sha = (text: string): string =>
  `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** Only the page's own script and style run; it talks to this origin only. */
const CSP = [
  "default-src 'none'",
  `script-src ${sha(PAGE_SCRIPT)}`,
  `style-src ${sha(PAGE_STYLE)}`,
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Events that change the picture: a container's or network's, but not exec's or health's. */
function changesGraph(e: BerthEvent): boolean {
  if (e.Type !== 'container' && e.Type !== 'network') return false;
  return !/^(exec_|health_status|attach|resize|top|export|copy|archive-path|extract)/.test(
    e.Action,
  );
}

/** The stream of graphs to every open page, read once per change for all of them. */
class LiveGraph {
  private clients = new Set<ServerResponse>();
  private off?: () => void;
  private soon?: NodeJS.Timeout;
  private late?: NodeJS.Timeout;
  private keepalive?: NodeJS.Timeout;
  private poll?: NodeJS.Timeout;
  /** The last graph sent to every page, so a poll that finds nothing new sends nothing. */
  private last?: string;
  private running = false;
  private again = false;

  constructor(
    private s: Services,
    private log: Logger,
  ) {}

  add(res: ServerResponse): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    res.write('retry: 1000\n\n');
    this.clients.add(res);
    res.on('close', () => this.remove(res));
    if (!this.off) {
      this.off = this.s.events.subscribe((e) => {
        if (changesGraph(e)) this.changed();
      });
      this.keepalive = setInterval(() => {
        for (const c of this.clients) writeOrDrop(c, ': keepalive\n\n');
      }, KEEPALIVE_MS);
      this.poll = setInterval(() => void this.push(), KERNEL_POLL_MS);
    }
    void this.push([res]);
  }

  private remove(res: ServerResponse): void {
    this.clients.delete(res);
    if (this.clients.size > 0) return;
    this.close();
  }

  /** Stops listening to the bus (the last page went away, or the daemon stops). */
  close(): void {
    this.off?.();
    this.off = undefined;
    for (const t of [this.soon, this.late]) if (t) clearTimeout(t);
    for (const t of [this.keepalive, this.poll]) if (t) clearInterval(t);
    this.soon = this.late = this.keepalive = this.poll = undefined;
    this.last = undefined;
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  private changed(): void {
    this.soon ??= setTimeout(() => {
      this.soon = undefined;
      void this.push();
    }, SOON_MS);
    if (this.late) clearTimeout(this.late);
    this.late = setTimeout(() => {
      this.late = undefined;
      void this.push();
    }, LATE_MS);
  }

  /** Reads the graph and sends it to `to` (every page when not given); one read at a time. */
  private async push(to?: ServerResponse[]): Promise<void> {
    if (this.running && !to) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      const graph = await graphOf(this.s);
      const data = `event: graph\ndata: ${JSON.stringify(graph)}\n\n`;
      const fresh = to !== undefined || data !== this.last;
      if (!to) this.last = data;
      // A page that does not read is dropped past its bound, as an /events client (flow.ts).
      if (fresh) for (const c of to ?? this.clients) if (this.clients.has(c)) writeOrDrop(c, data);
    } catch (e) {
      this.log.warn(`live view: reading the graph: ${messageOf(e)}`);
      const data = `event: failure\ndata: ${JSON.stringify({ message: messageOf(e) })}\n\n`;
      this.last = undefined;
      for (const c of to ?? this.clients) if (this.clients.has(c)) writeOrDrop(c, data);
    } finally {
      this.running = false;
    }
    if (this.again) {
      this.again = false;
      await this.push();
    }
  }
}

/**
 * A page elsewhere must not read this one's answers by pointing its own name
 * at 127.0.0.1 (DNS rebinding): on a loopback listener, the Host header must
 * name a loopback address or localhost. A TLS listener is covered by the
 * certificate, which such a name would not match.
 */
function hostGuard(port: number, loopback: boolean, h: Handler): Handler {
  if (!loopback) return h;
  const ok = new RegExp(`^(localhost|127(\\.\\d{1,3}){3}|\\[::1\\])(:${port})?$`, 'i');
  return async (ctx: Ctx) => {
    const host = ctx.req.headers.host ?? '';
    if (!ok.test(host)) {
      throw new BerthError(
        'FORBIDDEN',
        `the live view answers only to a loopback name (127.0.0.1:${port}, localhost:${port}), not ${JSON.stringify(host)}`,
      );
    }
    await h(ctx);
  };
}

/** The live view's router and the stream to close when the daemon stops. */
export function webRouter(
  s: Services,
  log: Logger,
  opts: { port: number; loopback: boolean },
): { router: Router; close(): void } {
  const live = new LiveGraph(s, log);
  const graph = new Router();
  graphRoutes(graph, s);
  const guard = (h: Handler) => hostGuard(opts.port, opts.loopback, h);
  const r = new Router();
  r.on(
    'GET',
    '/',
    guard(async ({ res }) => {
      const body = pageHtml();
      res!.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
        'Content-Security-Policy': CSP,
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        'Cache-Control': 'no-store',
      });
      res!.end(body);
    }),
  );
  r.on(
    'GET',
    '/berth/graph',
    guard(async (ctx) => {
      const m = graph.match('GET', '/berth/graph');
      if (m && m !== 'method') await m.handler(ctx);
    }),
  );
  r.on(
    'GET',
    '/berth/live',
    guard(async ({ res }) => live.add(res!)),
  );
  r.on(
    'GET',
    '/containers/:id/json',
    guard(async ({ res, params }) => json(res!, 200, await inspectContainer(s, params[0]!, false))),
  );
  return { router: r, close: () => live.close() };
}
