/**
 * Netlink wire format: framing of messages, type-length-value attributes
 * (nested ones included), 4-byte alignment, and the kernel's error and
 * extended-ack replies. Pure functions over Buffers, so every byte layout is
 * unit-tested without a kernel. All integers are host order (little-endian
 * on the machines Berth runs on) unless an attribute says network order.
 */
import {
  NLA_HDRLEN,
  NLA_TYPE_MASK,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  NLMSG_HDRLEN,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
} from './constants.js';

/** Rounds up to the 4-byte boundary netlink pads every header and attribute to. */
export const align4 = (n: number): number => (n + 3) & ~3;

/** One netlink message as received. */
export interface NlMessage {
  /** nlmsg_type: NLMSG_ERROR, NLMSG_DONE or a family's message type. */
  type: number;
  /** nlmsg_flags. */
  flags: number;
  /** Sequence number copied from the request this answers. */
  seq: number;
  /** Port id of the receiver (ours); 0 when the kernel sends to itself. */
  pid: number;
  /** Everything after the 16-byte header, without trailing padding. */
  payload: Buffer;
}

/**
 * Builds one message: header, the family's fixed struct, then attributes.
 * Grows as needed; `finish()` writes the total length into the header.
 */
export class NlWriter {
  private buf: Buffer;
  private len = NLMSG_HDRLEN;

  constructor(type: number, flags: number, fixed: Buffer) {
    this.buf = Buffer.alloc(Math.max(256, align4(NLMSG_HDRLEN + fixed.length) + 64));
    this.buf.writeUInt16LE(type, 4);
    this.buf.writeUInt16LE(flags, 6);
    this.bytes(fixed);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** Appends raw bytes, zero-padded to 4. */
  bytes(b: Uint8Array): this {
    const padded = align4(b.length);
    this.reserve(padded);
    this.buf.set(b, this.len);
    this.buf.fill(0, this.len + b.length, this.len + padded);
    this.len += padded;
    return this;
  }

  /** Appends one attribute with `payload` as its value. */
  attr(type: number, payload: Uint8Array): this {
    this.reserve(align4(NLA_HDRLEN + payload.length));
    this.buf.writeUInt16LE(NLA_HDRLEN + payload.length, this.len);
    this.buf.writeUInt16LE(type, this.len + 2);
    this.len += NLA_HDRLEN;
    return this.bytes(payload);
  }

  /** An attribute holding a u8. */
  u8(type: number, v: number): this {
    return this.attr(type, Uint8Array.of(v));
  }

  /** An attribute holding a u16 in host order. */
  u16(type: number, v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return this.attr(type, b);
  }

  /** An attribute holding a u16 in network order (ports). */
  be16(type: number, v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return this.attr(type, b);
  }

  /** An attribute holding a u32 in host order. */
  u32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return this.attr(type, b);
  }

  /** An attribute holding a NUL-terminated string (IFLA_IFNAME, kinds). */
  str(type: number, s: string): this {
    return this.attr(type, Buffer.from(`${s}\0`, 'utf8'));
  }

  /**
   * A nested attribute: `fill` appends the children (or any bytes, as for
   * VETH_INFO_PEER whose value starts with an ifinfomsg), then the nest's
   * length is patched. No NLA_F_NESTED flag, as iproute2 sends it.
   */
  nest(type: number, fill: (w: this) => void): this {
    this.reserve(NLA_HDRLEN);
    const start = this.len;
    this.buf.writeUInt16LE(type, start + 2);
    this.len += NLA_HDRLEN;
    fill(this);
    this.buf.writeUInt16LE(this.len - start, start);
    return this;
  }

  /** The finished message (sequence number 0; the socket stamps its own). */
  finish(): Buffer {
    this.buf.writeUInt32LE(this.len, 0);
    return this.buf.subarray(0, this.len);
  }
}

/**
 * Splits one received datagram into messages. A length that runs past the
 * datagram or under the header size means the bytes are not netlink: throws.
 */
export function parseMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) {
      throw new Error(`netlink: malformed message length ${len} at offset ${off}`);
    }
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      pid: buf.readUInt32LE(off + 12),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/**
 * Parses a run of attributes into type → value (the flag bits masked off;
 * a repeated type keeps the last). Stops at the first malformed header,
 * as the kernel's own parser does not trust lengths past the end either.
 */
export function parseAttrs(buf: Buffer, offset = 0): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = offset;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < NLA_HDRLEN || off + len > buf.length) break;
    out.set(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + NLA_HDRLEN, off + len));
    off += align4(len);
  }
  return out;
}

/** A NUL-terminated string attribute's value. */
export function attrString(b: Buffer | undefined): string | undefined {
  if (!b) return undefined;
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}

/** A u32 attribute's value (host order). */
export function attrU32(b: Buffer | undefined): number | undefined {
  return b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
}

/** A u8 attribute's value. */
export function attrU8(b: Buffer | undefined): number | undefined {
  return b && b.length >= 1 ? b.readUInt8(0) : undefined;
}

/** What an NLMSG_ERROR message says: errno 0 is an acknowledgement. */
export interface NlError {
  /** Positive errno, 0 for success. */
  errno: number;
  /** nlmsg_type of the request this answers (from the echoed header). */
  requestType: number;
  /** The kernel's extended-ack text, when it gave one. */
  message?: string;
  /** Byte offset in the request of the attribute the kernel objected to. */
  offset?: number;
}

/**
 * Decodes an NLMSG_ERROR payload: the negative errno, the echoed request
 * (only its header when NLM_F_CAPPED), then extended-ack attributes when
 * NLM_F_ACK_TLVS is set.
 */
export function parseError(msg: NlMessage): NlError {
  const p = msg.payload;
  if (p.length < 4 + NLMSG_HDRLEN) throw new Error('netlink: truncated NLMSG_ERROR');
  const errno = -p.readInt32LE(0) | 0;
  const requestType = p.readUInt16LE(4 + 4);
  const out: NlError = { errno, requestType };
  if (msg.flags & NLM_F_ACK_TLVS) {
    const echoed = msg.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : align4(p.readUInt32LE(4));
    const tlvs = parseAttrs(p, 4 + echoed);
    const text = attrString(tlvs.get(NLMSGERR_ATTR_MSG));
    if (text) out.message = text;
    const offset = attrU32(tlvs.get(NLMSGERR_ATTR_OFFS));
    if (offset !== undefined) out.offset = offset;
  }
  return out;
}

/**
 * An NLMSG_DONE payload: a dump that failed part-way ends with a negative
 * errno here (and extended-ack text, if any) instead of an NLMSG_ERROR.
 */
export function parseDone(msg: NlMessage): { errno: number; message?: string } {
  if (msg.payload.length < 4) return { errno: 0 };
  const errno = -msg.payload.readInt32LE(0) | 0;
  if (!(msg.flags & NLM_F_ACK_TLVS)) return { errno };
  const text = attrString(parseAttrs(msg.payload, 4).get(NLMSGERR_ATTR_MSG));
  return text ? { errno, message: text } : { errno };
}
