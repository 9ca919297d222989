/**
 * Deterministic layer tars from host files: the paths a set of Debian
 * packages installed, plus files the recipe writes itself. Entries are sorted
 * by path, every mtime is one given time, owners are numeric (ids Debian
 * assigns statically, below 100, are kept; ids a maintainer script allocated
 * on this host become 0) and no user or group names are written. Hard links
 * between files of the layer stay hard links; symlinks stay symlinks.
 */
import { lstatSync, readlinkSync, realpathSync, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Readable } from 'node:stream';
import tar, { type Header } from 'tar-stream';

/** One entry of a layer, before it is written. */
export interface LayerEntry {
  /** Path inside the layer, relative (`usr/bin/dash`). */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'link';
  /** Permission bits, set-id and sticky bits included. */
  mode: number;
  uid: number;
  gid: number;
  /** Symlink target, or (hard link) the layer path of the first name of the file. */
  linkname?: string;
  /** File content: a host path, read when the tar is written... */
  source?: string;
  /** ... or the bytes themselves. */
  content?: Buffer;
  /** The host file's mtime in whole seconds (0 for made-up entries). */
  mtime: number;
}

/** A made-up directory owned by root. */
export const dirEntry = (path: string, mode = 0o755): LayerEntry => ({
  path,
  type: 'directory',
  mode,
  uid: 0,
  gid: 0,
  mtime: 0,
});

/** A made-up file owned by root, with `text` as its content. */
export const fileEntry = (path: string, text: string, mode = 0o644): LayerEntry => ({
  path,
  type: 'file',
  mode,
  uid: 0,
  gid: 0,
  content: Buffer.from(text),
  mtime: 0,
});

/** A made-up symlink owned by root. */
export const symlinkEntry = (path: string, target: string): LayerEntry => ({
  path,
  type: 'symlink',
  mode: 0o777,
  uid: 0,
  gid: 0,
  linkname: target,
  mtime: 0,
});

/** Owner ids Debian's base-passwd fixes on every system (root, tty, shadow, utmp...). */
const STATIC_ID_LIMIT = 100;
const ownerId = (id: number): number => (id < STATIC_ID_LIMIT ? id : 0);

/** True when layer path `p` is `prefix` or below it. */
export function isUnder(p: string, prefix: string): boolean {
  return p === prefix || p.startsWith(prefix + '/');
}

/** The filesystem calls `collectHostFiles` makes (swapped in tests). */
export interface HostFs {
  lstat(path: string): Stats;
  realpath(path: string): string;
  readlink(path: string): string;
}

const HOST_FS: HostFs = {
  lstat: (p) => lstatSync(p),
  realpath: (p) => realpathSync(p),
  readlink: (p) => readlinkSync(p),
};

function entryOf(path: string, host: string, st: Stats, fs: HostFs): LayerEntry | undefined {
  const base = {
    path,
    mode: st.mode & 0o7777,
    uid: ownerId(st.uid),
    gid: ownerId(st.gid),
    mtime: Math.floor(st.mtimeMs / 1000),
  };
  if (st.isDirectory()) return { ...base, type: 'directory' };
  if (st.isFile()) return { ...base, type: 'file', source: host };
  if (st.isSymbolicLink()) return { ...base, type: 'symlink', linkname: fs.readlink(host) };
  return undefined; // devices, FIFOs and sockets are not package content
}

/**
 * The layer entries for host `paths` (absolute, as `dpkg-query -L` prints
 * them). Each path is taken where it really is: its parent directory is
 * resolved, so `/bin/dash` on a merged-/usr host is `usr/bin/dash` while
 * `/bin` itself is the symlink `bin -> usr/bin`. Paths under `exclude`
 * (layer paths, e.g. `usr/share/doc`) and paths gone from the disk are left
 * out; every parent directory is added. Hard-linked files (same inode) become
 * one file and tar hard links to it, in path order.
 */
export function collectHostFiles(
  paths: Iterable<string>,
  exclude: string[],
  fs: HostFs = HOST_FS,
): LayerEntry[] {
  const real = new Map<string, string | null>();
  const realDir = (d: string): string | null => {
    let r = real.get(d);
    if (r === undefined) {
      try {
        r = fs.realpath(d);
      } catch {
        r = null;
      }
      real.set(d, r);
    }
    return r;
  };
  const byPath = new Map<string, { entry: LayerEntry; st: Stats }>();
  const add = (host: string): void => {
    const path = host.replace(/^\/+/, '');
    if (path === '' || path === '.' || byPath.has(path)) return;
    if (exclude.some((x) => isUnder(path, x))) return;
    let st: Stats;
    try {
      st = fs.lstat(host);
    } catch {
      return; // listed by dpkg but not on disk (e.g. dpkg path-exclude)
    }
    const entry = entryOf(path, host, st, fs);
    if (!entry) return;
    byPath.set(path, { entry, st });
    const parent = dirname(host);
    if (parent !== '/') add(parent);
  };
  for (const p of paths) {
    if (!p.startsWith('/')) continue;
    const parent = realDir(dirname(p));
    if (parent === null) continue;
    add(parent === '/' ? `/${basename(p)}` : `${parent}/${basename(p)}`);
  }
  const sorted = [...byPath.values()].sort((a, b) => compare(a.entry.path, b.entry.path));
  const firstName = new Map<string, string>();
  for (const { entry, st } of sorted) {
    if (entry.type !== 'file' || st.nlink < 2) continue;
    const key = `${st.dev}:${st.ino}`;
    const first = firstName.get(key);
    if (first === undefined) {
      firstName.set(key, entry.path);
      continue;
    }
    entry.type = 'link';
    entry.linkname = first;
    delete entry.source;
  }
  return sorted.map((s) => s.entry);
}

/** Byte order of paths (what `sort` with LC_ALL=C does), so the order never depends on a locale. */
export function compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The newest host mtime among regular files (0 when there are none). */
export function newestMtime(entries: LayerEntry[]): number {
  let t = 0;
  for (const e of entries) if (e.type === 'file' && e.source && e.mtime > t) t = e.mtime;
  return t;
}

/**
 * Merges entries (later lists win for the same path) and sorts them; an
 * entry replacing a directory drops nothing below it, so recipes only replace
 * files and symlinks.
 */
export function mergeEntries(...lists: LayerEntry[][]): LayerEntry[] {
  const m = new Map<string, LayerEntry>();
  for (const l of lists) for (const e of l) m.set(e.path, e);
  return [...m.values()].sort((a, b) => compare(a.path, b.path));
}

/** `entries` (sorted) plus a 0755 root-owned directory for every missing parent. */
export function withParents(entries: LayerEntry[]): LayerEntry[] {
  const have = new Set(entries.map((e) => e.path));
  const extra: LayerEntry[] = [];
  for (const e of entries) {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (have.has(d)) continue;
      have.add(d);
      extra.push({ path: d, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
    }
  }
  return mergeEntries(entries, extra);
}

/**
 * The layer as a tar stream: `entries` in the given order, every mtime
 * `mtime` (unix seconds), host files read one at a time as the stream is
 * consumed (memory stays at about one file).
 */
export function layerTar(entries: LayerEntry[], mtime: number): Readable {
  const pack = tar.pack();
  const date = new Date(mtime * 1000);
  const write = async (): Promise<void> => {
    for (const e of entries) {
      const header: Partial<Header> & { name: string } = {
        name: e.path,
        type: e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime: date,
      };
      let body: Buffer | undefined;
      if (e.type === 'file') body = e.content ?? (await readFile(e.source as string));
      else if (e.linkname !== undefined) header.linkname = e.linkname;
      await new Promise<void>((resolve, reject) => {
        const cb = (err?: Error | null) => (err ? reject(err) : resolve());
        if (body) pack.entry(header, body, cb);
        else pack.entry(header, cb);
      });
    }
    pack.finalize();
  };
  write().catch((e: unknown) => pack.destroy(e as Error));
  return pack as unknown as Readable;
}
