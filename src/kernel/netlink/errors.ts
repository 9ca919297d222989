/**
 * The kernel's refusals, typed. A NetlinkError carries the errno the kernel
 * returned (`errno`, and its name as `code`, like Node's system errors), the
 * request it refused and the kernel's extended-ack text. Callers test `code`
 * (or the predicates below), never `instanceof` across module copies.
 */
import { getSystemErrorName } from 'node:util';
import { SysError } from '../sys/libc.js';
import { RTM_NAMES } from './constants.js';

/** A request the kernel answered with a non-zero errno. */
export class NetlinkError extends SysError {
  /** The kernel's extended-ack message, if it sent one (e.g. "Unknown device type"). */
  readonly kernelMessage: string | undefined;
  /** The rtnetlink message type of the refused request (RTM_NEWLINK, ...). */
  readonly requestType: number;

  constructor(errno: number, requestType: number, what: string, kernelMessage?: string) {
    const req = requestType ? (RTM_NAMES[requestType] ?? `type ${requestType}`) : '';
    super('netlink', errno, `${req} ${what}`.trim());
    this.name = 'NetlinkError';
    this.requestType = requestType;
    this.kernelMessage = kernelMessage;
    if (kernelMessage) this.message += ` (${kernelMessage})`;
  }

  /** The errno's symbolic name: EEXIST, ENODEV, EBUSY, ... */
  override get code(): string {
    // 95 is both; libuv says ENOTSUP, the kernel (and iproute2's users) EOPNOTSUPP.
    if (this.errno === 95) return 'EOPNOTSUPP';
    try {
      return getSystemErrorName(-this.errno);
    } catch {
      return `E${this.errno}`;
    }
  }
}

const NOT_FOUND = new Set(['ENOENT', 'ENODEV', 'ESRCH', 'EADDRNOTAVAIL']);

/**
 * True when `e` says the object is not there. The kernel spells this four
 * ways: ENODEV (link), EADDRNOTAVAIL (address), ESRCH (route), ENOENT
 * (neighbour, FDB entry) — idempotent teardown treats all as done.
 */
export function isNotFound(e: unknown): boolean {
  return NOT_FOUND.has(codeOf(e));
}

/** True when `e` says the object already exists (EEXIST). */
export function isExists(e: unknown): boolean {
  return codeOf(e) === 'EEXIST';
}

function codeOf(e: unknown): string {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : '';
}
