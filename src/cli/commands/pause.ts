/** `berth pause`, `berth unpause`: one API call per container, as docker's. */
import { forEachName, type Command } from '../command.js';

function pauseLike(verb: 'pause' | 'unpause', short: string): Command {
  return {
    path: verb,
    aliases: [`container ${verb}`],
    use: `${verb} CONTAINER [CONTAINER...]`,
    short,
    flags: [],
    args: { min: 1 },
    async run(ctx, f) {
      await forEachName(ctx, f.args, async (n) => {
        (await ctx.client.call('POST', `/containers/${n}/${verb}`)).resume();
      });
    },
  };
}

/** `berth pause`. */
export const pauseCommand = pauseLike('pause', 'Pause all processes within one or more containers');

/** `berth unpause`. */
export const unpauseCommand = pauseLike(
  'unpause',
  'Unpause all processes within one or more containers',
);
