/**
 * The builtin `busybox:latest`: a one-layer image made from the host's static
 * busybox, so containers run without a registry. The tar is deterministic
 * (fixed times, fixed order, no user names), so the image id depends only on
 * the binary and its modification time.
 */
import { readFile, stat } from 'node:fs/promises';
import tar from 'tar-stream';
import { busyboxApplets } from '../kernel/fsops.js';
import type { ImageConfig } from './types.js';

const DIRS: Array<[string, number]> = [
  ['bin', 0o755],
  ['dev', 0o755],
  ['etc', 0o755],
  ['home', 0o755],
  ['proc', 0o755],
  ['root', 0o700],
  ['run', 0o755],
  ['sbin', 0o755],
  ['sys', 0o755],
  ['tmp', 0o1777],
  ['usr', 0o755],
  ['usr/bin', 0o755],
  ['usr/sbin', 0o755],
  ['var', 0o755],
];

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/bin/false',
  'bin:x:2:2:bin:/bin:/bin/false',
  'sys:x:3:3:sys:/dev:/bin/false',
  'nobody:x:65534:65534:nobody:/home:/bin/false',
  '',
].join('\n');

const GROUP = [
  'root:x:0:',
  'daemon:x:1:',
  'bin:x:2:',
  'sys:x:3:',
  'adm:x:4:',
  'tty:x:5:',
  'wheel:x:10:root',
  'users:x:100:',
  'nogroup:x:65534:',
  '',
].join('\n');

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const BINARY_IN_IMAGE = 'bin/busybox';
const ELF_MACHINES: Record<number, string> = { 62: 'amd64', 183: 'arm64', 3: '386', 40: 'arm' };
const PT_INTERP = 3;

/** The builtin image before its layer is stored. */
export interface BuiltinImage {
  /** The layer as an uncompressed tar. */
  tar: Buffer;
  /** The image config for the layer's diffID, as the exact bytes to store. */
  configFor(diffId: string): Buffer;
}

/**
 * The architecture of a statically linked ELF executable; throws when `bytes`
 * is not one or asks for a dynamic loader (it could not run in an empty rootfs).
 */
export function staticElfArch(bytes: Buffer, path: string): string {
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46)
    throw new Error(`${path} is not an ELF executable`);
  if (bytes[4] !== 2 || bytes[5] !== 1)
    throw new Error(`${path} is not a 64-bit little-endian ELF executable`);
  const machine = bytes.readUInt16LE(18);
  const phoff = Number(bytes.readBigUInt64LE(32));
  const phentsize = bytes.readUInt16LE(54);
  const phnum = bytes.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const off = phoff + i * phentsize;
    if (off + 4 > bytes.length) throw new Error(`${path}: truncated ELF program headers`);
    if (bytes.readUInt32LE(off) === PT_INTERP) {
      throw new Error(
        `${path} is dynamically linked; the builtin busybox image needs a static busybox (Debian: busybox-static)`,
      );
    }
  }
  return ELF_MACHINES[machine] ?? `elf-machine-${machine}`;
}

/** `BusyBox v1.35.0 (Debian ...)` from the binary's banner, if present. */
function bannerOf(bytes: Buffer): string | undefined {
  const at = bytes.indexOf('BusyBox v');
  if (at < 0) return undefined;
  const end = bytes.indexOf(0, at);
  const s = bytes.subarray(at, end < 0 ? at + 80 : Math.min(end, at + 80)).toString('latin1');
  return /^[\x20-\x7e]+$/.test(s) ? s.trim() : undefined;
}

async function packToBuffer(add: (pack: tar.Pack) => void): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  add(pack);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Builds the builtin busybox layer and config from the binary at `binary`. */
export async function buildBusybox(binary: string): Promise<BuiltinImage> {
  const [bytes, st] = await Promise.all([readFile(binary), stat(binary)]);
  const architecture = staticElfArch(bytes, binary);
  const applets = await busyboxApplets(binary);
  const mtime = new Date(Math.floor(st.mtimeMs / 1000) * 1000);
  const dirs = new Map<string, number>(DIRS);
  const links = new Set<string>();
  for (const a of applets) {
    const p = a.replace(/^\/+/, '');
    if (p === BINARY_IN_IMAGE || !p.includes('/') || p.split('/').includes('..')) continue;
    links.add(p);
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) dirs.set(d, 0o755);
    }
  }
  const base = { mtime, uid: 0, gid: 0 };
  const layer = await packToBuffer((pack) => {
    for (const d of [...dirs.keys()].sort()) {
      pack.entry({ ...base, name: d, type: 'directory', mode: dirs.get(d) as number });
    }
    pack.entry({ ...base, name: BINARY_IN_IMAGE, mode: 0o755 }, bytes);
    pack.entry({ ...base, name: 'etc/group', mode: 0o644 }, GROUP);
    pack.entry({ ...base, name: 'etc/passwd', mode: 0o644 }, PASSWD);
    // hard links, as Docker Hub's busybox: every applet is the same inode
    for (const l of [...links].sort()) {
      pack.entry({ ...base, name: l, type: 'link', linkname: BINARY_IN_IMAGE, mode: 0o755 });
    }
  });
  const created = mtime.toISOString().replace('.000Z', 'Z');
  const banner = bannerOf(bytes);
  return {
    tar: layer,
    configFor(diffId: string): Buffer {
      const config: ImageConfig = {
        architecture,
        config: { Env: [PATH_ENV], Cmd: ['sh'] },
        created,
        history: [
          {
            created,
            created_by: `berth builtin: ${binary}${banner ? ` (${banner})` : ''}`,
          },
        ],
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [diffId] },
      };
      return Buffer.from(JSON.stringify(config));
    },
  };
}
