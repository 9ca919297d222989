/**
 * The two processes of the cluster-scale simulation (bench/cluster-scale.ts
 * starts them in lab hosts, where the etcd members are reachable, and drives
 * them with one JSON command per line on stdin; answers are JSON lines on
 * stdout, logs go to stderr):
 *
 * - `observer`: the one real host, without its kernel: what berthd's cluster
 *   part runs (NodeRegistry, GlobalNetworks with its mirrors, Convergence,
 *   Reaper), on a store that counts its calls and the watch events it gets,
 *   plus the controller's OverlayPlane (its peer updates, coalesced per
 *   network, and the resolver's records of the other hosts' endpoints) on a
 *   driver that keeps the FDB it would program instead of programming it.
 *   Its own process, so its CPU time and memory are its own.
 * - `generator`: N simulated hosts sharing a few etcd connections: each
 *   registers under its own lease and puts one endpoint in the key shapes
 *   GlobalNetworks.attach writes (endpoint, IPAM address, the network's
 *   endpoint generation), with raw transactions; then churn, keepalives, and
 *   the applied/ reports decision 0023 has every host write.
 */
import { createInterface } from 'node:readline';
import { Convergence, APPLIED } from '../../src/cluster/applied.js';
import { GLOBAL_ENDPOINTS, GLOBAL_NETWORKS, GlobalNetworks } from '../../src/cluster/networks.js';
import { NODES, NodeRegistry, type NodeInfo } from '../../src/cluster/nodes.js';
import { Reaper } from '../../src/cluster/reaper.js';
import { createLogger } from '../../src/common/log.js';
import { DnsRecords } from '../../src/network/dns/records.js';
import { macFromIPv4 } from '../../src/network/ipam/index.js';
import { OverlayPlane } from '../../src/network/overlay-plane.js';
import type { Converged, GlobalEndpoint, NetworkDriver, Peer } from '../../src/network/types.js';
import { EtcdStore } from '../../src/store/etcd/etcd.js';
import { fakeOverlayDriver } from '../../test/helpers/fake-network.js';
import type { KvStore, LeaseId, WatchEvent } from '../../src/store/types.js';

/** Wall-clock ms with sub-ms resolution, comparable between the two processes. */
const wall = () => performance.timeOrigin + performance.now();
const log = createLogger('warn');

/** The overlay network every simulated host joins. */
export const SIM_SUBNET = '10.128.0.0/16';
/** Simulated host i has endpoint address 10.128.1.0 + i (the observer's come from 10.128.0.2). */
const simIp = (i: number) => {
  const n = (10 << 24) + (128 << 16) + 256 + i;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
};
/** Simulated host i's advertise address and VTEP: 172.16.0.0/12, never on any wire. */
const simHost = (i: number) => `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const simNode = (i: number) => `${simHost(i)}:2375`;

/** Runs `fn` over 0..n-1 with at most `limit` in flight. */
async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

/** What the observer's store saw: calls by method, watch events by prefix, keys read by lists. */
interface Counters {
  calls: Record<string, number>;
  events: Record<string, number>;
  keysRead: number;
}

/** A KvStore that counts what goes through it. */
function counted(kv: KvStore, c: Counters): KvStore {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return (...args: unknown[]) => {
        c.calls[prop] = (c.calls[prop] ?? 0) + 1;
        if (prop === 'watch') {
          const [prefix, cb] = args as [string, (ev: WatchEvent) => void];
          args[1] = (ev: WatchEvent) => {
            c.events[prefix] = (c.events[prefix] ?? 0) + 1;
            cb(ev);
          };
        }
        const r = (v as (...a: unknown[]) => unknown).apply(target, args);
        if (prop === 'list' || prop === 'listWithRevision') {
          void (r as Promise<unknown>).then(
            (x) =>
              (c.keysRead += Array.isArray(x) ? x.length : (x as { entries: [] }).entries.length),
            () => undefined,
          );
        }
        return r;
      };
    },
  });
}

/** The observer's counters, CPU time and memory at one moment. */
export interface Mark {
  at: number;
  cpuMs: number;
  rssKb: number;
  heapUsedKb: number;
  calls: Record<string, number>;
  events: Record<string, number>;
  keysRead: number;
  peers: Observer['peerStats'] & { fdb: number; vteps: number };
  endpoints: number;
  revision: number;
}

interface Init {
  endpoints: string[];
  prefix: string;
}

/** The real host without its kernel. */
class Observer {
  private raw!: EtcdStore;
  private kv!: KvStore;
  private readonly c: Counters = { calls: {}, events: {}, keysRead: 0 };
  private nodes!: NodeRegistry;
  private g!: GlobalNetworks;
  private conv!: Convergence;
  private reaper!: Reaper;
  private netId = '';
  private readonly self = { node: '192.168.205.10:2375', vtep: '192.168.205.10' };
  /** The peers programmed (MAC → peer), as the overlay driver keeps them. */
  private readonly had = new Map<string, Peer>();
  private plane!: OverlayPlane;
  /** The last peer update done (every update ends in the convergence's `applied`). */
  private updated: Promise<void> = Promise.resolve();
  private updating = false;
  /** What the last join's convergence wait found. */
  private converged: Converged | undefined;
  /**
   * Peer updates (driver calls), their CPU time (from the update's start,
   * when the plane looks its network up, to its report; the fake driver
   * answers at once, so nothing else runs in between), entries added and
   * removed, and the most peers one call was given.
   */
  readonly peerStats = { runs: 0, cpuMs: 0, adds: 0, deletes: 0, maxGiven: 0 };
  /** When each endpoint key was first seen here (wall ms), until `seen` takes them. */
  private seenAt = new Map<string, number>();
  private joins = 0;

  async init(a: Init & { node: string }): Promise<{ netId: string }> {
    this.self.node = `${a.node}:2375`;
    this.self.vtep = a.node;
    this.raw = await EtcdStore.open({ endpoints: a.endpoints, prefix: a.prefix });
    this.kv = counted(this.raw, this.c);
    const info: NodeInfo = {
      Addr: this.self.node,
      Name: 'observer',
      ID: 'observer',
      Version: 'sim',
      StartedAt: new Date().toISOString(),
    };
    this.nodes = new NodeRegistry(this.kv, info, { ttlSeconds: 20, heartbeatSeconds: 6, log });
    this.nodes.start();
    // As src/daemon/main.ts wires them.
    this.g = GlobalNetworks.start(this.kv, log, this.self);
    this.conv = new Convergence(this.kv, {
      node: this.self.node,
      lease: () => this.nodes.leaseId,
      endpoints: this.g.endpoints,
      log,
    });
    this.reaper = new Reaper(this.kv, this.g, this.self.node, log);
    this.plane = this.makePlane();
    this.g.endpoints.onChange((key) => {
      if (this.g.endpoints.get(key) && !this.seenAt.has(key)) this.seenAt.set(key, wall());
    });
    await this.g.whenLoaded();
    await this.nodes.whenRegistered();
    const net = await this.g.create({
      Name: 'scale',
      Driver: 'overlay',
      Internal: false,
      Attachable: false,
      Options: {},
      Labels: {},
      IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: SIM_SUBNET }] },
    });
    this.netId = net.Id;
    await this.join();
    return { netId: net.Id };
  }

  /** The overlay driver's part of a peer update, without the kernel: the FDB it would hold. */
  private driver(): NetworkDriver {
    const count = (gone: Peer[], came: Peer[]) => {
      for (const p of gone) if (this.had.delete(p.mac)) this.peerStats.deletes++;
      for (const p of came) {
        if (p.vtep === this.self.vtep) continue;
        this.had.set(p.mac, p);
        this.peerStats.adds++;
      }
      this.peerStats.runs++;
      this.peerStats.maxGiven = Math.max(this.peerStats.maxGiven, gone.length + came.length);
      return Promise.resolve(true);
    };
    return fakeOverlayDriver({
      setPeers: (_net, peers) => {
        const want = new Set(peers.map((p) => p.mac));
        return count(
          [...this.had.values()].filter((p) => !want.has(p.mac)),
          peers,
        );
      },
      changePeers: (_net, { gone, came }) => count(gone, came),
    });
  }

  /** The plane as the controller makes it, on the fake driver, its CPU per update counted. */
  private makePlane(): OverlayPlane {
    let t0 = 0;
    let done!: () => void;
    return new OverlayPlane({
      global: this.g,
      convergence: {
        revision: () => this.conv.revision(),
        applied: (net, at) => {
          if (this.updating) {
            const d = process.cpuUsage();
            this.peerStats.cpuMs += (d.user + d.system) / 1000 - t0;
            this.updating = false;
            done();
          }
          this.conv.applied(net, at);
        },
        converge: async (net, revision, program, others) => {
          const c = await this.conv.converge(net, revision, program, others);
          this.converged = c;
          return c;
        },
      },
      dns: {
        records: new DnsRecords(),
        addListener: () => Promise.resolve(),
        removeListener: () => Promise.resolve(false),
      },
      log,
      vtep: this.self.vtep,
      network: (id) => {
        // An update starts.
        const d = process.cpuUsage();
        t0 = (d.user + d.system) / 1000;
        this.updating = true;
        this.updated = new Promise((r) => (done = r));
        return this.g.get(id);
      },
      driver: () => this.driver(),
      overlay: () => undefined,
    });
  }

  /** One attach of the observer's own, then the convergence wait of decision 0023. */
  async join(): Promise<Record<string, unknown>> {
    const k = this.joins++;
    const t0 = performance.now();
    const { revision } = await this.g.attach({
      networkId: this.netId,
      id: `observer${String(k).padStart(58, '0')}`,
      containerId: `c${k}`,
      name: `obs${k}`,
      aliases: [],
    });
    const attachMs = performance.now() - t0;
    this.converged = undefined;
    await this.plane.convergePeers(this.netId, revision);
    const c = this.converged as Converged | undefined;
    if (!c) throw new Error('observer: the join did not wait for the other hosts');
    return {
      attachMs,
      convergeMs: c.ms,
      waitedFor: c.hosts.length,
      missing: c.missing.length,
      skipped: c.skipped.length,
    };
  }

  /** The counters, CPU time and memory now; callers take differences. */
  mark(): Mark {
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    const vteps = new Set([...this.had.values()].map((p) => p.vtep));
    return {
      at: wall(),
      cpuMs: (cpu.user + cpu.system) / 1000,
      rssKb: Math.round(mem.rss / 1024),
      heapUsedKb: Math.round(mem.heapUsed / 1024),
      calls: { ...this.c.calls },
      events: { ...this.c.events },
      keysRead: this.c.keysRead,
      peers: { ...this.peerStats, fdb: this.had.size, vteps: vteps.size },
      endpoints: this.g.endpoints.all().size,
      revision: this.g.endpoints.revision,
    };
  }

  /** Waits until the mirrors hold `endpoints` endpoints and the peers are programmed. */
  async waitFor(a: { endpoints: number; timeoutMs: number }): Promise<{ ms: number }> {
    const t0 = performance.now();
    while (this.g.endpoints.all().size < a.endpoints || this.updating) {
      if (performance.now() - t0 > a.timeoutMs) {
        throw new Error(
          `observer: ${this.g.endpoints.all().size} of ${a.endpoints} endpoints after ${a.timeoutMs} ms`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await this.updated;
    return { ms: performance.now() - t0 };
  }

  /** The first-seen times recorded since the last call (and forgets them). */
  seen(): Record<string, number> {
    const out = Object.fromEntries(this.seenAt);
    this.seenAt = new Map();
    return out;
  }

  async close(): Promise<void> {
    this.reaper.close();
    this.conv.close();
    this.g.close();
    await this.nodes.close({ revoke: true });
    await this.raw.close();
  }
}

/** N simulated hosts over a few shared connections. */
class Generator {
  private kvs: EtcdStore[] = [];
  private n = 0;
  private limit = 64;
  private netId = '';
  private netRev = 0;
  private leases: LeaseId[] = [];
  /** Each simulated host's endpoint ID now (churn replaces them). */
  private epIds: string[] = [];
  private generation = 0;
  private cancelReports: (() => void) | undefined;
  private readonly reports: { revision: number; ms: number; failed: number }[] = [];

  private kv(i: number): EtcdStore {
    return this.kvs[i % this.kvs.length]!;
  }

  async init(a: Init & { conns: number; n: number; limit: number; netId: string }): Promise<void> {
    for (let i = 0; i < a.conns; i++) {
      this.kvs.push(await EtcdStore.open({ endpoints: a.endpoints, prefix: a.prefix }));
    }
    Object.assign(this, { n: a.n, limit: a.limit, netId: a.netId });
    const rec = await this.kvs[0]!.get(GLOBAL_NETWORKS + a.netId);
    if (!rec) throw new Error(`network ${a.netId} not in the store`);
    this.netRev = rec.modRevision;
  }

  /** Each host: a lease (Berth's TTL), its node key under it. */
  async register(): Promise<Record<string, number>> {
    const t0 = performance.now();
    this.leases = new Array<LeaseId>(this.n);
    await pool(this.n, this.limit, async (i) => {
      const kv = this.kv(i);
      // A long TTL: the keepalive phase measures renewals on its own, so a
      // slow generator cannot expire hosts in the middle of another phase.
      const lease = await kv.grantLease(3600);
      const info: NodeInfo = {
        Addr: simNode(i),
        Name: `sim${i}`,
        ID: `sim${i}`,
        Version: 'sim',
        StartedAt: new Date().toISOString(),
      };
      await kv.put(NODES + info.Addr, JSON.stringify(info), { lease });
      this.leases[i] = lease;
    });
    const ms = performance.now() - t0;
    return { ms, writes: 2 * this.n, writesPerS: (2 * this.n) / (ms / 1000) };
  }

  private endpoint(i: number): GlobalEndpoint {
    const ip = simIp(i);
    return {
      Id: this.epIds[i]!,
      NetworkID: this.netId,
      ContainerID: `sim${i}c${this.generation}`,
      Name: `sim${i}`,
      Aliases: [],
      IPv4: ip,
      PrefixLen: 16,
      Mac: macFromIPv4(ip),
      Node: simNode(i),
      Vtep: simHost(i),
      NameHeld: true,
    };
  }

  private epKey = (i: number) => `${this.netId}/${this.epIds[i]}`;
  private addrKey = (i: number) => `ipam/global/addrs/${SIM_SUBNET}/${simIp(i)}`;
  private nameKey = (i: number) => `networks/endpoint-names/${this.netId}/sim${i}`;

  /** Host i attaches: one transaction as GlobalNetworks.attach commits it. Returns [sent, acked]. */
  private async attach(i: number): Promise<[number, number]> {
    this.epIds[i] = `sim${i}g${this.generation}`.padEnd(64, '0');
    const ep = this.endpoint(i);
    const sent = wall();
    const r = await this.kv(i).txn(
      [
        { key: this.addrKey(i), modRevision: 0 },
        { key: GLOBAL_NETWORKS + this.netId, modRevision: this.netRev },
        { key: this.nameKey(i), modRevision: 0 },
      ],
      [
        { type: 'put', key: GLOBAL_ENDPOINTS + this.epKey(i), value: JSON.stringify(ep) },
        { type: 'put', key: this.addrKey(i), value: JSON.stringify({ owner: ep.Id }) },
        { type: 'put', key: `networks/endpoints-generation/${this.netId}`, value: ep.Id },
        { type: 'put', key: this.nameKey(i), value: ep.Id },
      ],
    );
    if (!r.succeeded) throw new Error(`sim host ${i}: attach conflicted`);
    return [sent, wall()];
  }

  /** Host i detaches (endpoint and address go in one transaction). */
  private async detach(i: number): Promise<void> {
    await this.kv(i).txn(
      [],
      [
        { type: 'delete', key: GLOBAL_ENDPOINTS + this.epKey(i) },
        { type: 'delete', key: this.addrKey(i) },
        { type: 'delete', key: this.nameKey(i) },
      ],
    );
  }

  /** Every host puts its endpoint; the [sent, acked] time of each, by mirror key. */
  async endpoints(): Promise<{ ms: number; times: Record<string, [number, number]> }> {
    const t0 = performance.now();
    const times: Record<string, [number, number]> = {};
    await pool(this.n, this.limit, async (i) => {
      const t = await this.attach(i);
      times[this.epKey(i)] = t;
    });
    return { ms: performance.now() - t0, times };
  }

  /** One renewal of every host's lease, as NodeRegistry renews it (a stream per renewal). */
  async keepalive(): Promise<Record<string, number>> {
    const t0 = performance.now();
    await pool(this.n, this.limit, async (i) => {
      await this.kv(i).keepAlive(this.leases[i]!);
    });
    const ms = performance.now() - t0;
    return { ms, perS: this.n / (ms / 1000) };
  }

  /**
   * Paced churn: `rate` container starts a second for `seconds` (each a
   * detach then an attach of one host's endpoint, round robin: two changes).
   */
  async churn(a: { rate: number; seconds: number }): Promise<Record<string, unknown>> {
    this.generation++;
    const total = Math.max(1, Math.round(a.rate * a.seconds));
    const times: Record<string, [number, number]> = {};
    const t0 = performance.now();
    const inFlight: Promise<void>[] = [];
    let late = 0;
    for (let k = 0; k < total; k++) {
      const due = t0 + (k * 1000) / a.rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      else late++;
      const i = k % this.n;
      inFlight.push(
        (async () => {
          await this.detach(i);
          const t = await this.attach(i);
          times[this.epKey(i)] = t;
        })(),
      );
      if (inFlight.length >= this.limit) await Promise.all(inFlight.splice(0));
    }
    await Promise.all(inFlight);
    const ms = performance.now() - t0;
    return { ms, starts: total, changes: 2 * total, startsPerS: total / (ms / 1000), late, times };
  }

  /**
   * From now on, every endpoint another host (the observer) puts makes each
   * simulated host report the revision applied (`applied/<node>`, under its
   * lease), as Convergence does on every host of the network; one watch
   * stands for the N hosts' watches.
   */
  async armReports(): Promise<void> {
    this.cancelReports = await this.kvs[0]!.watch(`${GLOBAL_ENDPOINTS}${this.netId}/`, (ev) => {
      if (ev.type !== 'put' || !ev.value) return;
      const ep = JSON.parse(ev.value) as GlobalEndpoint;
      if (ep.Node.startsWith('172.')) return;
      const t0 = performance.now();
      let failed = 0;
      void pool(this.n, this.limit, async (i) => {
        await this.kv(i)
          .put(APPLIED + simNode(i), String(ev.revision), { lease: this.leases[i] })
          .catch(() => failed++);
      }).then(() =>
        this.reports.push({ revision: ev.revision, ms: performance.now() - t0, failed }),
      );
    });
  }

  /** The report rounds finished so far. */
  reportRounds(): { revision: number; ms: number; failed: number }[] {
    return this.reports;
  }

  /** Every host leaves: its lease revoked (its node key and reports go with it). */
  async close(): Promise<Record<string, number>> {
    this.cancelReports?.();
    const t0 = performance.now();
    await pool(this.n, this.limit, async (i) => {
      if (this.leases[i]) await this.kv(i).revokeLease(this.leases[i]!);
    });
    const ms = performance.now() - t0;
    // The endpoints are not reaped here: the observer is gone; the stage's prefix is dropped.
    await this.kvs[0]!.txn([], [{ type: 'deletePrefix', prefix: GLOBAL_ENDPOINTS }]);
    for (const kv of this.kvs) await kv.close();
    return { revokeMs: ms };
  }
}

async function main(): Promise<void> {
  const role = process.argv[2];
  const target: object =
    role === 'observer' ? new Observer() : role === 'generator' ? new Generator() : {};
  if (!(target instanceof Observer || target instanceof Generator)) {
    throw new Error('usage: scale-sim.js observer|generator');
  }
  const rl = createInterface({ input: process.stdin });
  const send = (x: unknown) => process.stdout.write(JSON.stringify(x) + '\n');
  for await (const line of rl) {
    const { id, cmd, args } = JSON.parse(line) as { id: number; cmd: string; args?: unknown };
    const fn = (target as unknown as Record<string, (a: unknown) => unknown>)[cmd];
    try {
      if (typeof fn !== 'function') throw new Error(`${role}: no command ${cmd}`);
      send({ id, ok: true, result: (await fn.call(target, args)) ?? null });
    } catch (e) {
      send({ id, ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    }
    if (cmd === 'close') break;
  }
  process.exit(0);
}

void main();
