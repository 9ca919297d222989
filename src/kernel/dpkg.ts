/**
 * Questions to the host's package database, through `dpkg-query` (dpkg's own
 * interface to it; its files under /var/lib/dpkg are an internal format). The
 * builtin Debian images are made from what these answers name. Parsing lives
 * with its callers (src/images/builtin/packages.ts); this file only runs the tool.
 */
import { runOk } from './process/run.js';

const DPKG_QUERY = 'dpkg-query';

/**
 * One row per package dpkg knows, the `fields` (dpkg-query's `${Field}`
 * names, e.g. `binary:Package`, `db:Status-Abbrev`) in order. Values never
 * contain a tab or a newline (multi-line fields are not asked for).
 */
export async function dpkgInstalled(fields: string[]): Promise<string[][]> {
  const format = fields.map((f) => `\${${f}}`).join('\t') + '\n';
  const out = await runOk([DPKG_QUERY, '-W', `-f=${format}`]);
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}

/**
 * The paths the packages `ids` (binary:Package names) installed, each once,
 * in dpkg's order. Diversion notes (`diverted by ... to: ...`) are left out.
 */
export async function dpkgFiles(ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const out = await runOk([DPKG_QUERY, '-L', '--', ...ids]);
  const seen = new Set<string>();
  for (const l of out.split('\n')) if (l.startsWith('/')) seen.add(l);
  return [...seen];
}

/** The status stanzas (`dpkg-query -s`) of the packages `ids`, as dpkg prints them. */
export async function dpkgStatus(ids: string[]): Promise<string> {
  if (ids.length === 0) return '';
  return runOk([DPKG_QUERY, '-s', '--', ...ids]);
}
