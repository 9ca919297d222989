/** `berth build`: the docker CLI's classic-builder `build`, flags, output and exit codes. */
import { writeFileSync, rmSync } from 'node:fs';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { ClientError } from '../client.js';
import { StatusError, errorLine, readAll, type Command } from '../command.js';
import {
  contextFromDir,
  contextFromStdin,
  ContextError,
  type BuildContext,
} from '../buildcontext.js';
import { humanSize } from '../format/units.js';
import { parseReference, ImageReferenceError } from '../reference.js';
import { displayJSONMessages, StreamError } from '../streams.js';

/** `KEY=value`, or a bare `KEY` taking its value from the environment (unset: null). */
function buildArgs(list: string[], env: NodeJS.ProcessEnv): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const a of list) {
    const eq = a.indexOf('=');
    if (eq >= 0) out[a.slice(0, eq)] = a.slice(eq + 1);
    else out[a] = env[a] ?? null;
  }
  return out;
}

function labels(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const eq = l.indexOf('=');
    out[eq >= 0 ? l.slice(0, eq) : l] = eq >= 0 ? l.slice(eq + 1) : '';
  }
  return out;
}

/** Counts the bytes sent and prints docker's `Sending build context` line once they are. */
function counted(body: Readable, progress: NodeJS.WritableStream): Readable {
  let n = 0;
  const out = new PassThrough();
  body.on('data', (c: Buffer) => (n += c.length));
  body.on('end', () => {
    progress.write(`Sending build context to Docker daemon ${humanSize(n, 4).padStart(8)}\r\r\n`);
  });
  body.on('error', (e) => out.destroy(e));
  return body.pipe(out);
}

/** Output kept back (`-q`): shown only if the build fails. */
class Held extends Writable {
  private readonly chunks: Buffer[] = [];
  override _write(c: Buffer | string, _e: BufferEncoding, cb: () => void): void {
    this.chunks.push(Buffer.from(c));
    cb();
  }
  /** Everything written so far. */
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export const buildCommand: Command = {
  path: 'build',
  aliases: ['image build', 'builder build'],
  use: 'build [OPTIONS] PATH | URL | -',
  short: 'Build an image from a Dockerfile',
  flags: [
    { long: 'add-host', type: 'list', usage: 'Add a custom host-to-IP mapping ("host:ip")' },
    { long: 'build-arg', type: 'list', usage: 'Set build-time variables' },
    { long: 'compress', type: 'bool', usage: 'Compress the build context using gzip' },
    {
      long: 'file',
      short: 'f',
      type: 'string',
      usage: 'Name of the Dockerfile (Default is "PATH/Dockerfile")',
    },
    { long: 'force-rm', type: 'bool', usage: 'Always remove intermediate containers' },
    { long: 'iidfile', type: 'string', usage: 'Write the image ID to the file' },
    { long: 'label', type: 'list', usage: 'Set metadata for an image' },
    {
      long: 'network',
      type: 'string',
      usage: 'Set the networking mode for the RUN instructions during build',
      def: 'default',
    },
    { long: 'no-cache', type: 'bool', usage: 'Do not use cache when building the image' },
    { long: 'pull', type: 'bool', usage: 'Always attempt to pull a newer version of the image' },
    {
      long: 'quiet',
      short: 'q',
      type: 'bool',
      usage: 'Suppress the build output and print image ID on success',
    },
    {
      long: 'rm',
      type: 'bool',
      usage: 'Remove intermediate containers after a successful build',
      def: true,
    },
    {
      long: 'tag',
      short: 't',
      type: 'list',
      usage: 'Name and optionally a tag in the "name:tag" format',
    },
    { long: 'target', type: 'string', usage: 'Set the target build stage to build.' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, f) {
    const source = f.args[0] as string;
    const file = f.str('file');
    for (const t of f.list('tag')) {
      try {
        if (!parseReference(t)) throw new ImageReferenceError('invalid reference format');
      } catch (e) {
        throw new StatusError(
          125,
          `invalid argument "${t}" for "-t, --tag" flag: ${errorLine(e)}\nSee 'berth build --help'.`,
        );
      }
    }
    const iidfile = f.str('iidfile');
    if (iidfile) rmSync(iidfile, { force: true });
    let context: BuildContext;
    try {
      if (file === '-' && source === '-') {
        throw new StatusError(
          1,
          "invalid argument: can't use stdin for both build context and dockerfile",
        );
      }
      if (source === '-') context = contextFromStdin(await readAll(ctx.in), file);
      else if (/^(https?|git):\/\//.test(source) || source.startsWith('git@')) {
        throw new ContextError('remote contexts are not supported: Berth has no network access');
      } else
        context = contextFromDir(
          source,
          file === '-' ? '' : file,
          file === '-' ? await readAll(ctx.in) : undefined,
        );
    } catch (e) {
      if (e instanceof ContextError)
        throw new StatusError(1, `unable to prepare context: ${e.message}`);
      throw e;
    }
    const quiet = f.bool('quiet');
    const progBuff = new Held();
    const buildBuff = new Held();
    const failQuiet = (): void => {
      if (quiet) ctx.err.write(progBuff.text() + buildBuff.text());
    };
    const args = buildArgs(f.list('build-arg'), ctx.env);
    const lbls = labels(f.list('label'));
    let body: Readable = context.body;
    if (f.bool('compress')) body = body.pipe((await import('node:zlib')).createGzip());
    let res;
    try {
      res = await ctx.client.call('POST', '/build', {
        query: {
          buildargs: Object.keys(args).length ? JSON.stringify(args) : undefined,
          dockerfile: context.dockerfile,
          extrahosts: f.list('add-host').length ? f.list('add-host') : undefined,
          forcerm: f.bool('force-rm') || undefined,
          labels: Object.keys(lbls).length ? JSON.stringify(lbls) : undefined,
          networkmode:
            f.str('network') && f.str('network') !== 'default' ? f.str('network') : undefined,
          nocache: f.bool('no-cache') || undefined,
          pull: f.bool('pull') || undefined,
          q: quiet || undefined,
          rm: f.bool('rm') ? undefined : '0',
          t: f.list('tag').length ? f.list('tag') : undefined,
          target: f.str('target') || undefined,
          version: '1',
        },
        body: counted(body, quiet ? progBuff : ctx.out),
        contentType: 'application/x-tar',
        headers: { 'X-Registry-Config': 'e30=' },
      });
    } catch (e) {
      failQuiet();
      if (e instanceof ClientError) throw new StatusError(1, e.display);
      throw e;
    }
    let imageId = '';
    try {
      await displayJSONMessages(res, quiet ? buildBuff : ctx.out, (aux) => {
        const id = (aux as { ID?: unknown } | null)?.ID;
        if (typeof id === 'string') imageId = id;
      });
    } catch (e) {
      if (e instanceof StreamError) {
        failQuiet();
        throw new StatusError(e.code || 1, e.message);
      }
      throw e;
    }
    if (quiet) {
      // with -q the daemon's only line is the image id
      imageId = buildBuff.text();
      ctx.out.write(imageId);
    }
    if (iidfile) {
      if (!imageId)
        throw new StatusError(1, `Server did not provide an image ID. Cannot write ${iidfile}`);
      writeFileSync(iidfile, imageId);
    }
  },
};
