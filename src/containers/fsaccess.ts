/**
 * Reaching a container's root filesystem from the daemon (`docker cp`,
 * `diff`, `export`, `commit`): a running container's mounted rootfs as it
 * is; a stopped one's overlay mounted for the operation (read-only unless
 * it writes) under the container's lock, so no start races the mount.
 *
 * While the daemon works in a running container's files its processes are
 * frozen (the cgroup freezer, as `podman cp` does), unless already paused:
 * the paths Berth resolves inside the root cannot be swapped for a symlink
 * to the host's files between the check and the use (CVE-2018-15664's race;
 * dockerd closes it with a chroot, which a Node daemon has no cheap way to
 * make). A daemon that dies mid-operation leaves it frozen; recovery thaws
 * a container whose record does not say paused.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { notFound } from '../common/errors.js';
import { mountOverlay, unmountAll } from '../kernel/mount/mounts.js';
import type { Lifecycle } from './lifecycle.js';
import type { ContainerRecord } from './types.js';

export type RootfsUse<T> = (root: string) => Promise<T>;

/** Runs `fn` with the container's root filesystem at hand (see the file comment). */
export async function withRootfs<T>(
  life: Lifecycle,
  c: ContainerRecord,
  mode: { write: boolean; freeze?: boolean },
  fn: RootfsUse<T>,
): Promise<T> {
  const use = async (): Promise<T> => {
    if (c.State.Status === 'running') {
      return frozen(life, c, mode.freeze ?? true, () => fn(life.paths.rootfs(c.Id)));
    }
    const img = await life.images.resolve(c.ImageID);
    if (!img) throw notFound(`No such image: ${c.Image}`);
    const layers = life.paths.layerDir(c.Id);
    const merged = join(layers, 'merged');
    for (const d of ['diff', 'work', 'merged']) await mkdir(join(layers, d), { recursive: true });
    await mountOverlay(
      img.layerDirs,
      join(layers, 'diff'),
      join(layers, 'work'),
      merged,
      !mode.write,
    );
    try {
      return await fn(merged);
    } finally {
      await unmountAll(merged);
    }
  };
  // A stopped container's mount, and every write, hold the lock; a read of a
  // running container does not (its exit waits for no client).
  if (c.State.Status === 'running' && !mode.write) return use();
  return life.locks.lockedLive(c, use);
}

/**
 * Per container: the daemon's holds on its freeze (overlapping operations,
 * the CLI's stat then its copy, share one), whether it is frozen, and every
 * freeze and thaw, the user's `pause` and `unpause` too, run one after
 * another in the order asked. While any hold lasts no thaw happens: an
 * unpause (or the thaw after a stop signal) only changes the record, and the
 * last release thaws unless the record then says paused. So no client thaws
 * a container while the daemon works in its files, and no read starts on a
 * container a thaw in flight is about to resume.
 */
interface Freezer {
  holds: number;
  frozen: boolean;
  /** Operations asked and not done. */
  queued: number;
  tail: Promise<unknown>;
}
const freezers = new Map<string, Freezer>();

function freezerOf(c: ContainerRecord): Freezer {
  const known = freezers.get(c.Id);
  if (known) return known;
  // Idle, a container is frozen exactly when its user paused it.
  const f: Freezer = {
    holds: 0,
    frozen: c.State.Paused === true,
    queued: 0,
    tail: Promise.resolve(),
  };
  freezers.set(c.Id, f);
  return f;
}

/** Runs `op` after the container's freezes and thaws asked before it; forgets an idle freezer. */
function inTurn<T>(c: ContainerRecord, f: Freezer, op: () => Promise<T>): Promise<T> {
  f.queued++;
  const run = f.tail.then(op, op);
  f.tail = run.then(
    () => undefined,
    () => undefined,
  );
  void f.tail.then(() => {
    if (--f.queued === 0 && f.holds === 0 && freezers.get(c.Id) === f) freezers.delete(c.Id);
  });
  return run;
}

const freezeNow = async (life: Lifecycle, c: ContainerRecord, f: Freezer): Promise<void> => {
  if (f.frozen) return;
  await life.runtime.pause(c.Id);
  f.frozen = true;
};

/** Holds the container frozen; the freezer to release. */
async function hold(life: Lifecycle, c: ContainerRecord): Promise<Freezer> {
  const f = freezerOf(c);
  f.holds++;
  try {
    await inTurn(c, f, () => freezeNow(life, c, f));
    return f;
  } catch (e) {
    await release(life, c, f);
    throw e;
  }
}

function release(life: Lifecycle, c: ContainerRecord, f: Freezer): Promise<void> {
  f.holds--;
  return inTurn(c, f, async () => {
    if (f.holds > 0 || !f.frozen || c.State.Paused) return;
    await life.runtime
      .resume(c.Id)
      .then(() => (f.frozen = false))
      .catch((e: Error) => life.log.warn(`cannot thaw ${c.Id.slice(0, 12)}: ${e.message}`));
  });
}

/**
 * The user's pause (`paused`) or unpause, in turn with the daemon's freezes:
 * the record says so once done; the processes are thawed only when no hold
 * lasts (else by the last release). A runtime failure leaves the record as
 * it was.
 */
export function setPaused(life: Lifecycle, c: ContainerRecord, paused: boolean): Promise<void> {
  const f = freezerOf(c);
  return inTurn(c, f, async () => {
    if (paused) await freezeNow(life, c, f);
    else if (f.frozen && f.holds === 0) {
      await life.runtime.resume(c.Id);
      f.frozen = false;
    }
    c.State.Paused = paused;
  });
}

/** Runs `fn` with the container's processes frozen (see `Freezer`). */
async function frozen<T>(
  life: Lifecycle,
  c: ContainerRecord,
  freeze: boolean,
  fn: () => Promise<T>,
): Promise<T> {
  if (!freeze) return fn();
  const f = await hold(life, c);
  try {
    return await fn();
  } finally {
    await release(life, c, f);
  }
}
