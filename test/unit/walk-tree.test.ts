/**
 * Walks of a tree a running container changes meanwhile (walkTree,
 * treeSize; decision 0049): a directory swapped for a symlink to a
 * directory outside, after it was seen and before it is entered or while it
 * is read, never leads the walk outside. The swaps are made at those very
 * steps, from the walk's callback or from a wrapped lstat.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  constants,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { treeSize } from '../../src/kernel/pack.js';
import { fdPath } from '../../src/kernel/scope.js';
import { walkTree } from '../../src/kernel/walk.js';
import { withLstatHook } from '../helpers/fs-hooks.js';

const base = mkdtempSync(join(tmpdir(), 'berth-walk-'));
after(() => rmSync(base, { recursive: true, force: true }));

// What a swapped-in link points at: the host's `/etc`, say.
const outside = join(base, 'outside');
mkdirSync(outside);
writeFileSync(join(outside, 'host-only'), 'x'.repeat(100_000));
writeFileSync(join(outside, 'y'), 'x'.repeat(50_000));

let n = 0;
/** A tree: a/x (1 byte), a/y (2 bytes), top (4 bytes), a link to outside. */
function tree(): string {
  const t = join(base, `t${n++}`);
  mkdirSync(join(t, 'a'), { recursive: true });
  writeFileSync(join(t, 'a/x'), '1');
  writeFileSync(join(t, 'a/y'), '22');
  writeFileSync(join(t, 'top'), '4444');
  symlinkSync(outside, join(t, 'link'));
  return t;
}
const TREE_SIZE = 1 + 2 + 4 + outside.length;

/** The container's move: `a` becomes a symlink to outside. */
const swap = (t: string) => {
  renameSync(join(t, 'a'), join(t, 'a.real'));
  symlinkSync(outside, join(t, 'a'));
};

async function entries(t: string, hook?: (rel: string) => void): Promise<string[]> {
  const out: string[] = [];
  await walkTree(t, (rel) => {
    out.push(rel);
    hook?.(rel);
  });
  return out.sort();
}

describe('walkTree', () => {
  it('visits every entry, never following a symlink', async () => {
    assert.deepEqual(await entries(tree()), ['a', 'a/x', 'a/y', 'link', 'top']);
    assert.deepEqual(await entries(join(base, 'missing')), []);
  });

  it('does not enter a directory swapped for a symlink after it was seen', async () => {
    const t = tree();
    let swapped = false;
    const seen = await entries(t, (rel) => {
      if (rel === 'a' && !swapped) {
        swapped = true;
        swap(t);
      }
    });
    assert.ok(swapped);
    assert.deepEqual(seen, ['a', 'link', 'top']);
  });

  it('reads a directory it entered, also once it is swapped for a symlink', async () => {
    const t = tree();
    let swapped = false;
    const seen = await entries(t, (rel) => {
      if (rel.startsWith('a/') && !swapped) {
        swapped = true;
        swap(t);
      }
    });
    assert.ok(swapped);
    assert.deepEqual(seen, ['a', 'a/x', 'a/y', 'link', 'top']);
  });

  it('does not enter another directory moved into a seen one’s place', async () => {
    const t = tree();
    mkdirSync(join(t, 'b'));
    writeFileSync(join(t, 'b/from-b'), '');
    let moved = false;
    const seen = await entries(t, (rel) => {
      if (rel === 'a' && !moved) {
        moved = true;
        renameSync(join(t, 'a'), join(t, 'a.real'));
        renameSync(join(t, 'b'), join(t, 'a'));
      }
    });
    assert.ok(moved);
    assert.ok(!seen.includes('a/from-b'), seen.join(' '));
  });
  it('stops descending where a path would pass PATH_MAX, closing what it opened', async () => {
    // 50 levels of 100-character names, made through descriptors (a path
    // that long cannot be given to mkdir).
    const t = join(base, `t${n++}`);
    mkdirSync(t);
    const name = 'd'.repeat(100);
    let fd = openSync(t, constants.O_RDONLY | constants.O_DIRECTORY);
    for (let i = 0; i < 50; i++) {
      mkdirSync(fdPath(fd, name));
      writeFileSync(fdPath(fd, 'f'), '');
      const next = openSync(fdPath(fd, name), constants.O_RDONLY | constants.O_DIRECTORY);
      closeSync(fd);
      fd = next;
    }
    closeSync(fd);
    const before = readdirSync('/proc/self/fd').length;
    try {
      const seen = await entries(t);
      const deepest = Math.max(...seen.map((r) => r.length));
      assert.ok(t.length + 1 + deepest <= 4096 + 101, String(deepest));
      assert.ok(seen.length > 60, String(seen.length));
      assert.equal(readdirSync('/proc/self/fd').length, before);
    } finally {
      spawnSync('rm', ['-rf', '--one-file-system', t]);
    }
  });
});

describe('treeSize', () => {
  it('counts every inode once, a symlink its own length, 0 for nothing', async () => {
    const t = tree();
    assert.equal(await treeSize(t), TREE_SIZE);
    linkSync(join(t, 'top'), join(t, 'a/hard'));
    assert.equal(await treeSize(t), TREE_SIZE);
    assert.equal(await treeSize(join(base, 'missing')), 0);
  });

  it('counts nothing outside when a directory is swapped after it was seen', async () => {
    const t = tree();
    let swapped = false;
    const size = await withLstatHook(
      (p) => {
        if (p.endsWith('/a') && !swapped) {
          swapped = true;
          swap(t);
        }
      },
      () => treeSize(t),
      { sync: false },
    );
    assert.ok(swapped);
    assert.equal(size, 4 + outside.length);
  });

  it('counts the directory it entered when it is swapped while read', async () => {
    const t = tree();
    let swapped = false;
    const size = await withLstatHook(
      (p) => {
        if (/\/[xy]$/.test(p) && !swapped) {
          swapped = true;
          swap(t);
        }
      },
      () => treeSize(t),
      { sync: false },
    );
    assert.ok(swapped);
    assert.equal(size, TREE_SIZE);
  });
});
