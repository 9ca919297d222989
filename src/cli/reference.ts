/**
 * Just enough of docker's reference package to print and pull images the way
 * the docker CLI does: "busybox" is "busybox:latest", "docker.io/library/x"
 * is familiar "x", a bare 64-hex string is an image ID.
 */

/** A parsed image reference. */
export interface ImageRef {
  /** Familiar repository name ("busybox", "localhost:5000/foo"). */
  name: string;
  /** Tag, if any. */
  tag?: string;
  /** Digest ("sha256:..."), if any. */
  digest?: string;
}

/** The error docker gives for unparsable references. */
export class ImageReferenceError extends Error {}

/** Parses "name[:tag][@digest]"; returns undefined for an image ID. */
export function parseReference(s: string): ImageRef | undefined {
  if (/^(sha256:)?[a-f0-9]{64}$/.test(s)) return undefined;
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  if (rest === '' || (tag !== undefined && !/^[\w][\w.-]{0,127}$/.test(tag)))
    throw new ImageReferenceError('invalid reference format');
  if (/[A-Z]/.test(rest))
    throw new ImageReferenceError('invalid reference format: repository name must be lowercase');
  if (
    !/^[a-z0-9]+(?:[._-]+[a-z0-9]+|[:/][a-z0-9]+)*$/i.test(rest.replace(/^[^/]*[.:][^/]*\//, 'h/'))
  )
    throw new ImageReferenceError('invalid reference format');
  let name = rest;
  for (const p of [
    'docker.io/library/',
    'index.docker.io/library/',
    'docker.io/',
    'index.docker.io/',
  ]) {
    if (name.startsWith(p)) {
      name = name.slice(p.length);
      break;
    }
  }
  return { name, tag, digest };
}

/** reference.FamiliarString(TagNameOnly(ref)): "busybox:latest". */
export function familiarWithTag(r: ImageRef): string {
  if (r.digest) return `${r.name}${r.tag ? ':' + r.tag : ''}@${r.digest}`;
  return `${r.name}:${r.tag ?? 'latest'}`;
}

/** reference.ParseNormalizedNamed(...).Name(): "foo" is "docker.io/library/foo". */
export function normalizedName(r: ImageRef): string {
  const first = r.name.split('/')[0] ?? '';
  const hasDomain =
    r.name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasDomain) return r.name;
  return r.name.includes('/') ? `docker.io/${r.name}` : `docker.io/library/${r.name}`;
}
