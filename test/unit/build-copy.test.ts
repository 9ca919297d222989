import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findSources } from '../../src/build/context.js';
import { parseChown, performCopy } from '../../src/build/copy.js';

const base = fs.mkdtempSync(join(tmpdir(), 'berth-copy-'));
const ctx = join(base, 'ctx');
const rootfs = join(base, 'rootfs');

function put(p: string, text: string, mode = 0o644): void {
  fs.mkdirSync(join(p, '..'), { recursive: true });
  fs.writeFileSync(p, text);
  fs.chmodSync(p, mode);
}

describe('COPY/ADD into a root filesystem', () => {
  after(() => fs.rmSync(base, { recursive: true, force: true }));
  put(join(ctx, 'app/bin/run'), 'run', 0o755);
  put(join(ctx, 'app/conf'), 'conf');
  fs.symlinkSync('conf', join(ctx, 'app/link'));
  put(join(ctx, 'one.txt'), 'one');
  put(
    join(rootfs, 'etc/passwd'),
    'root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n',
  );
  put(join(rootfs, 'etc/group'), 'root:x:0:\nstaff:x:1001:\n');
  fs.mkdirSync(join(rootfs, 'usr/lib'), { recursive: true });
  fs.symlinkSync('usr/lib', join(rootfs, 'lib'));
  fs.symlinkSync('/etc/passwd', join(rootfs, 'usr/lib/hostlink'));
  const copy = async (srcs: string[], dest: string, more: { chown?: string; add?: boolean } = {}) =>
    performCopy(rootfs, {
      sources: findSources(ctx, srcs, true),
      dest,
      identity: more.chown ? parseChown(rootfs, more.chown) : { uid: 0, gid: 0 },
      unpackArchives: more.add ?? false,
      scratch: fs.mkdtempSync(join(base, 'scratch-')),
    });

  it("copies a directory's content, keeping modes and symlinks, owned by --chown", async () => {
    await copy(['app'], '/opt/app/', { chown: 'app:staff' });
    const st = fs.statSync(join(rootfs, 'opt/app/bin/run'));
    assert.equal(st.mode & 0o777, 0o755);
    assert.deepEqual([st.uid, st.gid], [1000, 1001]);
    assert.equal(fs.readlinkSync(join(rootfs, 'opt/app/link')), 'conf');
    assert.equal(
      fs.statSync(join(rootfs, 'opt/app')).uid,
      1000,
      'a new destination dir gets the owner',
    );
    assert.equal(fs.statSync(join(rootfs, 'opt')).uid, 0, 'its new parents belong to root');
  });

  it('puts a file under its name in a directory destination, through image symlinks', async () => {
    await copy(['one.txt'], '/lib/');
    assert.equal(fs.readFileSync(join(rootfs, 'usr/lib/one.txt'), 'utf8'), 'one');
    await copy(['one.txt'], '/usr/lib/hostlink');
    assert.equal(
      fs.readFileSync(join(rootfs, 'etc/passwd'), 'utf8'),
      'one',
      "the image's /etc, not the host's",
    );
    assert.ok(fs.readFileSync('/etc/passwd', 'utf8').includes('root:'));
  });

  it('ADD unpacks a local tar archive; COPY copies it as a file', async () => {
    put(join(base, 'src/t/f'), 'in tar');
    execFileSync('tar', ['-czf', join(ctx, 'a.tgz'), '-C', join(base, 'src'), '.']);
    await copy(['a.tgz'], '/x/', { add: true });
    assert.equal(fs.readFileSync(join(rootfs, 'x/t/f'), 'utf8'), 'in tar');
    await copy(['a.tgz'], '/y/');
    assert.ok(fs.statSync(join(rootfs, 'y/a.tgz')).isFile());
  });

  it('ADD of a FIFO in the context opens nothing: it does not block the daemon', () => {
    execFileSync('mkfifo', [join(ctx, 'pipe')]);
    // In a child: a blocked open stops a process's event loop, timers too.
    const modules = new URL('../../src/build/', import.meta.url);
    const script = `
      const { performCopy } = await import(${JSON.stringify(new URL('copy.js', modules).href)});
      const { findSources } = await import(${JSON.stringify(new URL('context.js', modules).href)});
      await performCopy(${JSON.stringify(rootfs)}, {
        sources: findSources(${JSON.stringify(ctx)}, ['pipe'], true),
        dest: '/fifo/', identity: { uid: 0, gid: 0 }, unpackArchives: true,
        scratch: ${JSON.stringify(join(base, 'scratch-fifo'))},
      });`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(r.signal, null, 'the ADD returned');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.existsSync(join(rootfs, 'fifo/pipe')), false, 'not copied, as before');
  });

  it('resolves --chown names from the image and reports unknown ones as Docker', () => {
    assert.deepEqual(parseChown(rootfs, '1:2'), { uid: 1, gid: 2 });
    assert.throws(() => parseChown(rootfs, 'nosuch'), {
      message:
        "unable to convert uid/gid chown string to host mapping: can't find uid for user nosuch: no such user: nosuch",
    });
    assert.throws(() => parseChown(rootfs, 'a:b:c'), {
      message: 'invalid chown string format: a:b:c',
    });
  });
});
