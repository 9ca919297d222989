/**
 * The pure parts of the builtin Debian images: dpkg-query parsing, dependency
 * closures, layer entries from host paths (against a small fake host tree),
 * deterministic tars, alternatives, tags and reference matching.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import {
  NotInstalledError,
  closure,
  parseDepends,
  parsePackages,
  type PackageDb,
} from '../../src/images/builtin/packages.js';
import {
  collectHostFiles,
  layerTar,
  mergeEntries,
  newestMtime,
  withParents,
  type HostFs,
  type LayerEntry,
} from '../../src/images/builtin/layer.js';
import { parseAlternative } from '../../src/images/builtin/alternatives.js';
import {
  alternativeEntries,
  sortedStatus,
  DebianBuilder,
} from '../../src/images/builtin/debian.js';
import { PYTHON, REDIS, tagsOf, upstreamVersion } from '../../src/images/builtin/recipes.js';
import { parseNormalizedNamed, withDefaultTag } from '../../src/images/reference.js';

/** A dpkg-query row in PACKAGE_FIELDS order. */
const row = (
  name: string,
  o: {
    arch?: string;
    version?: string;
    status?: string;
    provides?: string;
    pre?: string;
    deps?: string;
  } = {},
): string[] => [
  o.arch === 'amd64' && name.startsWith('lib') ? `${name}:amd64` : name,
  name,
  o.arch ?? 'amd64',
  o.version ?? '1.0-1',
  o.status ?? 'ii ',
  o.provides ?? '',
  o.pre ?? '',
  o.deps ?? '',
];

function sampleDb(): PackageDb {
  return parsePackages([
    row('dpkg', { deps: 'tar (>= 1.28-1)' }),
    row('tar'),
    row('libc6', { arch: 'amd64', version: '2.36-9', deps: 'libgcc-s1' }),
    row('libc6', { arch: 'i386', version: '2.36-9' }),
    row('libgcc-s1', { arch: 'amd64' }),
    row('dash', { pre: 'libc6 (>= 2.34)', deps: 'debianutils (>= 5.6-0.1), dpkg (>= 1.19.1)' }),
    row('debianutils', { deps: 'libc6' }),
    row('mawk', { provides: 'awk' }),
    row('gawk', { status: 'rc ', provides: 'awk' }),
    row('media-types', { arch: 'all' }),
    row('python3', {
      version: '3.11.2-1+b1',
      deps: 'mime-support | media-types, awk, python3:any',
    }),
    row('python3-flask', { arch: 'all', deps: 'python3-importlib-metadata | python3 (>> 3.10)' }),
    row('broken', { deps: 'nothing-provides-this' }),
  ]);
}

describe('dpkg-query parsing', () => {
  it('splits Depends into OR-groups of bare names', () => {
    assert.deepEqual(parseDepends('a (>= 1) | b:any, c,  d:amd64 (= 2)'), [
      ['a', 'b'],
      ['c'],
      ['d'],
    ]);
    assert.deepEqual(parseDepends(''), []);
  });

  it('keeps installed packages of the native arch (or all), with their providers', () => {
    const db = sampleDb();
    assert.equal(db.arch, 'amd64');
    assert.equal(db.byName.get('libc6')?.arch, 'amd64', 'the foreign libc6:i386 is ignored');
    assert.equal(db.byName.get('libc6')?.id, 'libc6:amd64');
    assert.equal(db.byName.has('gawk'), false, 'removed (rc) packages do not count');
    assert.deepEqual(db.providers.get('awk'), ['mawk']);
    assert.deepEqual(db.byName.get('dash')?.depends, [['libc6'], ['debianutils'], ['dpkg']]);
  });
});

describe('dependency closure', () => {
  it('follows Pre-Depends and Depends, picks installed alternatives and providers, sorted', () => {
    const db = sampleDb();
    assert.deepEqual(closure(db, ['python3']), ['mawk', 'media-types', 'python3']);
    assert.deepEqual(closure(db, ['python3-flask']), [
      'mawk',
      'media-types',
      'python3',
      'python3-flask',
    ]);
  });

  it('neither includes nor follows excluded packages', () => {
    const db = sampleDb();
    assert.deepEqual(closure(db, ['dash']), [
      'dash',
      'debianutils',
      'dpkg',
      'libc6',
      'libgcc-s1',
      'tar',
    ]);
    assert.deepEqual(closure(db, ['dash'], ['dpkg']), [
      'dash',
      'debianutils',
      'libc6',
      'libgcc-s1',
    ]);
  });

  it('names what is missing: a root, or a dependency nothing installed satisfies', () => {
    const db = sampleDb();
    assert.throws(
      () => closure(db, ['redis-server', 'dash']),
      (e: unknown) => {
        assert.ok(e instanceof NotInstalledError);
        assert.deepEqual(e.packages, ['redis-server']);
        assert.match(e.message, /apt-get install redis-server/);
        return true;
      },
    );
    assert.throws(() => closure(db, ['broken']), /nothing-provides-this/);
  });
});

describe('layer entries from host paths', () => {
  let root: string;
  /** The fake host: absolute paths are taken below `root`. */
  let fs: HostFs;

  before(() => {
    root = realpathSync(mkdtempSync(join(tmpdir(), 'berth-layer-')));
    const w = (p: string, text: string) => writeFileSync(join(root, p), text);
    for (const d of ['usr/bin', 'usr/lib/x', 'usr/share/doc/dash', 'etc']) {
      mkdirSync(join(root, d), { recursive: true });
    }
    symlinkSync('usr/bin', join(root, 'bin'));
    w('usr/bin/dash', 'dash');
    w('usr/bin/gzip', 'gzip');
    linkSync(join(root, 'usr/bin/gzip'), join(root, 'usr/bin/gunzip'));
    linkSync(join(root, 'usr/bin/gzip'), join(root, 'usr/bin/zcat'));
    symlinkSync('dash', join(root, 'usr/bin/sh'));
    w('usr/share/doc/dash/copyright', 'c');
    w('usr/lib/x/lib.so', 'lib');
    fs = {
      lstat: (p) => lstatSync(root + p),
      readlink: (p) => readlinkSync(root + p),
      realpath: (p) => {
        const r = realpathSync(root + p);
        return r === root ? '/' : r.slice(root.length);
      },
    };
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('places files where they really are, keeps symlinks and hard links, adds parents', () => {
    const entries = collectHostFiles(
      [
        '/.',
        '/bin',
        '/bin/dash',
        '/bin/sh',
        '/usr/bin/zcat',
        '/usr/bin/gzip',
        '/usr/bin/gunzip',
        '/usr/share/doc/dash/copyright',
        '/usr/lib/x/lib.so',
        '/usr/bin/gone',
        'package diverts others to: /bin/sh.distrib',
      ],
      ['usr/share/doc'],
      fs,
    );
    const view = entries.map((e) => `${e.type} ${e.path}${e.linkname ? ` -> ${e.linkname}` : ''}`);
    assert.deepEqual(view, [
      'symlink bin -> usr/bin',
      'directory usr',
      'directory usr/bin',
      'file usr/bin/dash',
      'file usr/bin/gunzip',
      'link usr/bin/gzip -> usr/bin/gunzip',
      'symlink usr/bin/sh -> dash',
      'link usr/bin/zcat -> usr/bin/gunzip',
      'directory usr/lib',
      'directory usr/lib/x',
      'file usr/lib/x/lib.so',
    ]);
    // the first name in path order holds the content, whatever order dpkg listed them in
    assert.equal(entries.find((e) => e.path === 'usr/bin/gunzip')?.source, '/usr/bin/gunzip');
  });

  it('keeps only the owner ids Debian fixes statically (< 100)', () => {
    const st = lstatSync(join(root, 'usr/bin/dash'));
    const fake: HostFs = {
      ...fs,
      lstat: (p) => {
        const s = fs.lstat(p);
        return p === '/usr/bin/dash' ? Object.assign(Object.create(st), { uid: 105, gid: 42 }) : s;
      },
    };
    const e = collectHostFiles(['/usr/bin/dash'], [], fake).find((x) => x.path === 'usr/bin/dash');
    assert.equal(e?.uid, 0);
    assert.equal(e?.gid, 42);
  });
});

/** Tar headers and contents of a stream. */
async function readTar(
  stream: AsyncIterable<Buffer>,
): Promise<Array<{ name: string; type: string; mtime: number; uname: string; body: string }>> {
  const out: Array<{ name: string; type: string; mtime: number; uname: string; body: string }> = [];
  const ex = tar.extract();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      const h = entry.header;
      out.push({
        name: h.name,
        type: h.type ?? '',
        mtime: (h.mtime?.getTime() ?? 0) / 1000,
        uname: h.uname ?? '',
        body: Buffer.concat(chunks).toString(),
      });
    }
  })();
  for await (const c of stream) ex.write(c);
  (ex as unknown as { end(): void }).end();
  await done;
  return out;
}

async function hashOf(stream: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('sha256');
  for await (const c of stream) h.update(c);
  return h.digest('hex');
}

describe('deterministic layer tars', () => {
  const file = (path: string, text: string, mtime = 5): LayerEntry => ({
    path,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    content: Buffer.from(text),
    mtime,
  });

  it('same entries, same bytes; one mtime; no user names; recipe files win', async () => {
    const entries = withParents(
      mergeEntries(
        [file('etc/passwd', 'host'), file('usr/bin/x', 'x', 1700000000)],
        [file('etc/passwd', 'recipe')],
      ),
    );
    assert.deepEqual(
      entries.map((e) => e.path),
      ['etc', 'etc/passwd', 'usr', 'usr/bin', 'usr/bin/x'],
    );
    const t = newestMtime([{ ...file('a', ''), source: '/a', mtime: 1700000000 }]);
    assert.equal(t, 1700000000);
    const a = await hashOf(layerTar(entries, t) as AsyncIterable<Buffer>);
    const b = await hashOf(layerTar(entries, t) as AsyncIterable<Buffer>);
    assert.equal(a, b);
    assert.notEqual(await hashOf(layerTar(entries, t + 1) as AsyncIterable<Buffer>), a);
    const read = await readTar(layerTar(entries, t) as AsyncIterable<Buffer>);
    assert.deepEqual(
      read.map((r) => [r.name, r.type]),
      [
        ['etc', 'directory'],
        ['etc/passwd', 'file'],
        ['usr', 'directory'],
        ['usr/bin', 'directory'],
        ['usr/bin/x', 'file'],
      ],
    );
    assert.ok(read.every((r) => r.mtime === t && r.uname === ''));
    assert.equal(read[1]?.body, 'recipe');
  });

  it('orders paths by bytes, not by locale', () => {
    const entries = mergeEntries([file('a/b', ''), file('a-b', ''), file('B', ''), file('a', '')]);
    assert.deepEqual(
      entries.map((e) => e.path),
      ['B', 'a', 'a-b', 'a/b'],
    );
  });
});

describe('alternatives, status, tags, references', () => {
  it('parses an alternatives file and links only choices the layer holds', () => {
    const text =
      'auto\n/usr/bin/awk\nawk.1.gz\n/usr/share/man/man1/awk.1.gz\nnawk\n/usr/bin/nawk\n\n/usr/bin/mawk\n5\n/usr/share/man/man1/mawk.1.gz\n/usr/bin/mawk\n\n';
    assert.deepEqual(parseAlternative('awk', text), [
      { name: 'awk', link: '/usr/bin/awk' },
      { name: 'awk.1.gz', link: '/usr/share/man/man1/awk.1.gz' },
      { name: 'nawk', link: '/usr/bin/nawk' },
    ]);
    const have: LayerEntry[] = [
      { path: 'usr/bin/mawk', type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
    ];
    const links = alternativeEntries(
      have,
      [
        { name: 'awk', link: '/usr/bin/awk', target: '/usr/bin/mawk' },
        {
          name: 'awk.1.gz',
          link: '/usr/share/man/man1/awk.1.gz',
          target: '/usr/share/man/man1/mawk.1.gz',
        },
        { name: 'pager', link: '/usr/bin/pager', target: '/usr/bin/less' },
      ],
      (p) => p.slice(1),
    );
    assert.deepEqual(
      links.map((l) => `${l.path} -> ${l.linkname}`),
      ['etc/alternatives/awk -> /usr/bin/mawk', 'usr/bin/awk -> /etc/alternatives/awk'],
    );
  });

  it('sorts status stanzas by package', () => {
    assert.equal(
      sortedStatus('Package: b\nVersion: 1\n\nPackage: a\nDescription: x\n .\n y\n\n'),
      'Package: a\nDescription: x\n .\n y\n\nPackage: b\nVersion: 1\n',
    );
  });

  it('derives tags from the upstream version and matches only builtin names', () => {
    assert.equal(upstreamVersion('5:7.0.15-1~deb12u10'), '7.0.15');
    assert.equal(upstreamVersion('3.11.2-1+b1'), '3.11.2');
    const db = parsePackages([
      row('dpkg'),
      row('redis-server', { version: '5:7.0.15-1~deb12u10' }),
      row('python3', { version: '3.11.2-1+b1' }),
    ]);
    assert.deepEqual(tagsOf(REDIS, db), ['latest', '7', '7.0', '7.0.15']);
    assert.deepEqual(tagsOf(PYTHON, db), ['latest', '3', '3.11', '3.11.2']);
    const m = (s: string) => DebianBuilder.match(withDefaultTag(parseNormalizedNamed(s)), db)?.name;
    assert.equal(m('redis'), 'redis');
    assert.equal(m('redis:7'), 'redis');
    assert.equal(m('docker.io/library/python:3.11'), 'python');
    assert.equal(m('python:3.12'), undefined);
    assert.equal(m('quay.io/library/redis'), undefined);
    assert.equal(m('someone/redis'), undefined);
    assert.equal(m('busybox'), undefined);
  });
});
