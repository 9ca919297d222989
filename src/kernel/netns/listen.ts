/**
 * Sockets bound inside another network namespace, for a daemon service that
 * must answer there (the resolver on an overlay network's gateway, which
 * only that namespace has). They are made with the thread switched in for
 * one synchronous step (docs/architecture.md, principle 3) and handed back
 * as file descriptors: a socket keeps the namespace it was made in.
 */
import { isIPv4 } from 'node:net';
import {
  AF_INET,
  bindSocket,
  closeFd,
  inNetns,
  openSocket,
  setSockOpt,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SO_REUSEADDR,
  SOL_SOCKET,
  sockaddrIn,
} from '../sys/libc.js';

/**
 * A UDP socket and a TCP socket (not yet listening) bound to `ip:port` in the
 * namespace at `nsPath`; the caller owns both descriptors (Node's dgram
 * `bind({ fd })` and net `listen({ fd })` take them).
 */
export function bindInNetns(
  nsPath: string,
  ip: string,
  port: number,
): { udp: number; tcp: number } {
  if (!isIPv4(ip)) throw new Error(`bindInNetns: ${ip} is not an IPv4 address`);
  const addr = sockaddrIn(ip, port);
  return inNetns(nsPath, () => {
    const udp = openSocket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    let tcp = -1;
    try {
      bindSocket(udp, addr);
      tcp = openSocket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      setSockOpt(tcp, SOL_SOCKET, SO_REUSEADDR, 1);
      bindSocket(tcp, addr);
    } catch (e) {
      closeFd(udp);
      if (tcp >= 0) closeFd(tcp);
      throw e;
    }
    return { udp, tcp };
  });
}
