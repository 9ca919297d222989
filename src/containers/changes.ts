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

/** One entry of GET /containers/{id}/changes. */
export interface Change {
  Path: string;
  /** 0 changed, 1 added, 2 deleted. */
  Kind: 0 | 1 | 2;
}

const BOUND = ['etc/hosts', 'etc/hostname', 'etc/resolv.conf'];

/** The upper directory's entries that are only runc's mount points (and a parent holding nothing else). */
export function placeholders(upper: string): Set<string> {
  const out = new Set<string>();
  for (const rel of BOUND) {
    const st = fss.lstatSync(`${upper}/${rel}`, { throwIfNoEntry: false });
    if (st?.isFile() && st.size === 0) out.add(rel);
  }
  const etc = fss.existsSync(`${upper}/etc`) ? fss.readdirSync(`${upper}/etc`) : [];
  if (etc.length > 0 && etc.every((n) => out.has(`etc/${n}`))) out.add('etc');
  return out;
}

/** The changes recorded in `upper` over the image layers `lowers` (top-most first), by path. */
export function containerChanges(upper: string, lowers: readonly string[]): Change[] {
  if (!fss.existsSync(upper)) return [];
  const skip = placeholders(upper);
  const inLower = (rel: string): boolean => {
    for (const l of lowers) {
      const st = fss.lstatSync(`${l}/${rel}`, { throwIfNoEntry: false });
      if (st) return !isWhiteout(st);
    }
    return false;
  };
  const out: Change[] = [];
  const visit = (rel: string) => {
    const dir = rel === '' ? upper : `${upper}/${rel}`;
    for (const name of fss.readdirSync(dir)) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = fss.lstatSync(`${upper}/${r}`);
      if (!skip.has(r)) {
        const kind = isWhiteout(st) ? 2 : inLower(r) ? 0 : 1;
        out.push({ Path: `/${r}`, Kind: kind });
      }
      if (st.isDirectory()) visit(r);
    }
  };
  visit('');
  return out.sort((a, b) => (a.Path < b.Path ? -1 : a.Path > b.Path ? 1 : 0));
}
