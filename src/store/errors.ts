/**
 * The one store error callers must tell apart: a watch asked for history the
 * store no longer has. The caller resyncs (listWithRevision, then watch from
 * its revision + 1). Identified by a property, not instanceof (errors may come
 * from another copy of this module).
 */
import { BerthError } from '../common/errors.js';

export class CompactedError extends BerthError {
  /** The store's compaction revision: history before it is gone. */
  readonly compactRevision: number;
  readonly compacted = true;
  constructor(requested: number, compactRevision: number) {
    super(
      'CONFLICT',
      `store: revision ${requested} has been compacted (history starts at ${compactRevision})`,
    );
    this.compactRevision = compactRevision;
  }
}

/** True when `e` reports a watch whose history was compacted. */
export function isCompacted(e: unknown): e is CompactedError {
  return typeof e === 'object' && e !== null && (e as { compacted?: unknown }).compacted === true;
}
