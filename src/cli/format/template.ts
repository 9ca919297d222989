/**
 * Executes Go text/template trees on JSON-like data with docker's function set
 * (json, join, split, lower, upper, title, pad, truncate) plus Go's builtins.
 * Values print as Go prints them: maps as map[k:v], slices as [a b], missing
 * values as <no value>, JSON null as <nil>.
 */
import {
  parseTemplate,
  TemplateError,
  type Arg,
  type BlockNode,
  type Node,
  type Pipe,
} from './template-parse.js';

export { TemplateError };

/** Marks an object as a Go struct (a formatter context): unknown fields are errors. */
export const GO_TYPE = Symbol('goType');
/** Custom `{{json .}}` encoding for an object (docker's contexts marshal themselves). */
export const GO_JSON = Symbol('goJSON');

type Fn = (...args: unknown[]) => unknown;

/** Execution options. */
export interface ExecOptions {
  /**
   * Missing keys are errors (docker inspect on a typed struct), except below
   * fields named in `mapFields`, which are Go maps and yield <no value>.
   */
  strict?: boolean;
  /** Field names whose values are maps rather than structs (Labels, Options...). */
  mapFields?: ReadonlySet<string>;
  /** Functions replacing the defaults (docker's header functions). */
  funcs?: Record<string, Fn>;
}

/** A compiled template. */
export interface Template {
  /** Renders the template against `data`. */
  execute(data: unknown, opts?: ExecOptions): string;
}

class ExecError extends Error {}

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);

/** Go's fmt %v for JSON-like values. */
export function goPrint(v: unknown, top = true): string {
  if (v === undefined) return top ? '<no value>' : '<nil>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? v.toFixed(0) : String(v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => goPrint(x, false)).join(' ')}]`;
  if (typeof v === 'function') return '<func>';
  if (isMap(v)) {
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${goPrint(v[k], false)}`).join(' ')}]`;
  }
  return String(v);
}

/** Docker's `json` template function: compact JSON, no HTML escaping. */
export function goJSON(v: unknown): string {
  if (isMap(v) && typeof (v as { [GO_JSON]?: unknown })[GO_JSON] === 'function') {
    return (v as unknown as { [GO_JSON]: () => string })[GO_JSON]();
  }
  return (JSON.stringify(v === undefined ? null : v) ?? 'null').replace(
    /[\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16)}`,
  );
}

function truth(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isMap(v) && !(GO_TYPE in v)) return Object.keys(v).length > 0;
  return true;
}

function goLen(v: unknown): number {
  if (typeof v === 'string') return Buffer.byteLength(v);
  if (Array.isArray(v)) return v.length;
  if (isMap(v)) return Object.keys(v).length;
  throw new ExecError(`error calling len: len of type ${typeName(v)}`);
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'interface {}';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (Array.isArray(v)) return '[]interface {}';
  if (isMap(v)) return (v as { [GO_TYPE]?: string })[GO_TYPE] ?? 'map[string]interface {}';
  return typeof v;
}

function index(v: unknown, ...keys: unknown[]): unknown {
  let cur = v;
  for (const k of keys) {
    if (Array.isArray(cur) || typeof cur === 'string') {
      const i = Number(k);
      if (!Number.isInteger(i) || i < 0 || i >= cur.length)
        throw new ExecError(`error calling index: index out of range: ${String(k)}`);
      cur = cur[i];
    } else if (isMap(cur)) {
      const m: Record<string, unknown> = cur;
      const has = Object.prototype.hasOwnProperty.call(m, String(k));
      // A map of strings (labels, options) yields the zero value "" like a Go map[string]string.
      const stringMap = Object.values(m).every((x) => typeof x === 'string');
      cur = has ? m[String(k)] : stringMap ? '' : undefined;
    } else if (cur === null || cur === undefined) {
      throw new ExecError('error calling index: index of untyped nil');
    } else {
      throw new ExecError(`error calling index: can't index item of type ${typeName(cur)}`);
    }
  }
  return cur;
}

function cmp(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new ExecError('incompatible types for comparison');
}

/** A small Go printf: %s %v %d %q %f %x %t %% with flags and width. */
export function goSprintf(fmt: string, ...args: unknown[]): string {
  let n = 0;
  return fmt.replace(
    /%([-+ 0#]*)(\d*)(?:\.(\d+))?([svdqfxXtg%])/g,
    (_m, flags: string, w, prec, verb) => {
      if (verb === '%') return '%';
      const a = args[n++];
      let s: string;
      switch (verb) {
        case 'd':
          s = typeof a === 'number' ? Math.trunc(a).toString() : `%!d(${goPrint(a)})`;
          break;
        case 'q':
          s = JSON.stringify(goPrint(a));
          break;
        case 'f':
          s = Number(a).toFixed(prec ? Number(prec) : 6);
          break;
        case 'x':
        case 'X':
          s = typeof a === 'number' ? a.toString(16) : Buffer.from(goPrint(a)).toString('hex');
          if (verb === 'X') s = s.toUpperCase();
          break;
        default:
          s = goPrint(a);
          if (prec && verb === 's') s = s.slice(0, Number(prec));
      }
      const width = Number(w || 0);
      if (s.length < width) {
        if (flags.includes('-')) s = s.padEnd(width);
        else if (flags.includes('0') && verb !== 's') s = s.padStart(width, '0');
        else s = s.padStart(width);
      }
      return s;
    },
  );
}

/** The functions docker registers, plus Go's builtins. */
export const DEFAULT_FUNCS: Record<string, Fn> = {
  json: (v) => goJSON(v),
  join: (a, sep) =>
    Array.isArray(a) ? a.map((x) => goPrint(x, false)).join(String(sep)) : goPrint(a),
  split: (s, sep) => String(s).split(String(sep)),
  lower: (s) => String(s).toLowerCase(),
  upper: (s) => String(s).toUpperCase(),
  title: (s) =>
    String(s).replace(
      /(^|[^\p{L}\p{N}_'])(\p{L})/gu,
      (_m, p: string, c: string) => p + c.toUpperCase(),
    ),
  pad: (s, before, after) => ' '.repeat(Number(before)) + goPrint(s) + ' '.repeat(Number(after)),
  truncate: (s, n) => {
    const r = [...String(s)];
    return r.length > Number(n) ? r.slice(0, Number(n)).join('') : String(s);
  },
  index: (v, ...k) => index(v, ...k),
  len: (v) => goLen(v),
  print: (...a) =>
    a
      .map(
        (x, i) =>
          (i > 0 && typeof x !== 'string' && typeof a[i - 1] !== 'string' ? ' ' : '') + goPrint(x),
      )
      .join(''),
  println: (...a) => a.map((x) => goPrint(x)).join(' ') + '\n',
  printf: (f, ...a) => goSprintf(String(f), ...a),
  eq: (a, ...b) => b.some((x) => x === a),
  ne: (a, b) => a !== b,
  lt: (a, b) => cmp(a, b) < 0,
  le: (a, b) => cmp(a, b) <= 0,
  gt: (a, b) => cmp(a, b) > 0,
  ge: (a, b) => cmp(a, b) >= 0,
  not: (a) => !truth(a),
  and: (...a) => a.find((x) => !truth(x)) ?? a[a.length - 1],
  or: (...a) => a.find((x) => truth(x)) ?? a[a.length - 1],
  slice: (v, i, j) =>
    typeof v === 'string' || Array.isArray(v)
      ? v.slice(Number(i ?? 0), j === undefined ? undefined : Number(j))
      : v,
  urlquery: (...a) => encodeURIComponent(a.map((x) => goPrint(x)).join('')),
};

class Exec {
  private vars: [string, unknown][][] = [];
  constructor(
    private readonly src: string,
    private readonly funcs: Record<string, Fn>,
    private readonly strict: boolean,
    private readonly mapFields: ReadonlySet<string>,
  ) {}

  run(nodes: Node[], dot: unknown): string {
    this.vars = [[['$', dot]]];
    return this.list(nodes, dot);
  }

  private list(nodes: Node[], dot: unknown): string {
    let out = '';
    for (const n of nodes) out += this.node(n, dot);
    return out;
  }

  private scoped<T>(f: () => T): T {
    this.vars.push([]);
    try {
      return f();
    } finally {
      this.vars.pop();
    }
  }

  private node(n: Node, dot: unknown): string {
    if (n.kind === 'text') return n.text;
    if (n.kind === 'action') {
      const v = this.pipe(n.pipe, dot);
      return n.pipe.decls.length ? '' : goPrint(v);
    }
    return this.scoped(() => {
      if (n.kind === 'range') return this.range(n, dot);
      const v = this.pipe(n.pipe, dot);
      if (!truth(v)) return this.list(n.else, dot);
      return this.list(n.body, n.kind === 'with' ? v : dot);
    });
  }

  private range(n: BlockNode, dot: unknown): string {
    const decls = n.pipe.decls;
    const v = this.pipe({ ...n.pipe, decls: [] }, dot);
    let entries: [unknown, unknown][] = [];
    if (Array.isArray(v)) entries = v.map((x, i) => [i, x]);
    else if (isMap(v))
      entries = Object.keys(v)
        .sort()
        .map((k) => [k, v[k]]);
    else if (typeof v === 'number') entries = Array.from({ length: v }, (_x, i) => [i, i]);
    else if (v !== null && v !== undefined)
      throw this.err(n.pipe.cmds[0]?.args[0], `range can't iterate over ${goPrint(v)}`);
    if (!entries.length) return this.list(n.else, dot);
    let out = '';
    for (const [k, x] of entries) {
      const frame = this.vars[this.vars.length - 1]!;
      frame.length = 0;
      if (decls.length === 1) frame.push([decls[0]!, x]);
      if (decls.length === 2) frame.push([decls[0]!, k], [decls[1]!, x]);
      out += this.list(n.body, x);
    }
    return out;
  }

  private pipe(p: Pipe, dot: unknown): unknown {
    let v: unknown = undefined;
    let first = true;
    for (const c of p.cmds) {
      v = this.cmd(c.args, dot, first ? undefined : { v });
      first = false;
    }
    if (p.decls.length) {
      const name = p.decls[p.decls.length - 1]!;
      const existing = [...this.vars].reverse().find((f) => f.some(([k]) => k === name));
      const frame = existing ?? this.vars[this.vars.length - 1]!;
      const slot = frame.find(([k]) => k === name);
      if (slot) slot[1] = v;
      else frame.push([name, v]);
    }
    return v;
  }

  private cmd(args: Arg[], dot: unknown, piped?: { v: unknown }): unknown {
    const head = args[0]!;
    const rest = (): unknown[] => {
      const vals = args.slice(1).map((a) => this.arg(a, dot));
      if (piped) vals.push(piped.v);
      return vals;
    };
    if (head.kind === 'ident') {
      const f = this.funcs[head.name];
      if (!f) throw new TemplateError(`template: :1: function "${head.name}" not defined`);
      try {
        return f(...rest());
      } catch (e) {
        if (e instanceof TemplateError) throw e;
        throw this.err(
          head,
          e instanceof ExecError ? e.message : `error calling ${head.name}: ${String(e)}`,
        );
      }
    }
    const v = this.arg(head, dot, true);
    if (typeof v === 'function') return (v as Fn)(...rest());
    if (args.length > 1 || piped)
      throw this.err(head, `can't give argument to non-function ${this.show(head)}`);
    return v;
  }

  private arg(a: Arg, dot: unknown, isHead = false): unknown {
    switch (a.kind) {
      case 'dot':
        return dot;
      case 'lit':
        return a.value;
      case 'field':
        return this.chain(dot, a.chain, a, isHead);
      case 'var': {
        const hit = [...this.vars].reverse().flatMap((f) => f.filter(([k]) => k === a.name))[0];
        if (!hit) throw new TemplateError(`template: :1: undefined variable "${a.name}"`);
        return this.chain(hit[1], a.chain, a, isHead);
      }
      case 'pipe':
        return this.chain(this.pipe(a.pipe, dot), a.chain, a, isHead);
      case 'ident': {
        const f = this.funcs[a.name];
        if (!f) throw new TemplateError(`template: :1: function "${a.name}" not defined`);
        return f();
      }
    }
  }

  private chain(v: unknown, chain: string[], a: Arg, _isHead: boolean): unknown {
    let cur = v;
    chain.forEach((key, depth) => {
      if (typeof cur === 'function') cur = (cur as Fn)();
      if (cur === null || cur === undefined)
        throw this.err(a, `nil pointer evaluating ${typeName(cur)}.${key}`);
      if (!isMap(cur)) throw this.err(a, `can't evaluate field ${key} in type ${typeName(cur)}`);
      const goType = (cur as { [GO_TYPE]?: string })[GO_TYPE];
      if (key in cur) {
        cur = (cur as Record<string, unknown>)[key];
        if (goType && typeof cur === 'function' && depth < chain.length - 1) cur = (cur as Fn)();
      } else if (goType) {
        throw this.err(a, `can't evaluate field ${key} in type ${goType}`);
      } else if (this.strict && !this.mapFields.has(depth > 0 ? chain[depth - 1]! : '')) {
        throw this.err(a, `map has no entry for key "${key}"`);
      } else {
        cur = undefined;
      }
    });
    return cur;
  }

  private show(a: Arg): string {
    if (a.kind === 'field') return '.' + a.chain.join('.');
    if (a.kind === 'var') return [a.name, ...a.chain].join('.');
    if (a.kind === 'ident') return a.name;
    if (a.kind === 'dot') return '.';
    return goPrint(a.kind === 'lit' ? a.value : '');
  }

  private err(a: Arg | undefined, msg: string): TemplateError {
    const pos = a?.pos ?? 0;
    const before = this.src.slice(0, pos);
    const line = before.split('\n').length;
    const col = pos - (before.lastIndexOf('\n') + 1);
    const at = a ? ` at <${this.show(a)}>` : '';
    return new TemplateError(`template: :${line}:${col}: executing ""${at}: ${msg}`);
  }
}

/** Compiles a Go template; throws TemplateError with Go's wording on bad syntax. */
export function compileTemplate(src: string): Template {
  const nodes = parseTemplate(src);
  return {
    execute(data: unknown, opts: ExecOptions = {}): string {
      const funcs = { ...DEFAULT_FUNCS, ...(opts.funcs ?? {}) };
      return new Exec(src, funcs, opts.strict ?? false, opts.mapFields ?? new Set()).run(
        nodes,
        data,
      );
    },
  };
}
