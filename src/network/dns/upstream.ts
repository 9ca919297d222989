/**
 * Forwarding to the daemon's upstream resolvers: each query tries the servers
 * in order (as Docker's resolver does), one attempt per server with its own
 * timeout, on a fresh socket with a random source port and a random ID (what
 * a forwarder needs against spoofed answers). Answers are checked (ID, source,
 * question) and cached; identical queries in flight share one upstream query;
 * the number of upstream queries in flight is bounded.
 */
import { createSocket } from 'node:dgram';
import { connect as tcpConnect } from 'node:net';
import { isIPv6 } from 'node:net';
import { randomFillSync } from 'node:crypto';
import { invalid } from '../../common/errors.js';
import { ResponseCache, adaptResponse, cacheKey, type CacheOptions } from './cache.js';
import { canonicalIp } from './ip.js';
import {
  RCODE_NOTIMP,
  RCODE_REFUSED,
  RCODE_SERVFAIL,
  emptyResponse,
  sameQuestion,
  scanResponse,
  udpLimit,
  type Query,
  type ResponseScan,
} from './wire.js';

/** One upstream server. */
export interface Upstream {
  /** IP address (canonical text). */
  address: string;
  /** Port (53 unless given). */
  port: number;
}

/** How a query reaches one upstream server (sockets in the daemon, a fake in unit tests). */
export interface UpstreamTransport {
  /** Sends `query` and resolves with the first response carrying its ID; rejects on timeout or error. */
  exchange(server: Upstream, query: Buffer, tcp: boolean, timeoutMs: number): Promise<Buffer>;
}

/** Parses `1.2.3.4`, `1.2.3.4:5353`, `::1` or `[::1]:5353`. */
export function parseUpstream(s: string): Upstream {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  const plain = /^([\d.]+)(?::(\d+))?$/.exec(s);
  const m = bracket ?? plain;
  const host = m ? m[1] : isIPv6(s) ? s : undefined;
  const port = m?.[2] !== undefined ? Number(m[2]) : 53;
  if (host === undefined || port < 1 || port > 65535) throw invalid(`invalid DNS server: ${s}`);
  return { address: canonicalIp(host), port };
}

/** The real transport: a new UDP socket or TCP connection per exchange. */
export class SocketTransport implements UpstreamTransport {
  exchange(server: Upstream, query: Buffer, tcp: boolean, timeoutMs: number): Promise<Buffer> {
    return tcp ? this.tcp(server, query, timeoutMs) : this.udp(server, query, timeoutMs);
  }

  private udp(server: Upstream, query: Buffer, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const sock = createSocket(isIPv6(server.address) ? 'udp6' : 'udp4');
      const id = query.readUInt16BE(0);
      let settled = false;
      const finish = (err: Error | undefined, buf?: Buffer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(buf as Buffer);
        try {
          sock.close();
        } catch {
          /* already closed after an error */
        }
      };
      const timer = setTimeout(() => finish(new Error('upstream timeout')), timeoutMs);
      sock.on('error', (e) => finish(e));
      // A connected socket only hears from the server, and an ICMP unreachable fails fast.
      sock.on('message', (m) => {
        if (m.length >= 12 && m.readUInt16BE(0) === id) finish(undefined, m);
      });
      sock.connect(server.port, server.address, () => {
        if (!settled) sock.send(query, (e) => e && finish(e));
      });
    });
  }

  private tcp(server: Upstream, query: Buffer, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const conn = tcpConnect({ host: server.address, port: server.port });
      let settled = false;
      let got = Buffer.alloc(0);
      const finish = (err: Error | undefined, buf?: Buffer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(buf as Buffer);
        conn.destroy();
      };
      const timer = setTimeout(() => finish(new Error('upstream timeout')), timeoutMs);
      conn.on('error', (e) => finish(e));
      conn.on('close', () => finish(new Error('upstream closed the connection')));
      conn.on('connect', () => {
        const frame = Buffer.allocUnsafe(2 + query.length);
        frame.writeUInt16BE(query.length, 0);
        query.copy(frame, 2);
        conn.write(frame);
      });
      conn.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.length < 2) return;
        const len = got.readUInt16BE(0);
        if (got.length >= 2 + len) finish(undefined, got.subarray(2, 2 + len));
      });
    });
  }
}

/** Forwarder settings. */
export interface ForwarderOptions {
  /** Upstream servers, tried in order. */
  upstreams?: readonly string[];
  /** Per-attempt timeout in ms (default 2000). */
  timeoutMs?: number;
  /** Most servers tried per query (default 3, as Docker's maxExtDNS). */
  maxAttempts?: number;
  /** Most upstream queries in flight; beyond it clients get SERVFAIL (default 1024). */
  maxInFlight?: number;
  /** Cache limits. */
  cache?: CacheOptions;
  /** Transport (default: real sockets). */
  transport?: UpstreamTransport;
}

/** Counters for the forwarding path. */
export interface ForwarderStats {
  /** Queries answered from the cache. */
  cacheHits: number;
  /** Queries sent upstream (one per coalesced group). */
  upstreamQueries: number;
  /** Queries that joined an identical query already in flight. */
  coalesced: number;
  /** Upstream attempts that failed (timeout, error, bad answer, SERVFAIL/REFUSED). */
  upstreamFailures: number;
  /** Queries refused because too many were in flight. */
  overloaded: number;
}

interface Answer {
  buf: Buffer;
  scan: ResponseScan;
}

/** Random query IDs, drawn from a refilled pool to keep crypto calls rare. */
const idPool = new Uint16Array(1024);
let idNext = idPool.length;
function randomId(): number {
  if (idNext >= idPool.length) {
    randomFillSync(idPool);
    idNext = 0;
  }
  return idPool[idNext++] as number;
}

export class Forwarder {
  /** Counters since start. */
  readonly stats: ForwarderStats = {
    cacheHits: 0,
    upstreamQueries: 0,
    coalesced: 0,
    upstreamFailures: 0,
    overloaded: 0,
  };
  private servers: Upstream[] = [];
  private excluded = new Set<string>();
  private all: Upstream[] = [];
  private inFlight = 0;
  private readonly pending = new Map<string, Promise<Answer | undefined>>();
  private readonly cache: ResponseCache;
  private readonly transport: UpstreamTransport;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly maxInFlight: number;

  constructor(opts: ForwarderOptions = {}) {
    this.cache = new ResponseCache(opts.cache);
    this.transport = opts.transport ?? new SocketTransport();
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.maxAttempts = opts.maxAttempts ?? 3;
    this.maxInFlight = opts.maxInFlight ?? 1024;
    this.setUpstreams(opts.upstreams ?? []);
  }

  /** Replaces the upstream list (throws on a malformed entry); clears the cache. */
  setUpstreams(list: readonly string[]): void {
    this.all = list.map(parseUpstream);
    this.servers = this.all.filter((u) => !this.excluded.has(`${u.address}/${u.port}`));
    this.cache.clear();
  }

  /** Never forwards to these address/port pairs (the resolver's own listeners: no loops). */
  exclude(pairs: Iterable<[string, number]>): void {
    this.excluded = new Set([...pairs].map(([a, p]) => `${a}/${p}`));
    this.servers = this.all.filter((u) => !this.excluded.has(`${u.address}/${u.port}`));
  }

  /** The upstreams in use. */
  upstreams(): Upstream[] {
    return [...this.servers];
  }

  /** How many upstream queries are in flight. */
  get inFlightCount(): number {
    return this.inFlight;
  }

  /** Entries in the cache. */
  get cacheSize(): number {
    return this.cache.size;
  }

  /** The client's answer: from the cache, synchronously, or after asking upstream; SERVFAIL when all fail. */
  forward(q: Query, tcp: boolean): Buffer | Promise<Buffer> {
    const limit = tcp ? 65535 : udpLimit(q);
    const key = cacheKey(q);
    if (key !== undefined) {
      const hit = this.cache.get(key, q, limit);
      if (hit) {
        this.stats.cacheHits++;
        return hit;
      }
    }
    if (this.servers.length === 0) return emptyResponse(q, RCODE_SERVFAIL);
    const pendingKey = key === undefined ? undefined : (tcp ? 't' : 'u') + key;
    let p = pendingKey === undefined ? undefined : this.pending.get(pendingKey);
    if (p) {
      this.stats.coalesced++;
    } else {
      if (this.inFlight >= this.maxInFlight) {
        this.stats.overloaded++;
        return emptyResponse(q, RCODE_SERVFAIL);
      }
      this.inFlight++;
      this.stats.upstreamQueries++;
      p = this.ask(q, tcp, key).finally(() => {
        this.inFlight--;
        if (pendingKey !== undefined) this.pending.delete(pendingKey);
      });
      if (pendingKey !== undefined) this.pending.set(pendingKey, p);
    }
    return p.then((a) =>
      a && a.scan.qEnd === q.qEnd
        ? adaptResponse(q, a.buf, limit)
        : emptyResponse(q, RCODE_SERVFAIL),
    );
  }

  private async ask(q: Query, tcp: boolean, key: string | undefined): Promise<Answer | undefined> {
    const servers = this.servers.slice(0, this.maxAttempts);
    for (const server of servers) {
      const id = randomId();
      // Only the message the client's counts describe goes out, not bytes after it.
      const out = Buffer.from(q.msg.subarray(0, q.end));
      out.writeUInt16BE(id, 0);
      let buf: Buffer;
      try {
        buf = await this.transport.exchange(server, out, tcp, this.timeoutMs);
      } catch {
        this.stats.upstreamFailures++;
        continue;
      }
      const scan = buf.length >= 12 && buf.readUInt16BE(0) === id ? scanResponse(buf) : undefined;
      if (!scan || !sameQuestion(buf, scan.qEnd, q.msg, q.qEnd)) {
        this.stats.upstreamFailures++;
        continue;
      }
      // As moby's resolver: a failing server is skipped for the next one.
      if (
        scan.rcode === RCODE_SERVFAIL ||
        scan.rcode === RCODE_REFUSED ||
        scan.rcode === RCODE_NOTIMP
      ) {
        this.stats.upstreamFailures++;
        continue;
      }
      // Nor do bytes after the upstream's last record come back.
      const answer = scan.end === buf.length ? buf : buf.subarray(0, scan.end);
      if (key !== undefined) this.cache.put(key, answer, scan);
      return { buf: answer, scan };
    }
    return undefined;
  }
}
