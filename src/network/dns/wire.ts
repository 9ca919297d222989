/**
 * The resolver's hot-path wire code: reads a query's header and question and
 * writes answers by copying the question and appending precomputed records.
 * dns-packet decodes and encodes a whole message object (~3.7 µs per query
 * measured here) where this needs ~0.3 µs; see docs/decisions/0009-dns.md.
 * Every read is bounds-checked: garbage yields a status, never an exception.
 */

export const TYPE_A = 1;
export const TYPE_SOA = 6;
export const TYPE_PTR = 12;
export const TYPE_MX = 15;
export const TYPE_AAAA = 28;
export const TYPE_OPT = 41;
export const CLASS_IN = 1;

export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_NOTIMP = 4;
export const RCODE_REFUSED = 5;

export const HEADER_LEN = 12;
/** TTL of the resolver's own answers, as Docker's embedded DNS (respTTL). */
export const LOCAL_TTL = 600;
/** The largest UDP answer the resolver builds itself, whatever the client offers. */
export const MAX_UDP_ANSWER = 4096;
/** What the resolver advertises in its own OPT record (the DNS flag day's size). */
const OWN_UDP_SIZE = 1232;

/** A query the resolver accepted: header facts and its one question. */
export interface Query {
  /** The message as received; the question bytes are copied from it. */
  msg: Buffer;
  /** Offset just past QTYPE and QCLASS. */
  qEnd: number;
  /** Offset just past the last record: bytes beyond it are ignored, never forwarded. */
  end: number;
  /** The name, ASCII-lower-cased, labels joined by dots, no trailing dot ('' for the root). */
  name: string;
  /** False when a label holds a '.' byte: such a name never matches locally and is never cached. */
  plain: boolean;
  /** QTYPE. */
  qtype: number;
  /** QCLASS. */
  qclass: number;
  /** Whether the query carried an OPT record (EDNS). */
  edns: boolean;
  /** The UDP payload size the client accepts (512 without EDNS). */
  udpSize: number;
  /** The EDNS DO bit: DNSSEC records wanted (a cache key part). */
  dnssecOk: boolean;
}

/** Why a message was not accepted as a query: drop it, or answer with an rcode. */
export type Rejection = { drop: true } | { drop: false; rcode: number };

const DROP: Rejection = { drop: true };
const FORMERR: Rejection = { drop: false, rcode: RCODE_FORMERR };
const NOTIMP: Rejection = { drop: false, rcode: RCODE_NOTIMP };

/** Reused for lower-casing names: a name is at most 255 bytes on the wire. */
const nameScratch = Buffer.allocUnsafe(256);

/**
 * Reads a query the way miekg/dns (Docker's DNS library) accepts one: shorter
 * than a header or a response → dropped; opcode other than QUERY → NOTIMP;
 * QDCOUNT ≠ 1 or a malformed question/EDNS section → FORMERR.
 */
export function parseQuery(msg: Buffer): Query | Rejection {
  if (msg.length < HEADER_LEN) return DROP;
  const flags = msg[2] as number;
  if (flags & 0x80) return DROP;
  if (((flags >> 3) & 0x0f) !== 0) return NOTIMP;
  if (msg.readUInt16BE(4) !== 1) return FORMERR;
  let off = HEADER_LEN;
  let n = 0;
  // The name's length on the wire, the final zero byte included: at most 255.
  let wire = 1;
  let plain = true;
  for (;;) {
    if (off >= msg.length) return FORMERR;
    const len = msg[off] as number;
    if (len === 0) {
      off++;
      break;
    }
    wire += 1 + len;
    // Compression pointers (and the reserved 01/10 label types) have no place in a question.
    if (len > 63 || off + 1 + len > msg.length || wire > 255) return FORMERR;
    if (n > 0) nameScratch[n++] = 0x2e;
    for (let i = 1; i <= len; i++) {
      let c = msg[off + i] as number;
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      else if (c === 0x2e) plain = false;
      nameScratch[n++] = c;
    }
    off += 1 + len;
  }
  if (off + 4 > msg.length) return FORMERR;
  const qtype = msg.readUInt16BE(off);
  const qclass = msg.readUInt16BE(off + 2);
  const qEnd = off + 4;
  const q: Query = {
    msg,
    qEnd,
    end: qEnd,
    name: nameScratch.toString('latin1', 0, n),
    plain,
    qtype,
    qclass,
    edns: false,
    udpSize: 512,
    dnssecOk: false,
  };
  const rest = msg.readUInt16BE(6) + msg.readUInt16BE(8) + msg.readUInt16BE(10);
  if (rest > 0 && !readEdns(q, rest)) return FORMERR;
  return q;
}

/** Walks the records after the question, noting the OPT record; false when malformed. */
function readEdns(q: Query, count: number): boolean {
  const msg = q.msg;
  let off = q.qEnd;
  for (let i = 0; i < count; i++) {
    const nameAt = off;
    off = skipName(msg, off);
    if (off < 0 || off + 10 > msg.length) return false;
    const type = msg.readUInt16BE(off);
    const rdlen = msg.readUInt16BE(off + 8);
    if (type === TYPE_OPT) {
      if (q.edns || msg[nameAt] !== 0) return false;
      q.edns = true;
      q.udpSize = Math.max(512, msg.readUInt16BE(off + 2));
      q.dnssecOk = ((msg[off + 6] as number) & 0x80) !== 0;
    }
    off += 10 + rdlen;
    if (off > msg.length) return false;
  }
  q.end = off;
  return true;
}

/**
 * The offset just past a (possibly compressed) name at `off`, or -1 if
 * malformed. The name is followed through its compression pointers: each
 * must point before the stretch of labels it ends (RFC 1035's "prior
 * occurrence"), so pointers only go backwards and no loop is possible; every
 * label is within bounds and at most 63 bytes, the whole name at most 255.
 */
export function skipName(buf: Buffer, off: number): number {
  let end = -1;
  let len = 1;
  let start = off;
  for (;;) {
    if (off >= buf.length) return -1;
    const l = buf[off] as number;
    if (l === 0) return end < 0 ? off + 1 : end;
    if ((l & 0xc0) === 0xc0) {
      if (off + 1 >= buf.length) return -1;
      const to = ((l & 0x3f) << 8) | (buf[off + 1] as number);
      if (to >= start) return -1;
      if (end < 0) end = off + 2;
      off = start = to;
      continue;
    }
    if (l > 63) return -1;
    len += 1 + l;
    if (len > 255) return -1;
    off += 1 + l;
  }
}

/**
 * Copies header and question into a fresh response: QR and RA set, RD and CD
 * echoed (as miekg's SetReply), counts zeroed but QDCOUNT; `extra` bytes of
 * room are left after the question.
 */
function startResponse(q: Query, rcode: number, extra: number): Buffer {
  const out = Buffer.allocUnsafe(q.qEnd + extra);
  q.msg.copy(out, 0, 0, q.qEnd);
  out[2] = 0x80 | ((q.msg[2] as number) & 0x01);
  out[3] = 0x80 | ((q.msg[3] as number) & 0x10) | (rcode & 0x0f);
  out.writeUInt32BE(0x00010000, 4);
  out.writeUInt32BE(0, 8);
  return out;
}

/** Writes an OPT record advertising the resolver's own UDP size at `off`. */
function writeOpt(out: Buffer, off: number): void {
  out[off] = 0;
  out.writeUInt16BE(TYPE_OPT, off + 1);
  out.writeUInt16BE(OWN_UDP_SIZE, off + 3);
  out.writeUInt32BE(0, off + 5);
  out.writeUInt16BE(0, off + 9);
  out.writeUInt16BE(1, 10);
}

/** A response with no records and the given rcode (NODATA when NOERROR). */
export function emptyResponse(q: Query, rcode: number): Buffer {
  const out = startResponse(q, rcode, q.edns ? 11 : 0);
  if (q.edns) writeOpt(out, q.qEnd);
  return out;
}

/** An empty response with TC set: the answer exists but only fits over TCP. */
export function truncatedResponse(q: Query): Buffer {
  const out = startResponse(q, RCODE_NOERROR, 0);
  out[2] = (out[2] as number) | 0x02;
  return out;
}

/** A response to a message that could not be parsed as a query: its ID and the rcode. */
export function headerOnlyResponse(msg: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(HEADER_LEN);
  msg.copy(out, 0, 0, 2);
  out[2] = 0x80 | ((msg[2] as number) & 0x79);
  out[3] = 0x80 | (rcode & 0x0f);
  return out;
}

/** The most bytes a UDP response to `q` may have. */
export function udpLimit(q: Query): number {
  return Math.min(q.udpSize, MAX_UDP_ANSWER);
}

/** Reused permutation for shuffling; grows to the largest record set seen. */
let order = new Uint32Array(64);

/**
 * Answers `q` with `count` records of `size` bytes each, laid out in `rrs`
 * (precomputed, owner name pointing at the question). With `shuffle` the
 * records go out in a fresh random order. Records that do not fit `limit`
 * are left out and TC is set, so the client retries over TCP.
 */
export function answerResponse(
  q: Query,
  rrs: Buffer,
  count: number,
  size: number,
  shuffle: boolean,
  limit: number,
): Buffer {
  const opt = q.edns ? 11 : 0;
  let fit = count;
  if (q.qEnd + count * size + opt > limit)
    fit = Math.max(0, Math.floor((limit - q.qEnd - opt) / size));
  const out = startResponse(q, RCODE_NOERROR, fit * size + opt);
  if (fit < count) out[2] = (out[2] as number) | 0x02;
  out.writeUInt16BE(fit, 6);
  let off = q.qEnd;
  if (!shuffle || count < 2) {
    rrs.copy(out, off, 0, fit * size);
    off += fit * size;
  } else {
    if (order.length < count) order = new Uint32Array(count * 2);
    for (let i = 0; i < count; i++) order[i] = i;
    for (let i = count - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      const t = order[i] as number;
      order[i] = order[j] as number;
      order[j] = t;
    }
    for (let i = 0; i < fit; i++) {
      const from = (order[i] as number) * size;
      rrs.copy(out, off, from, from + size);
      off += size;
    }
  }
  if (opt) writeOpt(out, off);
  return out;
}

/** Records of one type for a set of addresses: owner = pointer to the question. */
export function addressRecords(addrs: readonly Buffer[], type: number): Buffer {
  const size = 12 + (type === TYPE_A ? 4 : 16);
  const out = Buffer.allocUnsafe(addrs.length * size);
  addrs.forEach((a, i) => {
    const o = i * size;
    out.writeUInt16BE(0xc00c, o);
    out.writeUInt16BE(type, o + 2);
    out.writeUInt16BE(CLASS_IN, o + 4);
    out.writeUInt32BE(LOCAL_TTL, o + 6);
    out.writeUInt16BE(size - 12, o + 10);
    a.copy(out, o + 12);
  });
  return out;
}

/** One PTR record pointing at `target` (dotted), owner = pointer to the question. */
export function ptrRecord(target: string): Buffer {
  const labels = target.split('.').filter((l) => l !== '');
  const name = Buffer.concat([
    ...labels.map((l) => {
      const b = Buffer.from(l, 'latin1').subarray(0, 63);
      return Buffer.concat([Buffer.of(b.length), b]);
    }),
    Buffer.of(0),
  ]);
  const out = Buffer.allocUnsafe(12 + name.length);
  out.writeUInt16BE(0xc00c, 0);
  out.writeUInt16BE(TYPE_PTR, 2);
  out.writeUInt16BE(CLASS_IN, 4);
  out.writeUInt32BE(LOCAL_TTL, 6);
  out.writeUInt16BE(name.length, 10);
  name.copy(out, 12);
  return out;
}

/** What the forwarder needs from an upstream response. */
export interface ResponseScan {
  /** RCODE (the low four bits; extended rcodes are not looked at). */
  rcode: number;
  /** TC bit. */
  truncated: boolean;
  /** Offset just past the question section. */
  qEnd: number;
  /** Offset just past the last record: bytes beyond it are not part of the answer. */
  end: number;
  /** Offsets of every TTL field but OPT's, for aging cached copies. */
  ttlOffsets: number[];
  /** How long the response may be cached (RFC 2308 for negative answers); 0 = not at all. */
  ttl: number;
}

/**
 * Walks a response: one question, then every record, all within bounds.
 * Returns undefined when the message is malformed or is not a response.
 */
export function scanResponse(buf: Buffer): ResponseScan | undefined {
  if (buf.length < HEADER_LEN || ((buf[2] as number) & 0x80) === 0) return undefined;
  if (buf.readUInt16BE(4) !== 1) return undefined;
  let off = skipName(buf, HEADER_LEN);
  if (off < 0 || off + 4 > buf.length) return undefined;
  off += 4;
  const qEnd = off;
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const total = an + ns + buf.readUInt16BE(10);
  const ttlOffsets: number[] = [];
  let ttl = Infinity;
  let soaTtl = Infinity;
  for (let i = 0; i < total; i++) {
    off = skipName(buf, off);
    if (off < 0 || off + 10 > buf.length) return undefined;
    const type = buf.readUInt16BE(off);
    const rdlen = buf.readUInt16BE(off + 8);
    const end = off + 10 + rdlen;
    if (end > buf.length) return undefined;
    if (type !== TYPE_OPT) {
      const t = buf.readUInt32BE(off + 4);
      ttlOffsets.push(off + 4);
      if (i < an + ns) ttl = Math.min(ttl, t);
      if (type === TYPE_SOA && i >= an && i < an + ns) {
        // SOA MINIMUM is the last 4 bytes of its rdata.
        if (rdlen >= 22) soaTtl = Math.min(t, buf.readUInt32BE(end - 4));
      }
    }
    off = end;
  }
  const rcode = (buf[3] as number) & 0x0f;
  const negative = rcode === RCODE_NXDOMAIN || (rcode === RCODE_NOERROR && an === 0);
  let cacheFor = 0;
  if (rcode === RCODE_NOERROR || rcode === RCODE_NXDOMAIN)
    cacheFor = negative ? (soaTtl === Infinity ? 0 : soaTtl) : ttl === Infinity ? 0 : ttl;
  return {
    rcode,
    truncated: ((buf[2] as number) & 0x02) !== 0,
    qEnd,
    end: off,
    ttlOffsets,
    ttl: cacheFor,
  };
}

/** Whether two questions (bytes 12..qEnd) are the same, ignoring ASCII case. */
export function sameQuestion(a: Buffer, aEnd: number, b: Buffer, bEnd: number): boolean {
  if (aEnd !== bEnd || a.length < aEnd || b.length < bEnd) return false;
  // Length bytes are below 0x40, so folding case byte-wise is safe in the name;
  // QTYPE and QCLASS (the last four bytes) must match exactly.
  for (let i = HEADER_LEN; i < aEnd - 4; i++) {
    let x = a[i] as number;
    let y = b[i] as number;
    if (x >= 0x41 && x <= 0x5a) x |= 0x20;
    if (y >= 0x41 && y <= 0x5a) y |= 0x20;
    if (x !== y) return false;
  }
  return a.readUInt32BE(aEnd - 4) === b.readUInt32BE(bEnd - 4);
}
