/** `exec` and `logs`. */
import { StatusError, type Command, type Ctx } from '../command.js';
import { monitorTtySize, streamHijacked, ttySize } from '../hijack.js';
import { copyOutput } from '../streams.js';
import { readFileSync } from 'node:fs';

function envFromFiles(ctx: Ctx, files: string[]): string[] {
  const out: string[] = [];
  for (const p of files) {
    for (const raw of readFileSync(p, 'utf8').split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      if (line.includes('=')) out.push(line);
      else if (ctx.env[line] !== undefined) out.push(`${line}=${ctx.env[line]}`);
    }
  }
  return out;
}

/** `berth exec`. */
export const execCommand: Command = {
  path: 'exec',
  aliases: ['container exec'],
  use: 'exec [OPTIONS] CONTAINER COMMAND [ARG...]',
  short: 'Run a command in a running container',
  flags: [
    {
      long: 'detach',
      short: 'd',
      type: 'bool',
      usage: 'Detached mode: run command in the background',
    },
    {
      long: 'detach-keys',
      type: 'string',
      usage: 'Override the key sequence for detaching a container',
    },
    { long: 'env', short: 'e', type: 'list', usage: 'Set environment variables' },
    { long: 'env-file', type: 'list', usage: 'Read in a file of environment variables' },
    {
      long: 'interactive',
      short: 'i',
      type: 'bool',
      usage: 'Keep STDIN open even if not attached',
    },
    { long: 'privileged', type: 'bool', usage: 'Give extended privileges to the command' },
    { long: 'tty', short: 't', type: 'bool', usage: 'Allocate a pseudo-TTY' },
    {
      long: 'user',
      short: 'u',
      type: 'string',
      usage: 'Username or UID (format: "<name|uid>[:<group|gid>]")',
    },
    {
      long: 'workdir',
      short: 'w',
      type: 'string',
      usage: 'Working directory inside the container',
    },
  ],
  interspersed: false,
  args: { min: 2 },
  async run(ctx, f) {
    const [container = '', ...cmd] = f.args;
    const detach = f.bool('detach');
    const tty = f.bool('tty');
    const stdin = f.bool('interactive') && !detach;
    const c = ctx.client;
    await c.json('GET', `/containers/${encodeURIComponent(container)}/json`);
    if (tty && stdin && !ctx.in.isTTY) throw new StatusError(1, 'the input device is not a TTY');
    const env = [
      ...envFromFiles(ctx, f.list('env-file')),
      ...f
        .list('env')
        .map((e) => (e.includes('=') || ctx.env[e] === undefined ? e : `${e}=${ctx.env[e]}`)),
    ];
    const size = ttySize(ctx);
    const consoleSize = tty && ctx.in.isTTY && (size[0] || size[1]) ? { ConsoleSize: size } : {};
    const { Id: id } = await c.json<{ Id: string }>(
      'POST',
      `/containers/${encodeURIComponent(container)}/exec`,
      {
        body: {
          User: f.str('user'),
          Privileged: f.bool('privileged'),
          Tty: tty,
          ...consoleSize,
          AttachStdin: stdin,
          AttachStderr: !detach,
          AttachStdout: !detach,
          Detach: detach,
          DetachKeys: f.str('detach-keys'),
          Env: env.length ? env : null,
          WorkingDir: f.str('workdir'),
          Cmd: cmd,
        },
      },
    );
    if (detach) {
      (await c.call('POST', `/exec/${id}/start`, { body: { Detach: true, Tty: tty } })).resume();
      return 0;
    }
    const sock = await c.upgrade('POST', `/exec/${id}/start`, {
      body: { Detach: false, Tty: tty, ...consoleSize },
    });
    const streaming = streamHijacked(ctx, sock, { tty, stdin });
    const stopResize = tty && ctx.out.isTTY ? monitorTtySize(ctx, `/exec/${id}/resize`) : () => {};
    try {
      await streaming;
    } finally {
      stopResize();
    }
    const info = await c.json<{ ExitCode?: number | null; Running?: boolean }>(
      'GET',
      `/exec/${id}/json`,
    );
    return info.ExitCode ?? 0;
  },
};

/** Go-style durations ("10m", "1h30m", "1.5s") in milliseconds, or undefined. */
export function parseGoDuration(s: string): number | undefined {
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  const unit: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60000,
    h: 3600000,
  };
  let total = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  const neg = s.startsWith('-');
  const body = neg || s.startsWith('+') ? s.slice(1) : s;
  if (body === '0') return 0;
  while ((m = re.exec(body))) {
    total += Number(m[1]) * unit[m[2]!]!;
    end = re.lastIndex;
  }
  if (end === 0 || end !== body.length) return undefined;
  return neg ? -total : total;
}

/** timetypes.GetTimestamp: a duration ago, an RFC3339 time, or a unix timestamp as is. */
export function apiTimestamp(value: string, now = Date.now()): string {
  const d = parseGoDuration(value);
  if (d !== undefined) return String(Math.floor((now - d) / 1000));
  if (/^\d+(\.\d+)?$/.test(value)) return value;
  let iso = value;
  if (/^\d{4}-\d{2}-\d{2}$/.test(iso)) iso += 'T00:00:00';
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(iso);
  const ms = Date.parse(hasZone ? iso : iso + 'Z');
  if (Number.isNaN(ms)) return value;
  const sec = Math.floor(ms / 1000);
  return `${sec}.${String((ms - sec * 1000) * 1e6).padStart(9, '0')}`;
}

/** `berth logs`. */
export const logsCommand: Command = {
  path: 'logs',
  aliases: ['container logs'],
  use: 'logs [OPTIONS] CONTAINER',
  short: 'Fetch the logs of a container',
  flags: [
    { long: 'details', type: 'bool', usage: 'Show extra details provided to logs' },
    { long: 'follow', short: 'f', type: 'bool', usage: 'Follow log output' },
    {
      long: 'since',
      type: 'string',
      usage:
        'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)',
    },
    {
      long: 'tail',
      short: 'n',
      type: 'string',
      usage: 'Number of lines to show from the end of the logs',
      def: 'all',
    },
    { long: 'timestamps', short: 't', type: 'bool', usage: 'Show timestamps' },
    {
      long: 'until',
      type: 'string',
      usage:
        'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)',
    },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, f) {
    const name = f.args[0]!;
    const c = await ctx.client.json<{ Id: string; Config?: { Tty?: boolean } }>(
      'GET',
      `/containers/${encodeURIComponent(name)}/json`,
    );
    const res = await ctx.client.call('GET', `/containers/${c.Id}/logs`, {
      query: {
        details: f.bool('details') || undefined,
        follow: f.bool('follow') || undefined,
        since: f.str('since') ? apiTimestamp(f.str('since')) : undefined,
        stderr: true,
        stdout: true,
        tail: f.str('tail'),
        timestamps: f.bool('timestamps') || undefined,
        until: f.str('until') ? apiTimestamp(f.str('until')) : undefined,
      },
    });
    await copyOutput(res, Boolean(c.Config?.Tty), ctx.out, ctx.err);
  },
};
