/**
 * `network ls|inspect|create|rm|connect|disconnect|prune` with docker's
 * bodies and output. Size: seven subcommands, each short, sharing the flag
 * parsing and the error lines; one file per subcommand would only scatter them.
 */
import { isIP } from 'node:net';
import { StatusError, confirm, encodeFilters, removeEach, type Command } from '../command.js';
import { makeRow, renderList, truncateID, type ListSpec, type Row } from '../format/formatter.js';
import { goTimeFromRFC3339 } from '../format/units.js';
import { endpointSettings } from '../runopts.js';
import { inspectObjects, naturalLess } from './inspect.js';

/** One entry of GET /networks. */
export interface ApiNetwork {
  /** Full ID. */
  Id: string;
  /** Name. */
  Name: string;
  /** bridge, host, null, overlay... */
  Driver?: string;
  /** local, global, swarm. */
  Scope?: string;
  /** RFC3339. */
  Created?: string;
  /** IPv4 enabled (API 1.47+). */
  EnableIPv4?: boolean;
  /** IPv6 enabled. */
  EnableIPv6?: boolean;
  /** No outside access. */
  Internal?: boolean;
  /** Labels. */
  Labels?: Record<string, string> | null;
}

/** docker's networkContext for templates. */
export function networkRow(n: ApiNetwork, trunc: boolean): Row {
  const labels = n.Labels ?? {};
  return makeRow(
    {
      CreatedAt: goTimeFromRFC3339(n.Created),
      Driver: n.Driver ?? '',
      ID: trunc ? truncateID(n.Id) : n.Id,
      IPv4: String(Boolean(n.EnableIPv4)),
      IPv6: String(Boolean(n.EnableIPv6)),
      Internal: String(Boolean(n.Internal)),
      Labels: Object.keys(labels)
        .sort()
        .map((k) => `${k}=${labels[k]}`)
        .join(','),
      Name: n.Name,
      Scope: n.Scope ?? '',
    },
    '*network.networkContext',
    { Label: (k: unknown) => labels[String(k)] ?? '' },
  );
}

const NETWORK_SPEC: ListSpec = {
  table: 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}',
  quiet: '{{.ID}}',
  goType: '*network.networkContext',
  headers: {
    ID: 'NETWORK ID',
    Name: 'NAME',
    Driver: 'DRIVER',
    Scope: 'SCOPE',
    IPv4: 'IPV4',
    IPv6: 'IPV6',
    Internal: 'INTERNAL',
    Labels: 'LABELS',
    CreatedAt: 'CREATED',
  },
};

const F = (
  long: string,
  short: string | undefined,
  type: 'bool' | 'string' | 'list',
  usage: string,
  def?: string,
) => ({ long, short, type, usage, def }) as const;

/** `berth network ls`. */
export const networkLsCommand: Command = {
  path: 'network ls',
  aliases: ['network list'],
  use: 'network ls [OPTIONS]',
  short: 'List networks',
  flags: [
    {
      long: 'filter',
      short: 'f',
      type: 'list',
      argName: 'filter',
      usage: 'Provide filter values (e.g. "driver=bridge")',
    },
    F('format', undefined, 'string', 'Format output using a custom template'),
    F('no-trunc', undefined, 'bool', 'Do not truncate the output'),
    F('quiet', 'q', 'bool', 'Only display network IDs'),
  ],
  args: { max: 0 },
  async run(ctx, f) {
    const list = await ctx.client.json<ApiNetwork[]>('GET', '/networks', {
      query: { filters: encodeFilters(f.list('filter')) },
    });
    const sorted = [...(list ?? [])].sort((a, b) =>
      naturalLess(a.Name, b.Name) ? -1 : naturalLess(b.Name, a.Name) ? 1 : 0,
    );
    const rows = sorted.map((n) => networkRow(n, !f.bool('no-trunc')));
    let fmt = f.str('format');
    if (f.bool('quiet') && (!fmt || fmt === 'table')) fmt = NETWORK_SPEC.quiet;
    ctx.out.write(renderList(rows, NETWORK_SPEC, fmt));
  },
};

/** `berth network inspect`. */
export const networkInspectCommand: Command = {
  path: 'network inspect',
  use: 'network inspect [OPTIONS] NETWORK [NETWORK...]',
  short: 'Display detailed information on one or more networks',
  flags: [
    F('format', 'f', 'string', 'Format output using a custom template'),
    F('verbose', 'v', 'bool', 'Verbose output for diagnostics'),
  ],
  args: { min: 1 },
  run: (ctx, f) =>
    inspectObjects(ctx, f.args, f.str('format'), 'network', { verbose: f.bool('verbose') }),
};

function kv(list: string[]): Record<string, string> {
  const m: Record<string, string> = {};
  for (const s of list) {
    const i = s.indexOf('=');
    m[i < 0 ? s : s.slice(0, i)] = i < 0 ? '' : s.slice(i + 1);
  }
  return m;
}

function cidrContains(cidr: string, ip: string): boolean {
  const [base = '', bitsStr] = cidr.split('/');
  const toBig = (a: string): bigint | undefined => {
    if (isIP(a) === 4) return a.split('.').reduce((acc, x) => (acc << 8n) + BigInt(Number(x)), 0n);
    if (isIP(a) === 6) {
      const [h = '', t = ''] = a.split('::');
      const hs = h ? h.split(':') : [];
      const ts = a.includes('::') ? (t ? t.split(':') : []) : [];
      const groups = [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
      return groups.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g || '0', 16)), 0n);
    }
    return undefined;
  };
  const b = toBig(base);
  const x = toBig(ip.split('/')[0] ?? '');
  if (b === undefined || x === undefined || isIP(base) !== isIP(ip.split('/')[0] ?? ''))
    return false;
  const width = isIP(base) === 4 ? 32n : 128n;
  const bits = BigInt(Number(bitsStr ?? width));
  const shift = width - bits;
  return b >> shift === x >> shift;
}

/** consolidateIpam: pairs each gateway/range/aux address with the subnet containing it. */
export function consolidateIpam(
  subnets: string[],
  ranges: string[],
  gateways: string[],
  aux: Record<string, string>,
): Record<string, unknown>[] {
  if (!subnets.length) {
    if (ranges.length || gateways.length || Object.keys(aux).length)
      throw new StatusError(1, 'every ip-range or gateway must have a corresponding subnet');
    return [];
  }
  const out = subnets.map(
    (s) =>
      ({ Subnet: s }) as {
        Subnet: string;
        IPRange?: string;
        Gateway?: string;
        AuxiliaryAddresses?: Record<string, string>;
      },
  );
  for (const r of ranges) {
    const m = out.find((c) => cidrContains(c.Subnet, r));
    if (!m) throw new StatusError(1, `no matching subnet for range ${r}`);
    if (m.IPRange)
      throw new StatusError(
        1,
        `cannot configure multiple ranges (${r}, ${m.IPRange}) on the same subnet (${m.Subnet})`,
      );
    m.IPRange = r;
  }
  for (const g of gateways) {
    const m = out.find((c) => cidrContains(c.Subnet, g));
    if (!m) throw new StatusError(1, `no matching subnet for gateway ${g}`);
    if (m.Gateway)
      throw new StatusError(
        1,
        `cannot configure multiple gateways (${g}, ${m.Gateway}) for the same subnet (${m.Subnet})`,
      );
    m.Gateway = g;
  }
  for (const [k, a] of Object.entries(aux)) {
    const m = out.find((c) => cidrContains(c.Subnet, a));
    if (!m) throw new StatusError(1, `no matching subnet for aux-address ${a}`);
    (m.AuxiliaryAddresses ??= {})[k] = a;
  }
  return out;
}

/** `berth network create`. */
export const networkCreateCommand: Command = {
  path: 'network create',
  use: 'network create [OPTIONS] NETWORK',
  short: 'Create a network',
  flags: [
    F('attachable', undefined, 'bool', 'Enable manual container attachment'),
    {
      long: 'aux-address',
      type: 'list',
      argName: 'map',
      usage: 'Auxiliary IPv4 or IPv6 addresses used by Network driver',
    },
    F('config-from', undefined, 'string', 'The network from which to copy the configuration'),
    F('config-only', undefined, 'bool', 'Create a configuration only network'),
    F('driver', 'd', 'string', 'Driver to manage the Network', 'bridge'),
    {
      long: 'gateway',
      type: 'list',
      argName: 'strings',
      usage: 'IPv4 or IPv6 Gateway for the master subnet',
    },
    F('ingress', undefined, 'bool', 'Create swarm routing-mesh network'),
    F('internal', undefined, 'bool', 'Restrict external access to the network'),
    {
      long: 'ip-range',
      type: 'list',
      argName: 'strings',
      usage: 'Allocate container ip from a sub-range',
    },
    F('ipam-driver', undefined, 'string', 'IP Address Management Driver', 'default'),
    { long: 'ipam-opt', type: 'list', argName: 'map', usage: 'Set IPAM driver specific options' },
    F('ipv4', undefined, 'bool', 'Enable or disable IPv4 address assignment'),
    F('ipv6', undefined, 'bool', 'Enable or disable IPv6 address assignment'),
    F('label', undefined, 'list', 'Set metadata on a network'),
    { long: 'opt', short: 'o', type: 'list', argName: 'map', usage: 'Set driver specific options' },
    F('scope', undefined, 'string', "Control the network's scope"),
    {
      long: 'subnet',
      type: 'list',
      argName: 'strings',
      usage: 'Subnet in CIDR format that represents a network segment',
    },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, f) {
    const config = consolidateIpam(
      f.list('subnet'),
      f.list('ip-range'),
      f.list('gateway'),
      kv(f.list('aux-address')),
    );
    const body = {
      Driver: f.str('driver'),
      Scope: f.str('scope'),
      ...(f.has('ipv4') ? { EnableIPv4: f.bool('ipv4') } : {}),
      ...(f.has('ipv6') ? { EnableIPv6: f.bool('ipv6') } : {}),
      IPAM: { Driver: f.str('ipam-driver'), Options: kv(f.list('ipam-opt')), Config: config },
      Internal: f.bool('internal'),
      Attachable: f.bool('attachable'),
      Ingress: f.bool('ingress'),
      ConfigOnly: f.bool('config-only'),
      ConfigFrom: f.str('config-from') ? { Network: f.str('config-from') } : null,
      Options: kv(f.list('opt')),
      Labels: kv(f.list('label')),
      Name: f.args[0],
    };
    const res = await ctx.client.json<{ Id: string; Warning?: string }>(
      'POST',
      '/networks/create',
      { body },
    );
    if (res.Warning) ctx.err.write(`WARNING: ${res.Warning}\n`);
    ctx.out.write(res.Id + '\n');
  },
};

/** `berth network rm`. */
export const networkRmCommand: Command = {
  path: 'network rm',
  aliases: ['network remove'],
  use: 'network rm NETWORK [NETWORK...]',
  short: 'Remove one or more networks',
  flags: [F('force', 'f', 'bool', 'Do not error if the network does not exist')],
  args: { min: 1 },
  run: (ctx, f) =>
    removeEach(ctx, f.args, f.bool('force'), async (name) => {
      await ctx.client.json('GET', `/networks/${encodeURIComponent(name)}`).catch(() => undefined);
      (await ctx.client.call('DELETE', `/networks/${encodeURIComponent(name)}`)).resume();
    }),
};

/** `berth network connect`. */
export const networkConnectCommand: Command = {
  path: 'network connect',
  use: 'network connect [OPTIONS] NETWORK CONTAINER',
  short: 'Connect a container to a network',
  flags: [
    {
      long: 'alias',
      type: 'list',
      argName: 'strings',
      usage: 'Add network-scoped alias for the container',
    },
    {
      long: 'driver-opt',
      type: 'list',
      argName: 'strings',
      usage: 'driver options for the network',
    },
    F('ip', undefined, 'string', 'IPv4 address (e.g., "172.30.100.104")'),
    F('ip6', undefined, 'string', 'IPv6 address (e.g., "2001:db8::33")'),
    F('link', undefined, 'list', 'Add link to another container'),
    {
      long: 'link-local-ip',
      type: 'list',
      argName: 'strings',
      usage: 'Add a link-local address for the container',
    },
  ],
  args: { min: 2, max: 2 },
  async run(ctx, f) {
    const [net = '', container] = f.args;
    const ipam: Record<string, unknown> = {};
    if (f.str('ip')) ipam['IPv4Address'] = f.str('ip');
    if (f.str('ip6')) ipam['IPv6Address'] = f.str('ip6');
    if (f.list('link-local-ip').length) ipam['LinkLocalIPs'] = f.list('link-local-ip');
    const body = {
      Container: container,
      EndpointConfig: endpointSettings({
        ipam,
        links: f.list('link').length ? f.list('link') : null,
        aliases: f.list('alias'),
        driverOpts: kv(f.list('driver-opt')),
      }),
    };
    (
      await ctx.client.call('POST', `/networks/${encodeURIComponent(net)}/connect`, { body })
    ).resume();
  },
};

/** `berth network disconnect`. */
export const networkDisconnectCommand: Command = {
  path: 'network disconnect',
  use: 'network disconnect [OPTIONS] NETWORK CONTAINER',
  short: 'Disconnect a container from a network',
  flags: [F('force', 'f', 'bool', 'Force the container to disconnect from a network')],
  args: { min: 2, max: 2 },
  async run(ctx, f) {
    const [net = '', container] = f.args;
    const body = { Container: container, Force: f.bool('force') };
    (
      await ctx.client.call('POST', `/networks/${encodeURIComponent(net)}/disconnect`, { body })
    ).resume();
  },
};

/** `berth network prune`. */
export const networkPruneCommand: Command = {
  path: 'network prune',
  use: 'network prune [OPTIONS]',
  short: 'Remove all unused networks',
  flags: [
    {
      long: 'filter',
      type: 'list',
      argName: 'filter',
      usage: 'Provide filter values (e.g. "until=<timestamp>")',
    },
    F('force', 'f', 'bool', 'Do not prompt for confirmation'),
  ],
  args: { max: 0 },
  async run(ctx, f) {
    const warning =
      'WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?';
    if (!f.bool('force') && !(await confirm(ctx, warning))) return 0;
    const r = await ctx.client.json<{ NetworksDeleted?: string[] | null }>(
      'POST',
      '/networks/prune',
      {
        query: { filters: encodeFilters(f.list('filter')) },
      },
    );
    const deleted = r?.NetworksDeleted ?? [];
    if (deleted.length)
      ctx.out.write(`Deleted Networks:\n${deleted.map((n) => n + '\n').join('')}\n`);
    return 0;
  },
};
