/**
 * The Engine API's HTTP layer: routing (any /vX.Y prefix or none), error
 * mapping (BerthError code → status, `{"message"}` bodies with exactly
 * `application/json`), and connection hijacking for attach and exec.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { BerthError, invalid, messageOf } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { parseJson } from '../common/validate.js';
import {
  MAX_HEADER_BYTES,
  MAX_JSON_BODY,
  MAX_URL,
  checkJsonType,
  readAll,
  socketInput,
  splitUpgradeBody,
  tooLarge,
  type UpgradeBody,
} from './body.js';
import {
  closeTaken,
  headAlone,
  socketHijack,
  takeFromHttp,
  type Hijacked,
  type PeerUnread,
} from './hijack.js';
import { acceptWebsocket, isWebsocketRequest, NOT_WEBSOCKET } from './websocket.js';

export type { Hijacked } from './hijack.js';
export { MAX_HEADER_BYTES, MAX_JSON_BODY, MAX_URL } from './body.js';

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
  /** The API version of the request's path (`/v1.41/...`), undefined without one. */
  version?: string;
  /** The client's connection itself (for answers written raw, as on a hijacked one). */
  socket: Duplex;
  /** Takes over the connection for a raw stream (attach, exec start). */
  hijack(contentType: string): Promise<Hijacked>;
  /**
   * Takes over the connection as a websocket (RFC 6455); a request that is
   * not a websocket handshake gets dockerd's 400 and undefined.
   */
  websocket(): Hijacked | undefined;
}

export type Handler = (ctx: Ctx) => Promise<void>;

interface Route {
  method: string;
  path: string;
  re: RegExp;
  handler: Handler;
  hijack: boolean;
}

/** How a route is served. */
export interface RouteOptions {
  /**
   * It takes the connection over (attach, exec start): an upgrade request
   * is answered by it. Every other route answers an upgrade request as a
   * plain one, as dockerd, whose hijacking routes are the only ones that
   * look at the header.
   */
  hijack?: boolean;
}

/** A path segment, %-decoded; a malformed escape is the client's error (400), as Go's URL parser. */
function decodeParam(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    throw invalid(`invalid URL escape in "${p}"`);
  }
}

export class Router {
  private routes: Route[] = [];

  /** Adds a route; `path` uses `:name` for one segment, `*` for one or more (image names have slashes). */
  on(method: string, path: string, handler: Handler, opts: RouteOptions = {}): this {
    const re = new RegExp(
      '^' + path.replace(/[.]/g, '\\.').replace(/:\w+/g, '([^/]+)').replace(/\*/g, '(.+)') + '/?$',
    );
    this.routes.push({ method, path, re, handler, hijack: !!opts.hijack });
    return this;
  }

  /** Every route, as registered (for the API fuzzer). */
  list(): Array<{ method: string; path: string }> {
    return this.routes.map(({ method, path }) => ({ method, path }));
  }

  match(
    method: string,
    path: string,
  ): { handler: Handler; params: string[]; hijack: boolean } | 'method' | undefined {
    let pathMatched = false;
    for (const r of this.routes) {
      const m = r.re.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (r.method === method || (method === 'HEAD' && r.method === 'GET')) {
        return { handler: r.handler, params: m.slice(1).map(decodeParam), hijack: r.hijack };
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
    // The answer was under way (a tar, a stream, or headers written for a
    // HEAD): ended, it would look whole; cut off, the client sees it failed.
    res.destroy();
    return;
  }
  // The rest of a refused body is not read: the connection cannot be reused.
  if (status === 413) res.setHeader('Connection', 'close');
  json(res, status, { message: messageOf(e) });
}

function hasStatus(e: unknown): e is { status: number } {
  return (
    typeof e === 'object' && e !== null && typeof (e as { status?: unknown }).status === 'number'
  );
}

/** TLS for a TCP listener, as dockerd sets it up (the PEM contents, read by the daemon). */
export interface ApiTls {
  cert: Buffer;
  key: Buffer;
  /** The only CA client certificates are checked against (dockerd's ExclusiveRootPools). */
  ca?: Buffer;
  /** --tlsverify: a client without a certificate the CA signed is refused in the handshake. */
  verifyClients: boolean;
}

/** Options of createApiServer. */
export interface ApiServerOptions {
  /** Serve HTTPS (a TCP listener with --tls or --tlsverify). */
  tls?: ApiTls;
  /** What a unix socket's client has not read yet: a hijacked stream waits for its head to be read. */
  peerUnread?: PeerUnread;
}

/** Connections a hijacking route took from Node's HTTP server (no request on them runs). */
const taken = new WeakSet<Duplex>();

/**
 * The API server for one listener. Several listeners (`-H` repeated) share
 * one router; each gets its own server, HTTPS where TLS is on.
 */
export function createApiServer(router: Router, log: Logger, opts: ApiServerOptions = {}): Server {
  const dispatch = async (
    req: IncomingMessage,
    res: ServerResponse | undefined,
    upgrade?: { socket: Duplex; head: Buffer },
  ) => {
    const method = req.method ?? 'GET';
    if (!upgrade && taken.has(req.socket)) {
      // Bytes after a hijacking request that Node parsed before the
      // connection was taken from it: never a request to run.
      log.debug(`ignored ${method} ${req.url}: its connection is taken by a stream`);
      return;
    }
    let hijacked = false;
    // A plain request to a hijacking route: its connection is no HTTP one after it.
    let plainTaken = false;
    // An upgraded connection's body and input, read from its socket.
    let split: UpgradeBody | undefined;
    // Whether a stream was asked for (ctx.hijack, ctx.websocket): it owns the connection.
    let streamAsked = false;
    const fail = (status: number, message: string) => {
      if (res) {
        if (!res.headersSent) json(res, status, { message });
        else res.end();
      } else if (!hijacked) {
        const body = JSON.stringify({ message });
        split?.stop();
        closeTaken(
          upgrade!.socket,
          `HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      } else upgrade?.socket.destroy();
    };
    try {
      if ((req.url?.length ?? 0) > MAX_URL) {
        return fail(414, `request URI too long: berthd reads at most ${MAX_URL >> 10} KiB`);
      }
      const url = parseTarget(req.url);
      const path = url.pathname.replace(/^\/v\d+(\.\d+)?(?=\/)/, '');
      const version = /^\/v(\d+(?:\.\d+)?)\//.exec(url.pathname)?.[1];
      log.debug(`${method} ${url.pathname}${url.search}`);
      const m = router.match(method, path);
      // dockerd says a bare "page not found"; Berth keeps those words first
      // (clients match them) and names what it does not serve.
      if (!m) return fail(404, `page not found: berth does not serve ${method} ${path}`);
      if (m === 'method') return fail(405, `method ${method} not allowed for ${path}`);
      // A hijacking route owns its connection from now on, whatever it answers.
      if (!upgrade && m.hijack) {
        taken.add(req.socket);
        plainTaken = true;
        // Whatever it answers, the connection closes after: say so (no client reuses it).
        if (res) res.shouldKeepAlive = false;
      }
      let bodyText: Promise<string> | undefined;
      let inputHook: ((cb: (b: Buffer | null) => void) => void) | undefined;
      if (upgrade) {
        if (Number(req.headers['content-length'] ?? 0) > MAX_JSON_BODY) throw tooLarge();
        split = splitUpgradeBody(req, upgrade.socket, upgrade.head);
        bodyText = split.body;
        inputHook = split.input;
      } else if (/^application\/json/i.test(req.headers['content-type'] ?? '')) {
        // Read while the request is routed: a JSON body is small and always
        // wanted (a client going away rejects it for whoever awaits it).
        bodyText = readAll(req);
        bodyText.catch(() => undefined);
      }
      const ctx: Ctx = {
        req,
        res,
        params: m.params,
        query: url.searchParams,
        upgrade: !!upgrade,
        version,
        socket: upgrade?.socket ?? req.socket,
        body: async () => {
          if (!upgrade) checkJsonType(req);
          return parseJson(await (bodyText ??= readAll(req)));
        },
        websocket: () => {
          if (!upgrade || !isWebsocketRequest(req)) {
            hijacked = true;
            if (upgrade) {
              split?.stop();
              closeTaken(upgrade.socket, NOT_WEBSOCKET);
            } else req.socket.end(NOT_WEBSOCKET);
            return undefined;
          }
          hijacked = true;
          streamAsked = true;
          return acceptWebsocket(req, upgrade.socket, inputHook!);
        },
        hijack: async (contentType) => {
          streamAsked = true;
          if (upgrade) {
            await (bodyText ??= Promise.resolve(''));
            hijacked = true;
            const h = socketHijack(upgrade.socket, inputHook!);
            await headAlone(
              upgrade.socket,
              `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
              opts.peerUnread,
            );
            return h;
          }
          await (bodyText ??= readAll(req));
          hijacked = true;
          // As dockerd, which hijacks these too: a bare head, then the stream
          // without length or chunking, ended by closing the connection. The
          // connection is no longer HTTP: what follows is input.
          takeFromHttp(req.socket);
          const h = socketHijack(req.socket, socketInput(req.socket).input);
          await headAlone(
            req.socket,
            `HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\n\r\n`,
            opts.peerUnread,
          );
          return h;
        },
      };
      await m.handler(ctx);
      if (upgrade && !streamAsked) {
        // Answered (or refused) without a stream: what the client sends
        // next is no request and no input, and is not kept.
        split?.stop();
        closeTaken(upgrade.socket);
      } else if (plainTaken && !streamAsked) {
        takeFromHttp(req.socket);
        closeTaken(req.socket);
      }
    } catch (e) {
      if (res && hijacked) {
        // The response was written raw on the socket: nothing more can be said.
        log.debug(`request failed after its stream began: ${messageOf(e)}`);
        req.socket.destroy();
      } else if (res) {
        sendError(res, e, log);
        if (plainTaken) {
          takeFromHttp(req.socket);
          closeTaken(req.socket);
        }
      } else {
        const status = e instanceof BerthError ? e.status : 500;
        if (status >= 500)
          log.error(`request failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        fail(status, messageOf(e));
      }
    }
  };
  /** The last resort: whatever escaped a request's own handling is logged and answered 500. */
  const safely = (
    req: IncomingMessage,
    res: ServerResponse | undefined,
    upgrade?: { socket: Duplex; head: Buffer },
  ) => {
    dispatch(req, res, upgrade).catch((e: unknown) => {
      log.error(`request ${req.method} ${req.url} failed outside its handler: ${String(e)}`);
      try {
        if (res && !res.headersSent) json(res, 500, { message: 'internal error' });
        else if (res) res.destroy();
        else upgrade?.socket.destroy();
      } catch {
        // The connection is gone; nothing is left to answer.
      }
    });
  };
  const httpOpts = { keepAliveTimeout: 60_000, maxHeaderSize: MAX_HEADER_BYTES };
  const t = opts.tls;
  // An https.Server is an http.Server with a TLS handshake in front: the same
  // events ('upgrade', 'clientError') and the same close methods.
  const server: Server = t
    ? (createTlsServer(
        {
          ...httpOpts,
          cert: t.cert,
          key: t.key,
          ...(t.ca && { ca: t.ca }),
          requestCert: t.verifyClients,
          rejectUnauthorized: t.verifyClients,
          minVersion: 'TLSv1.2',
        },
        (req, res) => safely(req, res),
      ) as unknown as Server)
    : createServer(httpOpts, (req, res) => safely(req, res));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node sends every request with an Upgrade header here. Only a route
    // that takes the connection over answers one; any other request goes
    // back to the HTTP server without the header, answered as dockerd does.
    if (!hijacks(router, req)) {
      socket.unshift(Buffer.concat([withoutUpgrade(req), head]));
      server.emit(t ? 'secureConnection' : 'connection', socket);
      return;
    }
    socket.on('error', () => undefined);
    safely(req, undefined, { socket, head });
  });
  server.on('clientError', (e: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) =>
    answerClientError(e, socket),
  );
  return server;
}

/** Whether the request is for a route that takes the connection over. */
function hijacks(router: Router, req: IncomingMessage): boolean {
  try {
    if ((req.url?.length ?? 0) > MAX_URL) return false;
    const path = parseTarget(req.url).pathname.replace(/^\/v\d+(\.\d+)?(?=\/)/, '');
    const m = router.match(req.method ?? 'GET', path);
    return typeof m === 'object' && m.hijack;
  } catch {
    return false;
  }
}

/**
 * The request's head as the client sent it (Node keeps the raw header
 * lines), without its Upgrade header and the `upgrade` token of Connection.
 */
function withoutUpgrade(req: IncomingMessage): Buffer {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    let value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (lower === 'upgrade') continue;
    if (lower === 'connection') {
      value = value
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t && t.toLowerCase() !== 'upgrade')
        .join(', ');
      if (!value) continue;
    }
    head += `${name}: ${value}\r\n`;
  }
  return Buffer.from(head + '\r\n', 'latin1');
}

/**
 * The request target as a URL. Origin-form ("/x?y") is the norm; an absolute
 * form is read for its path and query, as Go's server does. Anything else is
 * the client's error.
 */
function parseTarget(target: string | undefined): URL {
  try {
    return new URL(target ?? '/', 'http://berth');
  } catch {
    throw invalid(`invalid request URI: ${JSON.stringify(target)}`);
  }
}

/**
 * A request Node's parser refused (too long, malformed): answered with a
 * status and closed, as Go's server does, instead of a silently dropped
 * connection.
 */
function answerClientError(
  e: NodeJS.ErrnoException & { rawPacket?: Buffer },
  socket: Duplex,
): void {
  if (!socket.writable) return void socket.destroy();
  let status = 400;
  let message = 'malformed HTTP request';
  if (e.code === 'HPE_HEADER_OVERFLOW') {
    // Node counts the request line with the headers; `rawPacket` is the
    // chunk where the limit was crossed. Still inside the request line (no
    // line end yet, no header) means the URI was what was long.
    const raw = e.rawPacket ?? Buffer.alloc(0);
    const uriTooLong = raw.indexOf('\r\n') < 0 && raw.indexOf(':') < 0;
    status = uriTooLong ? 414 : 431;
    message = uriTooLong
      ? `request URI too long: berthd reads at most ${MAX_URL >> 10} KiB`
      : `request header fields too large: berthd reads at most ${MAX_HEADER_BYTES >> 20} MiB`;
  } else if (e.code === 'ERR_HTTP_REQUEST_TIMEOUT' || e.code === 'ECONNRESET') {
    return void socket.destroy();
  }
  const body = JSON.stringify({ message });
  socket.end(
    `HTTP/1.1 ${status} ${status === 400 ? 'Bad Request' : 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
