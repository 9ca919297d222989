/**
 * Builds the builtin Debian images (recipes.ts) from this host's installed
 * packages into a machine-wide cache, one layer tar per cache key:
 *
 *   <cacheDir>/<key>.tar    the layer, deterministic (layer.ts)
 *   <cacheDir>/<key>.json   {diffId, size, created, packages}, written last
 *
 * A key hashes everything a layer's content comes from: the recipe version,
 * the architecture, the layer's packages with their versions, the layer below
 * (its packages are listed in the dpkg status) and the host's alternatives. A
 * cache hit costs one `dpkg-query -W`. Files are written to unique temp names
 * and renamed into place, so daemons building the same layer at once only
 * race to rename identical bytes, and a reader never sees half a file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, realpathSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { dpkgFiles, dpkgInstalled, dpkgStatus } from '../../kernel/dpkg.js';
import { hostArch } from '../ingest.js';
import type { NamedRef } from '../reference.js';
import type { ImageConfig } from '../types.js';
import { hostAlternatives, type AlternativeLink } from './alternatives.js';
import {
  collectHostFiles,
  isUnder,
  layerTar,
  mergeEntries,
  newestMtime,
  symlinkEntry,
  withParents,
  type LayerEntry,
} from './layer.js';
import { PACKAGE_FIELDS, closure, parsePackages, type PackageDb } from './packages.js';
import {
  BASE_PACKAGES,
  EXCLUDED_PATHS,
  NOT_AT_RUNTIME,
  RECIPES,
  RECIPE_VERSION,
  baseFiles,
  tagsOf,
  upstreamVersion,
  type DebianRecipe,
} from './recipes.js';

/** A layer in the cache. */
export interface CachedLayer {
  /** The cache key, hex. */
  key: string;
  /** `sha256:` of the tar. */
  diffId: string;
  /** Bytes of the tar. */
  size: number;
  /** Newest mtime of the layer's host files, unix seconds (every entry's mtime). */
  created: number;
  /** `name=version` of the packages in the layer. */
  packages: string[];
  /** The tar's path in the cache. */
  path: string;
}

/** A builtin image ready to ingest. */
export interface DebianBuild {
  /** Bottom-most first. */
  layers: CachedLayer[];
  /** The image config, byte for byte. */
  configBytes: Buffer;
}

/** One layer's plan: its packages and key, before anything is read. */
interface LayerPlan {
  name: string;
  key: string;
  /** Names of its own packages. */
  packages: string[];
  /** Names of its packages and those of the layers below (the dpkg status lists them all). */
  statusOf: string[];
  /** The host's alternatives (part of the key, so read once). */
  alternatives: AlternativeLink[];
  files: () => LayerEntry[];
}

const TMP_MAX_AGE_MS = 60 * 60 * 1000;

const hashHex = (v: unknown): string =>
  createHash('sha256').update(JSON.stringify(v)).digest('hex');

/** RFC 3339 without fractional seconds, as Docker Hub's configs. */
const iso = (unix: number): string => new Date(unix * 1000).toISOString().replace('.000Z', 'Z');

/** Stanzas of `dpkg-query -s` output sorted by package name, as one status file. */
export function sortedStatus(text: string): string {
  const stanzas = text
    .split(/\n{2,}/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const nameOf = (s: string): string => /^Package: (.*)$/m.exec(s)?.[1] ?? '';
  stanzas.sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0));
  return stanzas.map((s) => s + '\n').join('\n');
}

/**
 * Symlinks for the alternatives whose current target is a file in `entries`:
 * `<link> -> /etc/alternatives/<name> -> <target>`, link paths placed like the
 * host files (through `canonical`).
 */
export function alternativeEntries(
  entries: LayerEntry[],
  alternatives: AlternativeLink[],
  canonical: (hostPath: string) => string | undefined,
): LayerEntry[] {
  const have = new Set(entries.filter((e) => e.type !== 'directory').map((e) => e.path));
  const out: LayerEntry[] = [];
  for (const a of alternatives) {
    const target = canonical(a.target);
    const at = canonical(a.link);
    if (!target || !at || !have.has(target)) continue;
    if (EXCLUDED_PATHS.some((x) => isUnder(at, x))) continue;
    out.push(
      symlinkEntry(`etc/alternatives/${a.name}`, a.target),
      symlinkEntry(at, `/etc/alternatives/${a.name}`),
    );
  }
  return out;
}

export class DebianBuilder {
  constructor(
    /** The machine-wide cache directory. */
    readonly cacheDir: string,
  ) {}

  /** The installed packages (one `dpkg-query -W`). */
  async packageDb(): Promise<PackageDb> {
    return parsePackages(await dpkgInstalled(PACKAGE_FIELDS));
  }

  /** The recipe a `docker.io/library/<name>:<tag>` reference names, tags from `db`. */
  static match(ref: NamedRef, db: PackageDb): DebianRecipe | undefined {
    if (ref.domain !== 'docker.io' || ref.digest !== undefined || ref.tag === undefined) return;
    const recipe = RECIPES.get(ref.path.replace(/^library\//, ''));
    if (!recipe || ref.path !== `library/${recipe.name}`) return undefined;
    return tagsOf(recipe, db).includes(ref.tag) ? recipe : undefined;
  }

  /** Whether `ref` could name a builtin Debian image (by repository alone, no I/O). */
  static mayMatch(ref: NamedRef): boolean {
    return ref.domain === 'docker.io' && RECIPES.has(ref.path.replace(/^library\//, ''));
  }

  private plan(recipe: DebianRecipe, db: PackageDb): LayerPlan[] {
    const alternatives = hostAlternatives();
    const versions = (names: string[]) =>
      names.map((n) => `${db.byName.get(n)?.id}=${db.byName.get(n)?.version}`);
    const base = closure(db, BASE_PACKAGES, NOT_AT_RUNTIME);
    const inBase = new Set(base);
    const own = closure(db, recipe.packages, NOT_AT_RUNTIME).filter((n) => !inBase.has(n));
    const common = { v: RECIPE_VERSION, arch: db.arch, alternatives };
    const baseKey = hashHex({ ...common, layer: 'base', packages: versions(base) });
    const ownKey = hashHex({
      ...common,
      layer: recipe.name,
      below: baseKey,
      packages: versions(own),
    });
    return [
      {
        name: 'base',
        key: baseKey,
        packages: base,
        statusOf: base,
        alternatives,
        files: baseFiles,
      },
      {
        name: recipe.name,
        key: ownKey,
        packages: own,
        statusOf: [...base, ...own],
        alternatives,
        files: recipe.files,
      },
    ];
  }

  /**
   * The layers and config of `recipe`, building missing layers into the cache.
   * `onStatus` hears a line before a layer is built (the slow part).
   */
  async build(
    recipe: DebianRecipe,
    onStatus?: (line: string) => void,
    db?: PackageDb,
  ): Promise<DebianBuild> {
    const pkgs = db ?? (await this.packageDb());
    const plans = this.plan(recipe, pkgs);
    const layers: CachedLayer[] = [];
    for (const p of plans) {
      const hit = await this.cached(p.key);
      if (hit) {
        layers.push(hit);
        continue;
      }
      onStatus?.(
        `Building the ${p.name} layer from ${p.packages.length} Debian packages of this host`,
      );
      layers.push(await this.buildLayer(p, pkgs));
    }
    const version = upstreamVersion(pkgs.byName.get(recipe.versionFrom)?.version ?? '');
    const [base, own] = layers as [CachedLayer, CachedLayer];
    const roots = recipe.packages.map((n) => `${n} ${pkgs.byName.get(n)?.version}`).join(', ');
    const config: ImageConfig = {
      architecture: hostArch(),
      config: recipe.config(version),
      created: iso(Math.max(base.created, own.created)),
      history: [
        {
          created: iso(base.created),
          created_by: `berth builtin: Debian base, ${base.packages.length} packages of this host`,
        },
        {
          created: iso(own.created),
          created_by: `berth builtin: ${roots} and ${own.packages.length - recipe.packages.length} more packages of this host`,
        },
      ],
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    };
    return { layers, configBytes: Buffer.from(JSON.stringify(config)) };
  }

  /** Forgets a cached layer (its tar did not hash to its diffID). */
  async invalidate(key: string): Promise<void> {
    await fs.rm(join(this.cacheDir, `${key}.json`), { force: true });
    await fs.rm(join(this.cacheDir, `${key}.tar`), { force: true });
  }

  /** The cached layer `key`, when its record and a tar of the recorded size are there. */
  async cached(key: string): Promise<CachedLayer | undefined> {
    try {
      const meta = JSON.parse(
        await fs.readFile(join(this.cacheDir, `${key}.json`), 'utf8'),
      ) as Omit<CachedLayer, 'path' | 'key'>;
      const path = join(this.cacheDir, `${key}.tar`);
      if ((await fs.stat(path)).size !== meta.size) return undefined;
      return { ...meta, key, path };
    } catch {
      return undefined;
    }
  }

  private async buildLayer(plan: LayerPlan, db: PackageDb): Promise<CachedLayer> {
    const ids = (names: string[]) => names.map((n) => db.byName.get(n)?.id as string);
    const hostEntries = collectHostFiles(await dpkgFiles(ids(plan.packages)), EXCLUDED_PATHS);
    const canonical = (p: string): string | undefined => {
      try {
        return join(realpathSync(dirname(p)), basename(p)).replace(/^\/+/, '');
      } catch {
        return undefined;
      }
    };
    const status = sortedStatus(await dpkgStatus(ids(plan.statusOf)));
    const entries = withParents(
      mergeEntries(
        hostEntries,
        alternativeEntries(hostEntries, plan.alternatives, canonical),
        plan.files(),
        [
          {
            path: 'var/lib/dpkg/status',
            type: 'file',
            mode: 0o644,
            uid: 0,
            gid: 0,
            content: Buffer.from(status),
            mtime: 0,
          },
        ],
      ),
    );
    const created = newestMtime(entries);
    await fs.mkdir(this.cacheDir, { recursive: true, mode: 0o700 });
    await this.removeStaleTemps();
    const tmp = join(
      this.cacheDir,
      `${plan.key}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
    );
    const hash = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    try {
      await pipeline(layerTar(entries, created), tap, createWriteStream(tmp, { mode: 0o600 }));
      const layer: CachedLayer = {
        key: plan.key,
        diffId: `sha256:${hash.digest('hex')}`,
        size,
        created,
        packages: plan.packages.map((n) => `${n}=${db.byName.get(n)?.version}`),
        path: join(this.cacheDir, `${plan.key}.tar`),
      };
      await fs.rename(tmp, layer.path);
      const { key: _k, path: _p, ...meta } = layer;
      await writeAtomic(join(this.cacheDir, `${plan.key}.json`), JSON.stringify(meta));
      return layer;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  /** Temp files a crashed build left behind (an hour old: no build takes that long). */
  private async removeStaleTemps(): Promise<void> {
    for (const f of await fs.readdir(this.cacheDir)) {
      if (!f.endsWith('.tmp')) continue;
      const p = join(this.cacheDir, f);
      const st = await fs.stat(p).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > TMP_MAX_AGE_MS) await fs.rm(p, { force: true });
    }
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await fs.writeFile(tmp, text, { mode: 0o600 });
    await fs.rename(tmp, path);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}
