/**
 * tar-split (images/tarsplit.ts): a layer unpacked with its records is
 * written again byte for byte from the files on disk, so `docker save`
 * gives the diffID `docker load` checks; a tar that names a file twice is
 * marked unusable; a changed file fails the rebuild.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { extractTar } from '../../src/images/extract.js';
import {
  assemble,
  decodeSplit,
  encodeSplit,
  splitLength,
  SplitRecorder,
} from '../../src/images/tarsplit.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

type Entry = { name: string; type?: tar.Header['type']; linkname?: string; body?: string };

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    await new Promise<void>((ok, ko) =>
      pack.entry(
        {
          name: e.name,
          type: e.type ?? 'file',
          mode: e.type === 'directory' ? 0o755 : 0o644,
          mtime: new Date(1_700_000_000_000),
          ...(e.linkname ? { linkname: e.linkname } : {}),
          ...(e.type === 'file' || !e.type ? { size: body.length } : {}),
        },
        e.type === 'file' || !e.type ? body : Buffer.alloc(0),
        (err) => (err ? ko(err) : ok()),
      ),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  // in uneven pieces, as a socket delivers them
  for (let i = 0; i < b.length; i += 700) yield b.subarray(i, i + 700);
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out);
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function unpack(t: Buffer, gzip = false) {
  const dir = mkdtempSync(join(tmpdir(), 'tarsplit-'));
  dirs.push(dir);
  const split = new SplitRecorder();
  const r = await extractTar(once(gzip ? gzipSync(t) : t), join(dir, 'diff'), {
    layer: true,
    split,
  });
  return { dir: join(dir, 'diff'), r, split, items: split.finish() };
}

const LONG = `${'d'.repeat(80)}/${'f'.repeat(90)}.txt`;
const LAYER: Entry[] = [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/motd', body: 'hello\n' },
  { name: 'etc/empty' },
  { name: `${'d'.repeat(80)}/`, type: 'directory' },
  { name: LONG, body: 'x'.repeat(5000) },
  { name: 'etc/hard', type: 'link', linkname: 'etc/motd' },
  { name: 'etc/sym', type: 'symlink', linkname: '/etc/motd' },
  { name: 'etc/.wh.gone' },
];

describe('tar-split', () => {
  it('rebuilds the layer tar byte for byte from the unpacked files', async () => {
    const t = await tarOf(LAYER);
    const { dir, r, split, items } = await unpack(t);
    assert.equal(split.unusable, undefined);
    assert.equal(r.diffId, sha(t));
    // the file contents are not kept, only their names
    assert.ok(items.some((i) => 'file' in i && i.file === LONG && i.size === 5000));
    const kept = items.reduce((n, i) => n + ('raw' in i ? i.raw.length : 0), 0);
    assert.ok(kept < t.length - 5000);
    const stored = decodeSplit(encodeSplit(items));
    assert.equal(splitLength(stored), t.length);
    const again = await collect(assemble(stored, dir, r.diffId));
    assert.ok(again.equals(t));
  });

  it('records the uncompressed stream of a gzip layer', async () => {
    const t = await tarOf(LAYER.slice(0, 3));
    const { dir, r, items } = await unpack(t, true);
    assert.equal(r.diffId, sha(t));
    assert.ok((await collect(assemble(items, dir, r.diffId))).equals(t));
  });

  it('marks a tar that writes one file twice as unusable', async () => {
    const t = await tarOf([
      { name: 'a', body: 'one' },
      { name: 'a', body: 'two' },
    ]);
    const { split } = await unpack(t);
    assert.match(split.unusable ?? '', /a appears twice/);
  });

  it('marks a tar that makes a directory of recorded files a symlink unusable; never reads through one', async () => {
    // `x/t`'s size is that of a file outside the layer: rebuilt by name, it
    // would be read through the symlink.
    const outside = mkdtempSync(join(tmpdir(), 'tarsplit-host-'));
    dirs.push(outside);
    writeFileSync(join(outside, 't'), 'host secret');
    const t = await tarOf([
      { name: 'x/', type: 'directory' },
      { name: 'x/t', body: 'layer file!' },
      { name: 'x', type: 'symlink', linkname: outside },
    ]);
    const { dir, r, split, items } = await unpack(t);
    assert.match(split.unusable ?? '', /x replaces a directory holding recorded files/);
    // Even with its records used, the rebuild does not read through `x`.
    const sent: Buffer[] = [];
    await assert.rejects(async () => {
      for await (const c of assemble(items, dir, r.diffId)) sent.push(c);
    }, /not the file the layer was made with/);
    assert.ok(!Buffer.concat(sent).includes('host secret'));
  });

  it('refuses a whiteout of `..` or `.`: nothing above the layer goes', async () => {
    for (const name of ['.wh...', 'sub/.wh..', '.wh.']) {
      const t = await tarOf([{ name: 'sub/', type: 'directory' }, { name }]);
      const dir = mkdtempSync(join(tmpdir(), 'tarsplit-'));
      dirs.push(dir);
      writeFileSync(join(dir, 'beside'), 'kept');
      await assert.rejects(
        extractTar(once(t), join(dir, 'diff'), { layer: true }),
        /names nothing in its directory/,
        name,
      );
      assert.ok(existsSync(join(dir, 'beside')), `${name}: the layer's parent is whole`);
    }
  });

  it('fails the rebuild when a file changed', async () => {
    const t = await tarOf(LAYER.slice(0, 2));
    const { dir, r, items } = await unpack(t);
    writeFileSync(join(dir, 'etc/motd'), 'HELLO\n');
    await assert.rejects(collect(assemble(items, dir, r.diffId)), /was rebuilt as/);
    writeFileSync(join(dir, 'etc/motd'), 'longer now\n');
    await assert.rejects(collect(assemble(items, dir, r.diffId)), /not the file/);
  });
});
