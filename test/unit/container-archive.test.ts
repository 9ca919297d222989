/** The archive API's path rules, stat header and tars (containers/archive.ts), on a temp tree. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import {
  archivePath,
  extractInto,
  goBase,
  goFileMode,
  preserveTrailing,
  resolvePath,
  statHeader,
  statPath,
  tarTree,
} from '../../src/containers/archive.js';
import { containerChanges } from '../../src/containers/changes.js';

let root: string;

async function names(t: AsyncIterable<Buffer>): Promise<string[]> {
  const ex = tar.extract();
  const out: string[] = [];
  const done = (async () => {
    for await (const e of ex) {
      out.push(e.header.name + (e.header.type === 'symlink' ? ` -> ${e.header.linkname}` : ''));
      e.resume();
    }
  })();
  for await (const c of t) ex.write(c);
  (ex as unknown as { end(): void }).end();
  await done;
  return out;
}

async function tarOf(
  entries: Array<{ name: string; type: 'file' | 'directory' | 'symlink'; linkname?: string }>,
): Promise<Readable> {
  const pack = tar.pack();
  for (const e of entries)
    pack.entry({ ...e, size: e.type === 'file' ? 2 : 0 }, e.type === 'file' ? 'x\n' : '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  return Readable.from([Buffer.concat(chunks)]);
}

describe('archive paths', () => {
  before(() => {
    root = realpathSync(mkdtempSync(join(tmpdir(), 'berth-archive-')));
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    mkdirSync(join(root, 'data/sub'), { recursive: true });
    writeFileSync(join(root, 'data/a.txt'), 'a', { mode: 0o640 });
    writeFileSync(join(root, 'data/sub/b'), 'b');
    symlinkSync('/etc', join(root, 'data/abs'));
    symlinkSync('../../../../../../../../etc', join(root, 'data/climb'));
    symlinkSync('sub', join(root, 'data/rel'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("keeps a trailing / or /. as Docker's PreserveTrailingDotOrSeparator", () => {
    assert.equal(preserveTrailing('/data', 'data/.'), '/data/.');
    assert.equal(preserveTrailing('/data', '/data/'), '/data/');
    assert.equal(preserveTrailing('/data', '/data'), '/data');
    assert.equal(preserveTrailing('/', '/.'), '/.');
    assert.deepEqual(['/a/b/', '/a/b', '/', 'x', '/a/.'].map(goBase), ['b', 'b', '/', 'x', '.']);
  });

  it('resolves the directory part inside the root and never the last element', () => {
    assert.equal(resolvePath(root, '/data/abs/passwd').host, `${root}/etc/passwd`);
    assert.equal(resolvePath(root, 'data/climb/passwd').host, `${root}/etc/passwd`);
    assert.equal(resolvePath(root, '/data/rel/b').host, `${root}/data/sub/b`);
    // The link itself: its own path, its target in the stat.
    const link = resolvePath(root, '/data/climb');
    assert.equal(link.host, `${root}/data/climb`);
    const st = statPath(root, link);
    assert.equal(st.linkTarget, '/etc');
    assert.equal(st.name, 'climb');
    assert.equal(resolvePath(root, '/data/.').host, `${root}/data`);
    // A trailing slash follows the last link, inside the root too (never the host's /etc).
    assert.equal(resolvePath(root, '/data/abs/').host, `${root}/etc`);
    assert.equal(resolvePath(root, '/data/climb/.').host, `${root}/etc`);
    assert.throws(() => statPath(root, resolvePath(root, '/data/a.txt/')), /not a directory/);
    assert.equal(resolvePath(root, '/../../data/a.txt').host, `${root}/data/a.txt`);
  });

  it("encodes modes as Go's os.FileMode and the stat header as dockerd", () => {
    assert.equal(goFileMode(0o040755), 2 ** 31 + 0o755);
    assert.equal(goFileMode(0o120777), 2 ** 27 + 0o777);
    assert.equal(goFileMode(0o104755), 2 ** 23 + 0o755);
    assert.equal(goFileMode(0o020666), 2 ** 26 + 2 ** 21 + 0o666);
    const st = statPath(root, resolvePath(root, '/data/a.txt'));
    assert.deepEqual(
      { name: st.name, size: st.size, mode: st.mode },
      { name: 'a.txt', size: 1, mode: 0o640 },
    );
    const back = JSON.parse(Buffer.from(statHeader(st), 'base64').toString()) as typeof st;
    assert.deepEqual(back, st);
  });

  it('names the entries after the requested path', async () => {
    const link = archivePath(root, resolvePath(root, '/data/rel'));
    assert.equal(link.stat.mode, 2 ** 27 + 0o777, 'the last element is the link itself');
    assert.deepEqual(await names(link.tar), ['rel -> sub']);
    const dir = archivePath(root, resolvePath(root, '/data/rel/'));
    assert.equal(dir.stat.mode, 2 ** 31 + 0o755, 'with a slash, the directory it names');
    assert.deepEqual(await names(dir.tar), ['rel/', 'rel/b']);
    const sub = archivePath(root, resolvePath(root, '/data/sub'));
    assert.deepEqual(await names(sub.tar), ['sub/', 'sub/b']);
    const dot = archivePath(root, resolvePath(root, '/data/sub/.'));
    assert.deepEqual(await names(dot.tar), ['./', './b']);
    assert.deepEqual(await names(tarTree(`${root}/data/sub`, '')), ['b']);
  });

  it('extracts inside the directory only, refusing dir/non-dir swaps and links as parents', async () => {
    const dest = join(root, 'data');
    await extractInto(dest, await tarOf([{ name: 'new/f', type: 'file' }]), {
      noOverwriteDirNonDir: true,
    });
    assert.equal(readFileSync(join(dest, 'new/f'), 'utf8'), 'x\n');
    await assert.rejects(
      extractInto(dest, await tarOf([{ name: 'sub', type: 'file' }]), {
        noOverwriteDirNonDir: true,
      }),
      /cannot overwrite directory "\/sub" with non-directory "sub"/,
    );
    await assert.rejects(
      extractInto(
        dest,
        await tarOf([
          { name: 'evil', type: 'symlink', linkname: '/' },
          { name: 'evil/tmp/x', type: 'file' },
        ]),
        { noOverwriteDirNonDir: true },
      ),
      /evil is not a directory/,
    );
    await assert.rejects(
      extractInto(dest, await tarOf([{ name: 'abs/passwd', type: 'file' }]), {
        noOverwriteDirNonDir: true,
      }),
      /abs is not a directory/,
    );
    assert.equal(readFileSync(join(root, 'etc/passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
  });
});

describe('diff walk', () => {
  it('reports added and changed entries by path, leaving out runc mount points', async () => {
    const base = realpathSync(mkdtempSync(join(tmpdir(), 'berth-changes-')));
    try {
      const lower = join(base, 'lower');
      const upper = join(base, 'upper');
      mkdirSync(join(lower, 'etc'), { recursive: true });
      writeFileSync(join(lower, 'etc/passwd'), 'x');
      mkdirSync(join(upper, 'etc'), { recursive: true });
      for (const f of ['hosts', 'hostname', 'resolv.conf'])
        writeFileSync(join(upper, 'etc', f), '');
      assert.deepEqual(await containerChanges(upper, [lower]), [], 'only mount points: no change');
      writeFileSync(join(upper, 'etc/passwd'), 'y');
      mkdirSync(join(upper, 'new/dir'), { recursive: true });
      assert.deepEqual(await containerChanges(upper, [lower]), [
        { Path: '/etc', Kind: 0 },
        { Path: '/etc/passwd', Kind: 0 },
        { Path: '/new', Kind: 1 },
        { Path: '/new/dir', Kind: 1 },
      ]);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
