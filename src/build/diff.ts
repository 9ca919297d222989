/**
 * A step's changes as a layer tar: the overlay upper directory of the build
 * container (or of the builder's own mount) walked in order and written as
 * Docker's overlay2 differ writes it. Deletions are overlay whiteouts (char
 * devices 0:0) and become `.wh.<name>` entries; a directory made opaque
 * (removed and created again) gets a `.wh..wh..opq` entry; hard links inside
 * the layer stay links. The image store turns the tar back into a layer
 * directory and content-addresses it by the tar's sha256 (its diffID).
 */
import * as fss from 'node:fs';
import { once } from 'node:events';
import tar, { type Header as TarHeader } from 'tar-stream';
import { getXattr } from '../kernel/sys/libc.js';

const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** Whether the directory has no entries (a step that changed nothing makes no layer). */
export function isEmptyDir(dir: string): boolean {
  return fss.readdirSync(dir).length === 0;
}

type Header = Partial<TarHeader> & { name: string };

// glibc's gnu_dev_major/minor; numbers are exact below 2^53, and shifts work on 32 bits
function major(rdev: number): number {
  return ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}
function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
}

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
        for await (const chunk of fss.createReadStream(file)) {
          if (!w.write(chunk as Buffer)) await once(w as unknown as NodeJS.EventEmitter, 'drain');
        }
        // streamx's end() takes optional data, not a callback
        (w as unknown as { end(): void }).end();
      } catch (e) {
        w.destroy(e as Error);
        reject(e as Error);
      }
    })();
  });
}

/** Streams the tar of the changes recorded in `upper`. */
export function diffTar(upper: string): AsyncIterable<Buffer> {
  const pack = tar.pack();
  const links = new Map<string, string>();
  const visit = async (rel: string): Promise<void> => {
    const dir = rel === '' ? upper : `${upper}/${rel}`;
    for (const name of fss.readdirSync(dir).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const path = `${upper}/${r}`;
      const st = fss.lstatSync(path);
      const base: Header = {
        name: r,
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        mtime: st.mtime,
      };
      if (st.isCharacterDevice() && st.rdev === 0) {
        const at = r.lastIndexOf('/');
        const wh = `${r.slice(0, at + 1)}.wh.${r.slice(at + 1)}`;
        await addEntry(pack, { ...base, name: wh, mode: 0o600, type: 'file', size: 0 });
      } else if (st.isDirectory()) {
        await addEntry(pack, { ...base, name: `${r}/`, type: 'directory' });
        if (getXattr(path, OPAQUE_XATTR)?.toString() === 'y') {
          await addEntry(pack, { ...base, name: `${r}/.wh..wh..opq`, type: 'file', size: 0 });
        }
        await visit(r);
      } else if (st.isSymbolicLink()) {
        await addEntry(pack, { ...base, type: 'symlink', linkname: fss.readlinkSync(path) });
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first !== undefined) {
          await addEntry(pack, { ...base, type: 'link', linkname: first, size: 0 });
        } else {
          if (st.nlink > 1) links.set(key, r);
          await addEntry(pack, { ...base, type: 'file', size: st.size }, path);
        }
      } else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
        const type = st.isFIFO()
          ? 'fifo'
          : st.isBlockDevice()
            ? 'block-device'
            : 'character-device';
        await addEntry(pack, { ...base, type, devmajor: major(st.rdev), devminor: minor(st.rdev) });
      }
      // sockets are not part of images
    }
  };
  void visit('').then(
    () => pack.finalize(),
    (e: unknown) => pack.destroy(e as Error),
  );
  return pack as unknown as AsyncIterable<Buffer>;
}
