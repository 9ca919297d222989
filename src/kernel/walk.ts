/**
 * A walk of a directory tree that a running container may be changing
 * while it is walked (its overlay upper directory, a volume it mounts),
 * decision 0049. Each directory is entered through a descriptor opened
 * O_DIRECTORY|O_NOFOLLOW inside its parent's descriptor
 * (`/proc/self/fd/N/name`), and its entries are read and lstat'ed through
 * it: a directory swapped for a symlink to the host's `/` or `/etc` between
 * two steps is either the directory first seen or not entered, never the
 * place the link names. Asynchronous throughout: a large tree does not
 * stall the daemon.
 */
import { constants, type Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import { fdPath } from './scope.js';

/** A directory whose path would be longer is not entered (PATH_MAX, where a walk by paths stopped). */
const MAX_PATH = 4096;

/** Errors that say an entry went or changed kind since it was seen: it is left out. */
const GONE = new Set(['ENOENT', 'ENOTDIR', 'ELOOP']);
const gone = (e: unknown): boolean => GONE.has((e as NodeJS.ErrnoException).code ?? '');

/**
 * Calls `visit` for every entry under `dir` (not `dir` itself) with its
 * path relative to `dir` and its lstat, a directory before its entries, in
 * no set order. `visit` returning false keeps the walk out of a directory.
 * A missing `dir` has no entries; an entry that goes meanwhile is left out.
 */
export async function walkTree(
  dir: string,
  visit: (rel: string, st: Stats) => boolean | void,
): Promise<void> {
  let top: fs.FileHandle;
  try {
    top = await fs.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const walk = async (fd: number, rel: string): Promise<void> => {
    for await (const ent of await fs.opendir(fdPath(fd))) {
      const r = rel === '' ? ent.name : `${rel}/${ent.name}`;
      const at = fdPath(fd, ent.name);
      let st: Stats;
      try {
        st = await fs.lstat(at);
      } catch (e) {
        if (gone(e)) continue;
        throw e;
      }
      if (visit(r, st) === false || !st.isDirectory()) continue;
      if (dir.length + 1 + r.length > MAX_PATH) continue;
      let child: fs.FileHandle;
      try {
        child = await fs.open(
          at,
          constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW,
        );
      } catch (e) {
        if (gone(e)) continue; // a symlink or a file by now: not entered
        throw e;
      }
      try {
        // Another directory put in its place meanwhile is not this entry's.
        const now = await child.stat();
        if (now.dev === st.dev && now.ino === st.ino) await walk(child.fd, r);
      } finally {
        await child.close();
      }
    }
  };
  try {
    await walk(top.fd, '');
  } finally {
    await top.close();
  }
}
