// The guard before a recursive delete sees mounts through symlinks: the
// kernel names mounts by their real paths, and a data root moved to another
// disk behind a symlink must not hide a bind of the user's data from it.
// Needs root (a tmpfs mounted in a temp dir, unmounted after).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMounted, mountsUnder, removeTree, unmountAll } from '../../src/kernel/mount/mounts.js';
import { mount } from '../../src/kernel/sys/libc.js';

const isRoot = process.getuid?.() === 0;

describe('mounts behind a symlink', { skip: !isRoot && 'needs root' }, () => {
  const base = mkdtempSync(join(tmpdir(), 'berth-mountguard-'));
  const real = join(base, 'disk', 'berth');
  const data = join(real, 'volumes', 'v', '_data');
  const link = join(base, 'berth');
  after(async () => {
    await unmountAll(real).catch(() => undefined);
    if (!readFileSync('/proc/self/mounts', 'utf8').includes(base)) {
      await removeTree(base);
    }
  });

  it('finds them, and refuses to delete through them', async () => {
    mkdirSync(data, { recursive: true });
    symlinkSync(join(base, 'disk', 'berth'), link);
    mount('tmpfs', data, 'tmpfs', 0, 'size=1m');
    writeFileSync(join(data, 'precious'), "the user's");
    const viaLink = join(link, 'volumes', 'v', '_data');
    assert.deepEqual(await mountsUnder(link), [data]);
    assert.equal(await isMounted(viaLink), true);
    await assert.rejects(removeTree(join(link, 'volumes')), /still mounted/);
    assert.equal(readFileSync(join(data, 'precious'), 'utf8'), "the user's");
    await unmountAll(join(link, 'volumes'));
    assert.equal(await isMounted(viaLink), false);
    await removeTree(join(link, 'volumes'));
    assert.equal(existsSync(join(real, 'volumes')), false);
  });
});
