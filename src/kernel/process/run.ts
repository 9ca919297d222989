/**
 * The one place the daemon starts short-lived helper processes (runc, mount,
 * unshare). Everything returns a typed result; nothing throws a raw spawn error.
 */
import { execFile, spawn, type ExecFileOptions } from 'node:child_process';

export interface RunResult {
  /** Exit status (null if killed by a signal). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `argv` to completion and returns its status and output (never throws on exit != 0). */
export function run(
  argv: string[],
  opts: ExecFileOptions & { input?: string } = {},
): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('run: empty argv');
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', ...opts },
      (err, stdout, stderr) => {
        const code =
          err && typeof (err as { code?: unknown }).code === 'number'
            ? ((err as { code: number }).code as number)
            : err
              ? (err as { code?: unknown }).code === 'ENOENT'
                ? 127
                : null
              : 0;
        resolve({
          code,
          stdout: String(stdout),
          stderr: String(stderr) || (err && code === 127 ? `${cmd}: not found` : ''),
        });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs `argv` and throws an Error with its stderr when it fails. */
export async function runOk(argv: string[], opts: ExecFileOptions = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) {
    throw new Error(`${argv.join(' ')}: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`);
  }
  return r.stdout;
}

/** A long-running helper whose stdout is collected line by line until stopped. */
export interface Watcher {
  /** The complete lines read so far. */
  lines: string[];
  /** Stops the process (by its own PID) and resolves with every line it printed. */
  stop(): Promise<string[]>;
}

/** Starts `argv` (e.g. `nft monitor trace`) and collects its output lines. */
export function watchLines(argv: string[]): Watcher {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('watchLines: empty argv');
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let rest = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    const parts = (rest + d).split('\n');
    rest = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr.resume();
  const closed = new Promise<void>((resolve) => {
    child.on('close', () => resolve());
    child.on('error', () => resolve());
  });
  return {
    lines,
    async stop() {
      if (child.exitCode === null && child.pid !== undefined) child.kill('SIGTERM');
      await closed;
      if (rest) lines.push(rest);
      rest = '';
      return lines;
    },
  };
}
