/**
 * A NETLINK_ROUTE socket and its two exchanges: request → acknowledgement
 * (or a typed error), and dump → all parts (restarted when the kernel marks
 * it interrupted). Requests on one socket run one at a time, in order.
 *
 * rtnetlink does a request's work inside the sender's send(2): tens of
 * microseconds for most, about 0.5 ms to create a veth pair, but 15-40 ms to
 * delete a link (the kernel waits for RCU grace periods). So deletions are
 * sent from a libuv worker thread (koffi's async calls) and never stall the
 * event loop; everything else is sent inline, where the worker hop would
 * cost about as much as the request (~0.05-0.1 ms).
 * The reply is queued by the time send(2) returns, so it is read inline.
 * Figures: docs/decisions/0006-netlink.md.
 *
 * A socket opened for a namespace file stays in that namespace for its
 * whole life: only its creation runs switched in (see inNetns), so no
 * thread of the daemon is left there.
 */
import {
  AF_NETLINK,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_GET_STRICT_CHK,
  NETLINK_ROUTE,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  RTM_DELLINK,
  RTM_NEWLINK,
  SOL_NETLINK,
} from './constants.js';
import type { NlMessage } from './codec.js';
import { Exchange } from './exchange.js';
import { NetlinkError } from './errors.js';
import {
  bindSocket,
  closeFd,
  EAGAIN,
  EINTR,
  EMSGSIZE,
  ETIMEDOUT,
  inNetns,
  MSG_DONTWAIT,
  MSG_TRUNC,
  openSocket,
  recvBytes,
  recvBytesOffThread,
  sendBytes,
  sendBytesOffThread,
  setSockOpt,
  SO_RCVTIMEO,
  SOCK_RAW,
  SOL_SOCKET,
} from '../sys/libc.js';

/** Moves datagrams; the real one is a socket fd, tests script the kernel's side. */
export interface Transport {
  /** Sends one request; the kernel has processed it when this returns. */
  send(datagram: Buffer): void;
  /** The same from a worker thread, leaving the event loop free meanwhile. */
  sendOffThread(datagram: Buffer): Promise<void>;
  /** The next datagram, waiting for it (bounded by the socket's timeout). */
  recv(): Buffer;
  /** The same from a worker thread. */
  recvOffThread(): Promise<Buffer>;
  /** Releases the socket. */
  close(): void;
}

/**
 * Which requests are sent from a worker thread: `deletes` (default) link
 * deletions; `links` link creations too; `always` every request, and dumps
 * are read there as well; `never` none.
 */
export type Offload = 'never' | 'deletes' | 'links' | 'always';

/** Options for opening a socket. */
export interface OpenOptions {
  /** A bind-mounted network namespace file; the socket is created inside it. */
  netns?: string;
  /** How long one receive may wait before the request fails with ETIMEDOUT (default 5000). */
  timeoutMs?: number;
  /** Which requests are sent from a worker thread (default `deletes`). */
  offload?: Offload;
  /** The netlink family (default NETLINK_ROUTE; NETLINK_NETFILTER for conntrack). */
  protocol?: number;
}

/** How often an interrupted dump is restarted before giving up. */
const DUMP_ATTEMPTS = 10;

// One receive buffer for all inline reads: JavaScript copies each datagram
// out before anything else can read. Dump parts are at most 32 KiB.
const rbuf = Buffer.alloc(64 * 1024);

class FdTransport implements Transport {
  constructor(private fd: number) {}

  send(datagram: Buffer): void {
    sendBytes(this.fd, datagram);
  }

  async sendOffThread(datagram: Buffer): Promise<void> {
    const n = await sendBytesOffThread(this.fd, datagram);
    // A failed send(2) never reached rtnetlink (errors after delivery come
    // back as NLMSG_ERROR), so sending again here is safe and gives the errno.
    if (n < 0) this.send(datagram);
  }

  recv(): Buffer {
    return this.take(rbuf, 0);
  }

  async recvOffThread(): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(rbuf.length);
    const n = await recvBytesOffThread(this.fd, buf, MSG_TRUNC);
    if (n < 0) return this.take(rbuf, MSG_DONTWAIT); // learn why, without waiting
    return this.copy(buf, n);
  }

  private take(buf: Buffer, flags: number): Buffer {
    try {
      return this.copy(buf, recvBytes(this.fd, buf, MSG_TRUNC | flags));
    } catch (e) {
      const errno = (e as { errno?: number }).errno;
      if (errno === EAGAIN) throw new NetlinkError(ETIMEDOUT, 0, 'no answer from the kernel');
      throw e;
    }
  }

  private copy(buf: Buffer, n: number): Buffer {
    if (n > buf.length) throw new NetlinkError(EMSGSIZE, 0, `reply of ${n} bytes truncated`);
    return Buffer.from(buf.subarray(0, n));
  }

  close(): void {
    if (this.fd >= 0) closeFd(this.fd);
    this.fd = -1;
  }
}

function openNetlinkFd(timeoutMs: number, protocol: number): number {
  const fd = openSocket(AF_NETLINK, SOCK_RAW, protocol);
  try {
    // Port id 0: the kernel picks a unique one.
    const addr = Buffer.alloc(12);
    addr.writeUInt16LE(AF_NETLINK, 0);
    bindSocket(fd, addr);
    const tv = Buffer.alloc(16);
    tv.writeBigInt64LE(BigInt(Math.floor(timeoutMs / 1000)), 0);
    tv.writeBigInt64LE(BigInt((timeoutMs % 1000) * 1000), 8);
    setSockOpt(fd, SOL_SOCKET, SO_RCVTIMEO, tv);
    // Extended acks give the kernel's reason in words; capped acks skip the
    // echoed request; strict checking lets dumps filter in the kernel.
    // Each is optional: older kernels refuse the option and work without it.
    for (const opt of [NETLINK_EXT_ACK, NETLINK_CAP_ACK, NETLINK_GET_STRICT_CHK]) {
      try {
        setSockOpt(fd, SOL_NETLINK, opt, 1);
      } catch {
        /* not supported by this kernel */
      }
    }
    return fd;
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}

/** The sequence numbers of the messages in a datagram (their headers' nlmsg_seq). */
function seqsIn(datagram: Buffer): Set<number> {
  const seqs = new Set<number>();
  for (let off = 0; off + 16 <= datagram.length;) {
    const len = datagram.readUInt32LE(off);
    seqs.add(datagram.readUInt32LE(off + 8));
    if (len < 16) break;
    off += (len + 3) & ~3;
  }
  return seqs;
}

/** One rtnetlink socket, one per namespace in use (opening one costs ~0.06 ms). */
export class NetlinkSocket {
  private seq = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly transport: Transport,
    private readonly offload: Offload = 'deletes',
  ) {}

  /** Opens a netlink socket (NETLINK_ROUTE unless told) here or inside `opts.netns`. */
  static open(opts: OpenOptions = {}): NetlinkSocket {
    const timeout = opts.timeoutMs ?? 5000;
    const open = (): number => openNetlinkFd(timeout, opts.protocol ?? NETLINK_ROUTE);
    const fd = opts.netns ? inNetns(opts.netns, open) : open();
    return new NetlinkSocket(new FdTransport(fd), opts.offload);
  }

  /** Closes the socket once the requests already made have finished. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.tail.then(() => this.transport.close());
  }

  /**
   * Sends `msg` (built by NlWriter) with NLM_F_REQUEST|NLM_F_ACK and returns
   * the replies that came before the acknowledgement (none for most
   * changes, one for a GET). An error reply rejects with a NetlinkError
   * naming `what` (the object the request is about).
   */
  request(msg: Buffer, what: string): Promise<NlMessage[]> {
    return this.serial(async () => (await this.exchange(msg, what, false)).messages);
  }

  /**
   * Sends `msg` as a dump request and returns every part. When the kernel
   * flags a part NLM_F_DUMP_INTR (the table changed while it was walked, so
   * the result may be inconsistent), the dump is read to its end and
   * started again, up to 10 times.
   */
  dump(msg: Buffer, what: string): Promise<NlMessage[]> {
    return this.serial(async () => {
      for (let attempt = 1; ; attempt++) {
        const ex = await this.exchange(msg, what, true);
        if (!ex.interrupted) return ex.messages;
        if (attempt >= DUMP_ATTEMPTS) {
          throw new NetlinkError(EINTR, ex.type, `${what}: dump interrupted ${attempt} times`);
        }
      }
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('netlink: socket is closed'));
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Sends several requests in one datagram (one send(2)) and waits for all
   * their acknowledgements. The kernel handles them in order and goes on
   * past a failed one, so only requests that make sense whatever the
   * earlier ones did belong together; the first error that `ignore` (if
   * given) does not take rejects.
   */
  requestAll(
    parts: Array<{ msg: Buffer; what: string }>,
    ignore?: (e: unknown) => boolean,
  ): Promise<void> {
    return this.serial(async () => {
      const pending = new Map<number, Exchange>();
      for (const p of parts) {
        const ex = this.stamp(p.msg, p.what, false);
        pending.set(ex.seq, ex);
      }
      this.transport.send(Buffer.concat(parts.map((p) => p.msg)));
      let first: unknown;
      while (pending.size) {
        const datagram = this.transport.recv();
        // Each exchange is given the datagrams that answer it (by sequence number).
        for (const seq of seqsIn(datagram)) {
          const ex = pending.get(seq);
          if (!ex) continue;
          try {
            if (ex.feed(datagram)) pending.delete(seq);
          } catch (e) {
            if (!ignore?.(e)) first ??= e;
            pending.delete(seq);
          }
        }
      }
      if (first !== undefined) throw first;
    });
  }

  /** Gives `msg` its flags and the next sequence number; the exchange waits for its replies. */
  private stamp(msg: Buffer, what: string, isDump: boolean): Exchange {
    this.seq = (this.seq + 1) >>> 0 || 1;
    const flags = msg.readUInt16LE(6) | NLM_F_REQUEST | (isDump ? NLM_F_DUMP : NLM_F_ACK);
    msg.writeUInt16LE(flags, 6);
    msg.writeUInt32LE(this.seq, 8);
    msg.writeUInt32LE(0, 12);
    return new Exchange(this.seq, msg.readUInt16LE(4), what, isDump);
  }

  private async exchange(msg: Buffer, what: string, isDump: boolean): Promise<Exchange> {
    const ex = this.stamp(msg, what, isDump);
    const flags = msg.readUInt16LE(6);
    const create = ex.type === RTM_NEWLINK && (flags & NLM_F_CREATE) !== 0;
    const o = this.offload;
    if (o === 'always' || (o !== 'never' && ex.type === RTM_DELLINK) || (o === 'links' && create)) {
      await this.transport.sendOffThread(msg);
    } else {
      this.transport.send(msg);
    }
    // Only a dump's later parts are made on demand, inside recv(2).
    const offRead = isDump && this.offload === 'always';
    while (!ex.feed(offRead ? await this.transport.recvOffThread() : this.transport.recv()));
    return ex;
  }
}
