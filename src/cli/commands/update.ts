/** `berth update`: new limits (and restart policy) for containers, as `docker update`. */
import { StatusError, forEachName, type Command } from '../command.js';
import { LIMIT_FLAGS, OptionError, limitFields } from '../limitopts.js';

export const updateCommand: Command = {
  path: 'update',
  aliases: ['container update'],
  use: 'update [OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Update configuration of one or more containers',
  flags: [
    ...LIMIT_FLAGS,
    { long: 'restart', type: 'string', usage: 'Restart policy to apply when a container exits' },
  ],
  args: { min: 1 },
  async run(ctx, f) {
    if (f.set.size === 0) {
      throw new StatusError(1, 'you must provide one or more flags when using this command');
    }
    let body: Record<string, unknown>;
    try {
      body = limitFields(f);
    } catch (e) {
      if (e instanceof OptionError) throw new StatusError(125, e.message);
      throw e;
    }
    if (f.has('restart')) {
      const [name = '', count] = f.str('restart').split(':');
      body.RestartPolicy = { Name: name, MaximumRetryCount: count ? Number(count) : 0 };
    }
    await forEachName(ctx, f.args, async (n) => {
      (await ctx.client.call('POST', `/containers/${n}/update`, { body })).resume();
    });
  },
};
