/**
 * COPY and ADD into a mounted root filesystem, with the classic builder's
 * rules: a directory source copies its content, a file lands in a directory
 * destination (trailing `/` or an existing directory) under its own name,
 * new parent directories are 0755, everything copied belongs to the
 * `--chown` identity (root by default; kept as is for `COPY --from` without
 * `--chown`), modes and times come from the source, and ADD unpacks local
 * tar archives (plain or gzip). Paths in the image are resolved inside it
 * (scope.ts), and entries are replaced the way tar extraction replaces them.
 */
import * as fss from 'node:fs';
import { constants as fsc } from 'node:fs';
import { posix } from 'node:path';
import { invalid } from '../common/errors.js';
import { MAX_USER_FILE, parseGroup, parsePasswd } from '../containers/user.js';
import { extractTar } from '../images/extract.js';
import { removeTree } from '../kernel/mount/mounts.js';
import { sourceBase, type SourceInfo } from './context.js';
import { readFileInRoot, resolveInScope } from '../kernel/scope.js';

/** Owner of copied files. */
export interface Identity {
  uid: number;
  gid: number;
}

/** What to copy where. */
export interface CopyRequest {
  sources: SourceInfo[];
  /** Destination in the image, absolute (a trailing `/` means a directory). */
  dest: string;
  /** Owner of everything copied; undefined keeps the sources' owners. */
  identity?: Identity;
  /** ADD: local tar archives are unpacked. */
  unpackArchives: boolean;
  /** An empty scratch directory (ADD unpacks archives there first). */
  scratch: string;
}

/** The destination of a COPY/ADD: relative paths are below WORKDIR, a trailing slash is kept. */
export function normalizeDest(workdir: string, requested: string): string {
  if (requested.startsWith('/')) return requested;
  const dest = posix.join('/', workdir, requested);
  return requested.endsWith('/') && !dest.endsWith('/') ? `${dest}/` : dest;
}

/** `--chown=user[:group]` against the image's /etc/passwd and /etc/group (names or numbers). */
export function parseChown(rootfs: string, chown: string): Identity {
  const parts = chown.split(':');
  if (parts.length > 2) throw invalid(`invalid chown string format: ${chown}`);
  const [userStr = '', groupStr = userStr] = parts;
  const read = (f: string): string => {
    const text = readFileInRoot(rootfs, f, MAX_USER_FILE);
    if (text === undefined) throw new Error(`open ${f}: no such file or directory`);
    return text;
  };
  const fail = (e: unknown): never => {
    throw invalid(
      `unable to convert uid/gid chown string to host mapping: ${(e as Error).message}`,
    );
  };
  let uid: number;
  let gid: number;
  try {
    if (/^\d+$/.test(userStr)) uid = Number(userStr);
    else {
      const u = parsePasswd(read('/etc/passwd')).find((e) => e.name === userStr);
      if (!u) throw new Error(`no such user: ${userStr}`);
      uid = u.uid;
    }
  } catch (e) {
    return fail(new Error(`can't find uid for user ${userStr}: ${(e as Error).message}`));
  }
  try {
    if (/^\d+$/.test(groupStr)) gid = Number(groupStr);
    else {
      const g = parseGroup(read('/etc/group')).find((e) => e.name === groupStr);
      if (!g) throw new Error(`no such group: ${groupStr}`);
      gid = g.gid;
    }
  } catch (e) {
    return fail(new Error(`can't find gid for group ${groupStr}: ${(e as Error).message}`));
  }
  return { uid, gid };
}

/** Creates the missing directories of `dir` (a resolved host path under `rootfs`), 0755, owned by `owner`. */
export function mkdirAll(rootfs: string, dir: string, owner: Identity): void {
  const rel = posix.relative(rootfs, dir);
  if (rel === '') return;
  let cur = rootfs;
  for (const part of rel.split('/')) {
    cur = `${cur}/${part}`;
    const st = fss.lstatSync(cur, { throwIfNoEntry: false });
    if (st?.isDirectory()) continue;
    if (st) throw invalid(`mkdir ${cur.slice(rootfs.length)}: not a directory`);
    fss.mkdirSync(cur, { mode: 0o755 });
    fss.chownSync(cur, owner.uid, owner.gid);
    fss.chmodSync(cur, 0o755);
  }
}

/** Makes way for a new entry at `dst`: anything there goes unless both are directories. */
async function clearFor(dst: string, wantDir: boolean): Promise<fss.Stats | undefined> {
  const st = fss.lstatSync(dst, { throwIfNoEntry: false });
  if (!st || (wantDir && st.isDirectory())) return st;
  if (st.isDirectory()) await removeTree(dst);
  else fss.unlinkSync(dst);
  return undefined;
}

function setMeta(path: string, st: fss.Stats, owner: Identity): void {
  fss.lchownSync(path, owner.uid, owner.gid);
  // chown clears set-id bits: the mode goes after it
  if (!st.isSymbolicLink()) fss.chmodSync(path, st.mode & 0o7777);
  fss.lutimesSync(path, st.atime, st.mtime);
}

/** Copies one non-directory entry (a symlink as a symlink) to `dst`. */
async function copyLeaf(src: string, dst: string, st: fss.Stats, owner: Identity): Promise<void> {
  await clearFor(dst, false);
  if (st.isSymbolicLink()) fss.symlinkSync(fss.readlinkSync(src), dst);
  else if (st.isFile()) {
    fss.copyFileSync(src, dst, fsc.COPYFILE_EXCL);
  } else return; // sockets, FIFOs and devices in a context are not copied
  setMeta(dst, st, owner);
}

/**
 * Copies the content of directory `src` into directory `dst` (created when
 * missing); `rootMeta` also gives `dst` the source directory's mode and times.
 */
async function copyTree(
  src: string,
  dst: string,
  owner: (st: fss.Stats) => Identity,
  rootMeta: boolean,
): Promise<void> {
  const dirs: Array<[string, fss.Stats]> = [];
  const visit = async (s: string, d: string): Promise<void> => {
    for (const name of fss.readdirSync(s).sort()) {
      const sp = `${s}/${name}`;
      const dp = `${d}/${name}`;
      const st = fss.lstatSync(sp);
      if (st.isDirectory()) {
        if (!(await clearFor(dp, true))) fss.mkdirSync(dp, { mode: 0o700 });
        await visit(sp, dp);
        dirs.push([dp, st]);
      } else await copyLeaf(sp, dp, st, owner(st));
    }
  };
  await visit(src, dst);
  if (rootMeta) dirs.push([dst, fss.statSync(src)]);
  // directory times last, deepest first, so copying into them does not change them again
  for (const [d, st] of dirs) {
    fss.lchownSync(d, owner(st).uid, owner(st).gid);
    fss.chmodSync(d, st.mode & 0o7777);
    fss.utimesSync(d, st.atime, st.mtime);
  }
}

/**
 * Whether `path` holds a tar archive (plain or gzip); bzip2/xz/zstd are
 * refused clearly. Only a regular file is read: a FIFO or a device node in
 * a context is never opened as one (it would block the daemon, or read a
 * host device).
 */
function archiveKind(path: string): 'tar' | 'gzip' | undefined {
  const fd = fss.openSync(path, fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOFOLLOW);
  const head = Buffer.alloc(512);
  let n: number;
  try {
    if (!fss.fstatSync(fd).isFile()) return undefined;
    n = fss.readSync(fd, head, 0, 512, 0);
  } finally {
    fss.closeSync(fd);
  }
  if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (
    head.subarray(0, 3).toString('latin1') === 'BZh' ||
    head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) ||
    head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))
  ) {
    throw invalid(
      `cannot unpack ${posix.basename(path)}: bzip2, xz and zstd archives are not supported (use plain tar or gzip)`,
    );
  }
  if (n === 512 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  return undefined;
}

/** Runs a COPY/ADD into `rootfs` (the mounted root of the step's image). */
export async function performCopy(rootfs: string, req: CopyRequest): Promise<void> {
  const root: Identity = { uid: 0, gid: 0 };
  const ownerOf = (st: fss.Stats): Identity => req.identity ?? { uid: st.uid, gid: st.gid };
  const destDirLike = req.dest.endsWith('/');
  for (const [i, info] of req.sources.entries()) {
    const destPath = resolveInScope(rootfs, req.dest);
    const st = fss.statSync(info.path);
    if (st.isDirectory()) {
      mkdirAll(rootfs, destPath, root);
      await copyTree(info.path, destPath, ownerOf, true);
      continue;
    }
    const kind = req.unpackArchives && st.isFile() ? archiveKind(info.path) : undefined;
    if (kind) {
      const staged = `${req.scratch}/${i}`;
      try {
        await extractTar(fss.createReadStream(info.path), staged, {
          layer: true,
          whiteouts: false,
        });
        mkdirAll(rootfs, destPath, root);
        await copyTree(staged, destPath, (s) => ({ uid: s.uid, gid: s.gid }), false);
      } finally {
        await removeTree(staged);
      }
      continue;
    }
    let target = destPath;
    const existing = fss.statSync(destPath, { throwIfNoEntry: false });
    if (destDirLike || existing?.isDirectory()) target = `${destPath}/${sourceBase(info)}`;
    mkdirAll(rootfs, posix.dirname(target), req.identity ?? root);
    await copyLeaf(info.path, target, st, ownerOf(st));
  }
}
