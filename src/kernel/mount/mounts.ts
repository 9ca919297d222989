/** Mounts the daemon makes: overlay root filesystems and bind mounts. */
import { readFile, rm } from 'node:fs/promises';
import { MNT_DETACH, mount, umount } from '../sys/libc.js';

/** Mount points currently under `prefix` (from /proc/self/mounts), deepest first. */
export async function mountsUnder(prefix: string): Promise<string[]> {
  const text = await readFile('/proc/self/mounts', 'utf8');
  const base = prefix.endsWith('/') ? prefix : prefix + '/';
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const target = line.split(' ')[1];
    if (!target) continue;
    const path = target.replace(/\\(\d{3})/g, (_m, o: string) =>
      String.fromCharCode(parseInt(o, 8)),
    );
    if (path === prefix || path.startsWith(base)) out.push(path);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** True if `path` is a mount point. */
export async function isMounted(path: string): Promise<boolean> {
  return (await mountsUnder(path)).includes(path);
}

/** Mounts an overlay of `lower` (top-most first) with `upper`/`work` at `target`. */
export async function mountOverlay(
  lower: string[],
  upper: string,
  work: string,
  target: string,
): Promise<void> {
  if (await isMounted(target)) return;
  const opts = `lowerdir=${lower.join(':')},upperdir=${upper},workdir=${work}`;
  // The kernel takes at most a page of options: about 60 layers with these paths.
  if (opts.length >= 4096) throw new Error(`too many image layers to mount (${lower.length})`);
  mount('overlay', target, 'overlay', 0, opts);
}

/**
 * Mounts a tmpfs for a shareable IPC namespace's /dev/shm at `target`
 * (nosuid, nodev, noexec, mode 1777, `size` bytes), as dockerd does under
 * the container's directory.
 */
export async function mountShm(target: string, size: number): Promise<void> {
  if (await isMounted(target)) return;
  const MS_NOSUID = 0x2;
  const MS_NODEV = 0x4;
  const MS_NOEXEC = 0x8;
  mount('shm', target, 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, `mode=1777,size=${size}`);
}

/** Unmounts `target` and everything below it; a missing mount is not an error. */
export async function unmountAll(target: string): Promise<void> {
  for (const m of await mountsUnder(target)) {
    try {
      umount(m);
    } catch {
      umount(m, MNT_DETACH);
    }
  }
}

/**
 * Removes a directory tree, refusing when anything is mounted inside it: a
 * recursive delete would otherwise descend into the mount (a container rootfs
 * may be a bind of host directories) and destroy its data.
 */
export async function removeTree(path: string): Promise<void> {
  const left = await mountsUnder(path);
  if (left.length) throw new Error(`refusing to delete ${path}: still mounted: ${left.join(', ')}`);
  await rm(path, { recursive: true, force: true });
}

/** Unmounts everything below `path`, then removes it (refusing if a mount survives). */
export async function unmountAndRemove(path: string): Promise<void> {
  await unmountAll(path);
  await removeTree(path);
}
