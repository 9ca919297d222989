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
 * Freezes held per container: overlapping operations (the CLI's stat, then
 * its copy, sent before the first answer's thaw) share one freeze; pauses
 * and thaws of one container run one after another. A container paused by
 * its user is held too (it is frozen already): while any hold lasts,
 * `docker unpause` (and a signal's thaw) only change the record, and the
 * last release thaws it unless the record then says paused. So no client
 * thaws a container while the daemon works in its files.
 */
const holds = new Map<string, { n: number; tail: Promise<unknown> }>();

/** Whether the daemon works in the container's files now (it stays frozen until done). */
export function isHeld(id: string): boolean {
  return (holds.get(id)?.n ?? 0) > 0;
}

async function hold(life: Lifecycle, c: ContainerRecord): Promise<void> {
  const id = c.Id;
  const h = holds.get(id) ?? { n: 0, tail: Promise.resolve() };
  holds.set(id, h);
  if (h.n++ === 0 && !c.State.Paused) {
    const op = () => life.runtime.pause(id);
    h.tail = h.tail.then(op, op);
  }
  try {
    await h.tail;
  } catch (e) {
    void release(life, c);
    throw e;
  }
}

function release(life: Lifecycle, c: ContainerRecord): Promise<unknown> {
  const id = c.Id;
  const h = holds.get(id);
  if (!h) return Promise.resolve();
  if (--h.n > 0) return h.tail;
  const op = () =>
    c.State.Paused
      ? undefined
      : life.runtime
          .resume(id)
          .catch((e: Error) => life.log.warn(`cannot thaw ${id.slice(0, 12)}: ${e.message}`));
  h.tail = h.tail.then(op, op);
  const tail = h.tail;
  void tail.then(() => {
    if (holds.get(id) === h && h.n === 0) holds.delete(id);
  });
  return tail;
}

/** Runs `fn` with the container's processes frozen, unless it is paused already. */
async function frozen<T>(
  life: Lifecycle,
  c: ContainerRecord,
  freeze: boolean,
  fn: () => Promise<T>,
): Promise<T> {
  if (!freeze) return fn();
  await hold(life, c);
  try {
    return await fn();
  } finally {
    await release(life, c);
  }
}
