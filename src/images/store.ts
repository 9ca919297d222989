/**
 * The local image store. Content lives on disk under `<dataRoot>/image/`
 * (`configs/<id>.json`, `layers/<diffId>/diff`); which images exist and what
 * they are called lives in the KV store (`images/meta/<id>`,
 * `images/tags/<domain/path:tag>`), and an in-memory copy answers reads
 * synchronously. Writes are serialised by one lock; a write commits layers,
 * then the config file, then one KV transaction, so a failure at any step
 * leaves no tag and (after the garbage collection that follows) no layer.
 *
 * Size (over 400 lines): one class, because every write takes its one lock
 * and keeps its one in-memory index true; the reads are thin views of that
 * index. Reading archives and layers lives in ingest.ts, layers.ts and
 * extract.ts, writing them in save.ts; what could move out next is the
 * choice of `save`'s images and `prune`'s candidates (pure over the index).
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { conflict, notFound } from '../common/errors.js';
import { removeTree } from '../kernel/mount/mounts.js';
import type { KvStore, Op } from '../store/types.js';
import { Builtins, NotInstalledError, type PullProgress } from './builtin/index.js';
import type { ProgressLine } from './progress.js';
import {
  checkFilters,
  inspectOf,
  matchesFilters,
  normaliseFilters,
  summaryOf,
  familiarTags,
  unixSeconds,
  type ImageView,
} from './format.js';
import {
  Ingest,
  parseImageConfig,
  prepareImport,
  prepareLoad,
  sha256,
  type PreparedImage,
} from './ingest.js';
import { LayerStore } from './layers.js';
import {
  familiarString,
  noSuchImageMessage,
  parseAnyReference,
  parseRepoTag,
  parseTagKey,
  tagKeyOf,
  withDefaultTag,
  type NamedRef,
} from './reference.js';
import { chainIds, planRemoval } from './remove.js';
import { saveArchive, saveEntries, type SaveImage } from './save.js';
import type {
  ImageConfig,
  ImageRecord,
  ImageStoreOptions,
  ImageSummary,
  ImageUser,
  ImportOptions,
  RemoveRecord,
} from './types.js';

const KEY_TAGS = 'images/tags/';
const KEY_META = 'images/meta/';
const BUSYBOX: NamedRef = { domain: 'docker.io', path: 'library/busybox', tag: 'latest' };

/** What the KV store keeps per image besides its config. */
interface ImageMeta {
  /** When the image entered this store, RFC 3339. */
  created: string;
  /** When it was last tagged, RFC 3339. */
  lastTagTime?: string;
  /** Parent image id (images made by a builder). */
  parent?: string;
}

interface StoredImage {
  id: string;
  config: ImageConfig;
  meta: ImageMeta;
}

/** What a commit did, per prepared image. */
interface Committed {
  id: string;
  tags: NamedRef[];
  /** Tags that moved here from another image. */
  replaced: Array<{ ref: NamedRef; oldId: string }>;
}

export class ImageStore {
  private readonly images = new Map<string, StoredImage>();
  private readonly tags = new Map<string, string>();
  private lock: Promise<unknown> = Promise.resolve();
  private readonly builtins: Builtins;

  private constructor(
    private readonly root: string,
    private readonly kv: KvStore,
    private readonly layers: LayerStore,
    private readonly opts: ImageStoreOptions,
  ) {
    this.builtins = new Builtins(
      { hasLayer: (d) => this.layers.has(d), ingest: (prepare) => this.ingest(prepare) },
      { busyboxPath: opts.busyboxPath, cacheDir: opts.builtinCache },
    );
  }

  /** Opens (creating if needed) the store under `<dataRoot>/image` and repairs it against the KV store. */
  static async open(
    dataRoot: string,
    kv: KvStore,
    opts: ImageStoreOptions = {},
  ): Promise<ImageStore> {
    const root = join(dataRoot, 'image');
    await fs.mkdir(join(root, 'configs'), { recursive: true, mode: 0o700 });
    const layers = await LayerStore.open(root);
    const s = new ImageStore(root, kv, layers, opts);
    await s.reconcile();
    return s;
  }

  private configPath(id: string): string {
    return join(this.root, 'configs', `${id.replace(/^sha256:/, '')}.json`);
  }

  /** Drops records whose content is gone, content no record names, and unreferenced layers. */
  private async reconcile(): Promise<void> {
    const drop: Op[] = [];
    for (const e of await this.kv.list(KEY_META)) {
      const id = e.key.slice(KEY_META.length);
      try {
        const meta = JSON.parse(e.value) as ImageMeta;
        const bytes = await fs.readFile(this.configPath(id));
        if (sha256(bytes) !== id) throw new Error('config does not match its id');
        const config = parseImageConfig(bytes);
        if (!config.rootfs.diff_ids.every((d) => this.layers.has(d)))
          throw new Error('layer missing');
        this.images.set(id, { id, config, meta });
      } catch {
        drop.push({ type: 'delete', key: e.key });
      }
    }
    for (const e of await this.kv.list(KEY_TAGS)) {
      let id: unknown;
      try {
        id = (JSON.parse(e.value) as { id?: unknown }).id;
      } catch {
        id = undefined;
      }
      if (typeof id === 'string' && this.images.has(id))
        this.tags.set(e.key.slice(KEY_TAGS.length), id);
      else drop.push({ type: 'delete', key: e.key });
    }
    if (drop.length > 0) await this.kv.txn([], drop);
    for (const f of await fs.readdir(join(this.root, 'configs'))) {
      const id = `sha256:${f.replace(/\.json$/, '')}`;
      if (!f.endsWith('.json') || !this.images.has(id))
        await fs.rm(join(this.root, 'configs', f), { force: true });
    }
    await this.layers.gc(this.referencedLayers());
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private referencedLayers(): Set<string> {
    const s = new Set<string>();
    for (const img of this.images.values()) for (const d of img.config.rootfs.diff_ids) s.add(d);
    return s;
  }

  private tagKeysOf(id: string): string[] {
    return [...this.tags].filter(([, v]) => v === id).map(([k]) => k);
  }

  /** Layer diff dirs, top-most first, each once (a repeated layer only matters at its top-most place). */
  private layerDirsOf(img: StoredImage): string[] {
    const seen = new Set<string>();
    const out: string[] = [];
    for (const d of [...img.config.rootfs.diff_ids].reverse()) {
      if (seen.has(d)) continue;
      seen.add(d);
      out.push(this.layers.dirOf(d));
    }
    return out;
  }

  private view(img: StoredImage): ImageView {
    return {
      id: img.id,
      config: img.config,
      tagKeys: this.tagKeysOf(img.id),
      parent: img.meta.parent ?? '',
      size: img.config.rootfs.diff_ids.reduce((n, d) => n + this.layers.sizeOf(d), 0),
      layerDirs: this.layerDirsOf(img),
      ...(img.meta.lastTagTime ? { lastTagTime: img.meta.lastTagTime } : {}),
    };
  }

  /** Docker's lookup order: id, then tag, then unique id prefix. Throws only for a malformed reference. */
  private lookup(ref: string): StoredImage | undefined {
    const any = parseAnyReference(ref);
    if (any.kind === 'id') return this.images.get(any.id);
    if (any.ref.digest === undefined) {
      const id = this.tags.get(tagKeyOf(withDefaultTag(any.ref)));
      if (id !== undefined) return this.images.get(id);
    }
    const hex = ref.startsWith('sha256:') ? ref.slice(7) : ref;
    if (!/^[a-f0-9]+$/.test(hex)) return undefined;
    let found: StoredImage | undefined;
    for (const img of this.images.values()) {
      if (!img.id.startsWith(`sha256:${hex}`)) continue;
      if (found) return undefined; // ambiguous: Docker reports no such image
      found = img;
    }
    return found;
  }

  private mustLookup(ref: string): StoredImage {
    const img = this.lookup(ref);
    if (!img) throw notFound(noSuchImageMessage(ref));
    return img;
  }

  /** The image `ref` names (name[:tag], id, id prefix), or undefined; INVALID_ARGUMENT for a malformed ref. */
  async resolve(ref: string): Promise<ImageRecord | undefined> {
    const img = this.lookup(ref);
    if (!img) return undefined;
    return {
      id: img.id,
      config: structuredClone(img.config),
      diffIds: [...img.config.rootfs.diff_ids],
      layerDirs: this.layerDirsOf(img),
      repoTags: familiarTags(this.tagKeysOf(img.id)),
    };
  }

  /** Like resolve, but NOT_FOUND `No such image: <ref>` when there is none. */
  async resolveOrThrow(ref: string): Promise<ImageRecord> {
    const r = await this.resolve(ref);
    if (!r) throw notFound(noSuchImageMessage(ref));
    return r;
  }

  /** `GET /images/json`: newest first; `all` also shows untagged parents; `filters` as Docker's. */
  list(opts: { all?: boolean; filters?: unknown } = {}): ImageSummary[] {
    const filters = normaliseFilters(opts.filters);
    checkFilters(filters);
    const createdOf = (r: string): number => unixSeconds(this.mustLookup(r).config.created);
    const parents = new Set([...this.images.values()].map((i) => i.meta.parent).filter(Boolean));
    return [...this.images.values()]
      .map((img) => this.view(img))
      .filter((v) => opts.all || v.tagKeys.length > 0 || !parents.has(v.id))
      .filter((v) => matchesFilters(v, filters, createdOf))
      .map(summaryOf)
      .sort((a, b) => b.Created - a.Created || a.Id.localeCompare(b.Id));
  }

  /** `GET /images/{name}/json`; NOT_FOUND when there is no such image. */
  inspect(ref: string): Record<string, unknown> {
    return inspectOf(this.view(this.mustLookup(ref)));
  }

  /**
   * `GET /images/{name}/history`: one row per history entry, newest first, as
   * Docker's ImageHistory; rows get the ids (and tags) of the image and its
   * stored parents, the rest are `<missing>`.
   */
  history(ref: string): Array<Record<string, unknown>> {
    const img = this.mustLookup(ref);
    const diffIds = img.config.rootfs.diff_ids;
    let layer = 0;
    const rows = (img.config.history ?? []).map((h) => ({
      Id: '<missing>',
      Created: unixSeconds(typeof h.created === 'string' ? h.created : undefined),
      CreatedBy: typeof h.created_by === 'string' ? h.created_by : '',
      Tags: null as string[] | null,
      Size: h.empty_layer === true ? 0 : this.layers.sizeOf(diffIds[layer++] ?? ''),
      Comment: typeof h.comment === 'string' ? h.comment : '',
    }));
    rows.reverse();
    let cur: StoredImage | undefined = img;
    for (const row of rows) {
      if (!cur) break;
      const tags = familiarTags(this.tagKeysOf(cur.id));
      Object.assign(row, { Id: cur.id, Tags: tags.length > 0 ? tags : null });
      cur = cur.meta.parent ? this.images.get(cur.meta.parent) : undefined;
    }
    return rows;
  }

  /**
   * `docker save`: the images `names` name, as dockerd's parseNames (an ID,
   * a `name:tag`, or a bare name for all of its repository's tags), checked
   * before anything is written (save.ts); their layers stay until it ends.
   */
  async save(names: string[]): Promise<AsyncIterable<Buffer>> {
    const targets = new Map<string, NamedRef[]>();
    const add = (id: string, ref?: NamedRef): void => {
      const tags = targets.get(id) ?? [];
      targets.set(id, tags);
      if (ref && !tags.some((t) => tagKeyOf(t) === tagKeyOf(ref))) tags.push(ref);
    };
    for (const name of names) {
      const any = parseAnyReference(name);
      if (any.kind === 'id') {
        add(this.mustLookup(name).id);
      } else if (any.ref.digest !== undefined) {
        throw notFound('reference does not exist');
      } else if (any.ref.tag === undefined) {
        const repo = [...this.tags].filter(([k]) => {
          const t = parseTagKey(k);
          return t.domain === any.ref.domain && t.path === any.ref.path;
        });
        for (const [k, id] of repo) add(id, parseTagKey(k));
        if (repo.length === 0) {
          const img = this.lookup(name);
          if (!img) throw notFound(`No such image: ${name}`);
          add(img.id);
        }
      } else {
        const id = this.tags.get(tagKeyOf(any.ref));
        if (id === undefined) throw notFound('reference does not exist');
        add(id, withDefaultTag(any.ref));
      }
    }
    const chosen = [...targets].map(([id, tags]) => ({ img: this.images.get(id)!, tags }));
    const unpin = this.layers.pin(chosen.flatMap((c) => c.img.config.rootfs.diff_ids));
    try {
      const images: SaveImage[] = [];
      for (const { img, tags } of chosen) {
        const configBytes = await fs.readFile(this.configPath(img.id));
        images.push({ id: img.id, config: img.config, configBytes, tags });
      }
      return saveArchive(await saveEntries(images, this.layers), unpin);
    } catch (e) {
      unpin();
      throw e;
    }
  }

  /**
   * `docker image prune`, as dockerd's ImagesPrune: with `danglingOnly`
   * untagged images no image builds on (and, with each, the untagged
   * parents only it kept: a failed build's steps); else every image no
   * container uses (an untagged parent goes with its last child). `match`
   * is the label and until filters. An image a container uses is left
   * whole (dockerd 20.10 would strip all but one of its tags).
   */
  async prune(
    danglingOnly: boolean,
    match: (p: { labels: Record<string, string> | null | undefined; created: number }) => boolean,
  ): Promise<{ ImagesDeleted: RemoveRecord[] | null; SpaceReclaimed: number }> {
    const chainSize = new Map<string, number>();
    for (const img of this.images.values()) {
      for (const c of chainIds(img.config.rootfs.diff_ids)) {
        chainSize.set(c.chainId, this.layers.sizeOf(c.diffId));
      }
    }
    const parents = new Set([...this.images.values()].map((i) => i.meta.parent).filter(Boolean));
    const candidates = [...this.images.values()].filter((img) => {
      const tagged = this.tagKeysOf(img.id).length > 0;
      if (!tagged && parents.has(img.id)) return false;
      if (danglingOnly && tagged) return false;
      const created = unixSeconds(img.config.created) * 1000;
      return match({ labels: img.config.config?.Labels, created });
    });
    const deleted: RemoveRecord[] = [];
    for (const img of candidates) {
      if (!this.images.has(img.id) || this.userOf(img.id)) continue;
      const refs = familiarTags(this.tagKeysOf(img.id));
      for (const ref of refs.length ? refs : [img.id]) {
        try {
          deleted.push(...(await this.remove(ref)));
        } catch {
          // in use or changed since: kept, as dockerd's imageDeleteFailed
        }
      }
    }
    let reclaimed = 0;
    for (const d of deleted) reclaimed += d.Deleted ? (chainSize.get(d.Deleted) ?? 0) : 0;
    return { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
  }

  /**
   * `system df`'s images: the list `docker images` shows, each with how
   * many containers use it and the bytes of its layers other listed images
   * share (dockerd counts by layer chain), and the bytes of every layer.
   */
  usage(containersOf: (id: string) => number): { LayersSize: number; Images: ImageSummary[] } {
    const listed = this.list();
    const chains = new Map<string, Array<{ diffId: string; chainId: string }>>();
    const refs = new Map<string, number>();
    for (const s of listed) {
      const c = chainIds(this.images.get(s.Id)!.config.rootfs.diff_ids);
      chains.set(s.Id, c);
      for (const { chainId } of c) refs.set(chainId, (refs.get(chainId) ?? 0) + 1);
    }
    const Images = listed.map((s) => ({
      ...s,
      Containers: containersOf(s.Id),
      SharedSize: chains
        .get(s.Id)!
        .reduce(
          (n, c) => n + ((refs.get(c.chainId) ?? 0) > 1 ? this.layers.sizeOf(c.diffId) : 0),
          0,
        ),
    }));
    const LayersSize = this.layers.all().reduce((n, d) => n + this.layers.sizeOf(d), 0);
    return { LayersSize, Images };
  }

  /** Bytes of the image's layers (0 when there is no such image). */
  sizeOf(id: string): number {
    const img = this.images.get(id.startsWith('sha256:') ? id : `sha256:${id}`);
    return img ? img.config.rootfs.diff_ids.reduce((n, d) => n + this.layers.sizeOf(d), 0) : 0;
  }

  /** Creates `busybox:latest` from the host's static busybox unless that tag exists. */
  async ensureBuiltins(): Promise<void> {
    if (!this.tags.has(tagKeyOf(BUSYBOX))) await this.builtins.add(BUSYBOX);
  }

  /**
   * The image `ref` names, like resolve; when there is none and `ref` names a
   * builtin (busybox, redis, python: see builtin/), the builtin is made
   * present first (built once into the machine-wide cache, then ingested
   * here, which takes a few seconds the first time). For image inspect and
   * a builder's FROM; a container create answers 404 and the client pulls.
   * Undefined when `ref` names neither; INVALID_ARGUMENT when malformed.
   */
  async ensureImage(
    ref: string,
    onProgress?: (p: PullProgress) => void,
  ): Promise<ImageRecord | undefined> {
    const have = await this.resolve(ref);
    if (have) return have;
    const named = builtinCandidate(ref);
    if (!named) return undefined;
    try {
      if (!(await this.builtins.add(named, onProgress))) return undefined;
    } catch (e) {
      if (e instanceof NotInstalledError) return undefined;
      throw e;
    }
    return this.resolve(ref);
  }

  /**
   * `docker pull` of a builtin: `up-to-date` when the tag exists (a tag naming
   * another image is never moved), `downloaded` when it was made now, undefined
   * when `ref` names no builtin. Throws NotInstalledError (its message says
   * what to install) when the builtin's packages are missing.
   */
  async pullBuiltin(
    ref: string,
    onProgress?: (p: PullProgress) => void,
  ): Promise<'downloaded' | 'up-to-date' | undefined> {
    const named = builtinCandidate(ref);
    if (!named || !(await this.builtins.names(named))) return undefined;
    onProgress?.({ status: `Pulling from ${named.path}`, id: named.tag });
    if (this.tags.has(tagKeyOf(named))) return 'up-to-date';
    return (await this.builtins.add(named, onProgress)) ? 'downloaded' : undefined;
  }

  /** `docker import`: returns the new image's id. */
  async importTar(
    input: AsyncIterable<Buffer | string>,
    opts: ImportOptions = {},
  ): Promise<string> {
    const ref = opts.repo ? parseRepoTag(opts.repo, opts.tag) : undefined;
    const [done] = await this.ingest(async (ing) => [await prepareImport(ing, input, opts, ref)]);
    return (done as Committed).id;
  }

  /**
   * `docker load`: returns Docker's result lines (`Loaded image:
   * busybox:latest`); `onProgress` gets each layer's "Loading layer" bytes.
   */
  async load(
    input: AsyncIterable<Buffer | string>,
    onProgress?: (p: ProgressLine) => void,
  ): Promise<string[]> {
    const spool = await this.layers.tempDir('load-');
    try {
      const done = await this.ingest((ing) => prepareLoad(ing, input, spool, onProgress));
      const lines: string[] = [];
      for (const c of done) {
        for (const r of c.replaced) {
          lines.push(
            `The image ${familiarString(r.ref)} already exists, renaming the old one with ID ${r.oldId} to empty string`,
          );
        }
        if (c.tags.length === 0) lines.push(`Loaded image ID: ${c.id}`);
        for (const t of c.tags) lines.push(`Loaded image: ${familiarString(t)}`);
      }
      return lines;
    } finally {
      await removeTree(spool);
    }
  }

  /**
   * A builder step's (or `docker commit`'s) image: stages `layer` (when files
   * changed), then commits the config `configFor(diffId)` gives, with
   * `parent` recorded and `tags` pointed at it.
   * Returns the image id.
   */
  async commitChild(step: {
    parent?: string;
    /** Names for the image (`docker commit`'s), written with it. */
    tags?: NamedRef[];
    layer?: () => AsyncIterable<Buffer | string>;
    configFor: (diffId: string | undefined) => Buffer;
  }): Promise<string> {
    const [done] = await this.ingest(async (ing) => {
      const diffId = step.layer ? (await ing.layer(step.layer)).diffId : undefined;
      const configBytes = step.configFor(diffId);
      const config = parseImageConfig(configBytes);
      const tags = step.tags ?? [];
      return [{ id: sha256(configBytes), configBytes, config, tags, parent: step.parent }];
    });
    return (done as Committed).id;
  }

  /** Stages through `prepare`, commits under the lock; on failure nothing staged remains. */
  private async ingest(prepare: (ing: Ingest) => Promise<PreparedImage[]>): Promise<Committed[]> {
    const ing = new Ingest(this.layers);
    let ok = false;
    try {
      const prepared = await prepare(ing);
      const done = await this.locked(() => this.commit(prepared, ing));
      ok = true;
      return done;
    } finally {
      await ing.release();
      if (!ok) await this.locked(() => this.layers.gc(this.referencedLayers()));
    }
  }

  private async commit(prepared: PreparedImage[], ing: Ingest): Promise<Committed[]> {
    for (const s of ing.staged) await this.layers.commit(s);
    const now = new Date().toISOString();
    const next = new Map<string, StoredImage>();
    const tagPuts = new Map<string, string>();
    const written: string[] = [];
    const out: Committed[] = [];
    try {
      for (const p of prepared) {
        let img = next.get(p.id) ?? this.images.get(p.id);
        if (!img) {
          const missing = p.config.rootfs.diff_ids.find((d) => !this.layers.has(d));
          if (missing) throw new Error(`layer ${missing} vanished before commit`);
          const tmp = `${this.configPath(p.id)}.tmp`;
          await fs.writeFile(tmp, p.configBytes, { mode: 0o600 });
          await fs.rename(tmp, this.configPath(p.id));
          written.push(p.id);
          const meta: ImageMeta = { created: now, ...(p.parent ? { parent: p.parent } : {}) };
          img = { id: p.id, config: p.config, meta };
        }
        const c: Committed = { id: p.id, tags: [], replaced: [] };
        for (const t of p.tags) {
          const key = tagKeyOf(t);
          const old = tagPuts.get(key) ?? this.tags.get(key);
          if (old !== undefined && old !== p.id && p.tagIfAbsent) continue;
          if (old !== undefined && old !== p.id) c.replaced.push({ ref: t, oldId: old });
          tagPuts.set(key, p.id);
          c.tags.push(t);
        }
        if (c.tags.length > 0) img = { ...img, meta: { ...img.meta, lastTagTime: now } };
        next.set(p.id, img);
        out.push(c);
      }
      const ops: Op[] = [];
      for (const [id, img] of next)
        ops.push({ type: 'put', key: KEY_META + id, value: JSON.stringify(img.meta) });
      for (const [key, id] of tagPuts)
        ops.push({ type: 'put', key: KEY_TAGS + key, value: JSON.stringify({ id }) });
      await this.kv.txn([], ops);
    } catch (e) {
      for (const id of written) await fs.rm(this.configPath(id), { force: true });
      throw e;
    }
    for (const [id, img] of next) this.images.set(id, img);
    for (const [key, id] of tagPuts) this.tags.set(key, id);
    return out;
  }

  /** Tags the image `ref` names as `repo[:tag]` (tag default latest), moving the tag if it exists. */
  async tag(ref: string, repo: string, tag?: string): Promise<void> {
    const named = parseRepoTag(repo, tag);
    await this.locked(async () => {
      const img = this.mustLookup(ref);
      const key = tagKeyOf(named);
      const meta = { ...img.meta, lastTagTime: new Date().toISOString() };
      await this.kv.txn(
        [],
        [
          { type: 'put', key: KEY_TAGS + key, value: JSON.stringify({ id: img.id }) },
          { type: 'put', key: KEY_META + img.id, value: JSON.stringify(meta) },
        ],
      );
      this.tags.set(key, img.id);
      this.images.set(img.id, { ...img, meta });
    });
  }

  private userOf(id: string): ImageUser | undefined {
    const u = this.opts.isInUse?.(id);
    if (u === undefined) return undefined;
    return typeof u === 'string' ? { containerId: u, running: false } : u;
  }

  /**
   * `docker rmi`, with Docker's rules: a tag of an image that has others is
   * only untagged; an image a container uses is a CONFLICT unless forced, and
   * even forced it is only untagged (kept as `<none>`) while a container uses it.
   */
  async remove(
    ref: string,
    opts: { force?: boolean; noPrune?: boolean } = {},
  ): Promise<RemoveRecord[]> {
    return this.locked(async () => {
      const img = this.mustLookup(ref);
      const plan = planRemoval({
        ref,
        id: img.id,
        tagKeys: this.tagKeysOf(img.id),
        hasChildren: [...this.images.values()].some((i) => i.meta.parent === img.id),
        user: this.userOf(img.id),
        force: opts.force ?? false,
        refTagKey: (r) => tagKeyOf(withDefaultTag(parseAnyReferenceNamed(r))),
      });
      if (plan.error) {
        await this.untag(plan.untag);
        throw conflict(plan.error);
      }
      await this.untag(plan.untag);
      const records: RemoveRecord[] = plan.untag.map((k) => ({
        Untagged: familiarString(parseTagKey(k)),
      }));
      if (!plan.deleteImage) return records;
      // as Docker, untagged parents only this image held (a build's steps) go with it
      for (let cur: StoredImage | undefined = img; cur;) {
        await this.kv.txn([], [{ type: 'delete', key: KEY_META + cur.id }]);
        this.images.delete(cur.id);
        await fs.rm(this.configPath(cur.id), { force: true });
        records.push({ Deleted: cur.id });
        const removed = new Set(await this.layers.gc(this.referencedLayers()));
        for (const c of chainIds(cur.config.rootfs.diff_ids).reverse()) {
          if (removed.delete(c.diffId)) records.push({ Deleted: c.chainId });
        }
        cur = opts.noPrune ? undefined : this.prunableParent(cur);
      }
      return records;
    });
  }

  /** The parent of a deleted image when nothing else keeps it: no tag, no child, no container. */
  private prunableParent(child: StoredImage): StoredImage | undefined {
    const p = child.meta.parent ? this.images.get(child.meta.parent) : undefined;
    if (!p || this.tagKeysOf(p.id).length > 0 || this.userOf(p.id)) return undefined;
    if ([...this.images.values()].some((i) => i.meta.parent === p.id)) return undefined;
    return p;
  }

  private async untag(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.kv.txn(
      [],
      keys.map((k) => ({ type: 'delete', key: KEY_TAGS + k })),
    );
    for (const k of keys) this.tags.delete(k);
  }
}

/** The tagged name `ref` is when it could name a builtin (a name without digest), else undefined. */
function builtinCandidate(ref: string): NamedRef | undefined {
  const any = parseAnyReference(ref);
  if (any.kind === 'id' || any.ref.digest !== undefined) return undefined;
  const { domain, path, tag } = withDefaultTag(any.ref);
  return { domain, path, tag };
}

function parseAnyReferenceNamed(ref: string): NamedRef {
  const any = parseAnyReference(ref);
  if (any.kind === 'id') throw new Error('not a name');
  return any.ref;
}
