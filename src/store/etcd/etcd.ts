/**
 * The cluster store: KvStore on etcd v3 over gRPC (decision 0019; the gRPC
 * client is Berth's own since decision 0043, grpc.ts and proto.ts). Every key
 * lives under one prefix; values are the caller's strings (JSON), so
 * `etcdctl get --prefix /berth/` shows readable state.
 *
 * - Conditional writes are etcd transactions comparing mod_revision (0 =
 *   absent); a failed compare reads the key in the same round trip, so the
 *   CONFLICT says what it found. A compare that failed on a retried attempt
 *   is checked against what the unanswered attempt would have written: a
 *   write applied once is reported applied, not a CONFLICT.
 * - Calls go to one member at a time and fail over to the others (grpc.ts:
 *   a member that failed three calls in a row is skipped for a second);
 *   each call has a deadline, so a dead cluster fails calls at once instead
 *   of hanging them.
 * - Watches are this module's own: one gRPC stream per watch, which records
 *   the revision of the last response it delivered and, when the stream
 *   breaks (a member dies, the connection drops), reopens on any endpoint
 *   from that revision + 1: nothing lost, nothing repeated. etcd never splits
 *   one revision across responses, so a revision boundary is a safe resume
 *   point. When etcd has compacted that history the watch ends with a
 *   CompactedError and the caller resyncs.
 */
import { readFileSync } from 'node:fs';
import { BerthError, conflict, hasCode, invalid, messageOf } from '../../common/errors.js';
import type {
  ClusterMembers,
  Compare,
  KvEntry,
  KvStore,
  LeaseId,
  ListResult,
  Op,
  PutOptions,
  TxnResult,
  WatchEvent,
  WatchOptions,
} from '../types.js';
import {
  checkCompares,
  checkKey,
  checkLease,
  checkOps,
  checkPrefix,
  checkRevision,
  checkTtl,
  checkValue,
} from '../validate.js';
import { DEFAULT_PREFIX, type EtcdStoreOptions } from './options.js';
import { GrpcChannel, GrpcError, Status } from './grpc.js';
import * as pb from './proto.js';
import { EtcdWatch } from './watch.js';

export type * from './options.js';
export { DEFAULT_PREFIX } from './options.js';

const DEFAULT_TIMEOUT_MS = 5000;

/** etcd's gRPC methods the store calls. */
const KV = '/etcdserverpb.KV/';
const LEASE = '/etcdserverpb.Lease/';
const WATCH = '/etcdserverpb.Watch/Watch';
const MEMBER_LIST = '/etcdserverpb.Cluster/MemberList';

/** The smallest byte string greater than every string starting with `p` (etcd's range_end). */
function bytesEnd(p: Buffer): Buffer {
  const end = Buffer.from(p);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  // No upper bound: etcd reads "\0" as "to the end of the keyspace".
  return Buffer.from([0]);
}

export class EtcdStore implements KvStore, ClusterMembers {
  private readonly channel: GrpcChannel;
  private readonly prefix: Buffer;
  private readonly timeoutMs: number;
  private readonly onWatchError: (e: unknown) => void;
  private readonly watches = new Set<EtcdWatch>();
  private closed = false;

  private constructor(opts: EtcdStoreOptions) {
    if (!Array.isArray(opts.endpoints) || opts.endpoints.length === 0) {
      throw invalid('etcd store: at least one endpoint is needed');
    }
    const prefix = opts.prefix ?? DEFAULT_PREFIX;
    checkPrefix(prefix);
    this.prefix = Buffer.from(prefix);
    this.timeoutMs = opts.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.onWatchError = opts.onWatchError ?? defaultWatchError;
    let tls: { ca: Buffer; cert?: Buffer; key?: Buffer } | undefined;
    if (opts.tls) {
      const read = (what: string, f: string): Buffer => {
        try {
          return readFileSync(f);
        } catch (e) {
          throw invalid(`etcd store: cannot read ${what} ${f}: ${messageOf(e)}`);
        }
      };
      if ((opts.tls.certFile === undefined) !== (opts.tls.keyFile === undefined)) {
        throw invalid('etcd store: a client certificate needs its key and the other way round');
      }
      tls = {
        ca: read('CA certificate', opts.tls.caFile),
        ...(opts.tls.certFile !== undefined && opts.tls.keyFile !== undefined
          ? {
              cert: read('client certificate', opts.tls.certFile),
              key: read('client key', opts.tls.keyFile),
            }
          : {}),
      };
    }
    this.channel = new GrpcChannel(opts.endpoints, tls);
  }

  /**
   * Opens a client for the cluster. With `verify` (the default) it reads the
   * revision once, so an unreachable or misconfigured cluster fails here.
   */
  static async open(opts: EtcdStoreOptions, verify = true): Promise<EtcdStore> {
    const s = new EtcdStore(opts);
    if (verify) {
      try {
        await s.revision();
      } catch (e) {
        await s.close();
        throw e;
      }
    }
    return s;
  }

  /** The key prefix every key of this store lives under. */
  get keyPrefix(): string {
    return this.prefix.toString();
  }

  async get(key: string): Promise<KvEntry | undefined> {
    this.checkOpen();
    checkKey(key);
    const res = await this.unary(
      'get',
      KV + 'Range',
      pb.rangeRequest({ key: this.k(key) }),
      pb.rangeResponse,
    );
    const kv = res.kvs[0];
    return kv ? this.entry(kv) : undefined;
  }

  async list(prefix: string): Promise<KvEntry[]> {
    return (await this.listWithRevision(prefix)).entries;
  }

  async listWithRevision(prefix: string): Promise<ListResult> {
    this.checkOpen();
    checkPrefix(prefix);
    const key = this.k(prefix);
    const req = pb.rangeRequest({ key, rangeEnd: bytesEnd(key) });
    const res = await this.unary('list', KV + 'Range', req, pb.rangeResponse);
    return { entries: res.kvs.map((kv) => this.entry(kv)), revision: res.revision };
  }

  async put(key: string, value: string, opts?: PutOptions): Promise<number> {
    this.checkOpen();
    checkKey(key);
    checkValue(value);
    const want = opts?.ifModRevision;
    if (want !== undefined) checkRevision(want);
    if (opts?.lease !== undefined) checkLease(opts.lease);
    const put: pb.PutReq = { key: this.k(key), value: Buffer.from(value), lease: opts?.lease };
    if (want === undefined) {
      return this.unary('put', KV + 'Put', pb.putRequest(put), pb.revisionOf, opts?.lease);
    }
    return (await this.ifModRevision('put', key, want, { put }, opts?.lease)).revision;
  }

  async delete(key: string, opts?: { ifModRevision?: number }): Promise<boolean> {
    this.checkOpen();
    checkKey(key);
    const want = opts?.ifModRevision;
    if (want !== undefined) checkRevision(want);
    const del = { key: this.k(key) };
    if (want === undefined) {
      const res = await this.unary(
        'delete',
        KV + 'DeleteRange',
        pb.deleteRequest(del),
        pb.deleteResponse,
      );
      return res.deleted > 0;
    }
    await this.ifModRevision('delete', key, want, { delete: del });
    // It held at revision `want`: it existed unless that was 0.
    return want > 0;
  }

  async txn(compares: Compare[], success: Op[], failure: Op[] = []): Promise<TxnResult> {
    this.checkOpen();
    checkCompares(compares);
    checkOps(success);
    checkOps(failure);
    const res = await this.transaction(
      'txn',
      compares.map((c) => ({ key: this.k(c.key), modRevision: c.modRevision })),
      success.map((op) => this.op(op)),
      failure.map((op) => this.op(op)),
      undefined,
      success.flatMap((op) => (op.type === 'put' && op.shared ? [this.k(op.key)] : [])),
    );
    return { succeeded: res.succeeded, revision: res.revision };
  }

  async watch(
    prefix: string,
    cb: (ev: WatchEvent) => void,
    opts: WatchOptions = {},
  ): Promise<() => void> {
    this.checkOpen();
    checkPrefix(prefix);
    if (typeof cb !== 'function') throw invalid('watch callback must be a function');
    if (opts.fromRevision !== undefined) checkRevision(opts.fromRevision);
    // "From now" is etcd's own (start_revision 0): an explicit current
    // revision would race with writes and make the watch start in the past.
    const after = opts.fromRevision !== undefined ? Math.max(opts.fromRevision - 1, 0) : undefined;
    const key = this.k(prefix);
    const w = new EtcdWatch({
      open: () => this.channel.stream(WATCH),
      key,
      rangeEnd: bytesEnd(key),
      strip: this.prefix.length,
      after,
      // Half the call deadline: a second member still has time before watch() gives up.
      createTimeoutMs: this.timeoutMs / 2,
      cb,
      onError: opts.onError,
      onCallbackError: this.onWatchError,
      done: () => this.watches.delete(w),
    });
    this.watches.add(w);
    try {
      await w.started(this.timeoutMs);
    } catch (e) {
      w.cancel();
      throw e;
    }
    return () => w.cancel();
  }

  async memberUrls(): Promise<string[]> {
    this.checkOpen();
    const members = await this.unary(
      'members',
      MEMBER_LIST,
      pb.memberListRequest(),
      pb.memberListResponse,
    );
    return members.flatMap((m) => [...m.clientUrls, ...m.peerUrls]);
  }

  async revision(): Promise<number> {
    this.checkOpen();
    const req = pb.rangeRequest({
      key: this.prefix,
      rangeEnd: bytesEnd(this.prefix),
      countOnly: true,
    });
    return (await this.unary('revision', KV + 'Range', req, pb.rangeResponse)).revision;
  }

  /** Compacts the whole cluster's history (etcd's compaction is not per prefix). */
  async compact(revision: number): Promise<void> {
    this.checkOpen();
    checkRevision(revision);
    try {
      const req = pb.compactionRequest(revision, false);
      await this.unary('compact', KV + 'Compact', req, pb.revisionOf);
    } catch (e) {
      if (historyGone(e)) return;
      throw e;
    }
  }

  async grantLease(ttlSeconds: number): Promise<LeaseId> {
    this.checkOpen();
    checkTtl(ttlSeconds);
    const req = pb.leaseGrantRequest(ttlSeconds);
    const res = await this.unary('grant lease', LEASE + 'LeaseGrant', req, pb.leaseResponse);
    if (res.error) throw new BerthError('INTERNAL', `etcd grant lease: ${res.error}`);
    return res.id;
  }

  async keepAlive(lease: LeaseId): Promise<number> {
    this.checkOpen();
    checkLease(lease);
    // A stream in etcd's API; one request and the end of ours, as a unary
    // call, gets one answer and OK: a renewal fails over as any call does.
    const req = pb.leaseIdRequest(lease);
    const path = LEASE + 'LeaseKeepAlive';
    const res = await this.unary('keep lease alive', path, req, pb.leaseResponse, lease);
    if (res.ttl <= 0) throw leaseNotFound(lease);
    return res.ttl;
  }

  async revokeLease(lease: LeaseId): Promise<void> {
    this.checkOpen();
    checkLease(lease);
    const req = pb.leaseIdRequest(lease);
    const attempts = { retried: false };
    try {
      await this.unary('revoke lease', LEASE + 'LeaseRevoke', req, pb.revisionOf, lease, attempts);
    } catch (e) {
      // Retried after an attempt that went unanswered: that one may have revoked it.
      if (attempts.retried && hasCode(e, 'NOT_FOUND')) return;
      throw e;
    }
  }

  async leaseTimeToLive(lease: LeaseId): Promise<number | undefined> {
    this.checkOpen();
    checkLease(lease);
    const req = pb.leaseIdRequest(lease);
    const res = await this.unary('lease TTL', LEASE + 'LeaseTimeToLive', req, pb.leaseResponse);
    return res.ttl > 0 ? res.ttl : undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watches]) w.cancel();
    this.channel.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new BerthError('UNAVAILABLE', 'store is closed');
  }

  private k(key: string): Buffer {
    return Buffer.concat([this.prefix, Buffer.from(key)]);
  }

  private entry(kv: pb.KeyValue): KvEntry {
    const e: KvEntry = {
      key: kv.key.subarray(this.prefix.length).toString(),
      value: kv.value.toString(),
      createRevision: kv.createRevision,
      modRevision: kv.modRevision,
      version: kv.version,
    };
    if (kv.lease !== '0') e.lease = kv.lease;
    return e;
  }

  private op(op: Op): pb.RequestOp {
    switch (op.type) {
      case 'put':
        return { put: { key: this.k(op.key), value: Buffer.from(op.value), lease: op.lease } };
      case 'delete':
        return { delete: { key: this.k(op.key) } };
      case 'deletePrefix': {
        const key = this.k(op.prefix);
        return { delete: { key, rangeEnd: bytesEnd(key) } };
      }
    }
  }

  private conflictOf(
    what: string,
    key: string,
    want: number,
    r: pb.ResponseOp | undefined,
  ): BerthError {
    const have = r?.range?.kvs[0]?.modRevision ?? 0;
    return conflict(`${what} ${key}: modRevision is ${have}, expected ${want}`);
  }

  /**
   * A conditional put or delete: one transaction comparing the key's
   * mod_revision, whose failure branch reads the key, so the CONFLICT says
   * which revision it found.
   */
  private async ifModRevision(
    what: string,
    key: string,
    want: number,
    op: pb.RequestOp,
    lease?: LeaseId,
  ): Promise<pb.TxnRes> {
    const k = this.k(key);
    const res = await this.transaction(
      what,
      [{ key: k, modRevision: want }],
      [op],
      [{ range: { key: k, keysOnly: true } }],
      lease,
    );
    if (!res.succeeded) throw this.conflictOf(what, key, want, res.responses[0]);
    return res;
  }

  /**
   * One transaction. When its compares failed on a retried attempt, the
   * attempt that went unanswered may have been this very write, applied:
   * if the store shows it was (`appliedAt`), it is reported applied, with
   * no responses. A failure branch that writes may have run on the retry,
   * so such a transaction is not checked. `shared`: the keys of puts other
   * writers may have overwritten since (Op's `shared`).
   */
  private async transaction(
    what: string,
    compares: pb.ModEqual[],
    success: pb.RequestOp[],
    failure: pb.RequestOp[],
    lease?: LeaseId,
    shared: Buffer[] = [],
  ): Promise<pb.TxnRes> {
    const attempts = { retried: false };
    // One deadline for the call and the reads that check it.
    const deadline = Date.now() + this.timeoutMs;
    const req = pb.txnRequest(compares, success, failure);
    const res = await this.unary(what, KV + 'Txn', req, pb.txnResponse, lease, attempts, deadline);
    if (res.succeeded || !attempts.retried || failure.some((op) => !op.range)) return res;
    const revision = await this.appliedAt(compares, success, shared, deadline);
    return revision === undefined ? res : { revision, succeeded: true, responses: [] };
  }

  /**
   * Whether a transaction (`compares`, then `ops`) was applied, and at which
   * revision. With puts: every put's key holds its value and lease, all
   * written at one revision R; just before R every compare held, and at R
   * every deleted range was empty. Deletes alone leave no revision to find:
   * applied when every compared key is among what they delete and all of it
   * is gone (whoever removed that version of it, the effect is the same),
   * at the present revision. Anything else, or a history compacted past R,
   * is not shown applied. Without this a caller would see its own write as
   * a CONFLICT and, allocating, take a second address beside the one it
   * already holds. A `shared` put need only have been written at R or
   * later (another writer may have overwritten it since); the others
   * still have to show R.
   */
  private async appliedAt(
    compares: pb.ModEqual[],
    ops: pb.RequestOp[],
    shared: Buffer[],
    deadline: number,
  ): Promise<number | undefined> {
    const isShared = (p: pb.PutReq) => shared.some((k) => k.equals(p.key));
    const all = ops.flatMap((op) => (op.put ? [op.put] : []));
    const puts = all.filter((p) => !isShared(p));
    const later = all.filter(isShared);
    if (later.length > 0 && puts.length === 0) return undefined;
    const deletes = ops.flatMap((op) => (op.delete ? [op.delete] : []));
    if (ops.length === 0 || all.length + deletes.length !== ops.length) return undefined;
    const read = async (ranges: pb.RangeReq[]) => {
      const req = pb.txnRequest(
        [],
        ranges.map((range) => ({ range })),
        [],
      );
      const res = await this.unary(
        'check a retried write',
        KV + 'Txn',
        req,
        pb.txnResponse,
        undefined,
        undefined,
        deadline,
      );
      return { revision: res.revision, ranges: ranges.map((_, i) => res.responses[i]?.range) };
    };
    const gone = (d: pb.DeleteReq): pb.RangeReq => ({ ...d, countOnly: true });
    if (all.length === 0) {
      if (!compares.every((c) => deletes.some((d) => within(c.key, d)))) return undefined;
      const now = await read(deletes.map(gone));
      return now.ranges.every((r) => r?.count === 0) ? now.revision : undefined;
    }
    const now = await read([...puts, ...later].map((p) => ({ key: p.key })));
    const revisions = new Set<number>();
    for (const [i, p] of puts.entries()) {
      const kv = now.ranges[i]?.kvs[0];
      if (!kv?.value.equals(p.value) || kv.lease !== (p.lease ?? '0')) return undefined;
      revisions.add(kv.modRevision);
    }
    const [at, ...more] = revisions;
    if (at === undefined || more.length > 0) return undefined;
    const overwritten = now.ranges.slice(puts.length).map((r) => r?.kvs[0]?.modRevision ?? 0);
    if (overwritten.some((rev) => rev < at)) return undefined;
    if (compares.length + deletes.length === 0) return at;
    let then;
    try {
      then = await read([
        ...compares.map((c) => ({ key: c.key, keysOnly: true, revision: at - 1 })),
        ...deletes.map((d) => ({ ...gone(d), revision: at })),
      ]);
    } catch (e) {
      if (historyGone(e)) return undefined;
      throw e;
    }
    for (const [i, c] of compares.entries()) {
      if ((then.ranges[i]?.kvs[0]?.modRevision ?? 0) !== c.modRevision) return undefined;
    }
    return then.ranges.slice(compares.length).every((r) => r?.count === 0) ? at : undefined;
  }

  /** One unary etcd call within the store's deadline, its answer decoded (a bad one is an error too). */
  private unary<T>(
    what: string,
    path: string,
    body: Buffer,
    decode: (answer: Buffer) => T,
    lease?: LeaseId,
    attempts?: { retried: boolean },
    deadline = Date.now() + this.timeoutMs,
  ): Promise<T> {
    return this.call(
      what,
      async () => decode(await this.channel.unary(path, body, deadline, attempts)),
      lease,
    );
  }

  /** Runs one etcd call, turning its errors into coded ones. */
  private async call<T>(what: string, fn: () => Promise<T>, lease?: LeaseId): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw etcdError(e, what, lease);
    }
  }
}

/** etcd's answer for a revision older than its history (mvcc's ErrCompacted). */
const historyGone = (e: unknown): boolean =>
  /required revision has been compacted/.test(messageOf(e));

/** Whether `key` is among what `d` deletes. */
function within(key: Buffer, d: pb.DeleteReq): boolean {
  if (!d.rangeEnd) return key.equals(d.key);
  return Buffer.compare(key, d.key) >= 0 && Buffer.compare(key, d.rangeEnd) < 0;
}

function leaseNotFound(lease: LeaseId): BerthError {
  return new BerthError('NOT_FOUND', `store: lease ${lease} not found (expired or revoked)`);
}

/** Maps gRPC's errors to coded ones; every message says it came from etcd. */
function etcdError(e: unknown, what: string, lease?: LeaseId): BerthError {
  if (e instanceof Error && e.name === 'BerthError') return e as BerthError;
  const msg = messageOf(e);
  const code = e instanceof GrpcError ? e.code : undefined;
  if (/requested lease not found/.test(msg)) {
    return lease !== undefined
      ? leaseNotFound(lease)
      : new BerthError('NOT_FOUND', `etcd ${what}: lease not found (expired or revoked)`);
  }
  if (/future revision/.test(msg)) return invalid(`etcd ${what}: ${msg}`);
  if (/too many operations|duplicate key/.test(msg)) return invalid(`etcd ${what}: ${msg}`);
  if (/request is too large|larger than max/.test(msg)) {
    return new BerthError('TOO_LARGE', `etcd ${what}: ${msg}`, { cause: e });
  }
  if (
    code === Status.UNAVAILABLE ||
    code === Status.DEADLINE_EXCEEDED ||
    /unavailable|deadline|leader|timed out/i.test(msg)
  ) {
    return new BerthError('UNAVAILABLE', `cluster store (etcd) unavailable: ${what}: ${msg}`, {
      cause: e,
    });
  }
  return new BerthError('INTERNAL', `etcd ${what}: ${msg}`, { cause: e });
}

function defaultWatchError(e: unknown): void {
  process.emitWarning(`store watch callback threw: ${messageOf(e)}`, 'BerthStoreWarning');
}
