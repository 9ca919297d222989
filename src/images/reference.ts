/**
 * Image references as Docker's distribution/reference package reads them:
 * `busybox` is `docker.io/library/busybox:latest`, `sha256:<64 hex>` and bare
 * 64-hex strings are image ids, and error messages match the Go package's so
 * clients see what Docker would print.
 */
import { invalid } from '../common/errors.js';

/** A parsed, normalised named reference. */
export interface NamedRef {
  /** Registry host (`docker.io` for Docker Hub). */
  domain: string;
  /** Repository path below the domain (`library/busybox`). */
  path: string;
  /** Tag, if one was given. */
  tag?: string;
  /** Digest (`sha256:...`), if one was given. */
  digest?: string;
}

/** What a user-supplied image string denotes before any lookup. */
export type AnyRef = { kind: 'id'; id: string } | { kind: 'named'; ref: NamedRef };

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const REFERENCE_RE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const ID_RE = /^[a-f0-9]{64}$/;
const SHA256_DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const NAME_TOTAL_MAX = 255;

/** True for a full image id `sha256:<64 hex>`. */
export function isFullId(s: string): boolean {
  return SHA256_DIGEST_RE.test(s);
}

/** True for a valid tag (`[\w][\w.-]{0,127}`). */
export function isValidTag(s: string): boolean {
  return TAG_RE.test(s);
}

function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const i = name.indexOf('/');
  let domain: string;
  let remainder: string;
  const first = i === -1 ? '' : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) {
    remainder = OFFICIAL_REPO_PREFIX + remainder;
  }
  return { domain, remainder };
}

/** Parses a fully qualified reference (`domain/path[:tag][@digest]`), Go's reference.Parse. */
function parseQualified(s: string): NamedRef {
  const m = REFERENCE_RE.exec(s);
  if (!m) {
    if (s === '') throw invalid('repository name must have at least one component');
    if (REFERENCE_RE.test(s.toLowerCase())) {
      throw invalid('invalid reference format: repository name must be lowercase');
    }
    throw invalid('invalid reference format');
  }
  const name = m[1] ?? '';
  if (name.length > NAME_TOTAL_MAX) {
    throw invalid(`repository name must not be more than ${NAME_TOTAL_MAX} characters`);
  }
  const slash = name.indexOf('/');
  const ref: NamedRef = { domain: name.slice(0, slash), path: name.slice(slash + 1) };
  if (m[2] !== undefined) ref.tag = m[2];
  if (m[3] !== undefined) ref.digest = m[3];
  return ref;
}

/** Go's ParseNormalizedNamed: `busybox` → docker.io/library/busybox (no default tag added). */
export function parseNormalizedNamed(s: string): NamedRef {
  if (ID_RE.test(s)) {
    throw invalid(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  const { domain, remainder } = splitDockerDomain(s);
  const colon = remainder.indexOf(':');
  const remoteName = colon === -1 ? remainder : remainder.slice(0, colon);
  if (remoteName.toLowerCase() !== remoteName) {
    throw invalid('invalid reference format: repository name must be lowercase');
  }
  return parseQualified(`${domain}/${remainder}`);
}

/** Go's ParseAnyReference: 64 hex or `sha256:<64 hex>` is an id, anything else a name. */
export function parseAnyReference(s: string): AnyRef {
  if (ID_RE.test(s)) return { kind: 'id', id: `sha256:${s}` };
  if (SHA256_DIGEST_RE.test(s)) return { kind: 'id', id: s };
  return { kind: 'named', ref: parseNormalizedNamed(s) };
}

/** The reference with `latest` when it has neither tag nor digest (Go's TagNameOnly). */
export function withDefaultTag(ref: NamedRef): NamedRef {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

/** `docker.io/library/busybox`. */
export function fullName(ref: NamedRef): string {
  return `${ref.domain}/${ref.path}`;
}

/** `busybox` for `docker.io/library/busybox`, `user/app` for `docker.io/user/app`. */
export function familiarName(ref: NamedRef): string {
  if (ref.domain !== DEFAULT_DOMAIN) return fullName(ref);
  const rest = ref.path.slice(OFFICIAL_REPO_PREFIX.length);
  return ref.path.startsWith(OFFICIAL_REPO_PREFIX) && !rest.includes('/') ? rest : ref.path;
}

/** `busybox:latest`, `busybox@sha256:...`, as Docker prints references. */
export function familiarString(ref: NamedRef): string {
  let s = familiarName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The store key of a tagged reference: `docker.io/library/busybox:latest`. */
export function tagKeyOf(ref: NamedRef): string {
  return `${fullName(ref)}:${ref.tag ?? DEFAULT_TAG}`;
}

/** Parses a store key written by `tagKeyOf` back into a reference. */
export function parseTagKey(key: string): NamedRef {
  return parseQualified(key);
}

/**
 * The reference a tag request names (`POST /images/{name}/tag?repo=&tag=`,
 * `docker import ... repo:tag`): a repository, optionally with a tag, and a
 * separate tag that overrides it. Digests are refused; the tag defaults to latest.
 */
export function parseRepoTag(repo: string, tag?: string): NamedRef {
  const ref = parseNormalizedNamed(repo);
  if (ref.digest !== undefined) throw invalid('refusing to create a tag with a digest reference');
  if (tag !== undefined && tag !== '') {
    if (!isValidTag(tag)) throw invalid('invalid tag format');
    ref.tag = tag;
  }
  if (ref.path === 'library/sha256' && ref.domain === DEFAULT_DOMAIN) {
    throw invalid('refusing to create an ambiguous tag using digest algorithm as name');
  }
  return withDefaultTag(ref);
}

/**
 * The message Docker gives for an image that does not exist: the reference as
 * the user would write it, with `:latest` added to a bare name.
 */
export function noSuchImageMessage(input: string): string {
  let shown = input;
  try {
    const any = parseAnyReference(input);
    shown = any.kind === 'id' ? any.id : familiarString(withDefaultTag(any.ref));
  } catch {
    // an unparsable reference is shown as given
  }
  return `No such image: ${shown}`;
}

/** Go's path.Match for one pattern, as Docker's `reference=` filter uses it. */
function globToRegExp(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i] as string);
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end === -1) return /$^/;
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = '^' + cls.slice(1);
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(re + '$');
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Docker's FamiliarMatch: the pattern matches `name:tag` or just `name`. */
export function familiarMatch(pattern: string, ref: NamedRef): boolean {
  const re = globToRegExp(pattern);
  return re.test(familiarString(ref)) || re.test(familiarName(ref));
}
