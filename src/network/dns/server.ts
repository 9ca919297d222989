/**
 * The resolver's sockets: one UDP socket and one TCP server per listening
 * address, added and removed independently while the others keep serving.
 * Everything a client sends goes to one handler; the sockets only frame,
 * bound and time out. TCP follows RFC 7766 (several queries per connection,
 * answers in any order) with per-client limits and deadlines: see tcp.ts.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { BerthError, messageOf } from '../../common/errors.js';
import { canonicalIp } from './ip.js';
import { TcpConnections, type TcpLimits } from './tcp.js';
import { bindInNetns } from '../../kernel/netns/listen.js';

/** What a listener tells the handler about the address a query came in on. */
export interface ListenerInfo {
  /** The listening address (canonical text). */
  readonly address: string;
  /** The namespace it listens in, when not the daemon's (an overlay network's). */
  readonly netns?: string;
  /** Its key among the listeners: the address, with the namespace when there is one. */
  readonly key: string;
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
  /** A TCP connection with nothing in progress is closed this long after its last message or answer (default 10000). */
  tcpIdleMs?: number;
  /**
   * A TCP message must arrive whole within this many ms of its first byte,
   * and the first within this many ms of the connection (default 3000).
   */
  tcpMessageMs?: number;
  /** Most TCP connections per listener (default 256). */
  maxTcpConnections?: number;
  /** Most TCP connections per listener from one source address (default 8). */
  maxTcpPerClient?: number;
  /** Most queries answered concurrently per TCP connection; reading pauses beyond (default 16). */
  maxTcpPending?: number;
  /** Where unexpected socket errors are reported. */
  onError?: (msg: string) => void;
}

interface Listener {
  info: ListenerInfo;
  udp: UdpSocket;
  tcp: Server;
  conns: TcpConnections;
}

/** Canonical text of IPv6 source addresses, memoised: each client asks many times. */
const v6Canon = new Map<string, string>();
/** A listener's key: its address, after its namespace when that is not the daemon's. */
function listenerKey(addr: string, netns?: string): string {
  return netns ? `${netns}#${addr}` : addr;
}

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
  private readonly tcpLimits: TcpLimits;
  private readonly onError: (msg: string) => void;

  constructor(
    private readonly handler: QueryHandler,
    opts: ServerOptions = {},
  ) {
    this.port = opts.port ?? 53;
    this.tcpLimits = {
      idleMs: opts.tcpIdleMs ?? 10_000,
      messageMs: opts.tcpMessageMs ?? 3_000,
      maxConnections: opts.maxTcpConnections ?? 256,
      maxPerClient: opts.maxTcpPerClient ?? 8,
      maxPending: opts.maxTcpPending ?? 16,
    };
    this.onError = opts.onError ?? (() => {});
  }

  /** Every listener, in the daemon's namespace or another (the network graph draws them). */
  listenerList(): Array<Pick<ListenerInfo, 'address' | 'netns' | 'networkId'> & { port: number }> {
    return [...this.listeners.values()].map(({ info }) => ({
      address: info.address,
      port: this.port,
      netns: info.netns,
      networkId: info.networkId,
    }));
  }

  /** The addresses being listened on in the daemon's namespace. */
  addresses(): string[] {
    return [...this.listeners.values()].filter((l) => !l.info.netns).map((l) => l.info.address);
  }

  /**
   * Starts answering on `address` (UDP and TCP); idempotent. An address that
   * is already served only has its network updated. Fails with UNAVAILABLE
   * when either socket can't bind, leaving nothing behind.
   */
  async addListener(address: string, networkId?: string, netns?: string): Promise<void> {
    const addr = canonicalIp(address);
    const key = listenerKey(addr, netns);
    const inProgress = this.adding.get(key);
    if (inProgress) await inProgress.catch(() => {});
    const existing = this.listeners.get(key);
    if (existing) {
      existing.info.networkId = networkId;
      return;
    }
    const p = this.open(addr, networkId, netns);
    this.adding.set(key, p);
    try {
      await p;
    } finally {
      if (this.adding.get(key) === p) this.adding.delete(key);
    }
  }

  private async open(
    addr: string,
    networkId: string | undefined,
    netns: string | undefined,
  ): Promise<void> {
    const info: ListenerInfo = { address: addr, networkId, netns, key: listenerKey(addr, netns) };
    // In another namespace: sockets bound there, handed over by descriptor.
    const fds = netns ? bindInNetns(netns, addr, this.port) : undefined;
    const udp = createSocket({ type: isIPv6(addr) ? 'udp6' : 'udp4' });
    const tcp = createServer({ noDelay: true });
    const conns = new TcpConnections(
      this.tcpLimits,
      (msg, source) => this.handler(msg, source, info, true),
      this.onError,
    );
    const l: Listener = { info, udp, tcp, conns };
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        const where = fds ? { fd: fds.udp } : { address: addr, port: this.port, exclusive: true };
        udp.bind(where, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        const where = fds ? { fd: fds.tcp } : { host: addr, port: this.port, exclusive: true };
        tcp.listen(where, () => {
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
    this.listeners.set(info.key, l);
  }

  /** Stops answering on `address`; other listeners are untouched. False when it was not served. */
  async removeListener(address: string, netns?: string): Promise<boolean> {
    const key = listenerKey(canonicalIp(address), netns);
    await this.adding.get(key)?.catch(() => {});
    const l = this.listeners.get(key);
    if (!l) return false;
    this.listeners.delete(key);
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
      if (buf === null || this.listeners.get(info.key) !== l) return;
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
    const { tcp, info } = l;
    tcp.on('error', (e) => this.onError(`dns: tcp ${info.address}: ${messageOf(e)}`));
    tcp.on('connection', (conn: Socket) =>
      l.conns.accept(conn, sourceKey(conn.remoteAddress ?? '')),
    );
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
  l.conns.closeAll();
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
