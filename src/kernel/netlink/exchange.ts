/**
 * The state of one request/reply exchange, fed datagram by datagram: which
 * replies belong to it (by sequence number), when it is complete (the ack,
 * or NLMSG_DONE for a dump), whether the kernel flagged a dump interrupted,
 * and the kernel's errors as NetlinkErrors. No I/O, so the socket's sync
 * and offloaded paths share it and tests drive it with byte fixtures.
 */
import {
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NLM_F_DUMP_INTR,
} from './constants.js';
import { parseDone, parseError, parseMessages, type NlMessage } from './codec.js';
import { NetlinkError } from './errors.js';

/** One exchange in progress. */
export class Exchange {
  /** Replies (request) or parts (dump) received so far, in order. */
  readonly messages: NlMessage[] = [];
  /** A dump part carried NLM_F_DUMP_INTR: the result may be inconsistent. */
  interrupted = false;
  /** The final message arrived. */
  done = false;

  constructor(
    /** Sequence number of the request. */
    readonly seq: number,
    /** nlmsg_type of the request (for error messages). */
    readonly type: number,
    /** What the request is about (for error messages). */
    readonly what: string,
    /** A dump ends with NLMSG_DONE; a request with its acknowledgement. */
    readonly isDump: boolean,
  ) {}

  /**
   * Takes one datagram; returns true once the exchange is complete. Messages
   * with another sequence number are left-overs of an exchange that failed
   * part-way and are skipped. Throws a NetlinkError on an error reply.
   */
  feed(datagram: Buffer): boolean {
    for (const m of parseMessages(datagram)) {
      if (this.done || m.seq !== this.seq) continue;
      if (m.flags & NLM_F_DUMP_INTR) this.interrupted = true;
      if (m.type === NLMSG_ERROR) {
        const err = parseError(m);
        if (err.errno !== 0) throw new NetlinkError(err.errno, this.type, this.what, err.message);
        if (!this.isDump) this.done = true;
      } else if (m.type === NLMSG_DONE && this.isDump) {
        const end = parseDone(m);
        if (end.errno !== 0) throw new NetlinkError(end.errno, this.type, this.what, end.message);
        this.done = true;
      } else if (m.type !== NLMSG_NOOP && m.type !== NLMSG_OVERRUN) {
        this.messages.push(m);
      }
    }
    return this.done;
  }
}
