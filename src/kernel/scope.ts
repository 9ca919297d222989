/**
 * Paths inside a root directory (a build context, an image's mounted root
 * filesystem, a running container's `/proc/PID/root`) resolved as if that
 * directory were `/`: symlinks are followed and `..` stops at the root, as
 * moby's FollowSymlinkInScope and openat2's RESOLVE_IN_ROOT do. Nothing the
 * builder or the daemon reads through an image, a context or a container can
 * reach the host's own files.
 *
 * Two ways (decision 0049). `resolveInScope` walks with lstat and returns a
 * path that the kernel resolves again later: right only for a tree nothing
 * changes meanwhile (a build's, a frozen container's). `openInRoot` resolves
 * through descriptors, one component at a time, each looked up inside the
 * directory already opened (`/proc/self/fd/N/name`): a running container
 * that swaps a directory for a symlink between two steps cannot redirect it.
 */
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readlinkSync,
  readSync,
} from 'node:fs';
import { posix } from 'node:path';
import { O_PATH } from './sys/libc.js';

const MAX_LINKS = 255;
/**
 * openInRoot's bounds: the kernel's 40 links a lookup (MAXSYMLINKS), and at
 * most 512 components looked up (each may hold a descriptor until the end).
 */
const MAX_OPEN_LINKS = 40;
const MAX_STEPS = 512;

/** Thrown when a path climbs out of its root before any symlink is involved. */
export class OutsideRootError extends Error {}

/**
 * The host path of `path` (absolute or relative to the root) inside `root`,
 * every symlink on the way resolved within the root; missing components are
 * accepted as they are. Only for a tree nothing changes until the path is
 * used (the kernel walks it again): a running container's goes through
 * openInRoot.
 */
export function resolveInScope(root: string, path: string): string {
  let rest = posix.normalize(`/${path}`);
  let built = '';
  for (let n = 0; rest !== ''; n++) {
    if (n > MAX_LINKS) throw new Error(`too many links in ${path}`);
    const i = rest.indexOf('/');
    let p: string;
    if (i === -1) {
      p = rest;
      rest = '';
    } else {
      p = rest.slice(0, i);
      rest = rest.slice(i + 1);
    }
    if (p === '') continue;
    const clean = posix.normalize(`/${built}${p}`);
    if (clean === '/') {
      built = '';
      continue;
    }
    const full = root + clean;
    const st = lstatSync(full, { throwIfNoEntry: false });
    if (!st || !st.isSymbolicLink()) {
      built += `${p}/`;
      continue;
    }
    const dest = readlinkSync(full);
    if (dest.startsWith('/')) built = '';
    rest = `${dest}/${rest}`;
  }
  const inside = posix.normalize(`/${built}`);
  return inside === '/' ? root : root + inside.replace(/\/$/, '');
}

/**
 * Like resolveInScope, but a relative path that climbs above the root
 * lexically (`../x`) is an error, as Docker reports for COPY sources.
 */
export function resolveSource(root: string, path: string): string {
  const joined = posix.normalize(`${root}/${path}`);
  if (joined !== root && !joined.startsWith(`${root}/`)) {
    throw new OutsideRootError(`forbidden path outside the build context: ${path} ()`);
  }
  return resolveInScope(root, joined.slice(root.length));
}

/** `path` relative to `root` ('.' for the root itself). */
export function relativeTo(root: string, path: string): string {
  const r = posix.relative(root, path);
  return r === '' ? '.' : r;
}

/** An error with the code the kernel would give (ELOOP, ENOTDIR), as fs errors carry one. */
function sysError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/**
 * The path by which the kernel finds `name` inside the directory open as
 * `fd`: that very inode, whatever is at its path by now. Without `name`, the
 * opened file itself.
 */
export const fdPath = (fd: number, name?: string): string =>
  name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;

/**
 * Opens `path` (absolute or relative to the root) inside `root` with
 * `flags`, as openat2 with RESOLVE_IN_ROOT: each component is looked up in
 * the directory opened before it (never by a path the kernel walks again),
 * a symlink is resolved inside the root (an absolute one from the root, a
 * relative one from its own directory; at most 255), `..` never climbs above
 * the root. The last component is followed unless `flags` has O_NOFOLLOW
 * (then a symlink there is ELOOP, or with O_PATH a handle on the link). It is
 * first held as a path alone (O_PATH) and opened with `flags` through that
 * handle, so it is the inode the resolution found; mind that opening a FIFO
 * without O_NONBLOCK waits for a writer (open with O_PATH and look first).
 * `root` itself is the caller's and is followed (it may be `/proc/PID/root`).
 * Every intermediate descriptor is closed, also on errors.
 */
export function openInRoot(root: string, path: string, flags: number): number {
  const follow = (flags & constants.O_NOFOLLOW) === 0;
  const dirs = [openSync(root, O_PATH | constants.O_DIRECTORY)];
  const top = () => dirs[dirs.length - 1] as number;
  const popTo = (n: number) => {
    while (dirs.length > n) closeSync(dirs.pop() as number);
  };
  try {
    let rest = path.split('/');
    let links = 0;
    let steps = 0;
    while (rest.length > 0) {
      const name = rest.shift() as string;
      if (name === '' || name === '.') continue;
      // Links that each lead through many directories: a bound on the work
      // and on the descriptors held, as the kernel's on a path's length.
      if (++steps > MAX_STEPS) throw sysError('ENAMETOOLONG', `${path} leads through too much`);
      if (name === '..') {
        popTo(Math.max(dirs.length - 1, 1));
        continue;
      }
      const last = rest.every((r) => r === '' || r === '.');
      // `name/` (or `name/.`) must be a directory, as the kernel has it.
      const asDir = last && rest.length > 0;
      let handle: number;
      try {
        handle = openSync(fdPath(top(), name), O_PATH | constants.O_NOFOLLOW);
      } catch (e) {
        // Missing: a last component may be made (O_CREAT), never through a link.
        if (!last || (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        if ((flags & constants.O_CREAT) === 0) throw e;
        return openSync(fdPath(top(), name), flags | constants.O_NOFOLLOW);
      }
      let st;
      try {
        st = fstatSync(handle);
      } catch (e) {
        closeSync(handle);
        throw e;
      }
      if (st.isSymbolicLink() && (!last || follow)) {
        closeSync(handle);
        if (++links > MAX_OPEN_LINKS) throw sysError('ELOOP', `too many links in ${path}`);
        // The link read from its directory's descriptor: what it says is
        // resolved inside the root, whatever it is by now.
        const dest = readlinkSync(fdPath(top(), name));
        if (dest.startsWith('/')) popTo(1);
        rest = [...dest.split('/'), ...rest];
        continue;
      }
      if (!last) {
        if (!st.isDirectory()) {
          closeSync(handle);
          throw sysError('ENOTDIR', `${name} in ${path} is not a directory`);
        }
        dirs.push(handle);
        continue;
      }
      if (st.isSymbolicLink()) {
        if ((flags & O_PATH) !== 0) return handle;
        closeSync(handle);
        throw sysError('ELOOP', `${path} is a symbolic link`);
      }
      if (asDir && !st.isDirectory()) {
        closeSync(handle);
        throw sysError('ENOTDIR', `${path}: ${name} is not a directory`);
      }
      if ((flags & O_PATH) !== 0 && (flags & constants.O_DIRECTORY) === 0) return handle;
      try {
        // Reopened through the handle: that inode, not whatever is at the name now.
        return openSync(fdPath(handle), flags & ~constants.O_NOFOLLOW);
      } finally {
        closeSync(handle);
      }
    }
    // A path ending in the root or in `.`/`..`: the directory it reached.
    return openSync(fdPath(top()), flags & ~constants.O_NOFOLLOW);
  } finally {
    popTo(0);
  }
}

/**
 * The text of the regular file at `path` inside `root` (openInRoot, so a
 * container changing its tree meanwhile cannot redirect it), or undefined
 * when there is none. It is first opened as a path alone (O_PATH) and read
 * only once that handle shows a regular file: a FIFO is never waited on, and
 * no device an image holds there is opened (opening some, a watchdog, acts
 * on the host). Something other than a regular file, or a file over
 * `maxBytes`, is an error.
 */
export function readFileInRoot(root: string, path: string, maxBytes: number): string | undefined {
  let handle: number;
  try {
    handle = openInRoot(root, path, O_PATH);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(handle);
    if (!st.isFile()) throw new Error(`${path} is not a regular file`);
    if (st.size > maxBytes) throw new Error(`${path} is larger than ${maxBytes} bytes`);
    // The very inode the handle names, whatever is at the path by now.
    const fd = openSync(fdPath(handle), constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const buf = Buffer.alloc(st.size);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, got);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } finally {
    closeSync(handle);
  }
}
