/**
 * Debian alternatives (`/usr/bin/awk -> /etc/alternatives/awk -> /usr/bin/mawk`):
 * maintainer scripts make these links, so no package lists them, yet `awk`
 * and `which` are alternatives. A layer gets the links of every alternative
 * whose current choice is one of its own files, as update-alternatives set them
 * on this host.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** One alternative link: `link -> /etc/alternatives/name -> target`. */
export interface AlternativeLink {
  name: string;
  /** The generic path (`/usr/bin/awk`). */
  link: string;
  /** What it points to now (`/usr/bin/mawk`). */
  target: string;
}

/** The master and slave links (name, generic path) of one `/var/lib/dpkg/alternatives/<name>` file. */
export function parseAlternative(
  name: string,
  text: string,
): Array<{ name: string; link: string }> {
  const l = text.split('\n');
  const master = l[1];
  if (!master?.startsWith('/')) return [];
  const out = [{ name, link: master }];
  for (let i = 2; i + 1 < l.length && l[i] !== ''; i += 2) {
    out.push({ name: l[i] as string, link: l[i + 1] as string });
  }
  return out;
}

/** Every alternative link on this host with its current target, sorted by name. */
export function hostAlternatives(
  admindir = '/var/lib/dpkg/alternatives',
  etc = '/etc/alternatives',
): AlternativeLink[] {
  let names: string[];
  try {
    names = readdirSync(admindir).sort();
  } catch {
    return [];
  }
  const out: AlternativeLink[] = [];
  for (const n of names) {
    let text: string;
    try {
      text = readFileSync(join(admindir, n), 'utf8');
    } catch {
      continue;
    }
    for (const a of parseAlternative(n, text)) {
      try {
        out.push({ ...a, target: readlinkSync(join(etc, a.name)) });
      } catch {
        // a slave with no current choice
      }
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
