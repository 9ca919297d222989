/**
 * The reference engine: Debian's dockerd 20.10 run inside a lab host's network
 * namespace (`nsenter --net`, never `ip netns exec`, which remounts /sys and
 * hides the cgroups dockerd needs). Everything it owns lives under the host's
 * lab directory; the few things dockerd and containerd put at fixed machine
 * paths (see FIXED_PATHS) and its cgroup parent are removed again by stop().
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmdirSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { ping } from '../../src/lab/daemon.js';
import type { Lab, LabHost } from '../../src/lab/lab.js';
import { isAlive, pidsWithCmdline, procStartTime, stopProcess } from '../../src/lab/proc.js';
import { mountsUnder } from '../../src/lab/teardown.js';
import { FIXED_PATHS } from './machine.js';

/** A running reference dockerd. */
export interface RefDockerd {
  /** dockerd's PID (nsenter execs, so it is the PID we spawned). */
  pid: number;
  /** Kernel start time of that PID, so a recycled PID is never signalled. */
  start: number;
  /** API socket path. */
  socket: string;
  /** --data-root. */
  dataRoot: string;
  /** --exec-root (containerd, runc state, netns files). */
  execRoot: string;
  /** dockerd's (and its containerd's) output. */
  log: string;
  /** Absolute cgroup parent given to containers, removed by stop(). */
  cgroupParent: string;
  /** Environment for the docker CLI. */
  env: { DOCKER_HOST: string };
}

/** What stop() found and did; `problems` empty means it left nothing behind. */
export interface StopReport {
  /** How dockerd ended: 'SIGTERM', 'SIGKILL' or 'not running'. */
  stoppedBy: string;
  /** What had to be killed or deleted after dockerd had gone (containerd, shims, containers, runc state). */
  killed: string[];
  /** Mounts still under the host's directory after dockerd exited (the lab unmounts them). */
  mountsAfterExit: string[];
  /** Fixed machine paths this run created and stop() removed. */
  removedPaths: string[];
  /** Things that could not be cleaned up. */
  problems: string[];
}

/** Options of startRefDockerd. */
export interface RefDockerdOptions {
  /** DNS server given to containers (a lab address, so no query leaves the lab). */
  dns: string;
  /** Fixed machine paths that existed before the run (left alone by stop()). */
  preexisting: string[];
  /** Further dockerd flags (e.g. `--userland-proxy=false`). */
  args?: string[];
  /**
   * Run dockerd in a UTS namespace of its own with this hostname (`unshare
   * --uts`): two dockerds of one machine in cluster-store mode otherwise share
   * the machine's hostname, and the overlay driver's gossip takes them for one
   * node.
   */
  hostname?: string;
  /** How long to wait for GET /_ping; default 60 s. */
  timeoutMs?: number;
  /** Called as soon as the process exists, so a failed start can still be cleaned up. */
  spawned?: (d: RefDockerd) => void;
}

function netnsInode(path: string): number {
  return statSync(path).ino;
}

function procNetnsInode(pid: number): number | undefined {
  const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/net`));
  return m?.[1] ? Number(m[1]) : undefined;
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts dockerd in `host` and resolves once `docker info` answers. */
export async function startRefDockerd(
  lab: Lab,
  host: LabHost,
  opts: RefDockerdOptions,
): Promise<RefDockerd> {
  const dataRoot = join(host.dir, 'docker');
  const execRoot = join(host.dir, 'docker-run');
  const socket = join(host.dir, 'docker.sock');
  const log = join(host.dir, 'dockerd.log');
  const configFile = join(host.dir, 'daemon.json');
  // One per host, so stopping one of several dockerds leaves the others' containers alone.
  const cgroupParent = `/${host.name}-docker`;
  // 20.10 writes its identity key to /etc/docker/key.json unless told otherwise,
  // and only daemon.json (not a flag) can say otherwise.
  writeFileSync(
    configFile,
    JSON.stringify({ 'deprecated-key-path': join(host.dir, 'docker-key.json') }) + '\n',
  );
  const argv = [
    'dockerd',
    ...['--data-root', dataRoot, '--exec-root', execRoot],
    ...['-H', `unix://${socket}`, '--pidfile', join(host.dir, 'docker.pid')],
    ...['--config-file', configFile, '--dns', opts.dns, '--cgroup-parent', cgroupParent],
    ...(opts.args ?? []),
  ];
  // The lab's teardown kills and deletes the containers it finds with
  // `runc --root <hostdir>/run/runc`; pointing that at dockerd's runc root lets
  // `berth lab clean` stop Docker's containers too if this process is killed.
  mkdirSync(join(host.dir, 'run'), { recursive: true });
  symlinkSync(join(execRoot, 'runtime-runc', 'moby'), join(host.dir, 'run', 'runc'));
  const fd = openSync(log, 'a');
  // unshare (no --fork) and sh both exec, so the PID spawned is still dockerd's.
  const uts =
    opts.hostname === undefined
      ? []
      : ['unshare', '--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', opts.hostname];
  const child = lab.spawn(host, [...uts, ...argv], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const pid = child.pid;
  const start = pid === undefined ? undefined : procStartTime(pid);
  child.unref();
  if (pid === undefined || start === undefined) {
    throw new Error(`dockerd did not start in ${host.name}:\n${tail(log)}`);
  }
  const d: RefDockerd = {
    pid,
    start,
    socket,
    dataRoot,
    execRoot,
    log,
    cgroupParent,
    env: { DOCKER_HOST: `unix://${socket}` },
  };
  opts.spawned?.(d);
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  while (!(await ping(socket, 500))) {
    if (!isAlive(pid, start) || Date.now() >= deadline) {
      await stopProcess(pid, start, 'SIGKILL');
      const why = isAlive(pid, start) ? 'did not answer in time' : 'exited';
      throw new Error(`dockerd in ${host.name} ${why}; its log ends:\n${tail(log)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // Belt and braces for the machine-safety rule: the daemon must not be in the
  // machine's own network namespace.
  if (procNetnsInode(pid) !== netnsInode(host.netns)) {
    await stopProcess(pid, start, 'SIGKILL');
    throw new Error(`dockerd ${pid} is not in ${host.netns}; killed it`);
  }
  return d;
}

/** Runs the stock docker CLI against `d`; never throws. */
export function dockerAt(
  d: { env: { DOCKER_HOST: string } },
  cliConfig: string,
  args: string[],
  timeout = 60_000,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('docker', args, {
    encoding: 'utf8',
    timeout,
    env: { ...process.env, DOCKER_HOST: d.env.DOCKER_HOST, DOCKER_CONFIG: cliConfig },
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ?? '') };
}

/** Every directory below `dir`, deepest first. */
function subdirsDeepestFirst(dir: string): string[] {
  const out: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return out;
  }
  for (const e of entries) out.push(...subdirsDeepestFirst(join(dir, e)), join(dir, e));
  return out;
}

/** The controller hierarchies mounted under /sys/fs/cgroup (v1 and the v2 `unified`). */
function cgroupRoots(): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2')
    .map((f) => f[1] as string);
}

/** PIDs in any cgroup at or below the parent (container processes dockerd left). */
function pidsInCgroups(parent: string): number[] {
  const pids = new Set<number>();
  for (const root of cgroupRoots()) {
    const top = join(root, parent);
    for (const dir of [top, ...subdirsDeepestFirst(top)]) {
      try {
        for (const p of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) {
          if (/^\d+$/.test(p)) pids.add(Number(p));
        }
      } catch {
        // not there
      }
    }
  }
  return [...pids];
}

async function kill(pid: number, why: string, report: StopReport): Promise<void> {
  const start = procStartTime(pid);
  if (start === undefined || pid === process.pid) return;
  report.killed.push(`${pid} (${why})`);
  if (!(await stopProcess(pid, start, 'SIGKILL'))) report.problems.push(`pid ${pid} survived`);
}

/**
 * Ends dockerd alone (SIGTERM, SIGKILL after 15 s) and says how. When several
 * run, all are ended this way before any is cleaned up after (stopRefDockerd),
 * so the fixed machine paths they share are removed only once all are gone.
 */
export async function terminateRefDockerd(d: RefDockerd, problems: string[]): Promise<string> {
  if (!isAlive(d.pid, d.start)) return 'not running';
  try {
    process.kill(d.pid, 'SIGTERM');
  } catch {
    // exited meanwhile
  }
  const deadline = Date.now() + 15_000;
  while (isAlive(d.pid, d.start) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!isAlive(d.pid, d.start)) return 'SIGTERM';
  if (!(await stopProcess(d.pid, d.start, 'SIGKILL')))
    problems.push(`dockerd ${d.pid} survived SIGKILL`);
  return 'SIGKILL';
}

/**
 * Stops dockerd (SIGTERM, SIGKILL after 15 s), then makes sure nothing of it
 * survives: containerd, shims, container processes, runc state, its cgroup
 * parent and the fixed machine paths the run created.
 */
export async function stopRefDockerd(
  d: RefDockerd,
  preexisting: string[],
  stoppedBy?: string,
): Promise<StopReport> {
  const report: StopReport = {
    stoppedBy: stoppedBy ?? 'not running',
    killed: [],
    mountsAfterExit: [],
    removedPaths: [],
    problems: [],
  };
  if (isAlive(d.pid, d.start)) report.stoppedBy = await terminateRefDockerd(d, report.problems);
  // containerd and the shims name the exec root on their command lines; the
  // shims re-parent to init, so they are found by that, not by ancestry.
  // dockerd stops its containerd on the way out; give it a moment to go.
  await new Promise((r) => setTimeout(r, 200));
  for (const p of pidsWithCmdline(d.execRoot + '/')) await kill(p, 'names the exec root', report);
  for (const p of pidsInCgroups(d.cgroupParent)) await kill(p, 'container process', report);
  const runcRoot = join(d.execRoot, 'runtime-runc', 'moby');
  if (existsSync(runcRoot)) {
    const ls = spawnSync('runc', ['--root', runcRoot, 'list', '-q'], { encoding: 'utf8' });
    for (const id of (ls.stdout ?? '').split('\n').filter(Boolean)) {
      const del = spawnSync('runc', ['--root', runcRoot, 'delete', '-f', id], { encoding: 'utf8' });
      if (del.status === 0) report.killed.push(`runc state of ${id.slice(0, 12)} (deleted)`);
      else report.problems.push(`runc delete ${id}: ${(del.stderr ?? '').trim()}`);
    }
  }
  report.mountsAfterExit = mountsUnder(join(d.dataRoot, '..'));
  for (const root of cgroupRoots()) {
    const top = join(root, d.cgroupParent);
    if (!existsSync(top)) continue;
    for (const dir of [...subdirsDeepestFirst(top), top]) {
      try {
        rmdirSync(dir);
      } catch (e) {
        report.problems.push(`rmdir ${dir}: ${(e as Error).message}`);
      }
    }
  }
  removeShimSockets(d, report);
  removeContainerdStackDumps(d, report);
  // FIXED_PATHS lists children before parents, so empty parents go too.
  for (const p of FIXED_PATHS) {
    if (preexisting.includes(p) || !existsSync(p)) continue;
    try {
      if (statSync(p).isDirectory()) rmdirSync(p);
      else unlinkSync(p);
      report.removedPaths.push(p);
    } catch (e) {
      report.problems.push(`removing ${p}: ${(e as Error).message}`);
    }
  }
  return report;
}

/**
 * A shim killed before it could clean up leaves its socket in /run/containerd/s,
 * named (containerd 1.6) sha256(<containerd address>/<namespace>/<container id>).
 * The ids come from dockerd's container dirs and containerd's task bundles.
 */
function removeShimSockets(d: RefDockerd, report: StopReport): void {
  const ls = (dir: string) => {
    try {
      return readdirSync(dir).filter((n) => /^[0-9a-f]{64}$/.test(n));
    } catch {
      return [];
    }
  };
  const address = join(d.execRoot, 'containerd', 'containerd.sock');
  const ids = new Set([
    ...ls(join(d.dataRoot, 'containers')),
    ...ls(join(d.execRoot, 'containerd', 'daemon', 'io.containerd.runtime.v2.task', 'moby')),
  ]);
  for (const id of ids) {
    const hash = createHash('sha256')
      .update(join(address, 'moby', id))
      .digest('hex');
    const sock = join('/run/containerd/s', hash);
    try {
      if (!statSync(sock).isSocket()) continue;
      unlinkSync(sock);
      report.removedPaths.push(sock);
    } catch {
      // not there: the shim removed it itself
    }
  }
}

/**
 * When dockerd restarts its containerd ("failed connecting to containerd"),
 * containerd writes a goroutine dump to /tmp/containerd.PID.stacks.log and the
 * log names it: this run made it, so it goes.
 */
function removeContainerdStackDumps(d: RefDockerd, report: StopReport): void {
  let log = '';
  try {
    log = readFileSync(d.log, 'utf8');
  } catch {
    return;
  }
  const dumps = new Set(log.match(/\/tmp\/containerd\.\d+\.stacks\.log/g) ?? []);
  for (const f of dumps) {
    try {
      unlinkSync(f);
      report.removedPaths.push(f);
    } catch {
      // already gone
    }
  }
}
