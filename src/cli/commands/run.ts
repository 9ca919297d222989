/**
 * `run` and `create`: build the create body, pull on a 404 like docker, then
 * (run) attach, wait, start and stream until the container exits.
 */
import { ClientError } from '../client.js';
import { PROG, StatusError, errorLine, type Command, type Ctx } from '../command.js';
import type { Flags } from '../flags.js';
import { monitorTtySize, proxySignals, streamHijacked, ttySize } from '../hijack.js';
import { PortSpecError } from '../ports.js';
import { familiarWithTag, parseReference, ImageReferenceError } from '../reference.js';
import { CONTAINER_FLAGS, OptionError, buildCreateRequest } from '../runopts.js';
import { OptionError as LimitOptionError } from '../limitopts.js';
import { displayJSONMessages, StreamError } from '../streams.js';
import { writeFileSync } from 'node:fs';

/** Docker 20.10's reportError: "berth: <msg>." plus the --help hint. */
export function reportError(name: string, msg: string, withHelp: boolean): string {
  let s = msg.replace(/\.$/, '') + '.';
  if (withHelp) s += `\nSee '${PROG} ${name} --help'.`;
  return `${PROG}: ${s}`;
}

/** Exit code of a failed create/start: 127 not found, 126 not executable, else 125. */
export function startErrorCode(msg: string): number {
  if (
    /executable file not found|no such file or directory|system cannot find the file specified/.test(
      msg,
    )
  )
    return 127;
  if (/permission denied|is a directory/.test(msg)) return 126;
  return 125;
}

async function pull(ctx: Ctx, image: string, quiet: boolean): Promise<void> {
  const ref = parseReference(image);
  if (!ref) throw new ClientError(404, `No such image: ${image}`);
  const res = await ctx.client.call('POST', '/images/create', {
    query: { fromImage: ref.name, tag: ref.digest ?? ref.tag ?? 'latest' },
  });
  const sink = quiet ? new (await import('node:stream')).PassThrough().resume() : ctx.err;
  await displayJSONMessages(res, sink);
}

/** POST /containers/create, pulling once on a 404 for a named image. Returns the ID. */
async function createContainer(
  ctx: Ctx,
  f: Flags,
  name: string,
  body: Record<string, unknown>,
): Promise<string> {
  const image = String(body['Image']);
  const ref = parseReference(image);
  const pullMode = f.str('pull') || 'missing';
  if (pullMode === 'always' && ref) await pull(ctx, image, f.bool('quiet'));
  const create = (): Promise<{ Id: string; Warnings?: string[] | null }> =>
    ctx.client.json('POST', '/containers/create', { query: { name: name || undefined }, body });
  let res: { Id: string; Warnings?: string[] | null };
  try {
    res = await create();
  } catch (e) {
    if (!(e instanceof ClientError && e.status === 404 && ref && pullMode === 'missing')) throw e;
    if (!f.bool('quiet')) ctx.err.write(`Unable to find image '${familiarWithTag(ref)}' locally\n`);
    await pull(ctx, image, f.bool('quiet'));
    res = await create();
  }
  for (const w of res.Warnings ?? []) ctx.err.write(`WARNING: ${w}\n`);
  if (f.str('cidfile')) writeFileSync(f.str('cidfile'), res.Id);
  return res.Id;
}

function validate(f: Flags, cmd: 'run' | 'create'): void {
  const pull = f.str('pull');
  if (pull && !['always', 'missing', 'never'].includes(pull))
    throw new OptionError(
      `invalid pull option: '${pull}': must be one of "always", "missing" or "never"`,
    );
  void cmd;
}

/** Prepares image, command and body; user errors become docker's "berth: ...\nSee ..." exit 125. */
function prepare(ctx: Ctx, f: Flags, cmd: 'run' | 'create', detach: boolean) {
  const [image = '', ...args] = f.args;
  try {
    validate(f, cmd);
    parseReference(image);
    const consoleSize = ttySize(ctx);
    return buildCreateRequest(f, image, args, { detach, env: ctx.env, consoleSize });
  } catch (e) {
    if (
      e instanceof OptionError ||
      e instanceof LimitOptionError ||
      e instanceof PortSpecError ||
      e instanceof ImageReferenceError
    )
      throw new StatusError(125, reportError(cmd, e.message, true));
    throw e;
  }
}

async function createOrReport(
  ctx: Ctx,
  f: Flags,
  cmd: 'run' | 'create',
  name: string,
  body: Record<string, unknown>,
) {
  try {
    return await createContainer(ctx, f, name, body);
  } catch (e) {
    const msg = e instanceof StreamError ? e.message : errorLine(e);
    throw new StatusError(cmd === 'run' ? startErrorCode(msg) : 125, reportError(cmd, msg, true));
  }
}

async function runCmd(ctx: Ctx, f: Flags): Promise<number> {
  const detach = f.bool('detach');
  const tty = f.bool('tty');
  const req = prepare(ctx, f, 'run', detach);
  const body = req.body;
  if (!detach && tty && body['AttachStdin'] && !ctx.in.isTTY)
    throw new StatusError(1, 'the input device is not a TTY');
  const id = await createOrReport(ctx, f, 'run', req.name, body);
  const c = ctx.client;
  const startFailed = (e: unknown): StatusError => {
    const msg = errorLine(e);
    return new StatusError(startErrorCode(msg), reportError('run', msg, false));
  };
  const attached = Boolean(body['AttachStdin'] || body['AttachStdout'] || body['AttachStderr']);
  if (!attached) {
    try {
      (await c.call('POST', `/containers/${id}/start`)).resume();
    } catch (e) {
      throw startFailed(e);
    }
    ctx.out.write(id + '\n');
    return 0;
  }
  const sock = await c.upgrade('POST', `/containers/${id}/attach`, {
    query: {
      stderr: body['AttachStderr'] ? true : undefined,
      stdin: body['AttachStdin'] ? true : undefined,
      stdout: body['AttachStdout'] ? true : undefined,
      stream: true,
      detachKeys: f.str('detach-keys') || undefined,
    },
    headers: { 'Content-Type': 'text/plain' },
  });
  const streaming = streamHijacked(ctx, sock, { tty, stdin: Boolean(body['AttachStdin']) });
  const autoRemove = f.bool('rm');
  // Docker sends start only once the wait request is acknowledged, so no exit is missed.
  const waitRes = await c.call('POST', `/containers/${id}/wait`, {
    query: { condition: autoRemove ? 'removed' : 'next-exit' },
  });
  const status = readStatus(waitRes, ctx);
  const stopSignals = f.has('sig-proxy') && !f.bool('sig-proxy') ? () => {} : proxySignals(ctx, id);
  try {
    try {
      (await c.call('POST', `/containers/${id}/start`)).resume();
    } catch (e) {
      sock.destroy();
      await streaming.catch(() => undefined);
      if (autoRemove) await status;
      throw startFailed(e);
    }
    const stopResize =
      tty && ctx.out.isTTY ? monitorTtySize(ctx, `/containers/${id}/resize`) : () => {};
    try {
      await streaming;
    } finally {
      stopResize();
    }
    return await status;
  } finally {
    stopSignals();
  }
}

async function readStatus(res: NodeJS.ReadableStream, ctx: Ctx): Promise<number> {
  let text = '';
  try {
    for await (const c of res) text += c.toString();
    const r = JSON.parse(text) as { StatusCode?: number; Error?: { Message?: string } | null };
    if (r.Error?.Message) {
      ctx.err.write(`Error waiting for container: ${r.Error.Message}\n`);
      return 125;
    }
    return r.StatusCode ?? 0;
  } catch (e) {
    ctx.err.write(`error waiting for container: ${errorLine(e)}\n`);
    return 125;
  }
}

const RUN_ONLY = [
  {
    long: 'detach',
    short: 'd',
    type: 'bool',
    usage: 'Run container in background and print container ID',
  },
  { long: 'sig-proxy', type: 'bool', usage: 'Proxy received signals to the process', def: true },
  {
    long: 'detach-keys',
    type: 'string',
    usage: 'Override the key sequence for detaching a container',
  },
] as const;

/** `berth run`. */
export const runCommand: Command = {
  path: 'run',
  aliases: ['container run'],
  use: 'run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  short: 'Run a command in a new container',
  flags: [...CONTAINER_FLAGS, ...RUN_ONLY.map((d) => ({ ...d }))],
  interspersed: false,
  args: { min: 1 },
  run: runCmd,
};

/** `berth create`. */
export const createCommand: Command = {
  path: 'create',
  aliases: ['container create'],
  use: 'create [OPTIONS] IMAGE [COMMAND] [ARG...]',
  short: 'Create a new container',
  flags: CONTAINER_FLAGS,
  interspersed: false,
  args: { min: 1 },
  async run(ctx, f) {
    const req = prepare(ctx, f, 'create', false);
    const id = await createOrReport(ctx, f, 'create', req.name, req.body);
    ctx.out.write(id + '\n');
  },
};
