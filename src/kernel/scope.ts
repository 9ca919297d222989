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
 * undefined when there is none. Its last component is not followed and the
 * open never waits, so nothing outside the root is read and nothing blocks.
 * Something else there (an image may hold a FIFO or a device), or a file
 * over `maxBytes`, is an error.
 */
export function readFileInRoot(root: string, path: string, maxBytes: number): string | undefined {
  let fd: number;
  try {
    fd = openSync(
      resolveInScope(root, path),
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
    );
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${path} is not a regular file`);
    if (st.size > maxBytes) throw new Error(`${path} is larger than ${maxBytes} bytes`);
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
}
