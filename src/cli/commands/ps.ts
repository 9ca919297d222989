/** `berth ps`: docker's container list, columns, truncation and --format. */
import { encodeFilters, type Command } from '../command.js';
import {
  ellipsis,
  formatUses,
  goQuote,
  makeRow,
  renderList,
  truncateID,
  type ListSpec,
  type Row,
} from '../format/formatter.js';
import { goTimeString, humanSize, sinceUnix } from '../format/units.js';
import { parseReference } from '../reference.js';

/** A port as GET /containers/json reports it. */
export interface ApiPort {
  /** Host address ("" when not published). */
  IP?: string;
  /** Container port. */
  PrivatePort: number;
  /** Host port (0/absent when not published). */
  PublicPort?: number;
  /** tcp, udp or sctp. */
  Type: string;
}

/** One entry of GET /containers/json. */
export interface ApiContainer {
  /** Full ID. */
  Id: string;
  /** Names with a leading "/". */
  Names?: string[];
  /** Image as the user named it. */
  Image?: string;
  /** Image ID. */
  ImageID?: string;
  /** Command line as one string. */
  Command?: string;
  /** Creation time, unix seconds. */
  Created?: number;
  /** Exposed/published ports. */
  Ports?: ApiPort[];
  /** Labels. */
  Labels?: Record<string, string> | null;
  /** running, exited, created... */
  State?: string;
  /** "Up 2 minutes". */
  Status?: string;
  /** Writable layer size (with size=1). */
  SizeRw?: number;
  /** Total size (with size=1). */
  SizeRootFs?: number;
  /** Networks by name. */
  NetworkSettings?: { Networks?: Record<string, unknown> | null } | null;
  /** Mounts. */
  Mounts?: { Name?: string; Source?: string; Driver?: string }[] | null;
}

const strcmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const joinHostPort = (ip: string, port: number): string =>
  ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;

/** Docker's PORTS column: consecutive ports grouped, published ports as ip:host->ctr/proto. */
export function displayablePorts(ports: ApiPort[]): string {
  const sorted = [...ports].sort(
    (a, b) =>
      a.PrivatePort - b.PrivatePort ||
      strcmp(a.IP ?? '', b.IP ?? '') ||
      (a.PublicPort ?? 0) - (b.PublicPort ?? 0) ||
      strcmp(a.Type, b.Type),
  );
  const groups = new Map<string, { first: number; last: number }>();
  const result: string[] = [];
  const hostMappings: string[] = [];
  const formGroup = (key: string, g: { first: number; last: number }): string => {
    const slash = key.lastIndexOf('/');
    const ip = slash >= 0 ? key.slice(0, slash) : '';
    const type = slash >= 0 ? key.slice(slash + 1) : key;
    let group = g.first === g.last ? `${g.first}` : `${g.first}-${g.last}`;
    if (ip) group = `${ip}:${group}->${group}`;
    return `${group}/${type}`;
  };
  for (const p of sorted) {
    const cur = p.PrivatePort;
    let key = p.Type;
    if (p.IP) {
      if ((p.PublicPort ?? 0) !== cur) {
        hostMappings.push(`${joinHostPort(p.IP, p.PublicPort ?? 0)}->${cur}/${p.Type}`);
        continue;
      }
      key = `${p.IP}/${p.Type}`;
    }
    const g = groups.get(key);
    if (!g) {
      groups.set(key, { first: cur, last: cur });
      continue;
    }
    if (cur === g.last + 1) {
      g.last = cur;
      continue;
    }
    result.push(formGroup(key, g));
    groups.set(key, { first: cur, last: cur });
  }
  for (const [k, g] of groups) result.push(formGroup(k, g));
  return [...result, ...hostMappings].join(', ');
}

/** The row context docker's ContainerContext exposes to templates. */
export function containerRow(c: ApiContainer, trunc: boolean, now = Date.now()): Row {
  let names = (c.Names ?? []).map((n) => n.replace(/^\//, ''));
  if (trunc) {
    const plain = names.find((n) => !n.includes('/'));
    if (plain !== undefined) names = [plain];
  }
  let image = c.Image ?? '';
  if (!image) image = '<no image>';
  else if (trunc) {
    if (c.ImageID && truncateID(c.ImageID) === truncateID(image)) image = truncateID(image);
    else {
      try {
        const r = parseReference(image);
        if (r && !r.digest) image = r.tag ? `${r.name}:${r.tag}` : r.name;
        else if (r?.digest) image = r.tag ? `${r.name}:${r.tag}` : r.name;
      } catch {
        // Leave unparsable names as the daemon gave them.
      }
    }
  }
  const labels = c.Labels ?? {};
  const mounts = (c.Mounts ?? []).map((m) => {
    const n = m.Name || m.Source || '';
    return trunc ? ellipsis(n, 15) : n;
  });
  const size =
    humanSize(c.SizeRw ?? 0) +
    ((c.SizeRootFs ?? 0) > 0 ? ` (virtual ${humanSize(c.SizeRootFs ?? 0)})` : '');
  const fields: Row = {
    Command: goQuote(trunc ? ellipsis(c.Command ?? '', 20) : (c.Command ?? '')),
    CreatedAt: goTimeString((c.Created ?? 0) * 1000),
    ID: trunc ? truncateID(c.Id) : c.Id,
    Image: image,
    Labels: Object.keys(labels)
      .sort()
      .map((k) => `${k}=${labels[k]}`)
      .join(','),
    LocalVolumes: String((c.Mounts ?? []).filter((m) => m.Driver === 'local').length),
    Mounts: mounts.join(','),
    Names: names.join(','),
    Networks: Object.keys(c.NetworkSettings?.Networks ?? {})
      .sort()
      .join(','),
    Platform: null,
    Ports: displayablePorts(c.Ports ?? []),
    RunningFor: sinceUnix(c.Created ?? 0, now),
    Size: size,
    State: c.State ?? '',
    Status: c.Status ?? '',
  };
  return makeRow(fields, '*formatter.ContainerContext', {
    Label: (name: unknown) => labels[String(name)] ?? '',
  });
}

const PS_SPEC: ListSpec = {
  table:
    'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}',
  quiet: '{{.ID}}',
  goType: '*formatter.ContainerContext',
  headers: {
    ID: 'CONTAINER ID',
    Image: 'IMAGE',
    Command: 'COMMAND',
    CreatedAt: 'CREATED AT',
    RunningFor: 'CREATED',
    Status: 'STATUS',
    Ports: 'PORTS',
    Names: 'NAMES',
    Size: 'SIZE',
    Labels: 'LABELS',
    Mounts: 'MOUNTS',
    LocalVolumes: 'LOCAL VOLUMES',
    Networks: 'NETWORKS',
    State: 'STATE',
    Platform: 'PLATFORM',
  },
};

/** `berth ps`. */
export const psCommand: Command = {
  path: 'ps',
  aliases: ['container ls', 'container list', 'container ps'],
  use: 'ps [OPTIONS]',
  short: 'List containers',
  flags: [
    {
      long: 'all',
      short: 'a',
      type: 'bool',
      usage: 'Show all containers (default shows just running)',
    },
    {
      long: 'filter',
      short: 'f',
      type: 'list',
      argName: 'filter',
      usage: 'Filter output based on conditions provided',
    },
    { long: 'format', type: 'string', usage: 'Format output using a custom template' },
    {
      long: 'last',
      short: 'n',
      type: 'int',
      usage: 'Show n last created containers (includes all states)',
      def: -1,
    },
    {
      long: 'latest',
      short: 'l',
      type: 'bool',
      usage: 'Show the latest created container (includes all states)',
    },
    { long: 'no-trunc', type: 'bool', usage: "Don't truncate output" },
    { long: 'quiet', short: 'q', type: 'bool', usage: 'Only display container IDs' },
    { long: 'size', short: 's', type: 'bool', usage: 'Display total file sizes' },
  ],
  args: { max: 0 },
  async run(ctx, f) {
    const format = f.str('format');
    let limit = f.int('last');
    if (f.bool('latest')) limit = 1;
    const all = f.bool('all');
    const size =
      f.bool('size') || (!f.bool('quiet') && !f.has('size') && formatUses(format, 'Size'));
    const list = await ctx.client.json<ApiContainer[]>('GET', '/containers/json', {
      query: {
        all: all || undefined,
        filters: encodeFilters(f.list('filter')),
        limit: limit > 0 ? limit : undefined,
        size: size || undefined,
      },
    });
    const trunc = !f.bool('no-trunc');
    const rows = (list ?? []).map((c) => containerRow(c, trunc));
    let fmt = format;
    if ((!fmt || fmt === 'table') && !f.bool('quiet') && f.bool('size'))
      fmt = PS_SPEC.table + '\t{{.Size}}';
    if (f.bool('quiet') && (!fmt || fmt === 'table')) fmt = PS_SPEC.quiet;
    ctx.out.write(renderList(rows, PS_SPEC, fmt));
  },
};
