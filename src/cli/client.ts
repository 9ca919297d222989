/**
 * A small Engine API client over a unix socket (or tcp://): JSON requests,
 * streaming responses, and the hijacked (101 Upgrade: tcp) connections that
 * attach and exec use. Negotiates the API version with HEAD /_ping like the
 * docker CLI, then prefixes every path with /v{version}.
 */
import http from 'node:http';
import { Readable, type Duplex } from 'node:stream';

/** Where berth connects when nothing else says. */
export const DEFAULT_HOST = 'unix:///run/berth/berth.sock';
/** Highest API version this client speaks. */
export const CLIENT_API_VERSION = '1.47';

/** -H/--host, else BERTH_HOST, else DOCKER_HOST, else the default socket. */
export function resolveHost(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return flag || env['BERTH_HOST'] || env['DOCKER_HOST'] || DEFAULT_HOST;
}

/** A non-2xx answer from the daemon; `message` is the daemon's own message. */
export class ClientError extends Error {
  constructor(
    /** HTTP status of the answer. */
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ClientError';
  }
  /** The line docker prints for it. */
  get display(): string {
    return `Error response from daemon: ${this.message}`;
  }
}

/** The daemon could not be reached at all. */
export class ConnectError extends Error {
  constructor(
    /** The host address that failed. */
    readonly host: string,
    /** The socket error code (ECONNREFUSED, ENOENT...). */
    readonly code: string,
  ) {
    super(`Cannot connect to the Berth daemon at ${host}. Is berthd running?`);
    this.name = 'ConnectError';
  }
}

/** Query values; arrays repeat the key, undefined/false-y "" are dropped. */
export type Query = Record<string, string | number | boolean | string[] | undefined>;

/** Options of one request. */
export interface RequestOptions {
  /** Query parameters, encoded sorted by key like Go's url.Values. */
  query?: Query;
  /** A JSON-encodable value, raw bytes, or a stream sent chunked. */
  body?: unknown;
  /** Content-Type for Buffer/stream bodies. */
  contentType?: string;
  /** Extra headers. */
  headers?: Record<string, string>;
}

/** Go's url.Values.Encode: keys sorted, QueryEscape'd values. */
export function encodeQuery(q: Query | undefined): string {
  if (!q) return '';
  const esc = (s: string): string =>
    encodeURIComponent(s)
      .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
      .replace(/%20/g, '+');
  const parts: string[] = [];
  for (const k of Object.keys(q).sort()) {
    const v = q[k];
    if (v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) {
      parts.push(`${esc(k)}=${esc(typeof x === 'boolean' ? (x ? '1' : '0') : String(x))}`);
    }
  }
  return parts.length ? '?' + parts.join('&') : '';
}

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Engine API client bound to one daemon address. */
export class EngineClient {
  /** Headers of the last ping (Api-Version, Ostype...). */
  pingHeaders: http.IncomingHttpHeaders = {};
  private version: Promise<string> | undefined;
  private readonly agent: http.Agent;
  private readonly target: { socketPath?: string; host?: string; port?: number };

  constructor(
    /** unix:///path or tcp://host:port (http:// too). */
    readonly host: string,
  ) {
    const m = /^(unix|tcp|http):\/\/(.*)$/.exec(host);
    if (!m) throw new Error(`unsupported protocol scheme in ${JSON.stringify(host)}`);
    if (m[1] === 'unix') this.target = { socketPath: m[2] };
    else {
      const u = new URL(`http://${m[2]}`);
      this.target = { host: u.hostname, port: Number(u.port || 2375) };
    }
    this.agent = new http.Agent({ keepAlive: true });
  }

  /** HEAD /_ping (GET when HEAD fails); remembers the daemon's headers. */
  async ping(): Promise<http.IncomingHttpHeaders> {
    let res = await this.raw('HEAD', '/_ping', {});
    if (res.statusCode !== 200) {
      res.resume();
      res = await this.raw('GET', '/_ping', {});
    }
    res.resume();
    this.pingHeaders = res.headers;
    return res.headers;
  }

  /** The /vX.Y prefix: min(client, server) as negotiated, "" when the daemon gives none. */
  apiPrefix(): Promise<string> {
    this.version ??= this.ping().then((h) => {
      const server = String(h['api-version'] ?? '');
      if (!server) return '';
      return `/v${versionLess(server, CLIENT_API_VERSION) ? server : CLIENT_API_VERSION}`;
    });
    return this.version;
  }

  /** The negotiated API version number ("1.47"). */
  async apiVersion(): Promise<string> {
    return (await this.apiPrefix()).replace('/v', '') || CLIENT_API_VERSION;
  }

  private raw(
    method: string,
    path: string,
    opts: RequestOptions,
    upgrade = false,
  ): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      let body: Buffer | Readable | undefined;
      if (opts.body instanceof Readable) {
        body = opts.body;
        headers['Content-Type'] ??= opts.contentType ?? 'application/octet-stream';
      } else if (Buffer.isBuffer(opts.body)) {
        body = opts.body;
        headers['Content-Type'] ??= opts.contentType ?? 'application/octet-stream';
      } else if (opts.body !== undefined) {
        // Go's json.Encoder ends the body with a newline; send the same bytes.
        body = Buffer.from(JSON.stringify(opts.body) + '\n');
        headers['Content-Type'] ??= 'application/json';
      }
      if (Buffer.isBuffer(body)) headers['Content-Length'] = String(body.length);
      else if (!body && method !== 'GET' && method !== 'HEAD') headers['Content-Length'] ??= '0';
      if (upgrade) Object.assign(headers, { Connection: 'Upgrade', Upgrade: 'tcp' });
      const req = http.request({
        ...this.target,
        method,
        path: path + encodeQuery(opts.query),
        headers: { Host: 'api.moby.localhost', 'User-Agent': 'Berth-Client/0.1.0', ...headers },
        agent: upgrade ? false : this.agent,
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (
          e.code &&
          ['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTSOCK'].includes(e.code)
        )
          reject(new ConnectError(this.host, e.code));
        else reject(e);
      });
      req.on('response', resolve);
      if (upgrade) {
        req.on('upgrade', (res, socket, head) => {
          if (head.length) socket.unshift(head);
          (res as http.IncomingMessage & { socket: Duplex }).socket = socket as never;
          resolve(Object.assign(res, { upgraded: socket }));
        });
      }
      if (body instanceof Readable) body.pipe(req);
      else req.end(body);
    });
  }

  /** Sends a request; resolves with the response whatever its status. */
  async request(
    method: string,
    path: string,
    opts: RequestOptions = {},
  ): Promise<http.IncomingMessage> {
    const prefix = await this.apiPrefix();
    return this.raw(method, prefix + path, opts);
  }

  /** Sends a request; a non-2xx status becomes a ClientError with the daemon's message. */
  async call(
    method: string,
    path: string,
    opts: RequestOptions = {},
  ): Promise<http.IncomingMessage> {
    const res = await this.request(method, path, opts);
    await throwIfError(res);
    return res;
  }

  /** A request whose JSON answer is returned (undefined for an empty body). */
  async json<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const text = await this.text(method, path, opts);
    return (text.trim() ? JSON.parse(text) : undefined) as T;
  }

  /** A request whose raw body text is returned. */
  async text(method: string, path: string, opts: RequestOptions = {}): Promise<string> {
    const res = await this.call(method, path, opts);
    return (await readAll(res)).toString('utf8');
  }

  /**
   * A hijacked connection (attach, exec start): resolves with the raw duplex
   * socket after `101`; any other answer is an error like docker's.
   */
  async upgrade(method: string, path: string, opts: RequestOptions = {}): Promise<Duplex> {
    const prefix = await this.apiPrefix();
    const res = (await this.raw(method, prefix + path, opts, true)) as http.IncomingMessage & {
      upgraded?: Duplex;
    };
    if (res.upgraded) return res.upgraded;
    await throwIfError(res);
    res.resume();
    throw new Error(`unable to upgrade to tcp, received ${res.statusCode}`);
  }

  /** Drops idle keep-alive connections so the process can exit. */
  close(): void {
    this.agent.destroy();
  }
}

async function throwIfError(res: http.IncomingMessage): Promise<void> {
  const status = res.statusCode ?? 0;
  if (status >= 200 && status < 300) return;
  if (status === 101) return;
  const body = (await readAll(res)).toString('utf8');
  let message = body.trim();
  if (String(res.headers['content-type'] ?? '').split(';')[0] === 'application/json') {
    try {
      const m = (JSON.parse(body) as { message?: unknown }).message;
      if (typeof m === 'string') message = m.trim();
    } catch {
      // Not JSON after all: show the raw text, as docker does.
    }
  }
  if (!message) message = `${status} ${http.STATUS_CODES[status] ?? ''}`.trim();
  throw new ClientError(status, message);
}

/** True when API version a < b ("1.41" < "1.47"). */
export function versionLess(a: string, b: string): boolean {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x !== y) return x < y;
  }
  return false;
}
