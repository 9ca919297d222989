/**
 * The command line of a benchmark: `--out FILE` (default
 * `/tmp/berth-bench/<name>-<time>.json`) and whole-number options, each with
 * its default and bounds, named after their key (`rmIterations` is
 * `--rm-iterations`). Anything else is a usage error that lists them.
 */

/** One whole-number option: its default, and the smallest (default 1) and largest value taken. */
export interface NumberOption {
  default: number;
  min?: number;
  max?: number;
}

const flagOf = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export function parseBenchArgs<K extends string>(
  name: string,
  argv: string[],
  spec: Record<K, NumberOption>,
): Record<K, number> & { out: string } {
  const keys = Object.keys(spec) as K[];
  const usage = `usage: ${name} ${keys.map((k) => `[${flagOf(k)} N]`).join(' ')} [--out FILE]`;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const o = Object.fromEntries(keys.map((k) => [k, spec[k].default])) as Record<K, number>;
  let out = `/tmp/berth-bench/${name}-${stamp}.json`;
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, val] = [argv[i], argv[i + 1]];
    const key = keys.find((k) => flagOf(k) === flag);
    const num = Number(val);
    if (flag === '--out' && val) out = val;
    else if (
      key !== undefined &&
      Number.isInteger(num) &&
      num >= (spec[key].min ?? 1) &&
      num <= (spec[key].max ?? Infinity)
    ) {
      o[key] = num;
    } else throw new Error(usage);
  }
  return { ...o, out };
}
