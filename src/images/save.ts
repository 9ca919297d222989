/**
 * `docker save` (GET /images/get, /images/{name}/get): the docker-archive
 * layout dockerd 20.10 writes, which `docker load` of Berth and of Docker
 * reads: `<config hex>.json` per image, `<v1 id>/{VERSION,json,layer.tar}`
 * per layer, `manifest.json` (`Config`, `RepoTags`, `Layers`) and, when any
 * image is named, `repositories`; entries in the order of a walk of that
 * tree (names sorted), owned by root.
 *
 * Each layer's tar is written again from its tar-split records
 * (tarsplit.ts), so its sha256 is the diffID the config names. A layer
 * stored without records (by an older Berth) is walked again (pack.ts) and
 * its digest checked before anything is sent: a layer that then comes out
 * different is refused with 400, as nothing else could be loaded back.
 *
 * The v1 IDs of the layer directories are Berth's own sha256 over the
 * layer's chain and its parent's v1 ID: no loader checks them.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import tar, { type Header as TarHeader } from 'tar-stream';
import { invalid } from '../common/errors.js';
import { packTree } from '../kernel/pack.js';
import { fullContainerConfig } from './format.js';
import { familiarName, familiarString, type NamedRef } from './reference.js';
import { chainIds } from './remove.js';
import { assemble, splitLength, type SplitItem } from './tarsplit.js';
import type { ImageConfig } from './types.js';

/** One image to save. */
export interface SaveImage {
  id: string;
  configBytes: Buffer;
  config: ImageConfig;
  /** The tags it is saved with (none when named by ID). */
  tags: NamedRef[];
}

/** Where the layers are. */
export interface LayerSource {
  dirOf(diffId: string): string;
  splitOf(diffId: string): Promise<SplitItem[] | undefined>;
}

interface LayerTar {
  size: number;
  open(): AsyncIterable<Buffer>;
}

interface Item {
  name: string;
  mtime: Date;
  dir?: boolean;
  body?: Buffer;
  stream?: LayerTar;
}

const sha256hex = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/** A JSON object with its keys sorted (as Go marshals a map). */
function sortedJson(o: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1))));
}

async function digestOf(it: AsyncIterable<Buffer>): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of it) {
    h.update(c);
    size += c.length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

/** How each layer's tar is written again; refuses a layer that cannot be. */
async function layerTars(images: SaveImage[], layers: LayerSource): Promise<Map<string, LayerTar>> {
  const out = new Map<string, LayerTar>();
  for (const img of images) {
    if (img.config.rootfs.diff_ids.length === 0) throw invalid('empty export - not implemented');
    for (const diffId of img.config.rootfs.diff_ids) {
      if (out.has(diffId)) continue;
      const dir = layers.dirOf(diffId);
      const split = await layers.splitOf(diffId);
      if (split) {
        out.set(diffId, { size: splitLength(split), open: () => assemble(split, dir, diffId) });
        continue;
      }
      const walk = () => packTree(dir, { name: '', layer: true });
      const { digest, size } = await digestOf(walk());
      if (digest !== diffId) {
        throw invalid(
          `berth cannot save layer ${diffId} of image ${img.id}: it was stored without its tar layout (by an older Berth) and walking it again gives ${digest}; build, import or load the image again`,
        );
      }
      out.set(diffId, { size, open: walk });
    }
  }
  return out;
}

/** The layer's v1 JSON (`<v1 id>/json`): the image's own fields for its top layer. */
function v1Json(
  img: ImageConfig,
  id: string,
  parent: string,
  top: boolean,
): Record<string, unknown> {
  const base: Record<string, unknown> = { id, ...(parent ? { parent } : {}) };
  if (!top) {
    return {
      ...base,
      created: '1970-01-01T00:00:00Z',
      container_config: fullContainerConfig(undefined),
      ...(img.os ? { os: img.os } : {}),
    };
  }
  const pick = [
    'comment',
    'created',
    'container',
    'container_config',
    'docker_version',
    'author',
    'config',
    'architecture',
    'variant',
    'os',
  ];
  for (const k of pick) if (img[k] !== undefined && img[k] !== '') base[k] = img[k];
  base.container_config ??= fullContainerConfig(undefined);
  return base;
}

/** The entries of the archive, checked (every layer can be written) before any is sent. */
export async function saveEntries(images: SaveImage[], layers: LayerSource): Promise<Item[]> {
  const tars = await layerTars(images, layers);
  const now = new Date();
  const top = new Map<string, Item>();
  const manifest: Array<Record<string, unknown>> = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const img of images) {
    const hex = img.id.replace(/^sha256:/, '');
    const created = new Date(Date.parse(img.config.created ?? '') || 0);
    top.set(`${hex}.json`, { name: `${hex}.json`, mtime: created, body: img.configBytes });
    const chain = chainIds(img.config.rootfs.diff_ids);
    let parent = '';
    const layerNames: string[] = [];
    chain.forEach((c, i) => {
      const isTop = i === chain.length - 1;
      const seed = isTop ? v1Json(img.config, '', '', true) : { created: '1970-01-01T00:00:00Z' };
      const v1 = sha256hex(
        sortedJson({ ...seed, id: undefined, layer_id: c.chainId, ...(parent ? { parent } : {}) }),
      );
      const json = Buffer.from(JSON.stringify(v1Json(img.config, v1, parent, isTop)));
      if (!top.has(v1)) {
        top.set(v1, { name: v1, mtime: created, dir: true });
        top.set(`${v1}/VERSION`, {
          name: `${v1}/VERSION`,
          mtime: created,
          body: Buffer.from('1.0'),
        });
        top.set(`${v1}/json`, { name: `${v1}/json`, mtime: created, body: json });
        const stream = tars.get(c.diffId) as LayerTar;
        top.set(`${v1}/layer.tar`, { name: `${v1}/layer.tar`, mtime: created, stream });
      }
      layerNames.push(`${v1}/layer.tar`);
      parent = v1;
    });
    for (const t of img.tags) {
      const repo = (repositories[familiarName(t)] ??= {});
      repo[t.tag ?? 'latest'] = parent;
    }
    manifest.push({
      Config: `${hex}.json`,
      RepoTags: img.tags.length ? img.tags.map(familiarString) : null,
      Layers: layerNames,
    });
  }
  const items = [...top.values()];
  items.push({ name: 'manifest.json', mtime: now, body: Buffer.from(JSON.stringify(manifest)) });
  if (Object.keys(repositories).length > 0) {
    items.push({
      name: 'repositories',
      mtime: now,
      body: Buffer.from(JSON.stringify(repositories)),
    });
  }
  // a walk of the tree: names sorted, a directory's files right after it
  return items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Streams the archive of `items`; a layer that fails to come out the same ends it with an error. */
export function saveArchive(items: Item[], onEnd: () => void): AsyncIterable<Buffer> {
  const pack = tar.pack();
  const add = (h: Partial<TarHeader> & { name: string }, body?: Buffer) =>
    new Promise<void>((ok, ko) =>
      pack.entry(h, body ?? Buffer.alloc(0), (e) => (e ? ko(e) : ok())),
    );
  void (async () => {
    for (const it of items) {
      const base = { name: it.name, mtime: it.mtime, uid: 0, gid: 0 };
      if (it.dir) await add({ ...base, name: `${it.name}/`, type: 'directory', mode: 0o755 });
      else if (it.body)
        await add({ ...base, type: 'file', mode: 0o644, size: it.body.length }, it.body);
      else if (it.stream) {
        const s = it.stream;
        await new Promise<void>((ok, ko) => {
          const w = pack.entry({ ...base, type: 'file', mode: 0o644, size: s.size }, (e) =>
            e ? ko(e) : ok(),
          );
          void (async () => {
            try {
              for await (const c of s.open()) {
                if (!w.write(c)) await once(w as unknown as NodeJS.EventEmitter, 'drain');
              }
              (w as unknown as { end(): void }).end();
            } catch (e) {
              w.destroy(e as Error);
              ko(e as Error);
            }
          })();
        });
      }
    }
    pack.finalize();
  })().then(onEnd, (e: unknown) => {
    onEnd();
    pack.destroy(e as Error);
  });
  return pack as unknown as AsyncIterable<Buffer>;
}
