/**
 * The OCI runtime (runc, or crun where it works) and berth-shim, the monitor
 * process that owns each container process so it outlives the daemon.
 * Protocol of the shim: native/shim.c.
 */
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
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

export interface ExitStatus {
  /** Exit code (128 + signal when killed). */
  code: number;
  /** When the process ended. */
  finishedAt: Date;
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

  /** Starts the container whose bundle is `bundle`, under a shim using `stateDir`. */
  startContainer(id: string, bundle: string, stateDir: string, o: LaunchOptions): Promise<number> {
    const args = [
      ...this.base(),
      'run',
      '-d',
      '--pid-file',
      join(stateDir, 'pid'),
      '--bundle',
      bundle,
    ];
    if (o.tty) args.push('--console-socket', join(stateDir, 'console.sock'));
    args.push(id);
    return this.launch(stateDir, args, o);
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

  /** Sends a signal to the container's init process (or all its processes). */
  async kill(id: string, signal: string, all = false): Promise<void> {
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

  /** Removes the runtime's record (and cgroup) of a container; missing is fine. */
  async delete(id: string): Promise<void> {
    const r = await run([...this.base(), 'delete', '--force', id]);
    if (r.code !== 0 && !/does not exist|not found/i.test(r.stderr)) {
      throw new RuntimeError(`cannot delete container: ${runtimeMessage(r.stderr)}`, r.stderr);
    }
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
export function shimConnect(stateDir: string, line: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(join(stateDir, 'attach.sock'));
    s.once('connect', () => {
      s.write(line + '\n');
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Reads the exit record the shim leaves behind, if any. */
export async function readExit(stateDir: string): Promise<ExitStatus | undefined> {
  try {
    const [code, ns] = (await readFile(join(stateDir, 'exit'), 'utf8')).trim().split(' ');
    return { code: Number(code), finishedAt: new Date(Number(BigInt(ns ?? '0') / 1000000n)) };
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

/** Whether a process with this PID exists. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
