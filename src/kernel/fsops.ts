/**
 * The few filesystem operations Node cannot do itself: device nodes (overlay
 * whiteouts are char devices 0:0) and extended attributes (the overlay opaque
 * marker). Rare, so they are batched into one helper process per layer rather
 * than bound through FFI; the image store calls nothing else that needs a process.
 */
import { existsSync } from 'node:fs';
import { run, runOk } from './process/run.js';

/** One special-file operation, on an absolute path the caller has already made safe. */
export type SpecialOp =
  | {
      /** Create a device node or FIFO (a whiteout is `c` 0:0). */
      op: 'mknod';
      path: string;
      /** `c` character device, `b` block device, `p` FIFO. */
      kind: 'c' | 'b' | 'p';
      /** Permission bits (07777). */
      mode: number;
      major: number;
      minor: number;
      uid: number;
      gid: number;
      /** Modification time, unix seconds. */
      mtime: number;
    }
  | {
      /** Set an extended attribute without following symlinks. */
      op: 'setxattr';
      path: string;
      name: string;
      /** Value bytes, base64. */
      value: string;
    };

// Debian's python has os.mknod/os.setxattr; a pyenv build on PATH may not be the system one.
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

const SCRIPT = `
import base64, json, os, stat, sys
os.umask(0)
kinds = {'c': stat.S_IFCHR, 'b': stat.S_IFBLK, 'p': stat.S_IFIFO}
for o in json.load(sys.stdin):
    p = o['path']
    if o['op'] == 'mknod':
        os.mknod(p, kinds[o['kind']] | o['mode'], os.makedev(o['major'], o['minor']))
        os.chown(p, o['uid'], o['gid'], follow_symlinks=False)
        os.chmod(p, o['mode'])
        os.utime(p, (o['mtime'], o['mtime']), follow_symlinks=False)
    else:
        os.setxattr(p, o['name'], base64.b64decode(o['value']), follow_symlinks=False)
`;

/** Applies `ops` in order in one helper process; throws with its stderr on failure. */
export async function applySpecialOps(ops: SpecialOp[]): Promise<void> {
  if (ops.length === 0) return;
  const r = await run([PYTHON, '-c', SCRIPT], { input: JSON.stringify(ops) });
  if (r.code !== 0) {
    const last = r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`;
    throw new Error(`creating special files failed: ${last}`);
  }
}

/** The applet paths (`usr/bin/wget`) a busybox binary installs, from `--list-full`. */
export async function busyboxApplets(binary: string): Promise<string[]> {
  const out = await runOk([binary, '--list-full']);
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}
