/**
 * The measuring loops. Each sample is the wall time of one whole docker CLI
 * process, spawn to exit, as a user experiences it (and as docs/reference/anchors.md measured
 * Docker). Engines take turns going first every iteration, so a burst of load
 * on the shared machine falls on both alike; warm-up iterations are run but not
 * kept.
 */
import { dockerAt } from './refdockerd.js';
import { ENGINES, type Engine } from './report.js';

/** Where the CLI finds each engine, plus its config dir. */
export interface Engines {
  /** DOCKER_HOST per engine. */
  targets: Record<Engine, { env: { DOCKER_HOST: string } }>;
  /** DOCKER_CONFIG for every CLI call (an empty dir in the lab). */
  cliConfig: string;
  /** Polled before every timed command; true aborts the run. */
  interrupted(): boolean;
}

/** Samples per engine, in ms. */
export type Samples = Record<Engine, number[]>;

/** What a run-then-remove loop measured. */
export interface RunRmSamples {
  /** Time of the `run` command. */
  run: Samples;
  /** Time of `rm -f <id>`. */
  rm: Samples;
  /** The container's IPAddress as inspect reported it (first container), per engine. */
  ip: Record<Engine, string>;
}

const emptySamples = (): Samples => ({ berth: [], docker: [] });

/** Lets the event loop run, so a SIGINT handler can flag the run between commands. */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Engine order for iteration i: alternate which engine goes first. */
export function order(i: number): Engine[] {
  return i % 2 === 0 ? [...ENGINES] : [...ENGINES].reverse();
}

/** Runs `docker args` against engine e; returns its wall time, throws on failure. */
export function timed(
  env: Engines,
  e: Engine,
  args: string[],
  timeoutMs?: number,
): { ms: number; stdout: string } {
  if (env.interrupted()) throw new Error('interrupted');
  const t0 = process.hrtime.bigint();
  const r = dockerAt(env.targets[e], env.cliConfig, args, timeoutMs);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${e}: docker ${args.join(' ')}: ${r.stderr.trim()}`);
  return { ms, stdout: r.stdout.trim() };
}

/**
 * `docker <runArgs>` (a detached run) then `docker rm -f <id>`, per engine per
 * iteration. Between the two, untimed, inspect checks that the container runs:
 * the run command must not return before it does.
 */
export async function measureRunRm(
  env: Engines,
  runArgs: string[],
  warmup: number,
  iterations: number,
): Promise<RunRmSamples> {
  const out: RunRmSamples = {
    run: emptySamples(),
    rm: emptySamples(),
    ip: { berth: '', docker: '' },
  };
  for (let i = 0; i < warmup + iterations; i++) {
    for (const e of order(i)) {
      await tick();
      const run = timed(env, e, runArgs);
      if (!/^[0-9a-f]{64}$/.test(run.stdout)) throw new Error(`${e}: run printed ${run.stdout}`);
      const st = dockerAt(env.targets[e], env.cliConfig, [
        'inspect',
        '--format',
        '{{.State.Running}} {{.NetworkSettings.IPAddress}}',
        run.stdout,
      ]);
      const [running, ip] = st.stdout.trim().split(' ');
      if (running !== 'true') throw new Error(`${e}: container not running when run returned`);
      if (i === 0) out.ip[e] = ip ?? '';
      const rm = timed(env, e, ['rm', '-f', run.stdout]);
      if (rm.stdout !== run.stdout) throw new Error(`${e}: rm -f printed ${rm.stdout}`);
      if (i >= warmup) {
        out.run[e].push(run.ms);
        out.rm[e].push(rm.ms);
      }
    }
  }
  return out;
}

/** `docker <args>` per engine per iteration (a command that cleans up after itself). */
export async function measureOne(
  env: Engines,
  args: string[],
  warmup: number,
  iterations: number,
): Promise<Samples> {
  const out = emptySamples();
  for (let i = 0; i < warmup + iterations; i++) {
    for (const e of order(i)) {
      await tick();
      const r = timed(env, e, args);
      if (i >= warmup) out[e].push(r.ms);
    }
  }
  return out;
}
