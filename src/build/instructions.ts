/**
 * Parsed nodes → typed instructions grouped in stages, with the checks and
 * messages of BuildKit's instruction parser as Docker 20.10 vendors it
 * (argument counts, builder flags, HEALTHCHECK options, stage names).
 * Nothing is expanded here: `$VAR`s are processed when a step runs. Pure.
 */
import { parseDuration } from '../images/changes.js';
import type { HealthConfig } from '../images/types.js';
import { DockerfileSyntaxError, type Node } from './parser.js';

/** What every instruction carries. */
interface Base {
  /** The instruction as written (trimmed), shown in `Step N/M : ...`. */
  code: string;
  /** First line in the Dockerfile (1-based; 0 for `--label` options). */
  line: number;
}

/** A key and value of ENV or LABEL (raw until expanded). */
export interface KeyValue {
  key: string;
  value: string;
}

/** A command line of RUN, CMD or ENTRYPOINT. */
export interface CmdLine {
  /** Exec form as given, or the shell form as one string. */
  cmdLine: string[];
  /** Shell form: the SHELL (default `/bin/sh -c`) goes in front. */
  prependShell: boolean;
}

/** One instruction of a stage. */
export type Instruction = Base &
  (
    | { kind: 'env'; pairs: KeyValue[] }
    | { kind: 'label'; pairs: KeyValue[]; noExpand?: boolean }
    | { kind: 'maintainer'; maintainer: string }
    | {
        kind: 'add' | 'copy';
        srcs: string[];
        dest: string;
        chown: string;
        chmod: string;
        from: string;
      }
    | { kind: 'onbuild'; expression: string }
    | { kind: 'workdir'; path: string }
    | ({ kind: 'run'; flagsUsed: string[] } & CmdLine)
    | ({ kind: 'cmd' } & CmdLine)
    | ({ kind: 'entrypoint'; empty: boolean } & CmdLine)
    | { kind: 'healthcheck'; health: HealthConfig }
    | { kind: 'expose'; ports: string[] }
    | { kind: 'user'; user: string }
    | { kind: 'volume'; volumes: string[] }
    | { kind: 'stopsignal'; signal: string }
    | { kind: 'arg'; args: ArgDef[] }
    | { kind: 'shell'; shell: string[] }
  );

/** One name of an ARG, with its default if any. */
export interface ArgDef {
  key: string;
  value?: string;
}

/** A FROM and the instructions after it. */
export interface Stage {
  /** `AS name`, lower-cased, or ''. */
  name: string;
  /** The image (raw: may hold `$VAR`s of meta ARGs). */
  baseName: string;
  /** The FROM line as written. */
  code: string;
  /** `--platform` value, or ''. */
  platform: string;
  /** 1-based line of the FROM. */
  line: number;
  /** The stage's instructions. */
  commands: Instruction[];
}

/** A Dockerfile's stages and the ARGs before the first FROM. */
export interface Dockerfile {
  stages: Stage[];
  metaArgs: Array<Instruction & { kind: 'arg' }>;
}

/** `--name=value` builder flags of one instruction, checked as BuildKit's BFlags. */
class Flags {
  private readonly defs = new Map<string, 'string' | 'strings'>();
  private readonly values = new Map<string, string[]>();

  constructor(private readonly raw: string[]) {}

  /** Declares a flag; returns a reader of its (last) value. */
  add(name: string, type: 'string' | 'strings' = 'string'): () => string {
    this.defs.set(name, type);
    return () => this.values.get(name)?.at(-1) ?? '';
  }

  /** Parses the raw flags against the declared ones. */
  parse(): void {
    for (const a of this.raw) {
      if (!a.startsWith('--')) throw new Error(`Arg should start with -- : ${a}`);
      if (a === '--') return;
      let name = a.slice(2);
      const eq = name.indexOf('=');
      const value = eq >= 0 ? name.slice(eq + 1) : undefined;
      if (eq >= 0) name = name.slice(0, eq);
      const type = this.defs.get(name);
      if (!type) throw new Error(`Unknown flag: ${name}`);
      if (this.values.has(name) && type !== 'strings') {
        throw new Error(`Duplicate flag specified: ${name}`);
      }
      if (value === undefined) throw new Error(`Missing a value on flag: ${name}`);
      this.values.set(name, [...(this.values.get(name) ?? []), value]);
    }
  }

  /** Names of the flags that were given. */
  used(): string[] {
    return [...this.values.keys()];
  }
}

const atLeastOne = (c: string): Error => new Error(`${c} requires at least one argument`);
const exactlyOne = (c: string): Error => new Error(`${c} requires exactly one argument`);
const noDestination = (c: string): Error =>
  new Error(
    `${c} requires at least two arguments, but only one was provided. Destination could not be determined`,
  );

function keyValues(args: string[], name: string): KeyValue[] {
  if (args.length === 0) throw atLeastOne(name);
  if (args.length % 2 !== 0) throw new Error(`Bad input to ${name}, too many arguments`);
  const out: KeyValue[] = [];
  for (let j = 0; j < args.length; j += 2) {
    if ((args[j] as string).length === 0) throw new Error(`${name} names can not be blank`);
    out.push({ key: args[j] as string, value: args[j + 1] as string });
  }
  return out;
}

function cmdLine(n: Node): CmdLine {
  const args = n.json ? n.args : n.args.length ? [n.args.join(' ')] : [];
  return { cmdLine: args, prependShell: !n.json };
}

/** A Go duration flag of HEALTHCHECK (0 when unset; at least 1ms). */
function interval(name: string, v: string): number {
  if (v === '') return 0;
  let ns: number;
  try {
    ns = parseDuration(v);
  } catch (e) {
    throw new Error((e as Error).message);
  }
  if (ns < 1e6) throw new Error(`Interval "${name}" cannot be less than 1ms`);
  return ns;
}

function healthcheck(n: Node, f: Flags): HealthConfig {
  if (n.args.length === 0) throw atLeastOne('HEALTHCHECK');
  const typ = (n.args[0] as string).toUpperCase();
  const rest = n.args.slice(1);
  if (typ === 'NONE') {
    if (rest.length !== 0) throw new Error('HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  const fInterval = f.add('interval');
  const fTimeout = f.add('timeout');
  const fStart = f.add('start-period');
  const fRetries = f.add('retries');
  f.parse();
  if (typ !== 'CMD')
    throw new Error(`Unknown type ${JSON.stringify(typ)} in HEALTHCHECK (try CMD)`);
  const cmd = n.json ? rest : rest.length ? [rest.join(' ')] : [];
  if (cmd.length === 0) throw new Error('Missing command after HEALTHCHECK CMD');
  const hc: HealthConfig = {
    Test: [n.json ? 'CMD' : 'CMD-SHELL', ...cmd],
    Interval: interval('interval', fInterval()),
    Timeout: interval('timeout', fTimeout()),
    StartPeriod: interval('start-period', fStart()),
    Retries: 0,
  };
  const r = fRetries();
  if (r !== '') {
    if (!/^[+-]?\d+$/.test(r))
      throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(r)}: invalid syntax`);
    const retries = Number(r);
    if (retries < 1) throw new Error(`--retries must be at least 1 (not ${retries})`);
    hc.Retries = retries;
  }
  return hc;
}

function stageName(args: string[]): string {
  if (args.length === 3 && (args[1] as string).toLowerCase() === 'as') {
    const name = (args[2] as string).toLowerCase();
    if (!/^[a-z][a-z0-9-_.]*$/.test(name)) {
      throw new Error(
        `invalid name for build stage: ${JSON.stringify(args[2])}, name can't start with a number or contain symbols`,
      );
    }
    return name;
  }
  if (args.length !== 1) throw new Error('FROM requires either one or three arguments');
  return '';
}

/** One node → a stage start or an instruction; throws with BuildKit's message. */
export function parseInstruction(n: Node): Stage | Instruction {
  const f = new Flags(n.flags);
  const base: Base = { code: n.original.trim(), line: n.startLine };
  const a = n.args;
  switch (n.value) {
    case 'env':
    case 'label': {
      f.parse();
      return { ...base, kind: n.value, pairs: keyValues(a, n.value.toUpperCase()) };
    }
    case 'maintainer':
      if (a.length !== 1) throw exactlyOne('MAINTAINER');
      f.parse();
      return { ...base, kind: 'maintainer', maintainer: a[0] as string };
    case 'add':
    case 'copy': {
      const name = n.value.toUpperCase();
      if (a.length < 2) throw noDestination(name);
      const chown = f.add('chown');
      const from = n.value === 'copy' ? f.add('from') : () => '';
      const chmod = f.add('chmod');
      f.parse();
      return {
        ...base,
        kind: n.value,
        srcs: a.slice(0, -1),
        dest: a[a.length - 1] as string,
        chown: chown(),
        chmod: chmod(),
        from: from(),
      };
    }
    case 'from': {
      const name = stageName(a);
      const platform = f.add('platform');
      f.parse();
      return {
        name,
        baseName: a[0] as string,
        code: base.code,
        platform: platform(),
        line: n.startLine,
        commands: [],
      };
    }
    case 'onbuild': {
      if (a.length === 0) throw atLeastOne('ONBUILD');
      f.parse();
      const trigger = (a[0] as string).trim().toUpperCase();
      if (trigger === 'ONBUILD')
        throw new Error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (trigger === 'MAINTAINER' || trigger === 'FROM') {
        throw new Error(`${trigger} isn't allowed as an ONBUILD trigger`);
      }
      return { ...base, kind: 'onbuild', expression: n.original.replace(/^\s*ONBUILD\s*/i, '') };
    }
    case 'workdir':
      if (a.length !== 1) throw exactlyOne('WORKDIR');
      f.parse();
      return { ...base, kind: 'workdir', path: a[0] as string };
    case 'run':
      f.add('mount', 'strings');
      f.parse();
      return { ...base, kind: 'run', flagsUsed: f.used(), ...cmdLine(n) };
    case 'cmd':
      f.parse();
      return { ...base, kind: 'cmd', ...cmdLine(n) };
    case 'entrypoint':
      f.parse();
      return { ...base, kind: 'entrypoint', empty: a.length === 0, ...cmdLine(n) };
    case 'healthcheck':
      return { ...base, kind: 'healthcheck', health: healthcheck(n, f) };
    case 'expose':
      if (a.length === 0) throw atLeastOne('EXPOSE');
      f.parse();
      return { ...base, kind: 'expose', ports: [...a].sort() };
    case 'user':
      if (a.length !== 1) throw exactlyOne('USER');
      f.parse();
      return { ...base, kind: 'user', user: a[0] as string };
    case 'volume': {
      if (a.length === 0) throw atLeastOne('VOLUME');
      f.parse();
      const volumes = a.map((v) => v.trim());
      if (volumes.some((v) => v === ''))
        throw new Error('VOLUME specified can not be an empty string');
      return { ...base, kind: 'volume', volumes };
    }
    case 'stopsignal':
      if (a.length !== 1) throw exactlyOne('STOPSIGNAL');
      return { ...base, kind: 'stopsignal', signal: a[0] as string };
    case 'arg': {
      if (a.length < 1) throw atLeastOne('ARG');
      const args = a.map((w): ArgDef => {
        const eq = w.indexOf('=');
        if (eq < 0) return { key: w };
        if (eq === 0) throw new Error('ARG names can not be blank');
        return { key: w.slice(0, eq), value: w.slice(eq + 1) };
      });
      return { ...base, kind: 'arg', args };
    }
    case 'shell': {
      f.parse();
      const shell = cmdLine(n).cmdLine;
      if (shell.length === 0) throw atLeastOne('SHELL');
      if (!n.json) throw new Error('SHELL requires the arguments to be in JSON form');
      return { ...base, kind: 'shell', shell };
    }
    default:
      throw new Error(`unknown instruction: ${n.value.toUpperCase()}`);
  }
}

/** The message Docker gives for an instruction error at `line`. */
export function lineError(line: number, message: string): DockerfileSyntaxError {
  return new DockerfileSyntaxError(`dockerfile parse error line ${line}: ${message}`, line);
}

/** Groups nodes into stages; ARGs before the first FROM are meta ARGs. */
export function parseStages(nodes: Node[]): Dockerfile {
  const stages: Stage[] = [];
  const metaArgs: Dockerfile['metaArgs'] = [];
  for (const n of nodes) {
    let v: Stage | Instruction;
    try {
      v = parseInstruction(n);
    } catch (e) {
      throw lineError(n.startLine, (e as Error).message);
    }
    if ('commands' in v) {
      stages.push(v);
      continue;
    }
    if (stages.length === 0 && v.kind === 'arg') {
      metaArgs.push(v);
      continue;
    }
    const current = stages[stages.length - 1];
    if (!current) throw lineError(n.startLine, 'no build stage in current context');
    current.commands.push(v);
  }
  return { stages, metaArgs };
}
