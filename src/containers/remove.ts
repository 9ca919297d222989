/**
 * Removing a container and undoing what a start did: DELETE
 * /containers/{id} (a running one is killed first with `force`; from the
 * start of the removal nothing starts it again), the removal under its lock
 * (runtime record, mounts, files, record, waiters woken), and the teardown
 * an exit, a removal and recovery share (runc's record, the rootfs mount,
 * the sandbox and its endpoints).
 */
import { conflict, messageOf } from '../common/errors.js';
import { unmountAll, unmountAndRemove } from '../kernel/mount/mounts.js';
import type { Lifecycle } from './lifecycle.js';
import { clearOperational } from './endpoint-settings.js';
import { thawAfterSignal } from './pause.js';
import { releaseMounts, removeAnonymous } from './mounts.js';
import { isLive } from './sync.js';
import type { ContainerRecord } from './types.js';

/** DELETE /containers/{id}. */
export async function remove(
  life: Lifecycle,
  c: ContainerRecord,
  force: boolean,
  volumes = false,
): Promise<void> {
  if (life.removing.has(c.Id)) {
    throw conflict(`removal of container ${c.Id} is already in progress`);
  }
  // From here on nothing starts it again: not a pending restart, not a start by hand.
  life.removing.add(c.Id);
  try {
    for (;;) {
      if (isLive(c)) {
        if (!force) {
          const state = c.State.Paused ? 'paused' : c.State.Status;
          const how = 'stop the container before attempting removal or force remove';
          throw conflict(
            `You cannot remove a ${state} container ${c.Id}. ${c.State.Paused ? `Unpause and then ${how}` : how[0]!.toUpperCase() + how.slice(1)}`,
          );
        }
        life.stopping.add(c.Id);
        if (!(await life.restarts.settle(c))) {
          const exited = life.wait(c.Id, 'next-exit');
          if (c.State.Status === 'running') {
            await life.runtime.kill(c.Id, 'SIGKILL');
            await thawAfterSignal(life, c);
            await exited;
          }
        }
      }
      // A start already under way when the removal began may have won the
      // lock: then it is killed again (no other start can begin).
      const done = await life.locks.locked(c.Id, async () => {
        if (c.State.Status === 'running') return false;
        await life.removeLocked(c, force, volumes);
        return true;
      });
      if (done) return;
    }
  } finally {
    life.removing.delete(c.Id);
  }
}

/**
 * Removes a container that does not run (its lock held): nothing of it is
 * left; with `volumes` its anonymous volumes go too (binds and named volumes stay).
 */
export async function removeLocked(
  life: Lifecycle,
  c: ContainerRecord,
  _force: boolean,
  volumes = false,
): Promise<void> {
  if (life.repo.find(c.Id) !== c) return;
  if (c.State.Status === 'running') throw conflict(`container ${c.Id} is running`);
  life.restarts.clear(c.Id);
  await life.cleanupRuntime(c);
  await removeTrees(life, c.Id);
  await life.repo.remove(c);
  if (volumes) await removeAnonymous(life.volumes, c, (m) => life.log.warn(m));
  life.stopping.delete(c.Id);
  life.restarts.forget(c.Id);
  life.emit(c, 'destroy');
  life.waiters.notify(c.Id, 'removed', c.State.ExitCode);
  life.waiters.notify(c.Id, 'next-exit', c.State.ExitCode);
}

/** The shim's state, the overlay and the container's directory, removed together (each refuses to cross a surviving mount). */
export async function removeTrees(life: Pick<Lifecycle, 'paths'>, id: string): Promise<void> {
  const { paths } = life;
  await Promise.all([paths.stateDir(id), paths.layerDir(id), paths.dir(id)].map(unmountAndRemove));
}

/** Undoes what start did, in reverse: runtime record, rootfs, sandbox. Best-effort. */
export async function cleanupRuntime(life: Lifecycle, c: ContainerRecord): Promise<void> {
  const { runtime, networks, log } = life;
  await runtime.delete(c.Id).catch((e) => log.warn(`runc delete: ${messageOf(e)}`));
  await unmountAll(life.paths.rootfs(c.Id)).catch((e) => log.warn(messageOf(e)));
  await unmountAll(life.paths.shmDir(c.Id)).catch((e) => log.warn(messageOf(e)));
  await releaseMounts(life.volumes, c).catch((e) => log.warn(messageOf(e)));
  if (!c.HostConfig.NetworkMode.startsWith('container:')) {
    await networks.endpoints
      .teardown(c.Id)
      .catch((e) => log.warn(`network teardown: ${messageOf(e)}`));
  }
  for (const n of Object.values(c.Networks)) clearOperational(n);
}
