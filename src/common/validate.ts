/**
 * Request validation: small typed readers over untrusted JSON. Each throws a
 * 400 naming the field, so bad input is refused before anything changes.
 */
import { invalid } from './errors.js';

export type Json = Record<string, unknown>;

const typeName = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;

function fail(field: string, want: string, v: unknown): never {
  throw invalid(`invalid ${field}: expected ${want}, got ${typeName(v)}`);
}

/** The value as an object ({} for undefined/null). */
export function obj(v: unknown, field: string): Json {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) fail(field, 'an object', v);
  return v as Json;
}

export function optStr(o: Json, k: string, field = k): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(field, 'a string', v);
  return v;
}

export function optBool(o: Json, k: string, field = k): boolean | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') fail(field, 'a boolean', v);
  return v;
}

export function optNum(o: Json, k: string, field = k): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(field, 'a number', v);
  return v;
}

/** A string array; a bare string is accepted as one element (Docker's StrSlice). */
export function optStrs(o: Json, k: string, field = k): string[] | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    fail(field, 'an array of strings', v);
  return v as string[];
}

/** A map of string to string. */
export function optStrMap(o: Json, k: string, field = k): Record<string, string> | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  const m = obj(v, field);
  for (const [mk, mv] of Object.entries(m)) {
    if (typeof mv !== 'string') fail(`${field}.${mk}`, 'a string', mv);
  }
  return m as Record<string, string>;
}

/** Parses a JSON body (empty → {}), 400 on malformed JSON. */
export function parseJson(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw invalid(`invalid JSON in request body: ${(e as Error).message}`);
  }
}

/** Query-string booleans as Docker reads them: 1/true/True are true. */
export function qBool(v: string | null | undefined): boolean {
  return v !== null && v !== undefined && /^(1|true|t|yes)$/i.test(v);
}

/** An integer query parameter, 400 when malformed. */
export function qInt(v: string | null, name: string): number | undefined {
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw invalid(`invalid value for ${name}: ${v}`);
  return Number(v);
}

/**
 * Docker filters: `{"k":["v"]}` or `{"k":{"v":true}}`; returns k → values.
 */
export function parseFilters(v: string | null): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!v) return out;
  const f = obj(parseJson(v), 'filters');
  for (const [k, val] of Object.entries(f)) {
    if (Array.isArray(val)) out.set(k, val.map(String));
    else if (val && typeof val === 'object') {
      out.set(
        k,
        Object.entries(val as Json)
          .filter(([, on]) => on === true)
          .map(([x]) => x),
      );
    } else throw invalid(`invalid filter '${k}'`);
  }
  return out;
}
