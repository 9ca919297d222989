/**
 * Healthchecks as dockerd runs them (moby's daemon/health.go): the
 * container's Config.Healthcheck merged with the image's HEALTHCHECK, a
 * probe run in the container every interval (every start interval during the
 * start period while starting), `State.Health` with its failing streak and
 * the last five results, `health_status: X` events when the status changes.
 * A probe is an exec: it shows in `docker events` as one.
 *
 * The rules (validation, merge, one result's effect) are pure and
 * unit-tested; HealthMonitors keeps one timer per running container.
 */
import { invalid } from '../common/errors.js';
import { goDuration } from '../common/goduration.js';
import type { Json } from '../common/validate.js';
import type { ContainerRecord } from './types.js';

/** Config.Healthcheck (Docker's HealthConfig; durations in ns, 0 or absent: the default). */
export interface HealthConfig {
  /** `[]` (the image's), `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", cmd]`. */
  Test: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  /** Between probes during the start period (API 1.44). */
  StartInterval?: number;
  Retries?: number;
}

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** One probe's result, as `State.Health.Log` shows it. */
export interface HealthResult {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

/** `State.Health`. */
export interface HealthState {
  Status: HealthStatus;
  FailingStreak: number;
  Log: HealthResult[];
}

/** dockerd's defaults (ns) and limits. */
export const HEALTH_DEFAULTS = {
  interval: 30e9,
  timeout: 30e9,
  startPeriod: 0,
  startInterval: 5e9,
  retries: 3,
};
/** Output kept per probe, and results kept in the log. */
export const MAX_OUTPUT = 4096;
const MAX_LOG = 5;
/** containertypes.MinimumDuration. */
const MIN_DURATION = 1e6;

const DURATIONS = ['Interval', 'Timeout', 'StartPeriod', 'StartInterval'] as const;

/**
 * Config.Healthcheck of a create request, checked as dockerd checks it
 * (400 with its words); undefined when none was given.
 */
export function healthcheckFromBody(v: unknown): HealthConfig | undefined {
  if (v === undefined || v === null) return undefined;
  const h = v as Json;
  const test = h.Test ?? [];
  if (!Array.isArray(test) || !test.every((x) => typeof x === 'string')) {
    throw invalid('invalid Healthcheck.Test: expected an array of strings');
  }
  const out: HealthConfig = { Test: test as string[] };
  for (const k of DURATIONS) {
    const d = h[k] ?? 0;
    if (!Number.isSafeInteger(d)) throw invalid(`invalid Healthcheck.${k}: expected an integer`);
    if (d !== 0 && (d as number) < MIN_DURATION) {
      throw invalid(`${k} in Healthcheck cannot be less than ${goDuration(MIN_DURATION)}`);
    }
    if (d !== 0) out[k] = d as number;
  }
  const retries = h.Retries ?? 0;
  if (!Number.isSafeInteger(retries))
    throw invalid('invalid Healthcheck.Retries: expected an integer');
  if ((retries as number) < 0) throw invalid('Retries in Healthcheck cannot be negative');
  if (retries !== 0) out.Retries = retries as number;
  const kind = out.Test[0];
  if (kind !== undefined && !['NONE', 'CMD', 'CMD-SHELL'].includes(kind)) {
    // dockerd keeps it and never probes (a warning in its log): Berth says so at once.
    throw invalid(`unknown healthcheck type '${kind}' (expected CMD, CMD-SHELL or NONE)`);
  }
  if ((kind === 'CMD' || kind === 'CMD-SHELL') && out.Test.length < 2) {
    throw invalid(`Healthcheck.Test ${JSON.stringify(out.Test)} has no command`);
  }
  return out;
}

/** moby's merge: the container's healthcheck, its unset parts from the image's. */
export function mergeHealthcheck(
  mine: HealthConfig | undefined,
  image: HealthConfig | undefined,
): HealthConfig | undefined {
  if (!image) return mine;
  if (!mine) return { ...image };
  const out: HealthConfig = { ...mine };
  if (out.Test.length === 0) out.Test = [...image.Test];
  for (const k of DURATIONS) if (!out[k] && image[k]) out[k] = image[k];
  if (!out.Retries && image.Retries) out.Retries = image.Retries;
  return out;
}

/** The probe's argv, or undefined when the container has no healthcheck. */
export function probeArgv(h: HealthConfig | undefined, shell?: string[]): string[] | undefined {
  const [kind, ...cmd] = h?.Test ?? [];
  if (kind === 'CMD' && cmd.length) return cmd;
  if (kind === 'CMD-SHELL' && cmd.length)
    return [...(shell?.length ? shell : ['/bin/sh', '-c']), ...cmd];
  return undefined;
}

/** The wait before the next probe (moby's getInterval), in ms. */
export function nextProbeMs(h: HealthConfig, status: HealthStatus, sinceStartMs: number): number {
  const interval = (h.Interval || HEALTH_DEFAULTS.interval) / 1e6;
  const startPeriod = (h.StartPeriod || HEALTH_DEFAULTS.startPeriod) / 1e6;
  const startInterval = (h.StartInterval || HEALTH_DEFAULTS.startInterval) / 1e6;
  if (sinceStartMs >= startPeriod) return interval;
  const left = startPeriod - sinceStartMs;
  if (left < interval) return left;
  return status === 'starting' ? startInterval : interval;
}

/**
 * One result's effect (moby's handleProbeResult): the log keeps the last
 * five; success resets the streak and makes it healthy; a failure counts
 * (unless it comes in the start period before any success) and makes it
 * unhealthy at `retries`.
 */
export function applyResult(
  s: HealthState,
  r: HealthResult,
  h: HealthConfig,
  startedAt: string,
): HealthState {
  const log = [...s.Log, r].slice(-MAX_LOG);
  if (r.ExitCode === 0) return { Status: 'healthy', FailingStreak: 0, Log: log };
  const retries = h.Retries && h.Retries > 0 ? h.Retries : HEALTH_DEFAULTS.retries;
  const inStartPeriod =
    s.Status === 'starting' &&
    Date.parse(r.Start) - Date.parse(startedAt) < (h.StartPeriod || 0) / 1e6;
  if (inStartPeriod) return { ...s, Log: log };
  const streak = s.FailingStreak + 1;
  return { Status: streak >= retries ? 'unhealthy' : s.Status, FailingStreak: streak, Log: log };
}

/** The words `docker ps` puts after "Up N seconds": `health: starting`, `healthy`, `unhealthy`. */
export function healthWords(s: HealthStatus): string {
  return s === 'starting' ? 'health: starting' : s;
}

/** The message of a probe that ran past its timeout (20.10 keeps none of its output). */
export function timeoutOutput(timeoutNs: number): string {
  return `Health check exceeded timeout (${goDuration(timeoutNs)})`;
}

/** The health of a container that stopped: unhealthy, the rest kept (dockerd's SetStopped). */
export function stoppedHealth(h: HealthState | undefined): HealthState | undefined {
  return h && { ...h, Status: 'unhealthy' };
}

/** What a probe came back with. */
export interface ProbeOutcome {
  exitCode: number;
  output: string;
}

/** What the monitors need of the service. */
export interface HealthDeps {
  /** Runs `argv` in the container (as an exec) within `timeoutNs`. */
  probe(c: ContainerRecord, argv: string[], timeoutNs: number): Promise<ProbeOutcome>;
  /** The container's record as it is now (undefined once removed). */
  current(id: string): ContainerRecord | undefined;
  /** Persists the record (a status change). */
  save(c: ContainerRecord): Promise<void>;
  emit(c: ContainerRecord, action: string): void;
  warn(msg: string): void;
}

/** One timer per running container with a healthcheck. */
export class HealthMonitors {
  /** Each monitored container's run: its pending timer and whether it was called off. */
  private readonly runs = new Map<string, { timer?: NodeJS.Timeout; stopped: boolean }>();

  constructor(private readonly deps: HealthDeps) {}

  /**
   * Starts probing `c` (just started: status "starting", as dockerd's
   * initHealthMonitor; or recovered after a daemon restart: status kept).
   */
  start(c: ContainerRecord, recovered = false): void {
    this.stop(c.Id);
    const h = c.Config.Healthcheck;
    if (!probeArgv(h, c.Config.Shell) || !h) return;
    // Paused: no probe until `unpause` starts it again with its status kept.
    if (c.State.Paused) return;
    if (!recovered || !c.State.Health) {
      c.State.Health = { Status: 'starting', FailingStreak: 0, Log: c.State.Health?.Log ?? [] };
    }
    const run = { timer: undefined as NodeJS.Timeout | undefined, stopped: false };
    this.runs.set(c.Id, run);
    const schedule = () => {
      const cur = this.deps.current(c.Id);
      if (run.stopped || !cur?.State.Health) return;
      const wait = nextProbeMs(
        h,
        cur.State.Health.Status,
        Date.now() - Date.parse(cur.State.StartedAt),
      );
      run.timer = setTimeout(() => void this.once(c.Id, h, run).then(schedule), wait);
      run.timer.unref();
    };
    schedule();
  }

  /** Stops probing (the container exited, is removed, or the daemon stops). */
  stop(id: string): void {
    const run = this.runs.get(id);
    if (!run) return;
    run.stopped = true;
    clearTimeout(run.timer);
    this.runs.delete(id);
  }

  close(): void {
    for (const id of [...this.runs.keys()]) this.stop(id);
  }

  /** One probe and its result, unless the run was called off meanwhile. */
  private async once(id: string, h: HealthConfig, run: { stopped: boolean }): Promise<void> {
    const c = this.deps.current(id);
    if (run.stopped || !c || c.State.Status !== 'running' || !c.State.Health) return;
    const argv = probeArgv(h, c.Config.Shell)!;
    const start = new Date();
    const timeout = h.Timeout || HEALTH_DEFAULTS.timeout;
    let out: ProbeOutcome;
    try {
      out = await this.deps.probe(c, argv, timeout);
    } catch (e) {
      out = { exitCode: -1, output: (e as Error).message };
    }
    const now = this.deps.current(id);
    if (run.stopped || now !== c || c.State.Status !== 'running' || !c.State.Health) return;
    const before = c.State.Health.Status;
    c.State.Health = applyResult(
      c.State.Health,
      {
        Start: start.toISOString(),
        End: new Date().toISOString(),
        ExitCode: out.exitCode,
        Output: out.output,
      },
      h,
      c.State.StartedAt,
    );
    if (c.State.Health.Status !== before) {
      // As dockerd: the log alone is not worth a write; a status change is.
      await this.deps
        .save(c)
        .catch((e) => this.deps.warn(`health of ${id.slice(0, 12)}: ${(e as Error).message}`));
      this.deps.emit(c, `health_status: ${c.State.Health.Status}`);
    }
  }
}
