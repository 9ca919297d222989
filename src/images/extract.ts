/**
 * Unpacks a tar stream (plain or gzip) into a directory in-process, hashing
 * it on the way: the sha256 of the uncompressed bytes is the layer's diffID,
 * the sha256 of the raw bytes its blob digest. The entries are written by
 * `Unpacker` (unpack.ts), which never follows a symlink out of the directory.
 */
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { BerthError, invalid } from '../common/errors.js';
import { Unpacker, errnoOf } from '../kernel/unpack.js';
import type { SplitRecorder } from './tarsplit.js';

export { cleanName } from '../kernel/unpack.js';

type Extract = ReturnType<typeof tar.extract>;

/** What extracting a tar produced. */
export interface ExtractResult {
  /** `sha256:` of the uncompressed tar: the layer's diffID. */
  diffId: string;
  /** `sha256:` of the bytes as they arrived (the blob digest of a compressed layer). */
  blobDigest: string;
  /** Sum of regular file sizes, as Docker counts a layer's size. */
  size: number;
  /** Whether the input was gzip-compressed. */
  compressed: boolean;
}

/** How to unpack. */
export interface ExtractOptions {
  /**
   * Layer mode: ownership, device nodes and whiteout conversion. Off for
   * spooling a `docker save` archive, whose files are only read back.
   */
  layer: boolean;
  /**
   * Whether `.wh.` entries become overlay whiteouts (default: in layer mode).
   * Off for tars that are plain file trees (a build context, ADD's archives).
   */
  whiteouts?: boolean;
  /**
   * Accept a tar that stops right after its last entry's data (no padding, no
   * end blocks), as Go's tar reader does: the docker CLI sends build contexts
   * cut that way when it adds a Dockerfile from stdin.
   */
  padEnd?: boolean;
  /** Records the uncompressed stream's layout, to rebuild the tar later (tarsplit.ts). */
  split?: SplitRecorder;
}

/** Reads the first bytes of `input` to tell gzip from plain; yields everything, hashing as it goes. */
async function sniff(
  input: AsyncIterable<Buffer | string>,
  rawHash: Hash,
): Promise<{ head: Buffer; body: AsyncGenerator<Buffer> }> {
  const it = input[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  let done = false;
  while (head.length < 6) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    head = Buffer.concat([head, Buffer.from(r.value)]);
  }
  async function* body(): AsyncGenerator<Buffer> {
    let finished = done;
    try {
      if (head.length > 0) {
        rawHash.update(head);
        yield head;
      }
      while (!finished) {
        const r = await it.next();
        if (r.done) {
          finished = true;
          break;
        }
        const b = Buffer.from(r.value);
        rawHash.update(b);
        yield b;
      }
    } finally {
      if (!finished) await it.return?.();
    }
  }
  return { head, body: body() };
}

function waitDrain(w: Extract): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      w.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      w.off('drain', onDrain);
      reject(new Error('tar extraction stopped'));
    };
    w.once('drain', onDrain);
    w.once('close', onClose);
  });
}

/** A BerthError for bad input; filesystem errors (errno codes) pass through. */
function asArchiveError(e: unknown): unknown {
  if (e instanceof BerthError) return e;
  const code = errnoOf(e);
  if (code !== undefined && /^E[A-Z]+$/.test(code)) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return invalid(`invalid tar archive: ${msg}`);
}

/**
 * Unpacks `input` into `dest` (created if missing; must be empty or absent).
 * On error `dest` is left for the caller to remove.
 */
export async function extractTar(
  input: AsyncIterable<Buffer | string>,
  dest: string,
  opts: ExtractOptions,
): Promise<ExtractResult> {
  await fs.mkdir(dest, { recursive: true, mode: 0o755 });
  await fs.chmod(dest, 0o755);
  const rawHash = createHash('sha256');
  const tarHash = createHash('sha256');
  const { head, body } = await sniff(input, rawHash);
  if (head.length === 0) throw invalid('invalid tar archive: the archive is empty');
  const gzip = head[0] === 0x1f && head[1] === 0x8b;
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) {
    await body.return(undefined);
    throw invalid('zstd-compressed archives are not supported');
  }
  if (
    head.subarray(0, 3).toString('latin1') === 'BZh' ||
    head.subarray(0, 5).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a]))
  ) {
    await body.return(undefined);
    throw invalid('bzip2- and xz-compressed archives are not supported: use plain tar or gzip');
  }

  const extract = tar.extract();
  const unpacker = new Unpacker(dest, opts.layer, opts.whiteouts ?? opts.layer);
  const sink = async (src: AsyncIterable<Buffer>): Promise<void> => {
    let total = 0;
    for await (const chunk of src) {
      tarHash.update(chunk);
      opts.split?.write(chunk);
      total += chunk.length;
      if (!extract.write(chunk)) await waitDrain(extract);
    }
    if (opts.padEnd && total > 0) extract.write(Buffer.alloc(((512 - (total % 512)) % 512) + 1024));
    // streamx's end() takes optional data, not a callback
    (extract as unknown as { end(): void }).end();
  };
  const raw = Readable.from(body, { objectMode: false });
  let failure: unknown;
  const feeding = (gzip ? pipeline(raw, createGunzip(), sink) : pipeline(raw, sink)).catch(
    (e: unknown) => {
      failure ??= e;
      extract.destroy(e instanceof Error ? e : new Error(String(e)));
    },
  );
  try {
    for await (const entry of extract) await unpacker.apply(entry);
  } catch (e) {
    failure ??= e;
  }
  if (failure !== undefined) {
    raw.destroy();
    await feeding;
    throw asArchiveError(failure);
  }
  await feeding;
  if (failure !== undefined) throw asArchiveError(failure);
  await unpacker.finish();
  return {
    diffId: `sha256:${tarHash.digest('hex')}`,
    blobDigest: `sha256:${rawHash.digest('hex')}`,
    size: unpacker.size,
    compressed: gzip,
  };
}
