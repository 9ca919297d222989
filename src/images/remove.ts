/**
 * What `docker rmi` does to one image, decided without touching anything:
 * moby's ImageDelete (daemon/images/image_delete.go) rules and messages, with
 * one deliberate difference, explained in docs/decisions/0004-image-store.md:
 * an image a container uses is never deleted, even when forced; it is only
 * untagged, because Berth's containers run on the image's own layer dirs.
 */
import { createHash } from 'node:crypto';
import type { ImageUser } from './types.js';

/** Facts about the image and the request. */
export interface RemovalInput {
  /** The reference the user gave. */
  ref: string;
  /** The image's id. */
  id: string;
  /** Store keys of its tags. */
  tagKeys: string[];
  /** Whether another image names it as parent. */
  hasChildren: boolean;
  /** A container using it, if any. */
  user?: ImageUser;
  /** `force` of the request. */
  force: boolean;
  /** The tag key a name reference denotes (`busybox` → `docker.io/library/busybox:latest`). */
  refTagKey: (ref: string) => string;
}

/** What to do. */
export interface RemovalPlan {
  /** Tag keys to delete (also when `error` is set: Docker untags before it refuses). */
  untag: string[];
  /** Whether to delete the image itself. */
  deleteImage: boolean;
  /** A CONFLICT message, when the removal is refused. */
  error?: string;
}

const CHILDREN = 1;
const RUNNING = 2;
const ACTIVE_REF = 4;
const STOPPED = 8;
const HARD = CHILDREN | RUNNING;

const short = (s: string): string => s.replace(/^sha256:/, '').slice(0, 12);

/** True when `ref` is (a prefix of) the id itself rather than a name. */
export function isImageIdPrefix(id: string, ref: string): boolean {
  return id.startsWith(`sha256:${ref}`) || id.startsWith(ref);
}

function conflictOf(x: RemovalInput, tags: string[], mask: number): string | undefined {
  let hard = false;
  let msg: string | undefined;
  if (mask & CHILDREN && x.hasChildren) {
    hard = true;
    msg = 'image has dependent child images';
  } else if (mask & RUNNING && x.user?.running) {
    hard = true;
    msg = `image is being used by running container ${short(x.user.containerId)}`;
  } else if (mask & ACTIVE_REF && tags.length > 0) {
    msg = 'image is referenced in multiple repositories';
  } else if (mask & STOPPED && x.user && !x.user.running) {
    msg = `image is being used by stopped container ${short(x.user.containerId)}`;
  }
  if (msg === undefined) return undefined;
  return `conflict: unable to delete ${short(x.id)} (${hard ? 'cannot be forced' : 'must be forced'}) - ${msg}`;
}

/** Decides a removal. */
export function planRemoval(x: RemovalInput): RemovalPlan {
  let tags = [...x.tagKeys];
  const untag: string[] = [];
  let byName = false;
  if (!isImageIdPrefix(x.id, x.ref)) {
    if (!x.force && tags.length === 1 && x.user) {
      return {
        untag: [],
        deleteImage: false,
        error: `conflict: unable to remove repository reference "${x.ref}" (must force) - container ${short(x.user.containerId)} is using its referenced image ${short(x.id)}`,
      };
    }
    const key = x.refTagKey(x.ref);
    untag.push(key);
    tags = tags.filter((k) => k !== key);
    if (tags.length > 0) return { untag, deleteImage: false };
    byName = true;
  } else if (tags.length === 1) {
    const c = conflictOf(x, tags, x.force ? HARD : HARD | STOPPED);
    if (c) return { untag: [], deleteImage: false, error: c };
    untag.push(...tags);
    tags = [];
  }
  const c = conflictOf(x, tags, x.force ? HARD : HARD | ACTIVE_REF | STOPPED);
  // removing the last tag by name never fails on a conflict: the image just stays, untagged
  if (c) return byName ? { untag, deleteImage: false } : { untag, deleteImage: false, error: c };
  untag.push(...tags);
  return { untag, deleteImage: x.user === undefined };
}

/** Docker's chain ids: the first layer's diffID, then sha256("<parent chain> <diffID>"). */
export function chainIds(diffIds: string[]): Array<{ diffId: string; chainId: string }> {
  const out: Array<{ diffId: string; chainId: string }> = [];
  let prev: string | undefined;
  for (const d of diffIds) {
    prev =
      prev === undefined
        ? d
        : `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}`;
    out.push({ diffId: d, chainId: prev });
  }
  return out;
}
