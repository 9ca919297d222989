/**
 * The archive API's filesystem side (`docker cp`): paths inside a container's
 * root resolved as dockerd's ResolvePath does (the directory part through
 * symlinks *within* the root, as FollowSymlinkInScope; the last element
 * itself never followed; a trailing `/` or `/.` kept), the stat Docker puts
 * in X-Docker-Container-Path-Stat (Go's os.FileMode bits), the tar of a
 * resource with its entries renamed to the requested name, and extraction
 * into a directory. Nothing here follows a symlink out of the root: reads
 * walk with lstat and never descend through links, writes go through the
 * image unpacker (parents checked to be real directories, files opened
 * O_NOFOLLOW|O_EXCL).
 */
import * as fss from 'node:fs';
import { once } from 'node:events';
import { posix } from 'node:path';
import tar from 'tar-stream';
import { BerthError, invalid, notFound } from '../common/errors.js';
import { resolveInScope } from '../kernel/scope.js';
import { packTree } from '../kernel/pack.js';
import { errnoOf, Unpacker, type Entry } from '../kernel/unpack.js';

/** Go's os.FileMode type bits. */
const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;
const GO_DEVICE = 2 ** 26;
const GO_PIPE = 2 ** 25;
const GO_SOCKET = 2 ** 24;
const GO_SETUID = 2 ** 23;
const GO_SETGID = 2 ** 22;
const GO_CHARDEV = 2 ** 21;
const GO_STICKY = 2 ** 20;

/** The unix mode of a stat as Go's os.FileMode (what the path stat header carries). */
export function goFileMode(mode: number): number {
  let m = mode & 0o777;
  const type = mode & 0o170000;
  if (type === 0o040000) m += GO_DIR;
  else if (type === 0o120000) m += GO_SYMLINK;
  else if (type === 0o010000) m += GO_PIPE;
  else if (type === 0o140000) m += GO_SOCKET;
  else if (type === 0o060000) m += GO_DEVICE;
  else if (type === 0o020000) m += GO_DEVICE + GO_CHARDEV;
  if (mode & 0o4000) m += GO_SETUID;
  if (mode & 0o2000) m += GO_SETGID;
  if (mode & 0o1000) m += GO_STICKY;
  return m;
}

/** Docker's ContainerPathStat. */
export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** The X-Docker-Container-Path-Stat header value: base64 of the stat's JSON. */
export function statHeader(s: PathStat): string {
  return Buffer.from(JSON.stringify(s)).toString('base64');
}

/** Whether `p` asks for a directory's contents: it ends in `/.` (or is `.`). */
function specifiesCurrentDir(p: string): boolean {
  return p === '.' || p.endsWith('/.');
}

/** archive.PreserveTrailingDotOrSeparator: the cleaned path keeps what the original ended with. */
export function preserveTrailing(cleaned: string, original: string): string {
  if (specifiesCurrentDir(original) && !cleaned.endsWith('.')) {
    return cleaned === '/' ? '/.' : `${cleaned}/.`;
  }
  if (original.endsWith('/') && !cleaned.endsWith('/')) return `${cleaned}/`;
  return cleaned;
}

/** Go's filepath.Base: the last element, trailing slashes ignored; "/" for the root. */
export function goBase(p: string): string {
  const t = p.replace(/\/+$/, '');
  if (t === '') return p.startsWith('/') ? '/' : '.';
  return t.slice(t.lastIndexOf('/') + 1);
}

/** A path in the container: its host path (resolved in the root) and its absolute form. */
export interface Resolved {
  /**
   * The host path: the resolved directory, then the last element as given;
   * for a path ending in `/` or `/.` (a directory is meant, its last link
   * followed, as the kernel does for a trailing slash) all of it resolved
   * in the root, so no trailing slash is ever left for the host's kernel to
   * follow.
   */
  host: string;
  /** The path as the container sees it, cleaned, its trailing `/` or `/.` kept. */
  abs: string;
  /** Whether the path must name a directory (it ends in `/` or `/.`). */
  dir: boolean;
}

/** dockerd's container.ResolvePath within `root` (the container's mounted rootfs). */
export function resolvePath(root: string, path: string): Resolved {
  const abs = preserveTrailing(posix.join('/', path), path);
  if (abs.endsWith('/') || abs.endsWith('/.')) {
    return { host: resolveInScope(root, abs), abs, dir: true };
  }
  const cut = abs.lastIndexOf('/');
  const dir = abs.slice(0, cut + 1);
  const base = abs.slice(cut + 1);
  return { host: `${resolveInScope(root, dir).replace(/\/$/, '')}/${base}`, abs, dir: false };
}

/** The error lstat gives for `a-file/`. */
function notADirectory(): Error {
  return Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
}

/** Docker's 404 for a path that is not in the container (`ref` as the client named it). */
export function fileNotFound(path: string, ref: string): Error {
  return notFound(`Could not find the file ${path} in container ${ref}`);
}

/** dockerd's StatPath: lstat of the resolved path; a symlink's target fully resolved in the root. */
export function statPath(root: string, r: Resolved): PathStat {
  const st = fss.lstatSync(r.host);
  if (r.dir && !st.isDirectory()) throw notADirectory();
  let linkTarget = '';
  if (st.isSymbolicLink()) {
    const full = resolveInScope(root, r.abs);
    linkTarget = posix.join('/', posix.relative(root, full));
  }
  return {
    name: goBase(r.abs),
    size: st.size,
    mode: goFileMode(st.mode),
    mtime: st.mtime.toISOString(),
    linkTarget,
  };
}

/**
 * A tar of the tree at `host` (never following a symlink), its top entry
 * named `name` and the rest below it; `name` '' leaves the top out (an
 * export: the entries are the root's children). The walker is the kernel's
 * (pack.ts), shared with the builder's and commit's layers.
 */
export function tarTree(host: string, name: string): AsyncIterable<Buffer> {
  return packTree(host, { name });
}

/**
 * GET /containers/{id}/archive: the stat and the tar of the resource at `r`,
 * rebased as dockerd's containerArchivePath: a directory's entries under the
 * requested name (`.` for `dir/.`: its contents), a file as itself.
 */
export function archivePath(
  root: string,
  r: Resolved,
): { stat: PathStat; tar: AsyncIterable<Buffer> } {
  return { stat: statPath(root, r), tar: tarTree(r.host, goBase(r.abs)) };
}

/** Options of an extraction (PUT /containers/{id}/archive). */
export interface ExtractOptions {
  /** Refuse to replace a directory with a non-directory or the reverse (the CLI always asks). */
  noOverwriteDirNonDir: boolean;
  /** Owner forced on every entry (`cp -a` of a container with a User), else the tar's. */
  chown?: { uid: number; gid: number };
}

/** The unpacker, refusing dir/non-dir replacements when asked, owners forced when asked. */
class CopyUnpacker extends Unpacker {
  constructor(
    private readonly dir: string,
    private readonly o: ExtractOptions,
  ) {
    super(dir, true, false);
  }

  override async apply(entry: Entry): Promise<void> {
    const h = entry.header;
    if (this.o.chown) {
      h.uid = this.o.chown.uid;
      h.gid = this.o.chown.gid;
    }
    if (this.o.noOverwriteDirNonDir) {
      const rel = posix.normalize(`/${h.name}`).slice(1).replace(/\/$/, '');
      const st = rel ? fss.lstatSync(`${this.dir}/${rel}`, { throwIfNoEntry: false }) : undefined;
      if (st) {
        if (st.isDirectory() && h.type !== 'directory') {
          throw invalid(`cannot overwrite directory "/${rel}" with non-directory "${h.name}"`);
        }
        if (!st.isDirectory() && h.type === 'directory') {
          throw invalid(`cannot overwrite non-directory "/${rel}" with directory "${h.name}"`);
        }
      }
    }
    return super.apply(entry);
  }
}

/** Unpacks the client's tar into the existing directory `dir` (the caller checked it). */
export async function extractInto(
  dir: string,
  input: AsyncIterable<Buffer | string>,
  o: ExtractOptions,
): Promise<void> {
  const u = new CopyUnpacker(dir, o);
  const ex = tar.extract();
  const feed = (async () => {
    try {
      for await (const chunk of input) {
        if (!ex.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)) {
          await once(ex as unknown as NodeJS.EventEmitter, 'drain');
        }
      }
      // streamx's end() takes optional data, not a callback
      (ex as unknown as { end(): void }).end();
    } catch (e) {
      ex.destroy(e as Error);
    }
  })();
  try {
    for await (const entry of ex as AsyncIterable<Entry>) await u.apply(entry);
  } catch (e) {
    ex.destroy(e as Error);
    await feed;
    if (e instanceof BerthError || /^E[A-Z]+$/.test(errnoOf(e) ?? '')) throw e;
    throw invalid(`invalid tar archive: ${(e as Error).message}`);
  }
  await feed;
  await u.finish();
}

/** Whether the resolved path is a directory itself (a link to one is not: extraction never follows it). */
export function lstatIsDir(r: Resolved): boolean {
  return fss.lstatSync(r.host).isDirectory();
}

/** A path that is not there is Docker's 404; another filesystem error says what it was. */
export function archiveError(e: unknown, path: string, ref: string): unknown {
  const code = errnoOf(e);
  if (code === 'ENOENT') return fileNotFound(path, ref);
  if (code === 'ENOTDIR') return invalid(`lstat ${path}: not a directory`);
  if (code === 'ELOOP' || /too many links/.test((e as Error).message ?? '')) {
    return invalid(`${path}: too many levels of symbolic links`);
  }
  return e;
}
