/**
 * openInRoot (openat2's RESOLVE_IN_ROOT through descriptors, decision 0049):
 * links absolute and relative, `..`, loops and FIFOs inside a root never
 * reach a sentinel file beside it; no descriptor is left open; and the
 * lookup of a child through its opened directory (`/proc/self/fd/N/name`)
 * keeps the inode it opened when the directory is swapped for a symlink,
 * where a lookup by path follows the symlink out.
 */
import { after, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs, {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { fdPath, openInRoot, readFileInRoot } from '../../src/kernel/scope.js';
import { O_PATH } from '../../src/kernel/sys/libc.js';

const base = mkdtempSync(join(tmpdir(), 'berth-in-root-'));
after(() => rmSync(base, { recursive: true, force: true }));

// Beside the root: what a link climbing out, or an absolute link followed
// from the host's `/`, would reach.
const outside = join(base, 'outside');
mkdirSync(outside);
writeFileSync(join(outside, 'secret'), 'OUTSIDE\n');

const root = join(base, 'root');
mkdirSync(join(root, 'usr/bin'), { recursive: true });
mkdirSync(join(root, 'outside'));
writeFileSync(join(root, 'usr/bin/sh'), 'sh\n');
writeFileSync(join(root, 'outside/secret'), 'inside\n');
symlinkSync('usr/bin', join(root, 'bin')); // relative, as in merged-/usr images
symlinkSync('/usr', join(root, 'abs')); // absolute: the root's /usr
symlinkSync('/etc', join(root, 'etc')); // the container's trick: a loop inside the root
symlinkSync('../../../../../../outside', join(root, 'usr/up'));
symlinkSync(outside, join(root, 'host')); // the host's absolute path of `outside`
symlinkSync('loop', join(root, 'loop'));
symlinkSync('b', join(root, 'a'));
symlinkSync('a', join(root, 'b'));
symlinkSync('/usr/bin/sh/x', join(root, 'through-file'));
assert.equal(spawnSync('mkfifo', [join(root, 'fifo')]).status, 0);
symlinkSync('/fifo', join(root, 'to-fifo'));

/** The text of `path` in the root, opened with openInRoot and read through its descriptor. */
function read(path: string, flags = constants.O_RDONLY): string {
  const fd = openInRoot(root, path, flags);
  try {
    const buf = Buffer.alloc(64);
    return buf.subarray(0, readSync(fd, buf, 0, 64, 0)).toString();
  } finally {
    closeSync(fd);
  }
}

const openFds = () => readdirSync('/proc/self/fd').length;

describe('openInRoot', () => {
  it('follows links inside the root, absolute ones from the root', () => {
    assert.equal(read('/bin/sh'), 'sh\n');
    assert.equal(read('abs/bin/sh'), 'sh\n');
    assert.equal(read('/usr/./bin/../bin/sh'), 'sh\n');
    const fd = openInRoot(root, '/', constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      assert.equal(fstatSync(fd).ino, statSync(root).ino);
    } finally {
      closeSync(fd);
    }
  });

  it('never reaches a file outside: .. stops at the root, also through a link', () => {
    assert.equal(read('../../../outside/secret'), 'inside\n');
    assert.equal(read('/usr/up/secret'), 'inside\n');
    assert.equal(read('/usr/../../outside/secret'), 'inside\n');
    // An absolute link naming the host's path of `outside` is the root's path of that name.
    assert.throws(() => read('/host/secret'), { code: 'ENOENT' });
    mkdirSync(join(root, outside), { recursive: true });
    writeFileSync(join(root, outside, 'secret'), 'inside too\n');
    assert.equal(read('/host/secret'), 'inside too\n');
  });

  it('refuses loops (the container’s etc -> /etc) and walks through no file', () => {
    assert.throws(() => read('/etc/passwd'), { code: 'ELOOP' });
    assert.throws(() => read('/loop'), { code: 'ELOOP' });
    assert.throws(() => read('/a/x'), { code: 'ELOOP' });
    assert.throws(() => read('/through-file'), { code: 'ENOTDIR' });
    assert.throws(() => read('/missing/x'), { code: 'ENOENT' });
  });

  it('does not follow a last link under O_NOFOLLOW', () => {
    assert.throws(() => read('/bin', constants.O_RDONLY | constants.O_NOFOLLOW), {
      code: 'ELOOP',
    });
    const fd = openInRoot(root, '/bin', O_PATH | constants.O_NOFOLLOW);
    try {
      assert.ok(fstatSync(fd).isSymbolicLink());
    } finally {
      closeSync(fd);
    }
  });

  it('leaves no descriptor open, also when it fails', () => {
    const before = openFds();
    for (let i = 0; i < 50; i++) {
      read('/bin/sh');
      assert.throws(() => read('/a/x'));
      assert.throws(() => read('/usr/bin/sh/x'));
      assert.throws(() => read('/usr/bin/nothing'));
    }
    assert.equal(openFds(), before);
  });

  it("bounds the work and the descriptors of links that each lead deep: the kernel's 40 links, 512 steps", () => {
    // deep/d/d/…(100)/l -> /deep/d/…(100)/l: each hop goes 100 directories down.
    const chain = Array.from({ length: 100 }, () => 'd').join('/');
    mkdirSync(join(root, 'deep', chain), { recursive: true });
    symlinkSync(`/deep/${chain}/l`, join(root, 'deep', chain, 'l'));
    const before = openFds();
    const t0 = Date.now();
    assert.throws(() => read(`/deep/${chain}/l/x`), { code: 'ENAMETOOLONG' });
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(openFds(), before);
    // 41 links, each one step: ELOOP as the kernel's.
    for (let i = 0; i < 41; i++) symlinkSync(`/hop${i + 1}`, join(root, `hop${i}`));
    writeFileSync(join(root, 'hop41'), 'end\n');
    assert.throws(() => read('/hop0'), { code: 'ELOOP' });
    assert.equal(read('/hop1'), 'end\n');
    // A name followed by a slash must be a directory.
    assert.throws(() => read('/usr/bin/sh/'), { code: 'ENOTDIR' });
  });

  it('refuses a FIFO without waiting on it', () => {
    const t0 = Date.now();
    assert.throws(() => readFileInRoot(root, '/to-fifo', 1024), {
      message: '/to-fifo is not a regular file',
    });
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(readFileInRoot(root, '/etc/passwd', 1024), undefined);
    assert.equal(readFileInRoot(root, '/usr/up/secret', 1024), 'inside\n');
  });

  it('looks a child up in the directory it opened, not by its path', () => {
    const r = join(base, 'swap');
    mkdirSync(join(r, 'etc'), { recursive: true });
    writeFileSync(join(r, 'etc/secret'), 'inside\n');
    const fd = openInRoot(r, '/etc', O_PATH | constants.O_DIRECTORY);
    try {
      // The container swaps its directory for a link to the host's.
      renameSync(join(r, 'etc'), join(r, 'etc.real'));
      symlinkSync(outside, join(r, 'etc'));
      assert.equal(readFileSync(fdPath(fd, 'secret'), 'utf8'), 'inside\n');
      assert.equal(readFileSync(join(r, 'etc/secret'), 'utf8'), 'OUTSIDE\n', 'a path is followed');
    } finally {
      closeSync(fd);
    }
  });

  it('reads a file in the directories it opened when one is swapped mid-lookup', () => {
    const r = join(base, 'swap-read');
    mkdirSync(join(r, 'etc/deep'), { recursive: true });
    writeFileSync(join(r, 'etc/deep/secret'), 'inside\n');
    mkdirSync(join(outside, 'deep'), { recursive: true });
    writeFileSync(join(outside, 'deep/secret'), 'OUTSIDE\n');
    // The container's swap, just before the file itself is opened.
    const realOpen = fs.openSync;
    let swaps = 0;
    mock.method(fs, 'openSync', (p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
      if (String(p).endsWith('/secret') && swaps++ === 0) {
        renameSync(join(r, 'etc'), join(r, 'etc.real'));
        symlinkSync(outside, join(r, 'etc'));
      }
      return realOpen(p, flags ?? 'r', mode);
    });
    syncBuiltinESMExports();
    try {
      assert.equal(readFileInRoot(r, '/etc/deep/secret', 1024), 'inside\n');
    } finally {
      mock.restoreAll();
      syncBuiltinESMExports();
    }
    assert.equal(swaps, 1);
  });
});
