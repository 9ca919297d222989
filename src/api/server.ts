/**
 * The Engine API's HTTP layer: routing (any /vX.Y prefix or none), error
 * mapping (BerthError code → status, `{"message"}` bodies with exactly
 * `application/json`), and connection hijacking for attach and exec.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { BerthError, messageOf } from '../common/errors.js';
import type { Logger } from '../daemon/log.js';
import { parseJson } from './validate.js';

/** A bidirectional stream to a client: an upgraded socket, or a plain response + request. */
export interface Hijacked {
  write(b: Buffer | string): void;
  end(): void;
  /** Input from the client after the request body (stdin); null at its end. */
  onInput(cb: (b: Buffer | null) => void): void;
  /** The client went away. */
  onClose(cb: () => void): void;
  readonly closed: boolean;
}

export interface Ctx {
  req: IncomingMessage;
  /** Undefined for upgraded requests: use `hijack`. */
  res?: ServerResponse;
  params: string[];
  query: URLSearchParams;
  /** The JSON body (read once). */
  body(): Promise<unknown>;
  /** Whether the client asked to upgrade the connection. */
  upgrade: boolean;
  /** Takes over the connection for a raw stream (attach, exec start). */
  hijack(contentType: string): Promise<Hijacked>;
}

export type Handler = (ctx: Ctx) => Promise<void>;

interface Route {
  method: string;
  re: RegExp;
  handler: Handler;
}

export class Router {
  private routes: Route[] = [];

  /** Adds a route; `path` uses `:name` for one segment, `*` for one or more (image names have slashes). */
  on(method: string, path: string, handler: Handler): this {
    const re = new RegExp(
      '^' + path.replace(/[.]/g, '\\.').replace(/:\w+/g, '([^/]+)').replace(/\*/g, '(.+)') + '/?$',
    );
    this.routes.push({ method, re, handler });
    return this;
  }

  match(
    method: string,
    path: string,
  ): { handler: Handler; params: string[] } | 'method' | undefined {
    let pathMatched = false;
    for (const r of this.routes) {
      const m = r.re.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (r.method === method || (method === 'HEAD' && r.method === 'GET')) {
        return { handler: r.handler, params: m.slice(1).map(decodeURIComponent) };
      }
    }
    return pathMatched ? 'method' : undefined;
  }
}

/** Sends a JSON response. */
export function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * A response without a body. Like Go's net/http (dockerd), a 2xx other than
 * 204 says `Content-Length: 0`, so it goes out whole in one write instead of
 * as a chunked stream with a separate terminating chunk.
 */
export function empty(res: ServerResponse, status: number): void {
  if (status === 204 || status === 304) res.writeHead(status).end();
  else res.writeHead(status, { 'Content-Length': 0 }).end();
}

function sendError(res: ServerResponse, e: unknown, log: Logger): void {
  const status = e instanceof BerthError ? e.status : hasStatus(e) ? e.status : 500;
  if (status === 304) {
    res.writeHead(304);
    res.end();
    return;
  }
  if (status >= 500)
    log.error(`request failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  if (res.headersSent) {
    res.end();
    return;
  }
  json(res, status, { message: messageOf(e) });
}

function hasStatus(e: unknown): e is { status: number } {
  return (
    typeof e === 'object' && e !== null && typeof (e as { status?: unknown }).status === 'number'
  );
}

function readAll(req: IncomingMessage): Promise<string> {
  // Events, not `for await`: the async iterator costs more than a small body.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * On an upgraded connection Node leaves the request body unread: it arrives in
 * `head` and on the socket. Takes Content-Length bytes as the body; the rest
 * is the client's stream input.
 */
function splitUpgradeBody(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): { body: Promise<string>; input: (cb: (b: Buffer | null) => void) => void } {
  const want = Number(req.headers['content-length'] ?? 0) || 0;
  let got = Buffer.alloc(0);
  let rest: Buffer[] = [];
  let inputCb: ((b: Buffer | null) => void) | undefined;
  let ended = false;
  let resolveBody!: (s: string) => void;
  const body = new Promise<string>((r) => (resolveBody = r));
  let bodyDone = false;
  const feed = (chunk: Buffer) => {
    if (!bodyDone) {
      got = Buffer.concat([got, chunk]);
      if (got.length >= want) {
        bodyDone = true;
        resolveBody(got.subarray(0, want).toString('utf8'));
        const extra = got.subarray(want);
        if (extra.length) rest.push(extra);
      }
    } else rest.push(chunk);
    if (inputCb && rest.length) {
      for (const r of rest) inputCb(r);
      rest = [];
    }
  };
  socket.on('data', feed);
  socket.on('end', () => {
    ended = true;
    if (!bodyDone) {
      bodyDone = true;
      resolveBody(got.toString('utf8'));
    }
    inputCb?.(null);
  });
  if (want === 0) {
    bodyDone = true;
    resolveBody('');
  }
  if (head.length) feed(head);
  return {
    body,
    input: (cb) => {
      inputCb = cb;
      for (const r of rest) cb(r);
      rest = [];
      if (ended) cb(null);
    },
  };
}

export function createApiServer(router: Router, log: Logger): Server {
  const dispatch = async (
    req: IncomingMessage,
    res: ServerResponse | undefined,
    upgrade?: { socket: Duplex; head: Buffer },
  ) => {
    const url = new URL(req.url ?? '/', 'http://berth');
    const path = url.pathname.replace(/^\/v\d+(\.\d+)?(?=\/)/, '');
    const method = req.method ?? 'GET';
    log.debug(`${method} ${url.pathname}${url.search}`);
    let bodyText: Promise<string> | undefined;
    let inputHook: ((cb: (b: Buffer | null) => void) => void) | undefined;
    if (upgrade) {
      const s = splitUpgradeBody(req, upgrade.socket, upgrade.head);
      bodyText = s.body;
      inputHook = s.input;
    } else if (req.headers['content-type']?.startsWith('application/json')) {
      // Read while the request is routed: a JSON body is small and always
      // wanted (a client going away rejects it for whoever awaits it).
      bodyText = readAll(req);
      bodyText.catch(() => undefined);
    }
    let hijacked = false;
    const ctx: Ctx = {
      req,
      res,
      params: [],
      query: url.searchParams,
      upgrade: !!upgrade,
      body: async () => parseJson(await (bodyText ??= readAll(req))),
      hijack: async (contentType) => {
        hijacked = true;
        if (upgrade) {
          await (bodyText ??= Promise.resolve(''));
          const sock = upgrade.socket;
          sock.write(
            `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
          );
          return socketHijack(sock, inputHook!);
        }
        await (bodyText ??= readAll(req));
        res!.writeHead(200, { 'Content-Type': contentType });
        res!.flushHeaders();
        return responseHijack(req, res!);
      },
    };
    const m = router.match(method, path);
    const fail = (status: number, message: string) => {
      if (res) json(res, status, { message });
      else
        upgrade?.socket.end(
          `HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(JSON.stringify({ message }))}\r\n\r\n${JSON.stringify({ message })}`,
        );
    };
    if (!m) return fail(404, 'page not found');
    if (m === 'method') return fail(405, `method ${method} not allowed for ${path}`);
    ctx.params = m.params;
    try {
      await m.handler(ctx);
    } catch (e) {
      if (res) sendError(res, e, log);
      else if (upgrade && !hijacked) {
        const status = e instanceof BerthError ? e.status : 500;
        fail(status, messageOf(e));
      } else upgrade?.socket.destroy();
    }
  };
  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => void dispatch(req, res));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    void dispatch(req, undefined, { socket, head });
  });
  server.on('clientError', (_e, socket) => socket.destroy());
  return server;
}

function socketHijack(sock: Duplex, input: (cb: (b: Buffer | null) => void) => void): Hijacked {
  let closed = false;
  const closeCbs: Array<() => void> = [];
  sock.on('close', () => {
    closed = true;
    for (const c of closeCbs) c();
  });
  return {
    write: (b) => {
      if (!closed) sock.write(b);
    },
    end: () => {
      if (!closed) sock.end();
    },
    onInput: input,
    onClose: (cb) => closeCbs.push(cb),
    get closed() {
      return closed;
    },
  };
}

function responseHijack(req: IncomingMessage, res: ServerResponse): Hijacked {
  let closed = false;
  const closeCbs: Array<() => void> = [];
  res.on('close', () => {
    closed = true;
    for (const c of closeCbs) c();
  });
  return {
    write: (b) => {
      if (!closed) res.write(b);
    },
    end: () => {
      if (!closed) res.end();
    },
    onInput: (cb) => {
      req.on('data', (d: Buffer) => cb(d));
      req.on('end', () => cb(null));
    },
    onClose: (cb) => closeCbs.push(cb),
    get closed() {
      return closed;
    },
  };
}
