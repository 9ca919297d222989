/**
 * `docker pause` / `unpause` as dockerd 20.10 does them: the container's
 * processes frozen by the cgroup freezer (`runc pause`), `State.Paused` set
 * while `State.Status` stays "running" in the record (so everything that asks
 * "does it run" still says yes: its network, ports, logs, stop and kill);
 * inspect and ps show "paused" (render.ts). Healthchecks are not probed
 * while paused. A stop, a kill with SIGKILL or the stop signal, or a forced
 * removal of a paused container signals it, then thaws it so the signal is
 * delivered (moby's killWithSignal).
 */
import { conflict } from '../common/errors.js';
import { guessDirs, readCgroupFile } from '../kernel/cgroup.js';
import { setPaused } from './fsaccess.js';
import type { Lifecycle } from './lifecycle.js';
import type { ContainerRecord } from './types.js';

/** dockerd's 409 for a container that does not run. */
function notRunning(c: ContainerRecord): Error {
  return conflict(`Container ${c.Id} is not running`);
}

/** POST /containers/{id}/pause. */
export async function pause(life: Lifecycle, c: ContainerRecord): Promise<void> {
  await life.locks.lockedLive(c, async () => {
    if (c.State.Status === 'restarting') {
      throw conflict(`Container ${c.Id} is restarting, wait until the container is running`);
    }
    if (c.State.Status !== 'running') throw notRunning(c);
    if (c.State.Paused) throw conflict(`Container ${c.Id} is already paused`);
    // In turn with the daemon's own freezes (fsaccess.ts).
    await setPaused(life, c, true).catch((e: Error) => {
      throw conflict(`Cannot pause container ${c.Id}: ${e.message}`);
    });
    life.health.stop(c.Id);
    await life.repo.save(c);
    life.emit(c, 'pause');
  });
}

/** POST /containers/{id}/unpause. */
export async function unpause(life: Lifecycle, c: ContainerRecord): Promise<void> {
  await life.locks.lockedLive(c, async () => {
    if (c.State.Status !== 'running' || !c.State.Paused) {
      throw conflict(`Container ${c.Id} is not paused`);
    }
    // While the daemon works in its files, the end of that work thaws it (fsaccess.ts).
    await setPaused(life, c, false).catch((e: Error) => {
      throw conflict(`Cannot unpause container ${c.Id}: ${e.message}`);
    });
    await life.repo.save(c);
    life.health.start(c, true);
    life.emit(c, 'unpause');
  });
}

/**
 * After a signal meant to end a paused container: thaw it so the signal is
 * delivered (dockerd warns and carries on when that fails). The record says
 * "not paused" from here on; its exit follows.
 */
export async function thawAfterSignal(life: Lifecycle, c: ContainerRecord): Promise<void> {
  if (!c.State.Paused) return;
  try {
    // (While the daemon works in its files, the signal waits for that work's thaw.)
    await setPaused(life, c, false);
  } catch (e) {
    life.log.warn(`cannot unpause container ${c.Id}: ${(e as Error).message}`);
  }
  c.State.Paused = false;
  life.emit(c, 'unpause');
}

/**
 * Recovery: a container the record does not call paused but whose cgroup is
 * frozen (a daemon that died while it worked in its files) is thawed.
 */
export async function thawIfFrozen(life: Lifecycle, c: ContainerRecord): Promise<void> {
  if (c.State.Paused) return;
  const dirs = life.runtime.cgroupPaths(c.Id) ?? guessDirs(`/berth/${c.Id}`);
  const state = readCgroupFile(dirs, 'freezer', 'freezer.state')?.trim();
  const v2 = readCgroupFile(dirs, '', 'cgroup.freeze')?.trim();
  if (state !== 'FROZEN' && v2 !== '1') return;
  life.log.warn(`thawing ${c.Id.slice(0, 12)}: frozen by a daemon that stopped mid-operation`);
  await life.runtime.resume(c.Id).catch((e: Error) => life.log.warn(e.message));
}
