/**
 * Recovery after a daemon (re)start: containers whose shim still runs are
 * followed again, exits that happened while the daemon was away recorded,
 * what the runtime has that the store does not say runs killed and deleted,
 * stale mounts unmounted, records a removed container's late save left
 * removed, and the network reconciled; restarts wait until all that is done.
 */
import { join } from 'node:path';
import { messageOf } from '../common/errors.js';
import { mountsUnder, unmountAll } from '../kernel/mount/mounts.js';
import { killProcess, liveShims, pidAlive, readExit } from '../kernel/runtime/runtime.js';
import { RESTART_FIRST_MS, startsWithDaemon } from './exit.js';
import { shutdownContainer } from './stop.js';
import type { ContainerRecord } from './types.js';
import type { Lifecycle } from './lifecycle.js';
import { thawIfFrozen } from './pause.js';
import { removeTrees } from './remove.js';

export async function recover(life: Lifecycle): Promise<void> {
  const alive: ContainerRecord[] = [];
  await life.restarts.deferDuring(() => recoverDeferred(life, alive));
  // Without live-restore the containers a previous daemon left running are
  // stopped (dockerd shuts them down at restore), then started by policy.
  if (!life.liveRestore) {
    await Promise.all(
      alive.map((c) =>
        shutdownContainer(life, c).catch((e) =>
          life.log.warn(`stopping ${c.Id.slice(0, 12)} left running: ${messageOf(e)}`),
        ),
      ),
    );
  }
  await Promise.all(
    life.repo
      .all()
      .filter(startsWithDaemon)
      .map((c) =>
        life.locks
          .locked(c.Id, async () => {
            if (life.repo.find(c.Id) === c && startsWithDaemon(c)) await life.startLocked(c);
          })
          .catch((e) => life.log.error(`restart of ${c.Id.slice(0, 12)}: ${messageOf(e)}`)),
      ),
  );
}

/** Recovery proper; `alive` gets the containers whose process still runs. */
async function recoverDeferred(life: Lifecycle, alive: ContainerRecord[]): Promise<void> {
  const { repo, runtime, log } = life;
  await removeStrays(life);
  for (const c of repo.all()) {
    if (c.State.Status === 'restarting') {
      // The daemon went away while it waited to restart.
      life.restarts.schedule(c, RESTART_FIRST_MS);
      continue;
    }
    if (c.State.Status !== 'running') {
      if (c.State.Status === 'removing') await life.removeLocked(c, true).catch(() => undefined);
      continue;
    }
    const stateDir = life.paths.stateDir(c.Id);
    if (c.State.ShimPid && pidAlive(c.State.ShimPid)) {
      life.watchExit(c);
      await thawIfFrozen(life, c);
      life.health.start(c, true);
      alive.push(c);
      continue;
    }
    const st = await readExit(stateDir);
    await life.locks.locked(c.Id, () => life.onExit(c, st));
  }
  // The store says what runs: a runtime container of no record, or of one
  // that is not running (a daemon killed after runc started it but before
  // it saved so), is killed and deleted.
  const known = new Set(repo.all().map((c) => c.Id));
  const running = new Set(
    repo
      .all()
      .filter((c) => c.State.Status === 'running')
      .map((c) => c.Id),
  );
  for (const id of await runtime.list()) {
    if (!running.has(id)) {
      log.warn(
        known.has(id)
          ? `stopping runtime container ${id}: its record says it does not run`
          : `removing unknown runtime container ${id}`,
      );
      await runtime.kill(id, 'SIGKILL', true).catch(() => undefined);
      await runtime.delete(id).catch(() => undefined);
    }
  }
  stopStaleShims(life);
  await sweepMounts(life);
  await life.networks.reconcile(running);
}

/**
 * Kills the shims a daemon killed mid-start left waiting for a client that
 * will never come (a start or an exec with --wait-attach waits 30 s): a
 * container's shim that its record does not say runs, and an exec's that
 * never started its process (exec records do not outlive the daemon).
 */
function stopStaleShims(life: Lifecycle): void {
  const kept = new Map<string, number>();
  for (const c of life.repo.all()) {
    if (c.State.Status === 'running' && c.State.ShimPid) {
      kept.set(life.paths.stateDir(c.Id), c.State.ShimPid);
    }
  }
  const stale = [
    ...liveShims(life.paths.stateRoot).filter((s) => kept.get(s.dir) !== s.pid),
    ...liveShims(life.paths.execStateRoot).filter((s) => s.waiting),
  ];
  for (const s of stale) {
    life.log.warn(`stopping stale shim ${s.pid} (${s.dir})`);
    killProcess(s.pid, s.startTime, 'SIGKILL');
  }
}

/**
 * Records the store kept without their name key (ContainerRepo.load) are
 * containers that a late save wrote back after their removal (a pending
 * restart did, before saves checked): the removal is finished now,
 * processes, mounts, endpoints and files included.
 */
async function removeStrays(life: Lifecycle): Promise<void> {
  for (const c of life.repo.takeStrays()) {
    life.log.warn(
      `removing ${c.Id.slice(0, 12)} (${c.Name}): a removed container's record was back`,
    );
    await life.repo.removeStray(c);
    await life.runtime.kill(c.Id, 'SIGKILL', true).catch(() => undefined);
    await life.cleanupRuntime(c);
    await removeTrees(life, c.Id).catch((e) =>
      life.log.warn(`removing ${c.Id.slice(0, 12)}: ${messageOf(e)}`),
    );
  }
}

/**
 * Unmounts root filesystems and namespace files that belong to no running
 * container: what a daemon killed between mounting and starting left behind.
 */
async function sweepMounts(life: Lifecycle): Promise<void> {
  const running = life.repo.all().filter((c) => c.State.Status === 'running');
  const keep = new Set<string>();
  for (const c of running) {
    keep.add(life.paths.rootfs(c.Id));
    keep.add(life.networks.endpoints.netnsPath(c.Id));
  }
  const stale = [
    ...(await mountsUnder(join(life.paths.dataRoot, 'overlay'))),
    ...(await mountsUnder(join(life.paths.execRoot, 'netns'))),
  ].filter((m) => !keep.has(m));
  for (const m of stale) {
    life.log.warn(`unmounting stale ${m}`);
    await unmountAll(m).catch((e) => life.log.error(messageOf(e)));
  }
}
