/** Container lifecycle: start, stop, kill, restart, rm, wait, attach. */
import {
  StatusError,
  errorLine,
  forEachName,
  isNotFound,
  readAll,
  type Command,
  type Ctx,
} from '../command.js';
import { monitorTtySize, proxySignals, streamHijacked } from '../hijack.js';

interface InspectState {
  Id: string;
  Config?: { Tty?: boolean; OpenStdin?: boolean };
  HostConfig?: { AutoRemove?: boolean };
  State?: { Running?: boolean; Paused?: boolean; Restarting?: boolean; ExitCode?: number };
}

async function waitStatus(ctx: Ctx, id: string, condition?: string): Promise<Promise<number>> {
  const res = await ctx.client.call('POST', `/containers/${id}/wait`, { query: { condition } });
  return readAll(res).then((b) => {
    const r = JSON.parse(b.toString() || '{}') as {
      StatusCode?: number;
      Error?: { Message?: string } | null;
    };
    if (r.Error?.Message) {
      ctx.err.write(`Error waiting for container: ${r.Error.Message}\n`);
      return 125;
    }
    return r.StatusCode ?? 0;
  });
}

/** Attaches to a container's streams and pumps them until it closes; returns its exit status. */
async function attachAndStream(
  ctx: Ctx,
  c: InspectState,
  o: { stdin: boolean; start: boolean; detachKeys?: string; sigProxy: boolean },
): Promise<number> {
  const tty = Boolean(c.Config?.Tty);
  const stdin = o.stdin && Boolean(c.Config?.OpenStdin);
  const sock = await ctx.client.upgrade('POST', `/containers/${c.Id}/attach`, {
    query: {
      stderr: true,
      stdin: stdin || undefined,
      stdout: true,
      stream: true,
      detachKeys: o.detachKeys || undefined,
    },
    headers: { 'Content-Type': 'text/plain' },
  });
  const status = o.start
    ? await waitStatus(ctx, c.Id, c.HostConfig?.AutoRemove ? 'removed' : 'next-exit')
    : undefined;
  const streaming = streamHijacked(ctx, sock, { tty, stdin });
  const stopSignals = o.sigProxy && !tty ? proxySignals(ctx, c.Id) : () => {};
  try {
    if (o.start) {
      try {
        (await ctx.client.call('POST', `/containers/${c.Id}/start`)).resume();
      } catch (e) {
        sock.destroy();
        await streaming.catch(() => undefined);
        throw new StatusError(1, errorLine(e));
      }
    }
    const stopResize =
      tty && ctx.out.isTTY ? monitorTtySize(ctx, `/containers/${c.Id}/resize`) : () => {};
    try {
      await streaming;
    } finally {
      stopResize();
    }
    if (status) return await status;
    const after = await ctx.client.json<InspectState>('GET', `/containers/${c.Id}/json`);
    return after.State?.Running ? 0 : (after.State?.ExitCode ?? 0);
  } finally {
    stopSignals();
  }
}

/** `berth start`. */
export const startCommand: Command = {
  path: 'start',
  aliases: ['container start'],
  use: 'start [OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Start one or more stopped containers',
  flags: [
    { long: 'attach', short: 'a', type: 'bool', usage: 'Attach STDOUT/STDERR and forward signals' },
    { long: 'interactive', short: 'i', type: 'bool', usage: "Attach container's STDIN" },
    {
      long: 'detach-keys',
      type: 'string',
      usage: 'Override the key sequence for detaching a container',
    },
  ],
  args: { min: 1 },
  async run(ctx, f) {
    if (f.bool('attach') || f.bool('interactive')) {
      if (f.args.length > 1)
        throw new StatusError(1, 'you cannot start and attach multiple containers at once');
      const c = await ctx.client.json<InspectState>('GET', `/containers/${f.args[0]}/json`);
      return attachAndStream(ctx, c, {
        stdin: f.bool('interactive'),
        start: true,
        detachKeys: f.str('detach-keys'),
        sigProxy: true,
      });
    }
    const failed: string[] = [];
    for (const n of f.args) {
      try {
        (await ctx.client.call('POST', `/containers/${n}/start`)).resume();
        ctx.out.write(n + '\n');
      } catch (e) {
        ctx.err.write(errorLine(e) + '\n');
        failed.push(n);
      }
    }
    if (failed.length)
      throw new StatusError(1, `Error: failed to start containers: ${failed.join(', ')}`);
  },
};

/** `berth stop` and `berth restart`: the same flags, one API call per container. */
function stopLike(verb: 'stop' | 'restart', short: string): Command {
  return {
    path: verb,
    aliases: [`container ${verb}`],
    use: `${verb} [OPTIONS] CONTAINER [CONTAINER...]`,
    short,
    flags: [
      { long: 'signal', short: 's', type: 'string', usage: 'Signal to send to the container' },
      {
        long: 'time',
        short: 't',
        type: 'int',
        usage: 'Seconds to wait before killing the container',
      },
    ],
    args: { min: 1 },
    async run(ctx, f) {
      const query = {
        signal: f.str('signal') || undefined,
        t: f.has('time') ? f.int('time') : undefined,
      };
      await forEachName(ctx, f.args, async (n) => {
        (await ctx.client.call('POST', `/containers/${n}/${verb}`, { query })).resume();
      });
    },
  };
}

/** `berth stop`. */
export const stopCommand = stopLike('stop', 'Stop one or more running containers');

/** `berth kill`. */
export const killCommand: Command = {
  path: 'kill',
  aliases: ['container kill'],
  use: 'kill [OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Kill one or more running containers',
  flags: [{ long: 'signal', short: 's', type: 'string', usage: 'Signal to send to the container' }],
  args: { min: 1 },
  async run(ctx, f) {
    const query = { signal: f.str('signal') || undefined };
    await forEachName(ctx, f.args, async (n) => {
      (await ctx.client.call('POST', `/containers/${n}/kill`, { query })).resume();
    });
  },
};

/** `berth rename`. */
export const renameCommand: Command = {
  path: 'rename',
  aliases: ['container rename'],
  use: 'rename CONTAINER NEW_NAME',
  short: 'Rename a container',
  flags: [],
  args: { min: 2, max: 2 },
  async run(ctx, f) {
    const [name, to] = f.args as [string, string];
    try {
      const q = { name: to };
      (await ctx.client.call('POST', `/containers/${name}/rename`, { query: q })).resume();
    } catch (e) {
      throw new StatusError(1, `${errorLine(e)}\nError: failed to rename container named ${name}`);
    }
  },
};

/** `berth restart`. */
export const restartCommand = stopLike('restart', 'Restart one or more containers');

/** `berth rm`. */
export const rmCommand: Command = {
  path: 'rm',
  aliases: ['container rm', 'container remove'],
  use: 'rm [OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Remove one or more containers',
  flags: [
    {
      long: 'force',
      short: 'f',
      type: 'bool',
      usage: 'Force the removal of a running container (uses SIGKILL)',
    },
    { long: 'link', short: 'l', type: 'bool', usage: 'Remove the specified link' },
    {
      long: 'volumes',
      short: 'v',
      type: 'bool',
      usage: 'Remove anonymous volumes associated with the container',
    },
  ],
  args: { min: 1 },
  async run(ctx, f) {
    const query = {
      force: f.bool('force') || undefined,
      link: f.bool('link') || undefined,
      v: f.bool('volumes') || undefined,
    };
    await forEachName(
      ctx,
      f.args,
      async (n) => {
        const name = n.replace(/^\/+/, '');
        if (!name) throw new Error('Container name cannot be empty');
        (await ctx.client.call('DELETE', `/containers/${name}`, { query })).resume();
      },
      (e) => f.bool('force') && isNotFound(e),
    );
  },
};

/** `berth wait`. */
export const waitCommand: Command = {
  path: 'wait',
  aliases: ['container wait'],
  use: 'wait CONTAINER [CONTAINER...]',
  short: 'Block until one or more containers stop, then print their exit codes',
  flags: [],
  args: { min: 1 },
  async run(ctx, f) {
    const errs: string[] = [];
    for (const n of f.args) {
      try {
        const code = await await waitStatus(ctx, n);
        ctx.out.write(`${code}\n`);
      } catch (e) {
        errs.push(errorLine(e));
      }
    }
    if (errs.length) throw new StatusError(1, errs.join('\n'));
  },
};

/** `berth attach`. */
export const attachCommand: Command = {
  path: 'attach',
  aliases: ['container attach'],
  use: 'attach [OPTIONS] CONTAINER',
  short: 'Attach local standard input, output, and error streams to a running container',
  flags: [
    {
      long: 'detach-keys',
      type: 'string',
      usage: 'Override the key sequence for detaching a container',
    },
    { long: 'no-stdin', type: 'bool', usage: 'Do not attach STDIN' },
    {
      long: 'sig-proxy',
      type: 'bool',
      usage: 'Proxy all received signals to the process',
      def: true,
    },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, f) {
    const c = await ctx.client.json<InspectState>('GET', `/containers/${f.args[0]}/json`);
    if (!c.State?.Running)
      throw new StatusError(1, 'You cannot attach to a stopped container, start it first');
    if (c.State.Paused)
      throw new StatusError(1, 'You cannot attach to a paused container, unpause it first');
    if (c.State.Restarting)
      throw new StatusError(
        1,
        'You cannot attach to a restarting container, wait until it is running',
      );
    return attachAndStream(ctx, c, {
      stdin: !f.bool('no-stdin'),
      start: false,
      detachKeys: f.str('detach-keys'),
      sigProxy: f.bool('sig-proxy'),
    });
  },
};
