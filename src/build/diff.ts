/**
 * A step's changes as a layer tar: the overlay upper directory of the build
 * container (or of the builder's own mount) walked in order and written as
 * Docker's overlay2 differ writes it, by the kernel's one tar walker
 * (pack.ts, layer mode: whiteouts become `.wh.<name>` entries, opaque
 * directories get `.wh..wh..opq`). The image store turns the tar back into
 * a layer directory and content-addresses it by the tar's sha256 (its
 * diffID). `docker commit` writes its layer the same way.
 */
import * as fss from 'node:fs';
import { packTree } from '../kernel/pack.js';

/** Whether the directory has no entries (a step that changed nothing makes no layer). */
export function isEmptyDir(dir: string): boolean {
  return fss.readdirSync(dir).length === 0;
}

/** Streams the tar of the changes recorded in `upper`, leaving out the relative paths in `skip`. */
export function diffTar(upper: string, skip?: ReadonlySet<string>): AsyncIterable<Buffer> {
  return packTree(upper, { name: '', layer: true, ...(skip ? { skip } : {}) });
}
