/**
 * Stopping a container on purpose: `stop` (its stop signal, a grace period,
 * then SIGKILL), `kill` (a signal; SIGKILL or the stop signal ends the
 * restart policy's work until the next start), and the stop half of
 * `restart`. Each marks the container stopping and calls off a restart it
 * waits for before signalling it.
 */
import { constants as osConstants } from 'node:os';
import { BerthError, conflict, invalid } from '../common/errors.js';
import type { Lifecycle } from './lifecycle.js';
import { thawAfterSignal } from './pause.js';
import { isLive } from './sync.js';
import type { ContainerRecord } from './types.js';

/** POST /containers/{id}/stop: signal, wait `timeout` seconds, then SIGKILL. */
export async function stop(
  life: Lifecycle,
  c: ContainerRecord,
  timeout?: number,
  signal?: string,
): Promise<void> {
  if (!isLive(c)) throw new BerthError('NOT_MODIFIED', 'container already stopped');
  await markManual(life, c);
  life.stopping.add(c.Id);
  // Waiting to restart: it stays stopped (Docker's stop of a restarting container).
  if (await life.restarts.settle(c)) return;
  await terminate(life, c, timeout ?? c.Config.StopTimeout ?? 10, signal ?? c.Config.StopSignal);
}

/** The stop half of POST /containers/{id}/restart: a live container is stopped (10 s by default). */
export async function stopForRestart(
  life: Lifecycle,
  c: ContainerRecord,
  timeout?: number,
): Promise<void> {
  if (!isLive(c)) return;
  life.stopping.add(c.Id);
  if (!(await life.restarts.settle(c))) {
    await terminate(life, c, timeout ?? 10, c.Config.StopSignal);
  }
}

/**
 * Stops a running container for the daemon (its stop signal and timeout),
 * not by hand: its restart policy does not restart it now, and the next
 * daemon start does as dockerd's does (startsWithDaemon).
 */
export async function shutdownContainer(life: Lifecycle, c: ContainerRecord): Promise<void> {
  if (c.State.Status !== 'running') return;
  life.stopping.add(c.Id);
  await terminate(life, c, c.Config.StopTimeout ?? 10, c.Config.StopSignal);
}

/** Records a stop by hand (saved at once: a signal may not end the container). */
async function markManual(life: Lifecycle, c: ContainerRecord): Promise<void> {
  if (c.ManuallyStopped) return;
  c.ManuallyStopped = true;
  await life.repo.save(c);
}

/** Signals a running container, waits up to `timeout` s (-1: for ever) for its exit, then SIGKILL. */
async function terminate(
  life: Lifecycle,
  c: ContainerRecord,
  timeout: number,
  signal = 'SIGTERM',
): Promise<void> {
  const exited = life.wait(c.Id, 'next-exit');
  // Exited between the caller's check and this waiter: nothing to stop.
  if (c.State.Status !== 'running') return;
  if (timeout !== 0) await life.runtime.kill(c.Id, signal);
  // Paused: the signal waits in the frozen processes until they thaw.
  await thawAfterSignal(life, c);
  const done = await Promise.race([
    exited.then(() => true),
    new Promise<boolean>((r) =>
      setTimeout(() => r(false), timeout < 0 ? 2 ** 31 - 1 : timeout * 1000),
    ),
  ]);
  if (!done) {
    await life.runtime.kill(c.Id, 'SIGKILL');
    await exited;
  }
}

/** POST /containers/{id}/kill (`ref` as the client named it, for the message). */
export async function kill(
  life: Lifecycle,
  c: ContainerRecord,
  ref: string,
  signal = 'SIGKILL',
): Promise<void> {
  if (!isLive(c)) {
    throw conflict(`Cannot kill container: ${ref}: Container ${c.Id} is not running`);
  }
  const sig =
    /^\d+$/.test(signal) || signal.startsWith('SIG') ? signal : `SIG${signal.toUpperCase()}`;
  if (!/^(\d+|SIG[A-Z0-9+-]+)$/.test(sig)) throw invalid(`Invalid signal: ${signal}`);
  const hard = sig === 'SIGKILL' || sig === '9';
  // Any signal by hand counts as a manual stop, as dockerd's killWithSignal.
  await markManual(life, c);
  // As Docker's: SIGKILL, or the container's stop signal (any signal when
  // it sets none), ends the restart policy's work until the next start.
  const stopSignal = c.Config.StopSignal;
  if (hard || !stopSignal || sameSignal(sig, stopSignal)) {
    life.stopping.add(c.Id);
    if (await life.restarts.settle(c)) return;
  } else if (c.State.Status !== 'running') {
    return; // waiting to restart: no process to signal
  }
  await life.runtime.kill(c.Id, sig);
  // As dockerd: a paused container is thawed for SIGKILL or its stop signal
  // (any other signal waits in it until `unpause`).
  if (life.stopping.has(c.Id)) await thawAfterSignal(life, c);
  if (hard) await life.wait(c.Id, 'not-running');
}

/** Whether two spellings (SIGTERM, TERM, 15) name one signal. */
export function sameSignal(a: string, b: string): boolean {
  const num = (s: string): number | string => {
    if (/^\d+$/.test(s)) return Number(s);
    const name = s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`;
    return (osConstants.signals as Record<string, number | undefined>)[name] ?? name;
  };
  return num(a) === num(b);
}
