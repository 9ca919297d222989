/**
 * `docker diff` of a running container that changes its upper directory
 * while it is walked (containerChanges, placeholders; decision 0049): a
 * directory swapped for a symlink to the host's after it was seen is not
 * entered, so no host file name is reported; an `etc` that is a link to a
 * directory holding only runc's mount points is a change, not a mount point;
 * an image layer's own symlink is not followed to tell host files apart.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containerChanges, placeholders } from '../../src/containers/changes.js';
import { withLstatHook } from '../helpers/fs-hooks.js';

const base = mkdtempSync(join(tmpdir(), 'berth-changes-'));
after(() => rmSync(base, { recursive: true, force: true }));

// The host's directory a swapped-in link points at.
const outside = join(base, 'outside');
mkdirSync(outside);
writeFileSync(join(outside, 'host-only'), '');
for (const f of ['hosts', 'hostname', 'resolv.conf']) writeFileSync(join(outside, f), '');

const lower = join(base, 'lower');
mkdirSync(lower);

let n = 0;
function upper(): string {
  const u = join(base, `u${n++}`);
  mkdirSync(join(u, 'a'), { recursive: true });
  writeFileSync(join(u, 'a/x'), '');
  writeFileSync(join(u, 'top'), '');
  return u;
}

describe('diff of a changing upper directory', () => {
  it('reports no host file when a directory is swapped for a link after it was seen', async () => {
    const u = upper();
    let swapped = false;
    const changes = await withLstatHook(
      (p) => {
        if (p.endsWith('/a') && !swapped) {
          swapped = true;
          renameSync(join(u, 'a'), join(u, 'a.real'));
          symlinkSync(outside, join(u, 'a'));
        }
      },
      () => containerChanges(u, [lower]),
    );
    assert.ok(swapped);
    assert.deepEqual(
      changes.map((c) => c.Path),
      ['/a', '/top'],
    );
  });

  it('takes an etc that links to runc’s mount points elsewhere as a change', async () => {
    const u = upper();
    symlinkSync(outside, join(u, 'etc'));
    assert.deepEqual([...placeholders(u)], []);
    assert.deepEqual(
      (await containerChanges(u, [lower])).map((c) => c.Path),
      ['/a', '/a/x', '/etc', '/top'],
    );
  });

  it('does not follow an image layer’s symlink to find an entry in it', async () => {
    const img = join(base, 'hostile-lower');
    mkdirSync(join(img, 'usr'), { recursive: true });
    writeFileSync(join(img, 'usr/f'), '');
    symlinkSync(outside, join(img, 'opt')); // the image's /opt -> the host's directory
    const u = join(base, `u${n++}`);
    mkdirSync(join(u, 'opt'), { recursive: true });
    mkdirSync(join(u, 'usr'), { recursive: true });
    writeFileSync(join(u, 'opt/host-only'), '');
    writeFileSync(join(u, 'opt/mine'), '');
    writeFileSync(join(u, 'usr/f'), '');
    assert.deepEqual(await containerChanges(u, [lower, img]), [
      { Path: '/opt', Kind: 0 },
      { Path: '/opt/host-only', Kind: 1 },
      { Path: '/opt/mine', Kind: 1 },
      { Path: '/usr', Kind: 0 },
      { Path: '/usr/f', Kind: 0 },
    ]);
  });

  it('takes a file under a path a higher layer made a file or a link as added, as overlayfs', async () => {
    // The top layer has /opt as a link; a lower one has /opt/x. The
    // container made /opt a directory again and /opt/x in it: added.
    const top = join(base, 'top-layer');
    const low = join(base, 'low-layer');
    mkdirSync(top);
    mkdirSync(join(low, 'opt'), { recursive: true });
    writeFileSync(join(low, 'opt/x'), '');
    symlinkSync('/etc', join(top, 'opt'));
    const u = join(base, `u${n++}`);
    mkdirSync(join(u, 'opt'), { recursive: true });
    writeFileSync(join(u, 'opt/x'), '');
    assert.deepEqual(await containerChanges(u, [top, low]), [
      { Path: '/opt', Kind: 0 },
      { Path: '/opt/x', Kind: 1 },
    ]);
  });
});
