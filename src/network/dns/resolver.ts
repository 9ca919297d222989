/**
 * Berth's embedded DNS resolver: one per daemon, serving every container on
 * user-defined networks. The client is the container owning the query's
 * source address; a network's listener answers only containers on that
 * network, from the names of all the networks the client is on. Everything
 * else goes to the upstreams.
 * See docs/decisions/0009-dns.md.
 */
import { Forwarder, type ForwarderOptions, type ForwarderStats } from './upstream.js';
import { DnsRecords } from './records.js';
import { ptrNameToIp } from './ip.js';
import { DnsServer, type ServerOptions } from './server.js';
import {
  CLASS_IN,
  RCODE_NOERROR,
  RCODE_REFUSED,
  RCODE_SERVFAIL,
  TYPE_A,
  TYPE_AAAA,
  TYPE_PTR,
  answerResponse,
  emptyResponse,
  headerOnlyResponse,
  parseQuery,
  udpLimit,
  type Query,
} from './wire.js';

/** Resolver settings. */
export interface ResolverOptions extends ForwarderOptions, ServerOptions {
  /** The record table (a fresh one when omitted). */
  records?: DnsRecords;
}

/** Counters for the local path; the forwarder's are merged in by `stats()`. */
export interface ResolverStats extends ForwarderStats {
  /** Messages received. */
  queries: number;
  /** Answered from the record table (including NODATA for known names). */
  local: number;
  /** Sent to the forwarder (cache hits included). */
  forwarded: number;
  /** Malformed or unsupported messages answered with FORMERR or NOTIMP. */
  rejected: number;
  /** Messages dropped unanswered (too short, or responses). */
  dropped: number;
  /** Queries from addresses that are no container on the listener's network. */
  refused: number;
  /** Clients only on internal networks asking for outside names. */
  internalOnly: number;
}

export class DnsResolver {
  /** The table the daemon keeps current. */
  readonly records: DnsRecords;
  private readonly forwarder: Forwarder;
  private readonly server: DnsServer;
  private readonly counters = {
    queries: 0,
    local: 0,
    forwarded: 0,
    rejected: 0,
    dropped: 0,
    refused: 0,
    internalOnly: 0,
  };

  constructor(opts: ResolverOptions = {}) {
    this.records = opts.records ?? new DnsRecords();
    this.forwarder = new Forwarder(opts);
    this.server = new DnsServer((m, s, l, t) => this.handle(m, s, l, t), opts);
  }

  /** Starts answering on an address (e.g. a user bridge's gateway), UDP and TCP. */
  async addListener(address: string, networkId?: string, netns?: string): Promise<void> {
    await this.server.addListener(address, networkId, netns);
    this.forwarder.exclude(this.server.addresses().map((a) => [a, this.server.port]));
  }

  /** Stops answering on an address; the other listeners keep serving. */
  async removeListener(address: string, netns?: string): Promise<boolean> {
    const removed = await this.server.removeListener(address, netns);
    this.forwarder.exclude(this.server.addresses().map((a) => [a, this.server.port]));
    return removed;
  }

  /** The addresses being listened on. */
  listeners(): string[] {
    return this.server.addresses();
  }

  /** Every listener with its namespace and network (the network graph). */
  listenerList(): ReturnType<DnsServer['listenerList']> {
    return this.server.listenerList();
  }

  /** Replaces the upstream resolvers (`ip`, `ip:port`, `[v6]:port`). */
  setUpstreams(list: readonly string[]): void {
    this.forwarder.setUpstreams(list);
  }

  /** Counters since start. */
  stats(): ResolverStats {
    return { ...this.counters, ...this.forwarder.stats };
  }

  /** Closes every listener; queries in flight are not answered. */
  close(): Promise<void> {
    return this.server.close();
  }

  /**
   * Answers one message from `source` received on `listener`. Synchronous for
   * everything answered locally or from the cache; null means no answer.
   */
  handle(
    msg: Buffer,
    source: string,
    listener: { readonly networkId?: string | undefined },
    tcp: boolean,
  ): Buffer | null | Promise<Buffer> {
    const c = this.counters;
    c.queries++;
    const q = parseQuery(msg);
    if ('drop' in q) {
      if (q.drop) {
        c.dropped++;
        return null;
      }
      c.rejected++;
      return headerOnlyResponse(msg, q.rcode);
    }
    const scope = this.records.client(source, listener.networkId);
    // Not an open resolver: a network's listener serves the containers on
    // that network, nobody else (not even with outside names).
    if (!scope || (listener.networkId !== undefined && !scope.eps.has(listener.networkId))) {
      c.refused++;
      return emptyResponse(q, RCODE_REFUSED);
    }
    if (q.plain && q.qclass === CLASS_IN) {
      const local = this.local(q, scope, tcp);
      if (local) {
        c.local++;
        return local;
      }
    }
    if (!scope.external) {
      c.internalOnly++;
      return emptyResponse(q, RCODE_SERVFAIL);
    }
    c.forwarded++;
    return this.forwarder.forward(q, tcp);
  }

  private local(
    q: Query,
    scope: NonNullable<ReturnType<DnsRecords['client']>>,
    tcp: boolean,
  ): Buffer | undefined {
    const limit = tcp ? 65535 : udpLimit(q);
    if (q.qtype === TYPE_PTR) {
      const ip = ptrNameToIp(q.name);
      const ep = ip === undefined ? undefined : this.records.resolveAddress(scope, ip);
      if (!ep) return undefined;
      const rr = ep.ptrRecord();
      return answerResponse(q, rr, 1, rr.length, false, limit);
    }
    const set = this.records.resolve(scope, q.name);
    if (!set) return undefined;
    // A name that exists without records of the asked type is NODATA, never
    // forwarded: the upstream does not own container names (Docker's ipv6Miss).
    if (q.qtype === TYPE_A) {
      const rrs = set.aRecords();
      if (rrs.length > 0) return answerResponse(q, rrs, rrs.length / 16, 16, true, limit);
    } else if (q.qtype === TYPE_AAAA) {
      const rrs = set.aaaaRecords();
      if (rrs.length > 0) return answerResponse(q, rrs, rrs.length / 28, 28, true, limit);
    }
    return emptyResponse(q, RCODE_NOERROR);
  }
}
