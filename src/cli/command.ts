/**
 * What every command gets (the client and the three standard streams) and
 * how commands report failure: a StatusError carries docker's exit code and
 * the text printed on stderr.
 */
import type { Readable, Writable } from 'node:stream';
import { ClientError, type EngineClient } from './client.js';
import type { FlagDef, Flags } from './flags.js';

/** The program name used in messages ("berth: ...", "See 'berth run --help'."). */
export const PROG = 'berth';

/** Standard input as the commands see it (a TTY has setRawMode). */
export type Input = Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
/** Standard output/error as the commands see them. */
export type Output = Writable & { isTTY?: boolean; columns?: number; rows?: number };

/** What a command runs with. */
export interface Ctx {
  /** The daemon connection. */
  client: EngineClient;
  /** Standard output. */
  out: Output;
  /** Standard error. */
  err: Output;
  /** Standard input. */
  in: Input;
  /** Environment (for -e K and env files). */
  env: NodeJS.ProcessEnv;
}

/** One `berth` command. */
export interface Command {
  /** Words that select it: "run", "network ls". */
  path: string;
  /** Other paths for the same command ("container run", "network list"). */
  aliases?: string[];
  /** Usage line after the program name: "run [OPTIONS] IMAGE [COMMAND] [ARG...]". */
  use: string;
  /** One-line description. */
  short: string;
  /** Accepted flags. */
  flags: FlagDef[];
  /** False for run/exec/create: flags stop at the first positional. */
  interspersed?: boolean;
  /** Positional argument count rules. */
  args?: { min?: number; max?: number };
  /** Runs the command; resolves with the exit code (undefined = 0). */
  run(ctx: Ctx, f: Flags): Promise<number | void>;
}

/** A failure with docker's exit status; `message` (if any) goes to stderr as is. */
export class StatusError extends Error {
  constructor(
    /** Process exit code. */
    readonly code: number,
    message = '',
  ) {
    super(message);
    this.name = 'StatusError';
  }
}

/** The line docker prints for an error from any step. */
export function errorLine(e: unknown): string {
  if (e instanceof ClientError) return e.display;
  return e instanceof Error ? e.message : String(e);
}

/** True for a daemon 404. */
export const isNotFound = (e: unknown): boolean => e instanceof ClientError && e.status === 404;

/**
 * `rm NAME...` as the docker CLI does it: `remove` each name in turn, its
 * name on stdout when removed, the daemon's message on stderr when not (and
 * exit status 1); with `force`, a name that does not exist is passed over.
 */
export async function removeEach(
  ctx: Ctx,
  names: readonly string[],
  force: boolean,
  remove: (name: string) => Promise<void>,
): Promise<number> {
  let status = 0;
  for (const name of names) {
    try {
      await remove(name);
      ctx.out.write(name + '\n');
    } catch (e) {
      if (force && isNotFound(e)) continue;
      ctx.err.write(errorLine(e) + '\n');
      status = 1;
    }
  }
  return status;
}

/**
 * Runs `op` for each name like docker's multi-object commands (stop, rm, kill...):
 * prints the name on success, collects errors, fails with all of them at the end.
 */
export async function forEachName(
  ctx: Ctx,
  names: string[],
  op: (name: string) => Promise<void>,
  ignore?: (e: unknown) => boolean,
): Promise<void> {
  const errs: string[] = [];
  for (const n of names) {
    try {
      await op(n);
      ctx.out.write(n + '\n');
    } catch (e) {
      if (ignore?.(e)) continue;
      errs.push(errorLine(e));
    }
  }
  if (errs.length) throw new StatusError(1, errs.join('\n'));
}

/** Reads a whole stream. */
export async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Docker's filter encoding: {"key":{"value":true}}, keys sorted. */
export function encodeFilters(list: string[]): string | undefined {
  if (!list.length) return undefined;
  const m: Record<string, Record<string, boolean>> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq < 0) throw new StatusError(1, `bad format of filter (expected name=value)`);
    const k = kv.slice(0, eq).trim().toLowerCase();
    (m[k] ??= {})[kv.slice(eq + 1).trim()] = true;
  }
  const sorted: typeof m = {};
  for (const k of Object.keys(m).sort()) sorted[k] = m[k]!;
  return JSON.stringify(sorted);
}

/** Asks "[y/N]" on stdout and reads one line of stdin (docker's PromptForConfirmation). */
export async function confirm(ctx: Ctx, message: string): Promise<boolean> {
  ctx.out.write(`${message} [y/N] `);
  const line = await new Promise<string>((resolve) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString();
      if (buf.includes('\n')) finish();
    };
    const finish = (): void => {
      ctx.in.off('data', onData);
      ctx.in.off('end', finish);
      ctx.in.pause();
      resolve(buf.split('\n')[0] ?? '');
    };
    ctx.in.on('data', onData);
    ctx.in.on('end', finish);
    ctx.in.resume();
  });
  return line.trim().toLowerCase() === 'y';
}
