/**
 * Docker's list formatting (cli/command/formatter): the "table" prefix with a
 * header row and tabwriter alignment, "json" as one `{{json .}}` line per row,
 * or any Go template, executed per row with "\n" after each.
 */
import { tabwrite } from './table.js';
import { compileTemplate, GO_JSON, GO_TYPE, goJSON, TemplateError } from './template.js';

/** A row context: string fields keyed by template name, maybe methods (Label). */
export type Row = Record<string, unknown>;

/** What a listing needs to know about its rows. */
export interface ListSpec {
  /** Default table format ("table {{.ID}}\t..."). */
  table: string;
  /** Format used for -q. */
  quiet: string;
  /** Column titles by field name. */
  headers: Record<string, string>;
  /** Go type name of the row context, for error messages. */
  goType: string;
}

/** Go's header functions: in the header row every function returns its first argument. */
const HEADER_FUNCS: Record<string, (...a: unknown[]) => unknown> = Object.fromEntries(
  ['json', 'split', 'join', 'title', 'lower', 'upper', 'truncate', 'pad'].map((n) => [
    n,
    (v: unknown) => v,
  ]),
);

/** Turns a row into a Go-struct-like context whose `{{json .}}` is docker's: sorted keys, HTML-escaped. */
export function makeRow(fields: Row, goType: string, methods: Record<string, unknown> = {}): Row {
  const row: Row = { ...fields, ...methods };
  Object.defineProperty(row, GO_TYPE, { value: goType, enumerable: false });
  Object.defineProperty(row, GO_JSON, {
    enumerable: false,
    value: () => {
      const sorted: Row = {};
      for (const k of Object.keys(fields).sort()) sorted[k] = fields[k];
      return JSON.stringify(sorted)
        .replace(/</g, '\\u003c')
        .replace(/>/g, '\\u003e')
        .replace(/&/g, '\\u0026');
    },
  });
  return row;
}

/** Renders rows with a user --format (or the spec's default); returns the text to print. */
export function renderList(
  rows: Row[],
  spec: ListSpec,
  format: string | undefined,
  quiet = false,
): string {
  let fmt = format ?? '';
  if (quiet && !fmt) fmt = spec.quiet;
  if (fmt === '' || fmt === 'table') fmt = spec.table;
  if (fmt === 'json') fmt = '{{json .}}';
  const isTable = fmt.startsWith('table');
  if (isTable) fmt = fmt.slice('table'.length);
  fmt = fmt.trim().replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const tmpl = compileTemplate(fmt);
  let body = '';
  for (const r of rows) body += tmpl.execute(r) + '\n';
  if (!isTable) return body;
  const header = compileTemplate(fmt).execute(headerContext(spec), { funcs: HEADER_FUNCS });
  return tabwrite(header + '\n' + body);
}

function headerContext(spec: ListSpec): Row {
  const h: Row = { ...spec.headers };
  h['Label'] = (name: unknown) => String(name);
  Object.defineProperty(h, GO_TYPE, { value: spec.goType, enumerable: false });
  return h;
}

/** True when a --format template refers to `.Size` (docker then asks the daemon for sizes). */
export function formatUses(format: string | undefined, field: string): boolean {
  if (!format) return false;
  if (format === 'json' || /\{\{\s*json\s+\.\s*\}\}/.test(format)) return true;
  return new RegExp(`\\.${field}\\b`).test(format);
}

/** Go's strconv.Quote. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (c === 7) out += '\\a';
    else if (c === 8) out += '\\b';
    else if (c === 12) out += '\\f';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c === 11) out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else if ((c >= 0x80 && c < 0xa0) || c === 0xfffd)
      out += '\\u' + c.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}

/** Docker's Ellipsis: cut to `max` display columns, the last being '…'. */
export function ellipsis(s: string, max: number): string {
  if (max <= 0) return '';
  const runes = [...s];
  if (max === 1) return runes[0] ?? '';
  if (runes.length <= max) return s;
  return runes.slice(0, max - 1).join('') + '…';
}

/** stringid.TruncateID: drop an algorithm prefix, keep 12 characters. */
export function truncateID(id: string): string {
  const i = id.indexOf(':');
  const bare = i >= 0 ? id.slice(i + 1) : id;
  return bare.slice(0, 12);
}

/** Go's json.Indent with 4 spaces: re-indents raw JSON text without re-encoding values. */
export function jsonIndent(raw: string, indent = '    '): string {
  let out = '';
  let depth = 0;
  let i = 0;
  const nl = (): string => '\n' + indent.repeat(depth);
  while (i < raw.length) {
    const c = raw[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < raw.length && raw[j] !== '"') j += raw[j] === '\\' ? 2 : 1;
      out += raw.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === ' ' || c === '\n' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '{' || c === '[') {
      let j = i + 1;
      while (j < raw.length && /\s/.test(raw[j]!)) j++;
      const close = c === '{' ? '}' : ']';
      if (raw[j] === close) {
        out += c + close;
        i = j + 1;
        continue;
      }
      depth++;
      out += c + nl();
    } else if (c === '}' || c === ']') {
      depth--;
      out += nl() + c;
    } else if (c === ',') {
      out += ',' + nl();
    } else if (c === ':') {
      out += ': ';
    } else {
      out += c;
    }
    i++;
  }
  return out;
}

export { TemplateError, goJSON };
