/**
 * `--mount` as docker's CLI reads it (docker/cli opts.MountOpt): CSV fields
 * `key=value` (a few flags alone), into the API's Mount object, with the
 * CLI's messages; the daemon checks the rest.
 */
import { resolve } from 'node:path';

const bool = (key: string, v: string): boolean => {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  throw new Error(`invalid value for ${key}: ${v}`);
};

/** go-units RAMInBytes: "64m", "1.5g", "512" (binary units). */
export function ramInBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(s);
  if (!m) throw new Error(`invalid size: '${s}'`);
  const mult = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 }[
    (m[2] ?? '').toLowerCase() as 'k'
  ];
  return Math.trunc(Number(m[1]) * (mult ?? 1));
}

/** Splits one CSV record (fields may be quoted, as Go's encoding/csv). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"' && cur === '') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** One `--mount` value as the API's Mount; throws the CLI's message. */
export function parseMountFlag(value: string): Record<string, unknown> {
  const m: Record<string, unknown> = { Type: 'volume' };
  let bind: Record<string, unknown> | undefined;
  let vol: Record<string, unknown> | undefined;
  let tmpfs: Record<string, unknown> | undefined;
  const volume = () => (vol ??= {});
  const driver = () => (volume().DriverConfig ??= {}) as Record<string, unknown>;
  const setKV = (target: Record<string, unknown>, field: string, kv: string) => {
    const map = (target[field] ??= {}) as Record<string, string>;
    const i = kv.indexOf('=');
    map[i < 0 ? kv : kv.slice(0, i)] = i < 0 ? '' : kv.slice(i + 1);
  };
  for (const field of csvFields(value)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (key === 'readonly' || key === 'ro') {
        m.ReadOnly = true;
        continue;
      }
      if (key === 'volume-nocopy') {
        volume().NoCopy = true;
        continue;
      }
      if (key === 'bind-nonrecursive') {
        (bind ??= {}).NonRecursive = true;
        continue;
      }
      throw new Error(`invalid field '${field}' must be a key=value pair`);
    }
    const v = field.slice(eq + 1);
    switch (key) {
      case 'type':
        m.Type = v.toLowerCase();
        break;
      case 'source':
      case 'src':
        m.Source = v === '.' || v.startsWith('./') ? resolve(v) : v;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.Target = v;
        break;
      case 'readonly':
      case 'ro':
        m.ReadOnly = bool(key, v);
        break;
      case 'consistency':
        m.Consistency = v.toLowerCase();
        break;
      case 'bind-propagation':
        (bind ??= {}).Propagation = v.toLowerCase();
        break;
      case 'bind-nonrecursive':
        (bind ??= {}).NonRecursive = bool(key, v);
        break;
      case 'volume-driver':
        driver().Name = v;
        break;
      case 'volume-opt':
        setKV(driver(), 'Options', v);
        break;
      case 'volume-label':
        setKV(volume(), 'Labels', v);
        break;
      case 'volume-nocopy':
        volume().NoCopy = bool(key, v);
        break;
      case 'tmpfs-size':
        (tmpfs ??= {}).SizeBytes = ramInBytes(v);
        break;
      case 'tmpfs-mode': {
        if (!/^[0-7]+$/.test(v)) throw new Error(`invalid value for ${key}: ${v}`);
        (tmpfs ??= {}).Mode = parseInt(v, 8);
        break;
      }
      default:
        throw new Error(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (!m.Type) throw new Error('type is required');
  if (!m.Target) throw new Error('target is required');
  const mix = (what: string) =>
    new Error(`cannot mix '${what}-*' options with mount type '${String(m.Type)}'`);
  if (vol && m.Type !== 'volume') throw mix('volume');
  if (bind && m.Type !== 'bind') throw mix('bind');
  if (tmpfs && m.Type !== 'tmpfs') throw mix('tmpfs');
  if (bind) m.BindOptions = bind;
  if (vol) m.VolumeOptions = vol;
  if (tmpfs) m.TmpfsOptions = tmpfs;
  return m;
}
