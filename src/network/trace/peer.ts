/**
 * The far side of a trace across hosts (decision 0033, "Across hosts"):
 * the source host asks the destination's host, through the cluster store
 * (the daemons have no API channel to each other), to trace the probe's
 * arrival. The request `trace/requests/<node>/<id>` and the replies
 * `trace/replies/<id>` (`armed`, then `done` with the lines) live under a
 * short lease of the asker's, so nothing outlives a trace. The probe is
 * sent only once the far side says it is armed; a host that does not
 * answer in time (down, an older daemon) leaves the far side inferred.
 */
import { randomBytes } from 'node:crypto';
import { messageOf } from '../../common/errors.js';
import { parseIp } from '../../common/ip.js';
import type { Logger } from '../../common/log.js';
import type { ProbeProto } from '../../kernel/firewall/trace.js';
import type { KvStore, WatchEvent } from '../../store/types.js';

export const TRACE_REQUESTS = 'trace/requests/';
export const TRACE_REPLIES = 'trace/replies/';

/** What the far side is asked to watch for. */
export interface ArrivalRequest {
  networkId: string;
  vni: number;
  /** The probe: its inner destination, protocol and tag. */
  dst: string;
  proto: ProbeProto;
  tag: number;
  /** The probe's port (tcp, udp): the far side says whether something listens on it. */
  port?: number;
  /** How long the far side keeps its tables, from armed. */
  windowMs: number;
  /** The asker's lease, for the replies. */
  lease: string;
}

/** The longest window a far side keeps its tables for. */
export const MAX_WINDOW_MS = 5000;

/**
 * A request as read from the store, checked field by field: its values go
 * into nftables rules and timers, so anything but an IPv4 address, a known
 * protocol, a VNI, a 16-bit tag and a bounded window is refused.
 */
export function parseArrivalRequest(text: string): ArrivalRequest | string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return 'not JSON';
  }
  if (typeof o !== 'object' || o === null) return 'not an object';
  const int = (v: unknown, lo: number, hi: number) =>
    typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
  if (typeof o.networkId !== 'string' || !/^[\w.-]{1,128}$/.test(o.networkId))
    return 'bad networkId';
  if (!int(o.vni, 1, 0xffffff)) return 'bad vni';
  if (typeof o.dst !== 'string' || parseIp(o.dst)?.family !== 4) return 'bad dst';
  if (o.proto !== 'tcp' && o.proto !== 'udp' && o.proto !== 'icmp') return 'bad proto';
  if (!int(o.tag, 0, 0xffff)) return 'bad tag';
  if (o.port !== undefined && (o.proto === 'icmp' || !int(o.port, 1, 0xffff))) return 'bad port';
  if (!int(o.windowMs, 0, MAX_WINDOW_MS)) return 'bad windowMs';
  if (typeof o.lease !== 'string' || !/^[0-9a-zA-Z]{1,32}$/.test(o.lease)) return 'bad lease';
  return {
    networkId: o.networkId,
    vni: o.vni as number,
    dst: o.dst,
    proto: o.proto,
    tag: o.tag as number,
    ...(o.port !== undefined ? { port: o.port as number } : {}),
    windowMs: o.windowMs as number,
    lease: o.lease,
  };
}

export interface ArrivalReply {
  state: 'armed' | 'done' | 'failed';
  /** done: `nft monitor trace` lines of its host namespace and of the overlay's. */
  lines?: string[];
  overlayLines?: string[];
  /** done, for a request with a port: whether the destination listens on it there. */
  listening?: boolean;
  error?: string;
}

/** The asker's handle on one request. */
export interface PeerTrace {
  /** True once the far side is armed; else why not (it failed, or did not answer in time). */
  armed: Promise<true | string>;
  /** Its lines, or why there are none. */
  done: Promise<ArrivalReply>;
  /** Ends the request (revokes its lease: the keys go). */
  close(): Promise<void>;
}

function waitFor<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(fallback), ms);
    void p.then((v) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

/** Asks host `node` to trace the probe's arrival. */
export async function askPeer(
  kv: KvStore,
  node: string,
  req: Omit<ArrivalRequest, 'lease'>,
  timeouts: { armMs?: number; doneMs?: number } = {},
): Promise<PeerTrace> {
  const id = randomBytes(6).toString('hex');
  const lease = await kv.grantLease(15);
  let onArmed!: (v: true | string) => void;
  let onDone!: (r: ArrivalReply) => void;
  const armed = new Promise<true | string>((r) => (onArmed = r));
  const done = new Promise<ArrivalReply>((r) => (onDone = r));
  const cancel = await kv.watch(TRACE_REPLIES + id, (ev) => {
    if (ev.type !== 'put' || !ev.value) return;
    let reply: ArrivalReply;
    try {
      reply = JSON.parse(ev.value) as ArrivalReply;
    } catch {
      return;
    }
    if (typeof reply !== 'object' || reply === null) return;
    if (reply.state === 'armed') onArmed(true);
    else {
      onArmed(reply.error ?? reply.state);
      onDone(reply);
    }
  });
  const full: ArrivalRequest = { ...req, lease };
  await kv.put(`${TRACE_REQUESTS}${node}/${id}`, JSON.stringify(full), { lease });
  const noAnswer: ArrivalReply = { state: 'failed', error: `host ${node} did not answer` };
  return {
    armed: waitFor(armed, timeouts.armMs ?? 3000, `host ${node} did not answer`),
    done: waitFor(done, req.windowMs + (timeouts.doneMs ?? 3000), noAnswer),
    close: async () => {
      cancel();
      await kv.revokeLease(lease).catch(() => undefined);
    },
  };
}

/** The far side's kernel part: arms the tables, and later returns the lines. */
export type Arm = (req: ArrivalRequest) => Promise<{
  finish(): Promise<{ lines: string[]; overlayLines: string[]; listening?: boolean }>;
}>;

/** How long servePeer waits before it tries the cluster store again. */
export const SERVE_RETRY_MS = 2000;

/**
 * Serves trace requests for this host (`node`) until the returned function
 * is called: each is armed, answered `armed`, and after its window answered
 * `done` with the lines (or `failed`). Resolves once the first attempt to
 * follow the requests ended; when the store cannot be followed (etcd down
 * at start, a watch ended), it tries again every `retryMs` until it can:
 * requests made meanwhile go unanswered, and their asker infers.
 */
export async function servePeer(
  kv: KvStore,
  node: string,
  arm: Arm,
  log: Logger,
  retryMs = SERVE_RETRY_MS,
): Promise<() => void> {
  const prefix = `${TRACE_REQUESTS}${node}/`;
  let busy = false;
  let stopped = false;
  let failing = false;
  let cancel: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const serve = (ev: WatchEvent): void => {
    if (ev.type !== 'put' || !ev.value) return;
    const id = ev.key.slice(prefix.length);
    const req = parseArrivalRequest(ev.value);
    if (typeof req === 'string') {
      log.warn(`trace request ${id}: refused: ${req}`);
      return;
    }
    const reply = (r: ArrivalReply) =>
      kv
        .put(TRACE_REPLIES + id, JSON.stringify(r), { lease: req.lease })
        .catch((e: unknown) => log.debug(`trace ${id}: reply: ${messageOf(e)}`));
    if (busy) {
      void reply({ state: 'failed', error: 'another trace is under way there' });
      return;
    }
    busy = true;
    void (async () => {
      try {
        const armed = await arm(req);
        await reply({ state: 'armed' });
        await new Promise((r) => setTimeout(r, req.windowMs));
        await reply({ state: 'done', ...(await armed.finish()) });
      } catch (e) {
        await reply({ state: 'failed', error: messageOf(e) });
      } finally {
        busy = false;
      }
    })();
  };
  // Said once per outage, not at every try.
  const failed = (e: unknown): void => {
    if (!failing) log.warn(`trace requests: ${messageOf(e)}; trying again`);
    failing = true;
    if (stopped) return;
    timer = setTimeout(() => void follow(), retryMs);
    timer.unref();
  };
  const follow = async (): Promise<void> => {
    try {
      const c = await kv.watch(prefix, serve, {
        onError: (e) => {
          cancel = undefined;
          failed(e);
        },
      });
      if (stopped) return c();
      cancel = c;
      if (failing) log.info('trace requests: served again');
      failing = false;
    } catch (e) {
      failed(e);
    }
  };
  await follow();
  return () => {
    stopped = true;
    clearTimeout(timer);
    cancel?.();
  };
}
