/**
 * Argument checks for store calls. They run before any transaction opens, so a
 * bad call changes nothing. The rules are etcd's, so code written against the
 * embedded store keeps working on the etcd store.
 */
import { invalid } from '../common/errors.js';
import type { Compare, Op } from './types.js';

// A lone surrogate cannot be encoded as UTF-8; SQLite would silently store U+FFFD.
const LONE_SURROGATE = /\p{Surrogate}/u;

/** Throws INVALID_ARGUMENT unless `s` is a string that survives UTF-8 round trips. */
function checkText(s: unknown, what: string): void {
  if (typeof s !== 'string') throw invalid(`${what} must be a string`);
  if (LONE_SURROGATE.test(s)) throw invalid(`${what} is not well-formed unicode`);
}

/** Throws INVALID_ARGUMENT unless `key` is a non-empty, well-formed string. */
export function checkKey(key: unknown): void {
  checkText(key, 'key');
  if (key === '') throw invalid('key must not be empty');
}

/** Throws INVALID_ARGUMENT unless `value` is a well-formed string. */
export function checkValue(value: unknown): void {
  checkText(value, 'value');
}

/** Throws INVALID_ARGUMENT unless `prefix` is a well-formed string (empty = everything). */
export function checkPrefix(prefix: unknown): void {
  checkText(prefix, 'prefix');
}

/** Throws INVALID_ARGUMENT unless `rev` can be a modRevision (0 = absent). */
export function checkRevision(rev: unknown): void {
  if (typeof rev !== 'number' || !Number.isSafeInteger(rev) || rev < 0) {
    throw invalid(`modRevision must be a non-negative integer, got ${String(rev)}`);
  }
}

/** Throws INVALID_ARGUMENT unless `ttl` is a whole number of seconds, 1 to 2^31-1. */
export function checkTtl(ttl: unknown): void {
  if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl < 1 || ttl > 2 ** 31 - 1) {
    throw invalid(`lease TTL must be a whole number of seconds >= 1, got ${String(ttl)}`);
  }
}

/** Throws INVALID_ARGUMENT unless `lease` is a lease id: a positive decimal integer. */
export function checkLease(lease: unknown): void {
  if (typeof lease !== 'string' || !/^[1-9][0-9]{0,18}$/.test(lease)) {
    throw invalid(`lease id must be a positive decimal integer string, got ${String(lease)}`);
  }
}

/** Validates the compares of a transaction. */
export function checkCompares(compares: unknown): asserts compares is Compare[] {
  if (!Array.isArray(compares)) throw invalid('compares must be an array');
  for (const c of compares as Compare[]) {
    checkKey(c?.key);
    checkRevision(c.modRevision);
  }
}

/**
 * Validates one branch of a transaction. Like etcd, a branch may not put the
 * same key twice nor put a key it also deletes: every op of a transaction
 * happens at one revision, so their order would otherwise be ambiguous.
 */
export function checkOps(ops: unknown): asserts ops is Op[] {
  if (!Array.isArray(ops)) throw invalid('ops must be an array');
  const puts = new Set<string>();
  const deletedKeys = new Set<string>();
  const deletedPrefixes: string[] = [];
  for (const op of ops as Op[]) {
    switch (op?.type) {
      case 'put':
        checkKey(op.key);
        checkValue(op.value);
        if (op.lease !== undefined) checkLease(op.lease);
        if (puts.has(op.key)) throw invalid(`txn puts key ${op.key} twice`);
        puts.add(op.key);
        break;
      case 'delete':
        checkKey(op.key);
        deletedKeys.add(op.key);
        break;
      case 'deletePrefix':
        checkPrefix(op.prefix);
        deletedPrefixes.push(op.prefix);
        break;
      default:
        throw invalid(`unknown txn op ${JSON.stringify((op as { type?: unknown })?.type)}`);
    }
  }
  for (const key of puts) {
    if (deletedKeys.has(key) || deletedPrefixes.some((p) => key.startsWith(p))) {
      throw invalid(`txn both puts and deletes key ${key}`);
    }
  }
}
