/** Mounts the daemon makes: overlay root filesystems and bind mounts. */
import { lstatSync, readFileSync, realpathSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { readFile, rm } from 'node:fs/promises';
import { MNT_DETACH, MS_RDONLY, mount, umount } from '../sys/libc.js';

/**
 * Mount points currently under `dir` (from /proc/self/mounts, which names
 * them by their real paths: `dir` is resolved the same way first, so a
 * symlink on the way hides no mount), deepest first. Read synchronously:
 * the kernel makes the text in one read, and a trip through the thread pool
 * costs more than that on a start's path.
 */
export async function mountsUnder(dir: string): Promise<string[]> {
  const prefix = realPath(dir);
  const text = readFileSync('/proc/self/mounts', 'utf8');
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
  return (await mountsUnder(path)).includes(realPath(path));
}

/** `path` with its symlinks resolved, as far as it exists (the rest as given). */
function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(realPath(parent), basename(path));
  }
}

/** Mounts an overlay of `lower` (top-most first) with `upper`/`work` at `target`. */
export async function mountOverlay(
  lower: string[],
  upper: string,
  work: string,
  target: string,
  readonly = false,
): Promise<void> {
  if (await isMounted(target)) return;
  const opts = `lowerdir=${lower.join(':')},upperdir=${upper},workdir=${work}`;
  // The kernel takes at most a page of options: about 60 layers with these paths.
  if (opts.length >= 4096) throw new Error(`too many image layers to mount (${lower.length})`);
  mount('overlay', target, 'overlay', readonly ? MS_RDONLY : 0, opts);
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

/** lstat of `path`: null when nothing is there, undefined when lstat failed otherwise. */
function lstatQuiet(path: string): Stats | null | undefined {
  try {
    return lstatSync(path, { throwIfNoEntry: false }) ?? null;
  } catch {
    return undefined;
  }
}

/** Unmounts everything below `path`, then removes it (refusing if a mount survives). */
export async function unmountAndRemove(path: string): Promise<void> {
  // Nothing there, nothing mounted there. Any other lstat error (a broken
  // mount answers EIO or ENOTCONN) still goes through the unmount.
  if (lstatQuiet(path) === null) return;
  await unmountAll(path);
  await removeTree(path);
}

const MS: Record<string, [clear: boolean, flag: number]> = {
  defaults: [false, 0],
  ro: [false, 0x1],
  rw: [true, 0x1],
  suid: [true, 0x2],
  nosuid: [false, 0x2],
  dev: [true, 0x4],
  nodev: [false, 0x4],
  exec: [true, 0x8],
  noexec: [false, 0x8],
  sync: [false, 0x10],
  async: [true, 0x10],
  remount: [false, 0x20],
  mand: [false, 0x40],
  nomand: [true, 0x40],
  dirsync: [false, 0x80],
  atime: [true, 0x400],
  noatime: [false, 0x400],
  diratime: [true, 0x800],
  nodiratime: [false, 0x800],
  bind: [false, 0x1000],
  rbind: [false, 0x1000 | 0x4000],
  unbindable: [false, 0x20000],
  runbindable: [false, 0x20000 | 0x4000],
  private: [false, 0x40000],
  rprivate: [false, 0x40000 | 0x4000],
  slave: [false, 0x80000],
  rslave: [false, 0x80000 | 0x4000],
  shared: [false, 0x100000],
  rshared: [false, 0x100000 | 0x4000],
  relatime: [false, 0x200000],
  norelatime: [true, 0x200000],
  strictatime: [false, 0x1000000],
  nostrictatime: [true, 0x1000000],
};
const PROPAGATION_FLAGS = 0x20000 | 0x40000 | 0x80000 | 0x100000;
const MS_REC = 0x4000;
const MS_BIND_RO = 0x1000 | 0x1;

/**
 * mount(8)-style options ("ro,bind,size=1m") as flags and data, as
 * moby/sys/mount's parseOptions: known words set or clear flags, the rest
 * (comma-joined) is the filesystem's data. Pure.
 */
export function parseMountOptions(options: string): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const o of options.split(',')) {
    const f = MS[o];
    if (f) flags = f[0] ? flags & ~f[1] : flags | f[1];
    else if (o) data.push(o);
  }
  return { flags, data: data.join(',') };
}

/**
 * Mounts `device` at `target` as moby's mount.Mount (the local volume
 * driver's `-o type=… device=… o=…`): the mount with its flags and data, then
 * the propagation as a second call, then a read-only bind remounted read-only.
 */
export function mountWithOptions(
  device: string,
  target: string,
  type: string,
  options: string,
): void {
  const { flags, data } = parseMountOptions(options);
  const oflags = flags & ~PROPAGATION_FLAGS;
  mount(device, target, type || null, oflags, data || null);
  if (flags & PROPAGATION_FLAGS) {
    mount(null, target, null, flags & (PROPAGATION_FLAGS | MS_REC), null);
  }
  if ((oflags & MS_BIND_RO) === MS_BIND_RO) mount(null, target, null, oflags | 0x20, null);
}

/**
 * The propagation of the mount `path` lives on ("shared", "slave" or
 * "private"), and that mount's point, from /proc/self/mountinfo: dockerd
 * checks a bind source before it asks for shared or slave propagation.
 */
export async function propagationAt(path: string): Promise<{ mountPoint: string; kind: string }> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  let best = { mountPoint: '/', kind: 'private', len: -1 };
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const point = (f[4] ?? '').replace(/\\(\d{3})/g, (_m, o: string) =>
      String.fromCharCode(parseInt(o, 8)),
    );
    if (!point) continue;
    const under = point === '/' || path === point || path.startsWith(point + '/');
    if (!under || point.length < best.len) continue;
    const sep = f.indexOf('-');
    const optional = f.slice(6, sep < 0 ? undefined : sep);
    const kind = optional.some((o) => o.startsWith('shared:'))
      ? 'shared'
      : optional.some((o) => o.startsWith('master:'))
        ? 'slave'
        : 'private';
    best = { mountPoint: point, kind, len: point.length };
  }
  return { mountPoint: best.mountPoint, kind: best.kind };
}
