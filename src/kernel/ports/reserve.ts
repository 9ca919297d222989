/**
 * Holding published host ports with a bound socket, as Docker 20.10 does
 * without its userland proxy (a "dummy proxy"): a host process that already
 * listens on the port makes publishing fail with the kernel's error, and one
 * that tries later gets EADDRINUSE instead of silently losing its traffic to
 * the DNAT rule. Packets to the port never reach these sockets: nftables
 * redirects them before local delivery. TCP sockets listen (Node binds only
 * when it listens) and never accept; UDP sockets are bound and never read.
 * SCTP has no socket API in Node, so SCTP ports are not held.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import type { Proto } from '../firewall/index.js';

/** A held port; `close` releases it. */
export interface HeldPort {
  close(): Promise<void>;
}

/** The kernel's bind error, worded as Go's net package reports it. */
export class BindError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const REASON: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'cannot assign requested address',
  EACCES: 'permission denied',
};

function bindError(e: unknown, proto: string, ip: string, port: number): BindError {
  const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
  const fam = ip.includes(':') ? '6' : '4';
  return new BindError(
    code,
    `listen ${proto}${fam} ${ip.includes(':') ? `[${ip}]` : ip}:${port}: bind: ${REASON[code] ?? code}`,
  );
}

/** Binds `ip:port` (ip '' = all IPv4 addresses) for `proto`; rejects with a BindError. */
export async function holdPort(proto: Proto, ip: string, port: number): Promise<HeldPort> {
  const host = ip === '' ? '0.0.0.0' : ip;
  if (proto === 'sctp') return { close: () => Promise.resolve() };
  if (proto === 'udp') {
    const s: UdpSocket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      s.once('error', (e) => reject(bindError(e, 'udp', host, port)));
      s.bind({ port, address: host, exclusive: true }, () => resolve());
    }).catch((e: unknown) => {
      s.close();
      throw e;
    });
    s.unref();
    return { close: () => new Promise<void>((r) => s.close(() => r())) };
  }
  const srv: Server = createServer();
  srv.maxConnections = 0;
  await new Promise<void>((resolve, reject) => {
    srv.once('error', (e) => reject(bindError(e, 'tcp', host, port)));
    srv.listen({ port, host, backlog: 1, exclusive: true, ipv6Only: host.includes(':') }, () =>
      resolve(),
    );
  });
  srv.unref();
  return { close: () => new Promise<void>((r) => srv.close(() => r())) };
}
