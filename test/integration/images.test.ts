/**
 * The image store on a real filesystem (root): the builtin busybox runs in a
 * chroot; import, classic `docker save` and OCI-layout archives built by hand
 * load; whiteouts and opaque dirs work in a real overlay mount; failures leave
 * nothing behind; the store survives a reopen. Everything lives in one temp dir
 * per run and is unmounted and removed in `after`, also when a test fails.
 */
import type { ProgressLine } from '../../src/images/progress.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ImageStore } from '../../src/images/store.js';
import { hostArch } from '../../src/images/ingest.js';
import type { ImageUser } from '../../src/images/types.js';
import { openEmbeddedStore } from '../../src/store/index.js';
import type { KvStore } from '../../src/store/types.js';

const RUN = `berth-img-${process.pid}-${randomBytes(3).toString('hex')}`;
const base = join('/tmp', RUN);
const dataRoot = join(base, 'data');
const inUse = new Map<string, ImageUser>();
let kv: KvStore;
let store: ImageStore;

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

function sh(argv: string[], opts: { cwd?: string } = {}): string {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

function mountsUnder(dir: string): string[] {
  return sh(['cat', '/proc/self/mounts'])
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === dir || m.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
}

/** Writes `files` (path → content, or {link} for a symlink) under a new dir and tars it. */
async function makeTar(
  name: string,
  files: Record<string, string | { link: string }>,
): Promise<Buffer> {
  const dir = join(base, 'src', name);
  await fs.mkdir(dir, { recursive: true });
  for (const [p, v] of Object.entries(files)) {
    await fs.mkdir(join(dir, p, '..'), { recursive: true });
    if (typeof v === 'string') await fs.writeFile(join(dir, p), v);
    else await fs.symlink(v.link, join(dir, p));
  }
  const out = join(base, `${name}.tar`);
  sh(['tar', '--numeric-owner', '-C', dir, '-cf', out, '.']);
  return fs.readFile(out);
}

/** Tars a directory tree described by path → bytes (for the outer `docker save` archives). */
async function makeArchive(
  name: string,
  files: Record<string, Buffer | string | { link: string }>,
): Promise<string> {
  const dir = join(base, 'arch', name);
  for (const [p, v] of Object.entries(files)) {
    await fs.mkdir(join(dir, p, '..'), { recursive: true });
    if (typeof v === 'object' && !Buffer.isBuffer(v)) await fs.symlink(v.link, join(dir, p));
    else await fs.writeFile(join(dir, p), v);
  }
  const out = join(base, `${name}-archive.tar`);
  sh(['tar', '-C', dir, '-cf', out, '.']);
  return out;
}

async function layerCount(): Promise<number> {
  return (await fs.readdir(join(dataRoot, 'image', 'layers'))).length;
}

/** Mounts an overlay of `lower` (top first) and runs `check` on the merged dir, always unmounting. */
async function withOverlay(
  lower: string[],
  check: (merged: string) => Promise<void>,
): Promise<void> {
  const d = join(base, `ovl-${randomBytes(3).toString('hex')}`);
  for (const s of ['upper', 'work', 'merged']) await fs.mkdir(join(d, s), { recursive: true });
  const opts = `lowerdir=${lower.join(':')},upperdir=${d}/upper,workdir=${d}/work`;
  sh(['mount', '-t', 'overlay', 'overlay', '-o', opts, `${d}/merged`]);
  try {
    await check(`${d}/merged`);
  } finally {
    sh(['umount', `${d}/merged`]);
  }
}

const exists = (p: string): Promise<boolean> =>
  fs.lstat(p).then(
    () => true,
    () => false,
  );

// Layers shared by the archive tests: a base and one with a whiteout and an opaque dir.
const BASE_FILES = {
  'etc/a': 'a\n',
  'dir/keep': 'keep\n',
  'dir/gone': 'gone\n',
  'opq/x': 'x\n',
  'opq/sub/y': 'y\n',
  lnk: { link: 'etc/a' },
};
const TOP_FILES = {
  'dir/.wh.gone': '',
  'opq/.wh..wh..opq': '',
  'opq/new': 'new\n',
  'etc/b': 'b\n',
};

function configFor(diffIds: string[], extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: hostArch(),
      os: 'linux',
      created: '2024-01-02T03:04:05.123456789Z',
      config: { Cmd: ['/bin/sh'], Labels: { test: 'yes' } },
      rootfs: { type: 'layers', diff_ids: diffIds.map((d) => `sha256:${d}`) },
      ...extra,
    }),
  );
}

async function checkMerged(merged: string): Promise<void> {
  assert.equal(await fs.readFile(join(merged, 'etc/a'), 'utf8'), 'a\n');
  assert.equal(await fs.readFile(join(merged, 'etc/b'), 'utf8'), 'b\n');
  assert.ok(await exists(join(merged, 'dir/keep')));
  assert.ok(!(await exists(join(merged, 'dir/gone'))), 'the whiteout hides dir/gone');
  assert.ok(!(await exists(join(merged, 'opq/x'))), 'the opaque dir hides opq/x');
  assert.ok(!(await exists(join(merged, 'opq/sub'))), 'and opq/sub');
  assert.equal(await fs.readFile(join(merged, 'opq/new'), 'utf8'), 'new\n');
  assert.equal(await fs.readlink(join(merged, 'lnk')), 'etc/a');
}

describe('image store', { concurrency: false }, () => {
  before(async () => {
    await fs.mkdir(base, { recursive: true });
    kv = await openEmbeddedStore(dataRoot);
    store = await ImageStore.open(dataRoot, kv, { isInUse: (id) => inUse.get(id) });
  });

  after(async () => {
    for (const m of mountsUnder(base)) spawnSync('umount', ['-l', m]);
    await kv?.close();
    if (mountsUnder(base).length === 0) spawnSync('rm', ['-rf', '--one-file-system', base]);
  });

  it('builds busybox:latest quickly, once, and it runs in a chroot', async () => {
    const t0 = performance.now();
    await store.ensureBuiltins();
    const built = performance.now() - t0;
    assert.ok(built < 2000, `building busybox took ${built.toFixed(0)} ms`);
    const t1 = performance.now();
    await store.ensureBuiltins();
    assert.ok(performance.now() - t1 < 50, 'a second ensureBuiltins is a no-op');

    const img = await store.resolve('busybox');
    assert.ok(img);
    assert.deepEqual(img.repoTags, ['busybox:latest']);
    assert.deepEqual(img.config.config?.Cmd, ['sh']);
    assert.equal(img.config.os, 'linux');
    assert.equal(img.layerDirs.length, 1);
    const root = img.layerDirs[0] as string;
    const sh1 = await fs.stat(join(root, 'bin/sh'));
    const bb = await fs.stat(join(root, 'bin/busybox'));
    assert.equal(sh1.ino, bb.ino, '/bin/sh is busybox');
    assert.equal((await fs.stat(join(root, 'tmp'))).mode & 0o7777, 0o1777);
    assert.match(await fs.readFile(join(root, 'etc/passwd'), 'utf8'), /^root:x:0:0:/);
    assert.ok(await exists(join(root, 'usr/bin/wget')));
    assert.equal(sh(['chroot', root, '/bin/sh', '-c', 'echo ok']).trim(), 'ok');

    for (const ref of [
      'busybox:latest',
      'docker.io/library/busybox',
      'library/busybox',
      img.id,
      img.id.slice(7),
      img.id.slice(7, 12),
      img.id.slice(0, 12),
    ]) {
      assert.equal((await store.resolve(ref))?.id, img.id, ref);
    }
    const list = store.list();
    assert.equal(list.length, 1);
    assert.deepEqual(list[0]?.RepoTags, ['busybox:latest']);
    // the binary plus /etc/passwd and /etc/group; hard links count once
    assert.ok((list[0]?.Size ?? 0) > bb.size && (list[0]?.Size ?? 0) < bb.size + 4096);
    const ins = store.inspect('busybox') as {
      Id: string;
      RootFS: { Layers: string[] };
      GraphDriver: { Name: string; Data: Record<string, string> };
      Metadata: { LastTagTime: string };
    };
    assert.equal(ins.Id, img.id);
    assert.deepEqual(ins.RootFS.Layers, img.diffIds);
    assert.equal(ins.GraphDriver.Name, 'overlay2');
    assert.equal(ins.GraphDriver.Data.UpperDir, root);
    assert.match(ins.Metadata.LastTagTime, /^\d{4}-/);

    // the same binary gives the same image id in another data-root
    const other = join(base, 'data2');
    const kv2 = await openEmbeddedStore(other);
    try {
      const s2 = await ImageStore.open(other, kv2);
      await s2.ensureBuiltins();
      assert.equal((await s2.resolve('busybox'))?.id, img.id);
    } finally {
      await kv2.close();
    }
  });

  it('imports a rootfs tar (plain and gzip share one layer) with --change', async () => {
    const tarBytes = await makeTar('rootfs', {
      'hello.txt': 'hello\n',
      'bin/x': '#!/bin/sh\n',
      l: { link: '/hello.txt' },
    });
    await fs.chmod(join(base, 'src/rootfs/bin/x'), 0o4755);
    await fs.chown(join(base, 'src/rootfs/hello.txt'), 1234, 5678);
    sh([
      'tar',
      '--numeric-owner',
      '-C',
      join(base, 'src/rootfs'),
      '-cf',
      join(base, 'rootfs.tar'),
      '.',
    ]);
    const plain = await fs.readFile(join(base, 'rootfs.tar'));
    assert.ok(plain.length >= tarBytes.length);
    const before = await layerCount();
    const id = await store.importTar(createReadStream(join(base, 'rootfs.tar')), {
      repo: 'imported',
      tag: 'v1',
      changes: ['CMD ["/bin/x"]', 'ENV A=1', 'EXPOSE 80', 'WORKDIR /srv'],
    });
    const img = await store.resolve('imported:v1');
    assert.equal(img?.id, id);
    assert.deepEqual(img?.diffIds, [`sha256:${sha(plain)}`], 'diffID is the sha256 of the tar');
    assert.deepEqual(img?.config.config?.Cmd, ['/bin/x']);
    assert.deepEqual(img?.config.config?.Env, ['A=1']);
    assert.equal(img?.config.comment, 'Imported from -');
    const dir = img?.layerDirs[0] as string;
    assert.equal(await fs.readFile(join(dir, 'hello.txt'), 'utf8'), 'hello\n');
    const st = await fs.stat(join(dir, 'hello.txt'));
    assert.deepEqual([st.uid, st.gid], [1234, 5678]);
    assert.equal((await fs.stat(join(dir, 'bin/x'))).mode & 0o7777, 0o4755);
    assert.equal(await fs.readlink(join(dir, 'l')), '/hello.txt');
    assert.equal(await layerCount(), before + 1);

    await fs.writeFile(join(base, 'rootfs.tar.gz'), gzipSync(plain));
    const id2 = await store.importTar(createReadStream(join(base, 'rootfs.tar.gz')), {
      repo: 'imported:gz',
    });
    assert.notEqual(id2, id);
    assert.deepEqual((await store.resolve('imported:gz'))?.layerDirs, img?.layerDirs);
    assert.equal(await layerCount(), before + 1, 'the gzip import reuses the layer');

    assert.deepEqual(await store.remove('imported:gz'), [
      { Untagged: 'imported:gz' },
      { Deleted: id2 },
    ]);
    assert.ok(await exists(dir), 'a layer another image uses stays');
    const rm = await store.remove('imported:v1');
    assert.deepEqual(rm.slice(0, 2), [{ Untagged: 'imported:v1' }, { Deleted: id }]);
    assert.deepEqual(rm[2], { Deleted: img?.diffIds[0] });
    assert.ok(!(await exists(dir)), 'the last user takes the layer with it');
  });

  it('rejects bad imports and leaves nothing behind', async () => {
    const before = await layerCount();
    const garbage = join(base, 'garbage.tar');
    await fs.writeFile(garbage, randomBytes(3000));
    await assert.rejects(store.importTar(createReadStream(garbage), { repo: 'bad' }), {
      code: 'INVALID_ARGUMENT',
    });
    await assert.rejects(store.importTar(createReadStream(garbage), { repo: 'Bad' }), {
      message: 'invalid reference format: repository name must be lowercase',
    });
    await assert.rejects(store.importTar(createReadStream(garbage), { changes: ['RUN x'] }), {
      message: 'run is not a valid change command',
    });
    // a tar that climbs out of its root
    const evil = join(base, 'evil');
    await fs.mkdir(join(evil, 'a'), { recursive: true });
    await fs.writeFile(join(evil, 'pwned'), 'x');
    sh(['tar', '-P', '-C', join(evil, 'a'), '-cf', join(base, 'evil.tar'), '../pwned']);
    await assert.rejects(
      store.importTar(createReadStream(join(base, 'evil.tar')), { repo: 'evil' }),
      /escapes/,
    );
    // a symlink to the outside, then a file "through" it
    await fs.mkdir(join(base, 'outside'), { recursive: true });
    await fs.mkdir(join(base, 'src', 'symA'), { recursive: true });
    await fs.mkdir(join(base, 'src', 'symB', 'd'), { recursive: true });
    await fs.symlink(join(base, 'outside'), join(base, 'src', 'symA', 'd'));
    await fs.writeFile(join(base, 'src', 'symB', 'd', 'f'), 'x');
    sh(['tar', '-C', join(base, 'src', 'symA'), '-cf', join(base, 'symesc.tar'), 'd']);
    sh(['tar', '-C', join(base, 'src', 'symB'), '-rf', join(base, 'symesc.tar'), 'd/f']);
    await assert.rejects(
      store.importTar(createReadStream(join(base, 'symesc.tar')), { repo: 'evil' }),
      {
        code: 'INVALID_ARGUMENT',
        message: /d is not a directory/,
      },
    );
    assert.deepEqual(
      await fs.readdir(join(base, 'outside')),
      [],
      'nothing was written through the symlink',
    );
    assert.equal(await layerCount(), before);
    assert.equal(
      store.list().filter((i) => i.RepoTags.some((t) => /^(bad|evil)/.test(t))).length,
      0,
    );
    assert.deepEqual(await fs.readdir(join(dataRoot, 'image', 'tmp')), []);
  });

  it('loads a classic docker save archive (symlinked layer.tar) and the overlay honours whiteouts', async () => {
    const l1 = await makeTar('base', BASE_FILES);
    const l2 = await makeTar('top', TOP_FILES);
    const config = configFor([sha(l1), sha(l2)]);
    const file = await makeArchive('classic', {
      [`${sha(config)}.json`]: config,
      'l1/layer.tar': l1,
      'l2/layer.tar': l2,
      'l2link/layer.tar': { link: '../l2/layer.tar' },
      'manifest.json': JSON.stringify([
        {
          Config: `${sha(config)}.json`,
          RepoTags: ['multi:classic'],
          Layers: ['l1/layer.tar', 'l2link/layer.tar'],
        },
      ]),
    });
    const progress: ProgressLine[] = [];
    const lines = await store.load(createReadStream(file), (l) => progress.push(l));
    assert.deepEqual(lines, ['Loaded image: multi:classic']);
    // Docker's "Loading layer" bytes per layer, by its short diff id, ending at its size.
    assert.deepEqual(
      progress.map((p) => [p.status, p.id, p.progressDetail?.current, p.progressDetail?.total]),
      [
        ['Loading layer', sha(l1).slice(0, 12), l1.length, l1.length],
        ['Loading layer', sha(l2).slice(0, 12), l2.length, l2.length],
      ],
    );
    assert.match(progress[0]?.progress ?? '', /^\[=+>\] +\S+B\/\S+B$/);
    const img = await store.resolve('multi:classic');
    assert.equal(img?.id, `sha256:${sha(config)}`);
    assert.equal(img?.layerDirs.length, 2);
    const top = img?.layerDirs[0] as string;
    const wh = await fs.lstat(join(top, 'dir/gone'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'whiteout is a 0:0 char device');
    const xattr = sh([
      '/usr/bin/python3',
      '-c',
      'import os,sys; print(os.getxattr(sys.argv[1], "trusted.overlay.opaque", follow_symlinks=False).decode())',
      join(top, 'opq'),
    ]);
    assert.equal(xattr.trim(), 'y', 'the opaque dir carries trusted.overlay.opaque=y');
    assert.ok(!(await exists(join(top, 'opq/.wh..wh..opq'))));
    await withOverlay(img?.layerDirs as string[], checkMerged);
    const summary = store.list().find((i) => i.Id === img?.id);
    assert.equal(summary?.Created, 1704164645);
    assert.deepEqual(summary?.Labels, { test: 'yes' });
    assert.deepEqual(
      store.list({ filters: { reference: ['multi'] } }).map((i) => i.Id),
      [img?.id],
    );
    assert.deepEqual(
      store.list({ filters: { label: ['test=yes'] } }).map((i) => i.Id),
      [img?.id],
    );

    // loading it again changes nothing; loading under a taken tag reports the rename
    assert.deepEqual(await store.load(createReadStream(file)), ['Loaded image: multi:classic']);
  });

  it('mounts an image that repeats a layer (overlayfs refuses a lowerdir twice)', async () => {
    const one = await makeTar('rep-one', { f: '1\n' });
    const two = await makeTar('rep-two', { f: '2\n', g: 'g\n' });
    const config = configFor([sha(one), sha(two), sha(one)]);
    const file = await makeArchive('repeat', {
      'c.json': config,
      'a/layer.tar': one,
      'b/layer.tar': two,
      'manifest.json': JSON.stringify([
        {
          Config: 'c.json',
          RepoTags: ['repeat:1'],
          Layers: ['a/layer.tar', 'b/layer.tar', 'a/layer.tar'],
        },
      ]),
    });
    assert.deepEqual(await store.load(createReadStream(file)), ['Loaded image: repeat:1']);
    const img = await store.resolveOrThrow('repeat:1');
    assert.equal(img.diffIds.length, 3);
    assert.equal(img.layerDirs.length, 2);
    await withOverlay(img.layerDirs, async (m) => {
      assert.equal(await fs.readFile(join(m, 'f'), 'utf8'), '1\n', 'the top-most copy wins');
      assert.equal(await fs.readFile(join(m, 'g'), 'utf8'), 'g\n');
    });
    const rm = await store.remove('repeat:1');
    assert.deepEqual(rm.slice(0, 2), [{ Untagged: 'repeat:1' }, { Deleted: img.id }]);
    assert.equal(rm.length, 4, 'two layers deleted, each reported once');
  });

  it('refuses an archive whose layers do not match the config, leaving nothing', async () => {
    const before = await layerCount();
    const l1 = await makeTar('other', { 'new/file': 'new content\n' });
    const config = configFor([sha('not the layer')]);
    const file = await makeArchive('wrong', {
      'c.json': config,
      'l/layer.tar': l1,
      'manifest.json': JSON.stringify([
        { Config: 'c.json', RepoTags: ['wrong:1'], Layers: ['l/layer.tar'] },
      ]),
    });
    await assert.rejects(store.load(createReadStream(file)), {
      code: 'INVALID_ARGUMENT',
      message: new RegExp(
        `^invalid diffID for layer 0: expected "sha256:${sha('not the layer')}", got "sha256:${sha(l1)}"$`,
      ),
    });
    assert.equal(await store.resolve('wrong:1'), undefined);
    assert.equal(await layerCount(), before);
    assert.deepEqual(await fs.readdir(join(dataRoot, 'image', 'tmp')), []);
    await assert.rejects(
      store.load(createReadStream(join(base, 'base.tar'))),
      /no manifest.json or index.json/,
    );
  });

  it('loads an OCI layout with a nested index and gzip layers', async () => {
    const l1 = await makeTar('oci-base', { ...BASE_FILES, 'etc/a': 'a\n', 'oci-only': '1\n' });
    const l2 = await makeTar('oci-top', TOP_FILES);
    const gz1 = gzipSync(l1);
    const gz2 = gzipSync(l2);
    const config = configFor([sha(l1), sha(l2)], { created: '2024-05-06T07:08:09Z' });
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: `sha256:${sha(config)}`,
          size: config.length,
        },
        layers: [gz1, gz2].map((b) => ({
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: `sha256:${sha(b)}`,
          size: b.length,
        })),
      }),
    );
    const nested = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: `sha256:${sha(manifest)}`,
            size: manifest.length,
            platform: { os: 'linux', architecture: hostArch() },
          },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: `sha256:${'e'.repeat(64)}`,
            size: 1,
            platform: { os: 'unknown', architecture: 'unknown' },
            annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
          },
        ],
      }),
    );
    const index = {
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.index.v1+json',
          digest: `sha256:${sha(nested)}`,
          size: nested.length,
          annotations: {
            'io.containerd.image.name': 'docker.io/library/ocitest:1',
            'org.opencontainers.image.ref.name': '1',
          },
        },
      ],
    };
    const blobs: Record<string, Buffer> = {};
    for (const b of [config, manifest, nested, gz1, gz2]) blobs[`blobs/sha256/${sha(b)}`] = b;
    const file = await makeArchive('oci', {
      'oci-layout': JSON.stringify({ imageLayoutVersion: '1.0.0' }),
      'index.json': JSON.stringify(index),
      ...blobs,
    });
    assert.deepEqual(await store.load(createReadStream(file)), ['Loaded image: ocitest:1']);
    const img = await store.resolve('ocitest:1');
    assert.equal(img?.id, `sha256:${sha(config)}`);
    assert.deepEqual(img?.diffIds, [`sha256:${sha(l1)}`, `sha256:${sha(l2)}`]);
    await withOverlay(img?.layerDirs as string[], async (m) => {
      await checkMerged(m);
      assert.ok(await exists(join(m, 'oci-only')));
    });
  });

  it('tags, untags, refuses to remove images in use, and forces like Docker', async () => {
    const bb = await store.resolveOrThrow('busybox');
    await store.tag('busybox', 'mybox', '1');
    await store.tag(bb.id, 'localhost:5000/team/box');
    assert.deepEqual((await store.resolve('busybox'))?.repoTags, [
      'busybox:latest',
      'localhost:5000/team/box:latest',
      'mybox:1',
    ]);
    assert.deepEqual(await store.remove('mybox:1'), [{ Untagged: 'mybox:1' }]);
    assert.deepEqual(await store.remove('localhost:5000/team/box'), [
      { Untagged: 'localhost:5000/team/box:latest' },
    ]);
    await assert.rejects(store.tag('nosuch', 'x'), {
      code: 'NOT_FOUND',
      message: 'No such image: nosuch:latest',
    });
    await assert.rejects(store.remove('nosuch'), {
      code: 'NOT_FOUND',
      message: 'No such image: nosuch:latest',
    });
    assert.throws(() => store.inspect('nosuch:2'), {
      code: 'NOT_FOUND',
      message: 'No such image: nosuch:2',
    });
    await assert.rejects(store.resolve('UPPER'), { code: 'INVALID_ARGUMENT' });

    const cid = 'f'.repeat(64);
    inUse.set(bb.id, { containerId: cid, running: true });
    try {
      await assert.rejects(store.remove('busybox'), {
        code: 'CONFLICT',
        message: `conflict: unable to remove repository reference "busybox" (must force) - container ffffffffffff is using its referenced image ${bb.id.slice(7, 19)}`,
      });
      await assert.rejects(store.remove(bb.id.slice(7, 15), { force: true }), {
        code: 'CONFLICT',
        message: `conflict: unable to delete ${bb.id.slice(7, 19)} (cannot be forced) - image is being used by running container ffffffffffff`,
      });
      assert.deepEqual(await store.remove('busybox', { force: true }), [
        { Untagged: 'busybox:latest' },
      ]);
      const dangling = store.list().find((i) => i.Id === bb.id);
      assert.deepEqual(dangling?.RepoTags, ['<none>:<none>']);
      assert.ok(await exists(bb.layerDirs[0] as string), 'the layers of an image in use stay');
      assert.deepEqual(
        store.list({ filters: { dangling: ['true'] } }).map((i) => i.Id),
        [bb.id],
      );
    } finally {
      inUse.delete(bb.id);
    }
    await store.ensureBuiltins();
    assert.equal(
      (await store.resolve('busybox'))?.id,
      bb.id,
      'ensureBuiltins re-tags the same image',
    );
  });

  it('reopens with the same images and repairs leftovers', async () => {
    const before = store.list();
    await fs.mkdir(join(dataRoot, 'image', 'layers', 'f'.repeat(64), 'diff'), { recursive: true });
    await fs.mkdir(join(dataRoot, 'image', 'tmp', 'layer-leftover'), { recursive: true });
    await fs.writeFile(join(dataRoot, 'image', 'configs', `${'d'.repeat(64)}.json`), '{}');
    await kv.put(
      'images/tags/docker.io/library/ghost:latest',
      JSON.stringify({ id: `sha256:${'c'.repeat(64)}` }),
    );
    const again = await ImageStore.open(dataRoot, kv);
    assert.deepEqual(again.list(), before);
    assert.ok(!(await exists(join(dataRoot, 'image', 'layers', 'f'.repeat(64)))));
    assert.deepEqual(await fs.readdir(join(dataRoot, 'image', 'tmp')), []);
    assert.ok(!(await exists(join(dataRoot, 'image', 'configs', `${'d'.repeat(64)}.json`))));
    assert.equal(await kv.get('images/tags/docker.io/library/ghost:latest'), undefined);
  });
});
