/**
 * `docker diff`: what a container changed, read from its overlay upper
 * directory as dockerd's overlay2 differ does: an entry there is Added (1)
 * or, when the image's layers have it too, Changed (0); a whiteout (a char
 * device 0:0) is Deleted (2). The mount points runc makes for the files
 * Berth binds over (/etc/hosts, /etc/hostname, /etc/resolv.conf: empty
 * files the container never sees) are left out, as dockerd keeps its own in
 * an init layer below the container's.
 */
import * as fss from 'node:fs';
import { isWhiteout } from '../kernel/pack.js';
import { fdPath } from '../kernel/scope.js';
import { walkTree } from '../kernel/walk.js';

/** One entry of GET /containers/{id}/changes. */
export interface Change {
  Path: string;
  /** 0 changed, 1 added, 2 deleted. */
  Kind: 0 | 1 | 2;
}

const BOUND = ['hosts', 'hostname', 'resolv.conf'];
const { O_DIRECTORY, O_NOFOLLOW, O_RDONLY } = fss.constants;

/**
 * The upper directory's entries that are only runc's mount points (and a
 * parent holding nothing else). Read through descriptors (a running
 * container's `etc` swapped for a link is not followed), and at most one
 * name past the mount points is read from `etc`.
 */
export function placeholders(upper: string): Set<string> {
  const out = new Set<string>();
  let top: number;
  try {
    top = fss.openSync(upper, O_RDONLY | O_DIRECTORY);
  } catch {
    return out;
  }
  try {
    let etc: number;
    try {
      etc = fss.openSync(fdPath(top, 'etc'), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch {
      return out;
    }
    try {
      for (const f of BOUND) {
        const st = fss.lstatSync(fdPath(etc, f), { throwIfNoEntry: false });
        if (st?.isFile() && st.size === 0) out.add(`etc/${f}`);
      }
      const d = fss.opendirSync(fdPath(etc));
      let names = 0;
      let others = false;
      try {
        for (let e = d.readSync(); e !== null && !others; e = d.readSync()) {
          names++;
          others = !out.has(`etc/${e.name}`);
        }
      } finally {
        d.closeSync();
      }
      if (names > 0 && !others) out.add('etc');
    } finally {
      fss.closeSync(etc);
    }
  } finally {
    fss.closeSync(top);
  }
  return out;
}

/**
 * The changes recorded in `upper` over the image layers `lowers` (top-most
 * first), by path. The upper directory of a running container changes as it
 * is read: it is walked through descriptors (walkTree), asynchronously.
 */
export async function containerChanges(
  upper: string,
  lowers: readonly string[],
): Promise<Change[]> {
  const skip = placeholders(upper);
  // A layer's own symlinks are not followed: `rel` is looked up in a layer
  // only where each of its parents is a real directory there (an image
  // whose /opt links to /etc would otherwise tell host files apart).
  // What a layer has at a directory path: a directory, nothing (look lower),
  // or something else (a file, a link, a whiteout) that hides the lower
  // layers' entries below it, as overlayfs does.
  const dirs = new Map<string, 'dir' | 'none' | 'hides'>();
  const dirIn = (l: string, rel: string): 'dir' | 'none' | 'hides' => {
    if (rel === '') return 'dir';
    const key = `${l}\0${rel}`;
    let at = dirs.get(key);
    if (at === undefined) {
      const i = rel.lastIndexOf('/');
      at = dirIn(l, i === -1 ? '' : rel.slice(0, i));
      if (at === 'dir') {
        const st = fss.lstatSync(`${l}/${rel}`, { throwIfNoEntry: false });
        at = !st ? 'none' : st.isDirectory() ? 'dir' : 'hides';
      }
      dirs.set(key, at);
    }
    return at;
  };
  const inLower = (rel: string): boolean => {
    const i = rel.lastIndexOf('/');
    const parent = i === -1 ? '' : rel.slice(0, i);
    for (const l of lowers) {
      const at = dirIn(l, parent);
      if (at === 'hides') return false;
      if (at === 'none') continue;
      const st = fss.lstatSync(`${l}/${rel}`, { throwIfNoEntry: false });
      if (st) return !isWhiteout(st);
    }
    return false;
  };
  const out: Change[] = [];
  await walkTree(upper, (r, st) => {
    if (!skip.has(r)) {
      const kind = isWhiteout(st) ? 2 : inLower(r) ? 0 : 1;
      out.push({ Path: `/${r}`, Kind: kind });
    }
  });
  return out.sort((a, b) => (a.Path < b.Path ? -1 : a.Path > b.Path ? 1 : 0));
}
