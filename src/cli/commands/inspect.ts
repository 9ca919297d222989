/** `inspect` (container, then image, then network, then volume, like docker) and `port`. */
import { StatusError, errorLine, isNotFound, type Command, type Ctx } from '../command.js';
import { jsonIndent, TemplateError } from '../format/formatter.js';
import { compileTemplate, type Template } from '../format/template.js';

/** Fields of docker's inspect types that are Go maps: a missing key there is <no value>, not an error. */
const MAP_FIELDS: ReadonlySet<string> = new Set([
  'Labels',
  'Options',
  'Networks',
  'Ports',
  'ExposedPorts',
  'Volumes',
  'DriverOpts',
  'Containers',
  'Sysctls',
  'Tmpfs',
  'StorageOpt',
  'Details',
  'Annotations',
  'PortBindings',
  'AuxiliaryAddresses',
  'Peers',
  'Services',
  'Data',
  'Metadata',
]);

type Kind = 'container' | 'image' | 'network' | 'volume';

const PATHS: Record<Kind, (n: string) => string> = {
  container: (n) => `/containers/${encodeURIComponent(n)}/json`,
  image: (n) => `/images/${n}/json`,
  network: (n) => `/networks/${encodeURIComponent(n)}`,
  volume: (n) => `/volumes/${encodeURIComponent(n)}`,
};

async function fetchRaw(
  ctx: Ctx,
  kind: Kind,
  name: string,
  query?: Record<string, string | boolean | undefined>,
): Promise<string> {
  return ctx.client.text('GET', PATHS[kind](name), { query });
}

/**
 * Prints objects as docker inspect does: a JSON array re-indented from the
 * daemon's own bytes, or one template result per object. `kind` undefined
 * tries every kind; then a miss is "Error: No such object: x".
 */
export async function inspectObjects(
  ctx: Ctx,
  names: string[],
  format: string,
  kind?: Kind,
  opts: { size?: boolean; verbose?: boolean } = {},
): Promise<number> {
  let tmpl: Template | undefined;
  if (format) {
    try {
      tmpl = compileTemplate(format === 'json' ? '{{json .}}' : format);
    } catch (e) {
      throw new StatusError(1, `template parsing error: ${errorLine(e)}`);
    }
  }
  const raws: string[] = [];
  const errs: string[] = [];
  let out = '';
  for (const name of names) {
    let raw: string | undefined;
    const kinds: Kind[] = kind ? [kind] : ['container', 'image', 'network', 'volume'];
    try {
      for (const k of kinds) {
        try {
          const q =
            k === 'container' && opts.size
              ? { size: true }
              : k === 'network' && opts.verbose
                ? { verbose: 'true' }
                : undefined;
          raw = await fetchRaw(ctx, k, name, q);
          break;
        } catch (e) {
          if (!isNotFound(e) || kind) throw e;
        }
      }
    } catch (e) {
      errs.push(errorLine(e));
      continue;
    }
    if (raw === undefined) {
      errs.push(`Error: No such object: ${name}`);
      continue;
    }
    if (!tmpl) {
      raws.push(raw.trim());
      continue;
    }
    try {
      out += tmpl.execute(JSON.parse(raw), { strict: true, mapFields: MAP_FIELDS }) + '\n';
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      errs.push(`template parsing error: ${e.message}`);
    }
  }
  if (!tmpl) out = raws.length ? jsonIndent(`[${raws.join(',')}]`) + '\n' : '[]\n';
  // Docker's template inspector prints an empty line when nothing rendered.
  else if (out === '') out = '\n';
  ctx.out.write(out);
  if (errs.length) throw new StatusError(1, errs.join('\n'));
  return 0;
}

/** `berth inspect`. */
export const inspectCommand: Command = {
  path: 'inspect',
  use: 'inspect [OPTIONS] NAME|ID [NAME|ID...]',
  short: 'Return low-level information on Docker objects',
  flags: [
    { long: 'format', short: 'f', type: 'string', usage: 'Format output using a custom template' },
    {
      long: 'size',
      short: 's',
      type: 'bool',
      usage: 'Display total file sizes if the type is container',
    },
    { long: 'type', type: 'string', usage: 'Return JSON for specified type' },
  ],
  args: { min: 1 },
  async run(ctx, f) {
    const type = f.str('type');
    if (type && !['container', 'image', 'network', 'volume'].includes(type))
      throw new StatusError(1, `"${type}" is not a valid value for --type`);
    return inspectObjects(ctx, f.args, f.str('format'), (type || undefined) as Kind | undefined, {
      size: f.bool('size'),
    });
  },
};

/** `berth container inspect`. */
export const containerInspectCommand: Command = {
  path: 'container inspect',
  use: 'container inspect [OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Display detailed information on one or more containers',
  flags: [
    { long: 'format', short: 'f', type: 'string', usage: 'Format output using a custom template' },
    { long: 'size', short: 's', type: 'bool', usage: 'Display total file sizes' },
  ],
  args: { min: 1 },
  run: (ctx, f) =>
    inspectObjects(ctx, f.args, f.str('format'), 'container', { size: f.bool('size') }),
};

/** Go's sortorder.NaturalLess: digit runs compare as numbers. */
export function naturalLess(a: string, b: string): boolean {
  const re = /(\d+|\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    if (dx && dy) {
      const nx = x.replace(/^0+/, '');
      const ny = y.replace(/^0+/, '');
      if (nx.length !== ny.length) return nx.length < ny.length;
      if (nx !== ny) return nx < ny;
      return x.length < y.length;
    }
    return x < y;
  }
  return pa.length < pb.length;
}

const joinHostPort = (ip: string, port: string): string =>
  ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;

/** `berth port`. */
export const portCommand: Command = {
  path: 'port',
  aliases: ['container port'],
  use: 'port CONTAINER [PRIVATE_PORT[/PROTO]]',
  short: 'List port mappings or a specific mapping for the container',
  flags: [],
  args: { min: 1, max: 2 },
  async run(ctx, f) {
    const [name = '', want] = f.args;
    const c = await ctx.client.json<{
      NetworkSettings?: {
        Ports?: Record<string, { HostIp: string; HostPort: string }[] | null> | null;
      };
    }>('GET', `/containers/${encodeURIComponent(name)}/json`);
    const ports = c.NetworkSettings?.Ports ?? {};
    const out: string[] = [];
    if (want) {
      const [port = '', proto = 'tcp'] = want.split('/');
      if (!/^\d+$/.test(port) || Number(port) > 65535)
        throw new StatusError(
          1,
          `Error: invalid port (${port}): strconv.ParseUint: parsing "${port}": invalid syntax`,
        );
      const fronts = ports[`${port}/${proto || 'tcp'}`];
      if (!fronts?.length)
        throw new StatusError(1, `Error: No public port '${want}' published for ${name}`);
      for (const fr of fronts) out.push(joinHostPort(fr.HostIp, fr.HostPort));
    } else {
      for (const [from, fronts] of Object.entries(ports)) {
        for (const fr of fronts ?? [])
          out.push(`${from} -> ${joinHostPort(fr.HostIp, fr.HostPort)}`);
      }
    }
    out.sort((a, b) => (naturalLess(a, b) ? -1 : naturalLess(b, a) ? 1 : 0));
    if (out.length) ctx.out.write(out.join('\n') + '\n');
  },
};
