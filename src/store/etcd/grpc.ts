/**
 * gRPC over Node's HTTP/2, as much as the etcd store needs (decision 0043):
 * unary calls with a deadline, bidirectional streams, one HTTP/2 connection
 * per etcd member, failover between members, TLS, keepalive pings.
 *
 * - A member is used until it fails. A call that got no answer from it (no
 *   connection, a dropped one, no reply in half the time left) or etcd's
 *   UNAVAILABLE (no leader, stopping) is tried on the next member, all
 *   within the call's one deadline. As with any etcd client that retries,
 *   a write whose first attempt went unanswered may have been applied: a
 *   compare then fails on the retry, and the store checks (etcd.ts).
 * - A member that failed three calls in a row is skipped for a second
 *   (BREAKER_OPEN_MS), then tried again; while every member is skipped,
 *   calls fail at once.
 * - Every connection is pinged every 10 s; one that does not answer within
 *   5 s is dropped, and its calls and streams fail (streams are reopened by
 *   their owner, watch.ts). A connection the member sent GOAWAY on takes no
 *   new calls but is pinged on while streams remain open on it.
 * - A message is at most MAX_MESSAGE bytes: a larger length prefix fails
 *   the call or stream at once, never waits for bytes that will not come.
 */
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { EventEmitter } from 'node:events';

/** gRPC status codes the store tells apart (etcd's others are told by their message). */
export const Status = {
  OK: 0,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** A call's failure: gRPC's status code and message (etcd's "etcdserver: …"). */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(details);
    this.name = 'GrpcError';
  }
}

export interface TlsFiles {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** Failures in a row after which a member is skipped for BREAKER_OPEN_MS. */
const BREAKER_FAILURES = 3;
const BREAKER_OPEN_MS = 1000;
/** How often a connection is pinged, and how long a ping may take before the connection is dropped. */
export interface Keepalive {
  everyMs: number;
  timeoutMs: number;
}
const KEEPALIVE: Keepalive = { everyMs: 10_000, timeoutMs: 5_000 };
/**
 * The largest message taken (etcd caps requests at 1.5 MiB by default; an
 * answer listing a whole prefix may be far larger, but not this).
 */
export const MAX_MESSAGE = 256 * 1024 * 1024;

/** A 5-byte gRPC message prefix (not compressed, the length) and the message. */
export function frame(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}

/**
 * Splits a stream of length-prefixed gRPC messages. Chunks are kept as they
 * come and joined once a whole message is in, so a large answer (a list of
 * every endpoint) is copied once, not once per chunk.
 */
export class Deframer {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes of the message at the head, its prefix included; 0 until its prefix is in. */
  private need = 0;

  push(chunk: Buffer, each: (msg: Buffer) => void): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    for (;;) {
      if (this.need === 0) {
        if (this.size < 5) return;
        const head = this.join();
        if (head[0] !== 0) throw new GrpcError(Status.INTERNAL, 'compressed message');
        const length = head.readUInt32BE(1);
        if (length > MAX_MESSAGE) throw tooLarge(length);
        this.need = 5 + length;
      }
      if (this.size < this.need) return;
      const all = this.join();
      const msg = all.subarray(5, this.need);
      const rest = all.subarray(this.need);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.size = rest.length;
      this.need = 0;
      each(msg);
    }
  }

  get pending(): boolean {
    return this.size > 0;
  }

  /** The bytes held, as one buffer (kept as the only chunk). */
  private join(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.size)];
    return this.chunks[0] as Buffer;
  }
}

/** The status a response's headers or trailers carry, if any. */
function statusOf(h: http2.IncomingHttpHeaders): GrpcError | null | undefined {
  const s = h['grpc-status'];
  if (s === undefined) return undefined;
  const code = Number(s);
  if (code === Status.OK) return null;
  const raw = h['grpc-message'];
  let msg = typeof raw === 'string' ? raw : '';
  try {
    msg = decodeURIComponent(msg);
  } catch {
    // Keep it as sent.
  }
  return new GrpcError(code, msg || `gRPC status ${code}`);
}

function tooLarge(length: number): GrpcError {
  return new GrpcError(
    Status.RESOURCE_EXHAUSTED,
    `etcd sent a message of ${length} bytes, more than the ${MAX_MESSAGE} taken`,
  );
}

/** Pings a connection; one that does not answer within `timeoutMs` is dropped. */
function ping(session: ClientHttp2Session, timeoutMs: number): void {
  if (session.destroyed || !session.socket) return;
  const timer = setTimeout(() => session.destroy(), timeoutMs);
  timer.unref();
  try {
    session.ping((err) => {
      clearTimeout(timer);
      if (err) session.destroy();
    });
  } catch {
    clearTimeout(timer);
    session.destroy();
  }
}

/** One etcd member: its address and, once used, its connection. */
class Member {
  /** The connection new calls go on. */
  session: ClientHttp2Session | undefined;
  failures = 0;
  skipUntil = 0;
  /** Calls and streams open per connection: one keeps the process alive only while it has some. */
  private readonly active = new WeakMap<ClientHttp2Session, number>();
  /** Every connection not closed yet: the current one, and ones going away with streams left. */
  private readonly open = new Set<ClientHttp2Session>();

  constructor(
    private readonly authority: string,
    private readonly createConnection: (() => import('node:stream').Duplex) | undefined,
    private readonly tls: TlsFiles | undefined,
    private readonly keepalive: Keepalive,
  ) {}

  /** This member's connection, made when first needed. */
  connect(): ClientHttp2Session {
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    const session = http2.connect(this.authority, {
      ...(this.createConnection && { createConnection: this.createConnection }),
      ...(this.tls && { ca: this.tls.ca, cert: this.tls.cert, key: this.tls.key }),
      // etcd caps requests, not responses: lists may be large.
      maxSessionMemory: 64,
    });
    this.session = session;
    this.open.add(session);
    session.unref();
    const { everyMs, timeoutMs } = this.keepalive;
    const pinger = setInterval(() => ping(session, timeoutMs), everyMs);
    pinger.unref();
    const unused = (): void => {
      if (this.session === session) this.session = undefined;
    };
    const gone = (): void => {
      clearInterval(pinger);
      this.open.delete(session);
      unused();
    };
    session.on('error', gone);
    session.on('close', gone);
    // A member going away: new calls open a new connection. The streams
    // still open on this one (watches) are pinged on: a member that then
    // goes silent must not leave them waiting for ever.
    session.on('goaway', unused);
    return session;
  }

  /** Marks a call or stream open on `session`; the function returned marks it done. */
  hold(session: ClientHttp2Session): () => void {
    const n = (this.active.get(session) ?? 0) + 1;
    this.active.set(session, n);
    if (n === 1) session.ref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.active.get(session) ?? 1) - 1;
      this.active.set(session, left);
      if (left === 0 && !session.destroyed) session.unref();
    };
  }

  close(): void {
    for (const s of this.open) s.destroy();
    this.session = undefined;
  }
}

/** Member URLs: `HOST:PORT`, `http(s)://HOST:PORT`, `unix:///PATH`. With TLS files every one is TLS. */
function member(url: string, tls: TlsFiles | undefined, keepalive: Keepalive): Member {
  if (url.startsWith('unix://')) {
    const path = url.slice('unix://'.length);
    // No host name to check a unix socket's certificate against: "localhost", as gRPC does.
    const createConnection = tls
      ? () =>
          tlsConnect({
            path,
            ca: tls.ca,
            cert: tls.cert,
            key: tls.key,
            servername: 'localhost',
            ALPNProtocols: ['h2'],
          })
      : () => netConnect(path);
    return new Member(
      tls ? 'https://localhost' : 'http://localhost',
      createConnection,
      tls,
      keepalive,
    );
  }
  const hostPort = url.replace(/^[a-z]+:\/\//, '');
  const secure = tls !== undefined || url.startsWith('https://');
  return new Member(`${secure ? 'https' : 'http'}://${hostPort}`, undefined, tls, keepalive);
}

/** A bidirectional stream: 'message' (Buffer), 'error' (GrpcError), 'end' (etcd closed it with OK). */
export class GrpcStream extends EventEmitter {
  private ended = false;

  constructor(
    private readonly req: ClientHttp2Stream,
    private readonly release: () => void,
  ) {
    super();
    const deframer = new Deframer();
    let status: GrpcError | null | undefined;
    req.on('response', (h) => {
      status = statusOf(h);
    });
    req.on('data', (chunk: Buffer) => {
      try {
        deframer.push(chunk, (m) => {
          if (!this.ended) this.emit('message', m);
        });
      } catch (e) {
        this.finish(e as GrpcError);
        req.close(http2.constants.NGHTTP2_CANCEL);
      }
    });
    req.on('trailers', (t) => {
      status = statusOf(t);
    });
    req.on('error', (e) => this.finish(new GrpcError(Status.UNAVAILABLE, e.message)));
    req.on('close', () =>
      this.finish(
        status === undefined
          ? new GrpcError(Status.UNAVAILABLE, 'stream closed without a status')
          : status,
      ),
    );
  }

  private finish(e: GrpcError | null): void {
    if (this.ended) return;
    this.ended = true;
    this.release();
    if (e) this.emit('error', e);
    else this.emit('end');
  }

  write(msg: Buffer): void {
    if (!this.ended && !this.req.writableEnded) this.req.write(frame(msg));
  }

  /** Half-closes: etcd then ends the stream with OK. */
  end(): void {
    if (!this.req.writableEnded) this.req.end();
  }

  /** Ends the stream as broken by its member (it did not answer in time): 'error' follows. */
  fail(reason: string): void {
    this.finish(new GrpcError(Status.UNAVAILABLE, reason));
    if (!this.req.closed) this.req.close(http2.constants.NGHTTP2_CANCEL);
  }

  /** Drops the stream; no event follows. */
  cancel(): void {
    this.ended = true;
    this.release();
    this.removeAllListeners('message');
    if (!this.req.closed) this.req.close(http2.constants.NGHTTP2_CANCEL);
  }
}

/** Calls to a set of etcd members. */
export class GrpcChannel {
  private readonly members: Member[];
  /** The member calls go to while it answers. */
  private current = 0;
  private closed = false;

  constructor(urls: string[], tls: TlsFiles | undefined, keepalive: Keepalive = KEEPALIVE) {
    this.members = urls.map((u) => member(u, tls, keepalive));
  }

  /**
   * One request, one answer, by `deadline` (Date.now() time); tried on other
   * members as the header says. `attempts.retried` is set when an attempt
   * failed before the one that answered: the failed one may still have been
   * applied.
   */
  async unary(
    path: string,
    body: Buffer,
    deadline: number,
    attempts?: { retried: boolean },
  ): Promise<Buffer> {
    let last: GrpcError | undefined;
    const tried = new Set<Member>();
    for (;;) {
      const m = this.pick(tried);
      if (!m) {
        throw (
          last ??
          new GrpcError(
            Status.UNAVAILABLE,
            'every etcd member failed its last calls; trying again within a second',
          )
        );
      }
      tried.add(m);
      const left = deadline - Date.now();
      if (left <= 0) throw last ?? deadlineExceeded();
      // Half the time left while another member remains: a follower that
      // forwarded the call to a leader just dead holds it until etcd's own
      // timeout (7 s), and the next member may by then have a new leader.
      const ms = this.othersLeft(tried) ? left / 2 : left;
      try {
        const out = await this.once(m, path, body, ms);
        this.succeeded(m);
        return out;
      } catch (e) {
        const f = e as Failure;
        if (f.memberFault) this.failed(m);
        if (!f.retry) throw f.error;
        last = f.error;
        if (attempts) attempts.retried = true;
      }
    }
  }

  /** Opens a stream on the member calls go to; throws UNAVAILABLE when every member is being skipped. */
  stream(path: string): GrpcStream {
    if (this.closed) throw new GrpcError(Status.UNAVAILABLE, 'client closed');
    const m = this.pick(new Set());
    if (!m) throw new GrpcError(Status.UNAVAILABLE, 'every etcd member failed its last calls');
    let session: ClientHttp2Session;
    try {
      session = m.connect();
    } catch (e) {
      this.failed(m);
      throw new GrpcError(Status.UNAVAILABLE, (e as Error).message);
    }
    const release = m.hold(session);
    let req: ClientHttp2Stream;
    try {
      req = session.request(streamHeaders(path));
    } catch (e) {
      release();
      this.failed(m);
      throw new GrpcError(Status.UNAVAILABLE, (e as Error).message);
    }
    const s = new GrpcStream(req, release);
    // A stream that opens counts for its member; one that breaks (our own
    // cancels do not), against it: its reopening goes to the next member,
    // not back to one that accepts connections and then says nothing.
    req.once('response', () => this.succeeded(m));
    s.once('error', () => this.failed(m));
    return s;
  }

  close(): void {
    this.closed = true;
    for (const m of this.members) m.close();
  }

  /** The current member if it is not being skipped, else the next that is not; none tried yet. */
  private pick(tried: Set<Member>): Member | undefined {
    if (this.closed) return undefined;
    const now = Date.now();
    const n = this.members.length;
    for (let k = 0; k < n; k++) {
      const i = (this.current + k) % n;
      const m = this.members[i] as Member;
      if (tried.has(m) || m.skipUntil > now) continue;
      this.current = i;
      return m;
    }
    return undefined;
  }

  /** Whether a member not tried yet could still be. */
  private othersLeft(tried: Set<Member>): boolean {
    const now = Date.now();
    return this.members.some((m) => !tried.has(m) && m.skipUntil <= now);
  }

  private succeeded(m: Member): void {
    m.failures = 0;
    m.skipUntil = 0;
  }

  private failed(m: Member): void {
    if (++m.failures >= BREAKER_FAILURES) {
      m.skipUntil = Date.now() + BREAKER_OPEN_MS;
      // Half-open: one more failure after the pause skips it again.
      m.failures = BREAKER_FAILURES - 1;
    }
    // Move on to the next member for the following calls.
    const i = this.members.indexOf(m);
    if (i === this.current) this.current = (i + 1) % this.members.length;
  }

  private once(m: Member, path: string, body: Buffer, ms: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let session: ClientHttp2Session;
      try {
        session = m.connect();
      } catch (e) {
        reject(failure(new GrpcError(Status.UNAVAILABLE, (e as Error).message), true));
        return;
      }
      const release = m.hold(session);
      let req: ClientHttp2Stream;
      try {
        req = session.request({ ...headers(path), 'grpc-timeout': `${Math.ceil(ms)}m` });
      } catch (e) {
        // A connection closing under us (a GOAWAY just in): the next member.
        release();
        reject(failure(new GrpcError(Status.UNAVAILABLE, (e as Error).message), true));
        return;
      }
      let done = false;
      let status: GrpcError | null | undefined;
      let answered = false;
      const chunks: Buffer[] = [];
      let size = 0;
      const timer = setTimeout(() => {
        // No answer at all: the member is cut off or has lost its leader;
        // the call goes to the next one (its outcome here is unknown, as
        // any etcd client's retry). It counts against the member: after
        // three, calls skip it rather than wait on it.
        settle(failure(deadlineExceeded(), !answered));
        if (!req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
      }, ms);
      const settle = (f: Failure | Buffer): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        release();
        if (Buffer.isBuffer(f)) resolve(f);
        else reject(f);
      };
      req.on('response', (h) => {
        answered = true;
        status = statusOf(h);
      });
      let declared: number | undefined;
      req.on('data', (c: Buffer) => {
        chunks.push(c);
        size += c.length;
        if (declared === undefined && size >= 5) declared = Buffer.concat(chunks).readUInt32BE(1);
        const over = Math.max(declared ?? 0, size - 5);
        if (over > MAX_MESSAGE) {
          settle(failure(tooLarge(over), false));
          req.close(http2.constants.NGHTTP2_CANCEL);
        }
      });
      req.on('trailers', (t) => {
        status = statusOf(t);
      });
      req.on('error', (e) => {
        settle(failure(new GrpcError(Status.UNAVAILABLE, e.message), true));
      });
      req.on('close', () => {
        if (status === undefined) {
          settle(failure(new GrpcError(Status.UNAVAILABLE, 'connection to etcd lost'), true));
          return;
        }
        if (status) {
          // etcd's UNAVAILABLE (no leader, stopping): not applied, try the next member.
          const retry = status.code === Status.UNAVAILABLE;
          settle(failure(status, retry));
          return;
        }
        const d = new Deframer();
        const msgs: Buffer[] = [];
        try {
          d.push(Buffer.concat(chunks, size), (m2) => msgs.push(m2));
        } catch (e) {
          settle(failure(e as GrpcError, false));
          return;
        }
        const msg = msgs[0];
        if (!msg || msgs.length > 1 || d.pending) {
          settle(failure(new GrpcError(Status.INTERNAL, 'etcd sent no whole answer'), false));
          return;
        }
        settle(msg);
      });
      req.end(frame(body));
    });
  }
}

interface Failure {
  error: GrpcError;
  /** Worth trying on another member. */
  retry: boolean;
  /** Counts against the member. */
  memberFault: boolean;
}

function failure(error: GrpcError, retry: boolean, memberFault = retry): Failure {
  return { error, retry, memberFault };
}

function deadlineExceeded(): GrpcError {
  return new GrpcError(Status.DEADLINE_EXCEEDED, 'deadline exceeded');
}

function headers(path: string): http2.OutgoingHttpHeaders {
  return {
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/grpc',
    te: 'trailers',
  };
}

/**
 * A stream's headers: etcd's WithRequireLeader, so a member left without a
 * leader (cut off from the others) ends the stream ("no leader") instead of
 * serving a watch from a view that no longer moves; its owner opens it
 * again, on the member calls go to. Not on unary calls: during an election
 * etcd makes them wait for the new leader, within their deadline.
 */
function streamHeaders(path: string): http2.OutgoingHttpHeaders {
  return { ...headers(path), hasleader: 'true' };
}
