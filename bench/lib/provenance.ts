/**
 * What a benchmark's JSON says about where it ran: Berth's commit (and whether
 * the work tree had changes), the machine, and the first line of a tool's
 * version output.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** The first line a command prints (stdout, else stderr), or "(unknown)". */
export function firstLine(argv: string[]): string {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
  return ((r.stdout ?? '') + (r.stderr ?? '')).split('\n')[0]?.trim() || '(unknown)';
}

/** Berth's short commit, and whether the work tree differs from it. */
export function berthCommit(): { commit: string; dirty: boolean } {
  const status = spawnSync('git', ['-C', REPO, '--no-optional-locks', 'status', '--porcelain'], {
    encoding: 'utf8',
  });
  return {
    commit: firstLine(['git', '-C', REPO, 'rev-parse', '--short', 'HEAD']),
    dirty: (status.stdout ?? '').trim() !== '',
  };
}

/** The machine: CPU model and count, memory, kernel, OS, load average now. */
export function machineInfo(): Record<string, string | number> {
  return {
    cpu: cpus()[0]?.model ?? '?',
    cores: cpus().length,
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    kernel: firstLine(['uname', '-r']),
    os: /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '?',
    loadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
  };
}
