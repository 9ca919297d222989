/**
 * Turning input into image candidates: `docker import` tars, `docker save`
 * archives and the builtin busybox. Everything here only stages layers in temp
 * dirs and builds configs; the store commits the result atomically or drops it.
 */
import { goArch } from '../common/arch.js';
import { createHash } from 'node:crypto';
import { reportedRead, type ProgressLine } from './progress.js';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { invalid } from '../common/errors.js';
import { readArchive } from './archive.js';
import { applyChanges } from './changes.js';
import { extractTar } from './extract.js';
import type { LayerStore, StagedLayer } from './layers.js';
import { parseNormalizedNamed, withDefaultTag, type NamedRef } from './reference.js';
import type { ImageConfig, ImportOptions } from './types.js';

/** An image ready to be committed. */
export interface PreparedImage {
  /** `sha256:` of `configBytes`. */
  id: string;
  /** The config exactly as it will be stored. */
  configBytes: Buffer;
  /** Its parsed form. */
  config: ImageConfig;
  /** Tagged references to point at it. */
  tags: NamedRef[];
  /** Leave a tag alone when it already names some image (the builtin must not replace a user's busybox). */
  tagIfAbsent?: boolean;
  /** Parent image id (a builder step's image). */
  parent?: string;
}

/** `sha256:<hex>` of some bytes. */
export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Docker's name for the host architecture. */
export const hostArch = (): string => goArch();

/** Parses and checks an image config: a JSON object with `rootfs.diff_ids`. */
export function parseImageConfig(bytes: Buffer): ImageConfig {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid('invalid image config: not JSON');
  }
  const c = v as ImageConfig;
  const ids = c?.rootfs?.diff_ids;
  if (
    !c ||
    typeof c !== 'object' ||
    !Array.isArray(ids) ||
    !ids.every((d) => /^sha256:[a-f0-9]{64}$/.test(String(d)))
  ) {
    throw invalid('invalid image config: rootfs.diff_ids missing or malformed');
  }
  return c;
}

/** The layers one ingest staged or reuses, and the pins that keep reused ones alive. */
export class Ingest {
  /** Layers extracted by this ingest, not yet committed. */
  readonly staged: StagedLayer[] = [];
  private readonly unpins: Array<() => void> = [];

  constructor(private readonly layers: LayerStore) {}

  /**
   * A layer from `open()`; when `expected` is already stored (or staged) it is
   * reused without reading anything.
   */
  async layer(
    open: () => AsyncIterable<Buffer | string>,
    expected?: string,
  ): Promise<{ diffId: string; blobDigest?: string }> {
    if (expected !== undefined) {
      this.unpins.push(this.layers.pin([expected]));
      if (this.layers.has(expected)) return { diffId: expected };
      const s = this.staged.find((x) => x.diffId === expected);
      if (s) return s;
    }
    const s = await this.layers.stage(open());
    this.staged.push(s);
    this.unpins.push(this.layers.pin([s.diffId]));
    return s;
  }

  /** Releases pins and throws away whatever was not committed. */
  async release(): Promise<void> {
    for (const u of this.unpins) u();
    for (const s of this.staged) await this.layers.discard(s);
  }
}

function parsePlatform(p: string | undefined): {
  os: string;
  architecture: string;
  variant?: string;
} {
  if (!p) return { os: 'linux', architecture: hostArch() };
  const [os, architecture, variant] = p.split('/');
  if (!os || os !== 'linux') throw invalid(`unsupported os ${os ?? ''}`);
  return { os, architecture: architecture || hostArch(), ...(variant ? { variant } : {}) };
}

/** `docker import`: one layer from a rootfs tar, a config from the changes. */
export async function prepareImport(
  ing: Ingest,
  input: AsyncIterable<Buffer | string>,
  opts: ImportOptions,
  ref: NamedRef | undefined,
): Promise<PreparedImage> {
  // validate everything cheap before reading a byte of the tar
  const runtime = applyChanges({}, opts.changes ?? []);
  const platform = parsePlatform(opts.platform);
  const message = opts.message || `Imported from ${opts.src ?? '-'}`;
  const { diffId } = await ing.layer(() => input);
  const created = new Date().toISOString();
  const config: ImageConfig = {
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    comment: message,
    config: runtime,
    created,
    history: [{ created, comment: message }],
    os: platform.os,
    rootfs: { type: 'layers', diff_ids: [diffId] },
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  return { id: sha256(configBytes), configBytes, config, tags: ref ? [ref] : [] };
}

/** `docker load`: spools the archive into `spool`, then stages every image's layers. */
export async function prepareLoad(
  ing: Ingest,
  input: AsyncIterable<Buffer | string>,
  spool: string,
  onProgress?: (p: ProgressLine) => void,
): Promise<PreparedImage[]> {
  const dir = join(spool, 'archive');
  await extractTar(input, dir, { layer: false });
  const found = await readArchive(dir, hostArch());
  if (found.length === 0) throw invalid('invalid archive: it contains no image');
  const out: PreparedImage[] = [];
  for (const img of found) {
    // a digest-only reference (name@sha256:...) names no tag: there is nothing to record
    const tags: NamedRef[] = [];
    for (const t of img.tags) {
      const r = withDefaultTag(parseNormalizedNamed(t));
      if (r.tag !== undefined) tags.push({ domain: r.domain, path: r.path, tag: r.tag });
    }
    const configBytes = await fs.readFile(img.configPath);
    const id = sha256(configBytes);
    if (img.configDigest && img.configDigest !== id) {
      throw invalid(`invalid archive: config ${img.configDigest} has digest ${id}`);
    }
    const config = parseImageConfig(configBytes);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== img.layers.length) {
      throw invalid(
        `invalid manifest, layers length mismatch: expected ${diffIds.length}, got ${img.layers.length}`,
      );
    }
    for (let i = 0; i < diffIds.length; i++) {
      const want = diffIds[i] as string;
      const blob = img.layers[i] as { path: string; digest?: string };
      const open = await reportedRead(blob.path, 'Loading layer', want.slice(7, 19), onProgress);
      const got = await ing.layer(open, want);
      if (got.diffId !== want) {
        throw invalid(`invalid diffID for layer ${i}: expected "${want}", got "${got.diffId}"`);
      }
      if (blob.digest && got.blobDigest && got.blobDigest !== blob.digest) {
        throw invalid(`invalid archive: layer blob ${blob.digest} has digest ${got.blobDigest}`);
      }
    }
    out.push({ id, configBytes, config, tags });
  }
  return out;
}
