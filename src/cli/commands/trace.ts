/**
 * `berth network trace SRC DST[:PORT[/tcp|udp]]` (a Berth command, no
 * docker one; decision 0033): the daemon's `POST /berth/trace`, so it works
 * against a remote daemon too, which also renders the text. Prints the hops and the closing sentence;
 * exits 0 whatever the probe met (the answer is the output), like `network graph`.
 */
import { StatusError, type Command } from '../command.js';

/** `berth network trace`. */
export const networkTraceCommand: Command = {
  path: 'network trace',
  use: 'network trace [OPTIONS] SOURCE DESTINATION[:PORT[/PROTO]]',
  short: 'Show the path a probe packet takes between containers, addresses or the world',
  flags: [
    {
      long: 'format',
      type: 'string',
      usage: 'Output format: text or json',
      def: 'text',
    },
  ],
  args: { min: 2, max: 2 },
  async run(ctx, f) {
    const format = f.str('format') || 'text';
    if (format !== 'text' && format !== 'json') {
      throw new StatusError(1, `unknown format "${format}": use text or json`);
    }
    const [src = '', dst = ''] = f.args;
    // The daemon renders the text too (the CLI does not import src/network, decision 0001).
    const text = await ctx.client.text('POST', '/berth/trace', {
      body: { Source: src, Destination: dst, Format: format },
    });
    ctx.out.write(text);
  },
};
