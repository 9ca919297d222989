/**
 * Build arguments as Docker's classic builder tracks them: `--build-arg`
 * values, the ARGs a stage declares (with defaults), the meta ARGs before the
 * first FROM, the proxy variables that are always allowed, and which values
 * a RUN sees and records in its cache key. Pure.
 */

/** The proxy variables usable without an ARG (and left out of RUN's cache key unless declared). */
export const BUILTIN_ARGS = new Set([
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
]);

/** `--build-arg` values (a null value: the CLI sent the name alone). */
export type ArgOptions = Record<string, string | null>;

export class BuildArgs {
  private allowed = new Map<string, string | undefined>();
  private readonly meta = new Map<string, string | undefined>();
  private readonly referenced = new Set<string>();

  constructor(private readonly fromOptions: ArgOptions) {}

  /** A copy (each stage starts from one, with no stage ARG allowed yet). */
  clone(): BuildArgs {
    const c = new BuildArgs(this.fromOptions);
    for (const [k, v] of this.allowed) c.allowed.set(k, v);
    for (const [k, v] of this.meta) c.meta.set(k, v);
    for (const k of this.referenced) c.referenced.add(k);
    return c;
  }

  /** Forgets the ARGs of the previous stage. */
  resetAllowed(): void {
    this.allowed = new Map();
  }

  /** Records the names another stage used (for the unused-args warning). */
  mergeReferenced(other: BuildArgs): void {
    for (const k of other.referenced) this.referenced.add(k);
  }

  /** A meta ARG (before the first FROM). */
  addMetaArg(key: string, value: string | undefined): void {
    this.meta.set(key, value);
  }

  /** A stage ARG. */
  addArg(key: string, value: string | undefined): void {
    this.allowed.set(key, value);
    this.referenced.add(key);
  }

  /** Whether a variable counts in RUN's cache key: declared, or not a builtin proxy one. */
  isReferencedOrNotBuiltin(key: string): boolean {
    return this.allowed.has(key) || !BUILTIN_ARGS.has(key);
  }

  private value(key: string, source: Map<string, string | undefined>): string | undefined {
    const opt = this.fromOptions[key];
    if (opt !== undefined && opt !== null) return opt;
    const dflt = source.get(key);
    if (dflt === undefined) return this.meta.get(key);
    return dflt;
  }

  private all(source: Map<string, string | undefined>): Map<string, string> {
    const out = new Map<string, string>();
    for (const key of new Set([...source.keys(), ...BUILTIN_ARGS])) {
      const v = this.value(key, source);
      if (v !== undefined) out.set(key, v);
    }
    return out;
  }

  /** Values of the ARGs this stage declared (and the builtin ones given with --build-arg). */
  allAllowed(): Map<string, string> {
    return this.all(this.allowed);
  }

  /** Values of the meta ARGs (for FROM). */
  allMeta(): Map<string, string> {
    return this.all(this.meta);
  }

  /** `K=V` of the allowed ARGs the config's env does not already set. */
  filterAllowed(env: string[]): string[] {
    const set = new Set(env.map((e) => e.split('=', 1)[0]));
    const out: string[] = [];
    for (const [k, v] of this.allAllowed()) if (!set.has(k)) out.push(`${k}=${v}`);
    return out;
  }

  /** `[Warning] One or more build-args [A B] were not consumed`, or undefined. */
  unusedWarning(): string | undefined {
    const left = Object.keys(this.fromOptions).filter(
      (k) => !this.referenced.has(k) && !BUILTIN_ARGS.has(k),
    );
    if (left.length === 0) return undefined;
    return `[Warning] One or more build-args [${left.join(' ')}] were not consumed\n`;
  }
}
