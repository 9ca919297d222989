/**
 * The convergence guarantee of multi-host networks (issue 13, decision
 * 0023): when a join returns, every other host that takes part in the
 * network has programmed the new endpoint, so a container there reaches it
 * at once, as with Docker 20.10, which programs its peers before `run -d`
 * returns.
 *
 * Reporting: each host keeps `applied/<node>` (a number, under its node's
 * lease), the store revision up to which it has programmed the endpoints
 * of the networks it takes part in. It writes only after another host's
 * endpoint came on such a network and that host waits for the reports (a
 * start; a connect's endpoint says `Awaited: false`, decision 0039), with
 * one write in flight at most: a burst of starts costs it one write or a
 * few, never more than one each.
 *
 * Waiting: a join knows the revision R its endpoint was committed at. It
 * waits until its own view has reached R and programs that (so it has every
 * endpoint committed before), then follows `applied/` in a mirror (made by
 * the first wait, kept while joins come, so joins in a row read nothing)
 * until every other host that
 * had an endpoint on the network before R, and whose node key is still
 * there, reports R or later. Hosts whose endpoints came after R are not
 * waited for: their own joins program this one. Bounded: a host
 * that misses the bound is named in a warning and not waited for again
 * until it is seen to have caught up.
 *
 * Pure orchestration over KvStore and the endpoints' mirror: no kernel.
 */
import { messageOf } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Converged, GlobalEndpoint, PeerConvergence } from '../network/types.js';
import type { KvStore, LeaseId } from '../store/types.js';
import { decodeApplied, decodeNode } from './decode.js';
import { Mirror } from './mirror.js';
import { NODES, type NodeInfo } from './nodes.js';

/** Where each host reports what it has applied: `applied/<advertise address>`. */
export const APPLIED = 'applied/';
/** How long a join waits for the other hosts at most. */
export const CONVERGE_TIMEOUT_MS = 2000;
/** How long the reports stay followed after the last join waited on them. */
export const REPORTS_LINGER_MS = 10_000;
/** Pause before a report that failed (or found no lease yet) is tried again. */
const RETRY_MS = 250;

export interface ConvergenceOptions {
  /** This host (its advertise address, the endpoints' `Node`). */
  node: string;
  /** The node's lease (NodeRegistry.leaseId): reports live and die with the node. */
  lease: () => LeaseId | undefined;
  /** Every host's endpoints, as this host knows them, grouped by network (GlobalNetworks.endpoints). */
  endpoints: Mirror<GlobalEndpoint>;
  log: Logger;
  /** The bound of a join's wait; default CONVERGE_TIMEOUT_MS. */
  timeoutMs?: number;
  /** How long `applied/` stays followed after the last wait; default REPORTS_LINGER_MS. */
  reportsLingerMs?: number;
}

const short = (id: string) => id.slice(0, 12);

export class Convergence implements PeerConvergence {
  /** The live hosts (their node keys). */
  private readonly nodes: Mirror<NodeInfo>;
  private nodesRead = false;
  /**
   * Every host's report (`applied/<node>`), as last seen: what joins wait on.
   * Followed only while this host joins (and REPORTS_LINGER_MS after): every
   * participating host reports each start, so a standing watch on every host
   * would make each host pay for every start in the cluster (N hosts: N²
   * events per start), where a joining host alone needs the reports.
   */
  private reports: Mirror<number> | undefined;
  private reportsRead = false;
  /** Waits following the reports now; the mirror closes REPORTS_LINGER_MS after the last. */
  private following = 0;
  private linger: NodeJS.Timeout | undefined;
  /** Per network: this host's endpoints on it (mirror keys); it takes part while there are some. */
  private readonly own = new Map<string, Set<string>>();
  /** Per network this host takes part in: the lowest revision of a change not known applied. */
  private readonly pending = new Map<string, number>();
  /** Per such network: the revision of its latest change. */
  private readonly latest = new Map<string, number>();
  /**
   * The revisions, not yet reported, at which another host's endpoint came
   * on a network this host is on (in order): what joins wait for. A report
   * is written only when it covers one, so never more than one per start.
   */
  private readonly wanted: number[] = [];
  /** The revision last written to `applied/<node>`. */
  private reported = 0;
  private writing = false;
  private retry: NodeJS.Timeout | undefined;
  /** Hosts a wait gave up on, with the revision they missed: not waited for until they report it. */
  private readonly lagging = new Map<string, number>();
  /** Ends each wait in progress (on close). */
  private readonly waits = new Set<() => void>();
  private readonly unsubscribe: () => void;
  private readonly timeoutMs: number;
  private closed = false;

  constructor(
    private readonly kv: KvStore,
    private readonly opts: ConvergenceOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? CONVERGE_TIMEOUT_MS;
    this.nodes = new Mirror(kv, NODES, opts.log, decodeNode);
    void this.nodes.loaded.then(() => (this.nodesRead = true));
    // Before the endpoints' first list arrives (the caller makes this at once),
    // so every change is seen here.
    this.unsubscribe = opts.endpoints.onChange((key, revision) => this.received(key, revision));
  }

  revision(): number {
    return this.opts.endpoints.revision;
  }

  /** A change of the endpoints came: what this host must apply before it may report past it. */
  private received(key: string, revision: number): void {
    const net = key.slice(0, key.indexOf('/'));
    const ep = this.opts.endpoints.get(key);
    let mine = this.own.get(net);
    if (ep?.Node === this.opts.node) {
      if (!mine) this.own.set(net, (mine = new Set()));
      mine.add(key);
      return; // this host's own endpoint: nothing to program for it here
    }
    if (!ep && mine?.delete(key)) {
      if (mine.size === 0) this.own.delete(net);
      return;
    }
    if (!mine) return; // not on this network: it programs nothing, reports nothing
    if (!this.pending.has(net)) this.pending.set(net, revision);
    this.latest.set(net, revision);
    // Reported only if its joiner waits for the reports (not a connect's, decision 0039).
    const awaited = ep?.Awaited !== false;
    if (ep && awaited && revision > (this.wanted.at(-1) ?? this.reported))
      this.wanted.push(revision);
  }

  applied(networkId: string, revision: number): void {
    const p = this.pending.get(networkId);
    if (p !== undefined) {
      if ((this.latest.get(networkId) ?? 0) <= revision) {
        this.pending.delete(networkId);
        this.latest.delete(networkId);
      } else {
        this.pending.set(networkId, Math.max(p, revision + 1));
      }
    }
    this.report();
  }

  /** What this host may claim: every change up to it, on the networks it is on, is programmed. */
  appliedRevision(): number {
    let r = this.opts.endpoints.revision;
    for (const p of this.pending.values()) r = Math.min(r, p - 1);
    return r;
  }

  /** Writes the applied revision when another host may wait for it; one write at a time. */
  private report(): void {
    if (this.writing || this.retry || this.closed) return;
    const at = this.appliedRevision();
    if (this.wanted.length === 0 || this.wanted[0]! > at) return;
    const lease = this.opts.lease();
    if (!lease) return this.later(); // not registered (yet, or again)
    this.writing = true;
    const t0 = performance.now();
    this.kv.put(APPLIED + this.opts.node, String(at), { lease }).then(
      () => {
        this.opts.log.debug(
          `cluster: reported revision ${at} applied (${(performance.now() - t0).toFixed(1)} ms)`,
        );
        this.writing = false;
        this.reported = Math.max(this.reported, at);
        while (this.wanted.length && this.wanted[0]! <= this.reported) this.wanted.shift();
        this.report();
      },
      (e: unknown) => {
        this.writing = false;
        this.opts.log.debug(`cluster: reporting revision ${at} applied: ${messageOf(e)}`);
        this.later();
      },
    );
  }

  private later(): void {
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.report();
    }, RETRY_MS);
    this.retry.unref();
  }

  async converge(
    networkId: string,
    revision: number,
    program: () => Promise<void>,
    othersToo = true,
  ): Promise<Converged> {
    const t0 = performance.now();
    const net = short(networkId);
    if (!(await this.opts.endpoints.atLeast(revision, this.timeoutMs))) {
      this.opts.log.warn(
        `network ${net}: this host's view of the endpoints did not reach revision ${revision} within ${this.timeoutMs} ms`,
      );
    }
    const view = performance.now() - t0;
    const others = othersToo
      ? this.others(networkId, revision, t0 + this.timeoutMs)
      : Promise.resolve({ hosts: [], missing: [], skipped: [] });
    try {
      await program();
    } catch (e) {
      this.opts.log.error(`network ${net}: programming its peers: ${messageOf(e)}`);
    }
    const { hosts, missing, skipped } = await others;
    const ms = performance.now() - t0;
    if (missing.length) {
      this.opts.log.warn(
        `network ${net}: ${missing.join(', ')} did not report revision ${revision} applied within ${this.timeoutMs} ms; not waiting for them until they do`,
      );
    } else {
      this.opts.log.debug(
        `network ${net}: converged at revision ${revision} in ${ms.toFixed(1)} ms (own view ${view.toFixed(1)} ms; hosts: ${othersToo ? hosts.join(', ') || 'none' : 'not waited for (a connect)'}${skipped.length ? `; not waited for: ${skipped.join(', ')}` : ''})`,
      );
    }
    return { hosts, missing, skipped, ms };
  }

  /**
   * The other hosts that had an endpoint on the network before `revision`
   * and are live: their own view has this endpoint only if they report it.
   */
  private participants(networkId: string, revision: number): Set<string> {
    const hosts = new Set<string>();
    for (const [key, e] of this.opts.endpoints.group(networkId)) {
      if (e.Node === this.opts.node) continue;
      if ((this.opts.endpoints.revisionOf(key) ?? 0) >= revision) continue;
      if (this.nodesRead && this.nodes.get(e.Node) === undefined) continue; // its lease ended
      hosts.add(e.Node);
    }
    return hosts;
  }

  /** Waits until every participant reported `revision` or later, or until `deadline`. */
  private others(
    networkId: string,
    revision: number,
    deadline: number,
  ): Promise<Omit<Converged, 'ms'>> {
    let hosts = this.participants(networkId, revision);
    if (hosts.size === 0 || this.closed) {
      return Promise.resolve({ hosts: [], missing: [], skipped: [] });
    }
    const waited = new Set(hosts);
    const acked = new Map<string, number>();
    /** Hosts a wait gave up on before: reported, not waited for, unless seen caught up. */
    const skipped = new Set([...hosts].filter((h) => this.lagging.has(h)));
    return new Promise((resolve) => {
      let done = false;
      const timer = setTimeout(() => finish(true), Math.max(0, deadline - performance.now()));
      const unwaiting = () => [...hosts].filter((h) => (acked.get(h) ?? 0) < revision);
      const reports = this.followReports();
      const finish = (gaveUp: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        offReports();
        this.unfollowReports();
        offEndpoints();
        offNodes();
        this.waits.delete(stop);
        const unconfirmed = unwaiting();
        const missing = unconfirmed.filter((h) => !skipped.has(h));
        if (gaveUp) for (const h of missing) this.lagging.set(h, revision);
        resolve({
          hosts: [...waited].filter((h) => !skipped.has(h)),
          missing,
          skipped: unconfirmed.filter((h) => skipped.has(h)),
        });
      };
      /** Until the reports were first read, nothing is decided (a skipped host may have caught up). */
      let reading = true;
      const check = () => {
        if (!done && !reading && unwaiting().every((h) => skipped.has(h))) finish(false);
      };
      const stop = () => finish(false);
      const seen = (host: string, at: number) => {
        acked.set(host, Math.max(acked.get(host) ?? 0, at));
        const lag = this.lagging.get(host);
        if (lag !== undefined && at >= lag) {
          this.lagging.delete(host);
          skipped.delete(host);
        }
        check();
      };
      // An endpoint or a host that goes is no longer waited for.
      const again = () => {
        hosts = this.participants(networkId, revision);
        for (const h of hosts) waited.add(h);
        check();
      };
      const offEndpoints = this.opts.endpoints.onChange(
        (key) => key.startsWith(`${networkId}/`) && again(),
      );
      const offNodes = this.nodes.onChange(again);
      this.waits.add(stop);

      // The reports as this host's mirror of `applied/` has them (often all
      // there: the join did its own work meanwhile), then each one it brings.
      // Joins in a row share the mirror: no read and no watch of the store
      // per join. Its watch is synced, so a report comes as soon as etcd
      // commits it (a watch made per join from the past would wait for
      // etcd's resync, up to 100 ms). A lagging mirror only makes the wait
      // longer: a report of R or later is written after R was committed.
      const offReports = reports.onChange((host) => {
        const at = reports.get(host);
        if (at !== undefined) seen(host, Number(at));
      });
      const start = () => {
        if (done) return;
        for (const [host, at] of reports.all()) seen(host, Number(at));
        reading = false;
        check();
      };
      if (this.reportsRead) start();
      else void reports.loaded.then(start);
    });
  }

  /** The mirror of `applied/` for one more wait (made on the first). */
  private followReports(): Mirror<number> {
    clearTimeout(this.linger);
    this.linger = undefined;
    this.following++;
    if (!this.reports) {
      const m = new Mirror(this.kv, APPLIED, this.opts.log, decodeApplied);
      this.reports = m;
      this.reportsRead = false;
      void m.loaded.then(() => {
        if (this.reports === m) this.reportsRead = true;
      });
    }
    return this.reports;
  }

  /** One wait less; the mirror goes once no join needed it for REPORTS_LINGER_MS. */
  private unfollowReports(): void {
    if (--this.following > 0 || this.closed) return;
    this.linger = setTimeout(() => {
      this.linger = undefined;
      this.reports?.close();
      this.reports = undefined;
      this.reportsRead = false;
    }, this.opts.reportsLingerMs ?? REPORTS_LINGER_MS);
    this.linger.unref();
  }

  /** Stops reporting and ends the waits in progress. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    clearTimeout(this.linger);
    this.unsubscribe();
    this.nodes.close();
    for (const stop of [...this.waits]) stop();
    this.reports?.close();
    this.reports = undefined;
  }
}
