/**
 * Dockerfile text → instruction nodes, with the rules of the parser Docker
 * 20.10's classic builder vendors from BuildKit: parser directives
 * (`# escape=`), comments, line continuations (also across comment and
 * empty lines, with its warning), builder flags (`--chown=...`), and each
 * instruction's own argument syntax (JSON exec form, `key=value` pairs,
 * whitespace-separated words, ONBUILD's inner instruction). Words keep their
 * quotes here; variables are expanded when an instruction runs. Pure.
 */

/** One instruction as written. */
export interface Node {
  /** Lower-case keyword (`run`); unknown keywords are kept (the instruction parser rejects them). */
  value: string;
  /** The instruction's text, continuation lines joined. */
  original: string;
  /** Builder flags (`--from=build`) given before the arguments, not yet checked. */
  flags: string[];
  /** Arguments, raw (quotes kept) unless the JSON form was used. */
  args: string[];
  /** Whether the arguments were a JSON array (exec form). */
  json: boolean;
  /** ONBUILD's inner instruction. */
  sub?: Node;
  /** First line (1-based). */
  startLine: number;
  /** Last line (1-based). */
  endLine: number;
}

/** What parsing a Dockerfile gives. */
export interface ParseResult {
  /** The instructions in order. */
  nodes: Node[];
  /** The escape token (`\` or a backtick). */
  escapeToken: string;
  /** Warnings Docker prints before the build (empty continuation lines). */
  warnings: string[];
}

/** A syntax error; `line` is where it was found (0 when it has no place). */
export class DockerfileSyntaxError extends Error {
  constructor(
    message: string,
    /** 1-based line of the instruction, 0 for the whole file. */
    readonly line: number,
  ) {
    super(message);
  }
}

const WHITESPACE = /[\t\v\f\r ]+/;
const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const NOT_STRING_ARRAY = 'when using JSON array syntax, arrays must be comprised of strings only';

type LineParser = (rest: string, d: Directives) => { args: string[]; json?: boolean; sub?: Node };

/** Parser state: the escape token and whether directives may still appear. */
class Directives {
  escapeToken = '\\';
  continuation = continuationRegex('\\');
  done = false;
  private readonly seen = new Set<string>();

  /** Reads a `# name=value` directive while they may still appear. */
  possible(line: string): void {
    if (this.done) return;
    const m = DIRECTIVE.exec(line);
    const key = m?.[1]?.toLowerCase();
    if (!m || (key !== 'escape' && key !== 'syntax')) {
      this.done = true;
      return;
    }
    if (this.seen.has(key)) throw new Error(`only one ${key} parser directive can be used`);
    this.seen.add(key);
    if (key === 'escape') {
      const s = m[2] as string;
      if (s !== '`' && s !== '\\') {
        throw new Error(`invalid escape token '${s}' does not match \` or \\`);
      }
      this.escapeToken = s;
      this.continuation = continuationRegex(s);
    }
  }
}

function continuationRegex(tok: string): RegExp {
  const e = `\\${tok}`;
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

const trimLeft = (s: string): string => s.replace(/^\s+/u, '');
const isComment = (line: string): boolean => trimLeft(line).startsWith('#');

/** Splits a line into keyword, builder flags and the rest (BuildKit's splitCommand). */
function splitCommand(line: string): { cmd: string; flags: string[]; rest: string } {
  const trimmed = line.trim();
  const m = WHITESPACE.exec(trimmed);
  const cmd = (m ? trimmed.slice(0, m.index) : trimmed).toLowerCase();
  if (!m) return { cmd, flags: [], rest: '' };
  const { rest, flags } = extractFlags(trimmed.slice(m.index + m[0].length));
  return { cmd, flags, rest: rest.trim() };
}

/** Leading `--name=value` words (quotes and backslashes processed). */
function extractFlags(line: string): { rest: string; flags: string[] } {
  const flags: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= line.length; pos++) {
    let ch = line[pos] ?? '';
    if (phase === 'spaces') {
      if (pos === line.length) break;
      if (/\s/.test(ch)) continue;
      if (ch !== '-' || line[pos + 1] !== '-') return { rest: line.slice(pos), flags };
      phase = 'word';
    }
    if (pos === line.length) {
      if (word !== '--' && (blankOK || word.length > 0)) flags.push(word);
      break;
    }
    if (phase === 'word') {
      if (/\s/.test(ch)) {
        phase = 'spaces';
        if (word === '--') return { rest: line.slice(pos), flags };
        if (blankOK || word.length > 0) flags.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
      if (ch === '\\') {
        if (pos + 1 === line.length) continue;
        ch = line[++pos] as string;
      }
      word += ch;
      continue;
    }
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === '\\') {
      if (pos + 1 === line.length) {
        phase = 'word';
        continue;
      }
      ch = line[++pos] as string;
    }
    word += ch;
  }
  return { rest: '', flags };
}

/** Words separated by unquoted whitespace; quotes and escapes are kept for later processing. */
export function parseWords(rest: string, escapeToken = '\\'): string[] {
  const chars = Array.from(rest);
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= chars.length; pos++) {
    let ch = chars[pos] ?? '';
    if (phase === 'spaces') {
      if (pos === chars.length) break;
      if (/\s/u.test(ch)) continue;
      phase = 'word';
    }
    if (pos === chars.length) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (/\s/u.test(ch)) {
        phase = 'spaces';
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
      }
      if (ch === escapeToken) {
        if (pos + 1 === chars.length) continue;
        word += ch;
        ch = chars[++pos] as string;
      }
      word += ch;
      continue;
    }
    if (ch === quote) phase = 'word';
    if (ch === escapeToken && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      word += ch;
      ch = chars[++pos] as string;
    }
    word += ch;
  }
  return words;
}

/** The first JSON value of `s` (Go's json.Decoder ignores what follows it). */
function firstJsonValue(s: string): unknown {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') {
      depth--;
      if (depth === 0) return JSON.parse(s.slice(0, i + 1));
    }
  }
  return JSON.parse(s);
}

/** A JSON array of strings, `undefined` when `rest` is not JSON; throws for non-string elements. */
function parseJsonArray(rest: string): string[] | undefined {
  const r = trimLeft(rest);
  if (!r.startsWith('[')) return undefined;
  let v: unknown;
  try {
    v = firstJsonValue(r);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v)) return undefined;
  if (!v.every((x) => typeof x === 'string')) throw new Error(NOT_STRING_ARRAY);
  return v as string[];
}

const splitWhitespace = (rest: string): string[] => (rest === '' ? [] : rest.split(WHITESPACE));

const maybeJson: LineParser = (rest) => {
  if (rest === '') return { args: [] };
  const j = parseJsonArray(rest);
  return j ? { args: j, json: true } : { args: [rest] };
};

const maybeJsonToList: LineParser = (rest) => {
  const j = parseJsonArray(rest);
  return j ? { args: j, json: true } : { args: splitWhitespace(rest) };
};

const single: LineParser = (rest) => ({ args: rest === '' ? [] : [rest] });

/** ENV and LABEL: `k=v ...` pairs, or the legacy `KEY rest of line`. */
function nameVal(key: string): LineParser {
  return (rest, d) => {
    const words = parseWords(rest, d.escapeToken);
    if (words.length === 0) return { args: [] };
    if (!(words[0] as string).includes('=')) {
      const m = WHITESPACE.exec(rest);
      if (!m) throw new Error(`${key} must have two arguments`);
      return { args: [rest.slice(0, m.index), rest.slice(m.index + m[0].length)] };
    }
    const args: string[] = [];
    for (const w of words) {
      const eq = w.indexOf('=');
      if (eq < 0) {
        throw new Error(
          `Syntax error - can't find = in ${JSON.stringify(w)}. Must be of the form: name=value`,
        );
      }
      args.push(w.slice(0, eq), w.slice(eq + 1));
    }
    return { args };
  };
}

const healthConfig: LineParser = (rest, d) => {
  const m = /\s/.exec(rest);
  const sep = m ? m.index : rest.length;
  if (sep === 0) return { args: [] };
  const cmd = maybeJson(trimLeft(rest.slice(sep)), d);
  return { args: [rest.slice(0, sep), ...cmd.args], json: cmd.json };
};

const subCommand: LineParser = (rest, d) => {
  if (rest === '') return { args: [] };
  const sub = nodeFromLine(rest, d, 0, 0);
  return { args: [sub.value, ...sub.args], json: sub.json, sub };
};

const LINE_PARSERS: Record<string, LineParser> = {
  add: maybeJsonToList,
  arg: (rest, d) => ({ args: parseWords(rest, d.escapeToken) }),
  cmd: maybeJson,
  copy: maybeJsonToList,
  entrypoint: maybeJson,
  env: nameVal('ENV'),
  expose: (rest) => ({ args: splitWhitespace(rest) }),
  from: (rest) => ({ args: splitWhitespace(rest) }),
  healthcheck: healthConfig,
  label: nameVal('LABEL'),
  maintainer: single,
  onbuild: subCommand,
  run: maybeJson,
  shell: maybeJson,
  stopsignal: single,
  user: single,
  volume: maybeJsonToList,
  workdir: single,
};

function nodeFromLine(line: string, d: Directives, start: number, end: number): Node {
  const { cmd, flags, rest } = splitCommand(line);
  const parsed = LINE_PARSERS[cmd]?.(rest, d) ?? { args: [] };
  return {
    value: cmd,
    original: line,
    flags,
    args: parsed.args,
    json: parsed.json ?? false,
    ...(parsed.sub ? { sub: parsed.sub } : {}),
    startLine: start,
    endLine: end,
  };
}

/** Parses a Dockerfile's text; throws DockerfileSyntaxError. */
export function parseDockerfile(text: string): ParseResult {
  const d = new Directives();
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const raw = lines.map((l, i) => {
    const noCr = l.endsWith('\r') ? l.slice(0, -1) : l;
    return i === 0 ? noCr.replace(/^\uFEFF/, '') : noCr;
  });
  const nodes: Node[] = [];
  const warnings: string[] = [];
  const processLine = (token: string, stripLeft: boolean, at: number): string => {
    const t = stripLeft ? trimLeft(token) : token;
    try {
      d.possible(t);
    } catch (e) {
      throw new DockerfileSyntaxError((e as Error).message, at);
    }
    return t.startsWith('#') ? '' : t;
  };
  let i = 0;
  while (i < raw.length) {
    const first = processLine(raw[i] as string, true, i + 1);
    i++;
    const startLine = i;
    let line = first;
    let end = !d.continuation.test(line);
    if (!end) line = line.replace(d.continuation, '$1');
    if (end && line === '') continue;
    let emptyContinuation = false;
    while (!end && i < raw.length) {
      const src = raw[i] as string;
      const b = processLine(src, false, i + 1);
      i++;
      if (isComment(src)) continue;
      if (trimLeft(b) === '') {
        emptyContinuation = true;
        continue;
      }
      end = !d.continuation.test(b);
      line += end ? b : b.replace(d.continuation, '$1');
    }
    if (emptyContinuation) {
      warnings.push(`[WARNING]: Empty continuation line found in:\n    ${line}`);
    }
    try {
      nodes.push(nodeFromLine(line, d, startLine, i));
    } catch (e) {
      throw new DockerfileSyntaxError((e as Error).message, startLine);
    }
  }
  if (warnings.length > 0) {
    warnings.push('[WARNING]: Empty continuation lines will become errors in a future release.');
  }
  if (nodes.length === 0) throw new DockerfileSyntaxError('file with no instructions', 0);
  return { nodes, escapeToken: d.escapeToken, warnings };
}
