/**
 * Reads a spooled `docker save` archive: the classic layout (`manifest.json`,
 * `<config>.json`, `<layer>/layer.tar`, possibly symlinked) and the OCI image
 * layout (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`, nested indexes).
 * When both are present (Docker 25+ writes both) the classic manifest wins: it
 * names the tags directly. Nothing here touches the image store.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join, relative, isAbsolute } from 'node:path';
import { invalid } from '../common/errors.js';

/** One image found in an archive. */
export interface ArchiveImage {
  /** Absolute path of the config blob. */
  configPath: string;
  /** Expected `sha256:` of the config, when the archive states it (OCI descriptors). */
  configDigest?: string;
  /** The layer blobs, bottom-most first. */
  layers: Array<{ path: string; digest?: string }>;
  /** References to tag the image with, as written in the archive. */
  tags: string[];
}

interface Descriptor {
  mediaType?: string;
  digest?: string;
  platform?: { os?: string; architecture?: string };
  annotations?: Record<string, string>;
}

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);
const MANIFEST_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
]);

/** `root/rel` after resolving symlinks, refusing anything that leads outside `root`. */
async function inside(root: string, rel: string): Promise<string> {
  if (typeof rel !== 'string' || rel === '')
    throw invalid('invalid archive: empty path in manifest');
  let real: string;
  try {
    real = await fs.realpath(join(root, rel));
  } catch {
    throw invalid(`invalid archive: ${rel} is missing`);
  }
  const r = relative(root, real);
  if (r.startsWith('..') || isAbsolute(r))
    throw invalid(`invalid archive: ${rel} points outside the archive`);
  return real;
}

async function readJson(path: string, what: string): Promise<unknown> {
  try {
    return JSON.parse(await fs.readFile(path, 'utf8'));
  } catch {
    throw invalid(`invalid archive: ${what} is not valid JSON`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** The images of the archive spooled at `root` (its real path). */
export async function readArchive(root: string, hostArch: string): Promise<ArchiveImage[]> {
  const realRoot = await fs.realpath(root);
  if (await exists(join(realRoot, 'manifest.json'))) return readClassic(realRoot);
  if (await exists(join(realRoot, 'index.json'))) return readOci(realRoot, hostArch);
  throw invalid(
    'invalid archive: no manifest.json or index.json found (not a docker save archive)',
  );
}

async function readClassic(root: string): Promise<ArchiveImage[]> {
  const manifest = await readJson(await inside(root, 'manifest.json'), 'manifest.json');
  if (!Array.isArray(manifest)) throw invalid('invalid archive: manifest.json is not a list');
  const out: ArchiveImage[] = [];
  for (const m of manifest as Array<Record<string, unknown>>) {
    const layers = m.Layers;
    if (typeof m.Config !== 'string' || !Array.isArray(layers)) {
      throw invalid('invalid archive: manifest.json entry without Config or Layers');
    }
    const tags = Array.isArray(m.RepoTags)
      ? m.RepoTags.filter((t): t is string => typeof t === 'string')
      : [];
    const img: ArchiveImage = { configPath: await inside(root, m.Config), layers: [], tags };
    const blob = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(m.Config);
    if (blob) img.configDigest = `sha256:${blob[1]}`;
    for (const l of layers) img.layers.push({ path: await inside(root, String(l)) });
    out.push(img);
  }
  return out;
}

async function readBlob(
  root: string,
  digest: string | undefined,
): Promise<{ path: string; bytes: Buffer }> {
  const m = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/.exec(digest ?? '');
  if (!m) throw invalid(`invalid archive: bad digest ${JSON.stringify(digest)}`);
  const path = await inside(root, join('blobs', m[1] as string, m[2] as string));
  const bytes = await fs.readFile(path);
  if (m[1] === 'sha256') {
    const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (got !== digest) throw invalid(`invalid archive: blob ${digest} has digest ${got}`);
  }
  return { path, bytes };
}

function parseJson(bytes: Buffer, what: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'));
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw invalid(`invalid archive: ${what} is not a JSON object`);
}

/** The tag an index entry's annotations give, if any. */
function tagOf(d: Descriptor): string | undefined {
  const a = d.annotations ?? {};
  const containerd = a['io.containerd.image.name'];
  if (containerd) return containerd;
  // a bare ref.name is just a tag ("latest") with no repository to put it on
  const refName = a['org.opencontainers.image.ref.name'];
  if (refName && /[:/]/.test(refName)) return refName;
  return undefined;
}

function isAttestation(d: Descriptor): boolean {
  return (
    d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' ||
    d.platform?.os === 'unknown'
  );
}

async function readOci(root: string, hostArch: string): Promise<ArchiveImage[]> {
  const index = (await readJson(await inside(root, 'index.json'), 'index.json')) as {
    manifests?: unknown;
  };
  if (!Array.isArray(index.manifests))
    throw invalid('invalid archive: index.json has no manifests');
  const byManifest = new Map<string, ArchiveImage>();
  const visit = async (d: Descriptor, tags: string[], depth: number): Promise<void> => {
    if (depth > 8) throw invalid('invalid archive: indexes nested too deeply');
    const { bytes } = await readBlob(root, d.digest);
    const doc = parseJson(bytes, `blob ${d.digest}`);
    const type = d.mediaType ?? (doc.mediaType as string | undefined);
    if ((type && INDEX_TYPES.has(type)) || (!type && Array.isArray(doc.manifests))) {
      const children = ((doc.manifests as Descriptor[] | undefined) ?? []).filter(
        (c) => !isAttestation(c),
      );
      const forHost = children.filter(
        (c) => !c.platform || (c.platform.os === 'linux' && c.platform.architecture === hostArch),
      );
      const pick = forHost.length > 0 ? forHost : children.length === 1 ? children : [];
      if (pick.length === 0) {
        throw invalid(`invalid archive: no image for linux/${hostArch} in index ${d.digest}`);
      }
      for (const c of pick)
        await visit(c, [...tags, ...(tagOf(c) ? [tagOf(c) as string] : [])], depth + 1);
      return;
    }
    if (type && !MANIFEST_TYPES.has(type))
      throw invalid(`invalid archive: unsupported media type ${type}`);
    const config = doc.config as Descriptor | undefined;
    const layers = doc.layers as Descriptor[] | undefined;
    if (!config?.digest || !Array.isArray(layers)) {
      throw invalid(`invalid archive: manifest ${d.digest} lacks config or layers`);
    }
    const prior = byManifest.get(d.digest as string);
    if (prior) {
      for (const t of tags) if (!prior.tags.includes(t)) prior.tags.push(t);
      return;
    }
    const img: ArchiveImage = {
      configPath: (await readBlob(root, config.digest)).path,
      configDigest: config.digest,
      layers: [],
      tags: [...tags],
    };
    for (const l of layers) {
      if (l.mediaType?.includes('zstd')) throw invalid('zstd-compressed layers are not supported');
      const m = /^([a-z0-9]+):([a-f0-9]+)$/.exec(l.digest ?? '');
      if (!m) throw invalid(`invalid archive: bad layer digest ${JSON.stringify(l.digest)}`);
      img.layers.push({
        path: await inside(root, join('blobs', m[1] as string, m[2] as string)),
        digest: l.digest,
      });
    }
    byManifest.set(d.digest as string, img);
  };
  for (const d of index.manifests as Descriptor[]) {
    if (isAttestation(d)) continue;
    const t = tagOf(d);
    await visit(d, t ? [t] : [], 0);
  }
  return [...byManifest.values()];
}
