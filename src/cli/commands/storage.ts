/**
 * `berth commit`, `save`, `container prune`, `image prune` and `system
 * prune`, with the docker CLI's flags, prompts and output (`system df`: df.ts).
 */
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { StatusError, confirm, encodeFilters, type Command, type Ctx } from '../command.js';
import { humanSize } from '../format/units.js';
import { parseReference } from '../reference.js';

/** `berth commit`. */
export const commitCommand: Command = {
  path: 'commit',
  aliases: ['container commit'],
  use: 'commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  short: "Create a new image from a container's changes",
  flags: [
    {
      long: 'author',
      short: 'a',
      type: 'string',
      usage: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")',
    },
    {
      long: 'change',
      short: 'c',
      type: 'list',
      usage: 'Apply Dockerfile instruction to the created image',
    },
    { long: 'message', short: 'm', type: 'string', usage: 'Commit message' },
    {
      long: 'pause',
      short: 'p',
      type: 'bool',
      def: true,
      usage: 'Pause container during commit',
    },
  ],
  args: { min: 1, max: 2 },
  async run(ctx, f) {
    const [container, reference] = f.args as [string, string | undefined];
    let repo: string | undefined;
    let tag: string | undefined;
    if (reference) {
      const r = parseReference(reference);
      if (!r) throw new StatusError(1, 'invalid reference format');
      if (r.digest) throw new StatusError(1, 'refusing to create a tag with a digest reference');
      repo = r.name;
      tag = r.tag;
    }
    const res = await ctx.client.json<{ Id: string }>('POST', '/commit', {
      query: {
        container,
        repo,
        tag,
        author: f.str('author') || undefined,
        comment: f.str('message') || undefined,
        changes: f.list('change'),
        pause: f.bool('pause'),
      },
      body: null,
    });
    ctx.out.write(`${res.Id}\n`);
  },
};

/** `berth save`. */
export const saveCommand: Command = {
  path: 'save',
  aliases: ['image save'],
  use: 'save [OPTIONS] IMAGE [IMAGE...]',
  short: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  flags: [
    { long: 'output', short: 'o', type: 'string', usage: 'Write to a file, instead of STDOUT' },
  ],
  args: { min: 1 },
  async run(ctx, f) {
    const file = f.str('output');
    if (!file && ctx.out.isTTY) {
      throw new StatusError(
        1,
        'cowardly refusing to save to a terminal. Use the -o flag or redirect',
      );
    }
    const res = await ctx.client.call('GET', '/images/get', { query: { names: f.args } });
    await pipeline(res, file ? createWriteStream(file) : ctx.out);
  },
};

const FILTER = {
  long: 'filter',
  type: 'list' as const,
  argName: 'filter',
  usage: 'Provide filter values (e.g. "until=<timestamp>")',
};
const FORCE = {
  long: 'force',
  short: 'f',
  type: 'bool' as const,
  usage: 'Do not prompt for confirmation',
};

interface PruneResult {
  space: number;
  output: string;
}

/** A prune whose answer lists names or IDs under `key` (containers, networks, volumes). */
async function pruneList(
  ctx: Ctx,
  what: 'containers' | 'networks' | 'volumes',
  filters: string[],
): Promise<PruneResult> {
  const key = {
    containers: 'ContainersDeleted',
    networks: 'NetworksDeleted',
    volumes: 'VolumesDeleted',
  }[what];
  const r = await ctx.client.json<Record<string, unknown>>('POST', `/${what}/prune`, {
    query: { filters: encodeFilters(filters) },
  });
  const names = (r?.[key] as string[] | null | undefined) ?? [];
  if (!names.length) return { space: 0, output: '' };
  const title = `Deleted ${what[0]!.toUpperCase()}${what.slice(1)}`;
  return {
    space: Number(r?.SpaceReclaimed ?? 0),
    output: `${title}:\n${names.map((n) => `${n}\n`).join('')}`,
  };
}

async function pruneImages(ctx: Ctx, all: boolean, filters: string[]): Promise<PruneResult> {
  const r = await ctx.client.json<{
    ImagesDeleted?: Array<{ Untagged?: string; Deleted?: string }> | null;
    SpaceReclaimed?: number;
  }>('POST', '/images/prune', {
    query: { filters: encodeFilters([...filters, `dangling=${!all}`]) },
  });
  const items = r?.ImagesDeleted ?? [];
  if (!items.length) return { space: 0, output: '' };
  const lines = items.map((i) =>
    i.Untagged ? `untagged: ${i.Untagged}\n` : `deleted: ${i.Deleted}\n`,
  );
  return { space: r?.SpaceReclaimed ?? 0, output: `Deleted Images:\n${lines.join('')}` };
}

/** Prints what the prunes did and the total, as docker's. */
function report(ctx: Ctx, results: PruneResult[]): void {
  let space = 0;
  for (const r of results) {
    space += r.space;
    if (r.output) ctx.out.write(`${r.output}\n`);
  }
  ctx.out.write(`Total reclaimed space: ${humanSize(space)}\n`);
}

/** `berth container prune`. */
export const containerPruneCommand: Command = {
  path: 'container prune',
  use: 'container prune [OPTIONS]',
  short: 'Remove all stopped containers',
  flags: [FILTER, FORCE],
  args: { max: 0 },
  async run(ctx, f) {
    const warning =
      'WARNING! This will remove all stopped containers.\nAre you sure you want to continue?';
    if (!f.bool('force') && !(await confirm(ctx, warning))) return 0;
    report(ctx, [await pruneList(ctx, 'containers', f.list('filter'))]);
    return 0;
  },
};

/** `berth image prune`. */
export const imagePruneCommand: Command = {
  path: 'image prune',
  use: 'image prune [OPTIONS]',
  short: 'Remove unused images',
  flags: [
    {
      long: 'all',
      short: 'a',
      type: 'bool',
      usage: 'Remove all unused images, not just dangling ones',
    },
    FILTER,
    FORCE,
  ],
  args: { max: 0 },
  async run(ctx, f) {
    const warning = f.bool('all')
      ? 'WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?'
      : 'WARNING! This will remove all dangling images.\nAre you sure you want to continue?';
    if (!f.bool('force') && !(await confirm(ctx, warning))) return 0;
    report(ctx, [await pruneImages(ctx, f.bool('all'), f.list('filter'))]);
    return 0;
  },
};

/** `berth system prune`: containers, networks, (volumes,) images; the classic builder has no cache. */
export const systemPruneCommand: Command = {
  path: 'system prune',
  use: 'system prune [OPTIONS]',
  short: 'Remove unused data',
  flags: [
    {
      long: 'all',
      short: 'a',
      type: 'bool',
      usage: 'Remove all unused images not just dangling ones',
    },
    FILTER,
    FORCE,
    { long: 'volumes', type: 'bool', usage: 'Prune anonymous volumes' },
  ],
  args: { max: 0 },
  async run(ctx, f) {
    const all = f.bool('all');
    const filters = f.list('filter');
    const warnings = [
      'all stopped containers',
      'all networks not used by at least one container',
      ...(f.bool('volumes') ? ['all anonymous volumes not used by at least one container'] : []),
      all ? 'all images without at least one container associated to them' : 'all dangling images',
      all ? 'all build cache' : 'unused build cache',
    ];
    let text = `WARNING! This will remove:\n${warnings.map((w) => `  - ${w}\n`).join('')}`;
    if (filters.length) {
      text += `\n  Items to be pruned will be filtered with:\n${filters.map((x) => `  - ${x}\n`).join('')}`;
    }
    if (!f.bool('force') && !(await confirm(ctx, `${text}\nAre you sure you want to continue?`))) {
      return 0;
    }
    const results = [
      await pruneList(ctx, 'containers', filters),
      await pruneList(ctx, 'networks', filters),
    ];
    if (f.bool('volumes')) results.push(await pruneList(ctx, 'volumes', filters));
    results.push(await pruneImages(ctx, all, filters));
    report(ctx, results);
    return 0;
  },
};
