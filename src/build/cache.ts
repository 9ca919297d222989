/**
 * The build cache: step key (runconfig.ts `cacheKey`: parent image + the
 * config the step is committed with, which holds the instruction after
 * substitution and, for COPY/ADD, the sources' content hash) → the image the
 * step made. Kept in the daemon's KV store under `build/cache/` (host-local:
 * images are). An entry whose image is gone is a miss and is dropped.
 */
import type { KvStore } from '../store/types.js';

const PREFIX = 'build/cache/';

export class BuildCache {
  constructor(
    private readonly kv: KvStore,
    /** Whether an image id still exists. */
    private readonly exists: (id: string) => Promise<boolean>,
  ) {}

  /** The image of a step done before, if it is still there. */
  async get(key: string): Promise<string | undefined> {
    const e = await this.kv.get(PREFIX + key);
    if (!e) return undefined;
    let id: unknown;
    try {
      id = (JSON.parse(e.value) as { id?: unknown }).id;
    } catch {
      id = undefined;
    }
    if (typeof id === 'string' && (await this.exists(id))) return id;
    await this.kv.delete(PREFIX + key).catch(() => undefined);
    return undefined;
  }

  /** Records a step's image. */
  async put(key: string, id: string): Promise<void> {
    await this.kv.put(PREFIX + key, JSON.stringify({ id }));
  }
}
