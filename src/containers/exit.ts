/**
 * A container's exit and its restart policy: following the shim until the
 * process ends, recording the exit (state, cleanup, die event, waiters,
 * --rm), and Docker's restart policies with their backoff (100 ms, doubled
 * up to a minute, reset after 10 s up): the pending restart, calling it off
 * (stop, kill, rm), and restarts held back while recovery runs.
 */
import { messageOf } from '../common/errors.js';
import { waitExit, type ExitStatus } from '../kernel/runtime/runtime.js';
import { stoppedHealth } from './health.js';
import type { Lifecycle } from './lifecycle.js';
import type { ContainerRecord } from './types.js';

/** Docker's restart backoff: the first delay, its ceiling, and the time up that resets it. */
export const RESTART_FIRST_MS = 100;
const RESTART_MAX_MS = 60_000;
const RESTART_RESET_AFTER_MS = 10_000;

/** Follows the shim until the process exits, then records it. */
export function watchExit(life: Lifecycle, c: ContainerRecord): void {
  const stateDir = life.paths.stateDir(c.Id);
  void waitExit(stateDir).then((st) =>
    life.locks
      .locked(c.Id, () => life.onExit(c, st))
      .catch((e) =>
        life.log.error(`exit handling of ${c.Id.slice(0, 12)} failed: ${messageOf(e)}`),
      ),
  );
}

/** Records an exit: state, cleanup of the sandbox and rootfs, events, waiters, --rm, restart. */
export async function onExit(
  life: Lifecycle,
  c: ContainerRecord,
  st: ExitStatus | undefined,
): Promise<void> {
  if (c.State.Status !== 'running' || life.repo.find(c.Id) !== c) return;
  life.health.stop(c.Id);
  const code = st?.code ?? 255;
  if (!st) {
    // The monitor is gone without an exit record: the process must not outlive our record of it.
    await life.runtime.kill(c.Id, 'SIGKILL', true).catch(() => undefined);
  }
  await life.cleanupRuntime(c);
  const finished = st?.finishedAt ?? new Date();
  const manual = life.stopping.delete(c.Id);
  const delay =
    manual || life.removing.has(c.Id) || c.HostConfig.AutoRemove
      ? undefined
      : life.restarts.delay(c, code, finished.getTime() - Date.parse(c.State.StartedAt));
  c.State = {
    ...c.State,
    Status: delay === undefined ? 'exited' : 'restarting',
    Pid: 0,
    Paused: false,
    ExitCode: code,
    Error: st ? '' : 'container process lost: its monitor ended without an exit status',
    FinishedAt: finished.toISOString(),
    ShimPid: undefined,
    Health: stoppedHealth(c.State.Health),
  };
  if (delay !== undefined) c.RestartCount++;
  await life.repo.save(c);
  life.emit(c, 'die', { exitCode: String(code) });
  life.waiters.notify(c.Id, 'next-exit', code);
  if (c.HostConfig.AutoRemove) {
    // As dockerd's auto-remove: the anonymous volumes go with it.
    await life
      .removeLocked(c, true, true)
      .catch((e) => life.log.error(`auto-remove: ${messageOf(e)}`));
    return;
  }
  if (delay !== undefined) life.restarts.schedule(c, delay);
}

/**
 * Whether the daemon's start starts `c` again (dockerd's restore: a
 * container started before, not running, whose policy says so — `always`
 * even after a stop by hand, `unless-stopped` unless stopped by hand,
 * `on-failure` after a non-zero exit).
 */
export function startsWithDaemon(c: ContainerRecord): boolean {
  if (c.State.Status !== 'exited' || c.State.StartedAt.startsWith('0001')) return false;
  const p = c.HostConfig.RestartPolicy.Name;
  if (p === 'always') return true;
  if (p === 'unless-stopped') return !c.ManuallyStopped;
  return p === 'on-failure' && c.State.ExitCode !== 0;
}

/** What the restart policy needs of the service. */
export type RestartDeps = Pick<
  Lifecycle,
  'repo' | 'log' | 'locks' | 'waiters' | 'stopping' | 'removing' | 'startLocked'
>;

/** Restart policies: each container's pending restart and its last delay. */
export class RestartPolicy {
  /** Restarts waiting for their delay. */
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Each container's last restart delay (the backoff doubles it). */
  private readonly delays = new Map<string, number>();
  /** While recovery runs, restarts wait for it (it reconciles the network); then they start. */
  private deferred: ContainerRecord[] | undefined;
  /** Set at daemon shutdown: no restart starts any more. */
  private closed = false;

  constructor(private readonly deps: RestartDeps) {}

  /**
   * The restart policy after an exit with `code` after `ranMs` up: the delay
   * before the restart, or undefined for none. Docker's backoff: 100 ms,
   * doubled at each restart up to a minute, and 100 ms again after a run of
   * 10 s or more.
   */
  delay(c: ContainerRecord, code: number, ranMs: number): number | undefined {
    const p = c.HostConfig.RestartPolicy;
    const restart =
      p.Name === 'always' ||
      p.Name === 'unless-stopped' ||
      (p.Name === 'on-failure' &&
        code !== 0 &&
        (!p.MaximumRetryCount || c.RestartCount < p.MaximumRetryCount));
    if (!restart) return undefined;
    const last = ranMs >= RESTART_RESET_AFTER_MS ? 0 : (this.delays.get(c.Id) ?? 0);
    const next = last === 0 ? RESTART_FIRST_MS : Math.min(last * 2, RESTART_MAX_MS);
    this.delays.set(c.Id, next);
    return next;
  }

  /** Starts `c` (status restarting) again after `delay` ms, unless something calls it off. */
  schedule(c: ContainerRecord, delay: number): void {
    if (this.deferred) {
      this.deferred.push(c);
      return;
    }
    this.clear(c.Id);
    const { repo, locks, removing, log } = this.deps;
    const t = setTimeout(() => {
      if (this.timers.get(c.Id) === t) this.timers.delete(c.Id);
      void locks
        .locked(c.Id, async () => {
          // Removed, stopped or started by hand meanwhile, or the daemon is stopping.
          if (this.closed || repo.find(c.Id) !== c || c.State.Status !== 'restarting') return;
          if (removing.has(c.Id)) return;
          await this.deps.startLocked(c);
        })
        .catch((e) => log.error(`restart of ${c.Id.slice(0, 12)} failed: ${messageOf(e)}`));
    }, delay);
    this.timers.set(c.Id, t);
  }

  /** Drops `id`'s pending restart, if any. */
  clear(id: string): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }

  /** A start by hand: the restart policy begins again (Docker resets its restart manager). */
  reset(c: ContainerRecord): void {
    this.clear(c.Id);
    this.deps.stopping.delete(c.Id);
    this.delays.delete(c.Id);
    c.RestartCount = 0;
  }

  /** A removed container's backoff is forgotten. */
  forget(id: string): void {
    this.delays.delete(id);
  }

  /**
   * Calls off a pending restart (the caller has marked `c` stopping or
   * removing): a container waiting to restart is stopped for good. True when
   * `c` does not run; false when it runs (a restart already under way won
   * the lock), and the caller stops it the usual way.
   */
  async settle(c: ContainerRecord): Promise<boolean> {
    this.clear(c.Id);
    const { repo, locks, stopping, waiters } = this.deps;
    return locks.locked(c.Id, async () => {
      this.clear(c.Id);
      if (c.State.Status === 'running') return false;
      stopping.delete(c.Id);
      if (c.State.Status === 'restarting' && repo.find(c.Id) === c) {
        c.State = { ...c.State, Status: 'exited' };
        await repo.save(c);
        waiters.notify(c.Id, 'next-exit', c.State.ExitCode);
      }
      return true;
    });
  }

  /** Holds restarts back until `fn` (recovery) is done, then schedules them (after the first delay). */
  async deferDuring(fn: () => Promise<void>): Promise<void> {
    this.deferred = [];
    try {
      await fn();
    } finally {
      const later = this.deferred;
      this.deferred = undefined;
      for (const c of later) this.schedule(c, RESTART_FIRST_MS);
    }
  }

  /** Daemon shutdown: pending restarts are dropped (the next daemon schedules them again). */
  close(): void {
    this.closed = true;
    for (const id of [...this.timers.keys()]) this.clear(id);
  }
}
