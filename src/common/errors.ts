/**
 * Typed errors with stable codes. Every error the daemon reports to a client is
 * a BerthError; its code maps to one HTTP status in one table, so the API layer
 * never guesses. Identify errors by `code`, never by `instanceof` across modules.
 */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'CONFLICT'
  /**
   * A store transaction that kept meeting other writers' changes until its
   * attempts ran out (IPAM's retry loop): a conflict too, but one that callers
   * can tell from the others without reading its message.
   */
  | 'RETRIES_EXHAUSTED'
  | 'FORBIDDEN'
  | 'NOT_MODIFIED'
  | 'TOO_LARGE'
  | 'NOT_IMPLEMENTED'
  | 'UNAVAILABLE'
  | 'INTERNAL';

/** HTTP status for each code, as Docker's Engine API uses them. */
export const STATUS_OF: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  RETRIES_EXHAUSTED: 409,
  NOT_MODIFIED: 304,
  TOO_LARGE: 413,
  INTERNAL: 500,
  NOT_IMPLEMENTED: 501,
  UNAVAILABLE: 503,
};

export class BerthError extends Error {
  /** Stable machine-readable code; maps to an HTTP status through STATUS_OF. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'BerthError';
  }
  /** The HTTP status this error is reported with. */
  get status(): number {
    return STATUS_OF[this.code];
  }
}

export const invalid = (msg: string): BerthError => new BerthError('INVALID_ARGUMENT', msg);
export const notFound = (msg: string): BerthError => new BerthError('NOT_FOUND', msg);
export const conflict = (msg: string): BerthError => new BerthError('CONFLICT', msg);
export const forbidden = (msg: string): BerthError => new BerthError('FORBIDDEN', msg);

/** True when `e` is a BerthError with the given code (works across module copies). */
export function hasCode(e: unknown, code: ErrorCode): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

/** A human-readable message for any thrown value. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
