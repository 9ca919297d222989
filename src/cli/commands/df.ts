/** `berth system df` (-v, --format): docker's DiskUsageContext over GET /system/df. */
import { StatusError, type Command } from '../command.js';
import { makeRow, renderList, type ListSpec, type Row } from '../format/formatter.js';
import { humanSize } from '../format/units.js';
import { imageRows, type ApiImage } from './images.js';
import { containerRow, type ApiContainer } from './ps.js';

/** GET /system/df. */
interface DiskUsage {
  LayersSize?: number;
  Images?: ApiImage[] | null;
  Containers?: ApiContainer[] | null;
  Volumes?: Array<{ Name: string; UsageData?: { Size: number; RefCount: number } | null }> | null;
  BuildCache?: unknown[] | null;
}

/** Sizes as docker's disk usage prints them (four significant digits). */
const h4 = (n: number): string => humanSize(n, 4);

const percentOf = (part: number, total: number): string =>
  total > 0 ? `${h4(part)} (${Math.floor((part * 100) / total)}%)` : h4(part);

/** The summary rows of `system df`, as docker's DiskUsageContext. */
export function dfSummary(du: DiskUsage): Row[] {
  const images = du.Images ?? [];
  const containers = du.Containers ?? [];
  const volumes = du.Volumes ?? [];
  const layers = du.LayersSize ?? 0;
  const usedByImages = images
    .filter(
      (i) => (i.Containers ?? 0) !== 0 && (i.Size ?? -1) !== -1 && (i.SharedSize ?? -1) !== -1,
    )
    .reduce((n, i) => n + (i.Size ?? 0) - (i.SharedSize ?? 0), 0);
  const active = (c: ApiContainer) => c.State === 'running' || c.State === 'paused';
  const cSize = containers.reduce((n, c) => n + (c.SizeRw ?? 0), 0);
  const cFree = containers.filter((c) => !active(c)).reduce((n, c) => n + (c.SizeRw ?? 0), 0);
  const vSize = volumes.reduce((n, v) => n + Math.max(v.UsageData?.Size ?? 0, 0), 0);
  const vFree = volumes
    .filter((v) => (v.UsageData?.RefCount ?? 0) === 0)
    .reduce((n, v) => n + Math.max(v.UsageData?.Size ?? 0, 0), 0);
  const row = (Type: string, total: number, act: number, size: string, rec: string) =>
    makeRow(
      { Type, TotalCount: String(total), Active: String(act), Size: size, Reclaimable: rec },
      '*formatter.diskUsageContext',
    );
  return [
    row(
      'Images',
      images.length,
      images.filter((i) => (i.Containers ?? 0) > 0).length,
      h4(layers),
      percentOf(layers - usedByImages, layers),
    ),
    row(
      'Containers',
      containers.length,
      containers.filter(active).length,
      h4(cSize),
      percentOf(cFree, cSize),
    ),
    row(
      'Local Volumes',
      volumes.length,
      volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length,
      h4(vSize),
      percentOf(vFree, vSize),
    ),
    row('Build Cache', (du.BuildCache ?? []).length, 0, '0B', '0B'),
  ];
}

const DF_SPEC: ListSpec = {
  table: 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}',
  quiet: '{{.Type}}',
  goType: '*formatter.diskUsageContext',
  headers: {
    Type: 'TYPE',
    TotalCount: 'TOTAL',
    Active: 'ACTIVE',
    Size: 'SIZE',
    Reclaimable: 'RECLAIMABLE',
  },
};

const spec = (table: string, headers: Record<string, string>): ListSpec => ({
  table,
  quiet: '',
  goType: '',
  headers,
});

/** `berth system df`. */
export const systemDfCommand: Command = {
  path: 'system df',
  use: 'system df [OPTIONS]',
  short: 'Show Berth disk usage',
  flags: [
    { long: 'format', type: 'string', usage: 'Format output using a custom template' },
    {
      long: 'verbose',
      short: 'v',
      type: 'bool',
      usage: 'Show detailed information on space usage',
    },
  ],
  args: { max: 0 },
  async run(ctx, f) {
    const du = await ctx.client.json<DiskUsage>('GET', '/system/df');
    if (!f.bool('verbose')) {
      ctx.out.write(renderList(dfSummary(du), DF_SPEC, f.str('format')));
      return;
    }
    if (f.str('format'))
      throw new StatusError(1, 'the --format and --verbose flags cannot be combined');
    const images = (du.Images ?? []).flatMap((i) => imageRows(i, true, false));
    ctx.out.write('Images space usage:\n\n');
    ctx.out.write(
      renderList(
        images,
        spec(
          'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}',
          {
            Repository: 'REPOSITORY',
            Tag: 'TAG',
            ID: 'IMAGE ID',
            CreatedSince: 'CREATED',
            Size: 'SIZE',
            SharedSize: 'SHARED SIZE',
            UniqueSize: 'UNIQUE SIZE',
            Containers: 'CONTAINERS',
          },
        ),
        undefined,
      ),
    );
    ctx.out.write('\nContainers space usage:\n\n');
    const containers = (du.Containers ?? []).map((c) => {
      const r = containerRow(c, true);
      r.Size = humanSize(c.SizeRw ?? 0);
      return r;
    });
    ctx.out.write(
      renderList(
        containers,
        spec(
          'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}',
          {
            ID: 'CONTAINER ID',
            Image: 'IMAGE',
            Command: 'COMMAND',
            LocalVolumes: 'LOCAL VOLUMES',
            Size: 'SIZE',
            RunningFor: 'CREATED',
            Status: 'STATUS',
            Names: 'NAMES',
          },
        ),
        undefined,
      ),
    );
    ctx.out.write('\nLocal Volumes space usage:\n\n');
    const volumes = (du.Volumes ?? []).map((v) =>
      makeRow(
        {
          Name: v.Name,
          Links: String(v.UsageData?.RefCount ?? 0),
          Size: humanSize(Math.max(v.UsageData?.Size ?? 0, 0)),
        },
        '',
      ),
    );
    ctx.out.write(
      renderList(
        volumes,
        spec('table {{.Name}}\t{{.Links}}\t{{.Size}}', {
          Name: 'VOLUME NAME',
          Links: 'LINKS',
          Size: 'SIZE',
        }),
        undefined,
      ),
    );
    ctx.out.write('\nBuild cache usage: 0B\n\n');
    ctx.out.write(
      renderList(
        [],
        spec(
          'table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}',
          {
            ID: 'CACHE ID',
            CacheType: 'CACHE TYPE',
            Size: 'SIZE',
            CreatedSince: 'CREATED',
            LastUsedSince: 'LAST USED',
            UsageCount: 'USAGE',
            Shared: 'SHARED',
          },
        ),
        undefined,
      ),
    );
  },
};
