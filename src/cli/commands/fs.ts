/** `berth diff` and `berth export`: a container's filesystem, as docker's. */
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { StatusError, type Command } from '../command.js';

const KINDS = ['C', 'A', 'D'];

/** `berth diff`. */
export const diffCommand: Command = {
  path: 'diff',
  aliases: ['container diff'],
  use: 'diff CONTAINER',
  short: "Inspect changes to files or directories on a container's filesystem",
  flags: [],
  args: { min: 1, max: 1 },
  async run(ctx, f) {
    const changes = await ctx.client.json<Array<{ Path: string; Kind: number }> | null>(
      'GET',
      `/containers/${f.args[0]}/changes`,
    );
    for (const c of changes ?? []) ctx.out.write(`${KINDS[c.Kind] ?? '?'} ${c.Path}\n`);
  },
};

/** `berth export`. */
export const exportCommand: Command = {
  path: 'export',
  aliases: ['container export'],
  use: 'export [OPTIONS] CONTAINER',
  short: "Export a container's filesystem as a tar archive",
  flags: [
    { long: 'output', short: 'o', type: 'string', usage: 'Write to a file, instead of STDOUT' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, f) {
    const file = f.str('output');
    if (!file && ctx.out.isTTY) {
      throw new StatusError(
        1,
        'cowardly refusing to save to a terminal. Use the -o flag or redirect',
      );
    }
    const res = await ctx.client.call('GET', `/containers/${f.args[0]}/export`);
    await pipeline(res, file ? createWriteStream(file) : ctx.out);
  },
};
