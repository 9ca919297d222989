/**
 * Parser for the subset of Go's text/template that docker users write in
 * `--format`/`-f`: fields, variables, pipelines, function calls, parentheses,
 * if/else if/else, range (with $k, $v), with, trim markers and comments.
 */

/** A value-producing term inside an action. */
export type Arg =
  | { kind: 'field'; chain: string[]; pos: number }
  | { kind: 'var'; name: string; chain: string[]; pos: number }
  | { kind: 'dot'; pos: number }
  | { kind: 'lit'; value: unknown; pos: number }
  | { kind: 'ident'; name: string; pos: number }
  | { kind: 'pipe'; pipe: Pipe; chain: string[]; pos: number };

/** One stage of a pipeline: a function or method call, or a single value. */
export interface Cmd {
  /** The function/value and its arguments. */
  args: Arg[];
}

/** A pipeline with optional variable declarations (`$x := ...`). */
export interface Pipe {
  /** Declared or assigned variable names. */
  decls: string[];
  /** The stages, joined by '|'. */
  cmds: Cmd[];
  /** Source text, for error messages. */
  text: string;
}

/** A node of the parsed template tree. */
export type Node = { kind: 'text'; text: string } | { kind: 'action'; pipe: Pipe } | BlockNode;

/** if / with / range with their bodies. */
export interface BlockNode {
  /** Which control structure. */
  kind: 'if' | 'with' | 'range';
  /** The condition or range pipeline. */
  pipe: Pipe;
  /** Nodes run when the pipeline is non-empty. */
  body: Node[];
  /** Nodes of {{else}}. */
  else: Node[];
}

/** A template error with Go's "template: :line: message" wording. */
export class TemplateError extends Error {}

interface Action {
  src: string;
  pos: number;
}

function splitActions(src: string): (string | Action)[] {
  const parts: (string | Action)[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      parts.push(src.slice(i));
      break;
    }
    let text = src.slice(i, open);
    let start = open + 2;
    if (
      src.startsWith('- ', start) ||
      src.startsWith('-\t', start) ||
      src.startsWith('-\n', start)
    ) {
      text = text.replace(/\s+$/, '');
      start += 1;
    }
    const close = findClose(src, start);
    if (close < 0) throw new TemplateError(`template: :${lineOf(src, open)}: unclosed action`);
    let end = close;
    let trimRight = false;
    if (/\s-$/.test(src.slice(start, close))) {
      end = close - 1;
      trimRight = true;
    }
    parts.push(text, { src: src.slice(start, end), pos: start });
    i = close + 2;
    if (trimRight) while (i < src.length && /\s/.test(src[i]!)) i++;
  }
  return parts.filter((p) => p !== '');
}

function findClose(src: string, from: number): number {
  let q: string | null = null;
  for (let i = from; i < src.length; i++) {
    const c = src[i]!;
    if (q) {
      if (c === '\\' && q === '"') i++;
      else if (c === q) q = null;
    } else if (c === '"' || c === '`' || c === "'") q = c;
    else if (c === '}' && src[i + 1] === '}') return i;
  }
  return -1;
}

const lineOf = (src: string, pos: number): number => src.slice(0, pos).split('\n').length;

type Tok = { t: string; v: string; pos: number };

function lex(a: Action): Tok[] {
  const s = a.src;
  const toks: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    const pos = a.pos + i;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      toks.push({
        t: 'str',
        v: JSON.parse(s.slice(i, j + 1).replace(/\\x([0-9a-fA-F]{2})/g, '\\u00$1')),
        pos,
      });
      i = j + 1;
    } else if (c === '`') {
      const j = s.indexOf('`', i + 1);
      toks.push({ t: 'str', v: s.slice(i + 1, j), pos });
      i = j + 1;
    } else if (c === '(' || c === ')' || c === '|' || c === ',') {
      toks.push({ t: c, v: c, pos });
      i++;
    } else if (s.startsWith(':=', i)) {
      toks.push({ t: ':=', v: ':=', pos });
      i += 2;
    } else if (c === '=') {
      toks.push({ t: ':=', v: '=', pos });
      i++;
    } else {
      const m = /^(\.?[A-Za-z0-9_$.\-+]*)/.exec(s.slice(i));
      const word = m?.[1] || c;
      toks.push({ t: 'word', v: word, pos });
      i += word.length;
    }
  }
  return toks;
}

function parseWord(w: string, pos: number): Arg {
  if (w === '.') return { kind: 'dot', pos };
  if (w.startsWith('.')) return fieldArg(w.slice(1).split('.'), pos);
  if (w.startsWith('$')) {
    const [name, ...chain] = w.split('.');
    return { kind: 'var', name: name!, chain, pos };
  }
  if (w === 'true' || w === 'false') return { kind: 'lit', value: w === 'true', pos };
  if (w === 'nil') return { kind: 'lit', value: null, pos };
  if (/^[-+]?(\d|\.\d)/.test(w)) {
    const n = Number(w);
    if (Number.isNaN(n)) throw new TemplateError(`template: :1: bad number syntax: "${w}"`);
    return { kind: 'lit', value: n, pos };
  }
  if (/^[A-Za-z_]\w*$/.test(w)) return { kind: 'ident', name: w, pos };
  throw new TemplateError(`template: :1: unexpected "${w}" in command`);
}

function fieldArg(chain: string[], pos: number): Arg {
  // Go reports a chained field at the position of its second element.
  const p = chain.length > 1 ? pos + (chain[0]?.length ?? 0) + 1 : pos;
  return { kind: 'field', chain, pos: p };
}

function parsePipe(toks: Tok[], at: { i: number }, text: string, inParen: boolean): Pipe {
  const decls: string[] = [];
  const save = at.i;
  // Declarations: `$x :=` or `$k, $v :=`.
  while (toks[at.i]?.t === 'word' && toks[at.i]!.v.startsWith('$')) {
    decls.push(toks[at.i]!.v);
    at.i++;
    if (toks[at.i]?.t === ',') at.i++;
    else break;
  }
  if (decls.length && toks[at.i]?.t === ':=') at.i++;
  else {
    decls.length = 0;
    at.i = save;
  }
  const cmds: Cmd[] = [];
  let args: Arg[] = [];
  while (at.i < toks.length) {
    const tk = toks[at.i]!;
    if (tk.t === ')') {
      if (!inParen) throw new TemplateError(`template: :1: unexpected ")" in command`);
      break;
    }
    at.i++;
    if (tk.t === '|') {
      if (!args.length) throw new TemplateError('template: :1: missing command');
      cmds.push({ args });
      args = [];
    } else if (tk.t === '(') {
      const inner = parsePipe(toks, at, text, true);
      if (toks[at.i]?.t !== ')') throw new TemplateError('template: :1: unclosed left paren');
      at.i++;
      let chain: string[] = [];
      const nx = toks[at.i];
      if (nx?.t === 'word' && nx.v.startsWith('.') && nx.pos === toks[at.i - 1]!.pos + 1) {
        chain = nx.v.slice(1).split('.');
        at.i++;
      }
      args.push({ kind: 'pipe', pipe: inner, chain, pos: tk.pos });
    } else if (tk.t === 'str') {
      args.push({ kind: 'lit', value: tk.v, pos: tk.pos });
    } else if (tk.t === 'word') {
      args.push(parseWord(tk.v, tk.pos));
    } else {
      throw new TemplateError(`template: :1: unexpected "${tk.v}" in command`);
    }
  }
  if (args.length) cmds.push({ args });
  if (!cmds.length && !decls.length)
    throw new TemplateError('template: :1: missing value for command');
  return { decls, cmds, text };
}

/** Parses a template into a node tree. */
export function parseTemplate(src: string): Node[] {
  const parts = splitActions(src);
  const root: Node[] = [];
  type Frame = { node: BlockNode | null; list: Node[]; inElse: boolean };
  const stack: Frame[] = [{ node: null, list: root, inElse: false }];
  const top = (): Frame => stack[stack.length - 1]!;
  const push = (n: Node): void => {
    top().list.push(n);
  };
  for (const p of parts) {
    if (typeof p === 'string') {
      push({ kind: 'text', text: p });
      continue;
    }
    const body = p.src.trim();
    if (body.startsWith('/*')) continue;
    const toks = lex(p);
    const kw = toks[0]?.t === 'word' ? toks[0].v : '';
    const rest = (): Pipe => parsePipe(toks, { i: 1 }, body.slice(kw.length).trim(), false);
    if (kw === 'if' || kw === 'with' || kw === 'range') {
      const node = { kind: kw, pipe: rest(), body: [], else: [] } as BlockNode;
      push(node);
      stack.push({ node, list: node.body, inElse: false });
    } else if (kw === 'else') {
      const f = top();
      if (!f.node || f.inElse)
        throw new TemplateError(`template: :${lineOf(src, p.pos)}: unexpected {{else}}`);
      f.inElse = true;
      f.list = f.node.else;
      const k2 = toks[1]?.v;
      if (toks.length > 1 && (k2 === 'if' || k2 === 'with')) {
        // `else if` opens a nested node that the same {{end}} closes.
        const node = {
          kind: k2,
          pipe: parsePipe(toks, { i: 2 }, body, false),
          body: [],
          else: [],
        } as BlockNode;
        f.list.push(node);
        f.node = node;
        f.inElse = false;
        f.list = node.body;
      }
    } else if (kw === 'end') {
      if (stack.length === 1)
        throw new TemplateError(`template: :${lineOf(src, p.pos)}: unexpected {{end}}`);
      stack.pop();
    } else if (kw === 'define' || kw === 'template' || kw === 'block') {
      throw new TemplateError(`template: :${lineOf(src, p.pos)}: "${kw}" is not supported`);
    } else {
      push({ kind: 'action', pipe: parsePipe(toks, { i: 0 }, body, false) });
    }
  }
  if (stack.length > 1)
    throw new TemplateError(`template: :${lineOf(src, src.length)}: unexpected EOF`);
  return root;
}
