/**
 * The protocol buffers of the etcd v3 calls the store makes, encoded and
 * decoded by hand (decision 0043): only the fields the store sends or reads,
 * with the field numbers of etcd's rpc.proto and kv.proto (etcd 3.4). proto3
 * leaves out fields at their default, and so does this; a decoder skips
 * fields it does not know, as protobuf does.
 */

/** Protobuf's wire types used here. */
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/** int64 values: revisions as numbers; lease IDs, above 2^53, as decimal strings. */
type Int64 = number | string;

/** Builds one message. */
class Writer {
  private readonly parts: Buffer[] = [];
  private bytes: number[] = [];

  private flush(): void {
    if (this.bytes.length > 0) {
      this.parts.push(Buffer.from(this.bytes));
      this.bytes = [];
    }
  }

  private rawVarint(v: number | bigint): void {
    if (typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER) {
      while (v > 0x7f) {
        this.bytes.push((v % 0x80) | 0x80);
        v = Math.floor(v / 0x80);
      }
      this.bytes.push(v);
      return;
    }
    // Two's complement for negatives, as int64 is on the wire.
    let b = BigInt.asUintN(64, BigInt(v));
    while (b > 0x7fn) {
      this.bytes.push(Number(b & 0x7fn) | 0x80);
      b >>= 7n;
    }
    this.bytes.push(Number(b));
  }

  int(field: number, v: Int64 | boolean | undefined): this {
    if (v === undefined || v === 0 || v === false || v === '0' || v === '') return this;
    this.rawVarint(field * 8 + VARINT);
    this.rawVarint(typeof v === 'boolean' ? 1 : typeof v === 'string' ? BigInt(v) : v);
    return this;
  }

  /** A bytes or string field; left out when empty, as proto3 does. */
  bytesField(field: number, b: Buffer | undefined): this {
    if (b === undefined || b.length === 0) return this;
    return this.message(field, b);
  }

  /** An embedded message: always written, so an empty one still marks its oneof. */
  message(field: number, b: Buffer): this {
    this.rawVarint(field * 8 + LEN);
    this.rawVarint(b.length);
    this.flush();
    this.parts.push(b);
    return this;
  }

  finish(): Buffer {
    this.flush();
    return this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
  }
}

/** One field read off the wire: a varint (number, or bigint above 2^53) or bytes. */
interface Field {
  no: number;
  int: number | bigint;
  buf: Buffer | undefined;
}

/** The fields of one message, in wire order. */
function* fields(b: Buffer): Generator<Field> {
  let i = 0;
  const varint = (): number | bigint => {
    let n = 0;
    let mul = 1;
    for (let k = 0; k < 7; k++) {
      if (i >= b.length) throw new Error('protobuf: truncated varint');
      const byte = b[i++] as number;
      n += (byte & 0x7f) * mul;
      if (byte < 0x80) return n;
      mul *= 0x80;
    }
    // Past 49 bits: the rest in bigint.
    let big = BigInt(n);
    let shift = 49n;
    for (;;) {
      if (i >= b.length || shift > 63n) throw new Error('protobuf: bad varint');
      const byte = b[i++] as number;
      big |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) break;
      shift += 7n;
    }
    big = BigInt.asUintN(64, big);
    return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  };
  while (i < b.length) {
    const tag = Number(varint());
    const no = Math.floor(tag / 8);
    switch (tag % 8) {
      case VARINT:
        yield { no, int: varint(), buf: undefined };
        break;
      case LEN: {
        const len = Number(varint());
        if (i + len > b.length) throw new Error('protobuf: truncated field');
        yield { no, int: 0, buf: b.subarray(i, i + len) };
        i += len;
        break;
      }
      case I64:
        i += 8;
        break;
      case I32:
        i += 4;
        break;
      default:
        throw new Error(`protobuf: wire type ${tag % 8} not supported`);
    }
  }
  if (i !== b.length) throw new Error('protobuf: truncated field');
}

/** A count or revision: etcd's are never negative nor past 2^53, so one that is means a bad answer. */
const num = (v: number | bigint): number => {
  if (typeof v !== 'number') throw new Error(`protobuf: ${BigInt.asIntN(64, v)} is out of range`);
  return v;
};
/** A signed int64 as a decimal string (lease IDs). */
const str = (v: number | bigint): string => BigInt.asIntN(64, BigInt(v)).toString();
const EMPTY = Buffer.alloc(0);

// ---- requests ----

export interface RangeReq {
  key: Buffer;
  rangeEnd?: Buffer;
  /** Read as of this revision (0 or none: the present). */
  revision?: number;
  keysOnly?: boolean;
  countOnly?: boolean;
}
export const rangeRequest = (r: RangeReq): Buffer =>
  new Writer()
    .bytesField(1, r.key)
    .bytesField(2, r.rangeEnd)
    .int(4, r.revision)
    .int(8, r.keysOnly)
    .int(9, r.countOnly)
    .finish();

export interface PutReq {
  key: Buffer;
  value: Buffer;
  lease?: string;
}
export const putRequest = (r: PutReq): Buffer =>
  new Writer().bytesField(1, r.key).bytesField(2, r.value).int(3, r.lease).finish();

export interface DeleteReq {
  key: Buffer;
  rangeEnd?: Buffer;
}
export const deleteRequest = (r: DeleteReq): Buffer =>
  new Writer().bytesField(1, r.key).bytesField(2, r.rangeEnd).finish();

/** One operation of a transaction (RequestOp's oneof). */
export type RequestOp =
  | { range: RangeReq; put?: never; delete?: never }
  | { put: PutReq; range?: never; delete?: never }
  | { delete: DeleteReq; range?: never; put?: never };

const requestOp = (op: RequestOp): Buffer => {
  const w = new Writer();
  if (op.range) w.message(1, rangeRequest(op.range));
  else if (op.put) w.message(2, putRequest(op.put));
  else w.message(3, deleteRequest(op.delete));
  return w.finish();
};

/** The only comparison the store makes: the key's mod_revision equals (0: absent). */
export interface ModEqual {
  key: Buffer;
  modRevision: number;
}
// Compare: result EQUAL (0) left out, target MOD (2), key, mod_revision.
const compare = (c: ModEqual): Buffer =>
  new Writer().int(2, 2).bytesField(3, c.key).int(6, c.modRevision).finish();

export const txnRequest = (compares: ModEqual[], success: RequestOp[], failure: RequestOp[]) => {
  const w = new Writer();
  for (const c of compares) w.message(1, compare(c));
  for (const op of success) w.message(2, requestOp(op));
  for (const op of failure) w.message(3, requestOp(op));
  return w.finish();
};

export const compactionRequest = (revision: number, physical: boolean): Buffer =>
  new Writer().int(1, revision).int(2, physical).finish();

export const leaseGrantRequest = (ttl: number): Buffer => new Writer().int(1, ttl).finish();
/** LeaseRevoke, LeaseKeepAlive and LeaseTimeToLive all send the ID alone, as field 1. */
export const leaseIdRequest = (id: string): Buffer => new Writer().int(1, id).finish();
export const memberListRequest = (): Buffer => EMPTY;

export interface WatchCreate {
  key: Buffer;
  rangeEnd: Buffer;
  startRevision: number;
}
export const watchCreateRequest = (c: WatchCreate): Buffer =>
  new Writer()
    .message(
      1,
      new Writer().bytesField(1, c.key).bytesField(2, c.rangeEnd).int(3, c.startRevision).finish(),
    )
    .finish();

// ---- responses ----

export interface KeyValue {
  key: Buffer;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  /** '0' when none. */
  lease: string;
}

function keyValue(b: Buffer): KeyValue {
  const kv: KeyValue = {
    key: EMPTY,
    value: EMPTY,
    createRevision: 0,
    modRevision: 0,
    version: 0,
    lease: '0',
  };
  for (const f of fields(b)) {
    if (f.no === 1) kv.key = f.buf ?? EMPTY;
    else if (f.no === 2) kv.createRevision = num(f.int);
    else if (f.no === 3) kv.modRevision = num(f.int);
    else if (f.no === 4) kv.version = num(f.int);
    else if (f.no === 5) kv.value = f.buf ?? EMPTY;
    else if (f.no === 6) kv.lease = str(f.int);
  }
  return kv;
}

/** The revision of a ResponseHeader. */
function headerRevision(b: Buffer): number {
  // Read whole: a message cut short is an error, also after the field wanted.
  let revision = 0;
  for (const f of fields(b)) if (f.no === 3) revision = num(f.int);
  return revision;
}

export interface RangeRes {
  revision: number;
  kvs: KeyValue[];
  count: number;
}
export function rangeResponse(b: Buffer): RangeRes {
  const r: RangeRes = { revision: 0, kvs: [], count: 0 };
  for (const f of fields(b)) {
    if (f.no === 1 && f.buf) r.revision = headerRevision(f.buf);
    else if (f.no === 2 && f.buf) r.kvs.push(keyValue(f.buf));
    else if (f.no === 4) r.count = num(f.int);
  }
  return r;
}

/** The header's revision of any response that has only that to say (Put, Compact, LeaseRevoke, MemberList's header). */
export function revisionOf(b: Buffer): number {
  let revision = 0;
  for (const f of fields(b)) if (f.no === 1 && f.buf) revision = headerRevision(f.buf);
  return revision;
}

export function deleteResponse(b: Buffer): { revision: number; deleted: number } {
  const r = { revision: 0, deleted: 0 };
  for (const f of fields(b)) {
    if (f.no === 1 && f.buf) r.revision = headerRevision(f.buf);
    else if (f.no === 2) r.deleted = num(f.int);
  }
  return r;
}

/** One response of a transaction: the one kind the store reads back, a range's or a delete's. */
export interface ResponseOp {
  range?: RangeRes;
  deleted?: number;
}

export interface TxnRes {
  revision: number;
  succeeded: boolean;
  responses: ResponseOp[];
}
export function txnResponse(b: Buffer): TxnRes {
  const r: TxnRes = { revision: 0, succeeded: false, responses: [] };
  for (const f of fields(b)) {
    if (f.no === 1 && f.buf) r.revision = headerRevision(f.buf);
    else if (f.no === 2) r.succeeded = f.int !== 0;
    else if (f.no === 3 && f.buf) {
      const op: ResponseOp = {};
      for (const g of fields(f.buf)) {
        if (g.no === 1 && g.buf) op.range = rangeResponse(g.buf);
        else if (g.no === 3 && g.buf) op.deleted = deleteResponse(g.buf).deleted;
      }
      r.responses.push(op);
    }
  }
  return r;
}

/** LeaseGrant, LeaseKeepAlive and LeaseTimeToLive answer ID (2) and TTL (3). */
export function leaseResponse(b: Buffer): { id: string; ttl: number; error: string } {
  const r = { id: '0', ttl: 0, error: '' };
  for (const f of fields(b)) {
    if (f.no === 2) r.id = str(f.int);
    else if (f.no === 3) r.ttl = Number(BigInt.asIntN(64, BigInt(f.int)));
    else if (f.no === 4 && f.buf) r.error = f.buf.toString();
  }
  return r;
}

export function memberListResponse(b: Buffer): { peerUrls: string[]; clientUrls: string[] }[] {
  const members: { peerUrls: string[]; clientUrls: string[] }[] = [];
  for (const f of fields(b)) {
    if (f.no !== 2 || !f.buf) continue;
    const m = { peerUrls: [] as string[], clientUrls: [] as string[] };
    for (const g of fields(f.buf)) {
      if (g.no === 3 && g.buf) m.peerUrls.push(g.buf.toString());
      else if (g.no === 4 && g.buf) m.clientUrls.push(g.buf.toString());
    }
    members.push(m);
  }
  return members;
}

export interface WatchEventMsg {
  type: 'put' | 'delete';
  kv: KeyValue;
}
export interface WatchRes {
  revision: number;
  created: boolean;
  canceled: boolean;
  compactRevision: number;
  cancelReason: string;
  events: WatchEventMsg[];
}
export function watchResponse(b: Buffer): WatchRes {
  const r: WatchRes = {
    revision: 0,
    created: false,
    canceled: false,
    compactRevision: 0,
    cancelReason: '',
    events: [],
  };
  for (const f of fields(b)) {
    if (f.no === 1 && f.buf) r.revision = headerRevision(f.buf);
    else if (f.no === 3) r.created = f.int !== 0;
    else if (f.no === 4) r.canceled = f.int !== 0;
    else if (f.no === 5) r.compactRevision = num(f.int);
    else if (f.no === 6 && f.buf) r.cancelReason = f.buf.toString();
    else if (f.no === 11 && f.buf) {
      let type: 'put' | 'delete' = 'put';
      let kv: KeyValue | undefined;
      for (const g of fields(f.buf)) {
        if (g.no === 1) type = g.int === 1 ? 'delete' : 'put';
        else if (g.no === 2 && g.buf) kv = keyValue(g.buf);
      }
      if (kv) r.events.push({ type, kv });
    }
  }
  return r;
}
