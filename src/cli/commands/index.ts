/** The command table: every command, by path and alias. */
import type { Command } from '../command.js';
import { buildCommand } from './build.js';
import { execCommand, logsCommand } from './exec.js';
import {
  imageInspectCommand,
  imagesCommand,
  importCommand,
  loadCommand,
  rmiCommand,
  tagCommand,
} from './images.js';
import { containerInspectCommand, inspectCommand, portCommand } from './inspect.js';
import {
  attachCommand,
  killCommand,
  renameCommand,
  restartCommand,
  rmCommand,
  startCommand,
  stopCommand,
  waitCommand,
} from './lifecycle.js';
import {
  networkConnectCommand,
  networkCreateCommand,
  networkDisconnectCommand,
  networkInspectCommand,
  networkLsCommand,
  networkPruneCommand,
  networkRmCommand,
} from './network.js';
import { networkGraphCommand } from './graph.js';
import { networkTraceCommand } from './trace.js';
import { pauseCommand, unpauseCommand } from './pause.js';
import { cpCommand } from './cp.js';
import { diffCommand, exportCommand } from './fs.js';
import { psCommand } from './ps.js';
import { statsCommand, topCommand } from './top-stats.js';
import { createCommand, runCommand } from './run.js';
import {
  commitCommand,
  containerPruneCommand,
  imagePruneCommand,
  saveCommand,
  systemPruneCommand,
} from './storage.js';
import { systemDfCommand } from './df.js';
import { infoCommand, versionCommand } from './system.js';
import { updateCommand } from './update.js';
import {
  volumeCreateCommand,
  volumeInspectCommand,
  volumeLsCommand,
  volumePruneCommand,
  volumeRmCommand,
} from './volume.js';

/** All commands, in the order the top-level help lists them. */
export const COMMANDS: Command[] = [
  runCommand,
  execCommand,
  psCommand,
  imagesCommand,
  buildCommand,
  createCommand,
  startCommand,
  stopCommand,
  restartCommand,
  killCommand,
  renameCommand,
  updateCommand,
  rmCommand,
  waitCommand,
  pauseCommand,
  unpauseCommand,
  topCommand,
  statsCommand,
  diffCommand,
  exportCommand,
  cpCommand,
  commitCommand,
  attachCommand,
  logsCommand,
  inspectCommand,
  portCommand,
  importCommand,
  loadCommand,
  saveCommand,
  rmiCommand,
  tagCommand,
  versionCommand,
  infoCommand,
  systemDfCommand,
  systemPruneCommand,
  containerPruneCommand,
  imagePruneCommand,
  containerInspectCommand,
  imageInspectCommand,
  networkLsCommand,
  networkInspectCommand,
  networkCreateCommand,
  networkRmCommand,
  networkConnectCommand,
  networkDisconnectCommand,
  networkPruneCommand,
  networkGraphCommand,
  networkTraceCommand,
  volumeCreateCommand,
  volumeLsCommand,
  volumeInspectCommand,
  volumeRmCommand,
  volumePruneCommand,
];

/** Management groups ("network", "image"...) and what they manage. */
export const GROUPS: Record<string, string> = {
  container: 'Manage containers',
  image: 'Manage images',
  network: 'Manage networks',
  system: 'Manage Berth',
  volume: 'Manage volumes',
};

/** Finds the command named by the leading words of argv; returns it and how many words it used. */
export function findCommand(argv: string[]): { cmd: Command; used: number } | undefined {
  for (const used of [2, 1]) {
    if (argv.length < used) continue;
    const path = argv.slice(0, used).join(' ');
    const cmd = COMMANDS.find((c) => c.path === path || c.aliases?.includes(path));
    if (cmd) return { cmd, used };
  }
  return undefined;
}

/** Commands that belong to a group, with the name they have there. */
export function groupCommands(group: string): { name: string; cmd: Command }[] {
  const out: { name: string; cmd: Command }[] = [];
  for (const cmd of COMMANDS) {
    const path = [cmd.path, ...(cmd.aliases ?? [])].find((p) => p.startsWith(group + ' '));
    if (path && !out.some((o) => o.cmd === cmd))
      out.push({ name: path.slice(group.length + 1), cmd });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}
