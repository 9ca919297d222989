import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveInScope, resolveSource } from '../../src/kernel/scope.js';

describe('paths resolved inside a root (an image, a context)', () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-scope-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  symlinkSync('usr/bin', join(root, 'bin')); // relative, as in merged-/usr images
  symlinkSync('/usr', join(root, 'abs')); // absolute: the image's /, not the host's
  symlinkSync('../../../../etc', join(root, 'usr/escape'));
  symlinkSync('loop', join(root, 'loop'));

  it('follows symlinks within the root, absolute ones from the root', () => {
    assert.equal(resolveInScope(root, '/bin/sh'), join(root, 'usr/bin/sh'));
    assert.equal(resolveInScope(root, 'abs/bin'), join(root, 'usr/bin'));
    assert.equal(resolveInScope(root, '/'), root);
    assert.equal(resolveInScope(root, '/new/dir/'), join(root, 'new/dir'));
  });

  it('never climbs out: .. stops at the root, also through a symlink', () => {
    assert.equal(resolveInScope(root, '/../../etc/passwd'), join(root, 'etc/passwd'));
    assert.equal(resolveInScope(root, '/usr/escape/passwd'), join(root, 'etc/passwd'));
    assert.throws(() => resolveInScope(root, '/loop'), /too many links/);
  });

  it('refuses a COPY source written to climb out of the context', () => {
    assert.throws(() => resolveSource(root, '../outside'), {
      message: 'forbidden path outside the build context: ../outside ()',
    });
    assert.equal(resolveSource(root, 'usr/escape'), join(root, 'etc'));
  });
});
