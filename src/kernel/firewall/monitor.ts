/**
 * Notices other programs changing Berth's table (`nft flush ruleset`, a
 * deleted table or chain): a NETLINK_NETFILTER socket in the nftables
 * multicast group, which the kernel tells of every committed change, object
 * by object, each transaction ending with a new-generation message naming the
 * process that made it. Read without blocking (the caller polls it on a
 * timer, one recv(2) when nothing happened), so no thread waits on it.
 * Decoding is pure (`ChangeTracker`) and unit-tested with byte fixtures.
 */
import { readFileSync } from 'node:fs';
import { attrString, parseAttrs, parseMessages } from '../netlink/codec.js';
import { AF_NETLINK, NETLINK_NETFILTER } from '../netlink/constants.js';
import {
  bindSocket,
  closeFd,
  EAGAIN,
  ENOBUFS,
  inNetns,
  MSG_DONTWAIT,
  MSG_TRUNC,
  openSocket,
  recvBytes,
  setSockOpt,
  SO_RCVBUFFORCE,
  SOCK_RAW,
  SOL_SOCKET,
  SysError,
} from '../sys/libc.js';

/** The nftables multicast group. */
const NFNLGRP_NFTABLES = 7;
const NFNL_SUBSYS_NFTABLES = 10;
/** nf_tables message types (enum nf_tables_msg_types). */
export const NFT_MSG = {
  NEWTABLE: 0,
  DELTABLE: 2,
  NEWCHAIN: 3,
  DELCHAIN: 5,
  NEWRULE: 6,
  DELRULE: 8,
  NEWSET: 9,
  DELSET: 11,
  NEWSETELEM: 12,
  DELSETELEM: 14,
  NEWGEN: 15,
} as const;
/** Every object message's first attribute is its table's name (NFTA_*_TABLE = 1). */
const NFTA_TABLE = 1;
/** NFTA_RULE_CHAIN. */
const NFTA_RULE_CHAIN = 2;
/** NFTA_GEN_PROC_PID (big-endian u32). */
const NFTA_GEN_PROC_PID = 2;

/** Which table to watch, and whose changes to ignore. */
export interface WatchSpec {
  /** nfproto of the table (NFPROTO_INET = 1). */
  family: number;
  /** The table's name. */
  table: string;
  /** Chains whose rules are someone else's to change (Berth's user chain). */
  ignoreRulesOf: readonly string[];
  /** Our own process id: transactions it commits are ours. */
  ownPid: number;
}

/**
 * Follows the notification stream, transaction by transaction: true when a
 * transaction committed by another process touched the table (anything but
 * rules in an ignored chain). A transaction's objects arrive before its
 * new-generation message, which names the committing process.
 */
export class ChangeTracker {
  private touched = false;

  constructor(private readonly spec: WatchSpec) {}

  /** Takes one datagram; returns true when it completed a foreign change to the table. */
  feed(datagram: Buffer): boolean {
    let changed = false;
    for (const m of parseMessages(datagram)) {
      if (m.type >> 8 !== NFNL_SUBSYS_NFTABLES || m.payload.length < 4) continue;
      const msg = m.type & 0xff;
      const attrs = parseAttrs(m.payload, 4);
      if (msg === NFT_MSG.NEWGEN) {
        const pid = attrs.get(NFTA_GEN_PROC_PID);
        const by = pid && pid.length >= 4 ? pid.readUInt32BE(0) : undefined;
        if (this.touched && by !== this.spec.ownPid) changed = true;
        this.touched = false;
        continue;
      }
      if (m.payload.readUInt8(0) !== this.spec.family) continue;
      if (attrString(attrs.get(NFTA_TABLE)) !== this.spec.table) continue;
      if (msg === NFT_MSG.NEWRULE || msg === NFT_MSG.DELRULE) {
        const chain = attrString(attrs.get(NFTA_RULE_CHAIN));
        if (chain !== undefined && this.spec.ignoreRulesOf.includes(chain)) continue;
      }
      this.touched = true;
    }
    return changed;
  }

  /** Forgets a transaction in progress (after notifications were lost). */
  reset(): void {
    this.touched = false;
  }
}

/**
 * The process id the kernel puts in NFTA_GEN_PROC_PID: the id in the initial
 * PID namespace. In a PID namespace `process.pid` is the inner one and every
 * own commit would look foreign; /proc/self/status's NSpid lists the ids from
 * the outermost namespace /proc can see inwards, so its first one is the id
 * the kernel reports whenever /proc is the host's. `status` is for tests.
 */
export function kernelPid(status?: string): number {
  let text = status;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      return process.pid;
    }
  }
  const m = /^NSpid:\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : process.pid;
}

/** The nfnetlink header's message type of an nf_tables message (for fixtures). */
export const nftMsgType = (msg: number): number => (NFNL_SUBSYS_NFTABLES << 8) | msg;

/** A subscription to nftables notifications in one network namespace. */
export class NftMonitor {
  private readonly tracker: ChangeTracker;
  private readonly buf = Buffer.alloc(64 * 1024);

  private constructor(
    private fd: number,
    spec: WatchSpec,
  ) {
    this.tracker = new ChangeTracker(spec);
  }

  /** Subscribes, here or inside the namespace bound at `netns`. */
  static open(spec: WatchSpec, netns?: string): NftMonitor {
    const make = (): number => {
      const fd = openSocket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
      try {
        const addr = Buffer.alloc(12);
        addr.writeUInt16LE(AF_NETLINK, 0);
        addr.writeUInt32LE(1 << (NFNLGRP_NFTABLES - 1), 8);
        bindSocket(fd, addr);
        try {
          // A flush of a big table is many messages; an overrun only costs a full check.
          setSockOpt(fd, SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20);
        } catch {
          /* keep the default size */
        }
        return fd;
      } catch (e) {
        closeFd(fd);
        throw e;
      }
    };
    return new NftMonitor(netns ? inNetns(netns, make) : make(), spec);
  }

  /**
   * Reads what arrived since the last call, without waiting. True when
   * another process changed the table, or when notifications were lost (the
   * socket overran), so the table may have changed.
   */
  poll(): boolean {
    if (this.fd < 0) return false;
    let changed = false;
    for (;;) {
      let n: number;
      try {
        n = recvBytes(this.fd, this.buf, MSG_DONTWAIT | MSG_TRUNC);
      } catch (e) {
        const errno = e instanceof SysError ? e.errno : undefined;
        if (errno === EAGAIN) return changed;
        if (errno !== ENOBUFS) throw e;
        this.tracker.reset();
        changed = true;
        continue;
      }
      if (n > this.buf.length) {
        // Cut short: what it said is unknown.
        this.tracker.reset();
        changed = true;
        continue;
      }
      if (this.tracker.feed(this.buf.subarray(0, n))) changed = true;
    }
  }

  /** Unsubscribes; idempotent. */
  close(): void {
    if (this.fd >= 0) closeFd(this.fd);
    this.fd = -1;
  }
}
