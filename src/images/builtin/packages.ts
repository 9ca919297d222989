/**
 * The host's installed Debian packages as the builtin images need them: parsed
 * from `dpkg-query -W` rows, and dependency closures over Pre-Depends and
 * Depends. Pure: the rows come from src/kernel/dpkg.ts.
 */

/** The dpkg-query fields `parsePackages` reads, in this order. */
export const PACKAGE_FIELDS = [
  'binary:Package',
  'Package',
  'Architecture',
  'Version',
  'db:Status-Abbrev',
  'Provides',
  'Pre-Depends',
  'Depends',
];

/** One installed package. */
export interface DebPackage {
  /** The name dpkg-query takes for it (`libc6:amd64` for Multi-Arch: same). */
  id: string;
  /** The package name (`libc6`). */
  name: string;
  /** `amd64`, `all`, ... */
  arch: string;
  /** The installed version (`2.36-9+deb12u4`). */
  version: string;
  /** Virtual package names it provides (versions dropped). */
  provides: string[];
  /** Pre-Depends then Depends: each an OR-list of names (versions and arch qualifiers dropped). */
  depends: string[][];
}

/** The installed packages, by name, and which packages provide each virtual name. */
export interface PackageDb {
  /** dpkg's native architecture (that of the installed `dpkg`, else of `libc6`). */
  arch: string;
  /** Installed packages of the native architecture or `all`, by name. */
  byName: Map<string, DebPackage>;
  /** Virtual name → the names of the installed packages providing it, sorted. */
  providers: Map<string, string[]>;
}

/** `a (>= 1) | b:any, c` → `[['a', 'b'], ['c']]`. */
export function parseDepends(field: string): string[][] {
  const out: string[][] = [];
  for (const group of field.split(',')) {
    const alts = group
      .split('|')
      .map((a) => a.trim().split(/[\s(]/)[0]!.split(':')[0]!)
      .filter((a) => a !== '');
    if (alts.length > 0) out.push(alts);
  }
  return out;
}

/** Builds the package db from rows of `PACKAGE_FIELDS`; only fully installed packages count. */
export function parsePackages(rows: string[][]): PackageDb {
  const installed: DebPackage[] = [];
  for (const r of rows) {
    const [id, name, arch, version, status, provides, pre, deps] = r;
    if (!id || !name || !arch || !version || status?.[1] !== 'i') continue;
    installed.push({
      id,
      name,
      arch,
      version,
      provides: parseDepends(provides ?? '').flat(),
      depends: [...parseDepends(pre ?? ''), ...parseDepends(deps ?? '')],
    });
  }
  const native =
    installed.find((p) => p.name === 'dpkg')?.arch ??
    installed.find((p) => p.name === 'libc6')?.arch ??
    'amd64';
  const byName = new Map<string, DebPackage>();
  for (const p of installed) {
    if (p.arch !== native && p.arch !== 'all') continue;
    byName.set(p.name, p);
  }
  const providers = new Map<string, string[]>();
  for (const p of byName.values()) {
    for (const v of p.provides) providers.set(v, [...(providers.get(v) ?? []), p.name]);
  }
  for (const l of providers.values()) l.sort();
  return { arch: native, byName, providers };
}

/** A root package that is not installed (the message says what to install). */
export class NotInstalledError extends Error {
  constructor(readonly packages: string[]) {
    super(
      `not installed on this host: ${packages.join(', ')} (apt-get install ${packages.join(' ')})`,
    );
    this.name = 'NotInstalledError';
  }
}

/** The installed package an alternative names: the package itself, else its first provider. */
function pick(db: PackageDb, alts: string[]): string | undefined {
  for (const a of alts) {
    if (db.byName.has(a)) return a;
    const prov = db.providers.get(a);
    if (prov && prov.length > 0) return prov[0];
  }
  return undefined;
}

/**
 * Every package `roots` need, roots included, sorted by name: Pre-Depends and
 * Depends followed transitively, each OR-group satisfied by its first installed
 * alternative (or a package providing it). Packages in `exclude` are neither
 * included nor followed. Throws NotInstalledError for missing roots and for a
 * dependency nothing installed satisfies (a broken dpkg state).
 */
export function closure(db: PackageDb, roots: string[], exclude: Iterable<string> = []): string[] {
  const skip = new Set(exclude);
  const missing = roots.filter((r) => !db.byName.has(r));
  if (missing.length > 0) throw new NotInstalledError(missing);
  const seen = new Set<string>();
  const todo = [...roots];
  while (todo.length > 0) {
    const name = todo.pop() as string;
    if (seen.has(name) || skip.has(name)) continue;
    seen.add(name);
    for (const alts of (db.byName.get(name) as DebPackage).depends) {
      const p = pick(db, alts);
      if (p === undefined) throw new NotInstalledError([alts.join(' | ')]);
      todo.push(p);
    }
  }
  return [...seen].sort();
}
