/**
 * A daemon process running inside a lab host. Started with `nsenter --net`
 * (which execs, so the PID we hold is the daemon's own) rather than
 * `ip netns exec`, which would remount /sys and hide the cgroups runc needs.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive, procStartTime, stopProcess, which } from './proc.js';
import type { DaemonRecord, LabHost } from './state.js';

/** A daemon started in a lab host. */
export interface LabDaemon {
  /** The daemon's PID (also the PID nsenter had). */
  readonly pid: number;
  /** Kernel start time of the process, to tell it from a recycled PID. */
  readonly start: number;
  /** Path of the API's unix socket. */
  readonly socket: string;
  /** The daemon's --data-root. */
  readonly dataRoot: string;
  /** The daemon's --exec-root. */
  readonly execRoot: string;
  /** File receiving the daemon's stdout and stderr. */
  readonly log: string;
  /** The host it runs in. */
  readonly host: LabHost;
  /** Environment for clients (docker CLI, dockerode, berth) to reach this daemon. */
  readonly env: { DOCKER_HOST: string };
  /** True while the process runs. */
  alive(): boolean;
  /** The last `lines` lines of the daemon's log. */
  logTail(lines?: number): string;
  /** Sends `signal` (SIGTERM by default), waits, and SIGKILLs after timeoutMs. */
  stop(signal?: 'SIGTERM' | 'SIGKILL', timeoutMs?: number): Promise<void>;
}

/** How to start a daemon in a host. */
export interface StartDaemonOptions {
  /** Extra daemon flags, appended after the lab's own. */
  args?: string[];
  /** Extra environment, merged over this process's. */
  env?: NodeJS.ProcessEnv;
  /** Data root; default `<hostdir>/data`. */
  dataRoot?: string;
  /** Exec root; default `<hostdir>/run`. */
  execRoot?: string;
  /** Socket path; default `<hostdir>/berth.sock`. */
  socket?: string;
  /** Program (argv prefix) to run instead of `<repo>/bin/berthd`; the lab's flags follow it. */
  command?: string[];
  /** How long to wait for `GET /_ping` to answer; default 10 s. */
  timeoutMs?: number;
}

/** Everything a caller of spawnDaemon must provide besides the options. */
export interface DaemonSpawn {
  /** Host to run in. */
  host: LabHost;
  /** Upstream DNS server passed to the daemon (the world's address). */
  dns: string;
  /** Records the daemon in the lab's state (before readiness is awaited). */
  record(d: DaemonRecord): void;
  /** Drops the record once the daemon is known to be gone. */
  forget(pid: number): void;
}

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'berth') return dir;
    } catch {
      // not here
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the berth repository root');
    dir = up;
  }
}

/** argv prefix that runs `<repo>/bin/berthd` with the same node as this process. */
export function berthdCommand(): string[] {
  const bin = join(repoRoot(), 'bin', 'berthd');
  let firstLine = '';
  try {
    firstLine = readFileSync(bin, 'utf8').split('\n', 1)[0] ?? '';
  } catch {
    throw new Error(`${bin} does not exist (build the daemon, or pass command)`);
  }
  return /^#!.*\bnode\b/.test(firstLine) ? [process.execPath, bin] : [bin];
}

/** One `GET /_ping` over the unix socket; resolves true on HTTP 200. */
export function ping(socket: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', method: 'GET' }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.setTimeout(timeoutMs, () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

class RunningDaemon implements LabDaemon {
  readonly env: { DOCKER_HOST: string };
  constructor(
    readonly rec: DaemonRecord,
    readonly host: LabHost,
    private readonly forget: (pid: number) => void,
  ) {
    this.env = { DOCKER_HOST: `unix://${rec.socket}` };
  }
  get pid(): number {
    return this.rec.pid;
  }
  get start(): number {
    return this.rec.start;
  }
  get socket(): string {
    return this.rec.socket;
  }
  get dataRoot(): string {
    return this.rec.dataRoot;
  }
  get execRoot(): string {
    return this.rec.execRoot;
  }
  get log(): string {
    return this.rec.log;
  }
  alive(): boolean {
    return isAlive(this.pid, this.start);
  }
  logTail(lines = 30): string {
    return tail(this.log, lines);
  }
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    if (!(await stopProcess(this.pid, this.start, signal, timeoutMs))) {
      throw new Error(`daemon ${this.pid} in ${this.host.name} did not exit`);
    }
    this.forget(this.pid);
  }
}

/** Starts a daemon in a host and waits until its API answers. */
export async function spawnDaemon(s: DaemonSpawn, opts: StartDaemonOptions): Promise<LabDaemon> {
  const { host } = s;
  const socket = opts.socket ?? join(host.dir, 'berth.sock');
  const dataRoot = opts.dataRoot ?? join(host.dir, 'data');
  const execRoot = opts.execRoot ?? join(host.dir, 'run');
  const log = join(host.dir, 'berthd.log');
  // A socket file left by a killed daemon would make the new one fail to bind.
  if (existsSync(socket) && !(await ping(socket, 300))) unlinkSync(socket);
  const argv = [
    ...(opts.command ?? berthdCommand()),
    ...['-H', `unix://${socket}`, '--data-root', dataRoot, '--exec-root', execRoot],
    ...['--dns', s.dns, '--log-level', 'debug'],
    // Lab daemons are stopped, killed and restarted under running containers
    // (the crash and restart tests): berthd's are live-restore ones unless
    // the args say otherwise (a later --live-restore=false wins).
    ...(opts.command ? [] : ['--live-restore']),
    ...(opts.args ?? []),
  ];
  const nsenter = which('nsenter') ?? 'nsenter';
  const fd = openSync(log, 'a');
  const child = spawn(nsenter, [`--net=${host.netns}`, '--', ...argv], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...opts.env },
  });
  closeSync(fd);
  const pid = child.pid;
  const start = pid === undefined ? undefined : procStartTime(pid);
  child.unref();
  if (pid === undefined || start === undefined) {
    throw new Error(`daemon in ${host.name} did not start: ${argv.join(' ')}\n${tail(log, 30)}`);
  }
  const rec: DaemonRecord = { pid, start, host: host.name, socket, dataRoot, execRoot, log };
  s.record(rec);
  const daemon = new RunningDaemon(rec, host, s.forget);

  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    if (await ping(socket, 500)) return daemon;
    const exited = !daemon.alive();
    if (exited || Date.now() >= deadline) {
      await stopProcess(pid, start, 'SIGKILL');
      s.forget(pid);
      const why = exited ? 'exited' : `did not answer GET /_ping on ${socket} in time`;
      throw new Error(`daemon in ${host.name} ${why}; last log lines:\n${tail(log, 30)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
