/**
 * A small cache of upstream answers. Entries live as long as their records'
 * TTL (RFC 2308's SOA minimum for negative answers), capped; each copy handed
 * out has its TTLs aged, the client's ID and question (case as the client
 * wrote it) and RD bit. Bounded in entries and in bytes (upstream answers
 * reach 64 KiB over TCP): the least recently used entry goes first.
 */
import type { Query, ResponseScan } from './wire.js';
import { truncatedResponse } from './wire.js';

/** Cache limits. */
export interface CacheOptions {
  /** Most entries kept (default 4096); 0 disables the cache. */
  maxEntries?: number;
  /** Most bytes of answers kept (default 16 MiB); an answer over a sixteenth of it is not kept. */
  maxBytes?: number;
  /** Longest time a positive answer is kept, in seconds (default 300). */
  maxTtl?: number;
  /** Longest time a negative answer (NXDOMAIN, NODATA) is kept, in seconds (default 60). */
  maxNegativeTtl?: number;
  /** Clock in milliseconds (tests pass a fake one). */
  now?: () => number;
}

interface Entry {
  buf: Buffer;
  ttlOffsets: number[];
  ttls: number[];
  stored: number;
  expires: number;
}

/** The cache key of a query, or undefined when it must not be cached. */
export function cacheKey(q: Query): string | undefined {
  if (!q.plain) return undefined;
  return `${q.qtype}/${q.qclass}/${q.dnssecOk ? 1 : 0}${(q.msg[3] as number) & 0x10 ? 1 : 0}/${q.name}`;
}

/**
 * A copy of a response `buf` (question ending at the same offset as the
 * query's, checked by the caller) for the client of `q`: its ID, question
 * bytes and RD bit; TC-only when it exceeds `limit`.
 */
export function adaptResponse(q: Query, buf: Buffer, limit: number): Buffer {
  if (buf.length > limit) return truncatedResponse(q);
  const out = Buffer.allocUnsafe(buf.length);
  buf.copy(out);
  q.msg.copy(out, 0, 0, 2);
  q.msg.copy(out, 12, 12, q.qEnd);
  out[2] = ((out[2] as number) & 0xfe) | ((q.msg[2] as number) & 0x01);
  return out;
}

export class ResponseCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private bytes = 0;
  private readonly maxTtl: number;
  private readonly maxNegativeTtl: number;
  private readonly now: () => number;

  constructor(opts: CacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 4096;
    this.maxBytes = opts.maxBytes ?? 16 << 20;
    this.maxTtl = opts.maxTtl ?? 300;
    this.maxNegativeTtl = opts.maxNegativeTtl ?? 60;
    this.now = opts.now ?? Date.now;
  }

  /** How many entries are held (expired ones included until touched). */
  get size(): number {
    return this.entries.size;
  }

  /** Bytes of answers held. */
  get byteSize(): number {
    return this.bytes;
  }

  /** Stores an upstream response if it may be cached. */
  put(key: string, buf: Buffer, scan: ResponseScan): void {
    if (this.maxEntries === 0 || scan.truncated || scan.ttl <= 0) return;
    if (buf.length > this.maxBytes / 16) return;
    const negative = scan.rcode !== 0 || buf.readUInt16BE(6) === 0;
    const ttl = Math.min(scan.ttl, negative ? this.maxNegativeTtl : this.maxTtl);
    if (ttl <= 0) return;
    const now = this.now();
    const copy = Buffer.from(buf);
    const ttls = scan.ttlOffsets.map((o) => copy.readUInt32BE(o));
    this.delete(key);
    this.entries.set(key, {
      buf: copy,
      ttlOffsets: scan.ttlOffsets,
      ttls,
      stored: now,
      expires: now + ttl * 1000,
    });
    this.bytes += copy.length;
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
    }
  }

  private delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.buf.length;
  }

  /** The cached answer for `q` made out for its client, or undefined. */
  get(key: string, q: Query, limit: number): Buffer | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    const now = this.now();
    if (now >= e.expires) {
      this.delete(key);
      return undefined;
    }
    // A hit moves to the young end, so eviction drops the least recently used.
    this.entries.delete(key);
    this.entries.set(key, e);
    const out = adaptResponse(q, e.buf, limit);
    if (e.buf.length > limit) return out;
    const age = Math.floor((now - e.stored) / 1000);
    if (age > 0)
      for (let i = 0; i < e.ttlOffsets.length; i++)
        out.writeUInt32BE(Math.max(0, (e.ttls[i] as number) - age), e.ttlOffsets[i] as number);
    return out;
  }

  /** Drops every entry (upstreams changed). */
  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}
