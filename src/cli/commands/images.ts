/** Image commands: images/image ls, image inspect, rmi, tag, import, load. */
import { createReadStream, existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { StatusError, encodeFilters, errorLine, type Command, type Ctx } from '../command.js';
import { makeRow, renderList, truncateID, type ListSpec, type Row } from '../format/formatter.js';
import { goTimeString, humanSize, sinceUnix } from '../format/units.js';
import { normalizedName, parseReference, ImageReferenceError } from '../reference.js';
import { displayJSONMessages, StreamError } from '../streams.js';
import { inspectObjects } from './inspect.js';

/** One entry of GET /images/json. */
export interface ApiImage {
  /** "sha256:..." */
  Id: string;
  /** "repo:tag" references. */
  RepoTags?: string[] | null;
  /** "repo@sha256:..." references. */
  RepoDigests?: string[] | null;
  /** Unix seconds. */
  Created?: number;
  /** Bytes. */
  Size?: number;
  /** Bytes (older daemons). */
  VirtualSize?: number;
  /** Bytes shared with other images, -1 unknown. */
  SharedSize?: number;
  /** Containers using it, -1 unknown. */
  Containers?: number;
}

const naOr = (n: number | undefined, f: (n: number) => string): string =>
  n === undefined || n < 0 ? 'N/A' : f(n);

function imageRow(img: ApiImage, repo: string, tag: string, digest: string, trunc: boolean): Row {
  const size = img.Size ?? img.VirtualSize ?? 0;
  const shared = img.SharedSize ?? -1;
  return makeRow(
    {
      Containers: naOr(img.Containers, String),
      CreatedAt: goTimeString((img.Created ?? 0) * 1000),
      CreatedSince: sinceUnix(img.Created ?? 0),
      Digest: digest,
      ID: trunc ? truncateID(img.Id) : img.Id,
      Repository: repo,
      SharedSize: naOr(shared, (n) => humanSize(n, 4)),
      Size: humanSize(size),
      Tag: tag,
      UniqueSize: shared < 0 ? 'N/A' : humanSize(size - shared, 4),
      VirtualSize: humanSize(size, 4),
    },
    '*formatter.imageContext',
  );
}

/** Docker's rows for one image: one per repo:tag (digests joined when asked), or one <none> row. */
export function imageRows(img: ApiImage, trunc: boolean, digests: boolean): Row[] {
  const tags = (img.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
  const dg = (img.RepoDigests ?? []).filter((t) => t !== '<none>@<none>');
  if (!tags.length && !dg.length) return [imageRow(img, '<none>', '<none>', '<none>', trunc)];
  const repoTags = new Map<string, string[]>();
  const repoDigests = new Map<string, string[]>();
  for (const t of tags) {
    const r = safeRef(t);
    if (r?.tag) (repoTags.get(r.name) ?? repoTags.set(r.name, []).get(r.name)!).push(r.tag);
  }
  for (const d of dg) {
    const r = safeRef(d);
    if (r?.digest)
      (repoDigests.get(r.name) ?? repoDigests.set(r.name, []).get(r.name)!).push(r.digest);
  }
  const rows: Row[] = [];
  for (const [repo, ts] of repoTags) {
    const ds = digests ? (repoDigests.get(repo) ?? []) : [];
    repoDigests.delete(repo);
    for (const t of ts) {
      if (!ds.length) rows.push(imageRow(img, repo, t, '<none>', trunc));
      for (const d of ds) rows.push(imageRow(img, repo, t, d, trunc));
    }
  }
  for (const [repo, ds] of repoDigests) {
    if (digests) for (const d of ds) rows.push(imageRow(img, repo, '<none>', d, trunc));
    else rows.push(imageRow(img, repo, '<none>', '', trunc));
  }
  return rows;
}

function safeRef(s: string): ReturnType<typeof parseReference> {
  try {
    return parseReference(s);
  } catch {
    return undefined;
  }
}

const IMAGE_SPEC: ListSpec = {
  table: 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}',
  quiet: '{{.ID}}',
  goType: '*formatter.imageContext',
  headers: {
    Repository: 'REPOSITORY',
    Tag: 'TAG',
    Digest: 'DIGEST',
    ID: 'IMAGE ID',
    CreatedSince: 'CREATED',
    CreatedAt: 'CREATED AT',
    Size: 'SIZE',
    Containers: 'CONTAINERS',
    VirtualSize: 'VIRTUAL SIZE',
    SharedSize: 'SHARED SIZE',
    UniqueSize: 'UNIQUE SIZE',
  },
};

/** `berth images` / `berth image ls`. */
export const imagesCommand: Command = {
  path: 'images',
  aliases: ['image ls', 'image list'],
  use: 'images [OPTIONS] [REPOSITORY[:TAG]]',
  short: 'List images',
  flags: [
    {
      long: 'all',
      short: 'a',
      type: 'bool',
      usage: 'Show all images (default hides intermediate images)',
    },
    { long: 'digests', type: 'bool', usage: 'Show digests' },
    {
      long: 'filter',
      short: 'f',
      type: 'list',
      argName: 'filter',
      usage: 'Filter output based on conditions provided',
    },
    { long: 'format', type: 'string', usage: 'Format output using a custom template' },
    { long: 'no-trunc', type: 'bool', usage: "Don't truncate output" },
    { long: 'quiet', short: 'q', type: 'bool', usage: 'Only show image IDs' },
  ],
  args: { max: 1 },
  async run(ctx, f) {
    const filters = [...f.list('filter'), ...f.args.map((a) => `reference=${a}`)];
    const list = await ctx.client.json<ApiImage[]>('GET', '/images/json', {
      query: { all: f.bool('all') || undefined, filters: encodeFilters(filters) },
    });
    const trunc = !f.bool('no-trunc');
    const rows = (list ?? []).flatMap((i) => imageRows(i, trunc, f.bool('digests')));
    let fmt = f.str('format');
    if (!fmt || fmt === 'table') {
      if (f.bool('quiet')) fmt = IMAGE_SPEC.quiet;
      else if (f.bool('digests'))
        fmt = 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
    }
    ctx.out.write(renderList(rows, IMAGE_SPEC, fmt));
  },
};

/** `berth image inspect`. */
export const imageInspectCommand: Command = {
  path: 'image inspect',
  use: 'image inspect [OPTIONS] IMAGE [IMAGE...]',
  short: 'Display detailed information on one or more images',
  flags: [
    { long: 'format', short: 'f', type: 'string', usage: 'Format output using a custom template' },
  ],
  args: { min: 1 },
  run: (ctx, f) => inspectObjects(ctx, f.args, f.str('format'), 'image'),
};

/** `berth rmi` / `berth image rm`. */
export const rmiCommand: Command = {
  path: 'rmi',
  aliases: ['image rm', 'image remove'],
  use: 'rmi [OPTIONS] IMAGE [IMAGE...]',
  short: 'Remove one or more images',
  flags: [
    { long: 'force', short: 'f', type: 'bool', usage: 'Force removal of the image' },
    { long: 'no-prune', type: 'bool', usage: 'Do not delete untagged parents' },
  ],
  args: { min: 1 },
  async run(ctx, f) {
    const errs: string[] = [];
    for (const img of f.args) {
      try {
        const items = await ctx.client.json<{ Untagged?: string; Deleted?: string }[]>(
          'DELETE',
          `/images/${img}`,
          {
            query: {
              force: f.bool('force') || undefined,
              noprune: f.bool('no-prune') || undefined,
            },
          },
        );
        for (const it of items ?? []) {
          if (it.Deleted) ctx.out.write(`Deleted: ${it.Deleted}\n`);
          else if (it.Untagged) ctx.out.write(`Untagged: ${it.Untagged}\n`);
        }
      } catch (e) {
        errs.push(errorLine(e));
      }
    }
    if (errs.length) throw new StatusError(1, errs.join('\n'));
  },
};

/** `berth tag` / `berth image tag`. */
export const tagCommand: Command = {
  path: 'tag',
  aliases: ['image tag'],
  use: 'tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  short: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  flags: [],
  args: { min: 2, max: 2 },
  async run(ctx, f) {
    const [src = '', target = ''] = f.args;
    let ref;
    try {
      ref = parseReference(target);
    } catch (e) {
      throw new StatusError(1, e instanceof ImageReferenceError ? e.message : errorLine(e));
    }
    if (!ref) throw new StatusError(1, 'invalid reference format');
    if (ref.digest) throw new StatusError(1, 'refusing to create a tag with a digest reference');
    (
      await ctx.client.call('POST', `/images/${src}/tag`, {
        query: { repo: normalizedName(ref), tag: ref.tag ?? 'latest' },
      })
    ).resume();
  },
};

async function showStream(ctx: Ctx, res: Readable): Promise<void> {
  try {
    await displayJSONMessages(res, ctx.out);
  } catch (e) {
    if (e instanceof StreamError) throw new StatusError(1, e.message);
    throw e;
  }
}

/** `berth import` / `berth image import`. */
export const importCommand: Command = {
  path: 'import',
  aliases: ['image import'],
  use: 'import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]',
  short: 'Import the contents from a tarball to create a filesystem image',
  flags: [
    {
      long: 'change',
      short: 'c',
      type: 'list',
      usage: 'Apply Dockerfile instruction to the created image',
    },
    { long: 'message', short: 'm', type: 'string', usage: 'Set commit message for imported image' },
    { long: 'platform', type: 'string', usage: 'Set platform if server is multi-platform capable' },
  ],
  args: { min: 1, max: 2 },
  async run(ctx, f) {
    const [src = '', repo] = f.args;
    if (repo) {
      try {
        parseReference(repo);
      } catch (e) {
        throw new StatusError(1, errorLine(e));
      }
    }
    let body: Readable | undefined;
    let fromSrc = src;
    if (src === '-') body = ctx.in;
    else if (!/^https?:\/\//.test(src)) {
      if (!existsSync(src)) throw new StatusError(1, `open ${src}: no such file or directory`);
      body = createReadStream(src);
      fromSrc = '-';
    }
    const res = await ctx.client.call('POST', '/images/create', {
      query: {
        changes: f.list('change').length ? f.list('change') : undefined,
        fromSrc,
        message: f.str('message') || undefined,
        platform: f.str('platform') || undefined,
        repo: repo || undefined,
      },
      body,
      contentType: 'text/plain',
    });
    await showStream(ctx, res);
  },
};

/** `berth load` / `berth image load`. */
export const loadCommand: Command = {
  path: 'load',
  aliases: ['image load'],
  use: 'load [OPTIONS]',
  short: 'Load an image from a tar archive or STDIN',
  flags: [
    {
      long: 'input',
      short: 'i',
      type: 'string',
      usage: 'Read from tar archive file, instead of STDIN',
    },
    { long: 'quiet', short: 'q', type: 'bool', usage: 'Suppress the load output' },
  ],
  args: { max: 0 },
  async run(ctx, f) {
    const input = f.str('input');
    if (!input && ctx.in.isTTY)
      throw new StatusError(1, 'requested load from stdin, but stdin is empty');
    if (input && !existsSync(input))
      throw new StatusError(1, `open ${input}: no such file or directory`);
    const body = input ? createReadStream(input) : ctx.in;
    const res = await ctx.client.call('POST', '/images/load', {
      query: { quiet: f.bool('quiet') || !ctx.out.isTTY },
      body,
      contentType: 'application/x-tar',
    });
    if (String(res.headers['content-type'] ?? '').startsWith('application/json'))
      await showStream(ctx, res);
    else res.pipe(ctx.out, { end: false });
  },
};
