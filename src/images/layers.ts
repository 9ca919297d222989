/**
 * Layers on disk: `<root>/layers/<diffIdHex>/diff` (an overlayfs lowerdir),
 * `meta.json` and `tar-split.json.gz` (how to write the layer's tar again,
 * for `docker save`) beside it. A layer is extracted into `<root>/tmp/` and renamed
 * into place only once complete, so a crash never leaves a half layer under
 * `layers/`. Layers are keyed by diffID alone: a diff dir's content does not
 * depend on the layers below it, so two images share it whatever their parents.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { removeTree } from '../kernel/mount/mounts.js';
import { extractTar, type ExtractResult } from './extract.js';
import { decodeSplit, encodeSplit, SplitRecorder, type SplitItem } from './tarsplit.js';

/** What `meta.json` records about a layer. */
export interface LayerMeta {
  /** `sha256:` of the uncompressed tar. */
  diffId: string;
  /** Sum of regular file sizes. */
  size: number;
  /** When the layer was stored, RFC 3339. */
  created: string;
}

/** A layer extracted into a temp dir, not yet part of the store. */
export interface StagedLayer extends ExtractResult {
  /** The temp dir holding `diff/` and `meta.json`. */
  dir: string;
}

/** The file beside `meta.json` that rebuilds the layer's tar. */
const SPLIT = 'tar-split.json.gz';

const hexOf = (digest: string): string => digest.replace(/^sha256:/, '');

export class LayerStore {
  private readonly layers = new Map<string, LayerMeta>();
  private readonly pins = new Map<string, number>();

  private constructor(
    /** `<dataRoot>/image`. */
    readonly root: string,
  ) {}

  /** Opens the layer dirs under `root`, discarding temp dirs and incomplete layers. */
  static async open(root: string): Promise<LayerStore> {
    const s = new LayerStore(root);
    await removeTree(join(root, 'tmp'));
    await fs.mkdir(join(root, 'tmp'), { recursive: true, mode: 0o700 });
    await fs.mkdir(join(root, 'layers'), { recursive: true, mode: 0o700 });
    for (const name of await fs.readdir(join(root, 'layers'))) {
      try {
        const meta = JSON.parse(
          await fs.readFile(join(root, 'layers', name, 'meta.json'), 'utf8'),
        ) as LayerMeta;
        if (hexOf(meta.diffId) !== name) throw new Error('meta.json names another layer');
        await fs.access(join(root, 'layers', name, 'diff'));
        s.layers.set(meta.diffId, meta);
      } catch {
        await removeTree(join(root, 'layers', name));
      }
    }
    return s;
  }

  /** The diff dir of a layer (whether or not it exists). */
  dirOf(diffId: string): string {
    return join(this.root, 'layers', hexOf(diffId), 'diff');
  }

  /**
   * The records that rebuild the layer's tar byte for byte (tarsplit.ts), or
   * undefined for a layer stored without them (by an older Berth, or from a
   * tar that names a file twice).
   */
  async splitOf(diffId: string): Promise<SplitItem[] | undefined> {
    try {
      return decodeSplit(await fs.readFile(join(this.root, 'layers', hexOf(diffId), SPLIT)));
    } catch {
      return undefined;
    }
  }

  /** Whether the layer is stored. */
  has(diffId: string): boolean {
    return this.layers.has(diffId);
  }

  /** Bytes of a stored layer (0 if unknown). */
  sizeOf(diffId: string): number {
    return this.layers.get(diffId)?.size ?? 0;
  }

  /** All stored layers' diffIDs. */
  all(): string[] {
    return [...this.layers.keys()];
  }

  /** A fresh empty directory under `<root>/tmp`. */
  async tempDir(prefix: string): Promise<string> {
    const dir = join(this.root, 'tmp', `${prefix}${randomBytes(6).toString('hex')}`);
    await fs.mkdir(dir, { mode: 0o700 });
    return dir;
  }

  /** Extracts a layer tar (plain or gzip) into a temp dir; on error nothing remains. */
  async stage(input: AsyncIterable<Buffer | string>): Promise<StagedLayer> {
    const dir = await this.tempDir('layer-');
    try {
      const split = new SplitRecorder();
      const r = await extractTar(input, join(dir, 'diff'), { layer: true, split });
      const items = split.finish();
      if (split.unusable === undefined) await fs.writeFile(join(dir, SPLIT), encodeSplit(items));
      const meta: LayerMeta = { diffId: r.diffId, size: r.size, created: new Date().toISOString() };
      await fs.writeFile(join(dir, 'meta.json'), JSON.stringify(meta));
      return { ...r, dir };
    } catch (e) {
      await removeTree(dir);
      throw e;
    }
  }

  /** Moves a staged layer into place, or drops it when the same layer is already stored. */
  async commit(staged: StagedLayer): Promise<void> {
    if (this.layers.has(staged.diffId)) {
      await removeTree(staged.dir);
      return;
    }
    await fs.rename(staged.dir, join(this.root, 'layers', hexOf(staged.diffId)));
    const meta = JSON.parse(
      await fs.readFile(join(this.root, 'layers', hexOf(staged.diffId), 'meta.json'), 'utf8'),
    ) as LayerMeta;
    this.layers.set(staged.diffId, meta);
  }

  /** Throws a staged layer away (idempotent; a committed one is left alone). */
  async discard(staged: StagedLayer): Promise<void> {
    await removeTree(staged.dir);
  }

  /** Keeps layers from garbage collection until the returned function is called. */
  pin(diffIds: Iterable<string>): () => void {
    const list = [...diffIds];
    for (const d of list) this.pins.set(d, (this.pins.get(d) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const d of list) {
        const n = (this.pins.get(d) ?? 1) - 1;
        if (n <= 0) this.pins.delete(d);
        else this.pins.set(d, n);
      }
    };
  }

  /** Removes every stored layer neither in `referenced` nor pinned; returns the removed diffIDs. */
  async gc(referenced: Set<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const d of [...this.layers.keys()]) {
      if (referenced.has(d) || this.pins.has(d)) continue;
      // forget it first: a failed delete leaves a dir that the next open() discards
      this.layers.delete(d);
      await fs.rm(join(this.root, 'layers', hexOf(d), 'meta.json'), { force: true });
      await removeTree(join(this.root, 'layers', hexOf(d)));
      removed.push(d);
    }
    return removed;
  }
}
