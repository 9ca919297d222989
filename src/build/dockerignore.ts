/**
 * `.dockerignore`: reading the file and matching context paths with the
 * rules of moby's patternmatcher (what the docker CLI uses to leave files out
 * of the context): `*`, `?`, `[...]`, `**`, `\` escapes, `!` exceptions where
 * the last matching pattern wins, and a pattern that matches a directory
 * covering everything below it. Pure; shared by the CLI (which filters the
 * context) and the daemon (which drops an ignored Dockerfile/.dockerignore).
 */
import { posix } from 'node:path';

/** Go's filepath.Clean for slash paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** The patterns of a `.dockerignore` file (comments, blanks and a BOM dropped; paths cleaned). */
export function readDockerignore(text: string): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    let pattern = i === 0 ? raw.replace(/^\uFEFF/, '') : raw;
    if (pattern.startsWith('#')) continue;
    pattern = pattern.trim();
    if (pattern === '') continue;
    const invert = pattern.startsWith('!');
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    out.push(invert ? `!${pattern}` : pattern);
  }
  return out;
}

/** One compiled pattern. */
interface Pattern {
  /** The cleaned pattern without `!`. */
  text: string;
  /** An exception (`!pattern`). */
  exclusion: boolean;
  regexp: RegExp;
}

const REGEXP_SPECIAL = /[.+()|{}$^]/;

/** The regular expression of one pattern (patternmatcher's compile). */
function compile(pattern: string): RegExp {
  const chars = Array.from(pattern);
  let re = '^';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++;
        re += i + 1 >= chars.length ? '.*' : '(.*/)?';
      } else re += '[^/]*';
    } else if (ch === '?') re += '[^/]';
    else if (ch === '\\') {
      const next = chars[i + 1];
      if (next === undefined) re += '\\\\';
      else {
        i++;
        re += /[A-Za-z0-9]/.test(next) ? next : `\\${next}`;
      }
    } else if (ch === '[' || ch === ']') re += ch;
    else if (REGEXP_SPECIAL.test(ch)) re += `\\${ch}`;
    else re += ch;
  }
  try {
    return new RegExp(`${re}$`, 's');
  } catch {
    throw new Error('syntax error in pattern');
  }
}

/** Matches context-relative paths against `.dockerignore` patterns. */
export class PatternMatcher {
  private readonly list: Pattern[] = [];
  /** Whether any pattern is an exception. */
  readonly exclusions: boolean;

  constructor(patterns: string[]) {
    let exclusions = false;
    for (const raw of patterns) {
      let p = raw.trim();
      if (p === '') continue;
      p = cleanPath(p);
      let exclusion = false;
      if (p.startsWith('!')) {
        if (p.length === 1) throw new Error('illegal exclusion pattern: "!"');
        exclusion = true;
        exclusions = true;
        p = p.slice(1);
      }
      this.list.push({ text: p, exclusion, regexp: compile(p) });
    }
    this.exclusions = exclusions;
  }

  /** The exception patterns' texts (a directory is walked when one may match below it). */
  exceptionTexts(): string[] {
    return this.list.filter((p) => p.exclusion).map((p) => p.text);
  }

  /** Whether `file` (or one of its parent directories) is excluded; the last matching pattern wins. */
  matches(file: string): boolean {
    const path = cleanPath(file);
    if (path === '.') return false;
    const parent = posix.dirname(path);
    const parentDirs = parent.split('/');
    let matched = false;
    for (const p of this.list) {
      if (p.exclusion !== matched) continue;
      let match = p.regexp.test(path);
      if (!match && parent !== '.') {
        for (let i = 0; i < parentDirs.length && !match; i++) {
          match = p.regexp.test(parentDirs.slice(0, i + 1).join('/'));
        }
      }
      if (match) matched = !p.exclusion;
    }
    return matched;
  }

  /**
   * Whether a directory that matched can be skipped whole: only when no
   * exception pattern lies below it (`!dir/keep` keeps `dir` walked).
   */
  canSkipDir(dir: string): boolean {
    const prefix = `${cleanPath(dir)}/`;
    return !this.list.some((p) => p.exclusion && `${p.text}/`.startsWith(prefix));
  }
}

/**
 * The docker CLI's TrimBuildFilesFromExcludes: the Dockerfile and
 * `.dockerignore` are always sent (the daemon needs them), even when ignored.
 */
export function keepBuildFiles(
  excludes: string[],
  dockerfile: string,
  dockerfileFromStdin: boolean,
): string[] {
  const out = [...excludes];
  if (new PatternMatcher(out).matches('.dockerignore')) out.push('!.dockerignore');
  if (!dockerfileFromStdin && new PatternMatcher(out).matches(dockerfile)) {
    out.push(`!${dockerfile}`);
  }
  return out;
}
