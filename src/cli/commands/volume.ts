/**
 * `volume create|ls|inspect|rm|prune` with docker's bodies and output
 * (docker/cli's volume commands): names printed as docker prints them,
 * `ls` with its table, `-q`, `--format` and filters, `prune` with docker's
 * warning (`-a` for named volumes too, as docker's on API 1.42+).
 */
import { confirm, encodeFilters, removeEach, type Command } from '../command.js';
import { makeRow, renderList, type ListSpec } from '../format/formatter.js';
import { humanSize } from '../format/units.js';
import { inspectObjects } from './inspect.js';

/** One entry of GET /volumes. */
interface ApiVolume {
  Name: string;
  Driver: string;
  Scope?: string;
  Mountpoint?: string;
  CreatedAt?: string;
  Labels?: Record<string, string> | null;
}

const VOLUME_SPEC: ListSpec = {
  table: 'table {{.Driver}}\t{{.Name}}',
  quiet: '{{.Name}}',
  goType: '*volume.volumeContext',
  headers: {
    Name: 'VOLUME NAME',
    Driver: 'DRIVER',
    Scope: 'SCOPE',
    Mountpoint: 'MOUNTPOINT',
    Labels: 'LABELS',
    Links: 'LINKS',
    Size: 'SIZE',
  },
};

/** `KEY=VALUE` options into a map (a key alone maps to ""). */
function kv(list: string[]): Record<string, string> {
  const m: Record<string, string> = {};
  for (const s of list) {
    const i = s.indexOf('=');
    m[i < 0 ? s : s.slice(0, i)] = i < 0 ? '' : s.slice(i + 1);
  }
  return m;
}

/** `berth volume create`. */
export const volumeCreateCommand: Command = {
  path: 'volume create',
  use: 'volume create [OPTIONS] [VOLUME]',
  short: 'Create a volume',
  flags: [
    {
      long: 'driver',
      short: 'd',
      type: 'string',
      usage: 'Specify volume driver name',
      def: 'local',
    },
    { long: 'label', type: 'list', usage: 'Set metadata for a volume' },
    { long: 'name', type: 'string', usage: 'Specify volume name', hidden: true },
    { long: 'opt', short: 'o', type: 'list', argName: 'map', usage: 'Set driver specific options' },
  ],
  args: { max: 1 },
  async run(ctx, f) {
    const name = f.args[0] ?? f.str('name');
    if (f.args[0] && f.str('name') && f.str('name') !== f.args[0]) {
      ctx.err.write(
        `Conflicting options: either specify --name or provide positional arg, not both\n`,
      );
      return 1;
    }
    const v = await ctx.client.json<ApiVolume>('POST', '/volumes/create', {
      body: {
        Name: name,
        Driver: f.str('driver') || 'local',
        DriverOpts: kv(f.list('opt')),
        Labels: kv(f.list('label')),
      },
    });
    ctx.out.write(v.Name + '\n');
    return 0;
  },
};

/** `berth volume ls`. */
export const volumeLsCommand: Command = {
  path: 'volume ls',
  aliases: ['volume list'],
  use: 'volume ls [OPTIONS]',
  short: 'List volumes',
  flags: [
    {
      long: 'filter',
      short: 'f',
      type: 'list',
      argName: 'filter',
      usage: "Provide filter values (e.g. 'dangling=true')",
    },
    { long: 'format', type: 'string', usage: 'Format output using a custom template' },
    { long: 'quiet', short: 'q', type: 'bool', usage: 'Only display volume names' },
  ],
  args: { max: 0 },
  async run(ctx, f) {
    const r = await ctx.client.json<{ Volumes: ApiVolume[] | null }>('GET', '/volumes', {
      query: { filters: encodeFilters(f.list('filter')) },
    });
    const sorted = [...(r.Volumes ?? [])].sort((a, b) => (a.Name < b.Name ? -1 : 1));
    const rows = sorted.map((v) => {
      const labels = v.Labels ?? {};
      return makeRow(
        {
          Name: v.Name,
          Driver: v.Driver,
          Scope: v.Scope ?? '',
          Mountpoint: v.Mountpoint ?? '',
          Labels: Object.keys(labels)
            .sort()
            .map((k) => `${k}=${labels[k]}`)
            .join(','),
          Links: 'N/A',
          Size: 'N/A',
        },
        '*volume.volumeContext',
        { Label: (k: unknown) => labels[String(k)] ?? '' },
      );
    });
    let fmt = f.str('format');
    if (f.bool('quiet') && (!fmt || fmt === 'table')) fmt = VOLUME_SPEC.quiet;
    ctx.out.write(renderList(rows, VOLUME_SPEC, fmt));
    return 0;
  },
};

/** `berth volume inspect`. */
export const volumeInspectCommand: Command = {
  path: 'volume inspect',
  use: 'volume inspect [OPTIONS] VOLUME [VOLUME...]',
  short: 'Display detailed information on one or more volumes',
  flags: [
    { long: 'format', short: 'f', type: 'string', usage: 'Format output using a custom template' },
  ],
  args: { min: 1 },
  run: (ctx, f) => inspectObjects(ctx, f.args, f.str('format'), 'volume'),
};

/** `berth volume rm`. */
export const volumeRmCommand: Command = {
  path: 'volume rm',
  aliases: ['volume remove'],
  use: 'volume rm [OPTIONS] VOLUME [VOLUME...]',
  short: 'Remove one or more volumes',
  flags: [
    {
      long: 'force',
      short: 'f',
      type: 'bool',
      usage: 'Force the removal of one or more volumes',
    },
  ],
  args: { min: 1 },
  run: (ctx, f) =>
    removeEach(ctx, f.args, f.bool('force'), async (name) => {
      const query = f.bool('force') ? { force: true } : undefined;
      (await ctx.client.call('DELETE', `/volumes/${encodeURIComponent(name)}`, { query })).resume();
    }),
};

/** `berth volume prune`. */
export const volumePruneCommand: Command = {
  path: 'volume prune',
  use: 'volume prune [OPTIONS]',
  short: 'Remove unused local volumes',
  flags: [
    {
      long: 'all',
      short: 'a',
      type: 'bool',
      usage: 'Remove all unused volumes, not just anonymous ones',
    },
    {
      long: 'filter',
      type: 'list',
      argName: 'filter',
      usage: 'Provide filter values (e.g. "label=<label>")',
    },
    { long: 'force', short: 'f', type: 'bool', usage: 'Do not prompt for confirmation' },
  ],
  args: { max: 0 },
  async run(ctx, f) {
    const filters = [...f.list('filter'), ...(f.bool('all') ? ['all=true'] : [])];
    const warning = f.bool('all')
      ? 'WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?'
      : 'WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?';
    if (!f.bool('force') && !(await confirm(ctx, warning))) return 0;
    const r = await ctx.client.json<{ VolumesDeleted?: string[] | null; SpaceReclaimed?: number }>(
      'POST',
      '/volumes/prune',
      { query: { filters: encodeFilters(filters) } },
    );
    const deleted = r?.VolumesDeleted ?? [];
    if (deleted.length) {
      ctx.out.write(`Deleted Volumes:\n${deleted.map((n) => n + '\n').join('')}\n`);
    }
    ctx.out.write(`Total reclaimed space: ${humanSize(r?.SpaceReclaimed ?? 0)}\n`);
    return 0;
  },
};
