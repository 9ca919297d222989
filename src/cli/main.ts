/**
 * `berth`: a Docker-compatible command-line client of berthd. Parses the
 * global flags, picks the command, runs it and turns every failure into
 * docker's one-line message and exit code — never a stack trace.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ClientError, ConnectError, EngineClient, resolveHost } from './client.js';
import { PROG, StatusError, type Command, type Ctx, type Input, type Output } from './command.js';
import { COMMANDS, GROUPS, findCommand, groupCommands } from './commands/index.js';
import { BERTH_VERSION, runLab } from './commands/system.js';
import { FlagError, flagUsages, parseFlags, type FlagDef } from './flags.js';
import { TemplateError } from './format/template.js';

const GLOBAL_FLAGS: FlagDef[] = [
  { long: 'config', type: 'string', usage: 'Location of client config files' },
  {
    long: 'context',
    short: 'c',
    type: 'string',
    usage: 'Name of the context to use to connect to the daemon',
  },
  { long: 'debug', short: 'D', type: 'bool', usage: 'Enable debug mode' },
  { long: 'host', short: 'H', type: 'list', usage: 'Daemon socket to connect to' },
  {
    long: 'log-level',
    short: 'l',
    type: 'string',
    usage: 'Set the logging level ("debug", "info", "warn", "error", "fatal")',
    def: 'info',
  },
  { long: 'tls', type: 'bool', usage: 'Use TLS; implied by --tlsverify', hidden: true },
  { long: 'tlsverify', type: 'bool', usage: 'Use TLS and verify the remote', hidden: true },
  { long: 'version', short: 'v', type: 'bool', usage: 'Print version information and quit' },
];

/** Standard streams a run of the CLI uses (tests pass their own). */
export interface CliIO {
  /** Standard input. */
  in: Input;
  /** Standard output. */
  out: Output;
  /** Standard error. */
  err: Output;
  /** Environment. */
  env: NodeJS.ProcessEnv;
}

function usage(cmd: Command): string {
  const aliases = cmd.aliases?.length
    ? `\nAliases:\n  ${[cmd.path, ...cmd.aliases].map((a) => `${PROG} ${a}`).join(', ')}\n`
    : '';
  const opts = cmd.flags.filter((f) => !f.hidden).length
    ? `\nOptions:\n${flagUsages(cmd.flags)}\n`
    : '';
  return `\nUsage:  ${PROG} ${cmd.use}\n\n${cmd.short}\n${aliases}${opts}`;
}

function topUsage(): string {
  const pad = (s: string): string => s.padEnd(12);
  const groups = Object.entries(GROUPS).map(([g, d]) => `  ${pad(g)}${d}`);
  groups.push(`  ${pad('lab')}Manage Berth test labs (isolated namespaces)`);
  const cmds = COMMANDS.filter((c) => !c.path.includes(' '))
    .sort((a, b) => (a.path < b.path ? -1 : 1))
    .map((c) => `  ${pad(c.path)}${c.short}`);
  return (
    `\nUsage:  ${PROG} [OPTIONS] COMMAND\n\nA container engine that speaks the Docker Engine API\n\n` +
    `Options:\n${flagUsages(GLOBAL_FLAGS)}\n\nManagement Commands:\n${groups.sort().join('\n')}\n\n` +
    `Commands:\n${cmds.join('\n')}\n\nRun '${PROG} COMMAND --help' for more information on a command.\n`
  );
}

function groupUsage(group: string): string {
  const subs = groupCommands(group).map(({ name, cmd }) => `  ${name.padEnd(12)}${cmd.short}`);
  return (
    `\nUsage:  ${PROG} ${group} COMMAND\n\n${GROUPS[group]}\n\nCommands:\n${subs.join('\n')}\n\n` +
    `Run '${PROG} ${group} COMMAND --help' for more information on a command.\n`
  );
}

function plural(n: number): string {
  return n === 1 ? 'argument' : 'arguments';
}

function checkArgs(cmd: Command, path: string, n: number): void {
  const { min, max } = cmd.args ?? {};
  let what = '';
  if (max === 0 && n > 0) what = 'accepts no arguments';
  else if (min !== undefined && max !== undefined && min === max && n !== min)
    what = `requires exactly ${min} ${plural(min)}`;
  else if (min !== undefined && max !== undefined && (n < min || n > max))
    what = `requires at least ${min} and at most ${max} ${plural(max)}`;
  else if (min !== undefined && n < min) what = `requires at least ${min} ${plural(min)}`;
  else if (max !== undefined && n > max) what = `requires at most ${max} ${plural(max)}`;
  if (what)
    throw new StatusError(
      1,
      `"${PROG} ${path}" ${what}.\nSee '${PROG} ${path} --help'.\n\nUsage:  ${PROG} ${cmd.use}\n\n${cmd.short}`,
    );
}

/** Runs the CLI with argv (without node and script); resolves with the exit code. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  let client: EngineClient | undefined;
  let debug = false;
  try {
    let g;
    try {
      g = parseFlags(GLOBAL_FLAGS, argv, false);
    } catch (e) {
      throw new StatusError(125, `${(e as Error).message}\nSee '${PROG} --help'.`);
    }
    debug = g.bool('debug');
    if (g.bool('version')) {
      io.out.write(`Berth version ${BERTH_VERSION}, build node${process.versions.node}\n`);
      return 0;
    }
    const rest = g.args;
    if (g.help || rest.length === 0 || (rest[0] === 'help' && rest.length === 1)) {
      io.out.write(topUsage());
      return 0;
    }
    if (rest[0] === 'help') rest.splice(0, rest.length, ...rest.slice(1), '--help');
    if (rest[0] === 'lab') return await runLab(rest.slice(1));
    const found = findCommand(rest);
    if (!found) {
      const group = rest[0]!;
      if (GROUPS[group]) {
        if (rest.length === 1 || rest[1] === '--help') {
          io.out.write(groupUsage(group));
          return 0;
        }
        throw new StatusError(
          1,
          `${PROG}: '${group} ${rest[1]}' is not a ${PROG} command.\nSee '${PROG} ${group} --help'`,
        );
      }
      throw new StatusError(
        1,
        `${PROG}: '${group}' is not a ${PROG} command.\nSee '${PROG} --help'`,
      );
    }
    const { cmd, used } = found;
    const path = rest.slice(0, used).join(' ');
    let f;
    try {
      f = parseFlags(cmd.flags, rest.slice(used), cmd.interspersed !== false);
    } catch (e) {
      if (e instanceof FlagError)
        throw new StatusError(125, `${e.message}\nSee '${PROG} ${path} --help'.`);
      throw e;
    }
    if (f.help) {
      io.out.write(usage(cmd));
      return 0;
    }
    checkArgs(cmd, path, f.args.length);
    const hosts = g.list('host');
    if (hosts.length > 1) throw new StatusError(1, 'Specify only one -H');
    client = new EngineClient(resolveHost(hosts[0], io.env));
    const ctx: Ctx = { client, out: io.out, err: io.err, in: io.in, env: io.env };
    return (await cmd.run(ctx, f)) ?? 0;
  } catch (e) {
    return report(io, e, debug);
  } finally {
    client?.close();
  }
}

function report(io: CliIO, e: unknown, debug: boolean): number {
  if (e instanceof StatusError) {
    if (e.message) io.err.write(e.message + '\n');
    return e.code || 1;
  }
  if (e instanceof ClientError) io.err.write(e.display + '\n');
  else if (e instanceof ConnectError) io.err.write(e.message + '\n');
  else if (e instanceof TemplateError) io.err.write(`template parsing error: ${e.message}\n`);
  else if (e instanceof Error) io.err.write((debug ? e.stack : e.message) + '\n');
  else io.err.write(String(e) + '\n');
  return 1;
}

async function flushAndExit(code: number): Promise<never> {
  const drain = (s: NodeJS.WriteStream): Promise<void> =>
    new Promise((r) => s.write('', () => r()));
  await Promise.all([drain(process.stdout), drain(process.stderr)]);
  process.exit(code);
}

function isEntry(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) {
  // A closed pipe on stdout (berth ps | head) is not an error worth a trace.
  process.stdout.on('error', () => process.exit(0));
  main(process.argv.slice(2), {
    in: process.stdin,
    out: process.stdout,
    err: process.stderr,
    env: process.env,
  })
    .then(flushAndExit)
    .catch((e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      return flushAndExit(1);
    });
}
