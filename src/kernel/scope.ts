/**
 * Paths inside a root directory (a build context, an image's mounted root
 * filesystem) resolved as if that directory were `/`: symlinks are followed
 * and `..` stops at the root, as moby's FollowSymlinkInScope does. Nothing
 * the builder writes or reads through an image or a context can reach the
 * host's own files.
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

/** Thrown when a path climbs out of its root before any symlink is involved. */
export class OutsideRootError extends Error {}

/**
 * The host path of `path` (absolute or relative to the root) inside `root`,
 * every symlink on the way resolved within the root; missing components are
 * accepted as they are.
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

/**
 * The text of the regular file at `path` inside `root` (resolveInScope), or
 * undefined when there is none. Its last component is not followed, so
 * nothing outside the root is read. It is first opened as a path alone
 * (O_PATH) and read only once that handle shows a regular file: a FIFO is
 * never waited on, and no device an image holds there is opened (opening
 * some, a watchdog, acts on the host). Something other than a regular file,
 * or a file over `maxBytes`, is an error.
 */
export function readFileInRoot(root: string, path: string, maxBytes: number): string | undefined {
  let handle: number;
  try {
    handle = openSync(resolveInScope(root, path), O_PATH | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(handle);
    if (!st.isFile()) throw new Error(`${path} is not a regular file`);
    if (st.size > maxBytes) throw new Error(`${path} is larger than ${maxBytes} bytes`);
    // The very inode the handle names, whatever is at the path by now.
    const fd = openSync(`/proc/self/fd/${handle}`, constants.O_RDONLY | constants.O_NONBLOCK);
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
