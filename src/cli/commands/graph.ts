/**
 * `berth network graph [NETWORK...]` (a Berth command, no docker one;
 * decision 0030): the daemon's `GET /berth/graph`, so it works against a
 * remote daemon too. Text is rendered here (red on a terminal), dot comes
 * from the daemon, SVG and PNG are that dot laid out by Graphviz's `dot`
 * on this machine.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { renderText, type Graph } from '../../network/graph/text.js';
import { StatusError, type Command, type Ctx } from '../command.js';

const FORMATS = ['text', 'dot', 'svg', 'png', 'json'];

/** Runs Graphviz's dot on `src`; its output, or a StatusError saying what to install. */
export function layOut(src: string, format: 'svg' | 'png', bin = 'dot'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [`-T${format}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        new StatusError(
          1,
          e.code === 'ENOENT'
            ? `--format ${format} needs Graphviz's dot command (Debian: apt-get install graphviz); --format dot prints its input`
            : `running ${bin}: ${e.message}`,
        ),
      );
    });
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else {
        const msg = Buffer.concat(err).toString().trim();
        reject(
          new StatusError(1, `${bin} -T${format} failed (exit ${code})${msg ? `: ${msg}` : ''}`),
        );
      }
    });
    child.stdin.on('error', () => undefined); // dot gone early: its exit says why
    child.stdin.end(src);
  });
}

function emit(ctx: Ctx, file: string, data: string | Buffer): void {
  if (file) writeFileSync(file, data);
  else ctx.out.write(data);
}

/** `berth network graph`. */
export const networkGraphCommand: Command = {
  path: 'network graph',
  use: 'network graph [OPTIONS] [NETWORK...]',
  short: 'Draw the networks as the store and the kernel have them, leaks in red',
  flags: [
    {
      long: 'format',
      type: 'string',
      usage: 'Output format: text, dot, svg, png (Graphviz) or json',
      def: 'text',
    },
    { long: 'output', short: 'o', type: 'string', usage: 'Write to a file, instead of STDOUT' },
  ],
  async run(ctx, f) {
    const format = f.str('format') || 'text';
    if (!FORMATS.includes(format)) {
      throw new StatusError(1, `unknown format "${format}": use one of ${FORMATS.join(', ')}`);
    }
    const file = f.str('output');
    if (format === 'png' && !file && ctx.out.isTTY) {
      throw new StatusError(
        1,
        'cowardly refusing to write a PNG to a terminal. Use the -o flag or redirect',
      );
    }
    const query = { network: f.args.length ? f.args : undefined };
    if (format === 'text' || format === 'json') {
      const text = await ctx.client.text('GET', '/berth/graph', {
        query: { ...query, format: 'json' },
      });
      if (format === 'json') return emit(ctx, file, text);
      const graph = JSON.parse(text) as Graph;
      const tty = !file && !!ctx.out.isTTY;
      const width = tty && ctx.out.columns ? Math.max(60, ctx.out.columns) : 80;
      return emit(ctx, file, renderText(graph, { width, color: tty && !ctx.env.NO_COLOR }));
    }
    const dot = await ctx.client.text('GET', '/berth/graph', {
      query: { ...query, format: 'dot' },
    });
    if (format === 'dot') return emit(ctx, file, dot);
    emit(ctx, file, await layOut(dot, format as 'svg' | 'png', ctx.env.BERTH_DOT || 'dot'));
  },
};
