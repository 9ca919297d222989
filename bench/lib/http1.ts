/**
 * The timing client of the API benchmarks: HTTP/1.1 over one kept-alive unix
 * socket per engine, each request written in one piece with its
 * Content-Length, the response read to its end (Content-Length, chunked, or
 * none for 204/304). The engines are timed, not the client: Node's
 * `http.request` spends ~0.4 ms of its own per call on this machine (against
 * a server that answers from a constant), this one ~0.04 ms, about what the
 * Go client the docker CLI uses costs. Both engines get the same client.
 */
import { connect, type Socket } from 'node:net';

/** A finished exchange. */
export interface Reply {
  status: number;
  text: string;
  /** From the first byte written to the last byte of the response read, in ms. */
  ms: number;
}

interface Pending {
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
  t0: bigint;
  /** HEAD requests have no body, whatever the headers say. */
  head: boolean;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/** Where a complete response ends in `buf`, or -1; its status and body. */
export function parseResponse(
  buf: Buffer,
  head: boolean,
): { end: number; status: number; body: Buffer } | undefined {
  const h = buf.indexOf(CRLF2);
  if (h < 0) return undefined;
  const lines = buf.subarray(0, h).toString('latin1').split('\r\n');
  const status = Number(lines[0]!.split(' ')[1]);
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  const start = h + 4;
  if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    return { end: start, status, body: Buffer.alloc(0) };
  }
  if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
    const parts: Buffer[] = [];
    let at = start;
    for (;;) {
      const eol = buf.indexOf('\r\n', at);
      if (eol < 0) return undefined;
      const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error('bad chunk size in response');
      // A chunk, or the last (empty) one with its closing CRLF (no trailers).
      const next = eol + 2 + size + 2;
      if (buf.length < next) return undefined;
      if (size === 0) return { end: next, status, body: Buffer.concat(parts) };
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      at = next;
    }
  }
  const len = headers.get('content-length');
  if (len === undefined) throw new Error(`response ${status} without a length`);
  const end = start + Number(len);
  if (buf.length < end) return undefined;
  return { end, status, body: buf.subarray(start, end) };
}

/** One kept-alive connection; requests go one at a time, in order. */
export class Http1 {
  private sock?: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private pending?: Pending;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly socketPath: string) {}

  /** One request; the socket is (re)connected before the clock starts. */
  request(method: string, path: string, body?: unknown): Promise<Reply> {
    const run = this.tail.then(() => this.send(method, path, body));
    this.tail = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.sock?.destroy();
    this.sock = undefined;
  }

  private async send(method: string, path: string, body?: unknown): Promise<Reply> {
    const sock = await this.connected();
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const head =
      `${method} ${path} HTTP/1.1\r\nHost: api\r\n` +
      (data ? `Content-Type: application/json\r\nContent-Length: ${data.length}\r\n` : '') +
      '\r\n';
    const req = data ? Buffer.concat([Buffer.from(head, 'latin1'), data]) : Buffer.from(head);
    return new Promise<Reply>((resolve, reject) => {
      this.pending = { resolve, reject, t0: process.hrtime.bigint(), head: method === 'HEAD' };
      sock.ref();
      sock.write(req);
    });
  }

  private connected(): Promise<Socket> {
    if (this.sock && !this.sock.destroyed) return Promise.resolve(this.sock);
    return new Promise((resolve, reject) => {
      const s = connect(this.socketPath);
      s.once('connect', () => {
        s.off('error', reject);
        this.sock = s;
        this.buf = Buffer.alloc(0);
        s.on('data', (d: Buffer) => this.onData(d));
        // Only the current connection's end fails the request in flight.
        s.on('error', (e) => this.sock === s && this.fail(e));
        s.on(
          'close',
          () => this.sock === s && this.fail(new Error('connection closed by the server')),
        );
        resolve(s);
      });
      s.once('error', reject);
    });
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    const p = this.pending;
    if (!p) return;
    let r;
    try {
      r = parseResponse(this.buf, p.head);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    if (!r) return;
    const ms = Number(process.hrtime.bigint() - p.t0) / 1e6;
    this.buf = this.buf.subarray(r.end);
    this.pending = undefined;
    // An idle connection doesn't keep the benchmark's process alive.
    this.sock?.unref();
    p.resolve({ status: r.status, text: r.body.toString('utf8'), ms });
  }

  private fail(e: Error): void {
    this.sock?.destroy();
    this.sock = undefined;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(e);
  }
}
