/**
 * Process helpers for the lab. The lab is test scaffolding, not the daemon's hot
 * path, so it drives the kernel through `ip`, `nsenter`, `umount` and `runc`
 * processes. Every kill goes through a PID plus the start time recorded when we
 * spawned it, so a recycled PID is never signalled.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { accessSync, constants, readFileSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The outcome of a finished command. */
export interface RunResult {
  /** Exit status; null when the command was killed or could not start. */
  status: number | null;
  /** Everything written to stdout. */
  stdout: string;
  /** Everything written to stderr (or the spawn error's message). */
  stderr: string;
}

const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'];

/** The absolute path of `prog` on PATH or in the sbin directories, or undefined. */
export function which(prog: string): string | undefined {
  if (prog.includes('/')) return prog;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN_DIRS];
  for (const d of dirs) {
    const p = join(d, prog);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** Runs argv to completion and captures its output; never throws. */
export function run(argv: string[], opts: SpawnSyncOptions = {}): RunResult {
  const [prog, ...args] = argv;
  if (prog === undefined) return { status: null, stdout: '', stderr: 'empty command' };
  const r = spawnSync(which(prog) ?? prog, args, {
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
    ...opts,
  });
  return {
    status: r.status,
    stdout: String(r.stdout ?? ''),
    stderr: r.error ? `${r.error.message}\n${String(r.stderr ?? '')}` : String(r.stderr ?? ''),
  };
}

/** Runs argv and throws with its stderr when it fails. */
export function runOk(argv: string[], opts: SpawnSyncOptions = {}): string {
  const r = run(argv, opts);
  if (r.status !== 0) {
    throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** Fields of /proc/PID/stat we rely on. */
interface ProcStat {
  state: string;
  start: number;
}

function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may contain spaces and parentheses: fields restart after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const start = Number(rest[19]);
  if (state === undefined || !Number.isFinite(start)) return undefined;
  return { state, start };
}

/** The kernel's start time (clock ticks since boot) of PID, or undefined if gone. */
export function procStartTime(pid: number): number | undefined {
  return procStat(pid)?.start;
}

/**
 * True while PID runs and is the process that started at `start` (when given).
 * A zombie counts as gone: it has exited, only its parent has not reaped it.
 */
export function isAlive(pid: number, start?: number): boolean {
  const st = procStat(pid);
  if (st === undefined || st.state === 'Z' || st.state === 'X') return false;
  return start === undefined || st.start === start;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until the process is gone; true if it went within timeoutMs. */
export async function waitGone(
  pid: number,
  start: number | undefined,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid, start)) {
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
  return true;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Stops one process we started: `sig` first, SIGKILL after timeoutMs. Does
 * nothing when PID now belongs to another process (start time differs).
 * Returns true when the process is gone.
 */
export async function stopProcess(
  pid: number,
  start: number | undefined,
  sig: 'SIGTERM' | 'SIGKILL' = 'SIGTERM',
  timeoutMs = 5000,
): Promise<boolean> {
  if (pid <= 1 || pid === process.pid || !isAlive(pid, start)) return true;
  signal(pid, sig);
  if (await waitGone(pid, start, sig === 'SIGKILL' ? 2000 : timeoutMs)) return true;
  if (!isAlive(pid, start)) return true;
  signal(pid, 'SIGKILL');
  return waitGone(pid, start, 2000);
}

/** PIDs whose command line mentions `needle` (never this process). */
export function pidsWithCmdline(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(needle)) out.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}
