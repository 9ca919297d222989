/**
 * The one tar walker: a directory tree written as a tar stream, in name
 * order, never following a symlink (lstat only), as Docker's archiver
 * writes it. unpack.ts is its other half. Used by `docker cp` and `export`
 * (a tree, its top entry under a chosen name), and by the builder and
 * `docker commit` (an overlay upper directory as a layer: whiteouts, char
 * devices 0:0, become `.wh.<name>` entries; a directory made opaque gets a
 * `.wh..wh..opq` entry).
 *
 * Hard links inside the tar stay links; sockets are skipped (they are no
 * part of an archive or an image). A file is sent with exactly the size its
 * header promised, even if it changes while it is read.
 */
import * as fss from 'node:fs';
import { once } from 'node:events';
import tar, { type Header as TarHeader } from 'tar-stream';
import { getXattr } from './sys/libc.js';
import { walkTree } from './walk.js';

const OPAQUE_XATTR = 'trusted.overlay.opaque';

type Header = Partial<TarHeader> & { name: string };

/** How to walk. */
export interface PackOptions {
  /**
   * The name of the top entry; the rest go below it. '' leaves the top out:
   * the entries are the directory's children, named relative to it.
   */
  name: string;
  /** Overlay upper-directory mode: whiteouts and opaque directories as `.wh.` entries. */
  layer?: boolean;
  /** Relative paths (as the entries are named, without a trailing `/`) to leave out. */
  skip?: ReadonlySet<string>;
}

// glibc's gnu_dev_major/minor; numbers are exact below 2^53, and shifts work on 32 bits
const major = (rdev: number) => ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
const minor = (rdev: number) => (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);

/** Whether an overlay upper-directory entry is a whiteout (a char device 0:0). */
export const isWhiteout = (st: fss.Stats): boolean => st.isCharacterDevice() && st.rdev === 0;

async function addEntry(pack: tar.Pack, header: Header, file?: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (file === undefined) {
      pack.entry(header, Buffer.alloc(0), done);
      return;
    }
    const w = pack.entry(header, done);
    void (async () => {
      try {
        // The size was promised in the header: exactly that many bytes go out.
        let left = header.size ?? 0;
        for await (const chunk of fss.createReadStream(file, { end: Math.max(left - 1, 0) })) {
          const b = (chunk as Buffer).subarray(0, left);
          left -= b.length;
          if (b.length && !w.write(b)) await once(w as unknown as NodeJS.EventEmitter, 'drain');
        }
        if (left > 0) w.write(Buffer.alloc(left));
        // streamx's end() takes optional data, not a callback
        (w as unknown as { end(): void }).end();
      } catch (e) {
        w.destroy(e as Error);
        reject(e as Error);
      }
    })();
  });
}

/** Streams the tar of the tree at `host` (see the file comment). */
export function packTree(host: string, o: PackOptions): AsyncIterable<Buffer> {
  const pack = tar.pack();
  const links = new Map<string, string>();
  const join = (a: string, b: string) => (a === '' ? b : a === '/' ? `/${b}` : `${a}/${b}`);
  const visit = async (path: string, entry: string): Promise<void> => {
    if (o.skip?.has(entry)) return;
    const st = fss.lstatSync(path);
    const base: Header = {
      name: entry,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: st.mtime,
    };
    if (o.layer && isWhiteout(st)) {
      const at = entry.lastIndexOf('/');
      const wh = `${entry.slice(0, at + 1)}.wh.${entry.slice(at + 1)}`;
      await addEntry(pack, { ...base, name: wh, mode: 0o600, type: 'file', size: 0 });
    } else if (st.isDirectory()) {
      if (entry !== '') {
        const dir = entry.replace(/\/$/, '');
        await addEntry(pack, { ...base, name: `${dir}/`, type: 'directory' });
        if (o.layer && getXattr(path, OPAQUE_XATTR)?.toString() === 'y') {
          await addEntry(pack, { ...base, name: `${dir}/.wh..wh..opq`, type: 'file', size: 0 });
        }
      }
      for (const child of fss.readdirSync(path).sort()) {
        await visit(`${path}/${child}`, join(entry, child));
      }
    } else if (st.isSymbolicLink()) {
      await addEntry(pack, { ...base, type: 'symlink', linkname: fss.readlinkSync(path) });
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first !== undefined) {
        await addEntry(pack, { ...base, type: 'link', linkname: first, size: 0 });
      } else {
        if (st.nlink > 1) links.set(key, entry);
        await addEntry(pack, { ...base, type: 'file', size: st.size }, path);
      }
    } else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
      const type = st.isFIFO() ? 'fifo' : st.isBlockDevice() ? 'block-device' : 'character-device';
      await addEntry(pack, { ...base, type, devmajor: major(st.rdev), devminor: minor(st.rdev) });
    }
    // sockets: skipped
  };
  void visit(host, o.name).then(
    () => pack.finalize(),
    (e: unknown) => pack.destroy(e as Error),
  );
  return pack as unknown as AsyncIterable<Buffer>;
}

/**
 * Bytes under `dir`, as dockerd's directory.Size: the sizes of everything
 * but directories (a symlink counts its own length), each inode once; 0 when
 * it is missing. The walk cannot be led out of `dir` by a container
 * changing it meanwhile (walkTree), and it is asynchronous: a large tree
 * does not stall the daemon. An error part way counts what was seen.
 */
export async function treeSize(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  await walkTree(dir, (_rel, st) => {
    if (st.isDirectory() || seen.has(`${st.dev}:${st.ino}`)) return;
    seen.add(`${st.dev}:${st.ino}`);
    total += st.size;
  }).catch(() => undefined);
  return total;
}
