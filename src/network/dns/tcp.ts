/**
 * One listener's DNS-over-TCP connections (RFC 7766): framing, several
 * queries per connection answered in any order, and the limits that keep one
 * client from starving the others (hardening issue, defect 7):
 *
 * - at most `maxPerClient` connections per source address: a new one beyond
 *   that replaces the client's least recently active idle connection, or is
 *   closed at once when all of them have queries in progress;
 * - at most `maxConnections` in all: a new one beyond that replaces the least
 *   recently active idle connection of the client holding the most, so no
 *   single client can take the listener's whole budget;
 * - every message must arrive whole within `messageMs` of its first byte, and
 *   the first within `messageMs` of the connection: bytes dripped slowly do
 *   not keep a connection alive;
 * - a connection with nothing in progress is closed `idleMs` after its last
 *   message or answer.
 */
import type { Socket } from 'node:net';
import { messageOf } from '../../common/errors.js';

/** Answers one message from `source`: a response, null to stay silent, or a promise of either. */
export type TcpQueryHandler = (
  msg: Buffer,
  source: string,
) => Buffer | null | Promise<Buffer | null>;

/** The limits of one listener's TCP connections. */
export interface TcpLimits {
  /** A connection with nothing in progress is closed this long after its last message or answer. */
  idleMs: number;
  /** Each message must arrive whole within this many ms of its first byte (the first, of the connection). */
  messageMs: number;
  /** Most connections in all. */
  maxConnections: number;
  /** Most connections per source address. */
  maxPerClient: number;
  /** Most queries answered concurrently per connection; reading pauses beyond. */
  maxPending: number;
}

/** An answer queue this long means the client is not reading: it is disconnected. */
const MAX_UNREAD = 128 << 10;

class Session {
  /** Queries being answered. */
  pending = 0;
  /** When the last whole message arrived or the last answer went out (or the connection opened). */
  lastActive: number;
  /** When the first byte of the message being received arrived; 0 when none is under way. */
  msgStart: number;
  /** When the armed timer fires (0: none armed). */
  due = 0;
  timer: NodeJS.Timeout | undefined;
  buf: Buffer = Buffer.alloc(0);
  constructor(
    readonly conn: Socket,
    readonly source: string,
    now: number,
  ) {
    this.lastActive = now;
    // The first message is due within the message deadline of the connection.
    this.msgStart = now;
  }
}

export class TcpConnections {
  private readonly byClient = new Map<string, Set<Session>>();
  private total = 0;

  constructor(
    private readonly limits: TcpLimits,
    private readonly handler: TcpQueryHandler,
    private readonly onError: (msg: string) => void = () => {},
  ) {}

  /** Open connections. */
  get size(): number {
    return this.total;
  }

  /** Open connections from one source address. */
  countFor(source: string): number {
    return this.byClient.get(source)?.size ?? 0;
  }

  /** Takes a new connection from `source`, making room or closing it as the limits say. */
  accept(conn: Socket, source: string): void {
    conn.on('error', () => conn.destroy());
    const mine = this.byClient.get(source);
    if (mine && mine.size >= this.limits.maxPerClient && !this.evictFrom(mine)) {
      conn.destroy();
      return;
    }
    if (this.total >= this.limits.maxConnections && !this.evictFromLargest()) {
      conn.destroy();
      return;
    }
    this.serve(new Session(conn, source, Date.now()));
  }

  /** Closes every connection. */
  closeAll(): void {
    for (const set of this.byClient.values()) for (const s of set) s.conn.destroy();
  }

  /** Closes the least recently active of `set` with no query in progress; false if there is none. */
  private evictFrom(set: Set<Session>): boolean {
    let victim: Session | undefined;
    for (const s of set)
      if (s.pending === 0 && (!victim || s.lastActive < victim.lastActive)) victim = s;
    if (!victim) return false;
    this.drop(victim);
    return true;
  }

  /** Makes room taken from the clients holding the most connections first. */
  private evictFromLargest(): boolean {
    const clients = [...this.byClient.values()].sort((a, b) => b.size - a.size);
    return clients.some((set) => this.evictFrom(set));
  }

  /** Forgets a session at once (its slot is free now) and closes its connection. */
  private drop(s: Session): void {
    const set = this.byClient.get(s.source);
    if (set?.delete(s)) {
      this.total--;
      if (set.size === 0) this.byClient.delete(s.source);
    }
    if (s.timer) clearTimeout(s.timer);
    s.timer = undefined;
    s.conn.destroy();
  }

  private serve(s: Session): void {
    const { conn } = s;
    let set = this.byClient.get(s.source);
    if (!set) this.byClient.set(s.source, (set = new Set()));
    set.add(s);
    this.total++;
    conn.on('close', () => this.drop(s));
    const { maxPending } = this.limits;

    const reply = (b: Buffer | null): void => {
      s.pending--;
      if (conn.destroyed) return;
      s.lastActive = Date.now();
      if (b !== null) {
        const frame = Buffer.allocUnsafe(2 + b.length);
        frame.writeUInt16BE(b.length, 0);
        b.copy(frame, 2);
        conn.write(frame);
        // A client that does not read its answers gets disconnected, not buffered for.
        if (conn.writableLength > MAX_UNREAD) {
          this.drop(s);
          return;
        }
      }
      if (s.pending < maxPending && conn.isPaused()) {
        conn.resume();
        // A message cut when reading paused has its deadline from now.
        if (s.buf.length > 0) s.msgStart = s.lastActive;
        drain();
      }
      this.arm(s);
    };

    const drain = (): void => {
      let buf = s.buf;
      while (buf.length >= 2 && s.pending < maxPending && !conn.destroyed) {
        const len = buf.readUInt16BE(0);
        if (len === 0) {
          this.drop(s);
          return;
        }
        if (buf.length < 2 + len) break;
        const msg = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        s.buf = buf;
        s.lastActive = Date.now();
        s.msgStart = 0;
        s.pending++;
        let r: Buffer | null | Promise<Buffer | null>;
        try {
          r = this.handler(msg, s.source);
        } catch (e) {
          this.onError(`dns: handler: ${messageOf(e)}`);
          r = null;
        }
        if (r === null || Buffer.isBuffer(r)) reply(r);
        else r.then(reply, () => reply(null));
      }
      s.buf = buf;
      if (conn.destroyed) return;
      if (s.pending >= maxPending) {
        conn.pause();
        s.msgStart = 0;
      } else if (buf.length > 0 && s.msgStart === 0) {
        s.msgStart = Date.now();
        this.arm(s);
      }
    };

    conn.on('data', (chunk: Buffer) => {
      s.buf = s.buf.length === 0 ? chunk : Buffer.concat([s.buf, chunk]);
      drain();
    });
    this.arm(s);
  }

  /**
   * Arms the session's timer for its next deadline, unless one at least as
   * early is armed already: a timer that fires early only re-arms itself.
   */
  private arm(s: Session): void {
    const due = this.deadline(s);
    if (due === Infinity || (s.timer && s.due <= due)) return;
    if (s.timer) clearTimeout(s.timer);
    s.due = due;
    s.timer = setTimeout(() => this.expire(s), Math.max(0, due - Date.now()));
    s.timer.unref();
  }

  /** When the session must be closed if nothing happens: Infinity while answers are pending. */
  private deadline(s: Session): number {
    if (s.msgStart !== 0) return s.msgStart + this.limits.messageMs;
    if (s.pending > 0) return Infinity;
    return s.lastActive + this.limits.idleMs;
  }

  private expire(s: Session): void {
    s.timer = undefined;
    s.due = 0;
    if (s.conn.destroyed) return;
    if (this.deadline(s) <= Date.now()) this.drop(s);
    else this.arm(s);
  }
}
