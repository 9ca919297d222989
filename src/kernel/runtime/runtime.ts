/**
 * The OCI runtime (runc, or crun where it works) and berth-shim, the monitor
 * process that owns each container process so it outlives the daemon.
 * Protocol of the shim: native/shim.c.
 *
 * Size: the runtime's calls and the shim's client side (connect, wait,
 * exit record, resize) share paths and error mapping; the shim client is
 * the next to move out, to shim.ts.
 */
import { spawn } from 'node:child_process';
import { connect, Socket } from 'node:net';
import {
  closeSync,
  constants as fsConstants,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  rmdirSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { run } from '../process/run.js';

/** Where the shim binary is built (`make -C native`). */
export const SHIM_PATH = fileURLToPath(
  new URL('../../../../native/build/berth-shim', import.meta.url),
);

export interface LaunchOptions {
  /** json-file log to write the process's output to (none for execs). */
  log?: string;
  /** Allocate a pseudo-terminal. */
  tty?: boolean;
  /** Keep stdin open for attached clients. */
  stdin?: boolean;
  /** Close the process's stdin when the first attached client closes its input. */
  stdinOnce?: boolean;
  /** Wait for one attach client before the process starts (no output is lost). */
  waitAttach?: boolean;
}

/** What execCapture saw of a process run to its end. */
export interface CapturedExec {
  /** The process's exit code (runc's own when the process never started). */
  code: number;
  /** Its stdout and stderr as they came, up to the limit. */
  output: Buffer;
  /** Output was dropped past the limit. */
  truncated: boolean;
  timedOut: boolean;
  /** Whether runc started the process at all. */
  started: boolean;
}

export interface ExitStatus {
  /** Exit code (128 + signal when killed). */
  code: number;
  /** When the process ended. */
  finishedAt: Date;
}

/** The part of runc's state.json Berth reads. */
interface RuncState {
  init_process_pid: number;
  /** Start time of the init process (field 22 of /proc/PID/stat). */
  init_process_start: number;
  cgroup_paths?: Record<string, string>;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks), or -1 if there is no such process. */
export function processStartTime(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return -1;
  }
}

export class RuntimeError extends Error {
  constructor(
    message: string,
    /** What the runtime itself printed, if anything. */
    readonly detail: string,
  ) {
    super(message);
  }
}

/** Finds an executable on PATH (plus the sbin dirs a root daemon expects). */
export function which(name: string): string | undefined {
  if (name.includes('/')) return existsSync(name) ? name : undefined;
  const dirs = (process.env.PATH ?? '')
    .split(':')
    .concat(['/usr/local/sbin', '/usr/sbin', '/sbin']);
  for (const d of dirs) {
    const p = join(d, name);
    if (d && existsSync(p)) return p;
  }
  return undefined;
}

/** True on a hybrid cgroup layout (v1 controllers + a v2 mount), which crun refuses. */
function hybridCgroups(): boolean {
  return existsSync('/sys/fs/cgroup/unified') && !existsSync('/sys/fs/cgroup/cgroup.controllers');
}

/** Picks the runtime: the requested one, else runc, else crun where it works. */
export function chooseRuntime(requested?: string): string {
  if (requested) {
    const p = which(requested);
    if (!p) throw new Error(`runtime ${requested} not found`);
    if (requested.endsWith('crun') && hybridCgroups()) {
      throw new Error(
        'crun does not support hybrid cgroups (cgroups in hybrid mode not supported); use --runtime runc',
      );
    }
    return p;
  }
  const runc = which('runc');
  if (runc) return runc;
  const crun = which('crun');
  if (crun && !hybridCgroups()) return crun;
  throw new Error('no OCI runtime found: install runc');
}

export class Runtime {
  constructor(
    /** Path of the runc/crun binary. */
    readonly binary: string,
    /** The runtime's state directory (`--root`). */
    readonly root: string,
  ) {}

  private base(): string[] {
    return [this.binary, '--root', this.root];
  }

  /**
   * Creates the container whose bundle is `bundle` (`runc create`), under a
   * shim using `stateDir`: its namespaces, cgroups, mounts and seccomp filter
   * are in place and its process waits to be let run by `start`. Resolves to
   * that process's PID.
   */
  createContainer(id: string, bundle: string, stateDir: string, o: LaunchOptions): Promise<number> {
    const args = [
      ...this.base(),
      'create',
      '--pid-file',
      join(stateDir, 'pid'),
      '--bundle',
      bundle,
    ];
    if (o.tty) args.push('--console-socket', join(stateDir, 'console.sock'));
    args.push(id);
    return this.launch(stateDir, args, o);
  }

  /**
   * Lets a created container's process (PID `pid`) run its command, as
   * `runc start` does without the cost of another runc process: runc's init
   * waits to write to the container's exec FIFO; reading it to its end lets
   * the process exec, and removing it marks the container running. A
   * process that died before it could be let run is an error. Other
   * runtimes are asked with their own `start`.
   */
  async start(id: string, pid: number): Promise<void> {
    if (!this.binary.endsWith('runc')) {
      const r = await run([...this.base(), 'start', id]);
      if (r.code !== 0) {
        throw new RuntimeError(`cannot start container: ${runtimeMessage(r.stderr)}`, r.stderr);
      }
      return;
    }
    const fifo = join(this.root, id, 'exec.fifo');
    let fd: number;
    try {
      // Non-blocking: the open never waits, also for a process already gone.
      fd = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    } catch (e) {
      throw new RuntimeError(`cannot start container: exec fifo: ${(e as Error).message}`, '');
    }
    const got = await readToEnd(fd, () => !processGone(pid));
    // A writer that left without a word was killed in its open or before
    // its write (runc's init writes before anything else can end it): its
    // process is on its way out, so give it a moment to be seen gone.
    if (got === 'dead' || (got === 0 && (await goneWithin(pid, 500)))) {
      throw new RuntimeError('container process is already dead', '');
    }
    if (got === 0) throw new RuntimeError('cannot start an already running container', '');
    rmSync(fifo, { force: true });
  }

  /** Starts an extra process (described by an OCI process JSON file) in a running container. */
  exec(id: string, processFile: string, stateDir: string, o: LaunchOptions): Promise<number> {
    const args = [
      ...this.base(),
      'exec',
      '-d',
      '--pid-file',
      join(stateDir, 'pid'),
      '--process',
      processFile,
    ];
    if (o.tty) args.push('--console-socket', join(stateDir, 'console.sock'));
    args.push(id);
    return this.launch(stateDir, args, o);
  }

  /**
   * Runs a process (an OCI process JSON file) in a running container to its
   * end without a shim, as a healthcheck probe does: stdout and stderr
   * together, kept up to `maxOutput` bytes. After `timeoutMs` the process is
   * killed (SIGKILL, by the PID runc records) and `timedOut` is set. A process
   * that never started (no such executable) answers `started: false` with
   * runc's message as its output.
   */
  execCapture(
    id: string,
    processFile: string,
    stateDir: string,
    o: { timeoutMs: number; maxOutput: number },
  ): Promise<CapturedExec> {
    const pidFile = join(stateDir, 'probe.pid');
    rmSync(pidFile, { force: true });
    const child = spawn(
      this.binary,
      ['--root', this.root, 'exec', '--pid-file', pidFile, '--process', processFile, id],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const kept: Buffer[] = [];
    let size = 0;
    let truncated = false;
    const keep = (d: Buffer) => {
      const room = o.maxOutput - size;
      if (room > 0) kept.push(d.subarray(0, room));
      size += Math.min(room > 0 ? room : 0, d.length);
      if (d.length > room) truncated = true;
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      const pid = Number(readFileSyncSafe(pidFile).trim());
      if (pid > 0) killProcess(pid, undefined, 'SIGKILL');
      // runc too: it may wait on what the probe left behind.
      child.kill('SIGKILL');
    }, o.timeoutMs);
    return new Promise((resolve) => {
      child.on('error', (e) => {
        clearTimeout(timer);
        resolve({ code: -1, output: Buffer.from(e.message), truncated, timedOut, started: false });
      });
      // On runc's exit, not on its pipes' close: a process the probe left in
      // the background (`sleep 1000 &`) holds them open for as long as it
      // lives. What it writes within a moment is kept; then the pipes go.
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        let settled = false;
        const done = () => {
          if (settled) return;
          settled = true;
          child.stdout.destroy();
          child.stderr.destroy();
          const started = readFileSyncSafe(pidFile).trim() !== '';
          rmSync(pidFile, { force: true });
          resolve({
            code: code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0),
            output: Buffer.concat(kept),
            truncated,
            timedOut,
            started,
          });
        };
        const grace = setTimeout(done, 100);
        child.once('close', () => {
          clearTimeout(grace);
          done();
        });
      });
    });
  }

  /** Spawns the shim detached (its own session) and waits for its launch report. */
  private launch(stateDir: string, runtimeArgs: string[], o: LaunchOptions): Promise<number> {
    const shimArgs = ['--state-dir', stateDir];
    if (o.log) shimArgs.push('--log', o.log);
    if (o.tty) shimArgs.push('--tty');
    if (o.stdin) shimArgs.push('--stdin');
    if (o.stdinOnce) shimArgs.push('--stdin-once');
    if (o.waitAttach) shimArgs.push('--wait-attach');
    const errFd = openSync(join(stateDir, 'shim.log'), 'a');
    const child = spawn(SHIM_PATH, [...shimArgs, '--', ...runtimeArgs], {
      detached: true,
      stdio: ['ignore', 'pipe', errFd],
    });
    closeSync(errFd);
    return new Promise((resolve, reject) => {
      let out = '';
      const done = (line: string) => {
        child.stdout?.removeAllListeners();
        child.stdout?.destroy();
        child.unref();
        const m = /^ok (\d+)/.exec(line);
        if (m) return resolve(Number(m[1]));
        let detail = '';
        try {
          detail = readFileSync(join(stateDir, 'runtime-error'), 'utf8');
        } catch {
          detail = readFileSyncSafe(join(stateDir, 'shim.log'));
        }
        reject(
          new RuntimeError(runtimeMessage(detail) || line || 'the shim failed to start', detail),
        );
      };
      child.on('error', (e) => reject(new RuntimeError(`cannot start shim: ${e.message}`, '')));
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (d: string) => {
        out += d;
        const nl = out.indexOf('\n');
        if (nl >= 0) done(out.slice(0, nl));
      });
      child.stdout?.on('end', () => {
        if (!out.includes('\n')) done(out);
      });
    });
  }

  /** runc's record of a container (its state.json), when the runtime is runc. */
  private runcState(id: string): RuncState | undefined {
    if (!this.binary.endsWith('runc')) return undefined;
    try {
      return JSON.parse(readFileSync(join(this.root, id, 'state.json'), 'utf8')) as RuncState;
    } catch {
      return undefined;
    }
  }

  /**
   * Sends a signal to the container's init process. With runc the signal is
   * sent directly (no runc process: this is on the path of every stop and
   * rm -f), after checking the PID still names the process runc started.
   * Killing init ends every process of the container's PID namespace.
   */
  async kill(id: string, signal: string, all = false): Promise<void> {
    const st = this.runcState(id);
    if (st && !all) {
      if (processStartTime(st.init_process_pid) !== st.init_process_start) return; // already gone
      try {
        process.kill(st.init_process_pid, signalNumber(signal));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
      }
      return;
    }
    const args = [...this.base(), 'kill'];
    if (all) args.push('--all');
    const r = await run([...args, id, signal]);
    if (
      r.code !== 0 &&
      !/not running|does not exist|no such process|container not running/i.test(r.stderr)
    ) {
      throw new RuntimeError(`cannot kill container: ${runtimeMessage(r.stderr)}`, r.stderr);
    }
  }

  /**
   * Removes the runtime's record (and cgroups) of a stopped container; missing
   * is fine. With runc and a dead init this is done in-process (what `runc
   * delete` does then: remove the cgroup directories and the state directory);
   * anything else goes through `runc delete --force`.
   */
  async delete(id: string): Promise<void> {
    if (this.binary.endsWith('runc') && !existsSync(join(this.root, id))) return; // nothing to delete
    const st = this.runcState(id);
    if (st && processStartTime(st.init_process_pid) !== st.init_process_start) {
      try {
        for (const p of Object.values(st.cgroup_paths ?? {})) {
          try {
            rmdirSync(p);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
          }
        }
        rmSync(join(this.root, id), { recursive: true, force: true });
        return;
      } catch {
        // fall through to runc
      }
    }
    const r = await run([...this.base(), 'delete', '--force', id]);
    if (r.code !== 0 && !/does not exist|not found/i.test(r.stderr)) {
      throw new RuntimeError(`cannot delete container: ${runtimeMessage(r.stderr)}`, r.stderr);
    }
  }

  /**
   * Changes a running container's cgroup limits (`runc update`): `resources`
   * is an OCI linux.resources object.
   */
  async update(id: string, resources: object): Promise<void> {
    const r = await run([...this.base(), 'update', '--resources', '-', id], {
      input: JSON.stringify(resources),
    });
    if (r.code !== 0) {
      throw new RuntimeError(runtimeMessage(r.stderr) || 'runc update failed', r.stderr);
    }
  }

  /**
   * Freezes every process of the container (`runc pause`: the cgroup
   * freezer, FROZEN in freezer.state on cgroup v1) or thaws them again.
   */
  async pause(id: string): Promise<void> {
    await this.simple('pause', id);
  }
  async resume(id: string): Promise<void> {
    await this.simple('resume', id);
  }

  private async simple(verb: string, id: string): Promise<void> {
    const r = await run([...this.base(), verb, id]);
    if (r.code !== 0) {
      throw new RuntimeError(`cannot ${verb} container: ${runtimeMessage(r.stderr)}`, r.stderr);
    }
  }

  /**
   * The cgroup directories runc made for the container, by controller
   * (`memory`, `cpuacct`, `pids`...; `""` is the cgroup v2 one), read from
   * runc's state.json; undefined when the runtime keeps none.
   */
  cgroupPaths(id: string): Record<string, string> | undefined {
    return this.runcState(id)?.cgroup_paths;
  }

  /** The runtime's version (first line of `runc --version`, without the name). */
  async version(): Promise<string> {
    const r = await run([this.binary, '--version']);
    return (r.stdout.split('\n')[0] ?? '').replace(/^\S+ version /, '') || 'unknown';
  }

  /** IDs of every container the runtime knows in its root. */
  async list(): Promise<string[]> {
    const r = await run([...this.base(), 'list', '-q']);
    return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : [];
  }

  /** The runtime's view of a container, or undefined if it has none. */
  async state(id: string): Promise<{ status: string; pid: number } | undefined> {
    const r = await run([...this.base(), 'state', id]);
    if (r.code !== 0) return undefined;
    const s = JSON.parse(r.stdout) as { status: string; pid: number };
    return { status: s.status, pid: s.pid };
  }
}

/**
 * A signal as Docker spells it (`SIGUSR1`, `USR1`, `usr1`, `10`,
 * `RTMIN+3`) as its number on this machine (Node's process.kill knows
 * only the `SIG` names).
 */
export function signalNumber(signal: string): number {
  if (/^\d+$/.test(signal)) return Number(signal);
  const name = signal.toUpperCase().replace(/^SIG/, '');
  const rt = /^RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const base = rt[1] === 'MIN' ? 34 : 64;
    const off = rt[3] ? Number(rt[3]) * (rt[2] === '-' ? -1 : 1) : 0;
    return base + off;
  }
  const n = (osConstants.signals as Record<string, number | undefined>)[`SIG${name}`];
  if (n === undefined) throw new RuntimeError(`invalid signal: ${signal}`, '');
  return n;
}

function readFileSyncSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/** The human part of runc's output: the `msg=` of its last error line, or the last line. */
export function runtimeMessage(text: string): string {
  const lines = text.trim().split('\n').filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /level=error msg="((?:[^"\\]|\\.)*)"/.exec(lines[i] ?? '');
    if (m?.[1]) return m[1].replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  }
  return lines[lines.length - 1] ?? '';
}

/** Opens a connection to a shim's attach socket and sends one command line. */
export async function shimConnect(stateDir: string, line: string, retryMs = 0): Promise<Socket> {
  const end = Date.now() + retryMs;
  for (;;) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = connect(join(stateDir, 'attach.sock'));
        s.once('connect', () => {
          s.write(line + '\n');
          resolve(s);
        });
        s.once('error', reject);
      });
    } catch (e) {
      // A shim just started may have bound its socket but not yet listen()ed.
      const code = (e as NodeJS.ErrnoException).code;
      if (Date.now() >= end || (code !== 'ECONNREFUSED' && code !== 'ENOENT')) throw e;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/** Reads the exit record the shim leaves behind, if any. */
export async function readExit(stateDir: string): Promise<ExitStatus | undefined> {
  try {
    const m = /^(\d+) (\d+)$/.exec((await readFile(join(stateDir, 'exit'), 'utf8')).trim());
    if (!m) return undefined; // torn by a machine crash: treated as lost
    return { code: Number(m[1]), finishedAt: new Date(Number(BigInt(m[2]!) / 1000000n)) };
  } catch {
    return undefined;
  }
}

/**
 * Resolves when the process under the shim at `stateDir` exits. If the shim is
 * already gone, the exit file answers; if neither exists the process was lost
 * (the shim was killed): undefined.
 */
export async function waitExit(stateDir: string): Promise<ExitStatus | undefined> {
  let sock: Socket;
  try {
    sock = await shimConnect(stateDir, 'wait');
  } catch {
    return readExit(stateDir);
  }
  return new Promise((resolve) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (buf += d));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      void readExit(stateDir).then((e) => {
        if (e) return resolve(e);
        const m = /exit (\d+)/.exec(buf);
        resolve(m ? { code: Number(m[1]), finishedAt: new Date() } : undefined);
      });
    });
  });
}

/** Resizes the pseudo-terminal of the process under the shim. */
export async function shimResize(stateDir: string, h: number, w: number): Promise<void> {
  const s = await shimConnect(stateDir, `resize ${h} ${w}`);
  await new Promise<void>((resolve) => {
    s.on('data', () => undefined);
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

/**
 * Sends `signal` to a process, if `pid` still names the process that started
 * at `startTime` (when given); a process already gone is fine.
 */
export function killProcess(
  pid: number,
  startTime: number | undefined,
  signal: NodeJS.Signals,
): void {
  if (startTime !== undefined && processStartTime(pid) !== startTime) return;
  try {
    process.kill(pid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** Whether `pid` names no process, or one that has ended (a zombie). */
function processGone(pid: number): boolean {
  const stat = readFileSyncSafe(`/proc/${pid}/stat`);
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === '' || state === 'Z' || state === 'X';
}

/** Whether process `pid` is gone (or a zombie) within `ms`, looked at every 10 ms. */
async function goneWithin(pid: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; !processGone(pid);) {
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/**
 * Reads a FIFO opened non-blocking to its end: the number of bytes read,
 * or 'dead' when no writer came and `alive` (asked every 100 ms, as runc
 * asks) says none will.
 */
function readToEnd(fd: number, alive: () => boolean): Promise<number | 'dead'> {
  return new Promise((resolve) => {
    const fifo = new Socket({ fd, readable: true, writable: false });
    let bytes = 0;
    let settled = false;
    const done = (r: number | 'dead') => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      fifo.destroy();
      resolve(r);
    };
    // A writer that came and went is reported by the kernel (data, end of
    // file) before the next check: only two checks in a row find it dead.
    let gone = 0;
    const watch = setInterval(() => {
      gone = bytes === 0 && !alive() ? gone + 1 : 0;
      if (gone === 2) done('dead');
    }, 100);
    fifo.on('data', (d: Buffer) => (bytes += d.length));
    fifo.on('end', () => done(bytes));
    fifo.on('error', () => done(bytes));
  });
}

/** Whether a process with this PID exists. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A shim found alive under a directory of state directories. */
export interface LiveShim {
  /** Its state directory. */
  dir: string;
  pid: number;
  /** Its start time (processStartTime), so a kill cannot reach a process that took the PID since. */
  startTime: number;
  /**
   * It has no child yet: it still waits for a client before it starts the
   * runtime. False when the kernel does not say (no /proc/PID/task/PID/children).
   */
  waiting: boolean;
}

/**
 * The shims alive under `root` (each subdirectory a shim's state directory),
 * as their shim.pid files say and their command lines confirm: a PID reused
 * by another process is never taken for a shim.
 */
export function liveShims(root: string): LiveShim[] {
  const out: LiveShim[] = [];
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return out;
  }
  for (const name of names) {
    const dir = join(root, name);
    const pid = Number(readFileSyncSafe(join(dir, 'shim.pid')).trim());
    if (!Number.isInteger(pid) || pid <= 1) continue;
    const argv = readFileSyncSafe(`/proc/${pid}/cmdline`).split('\0');
    const at = argv.indexOf('--state-dir');
    if (argv[0] !== SHIM_PATH || at < 0 || argv[at + 1] !== dir) continue;
    let children: string | undefined;
    try {
      children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    } catch {
      children = undefined;
    }
    out.push({ dir, pid, startTime: processStartTime(pid), waiting: children === '' });
  }
  return out;
}
