/**
 * `docker import --change` / `docker commit --change`: Dockerfile instructions
 * applied to an image's runtime config. Only the instructions Docker accepts
 * there (its `validCommitCommands`), with its word splitting, quoting and
 * `$VAR` expansion, and its error messages.
 */
import { posix } from 'node:path';
import { invalid } from '../common/errors.js';
import { parseGoDuration } from '../common/goduration.js';
import type { ContainerConfig, HealthConfig } from './types.js';

const VALID = new Set([
  'cmd',
  'entrypoint',
  'healthcheck',
  'env',
  'expose',
  'label',
  'onbuild',
  'user',
  'volume',
  'workdir',
]);

/** One parsed instruction: lower-case keyword and the raw rest of the line. */
export interface Instruction {
  /** Lower-case keyword (`env`). */
  keyword: string;
  /** Everything after the keyword, trimmed, continuation lines joined. */
  args: string;
}

/** Splits change strings into instructions (continuations, comments and blank lines as Docker's parser). */
export function parseInstructions(changes: string[]): Instruction[] {
  const lines = changes.join('\n').split('\n');
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of lines) {
    const line = raw.replace(/\r$/, '');
    if (pending === '' && /^\s*(#|$)/.test(line)) continue;
    if (/\\\s*$/.test(line)) {
      pending += line.replace(/\\\s*$/, '');
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s*([\s\S]*)$/.exec(full);
    if (m) out.push({ keyword: (m[1] as string).toLowerCase(), args: (m[2] as string).trim() });
  }
  if (pending.trim() !== '') {
    const m = /^(\S+)\s*([\s\S]*)$/.exec(pending.trim());
    if (m) out.push({ keyword: (m[1] as string).toLowerCase(), args: (m[2] as string).trim() });
  }
  return out;
}

/** Splits `s` into raw words at unquoted whitespace, keeping quotes and escapes. */
export function rawWords(s: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (quote === null && /\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      continue;
    }
    inWord = true;
    cur += c;
    if (c === '\\' && quote !== "'" && i + 1 < s.length) {
      cur += s[++i] as string;
    } else if (quote === null && (c === '"' || c === "'")) {
      quote = c;
    } else if (c === quote) {
      quote = null;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** Index of the first `=` outside quotes in a raw word, or -1. */
function unquotedEquals(word: string): number {
  let quote: string | null = null;
  for (let i = 0; i < word.length; i++) {
    const c = word[i] as string;
    if (c === '\\' && quote !== "'") i++;
    else if (quote === null && (c === '"' || c === "'")) quote = c;
    else if (c === quote) quote = null;
    else if (c === '=' && quote === null) return i;
  }
  return -1;
}

/** Removes quotes and escapes from a raw word and expands `$VAR`, `${VAR}`, `${VAR:-x}`, `${VAR:+x}`. */
export function processWord(word: string, env: Map<string, string>): string {
  let out = '';
  let quote: string | null = null;
  for (let i = 0; i < word.length; i++) {
    const c = word[i] as string;
    if (quote === "'") {
      if (c === "'") quote = null;
      else out += c;
    } else if (c === '\\' && i + 1 < word.length) {
      const next = word[i + 1] as string;
      if (quote === '"' && !['"', '\\', '$'].includes(next)) out += c;
      else i++;
      out += next;
    } else if (quote === null && (c === '"' || c === "'")) {
      quote = c;
    } else if (quote === '"' && c === '"') {
      quote = null;
    } else if (c === '$') {
      const [value, consumed] = expandAt(word, i, env);
      out += value;
      i += consumed - 1;
    } else {
      out += c;
    }
  }
  return out;
}

/** Expands the variable starting at `word[i] === '$'`; returns the value and chars consumed. */
function expandAt(word: string, i: number, env: Map<string, string>): [string, number] {
  const rest = word.slice(i + 1);
  const simple = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
  if (simple) return [env.get(simple[0]) ?? '', 1 + simple[0].length];
  if (!rest.startsWith('{')) return ['$', 1];
  const close = rest.indexOf('}');
  if (close === -1) throw invalid(`missing '}' in '${word}'`);
  const inner = rest.slice(1, close);
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([\s\S]*))?$/.exec(inner);
  if (!m) throw invalid(`bad substitution: '\${${inner}}'`);
  const value = env.get(m[1] as string);
  let result = value ?? '';
  if (m[2] === '-' && !value) result = processWord(m[3] ?? '', env);
  if (m[2] === '+') result = value ? processWord(m[3] ?? '', env) : '';
  return [result, 2 + close];
}

/** Key/value pairs of ENV and LABEL (`k=v k2="v 2"` or the legacy `k rest of line`). */
function parseKeyValues(name: string, args: string, env: Map<string, string>): [string, string][] {
  const words = rawWords(args);
  if (words.length === 0) throw invalid(`${name} requires at least one argument`);
  const first = words[0] as string;
  if (unquotedEquals(first) === -1) {
    if (words.length < 2) throw invalid(`${name} must have two arguments`);
    const value = args.slice(first.length).trim();
    return [[processWord(first, env), processWord(value, env)]];
  }
  return words.map((w) => {
    const eq = unquotedEquals(w);
    if (eq === -1) {
      throw invalid(`Syntax error - can't find = in "${w}". Must be of the form: name=value`);
    }
    const key = processWord(w.slice(0, eq), env);
    if (key === '') throw invalid(`${name} names can not be blank`);
    return [key, processWord(w.slice(eq + 1), env)];
  });
}

/** JSON exec form (`["a","b"]`) when the args parse as a string array, else undefined. */
function jsonForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const v: unknown = JSON.parse(args);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    // not JSON: shell form
  }
  return undefined;
}

/** Exec or shell form of CMD / ENTRYPOINT / HEALTHCHECK CMD. */
function commandForm(args: string): string[] {
  return jsonForm(args) ?? ['/bin/sh', '-c', args];
}

/** A Go duration (`1m30s`) in nanoseconds; 400 naming it when it is not one. */
export function parseDuration(s: string): number {
  const ns = parseGoDuration(s);
  if (ns === undefined || ns < 0) throw invalid(`time: invalid duration ${JSON.stringify(s)}`);
  return ns;
}

function parseHealthcheck(args: string): HealthConfig {
  let rest = args;
  const hc: HealthConfig = { Test: [] };
  for (;;) {
    const m = /^--([a-z-]+)=(\S*)\s*/.exec(rest);
    if (!m) break;
    rest = rest.slice(m[0].length);
    const [, flag, value] = m as unknown as [string, string, string];
    if (flag === 'retries') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw invalid(`invalid retries value: ${value}`);
      hc.Retries = n;
    } else if (flag === 'interval') hc.Interval = parseDuration(value);
    else if (flag === 'timeout') hc.Timeout = parseDuration(value);
    else if (flag === 'start-period') hc.StartPeriod = parseDuration(value);
    else throw invalid(`Unknown flag: ${flag}`);
  }
  const m = /^(\S+)\s*([\s\S]*)$/.exec(rest);
  const kind = (m?.[1] ?? '').toUpperCase();
  if (kind === 'NONE') {
    if ((m?.[2] ?? '') !== '') throw invalid('HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  if (kind !== 'CMD') throw invalid(`Unknown type "${kind}" in HEALTHCHECK (try CMD)`);
  const cmd = m?.[2] ?? '';
  if (cmd === '') throw invalid('Missing command after HEALTHCHECK CMD');
  const exec = jsonForm(cmd);
  hc.Test = exec ? ['CMD', ...exec] : ['CMD-SHELL', cmd];
  return hc;
}

const PORT_RE = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i;

function exposedPorts(spec: string): string[] {
  const m = PORT_RE.exec(spec);
  if (!m) throw invalid(`Invalid containerPort: ${spec}`);
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  if (start < 0 || end > 65535 || end < start)
    throw invalid(`Invalid range specified for the Port: ${spec}`);
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  return out;
}

function envMap(config: ContainerConfig): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of config.Env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) m.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return m;
}

/** Returns `config` with the changes applied (the input is not modified). */
export function applyChanges(config: ContainerConfig, changes: string[]): ContainerConfig {
  const c: ContainerConfig = structuredClone(config);
  const instructions = parseInstructions(changes);
  for (const ins of instructions) {
    if (!VALID.has(ins.keyword)) throw invalid(`${ins.keyword} is not a valid change command`);
  }
  let cmdSet = false;
  for (const { keyword, args } of instructions) {
    const name = keyword.toUpperCase();
    const env = envMap(c);
    switch (keyword) {
      case 'env': {
        const list = [...(c.Env ?? [])];
        for (const [k, v] of parseKeyValues(name, args, env)) {
          const i = list.findIndex((e) => e.split('=', 1)[0] === k);
          if (i >= 0) list[i] = `${k}=${v}`;
          else list.push(`${k}=${v}`);
          env.set(k, v);
        }
        c.Env = list;
        break;
      }
      case 'label':
        c.Labels = { ...(c.Labels ?? {}), ...Object.fromEntries(parseKeyValues(name, args, env)) };
        break;
      case 'cmd':
        if (args === '') throw invalid('CMD requires at least one argument');
        c.Cmd = commandForm(args);
        cmdSet = true;
        break;
      case 'entrypoint':
        c.Entrypoint = args === '' ? null : commandForm(args);
        if (!cmdSet) c.Cmd = null;
        break;
      case 'workdir': {
        const words = rawWords(args);
        if (words.length !== 1) throw invalid('WORKDIR requires exactly one argument');
        const dir = processWord(words[0] as string, env);
        c.WorkingDir = posix.resolve(c.WorkingDir || '/', dir);
        break;
      }
      case 'user': {
        const words = rawWords(args);
        if (words.length !== 1) throw invalid('USER requires exactly one argument');
        c.User = processWord(words[0] as string, env);
        break;
      }
      case 'expose': {
        const words = rawWords(args);
        if (words.length === 0) throw invalid('EXPOSE requires at least one argument');
        const ports: Record<string, object> = { ...(c.ExposedPorts ?? {}) };
        for (const w of words) for (const p of exposedPorts(processWord(w, env))) ports[p] = {};
        c.ExposedPorts = ports;
        break;
      }
      case 'volume': {
        const list = jsonForm(args) ?? rawWords(args).map((w) => processWord(w, env));
        if (list.length === 0) throw invalid('VOLUME requires at least one argument');
        const vols: Record<string, object> = { ...(c.Volumes ?? {}) };
        for (const v of list) {
          if (v.trim() === '') throw invalid('VOLUME specified can not be an empty string');
          vols[v] = {};
        }
        c.Volumes = vols;
        break;
      }
      case 'healthcheck':
        c.Healthcheck = parseHealthcheck(args);
        break;
      case 'onbuild': {
        const m = /^(\S+)\s*([\s\S]*)$/.exec(args);
        if (!m) throw invalid('ONBUILD requires at least one argument');
        const trigger = (m[1] as string).toUpperCase();
        if (trigger === 'ONBUILD')
          throw invalid("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        if (trigger === 'FROM' || trigger === 'MAINTAINER') {
          throw invalid(`${trigger} isn't allowed as an ONBUILD trigger`);
        }
        c.OnBuild = [...(c.OnBuild ?? []), `${trigger} ${m[2] as string}`.trim()];
        break;
      }
    }
  }
  return c;
}
