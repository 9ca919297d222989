/**
 * The resolver's sockets: one UDP socket and one TCP server per listening
 * address, added and removed independently while the others keep serving.
 * Everything a client sends goes to one handler; the sockets only frame,
 * bound and time out. TCP follows RFC 7766: several queries per connection,
 * answers in any order, idle connections closed.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { BerthError, messageOf } from '../../common/errors.js';
import { canonicalIp } from './ip.js';

/** What a listener tells the handler about the address a query came in on. */
export interface ListenerInfo {
  /** The listening address (canonical text). */
  readonly address: string;
  /** The network whose gateway this address is, if the daemon said so. */
  networkId: string | undefined;
}

/** Answers one message: a response, null to stay silent, or a promise of either. */
export type QueryHandler = (
  msg: Buffer,
  source: string,
  listener: ListenerInfo,
  tcp: boolean,
) => Buffer | null | Promise<Buffer | null>;

/** Socket limits. */
export interface ServerOptions {
  /** Port for every listener (default 53). */
  port?: number;
  /** An idle TCP connection is closed after this many ms (default 10000). */
  tcpIdleMs?: number;
  /** Most TCP connections per listener (default 256). */
  maxTcpConnections?: number;
  /** Most queries answered concurrently per TCP connection; reading pauses beyond (default 16). */
  maxTcpPending?: number;
  /** Where unexpected socket errors are reported. */
  onError?: (msg: string) => void;
}

interface Listener {
  info: ListenerInfo;
  udp: UdpSocket;
  tcp: Server;
  conns: Set<Socket>;
}

/** Canonical text of IPv6 source addresses, memoised: each client asks many times. */
const v6Canon = new Map<string, string>();
function sourceKey(addr: string): string {
  if (!addr.includes(':')) return addr;
  let c = v6Canon.get(addr);
  if (c === undefined) {
    if (v6Canon.size > 4096) v6Canon.clear();
    c = canonicalIp(addr);
    v6Canon.set(addr, c);
  }
  return c;
}

export class DnsServer {
  /** The port every listener binds. */
  readonly port: number;
  private readonly listeners = new Map<string, Listener>();
  private readonly adding = new Map<string, Promise<void>>();
  private readonly idleMs: number;
  private readonly maxConns: number;
  private readonly maxPending: number;
  private readonly onError: (msg: string) => void;

  constructor(
    private readonly handler: QueryHandler,
    opts: ServerOptions = {},
  ) {
    this.port = opts.port ?? 53;
    this.idleMs = opts.tcpIdleMs ?? 10_000;
    this.maxConns = opts.maxTcpConnections ?? 256;
    this.maxPending = opts.maxTcpPending ?? 16;
    this.onError = opts.onError ?? (() => {});
  }

  /** The addresses being listened on. */
  addresses(): string[] {
    return [...this.listeners.keys()];
  }

  /**
   * Starts answering on `address` (UDP and TCP); idempotent. An address that
   * is already served only has its network updated. Fails with UNAVAILABLE
   * when either socket can't bind, leaving nothing behind.
   */
  async addListener(address: string, networkId?: string): Promise<void> {
    const addr = canonicalIp(address);
    const inProgress = this.adding.get(addr);
    if (inProgress) await inProgress.catch(() => {});
    const existing = this.listeners.get(addr);
    if (existing) {
      existing.info.networkId = networkId;
      return;
    }
    const p = this.open(addr, networkId);
    this.adding.set(addr, p);
    try {
      await p;
    } finally {
      if (this.adding.get(addr) === p) this.adding.delete(addr);
    }
  }

  private async open(addr: string, networkId: string | undefined): Promise<void> {
    const info: ListenerInfo = { address: addr, networkId };
    const udp = createSocket({ type: isIPv6(addr) ? 'udp6' : 'udp4' });
    const tcp = createServer({ noDelay: true });
    const l: Listener = { info, udp, tcp, conns: new Set() };
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address: addr, port: this.port, exclusive: true }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: addr, port: this.port, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      closeQuietly(l);
      throw new BerthError(
        'UNAVAILABLE',
        `dns: cannot listen on ${addr}:${this.port}: ${messageOf(e)}`,
        {
          cause: e,
        },
      );
    }
    this.serveUdp(l);
    this.serveTcp(l);
    this.listeners.set(addr, l);
  }

  /** Stops answering on `address`; other listeners are untouched. False when it was not served. */
  async removeListener(address: string): Promise<boolean> {
    const addr = canonicalIp(address);
    await this.adding.get(addr)?.catch(() => {});
    const l = this.listeners.get(addr);
    if (!l) return false;
    this.listeners.delete(addr);
    await closeListener(l);
    return true;
  }

  /** Closes every listener. */
  async close(): Promise<void> {
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map(closeListener));
  }

  private serveUdp(l: Listener): void {
    const { udp, info } = l;
    try {
      // Absorb bursts; the kernel caps this at net.core.rmem_max.
      udp.setRecvBufferSize(4 << 20);
    } catch {
      /* keep the default */
    }
    const send = (buf: Buffer | null, port: number, address: string): void => {
      if (buf === null || this.listeners.get(info.address) !== l) return;
      try {
        udp.send(buf, port, address);
      } catch (e) {
        this.onError(`dns: udp send on ${info.address}: ${messageOf(e)}`);
      }
    };
    udp.on('error', (e) => this.onError(`dns: udp ${info.address}: ${messageOf(e)}`));
    udp.on('message', (msg, rinfo) => {
      if (msg.length === 0) return;
      let r: Buffer | null | Promise<Buffer | null>;
      try {
        r = this.handler(msg, sourceKey(rinfo.address), info, false);
      } catch (e) {
        this.onError(`dns: handler: ${messageOf(e)}`);
        return;
      }
      if (r === null || Buffer.isBuffer(r)) send(r, rinfo.port, rinfo.address);
      else
        r.then(
          (b) => send(b, rinfo.port, rinfo.address),
          (e) => this.onError(`dns: handler: ${messageOf(e)}`),
        );
    });
  }

  private serveTcp(l: Listener): void {
    const { tcp, info, conns } = l;
    tcp.maxConnections = this.maxConns;
    tcp.on('error', (e) => this.onError(`dns: tcp ${info.address}: ${messageOf(e)}`));
    tcp.on('connection', (conn: Socket) => {
      conns.add(conn);
      conn.on('close', () => conns.delete(conn));
      conn.on('error', () => conn.destroy());
      conn.setTimeout(this.idleMs, () => conn.destroy());
      const source = sourceKey(conn.remoteAddress ?? '');
      let buf: Buffer = Buffer.alloc(0);
      let pending = 0;
      const reply = (b: Buffer | null): void => {
        pending--;
        if (b !== null && !conn.destroyed) {
          const frame = Buffer.allocUnsafe(2 + b.length);
          frame.writeUInt16BE(b.length, 0);
          b.copy(frame, 2);
          conn.write(frame);
          // A client that does not read its answers gets disconnected, not buffered for.
          if (conn.writableLength > 1 << 20) conn.destroy();
        }
        if (pending < this.maxPending && conn.isPaused() && !conn.destroyed) {
          conn.resume();
          drain();
        }
      };
      const drain = (): void => {
        while (buf.length >= 2 && pending < this.maxPending && !conn.destroyed) {
          const len = buf.readUInt16BE(0);
          if (len === 0) {
            conn.destroy();
            return;
          }
          if (buf.length < 2 + len) return;
          const msg = Buffer.from(buf.subarray(2, 2 + len));
          buf = buf.subarray(2 + len);
          pending++;
          let r: Buffer | null | Promise<Buffer | null>;
          try {
            r = this.handler(msg, source, info, true);
          } catch (e) {
            this.onError(`dns: handler: ${messageOf(e)}`);
            r = null;
          }
          if (r === null || Buffer.isBuffer(r)) reply(r);
          else r.then(reply, () => reply(null));
        }
        if (pending >= this.maxPending) conn.pause();
      };
      conn.on('data', (chunk: Buffer) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        drain();
      });
    });
  }
}

function closeQuietly(l: Listener): void {
  try {
    l.udp.close();
  } catch {
    /* not bound */
  }
  try {
    l.tcp.close();
  } catch {
    /* not listening */
  }
}

function closeListener(l: Listener): Promise<void> {
  for (const c of l.conns) c.destroy();
  return new Promise<void>((resolve) => {
    let left = 2;
    const done = (): void => {
      if (--left === 0) resolve();
    };
    try {
      l.udp.close(done);
    } catch {
      done();
    }
    l.tcp.close(() => done());
  });
}
