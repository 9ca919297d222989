/**
 * The builtin images, which stand in for a registry: `busybox:latest` from the
 * host's static busybox (../busybox.ts), and `redis` and `python` from the
 * host's Debian packages (debian.ts, recipes.ts). A builtin enters a data-root
 * when first referenced (create, inspect, pull, a builder's FROM): its layers
 * come from the machine-wide cache (built there once) and are ingested like a
 * `docker load`, tagged only where the tag names no image yet.
 */
import { Readable } from 'node:stream';
import { buildBusybox } from '../busybox.js';
import { parseImageConfig, sha256, type Ingest, type PreparedImage } from '../ingest.js';
import { familiarString, tagKeyOf, type NamedRef } from '../reference.js';
import { DebianBuilder } from './debian.js';

import { NotInstalledError } from './packages.js';
import { reportedRead, type ProgressLine } from '../progress.js';

export { NotInstalledError };

/** Where the Debian layers are cached unless the daemon says otherwise. */
export const DEFAULT_BUILTIN_CACHE = '/var/cache/berth/builtin';

/** One line of Docker's pull progress (`{"status": ..., "id": ...}`, bytes when extracting). */
export type PullProgress = ProgressLine;

/** What the builtins need from the image store. */
export interface BuiltinHost {
  /** Whether a layer is stored in this data-root. */
  hasLayer(diffId: string): boolean;
  /** Stages with `prepare`, then commits atomically (ImageStore's ingest). */
  ingest(prepare: (ing: Ingest) => Promise<PreparedImage[]>): Promise<unknown>;
}

/** Options of the builtins. */
export interface BuiltinOptions {
  /** The static busybox the busybox image is made from (default /bin/busybox). */
  busyboxPath?: string;
  /** The machine-wide cache of built layers (default DEFAULT_BUILTIN_CACHE). */
  cacheDir?: string;
}

const BUSYBOX_PATH = 'library/busybox';

/** A cached layer whose tar does not hash to the recorded diffID. */
class CorruptCacheError extends Error {
  constructor(readonly key: string) {
    super(`the builtin layer cache entry ${key} is corrupt`);
  }
}

export class Builtins {
  private readonly inFlight = new Map<string, Promise<boolean>>();
  readonly debian: DebianBuilder;

  constructor(
    private readonly host: BuiltinHost,
    private readonly opts: BuiltinOptions = {},
  ) {
    this.debian = new DebianBuilder(opts.cacheDir ?? DEFAULT_BUILTIN_CACHE);
  }

  /** Whether `ref` (tagged) names a builtin on this host; reads the package db for Debian names. */
  async names(ref: NamedRef): Promise<boolean> {
    if (ref.domain === 'docker.io' && ref.path === BUSYBOX_PATH) return ref.tag === 'latest';
    if (!DebianBuilder.mayMatch(ref)) return false;
    return DebianBuilder.match(ref, await this.debian.packageDb()) !== undefined;
  }

  /**
   * Makes the builtin `ref` (tagged) names present and tagged `ref` (unless
   * the tag names another image meanwhile). False when `ref` names no
   * builtin. Concurrent calls for one tag share the work (and the first
   * caller's progress). Throws NotInstalledError when the recipe's packages
   * are not installed.
   */
  add(ref: NamedRef, onProgress?: (p: PullProgress) => void): Promise<boolean> {
    const key = tagKeyOf(ref);
    let p = this.inFlight.get(key);
    if (!p) {
      p = this.addOnce(ref, onProgress).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, p);
    }
    return p;
  }

  private async addOnce(ref: NamedRef, onProgress?: (p: PullProgress) => void): Promise<boolean> {
    if (ref.domain === 'docker.io' && ref.path === BUSYBOX_PATH) {
      if (ref.tag !== 'latest') return false;
      await this.addBusybox(ref);
      return true;
    }
    if (!DebianBuilder.mayMatch(ref)) return false;
    const db = await this.debian.packageDb();
    const recipe = DebianBuilder.match(ref, db);
    if (!recipe) return false;
    const say = onProgress ?? (() => undefined);
    for (let attempt = 0; ; attempt++) {
      let build;
      try {
        build = await this.debian.build(recipe, (status) => say({ status }), db);
      } catch (e) {
        if (e instanceof NotInstalledError)
          e.message = `${familiarString(ref)} is built in from this host's Debian packages, but some are ${e.message}`;
        throw e;
      }
      try {
        await this.ingestDebian(ref, build.layers, build.configBytes, say);
        return true;
      } catch (e) {
        if (!(e instanceof CorruptCacheError) || attempt > 0) throw e;
        await this.debian.invalidate(e.key);
      }
    }
  }

  private async ingestDebian(
    ref: NamedRef,
    layers: Array<{ key: string; diffId: string; path: string }>,
    configBytes: Buffer,
    say: (p: PullProgress) => void,
  ): Promise<void> {
    const short = (d: string) => d.slice(7, 19);
    const missing = layers.filter((l) => !this.host.hasLayer(l.diffId));
    for (const l of layers) {
      say({
        id: short(l.diffId),
        status: missing.includes(l) ? 'Pulling fs layer' : 'Already exists',
      });
    }
    await this.host.ingest(async (ing) => {
      for (const l of layers) {
        const report = missing.includes(l) ? say : undefined;
        const open = await reportedRead(l.path, 'Extracting', short(l.diffId), report);
        const got = await ing.layer(open, l.diffId);
        if (got.diffId !== l.diffId) throw new CorruptCacheError(l.key);
        if (missing.includes(l)) say({ id: short(l.diffId), status: 'Pull complete' });
      }
      const config = parseImageConfig(configBytes);
      return [{ id: sha256(configBytes), configBytes, config, tags: [ref], tagIfAbsent: true }];
    });
  }

  private async addBusybox(ref: NamedRef): Promise<void> {
    const bb = await buildBusybox(this.opts.busyboxPath ?? '/bin/busybox');
    await this.host.ingest(async (ing) => {
      const { diffId } = await ing.layer(() => Readable.from([bb.tar]));
      const configBytes = bb.configFor(diffId);
      const config = parseImageConfig(configBytes);
      return [{ id: sha256(configBytes), configBytes, config, tags: [ref], tagIfAbsent: true }];
    });
  }
}
