/**
 * Runs the docker-py suite (test/compat/docker-py, Python unittest) against
 * an engine and returns each case's outcome. docker-py is Debian's
 * python3-docker 5.0.3 under Debian's /usr/bin/python3 (scripts/setup.sh
 * installs it; PyPI is not reachable from here), never the `python3` on PATH.
 * Used by test/compat/docker-py.test.ts (Berth) and
 * bench/capture-docker-dockerpy.ts (the reference dockerd 20.10).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';
export const SUITE_DIR = fileURLToPath(new URL('../../../test/compat/docker-py/', import.meta.url));

/** One unittest case: `id` is module.Class.test_name. */
export interface PyCase {
  id: string;
  outcome: 'ok' | 'FAIL' | 'ERROR' | 'skip';
  seconds: number;
  /** Traceback (FAIL/ERROR) or the skip reason. */
  detail: string;
}

export interface PyRun {
  /** Exit status of the runner (0: every case passed). */
  status: number | null;
  /** What unittest printed (stdout and stderr interleaved). */
  output: string;
  cases: PyCase[];
  argv: string[];
}

/** Why docker-py cannot run on this machine, or undefined when it can. */
export function dockerPyMissing(): string | undefined {
  try {
    readFileSync(PYTHON);
  } catch {
    return `${PYTHON} is missing (scripts/setup.sh installs python3)`;
  }
  return undefined;
}

/**
 * Runs the suite with DOCKER_HOST = `dockerHost` (DOCKERPY_ENGINE = `engine`:
 * the one case where dockerd 20.10 is nondeterministic checks less there);
 * `patterns` select cases
 * (unittest -k). Kills the runner after `timeoutMs`.
 */
export function runDockerPy(
  dockerHost: string,
  engine: 'berth' | 'docker',
  opts: { patterns?: string[]; timeoutMs?: number; echo?: boolean } = {},
): Promise<PyRun> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-dockerpy-'));
  const json = join(dir, 'cases.jsonl');
  const argv = [
    PYTHON,
    join(SUITE_DIR, 'run.py'),
    '--json',
    json,
    ...(opts.patterns ?? []).flatMap((p) => ['-k', p]),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: {
        ...process.env,
        DOCKER_HOST: dockerHost,
        DOCKERPY_ENGINE: engine,
        PYTHONUNBUFFERED: '1',
        PYTHONDONTWRITEBYTECODE: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const take = (d: Buffer) => {
      output += d.toString('utf8');
      if (opts.echo) process.stderr.write(d);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15 * 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      let cases: PyCase[] = [];
      try {
        cases = readFileSync(json, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as PyCase);
      } catch {
        // the runner died before writing any case
      }
      rmSync(dir, { recursive: true, force: true });
      resolve({ status, output, cases, argv });
    });
  });
}
