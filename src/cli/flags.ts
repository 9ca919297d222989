/**
 * A small pflag-like parser: `-d`, combined `-it`, `-p80:80`, `-e=A=1`,
 * `--name x`, `--name=x`, repeatable list flags, `--` and, for run/exec/create,
 * no flags after the first positional (so a container command keeps its own).
 */

/** One flag a command accepts. */
export interface FlagDef {
  /** Long name, without dashes. */
  long: string;
  /** One-letter shorthand. */
  short?: string;
  /** Value kind; list flags repeat and accumulate. */
  type: 'bool' | 'string' | 'list' | 'int';
  /** Help text. */
  usage: string;
  /** Default value shown in help (and used when unset). */
  def?: string | number | boolean;
  /** Word shown after the flag in help ("list", "string", "filter"...). */
  argName?: string;
  /** Accepted but not listed in help. */
  hidden?: boolean;
}

/** A flag error: docker prints it with "See '... --help'." and exits 125. */
export class FlagError extends Error {}

/** Parsed flag values and positional arguments. */
export class Flags {
  /** Positional arguments in order. */
  readonly args: string[] = [];
  /** Names (long) of flags the user set. */
  readonly set = new Set<string>();
  /** True when --help was given. */
  help = false;
  private readonly values = new Map<string, unknown>();

  constructor(private readonly defs: FlagDef[]) {}

  /** Records a value for a flag (internal to the parser). */
  put(def: FlagDef, v: unknown): void {
    this.set.add(def.long);
    if (def.type === 'list') {
      const cur = (this.values.get(def.long) as string[] | undefined) ?? [];
      cur.push(String(v));
      this.values.set(def.long, cur);
    } else this.values.set(def.long, v);
  }

  private def(name: string): FlagDef | undefined {
    return this.defs.find((d) => d.long === name);
  }

  /** A bool flag's value. */
  bool(name: string): boolean {
    return (this.values.get(name) as boolean | undefined) ?? Boolean(this.def(name)?.def);
  }

  /** A string flag's value ("" when unset and no default). */
  str(name: string): string {
    const v = this.values.get(name) as string | undefined;
    return v ?? (this.def(name)?.def !== undefined ? String(this.def(name)!.def) : '');
  }

  /** An int flag's value (its default when unset). */
  int(name: string): number {
    return (this.values.get(name) as number | undefined) ?? Number(this.def(name)?.def ?? 0);
  }

  /** A list flag's values in the order given. */
  list(name: string): string[] {
    return (this.values.get(name) as string[] | undefined) ?? [];
  }

  /** Whether the user set the flag. */
  has(name: string): boolean {
    return this.set.has(name);
  }
}

const BOOL_VALUES: Record<string, boolean> = {
  '1': true,
  t: true,
  T: true,
  TRUE: true,
  true: true,
  True: true,
  '0': false,
  f: false,
  F: false,
  FALSE: false,
  false: false,
  False: false,
};

function flagTitle(d: FlagDef): string {
  return d.short ? `-${d.short}, --${d.long}` : `--${d.long}`;
}

function convert(d: FlagDef, raw: string): unknown {
  if (d.type === 'int') {
    if (!/^[-+]?\d+$/.test(raw))
      throw new FlagError(
        `invalid argument "${raw}" for "${flagTitle(d)}" flag: strconv.ParseInt: parsing "${raw}": invalid syntax`,
      );
    return Number(raw);
  }
  if (d.type === 'bool') {
    const b = BOOL_VALUES[raw];
    if (b === undefined)
      throw new FlagError(
        `invalid argument "${raw}" for "${flagTitle(d)}" flag: strconv.ParseBool: parsing "${raw}": invalid syntax`,
      );
    return b;
  }
  return raw;
}

/** Parses argv against the flag definitions. */
export function parseFlags(defs: FlagDef[], argv: string[], interspersed = true): Flags {
  const f = new Flags(defs);
  const byLong = new Map(defs.map((d) => [d.long, d]));
  const byShort = new Map(defs.filter((d) => d.short).map((d) => [d.short!, d]));
  let i = 0;
  const rest = (): void => {
    f.args.push(...argv.slice(i));
    i = argv.length;
  };
  while (i < argv.length) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      rest();
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      if (!interspersed) {
        rest();
        break;
      }
      f.args.push(a);
      i++;
      continue;
    }
    i++;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      if (name === 'help' && !byLong.has('help')) {
        f.help = true;
        continue;
      }
      const d = byLong.get(name);
      if (!d) throw new FlagError(`unknown flag: --${name}`);
      if (eq >= 0) f.put(d, convert(d, a.slice(eq + 1)));
      else if (d.type === 'bool') f.put(d, true);
      else if (i < argv.length) f.put(d, convert(d, argv[i++]!));
      else throw new FlagError(`flag needs an argument: --${name}`);
      continue;
    }
    // Shorthand cluster: bools combine; a value flag takes the rest or the next word.
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      const d = byShort.get(c);
      if (!d) throw new FlagError(`unknown shorthand flag: '${c}' in ${a}`);
      if (d.type === 'bool') {
        if (a[j + 1] === '=') {
          f.put(d, convert(d, a.slice(j + 2)));
          break;
        }
        f.put(d, true);
        continue;
      }
      let v = a.slice(j + 1);
      if (v.startsWith('=')) v = v.slice(1);
      else if (v === '') {
        if (i >= argv.length) throw new FlagError(`flag needs an argument: '${c}' in -${c}`);
        v = argv[i++]!;
      }
      f.put(d, convert(d, v));
      break;
    }
  }
  return f;
}

/** pflag's option listing: sorted by name, descriptions aligned. */
export function flagUsages(defs: FlagDef[]): string {
  const lines = defs
    .filter((d) => !d.hidden)
    .sort((a, b) => (a.long < b.long ? -1 : 1))
    .map((d) => {
      let left = d.short ? `  -${d.short}, --${d.long}` : `      --${d.long}`;
      const arg = d.argName ?? (d.type === 'bool' ? '' : d.type);
      if (arg) left += ' ' + arg;
      let usage = d.usage;
      if (d.def !== undefined && d.def !== '' && d.def !== false && d.def !== 0) {
        usage +=
          d.type === 'string' ? ` (default ${JSON.stringify(d.def)})` : ` (default ${d.def})`;
      }
      return { left, usage };
    });
  const max = Math.max(0, ...lines.map((l) => l.left.length)) + 1;
  return lines.map((l) => `${l.left}${' '.repeat(max - l.left.length)}  ${l.usage}`).join('\n');
}
