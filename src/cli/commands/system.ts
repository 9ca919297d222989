/** `version`, `info` and the `lab` delegate. */
import { goArch } from '../../common/arch.js';
import { CLIENT_API_VERSION } from '../client.js';
import { StatusError, errorLine, type Command } from '../command.js';
import { tabwrite } from '../format/table.js';
import { compileTemplate } from '../format/template.js';
import { goFormatG } from '../format/units.js';

/** Berth's own version. */
export const BERTH_VERSION = '0.1.0';

const VERSION_TEMPLATE = `{{with .Client -}}
Client:
 Version:\t{{.Version}}
 API version:\t{{.APIVersion}}{{if ne .APIVersion .DefaultAPIVersion}} (downgraded from {{.DefaultAPIVersion}}){{end}}
 Node version:\t{{.NodeVersion}}
 OS/Arch:\t{{.Os}}/{{.Arch}}
 Context:\t{{.Context}}
{{- end}}

{{- if .ServerOK}}{{with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:\t{{.Version}}
  API version:\t{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Go version:\t{{index .Details "GoVersion"}}
  Git commit:\t{{index .Details "GitCommit"}}
  Built:\t{{index .Details "BuildTime"}}
  OS/Arch:\t{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:\t{{index .Details "Experimental"}}
  {{- else }}
  Version:\t{{$component.Version}}
  {{- range $key, $value := .Details}}
  {{$key}}:\t{{$value}}
  {{- end}}
  {{- end}}
 {{- end}}
 {{- end}}{{- end}}`;

/** `berth version`. */
export const versionCommand: Command = {
  path: 'version',
  aliases: ['system version'],
  use: 'version [OPTIONS]',
  short: 'Show the Berth version information',
  flags: [
    { long: 'format', short: 'f', type: 'string', usage: 'Format output using a custom template' },
  ],
  args: { max: 0 },
  async run(ctx, f) {
    let server: Record<string, unknown> | undefined;
    let serverErr: unknown;
    try {
      server = await ctx.client.json<Record<string, unknown>>('GET', '/version');
    } catch (e) {
      serverErr = e;
    }
    if (server && !server['Components']) {
      server['Components'] = [{ Name: 'Engine', Version: server['Version'], Details: {} }];
    }
    for (const comp of (server?.['Components'] as
      { Details?: Record<string, unknown> }[] | undefined) ?? []) {
      if (comp.Details && typeof comp.Details['BuildTime'] === 'string')
        comp.Details['BuildTime'] = ansiDate(comp.Details['BuildTime']);
    }
    const data = {
      Client: {
        Version: BERTH_VERSION,
        APIVersion: server ? await ctx.client.apiVersion() : CLIENT_API_VERSION,
        DefaultAPIVersion: CLIENT_API_VERSION,
        NodeVersion: process.version,
        Os: process.platform,
        Arch: goArch(),
        Context: 'default',
        Platform: { Name: '' },
      },
      Server: server ?? null,
      ServerOK: Boolean(server),
    };
    const fmt = f.str('format');
    const text = fmt
      ? compileTemplate(fmt === 'json' ? '{{json .}}' : fmt).execute(data) + '\n'
      : tabwrite(compileTemplate(VERSION_TEMPLATE).execute(data) + '\n', {
          minWidth: 20,
          padding: 1,
        });
    ctx.out.write(text);
    if (serverErr) throw new StatusError(1, errorLine(serverErr));
  },
};

/** Go's time.ANSIC rendering of an RFC3339 time ("Mon Jan  1 00:00:00 2024"), as docker shows build dates. */
export function ansiDate(rfc3339: string): string {
  const ms = Date.parse(rfc3339);
  if (Number.isNaN(ms)) return rfc3339;
  const d = new Date(ms);
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getUTCDay()];
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][
    d.getUTCMonth()
  ];
  const p = (n: number): string => String(n).padStart(2, '0');
  const time = `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
  return `${day} ${mon} ${String(d.getUTCDate()).padStart(2, ' ')} ${time} ${d.getUTCFullYear()}`;
}

/** `berth info`. */
export const infoCommand: Command = {
  path: 'info',
  aliases: ['system info'],
  use: 'info [OPTIONS]',
  short: 'Display system-wide information',
  flags: [
    { long: 'format', short: 'f', type: 'string', usage: 'Format output using a custom template' },
  ],
  args: { max: 0 },
  async run(ctx, f) {
    const i = await ctx.client.json<Record<string, unknown>>('GET', '/info');
    const fmt = f.str('format');
    if (fmt) {
      ctx.out.write(compileTemplate(fmt === 'json' ? '{{json .}}' : fmt).execute(i) + '\n');
      return;
    }
    const v = (k: string): string => (i[k] === undefined || i[k] === null ? '' : String(i[k]));
    const lines = [
      'Client:',
      ' Context:    default',
      ' Debug Mode: false',
      '',
      'Server:',
      ` Containers: ${v('Containers')}`,
      `  Running: ${v('ContainersRunning')}`,
      `  Paused: ${v('ContainersPaused')}`,
      `  Stopped: ${v('ContainersStopped')}`,
      ` Images: ${v('Images')}`,
      ` Server Version: ${v('ServerVersion')}`,
      ` Storage Driver: ${v('Driver')}`,
      ` Logging Driver: ${v('LoggingDriver')}`,
      ` Cgroup Driver: ${v('CgroupDriver')}`,
      ` Cgroup Version: ${v('CgroupVersion')}`,
    ];
    const plugins = i['Plugins'] as Record<string, string[] | null> | undefined;
    if (plugins) {
      lines.push(' Plugins:');
      for (const k of ['Volume', 'Network', 'Log'])
        if (plugins[k]) lines.push(`  ${k}: ${plugins[k]!.join(' ')}`);
    }
    const swarm = i['Swarm'] as { LocalNodeState?: string } | undefined;
    lines.push(
      ` Swarm: ${swarm?.LocalNodeState ?? 'inactive'}`,
      ` Default Runtime: ${v('DefaultRuntime')}`,
    );
    const security = (i['SecurityOptions'] as string[] | null) ?? [];
    if (security.length) lines.push(' Security Options:');
    for (const so of security) {
      // "name=seccomp,profile=default": the name, then the profile under it, as docker prints
      const kv = new Map(so.split(',').map((p) => [p.split('=')[0]!, p.slice(p.indexOf('=') + 1)]));
      lines.push(`  ${kv.get('name') ?? so}`);
      if (kv.has('profile')) lines.push(`   Profile: ${kv.get('profile')}`);
    }
    lines.push(
      ` Kernel Version: ${v('KernelVersion')}`,
      ` Operating System: ${v('OperatingSystem')}`,
      ` OSType: ${v('OSType')}`,
      ` Architecture: ${v('Architecture')}`,
      ` CPUs: ${v('NCPU')}`,
      ` Total Memory: ${i['MemTotal'] ? humanBinary(Number(i['MemTotal'])) : ''}`,
      ` Name: ${v('Name')}`,
      ` ID: ${v('ID')}`,
      ` Docker Root Dir: ${v('DockerRootDir')}`,
      ` Debug Mode: ${v('Debug') || 'false'}`,
      ` Experimental: ${v('ExperimentalBuild') || 'false'}`,
      ` Live Restore Enabled: ${v('LiveRestoreEnabled') || 'false'}`,
    );
    const labels = (i['Labels'] as string[] | null) ?? [];
    if (labels.length) lines.push(' Labels:', ...labels.map((l) => `  ${l}`));
    ctx.out.write(lines.join('\n') + '\n\n');
    for (const w of (i['Warnings'] as string[] | null) ?? []) ctx.err.write(w + '\n');
  },
};

/** go-units BytesSize: base 1024, "1.941GiB". */
function humanBinary(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let s = n;
  while (s >= 1024 && i < units.length - 1) {
    s /= 1024;
    i++;
  }
  return goFormatG(s, 4) + units[i];
}

/** Loads src/lab/cli.ts's labCommand lazily so the CLI works without it. */
export async function runLab(argv: string[]): Promise<number> {
  let mod: { labCommand?: (argv: string[]) => Promise<number | void> | number | void };
  try {
    const path = '../../lab/cli.js';
    mod = (await import(path)) as typeof mod;
  } catch (e) {
    throw new StatusError(1, `berth lab is not available: ${errorLine(e)}`);
  }
  if (typeof mod.labCommand !== 'function') throw new StatusError(1, 'berth lab is not available');
  return (await mod.labCommand(argv)) ?? 0;
}
