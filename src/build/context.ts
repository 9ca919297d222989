/**
 * The build context on the daemon's side: the client's tar unpacked into a
 * directory, the Dockerfile found in it, and COPY/ADD sources looked up
 * (wildcards, the context's own symlinks resolved inside it) and hashed for
 * the cache. A source's hash covers each file's path, type, mode, size, link
 * target and content, not its times (as Docker's tarsum-based hash).
 */
import { createHash } from 'node:crypto';
import * as fss from 'node:fs';
import { posix } from 'node:path';
import { invalid } from '../common/errors.js';
import { extractTar } from '../images/extract.js';
import { PatternMatcher, readDockerignore } from './dockerignore.js';
import { relativeTo, resolveInScope, resolveSource } from '../kernel/scope.js';

/** Unpacks the context tar (plain or gzip) into `dir`; modes are kept, whiteout names are not special. */
export async function unpackContext(
  input: AsyncIterable<Buffer | string>,
  dir: string,
): Promise<void> {
  await extractTar(input, dir, { layer: true, whiteouts: false, padEnd: true });
}

/** Reads the Dockerfile named `name` (falling back to `dockerfile`) and drops ignored build files. */
export function takeDockerfile(dir: string, name: string): { name: string; text: string } {
  let path = resolveInScope(dir, name);
  let used = name;
  if (!isFile(path) && name === 'Dockerfile' && isFile(resolveInScope(dir, 'dockerfile'))) {
    used = 'dockerfile';
    path = resolveInScope(dir, used);
  }
  if (!isFile(path)) throw invalid(`Cannot locate specified Dockerfile: ${name}`);
  const text = fss.readFileSync(path, 'utf8');
  if (text.length === 0) throw invalid(`the Dockerfile (${used}) cannot be empty`);
  removeIgnoredBuildFiles(dir, used);
  return { name: used, text };
}

function isFile(p: string): boolean {
  return fss.statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
}

/** As moby's removeDockerfile: `.dockerignore` and the Dockerfile leave the context when ignored. */
function removeIgnoredBuildFiles(dir: string, dockerfile: string): void {
  const ignore = resolveInScope(dir, '.dockerignore');
  if (!isFile(ignore)) return;
  const m = new PatternMatcher(readDockerignore(fss.readFileSync(ignore, 'utf8')));
  for (const f of ['.dockerignore', dockerfile]) {
    if (m.matches(f)) fss.rmSync(resolveInScope(dir, f), { force: true });
  }
}

/** One source of a COPY or ADD: a path in a root (context or image) and its cache hash. */
export interface SourceInfo {
  /** The root it was found in. */
  root: string;
  /** The host path, resolved inside the root. */
  path: string;
  /** The path as written (relative to the root), for the destination's name. */
  rel: string;
  /** `file:<hex>` or `dir:<hex>`. */
  hash: string;
}

function hasWildcards(p: string): boolean {
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\') i++;
    else if (p[i] === '*' || p[i] === '?' || p[i] === '[') return true;
  }
  return false;
}

/** Go's filepath.Match: `*` and `?` stop at `/`, `[...]` classes, `\` escapes. */
export function globMatch(pattern: string, name: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) return false;
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^') || cls.startsWith('!')) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) {
      re += (pattern[++i] as string).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  try {
    return new RegExp(`${re}$`, 's').test(name);
  } catch {
    return false;
  }
}

/** Every path below `dir` (relative, lexical order as filepath.Walk), directories before their content. */
function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  const names = fss.readdirSync(rel === '' ? dir : `${dir}/${rel}`).sort();
  for (const n of names) {
    const r = rel === '' ? n : `${rel}/${n}`;
    out.push(r);
    const st = fss.lstatSync(`${dir}/${r}`);
    if (st.isDirectory()) out.push(...walk(dir, r));
  }
  return out;
}

/** Hash of one entry: its path in the root, type, mode, size, link target and content. */
function entryHash(rel: string, path: string): string {
  const st = fss.lstatSync(path);
  const h = createHash('sha256');
  const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : 'o';
  const link = st.isSymbolicLink() ? fss.readlinkSync(path) : '';
  h.update(
    `${rel}\0${type}\0${(st.mode & 0o7777).toString(8)}\0${st.isFile() ? st.size : 0}\0${link}\0`,
  );
  if (st.isFile()) {
    // in pieces: a context may hold files larger than memory should
    const fd = fss.openSync(path, 'r');
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (let n; (n = fss.readSync(fd, buf, 0, buf.length, null)) > 0;)
        h.update(buf.subarray(0, n));
    } finally {
      fss.closeSync(fd);
    }
  }
  return h.digest('hex');
}

function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** The info of one existing source path (no wildcards). */
function sourceInfo(root: string, rel: string, fromContext: boolean): SourceInfo {
  const path = resolveSource(root, rel);
  const st = fss.statSync(path, { throwIfNoEntry: false });
  if (!st) {
    const why = fromContext ? 'file not found in build context or excluded by .dockerignore: ' : '';
    throw invalid(`${why}stat ${rel}: file does not exist`);
  }
  if (!st.isDirectory()) {
    return { root, path, rel, hash: `file:${entryHash(relativeTo(root, path), path)}` };
  }
  const subs = walk(path).map((r) => entryHash(relativeTo(root, `${path}/${r}`), `${path}/${r}`));
  return { root, path, rel, hash: `dir:${sha256Hex(subs.sort().join(','))}` };
}

/**
 * The sources of a COPY/ADD in `root`, wildcards expanded over every path of
 * the root; `fromContext` picks Docker's not-found message.
 */
export function findSources(root: string, srcs: string[], fromContext: boolean): SourceInfo[] {
  const out: SourceInfo[] = [];
  for (const orig of srcs) {
    const rel = orig.replace(/^\/+/, '').replace(/^\.\//, '');
    if (hasWildcards(rel)) {
      for (const r of walk(root)) if (globMatch(rel, r)) out.push(sourceInfo(root, r, fromContext));
      continue;
    }
    out.push(sourceInfo(root, rel === '' ? '.' : rel, fromContext));
  }
  if (out.length === 0) throw invalid('no source files were specified');
  return out;
}

/** The cache hash of a COPY's sources: the one source's hash, or `multi:` of them all. */
export function sourcesHash(infos: SourceInfo[]): string {
  if (infos.length === 1) return (infos[0] as SourceInfo).hash;
  return `multi:${sha256Hex(infos.map((i) => i.hash).join(','))}`;
}

/** The destination's base name for a source file copied into a directory. */
export function sourceBase(info: SourceInfo): string {
  return posix.basename(info.rel);
}
