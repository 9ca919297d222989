/**
 * The cluster store: KvStore on etcd v3 over gRPC (the etcd3 client, decision
 * 0019). Every key lives under one prefix; values are the caller's strings
 * (JSON), so `etcdctl get --prefix /berth/` shows readable state.
 *
 * - Conditional writes are etcd transactions comparing mod_revision (0 =
 *   absent); a failed compare reads the key in the same round trip, so the
 *   CONFLICT says what it found.
 * - Calls go to one endpoint at a time and fail over to the others on
 *   connection errors (the client's pool: a circuit breaker per endpoint, up
 *   to three attempts); each call has a deadline, so a dead cluster fails
 *   calls at once instead of hanging them.
 * - Watches are this module's own: one gRPC stream per watch, which records
 *   the revision of the last response it delivered and, when the stream
 *   breaks (a member dies, the connection drops), reopens on any endpoint
 *   from that revision + 1: nothing lost, nothing repeated. etcd never splits
 *   one revision across responses, so a revision boundary is a safe resume
 *   point. When etcd has compacted that history the watch ends with a
 *   CompactedError and the caller resyncs.
 *
 * Size: the whole KvStore contract on one client (reads, transactions,
 * leases, watch plumbing); leases and their keep-alive are the next to move
 * out, beside watch.ts.
 */
import { readFileSync } from 'node:fs';
import { ConsecutiveBreaker, circuitBreaker, handleWhen } from 'cockatiel';
import {
  Etcd3,
  EtcdLeaseInvalidError,
  GRPCGenericError,
  isRecoverableError,
  type IKeyValue,
  type IRequestOp,
  type IOptions,
} from 'etcd3';
import { BerthError, conflict, invalid, messageOf } from '../../common/errors.js';
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
import { EtcdWatch, close } from './watch.js';

export type * from './options.js';
export { DEFAULT_PREFIX } from './options.js';

const DEFAULT_TIMEOUT_MS = 5000;
/** How long a member that failed three calls in a row is skipped before one call tries it again. */
const BREAKER_OPEN_MS = 1000;

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
  private readonly client: Etcd3;
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
    const options: IOptions = {
      hosts: opts.endpoints,
      grpcOptions: {
        // Lists may be large; etcd caps requests, not responses.
        'grpc.max_receive_message_length': -1,
        // Notice a member that vanished without closing the connection.
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.keepalive_permit_without_calls': 1,
      },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.timeoutMs }),
      faultHandling: {
        // The client's own: a member that failed three calls in a row is
        // skipped; but for 1 s, not its 5 s, so a cluster that comes back
        // (etcd restarted, a host's link back) is used again within a second
        // of answering, on every host.
        host: () =>
          circuitBreaker(handleWhen(isRecoverableError), {
            halfOpenAfter: BREAKER_OPEN_MS,
            breaker: new ConsecutiveBreaker(3),
          }),
      },
    };
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
      options.credentials = {
        rootCertificate: read('CA certificate', opts.tls.caFile),
        ...(opts.tls.certFile !== undefined && opts.tls.keyFile !== undefined
          ? {
              certChain: read('client certificate', opts.tls.certFile),
              privateKey: read('client key', opts.tls.keyFile),
            }
          : {}),
      };
    }
    this.client = new Etcd3(options);
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
    const res = await this.call('get', () => this.client.kv.range({ key: this.k(key) }));
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
    const res = await this.call('list', () =>
      this.client.kv.range({ key, range_end: bytesEnd(key) }),
    );
    return { entries: res.kvs.map((kv) => this.entry(kv)), revision: Number(res.header.revision) };
  }

  async put(key: string, value: string, opts?: PutOptions): Promise<number> {
    this.checkOpen();
    checkKey(key);
    checkValue(value);
    const want = opts?.ifModRevision;
    if (want !== undefined) checkRevision(want);
    if (opts?.lease !== undefined) checkLease(opts.lease);
    const put = { key: this.k(key), value: Buffer.from(value), lease: opts?.lease ?? 0 };
    if (want === undefined) {
      const res = await this.call('put', () => this.client.kv.put(put), opts?.lease);
      return Number(res.header.revision);
    }
    const res = await this.call(
      'put',
      () =>
        this.client.kv.txn({
          compare: [this.cmp(key, want)],
          success: [{ request_put: put }],
          failure: [{ request_range: { key: this.k(key), keys_only: true } }],
        }),
      opts?.lease,
    );
    if (!res.succeeded) throw this.conflictOf('put', key, want, res.responses[0]);
    return Number(res.header.revision);
  }

  async delete(key: string, opts?: { ifModRevision?: number }): Promise<boolean> {
    this.checkOpen();
    checkKey(key);
    const want = opts?.ifModRevision;
    if (want !== undefined) checkRevision(want);
    const del = { key: this.k(key) };
    if (want === undefined) {
      const res = await this.call('delete', () => this.client.kv.deleteRange(del));
      return Number(res.deleted) > 0;
    }
    const res = await this.call('delete', () =>
      this.client.kv.txn({
        compare: [this.cmp(key, want)],
        success: [{ request_delete_range: del }],
        failure: [{ request_range: { key: this.k(key), keys_only: true } }],
      }),
    );
    if (!res.succeeded) throw this.conflictOf('delete', key, want, res.responses[0]);
    return Number(res.responses[0]?.response_delete_range?.deleted ?? 0) > 0;
  }

  async txn(compares: Compare[], success: Op[], failure: Op[] = []): Promise<TxnResult> {
    this.checkOpen();
    checkCompares(compares);
    checkOps(success);
    checkOps(failure);
    const res = await this.call('txn', () =>
      this.client.kv.txn({
        compare: compares.map((c) => this.cmp(c.key, c.modRevision)),
        success: success.map((op) => this.op(op)),
        failure: failure.map((op) => this.op(op)),
      }),
    );
    return { succeeded: res.succeeded, revision: Number(res.header.revision) };
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
      client: this.client,
      key,
      rangeEnd: bytesEnd(key),
      strip: this.prefix.length,
      after,
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
    const res = await this.call('members', () => this.client.cluster.memberList({}));
    return res.members.flatMap((m) => [...(m.clientURLs ?? []), ...(m.peerURLs ?? [])]);
  }

  async revision(): Promise<number> {
    this.checkOpen();
    const res = await this.call('revision', () =>
      this.client.kv.range({
        key: this.prefix,
        range_end: bytesEnd(this.prefix),
        count_only: true,
      }),
    );
    return Number(res.header.revision);
  }

  /** Compacts the whole cluster's history (etcd's compaction is not per prefix). */
  async compact(revision: number): Promise<void> {
    this.checkOpen();
    checkRevision(revision);
    try {
      await this.call('compact', () => this.client.kv.compact({ revision, physical: false }));
    } catch (e) {
      if (/required revision has been compacted/.test(messageOf(e))) return;
      throw e;
    }
  }

  async grantLease(ttlSeconds: number): Promise<LeaseId> {
    this.checkOpen();
    checkTtl(ttlSeconds);
    const res = await this.call('grant lease', () =>
      this.client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 }),
    );
    return res.ID;
  }

  async keepAlive(lease: LeaseId): Promise<number> {
    this.checkOpen();
    checkLease(lease);
    const res = await this.call('keep lease alive', async () => {
      const stream = await this.client.leaseClient.leaseKeepAlive();
      return new Promise<{ TTL: string }>((resolve, reject) => {
        const timer = setTimeout(() => {
          close(stream);
          reject(new BerthError('UNAVAILABLE', 'etcd: lease keepalive timed out'));
        }, this.timeoutMs);
        stream.on('data', (r) => {
          clearTimeout(timer);
          resolve(r);
          // A half-close: etcd ends the stream with OK. A cancel would end it
          // with CANCELLED, which the client counts against the member (three
          // in a row open its circuit breaker for a second).
          stream.end();
        });
        stream.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        stream.write({ ID: lease });
      });
    });
    const ttl = Number(res.TTL);
    if (ttl <= 0) throw leaseNotFound(lease);
    return ttl;
  }

  async revokeLease(lease: LeaseId): Promise<void> {
    this.checkOpen();
    checkLease(lease);
    await this.call(
      'revoke lease',
      () => this.client.leaseClient.leaseRevoke({ ID: lease }),
      lease,
    );
  }

  async leaseTimeToLive(lease: LeaseId): Promise<number | undefined> {
    this.checkOpen();
    checkLease(lease);
    const res = await this.call('lease TTL', () =>
      this.client.leaseClient.leaseTimeToLive({ ID: lease }),
    );
    const ttl = Number(res.TTL);
    return ttl > 0 ? ttl : undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watches]) w.cancel();
    this.client.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new BerthError('UNAVAILABLE', 'store is closed');
  }

  private k(key: string): Buffer {
    return Buffer.concat([this.prefix, Buffer.from(key)]);
  }

  private entry(kv: IKeyValue): KvEntry {
    const e: KvEntry = {
      key: kv.key.subarray(this.prefix.length).toString(),
      value: kv.value.toString(),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
    };
    if (kv.lease && kv.lease !== '0') e.lease = kv.lease;
    return e;
  }

  private cmp(
    key: string,
    modRevision: number,
  ): {
    key: Buffer;
    target: 'Mod';
    result: 'Equal';
    mod_revision: number;
  } {
    return { key: this.k(key), target: 'Mod', result: 'Equal', mod_revision: modRevision };
  }

  private op(op: Op): IRequestOp {
    switch (op.type) {
      case 'put':
        return {
          request_put: { key: this.k(op.key), value: Buffer.from(op.value), lease: op.lease ?? 0 },
        };
      case 'delete':
        return { request_delete_range: { key: this.k(op.key) } };
      case 'deletePrefix': {
        const key = this.k(op.prefix);
        return { request_delete_range: { key, range_end: bytesEnd(key) } };
      }
    }
  }

  private conflictOf(
    what: string,
    key: string,
    want: number,
    r: { response_range?: { kvs: IKeyValue[] } } | undefined,
  ): BerthError {
    const have = Number(r?.response_range?.kvs[0]?.mod_revision ?? 0);
    return conflict(`${what} ${key}: modRevision is ${have}, expected ${want}`);
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

function leaseNotFound(lease: LeaseId): BerthError {
  return new BerthError('NOT_FOUND', `store: lease ${lease} not found (expired or revoked)`);
}

/** Maps the client's errors to coded ones; every message says it came from etcd. */
function etcdError(e: unknown, what: string, lease?: LeaseId): BerthError {
  if (e instanceof Error && e.name === 'BerthError') return e as BerthError;
  // grpc-js ends some messages with an empty "Resolution note:".
  const msg = messageOf(e).replace(/\s*Resolution note:\s*$/, '');
  if (e instanceof EtcdLeaseInvalidError || /requested lease not found/.test(msg)) {
    return lease !== undefined
      ? leaseNotFound(lease)
      : new BerthError('NOT_FOUND', `etcd ${what}: lease not found (expired or revoked)`);
  }
  if (/future revision/.test(msg)) return invalid(`etcd ${what}: ${msg}`);
  if (/too many operations|duplicate key/.test(msg)) return invalid(`etcd ${what}: ${msg}`);
  if (/request is too large/.test(msg)) {
    return new BerthError('TOO_LARGE', `etcd ${what}: ${msg}`, { cause: e });
  }
  if (e instanceof GRPCGenericError || /circuit|closed|unavailable|deadline|leader/i.test(msg)) {
    return new BerthError('UNAVAILABLE', `cluster store (etcd) unavailable: ${what}: ${msg}`, {
      cause: e,
    });
  }
  return new BerthError('INTERNAL', `etcd ${what}: ${msg}`, { cause: e });
}

function defaultWatchError(e: unknown): void {
  process.emitWarning(`store watch callback threw: ${messageOf(e)}`, 'BerthStoreWarning');
}
