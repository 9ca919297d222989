/**
 * `--user` against a hostile image's files (resolveUser, readFileInRoot):
 * an /etc/passwd that links to a device or outside the root reads the
 * root's own (absent here); one that is a FIFO is refused at once; links
 * inside the root are followed as the container would; an oversized file
 * is refused with a message. The same
 * for COPY --chown (parseChown). A running container that swaps its /etc
 * for a link to the host's while the daemon looks a user up (exec, probes)
 * does not make it read the host's files (decision 0049).
 */
import { after, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs, {
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseChown } from '../../src/build/copy.js';
import { resolveUser } from '../../src/containers/user.js';

const base = mkdtempSync(join(tmpdir(), 'berth-user-root-'));
after(() => rmSync(base, { recursive: true, force: true }));

let n = 0;
/** A root filesystem with /etc made by `make`. */
function root(make: (etc: string) => void): string {
  const r = join(base, String(n++));
  mkdirSync(join(r, 'etc'), { recursive: true });
  make(join(r, 'etc'));
  return r;
}

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:100::/home/a:/bin/sh\n';
const GROUP = 'root:x:0:\nusers:x:100:\n';

describe('resolveUser in a hostile root', () => {
  it('reads the image’s own files, following links inside the root', async () => {
    const r = root((etc) => {
      mkdirSync(join(etc, 'real'));
      writeFileSync(join(etc, 'real', 'passwd'), PASSWD);
      writeFileSync(join(etc, 'group'), GROUP);
      // Absolute: the image's /etc/real, never the host's.
      symlinkSync('/etc/real/passwd', join(etc, 'passwd'));
    });
    assert.deepEqual(await resolveUser(r, 'alice'), { uid: 1000, gid: 100, additionalGids: [100] });
  });

  it('never reads a device the passwd file links to, nor the host’s own files', async () => {
    // A group file beside the root, which a link climbing out would reach.
    writeFileSync(join(base, 'outside-group'), 'root:x:0:\nwheel:x:10:root\n');
    const r = root((etc) => {
      symlinkSync('/dev/zero', join(etc, 'passwd'));
      symlinkSync('../../outside-group', join(etc, 'group'));
    });
    const t0 = Date.now();
    assert.deepEqual(await resolveUser(r, ''), { uid: 0, gid: 0, additionalGids: [0] });
    await assert.rejects(resolveUser(r, 'root'), {
      message: 'unable to find user root: no matching entries in passwd file',
    });
    assert.ok(Date.now() - t0 < 1000);
  });

  it('refuses a FIFO at once, for any user (runc would wait on it)', async () => {
    const r = root((etc) => {
      writeFileSync(join(etc, 'passwd'), PASSWD);
      assert.equal(spawnSync('mkfifo', [join(etc, 'group')]).status, 0);
    });
    await assert.rejects(resolveUser(r, ''), {
      message: 'unable to find user 0: /etc/group is not a regular file',
    });
    await assert.rejects(resolveUser(r, '1000'), {
      message: 'unable to find user 1000: /etc/group is not a regular file',
    });
    // COPY --chown reads the same files, synchronously: a wait there would stop the daemon.
    assert.throws(() => parseChown(r, 'alice'), {
      message:
        "unable to convert uid/gid chown string to host mapping: can't find gid for group alice: /etc/group is not a regular file",
    });
  });

  it(
    'refuses a device node without opening it',
    { skip: process.getuid?.() !== 0 && 'mknod needs root' },
    async () => {
      const r = root((etc) => {
        writeFileSync(join(etc, 'passwd'), PASSWD);
        assert.equal(spawnSync('mknod', [join(etc, 'group'), 'c', '1', '3']).status, 0);
      });
      await assert.rejects(resolveUser(r, 'alice'), {
        message: 'unable to find user alice: /etc/group is not a regular file',
      });
    },
  );

  it('refuses a file too large to be a passwd file', async () => {
    const r = root((etc) => {
      writeFileSync(join(etc, 'passwd'), '');
      truncateSync(join(etc, 'passwd'), 17 << 20);
    });
    await assert.rejects(resolveUser(r, 'alice'), {
      message: 'unable to find user alice: /etc/passwd is larger than 16777216 bytes',
    });
  });

  it('never reads the host’s files when /etc becomes a link to them mid-lookup', async () => {
    // The host's /etc, as the daemon would reach it through /proc/PID/root
    // when the container's /etc is `/etc -> /etc`: an absolute link.
    const host = join(base, 'host-etc');
    mkdirSync(host);
    writeFileSync(join(host, 'passwd'), 'mallory:x:4242:4242::/:/bin/sh\n');
    writeFileSync(join(host, 'group'), 'mallory:x:4242:\n');
    const r = root((etc) => {
      writeFileSync(join(etc, 'passwd'), PASSWD);
      writeFileSync(join(etc, 'group'), GROUP);
    });
    // The container's swap, between the daemon's checks and its open of the
    // file: just before any open of a path ending in /passwd or /group.
    const realOpen = fs.openSync;
    let swaps = 0;
    mock.method(fs, 'openSync', (p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
      if (/\/(passwd|group)$/.test(String(p)) && swaps++ === 0) {
        renameSync(join(r, 'etc'), join(r, 'etc.real'));
        symlinkSync(host, join(r, 'etc'));
      }
      return realOpen(p, flags ?? 'r', mode);
    });
    syncBuiltinESMExports();
    try {
      await assert.rejects(resolveUser(r, 'mallory'), {
        message: 'unable to find user mallory: no matching entries in passwd file',
      });
    } finally {
      mock.restoreAll();
      syncBuiltinESMExports();
    }
    assert.equal(swaps > 0, true, 'the swap ran');
  });
});
