/**
 * One watch of the etcd store: a gRPC stream that records the revision of
 * the last response it delivered and, when it breaks, reopens on any
 * endpoint from that revision + 1 (nothing lost, nothing repeated); a
 * compacted history ends it with a CompactedError (etcd.ts, decision 0019).
 */
import { BerthError, messageOf } from '../../common/errors.js';
import { CompactedError } from '../errors.js';
import type { WatchEvent } from '../types.js';
import type { GrpcStream } from './grpc.js';
import { watchCreateRequest, watchResponse, type WatchRes } from './proto.js';

/** Reconnect backoff: from the first to the cap, doubling. */
const WATCH_BACKOFF_MS = [50, 2000] as const;

export interface WatchParams {
  /** Opens a Watch stream on a member (throws when none can be tried). */
  open: () => GrpcStream;
  key: Buffer;
  rangeEnd: Buffer;
  /** Bytes of the store prefix to strip from keys. */
  strip: number;
  /**
   * Deliver changes with a revision above this; undefined: from etcd's
   * present (start_revision 0), the point taken from the created response.
   * Not a revision read beforehand: a write that came between would put the
   * watch's start in the past, and etcd serves such a watch only at its
   * resync, every 100 ms. etcd itself still does that to a watch of "now"
   * when a write commits while it creates it (it reads its revision, then
   * registers the watch), but that window is its own, not a round trip.
   */
  after: number | undefined;
  /** How long etcd may take to accept the watch before it is tried on another member. */
  createTimeoutMs: number;
  cb: (ev: WatchEvent) => void;
  onError: ((e: Error) => void) | undefined;
  onCallbackError: (e: unknown) => void;
  done: () => void;
}

/** One watch: a stream that reopens after its last delivered revision. */
export class EtcdWatch {
  private stream: GrpcStream | undefined;
  /** Every change up to this revision has been delivered (undefined: from now, not yet created). */
  private last: number | undefined;
  private cancelled = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Until etcd accepts the watch on the current stream: a silent member's is tried elsewhere. */
  private createTimer: NodeJS.Timeout | undefined;
  private lastError: unknown;
  private firstCreated: (() => void) | undefined;
  private firstFailed: ((e: Error) => void) | undefined;
  private readonly first: Promise<void>;

  constructor(private readonly p: WatchParams) {
    this.last = p.after;
    this.first = new Promise((resolve, reject) => {
      this.firstCreated = resolve;
      this.firstFailed = reject;
    });
    // The failure of the first attempt is reported through started().
    this.first.catch(() => undefined);
    void this.connect();
  }

  /** Resolves once etcd has accepted the watch; rejects after `ms` without that. */
  async started(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new BerthError(
              'UNAVAILABLE',
              `etcd: cannot start a watch: ${this.lastError ? messageOf(this.lastError) : 'no answer'}`,
            ),
          ),
        ms,
      );
    });
    try {
      await Promise.race([this.first, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    clearTimeout(this.timer);
    clearTimeout(this.createTimer);
    const s = this.stream;
    this.stream = undefined;
    if (s) close(s);
    this.p.done();
  }

  private async connect(): Promise<void> {
    if (this.cancelled) return;
    let stream: GrpcStream;
    try {
      stream = this.p.open();
    } catch (e) {
      this.retry(e);
      return;
    }
    this.stream = stream;
    stream.on('message', (m: Buffer) => {
      let res: WatchRes;
      try {
        res = watchResponse(m);
      } catch (e) {
        this.onBroken(stream, e);
        return;
      }
      this.onResponse(stream, res);
    });
    stream.on('error', (e) => this.onBroken(stream, e));
    stream.on('end', () => this.onBroken(stream, new Error('watch stream ended')));
    clearTimeout(this.createTimer);
    // Its 'error' counts against the member and reopens the watch on the next.
    this.createTimer = setTimeout(
      () => stream.fail('etcd did not accept the watch in time'),
      this.p.createTimeoutMs,
    );
    stream.write(
      watchCreateRequest({
        key: this.p.key,
        rangeEnd: this.p.rangeEnd,
        startRevision: this.last === undefined ? 0 : this.last + 1,
      }),
    );
  }

  private onResponse(stream: unknown, res: WatchRes): void {
    if (stream !== this.stream || this.cancelled) return;
    const compactRev = res.compactRevision;
    if (compactRev > 0) {
      this.fail(new CompactedError((this.last ?? 0) + 1, compactRev));
      return;
    }
    if (res.canceled) {
      this.fail(
        new BerthError(
          'UNAVAILABLE',
          `etcd cancelled the watch: ${res.cancelReason || 'no reason'}`,
        ),
      );
      return;
    }
    if (res.created) {
      clearTimeout(this.createTimer);
      // From now: etcd watches from the header's revision + 1 (its revision
      // when it took the request), so nothing after it is missed on a reconnect.
      this.last ??= res.revision;
      this.attempt = 0;
      this.firstCreated?.();
      return;
    }
    const before = this.last ?? 0;
    let top = before;
    for (const ev of res.events) {
      const revision = ev.kv.modRevision;
      // A response never splits a revision, so anything at or below `before`
      // was delivered before a reconnect: skip it rather than repeat it.
      if (revision <= before) continue;
      if (revision > top) top = revision;
      const key = ev.kv.key.subarray(this.p.strip).toString();
      const out: WatchEvent =
        ev.type === 'delete'
          ? { type: 'delete', key, revision }
          : { type: 'put', key, value: ev.kv.value.toString(), revision };
      if (this.cancelled) return;
      try {
        this.p.cb(out);
      } catch (e) {
        this.p.onCallbackError(e);
      }
    }
    this.last = top;
  }

  private onBroken(stream: GrpcStream, e: unknown): void {
    if (stream !== this.stream || this.cancelled) return;
    this.stream = undefined;
    close(stream);
    this.retry(e);
  }

  private retry(e: unknown): void {
    this.lastError = e;
    const [min, max] = WATCH_BACKOFF_MS;
    const delay = Math.min(min * 2 ** this.attempt, max);
    this.attempt++;
    this.timer = setTimeout(() => void this.connect(), delay);
  }

  private fail(e: Error): void {
    // The watch did start; its end is reported through onError, not watch()'s promise.
    this.firstCreated?.();
    this.cancel();
    if (this.p.onError) this.p.onError(e);
    else this.p.onCallbackError(e);
  }
}

/** Ends a stream of ours: a half-close, so etcd ends it with OK, then drops it. */
function close(stream: GrpcStream): void {
  stream.end();
  stream.cancel();
}
