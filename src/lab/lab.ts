/**
 * The lab: throwaway "hosts" in network namespaces, joined by a "world"
 * namespace, so tests, the demo and benchmarks run real daemons without
 * touching the machine (topology.ts builds the network, teardown.ts removes
 * it all, state.ts records what exists so a crash can be cleaned up).
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, conflict, invalid, notFound } from '../common/errors.js';
import { spawnDaemon, type LabDaemon, type StartDaemonOptions } from './daemon.js';
import { isAlive, run, stopProcess, which, type RunResult } from './proc.js';
import { buildTopology, claimDir, newState } from './topology.js';
import {
  type DaemonRecord,
  type EtcdRecord,
  type LabHost,
  type LabState,
  type LabWorld,
  LAB_ROOT,
  MAX_HOSTS,
  NAME_RE,
  labDirNames,
  readState,
  writeState,
} from './state.js';
import { labNamespaces, teardown } from './teardown.js';
import { etcdEndpoints, etcdctl, restartMembers, startEtcd } from './etcd.js';

export type { LabDaemon, StartDaemonOptions } from './daemon.js';
export type { LabHost, LabWorld } from './state.js';
export { LAB_ROOT } from './state.js';

/** How to build a lab. */
export interface LabOptions {
  /** Unique name and prefix of every namespace; default 'bl' + 4 random hex digits. */
  name?: string;
  /** Number of hosts; default 1. */
  hosts?: number;
  /**
   * Keep the lab when this process exits (`berth lab up`). Otherwise this
   * process owns the lab, and once it is gone `cleanAll()` removes the lab.
   */
  detached?: boolean;
  /**
   * A cluster lab: the hosts' only uplinks meet on an underlay switch
   * namespace (192.168.205.0/24, hosts .10, .11, ...; the world routes at .1),
   * and an etcd member runs in each host (see `etcdMembers`), one cluster.
   */
  cluster?: boolean;
  /** Etcd members on h1..hK of a cluster lab; default every host. */
  etcdMembers?: number;
}

/** Options of `Lab.exec`. */
export interface ExecOptions {
  /** Text fed to the command's stdin. */
  input?: string;
  /** Extra environment, merged over this process's. */
  env?: NodeJS.ProcessEnv;
  /** Kill the command after this many ms; default 60 s. */
  timeoutMs?: number;
}

/** Options of `Lab.spawn`. */
export interface LabSpawnOptions {
  /** Extra environment, merged over this process's. */
  env?: NodeJS.ProcessEnv;
  /** stdio of the child; default all pipes. */
  stdio?: StdioOptions;
}

/** Where a command runs: a host (object, 1-based index or name) or the world. */
export type LabTarget = LabHost | number | string;

/** One line of `Lab.list()`. */
export interface LabSummary {
  /** Lab name. */
  name: string;
  /** Number of hosts (0 when the state file is unreadable). */
  hosts: number;
  /** Recorded daemons still running. */
  daemons: number;
  /** Owner process id, or null for a detached lab. */
  ownerPid: number | null;
  /** True when the owner is gone or the state is unreadable: `cleanAll()` removes it. */
  orphan: boolean;
  /** ISO creation time ('' when unknown). */
  created: string;
}

/** Outcome of `Lab.clean`. */
export interface CleanResult {
  /** Labs removed completely. */
  removed: string[];
  /** Labs left alone because their owner still runs or they are detached. */
  kept: string[];
  /** Labs whose teardown left something behind, with what. */
  failed: { name: string; leftovers: string[] }[];
}

function isOrphan(s: LabState | undefined): boolean {
  if (!s) return true;
  return s.owner !== null && !isAlive(s.owner.pid, s.owner.start);
}

export class Lab {
  private constructor(private readonly state: LabState) {}

  /** The lab's unique name; the prefix of all its namespaces. */
  get name(): string {
    return this.state.name;
  }
  /** `/var/lib/berth-lab/<name>`: state, daemon data-roots and sockets. */
  get dir(): string {
    return this.state.dir;
  }
  /** The hosts, in index order (hosts[0] is host 1). */
  get hosts(): readonly LabHost[] {
    return this.state.hosts;
  }
  /** The world namespace. */
  get world(): LabWorld {
    return this.state.world;
  }
  /** The etcd members a cluster lab runs (none in a plain lab). */
  get etcdMembers(): readonly EtcdRecord[] {
    return this.state.cluster?.etcd ?? [];
  }

  /** Builds a new lab; on failure removes whatever it had built and rethrows. */
  static async create(opts: LabOptions = {}): Promise<Lab> {
    const count = opts.hosts ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > MAX_HOSTS) {
      throw invalid(`a lab has 1 to ${MAX_HOSTS} hosts, not ${count}`);
    }
    let name = opts.name;
    if (name !== undefined) {
      if (!NAME_RE.test(name)) throw invalid(`invalid lab name ${name}: want ${NAME_RE.source}`);
      if (!claimDir(name)) throw conflict(`lab ${name} already exists`);
    } else {
      for (let i = 0; ; i++) {
        const n = 'bl' + randomBytes(2).toString('hex');
        if (claimDir(n)) {
          name = n;
          break;
        }
        if (i > 20) throw conflict('cannot find a free lab name');
      }
    }
    if (labNamespaces(name).length > 0) {
      rmdirSync(join(LAB_ROOT, name)); // just claimed, still empty
      throw conflict(`namespaces named ${name}-* already exist`);
    }
    const cluster = opts.cluster ?? false;
    const members = opts.etcdMembers ?? count;
    if (cluster && (!Number.isInteger(members) || members < 1 || members > count)) {
      rmdirSync(join(LAB_ROOT, name));
      throw invalid(`a cluster lab has 1 to ${count} etcd members, not ${members}`);
    }
    const state = newState(name, count, opts.detached ?? false, cluster);
    // Recorded before anything exists, so a crash from here on is cleanable.
    writeState(state);
    const lab = new Lab(state);
    try {
      buildTopology(state);
      if (cluster) await startEtcd(state, state.hosts.slice(0, members), () => lab.save());
    } catch (e) {
      await lab.destroy().catch(() => undefined);
      throw new BerthError('INTERNAL', `creating lab ${name}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    return lab;
  }

  /** Opens an existing lab by name (for `lab down`, `lab exec`, another process's lab). */
  static open(name: string): Lab {
    if (!NAME_RE.test(name)) throw invalid(`invalid lab name ${name}`);
    const state = readState(join(LAB_ROOT, name));
    if (!state) throw notFound(`no lab named ${name}`);
    return new Lab(state);
  }

  /** Every lab under LAB_ROOT. */
  static list(): LabSummary[] {
    return labDirNames().map((name) => {
      const s = readState(join(LAB_ROOT, name));
      return {
        name,
        hosts: s?.hosts.length ?? 0,
        daemons: (s?.daemons ?? []).filter((d) => isAlive(d.pid, d.start)).length,
        ownerPid: s?.owner?.pid ?? null,
        orphan: isOrphan(s),
        created: s?.created ?? '',
      };
    });
  }

  /** True when anything of lab `name` exists (its directory or a namespace). */
  static exists(name: string): boolean {
    return (
      NAME_RE.test(name) && (existsSync(join(LAB_ROOT, name)) || labNamespaces(name).length > 0)
    );
  }

  /** Removes lab `name` whatever state it is in; throws when something is left. */
  static async remove(name: string): Promise<void> {
    if (!NAME_RE.test(name)) throw invalid(`invalid lab name ${name}`);
    const { leftovers, errors } = await teardown(name, readState(join(LAB_ROOT, name)));
    if (leftovers.length > 0) {
      throw new BerthError(
        'INTERNAL',
        `lab ${name} teardown left: ${leftovers.join(', ')}` +
          (errors.length ? `\n  ${errors.join('\n  ')}` : ''),
      );
    }
  }

  /**
   * Removes orphaned labs: those whose owner process is gone (a killed test) or
   * whose state is unreadable. With `all`, removes every lab, including ones a
   * live process or `lab up` still uses. With `prefix`, only labs whose names
   * start with it (a test's own, while other tests' labs come and go).
   */
  static async clean(opts: { all?: boolean; prefix?: string } = {}): Promise<CleanResult> {
    const out: CleanResult = { removed: [], kept: [], failed: [] };
    for (const name of labDirNames()) {
      if (opts.prefix !== undefined && !name.startsWith(opts.prefix)) continue;
      const dir = join(LAB_ROOT, name);
      const s = readState(dir);
      // A lab being created has its directory a moment before its state file.
      const mtime = statSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? 0;
      const young = !s && Date.now() - mtime < 30_000;
      if (!opts.all && (young || !isOrphan(s))) {
        out.kept.push(name);
        continue;
      }
      const { leftovers } = await teardown(name, s);
      if (leftovers.length === 0) out.removed.push(name);
      else out.failed.push({ name, leftovers });
    }
    return out;
  }

  /** `clean()` that returns the removed names and throws if any lab could not be removed. */
  static async cleanAll(opts: { all?: boolean; prefix?: string } = {}): Promise<string[]> {
    const r = await Lab.clean(opts);
    if (r.failed.length > 0) {
      const what = r.failed.map((f) => `${f.name}: ${f.leftovers.join(', ')}`).join('; ');
      throw new BerthError('INTERNAL', `lab cleanup left: ${what}`);
    }
    return r.removed;
  }

  /** Finds a host by object, 1-based index, namespace name or `hN`. */
  host(ref: LabTarget): LabHost {
    if (typeof ref === 'object') return ref;
    const h =
      typeof ref === 'number'
        ? this.state.hosts[ref - 1]
        : this.state.hosts.find(
            (x) => x.name === ref || `h${x.index}` === ref || `host${x.index}` === ref,
          );
    if (!h) throw notFound(`lab ${this.name} has no host ${String(ref)}`);
    return h;
  }

  /** Namespace path of a target; 'world' (or 'w') names the world. */
  netns(target: LabTarget): string {
    if (target === 'world' || target === 'w' || target === this.world.name) return this.world.netns;
    return this.host(target).netns;
  }

  /** Runs argv to completion in the target's network namespace. */
  exec(target: LabTarget, argv: string[], opts: ExecOptions = {}): RunResult {
    return run(['nsenter', `--net=${this.netns(target)}`, '--', ...argv], {
      input: opts.input,
      env: { ...process.env, ...opts.env },
      timeout: opts.timeoutMs ?? 60_000,
    });
  }

  /**
   * Starts a long-running process in the target's network namespace (a world
   * server, a client). `destroy()` kills anything still in the lab's namespaces.
   */
  spawn(target: LabTarget, argv: string[], opts: LabSpawnOptions = {}): ChildProcess {
    return spawn(which('nsenter') ?? 'nsenter', [`--net=${this.netns(target)}`, '--', ...argv], {
      stdio: opts.stdio ?? 'pipe',
      env: { ...process.env, ...opts.env },
    });
  }

  /** True for a cluster lab (underlay switch, etcd members). */
  get cluster(): boolean {
    return this.state.cluster !== undefined;
  }

  /** Client URLs of the cluster lab's etcd members (empty in a plain lab). */
  etcdEndpoints(): string[] {
    return etcdEndpoints(this.state);
  }

  /** Kills the etcd member of each host given (a crash), for fault tests. */
  async stopEtcdMembers(hosts: LabTarget[]): Promise<void> {
    for (const t of hosts) {
      const h = this.host(t);
      const e = this.state.cluster?.etcd.find((m) => m.host === h.name);
      if (!e) throw notFound(`no etcd member in ${h.name}`);
      await stopProcess(e.pid, e.start, 'SIGKILL', 5000);
    }
  }

  /** Starts stopped members again and waits until every member is healthy. */
  async startEtcdMembers(hosts: LabTarget[], timeoutMs?: number): Promise<void> {
    const stopped = hosts.map((t) => this.host(t));
    await restartMembers(this.state, stopped, this.state.hosts, () => this.save(), timeoutMs);
  }

  /** Runs `etcdctl` (v3) in a host against every member; sync, like `exec`. */
  etcdctl(host: LabTarget, args: string[]): RunResult {
    return etcdctl(this.host(host), this.etcdEndpoints(), args);
  }

  /**
   * berthd's cluster flags for a host of a cluster lab, as the seed's S18:
   * `--cluster-store etcd://<every member> --cluster-advertise <host ip>:2375`.
   */
  clusterArgs(host: LabTarget): string[] {
    const h = this.host(host);
    const store = this.etcdEndpoints().map((u) => u.replace(/^http:\/\//, ''));
    if (store.length === 0) throw invalid(`lab ${this.name} is not a cluster lab`);
    return ['--cluster-store', `etcd://${store.join(',')}`, '--cluster-advertise', `${h.ip}:2375`];
  }

  /** Daemons started through this lab and not stopped through it. */
  daemons(): readonly DaemonRecord[] {
    return this.state.daemons;
  }

  /** Starts berthd (or opts.command) in a host and waits until GET /_ping answers. */
  async startDaemon(host: LabTarget, opts: StartDaemonOptions = {}): Promise<LabDaemon> {
    const h = this.host(host);
    const socket = opts.socket ?? join(h.dir, 'berth.sock');
    const running = this.state.daemons.find((d) => d.socket === socket && isAlive(d.pid, d.start));
    if (running) throw conflict(`a daemon (pid ${running.pid}) already serves ${socket}`);
    mkdirSync(opts.dataRoot ?? join(h.dir, 'data'), { recursive: true });
    mkdirSync(opts.execRoot ?? join(h.dir, 'run'), { recursive: true });
    return spawnDaemon(
      {
        host: h,
        dns: this.world.ip,
        record: (d) => {
          this.state.daemons.push(d);
          if (!this.state.execRoots.includes(d.execRoot)) this.state.execRoots.push(d.execRoot);
          this.save();
        },
        forget: (pid) => {
          this.state.daemons = this.state.daemons.filter((d) => d.pid !== pid);
          this.save();
        },
      },
      { ...opts, socket },
    );
  }

  /**
   * Removes everything: daemons, containers, monitors, processes in the lab's
   * namespaces, mounts, files, namespaces. Continues past errors, may be called
   * again; throws at the end when something could not be removed.
   */
  async destroy(): Promise<void> {
    await Lab.remove(this.name);
  }

  private save(): void {
    // After destroy() the directory is gone; recreating it would leak a state file.
    if (existsSync(this.dir)) writeState(this.state);
  }
}
