/**
 * Seeded generators of hostile DNS messages and a strict checker of replies,
 * for the resolver's fuzz tests (test/unit/dns-fuzz.test.ts, dns-tcp.test.ts).
 * BERTH_FUZZ_LONG=1 makes the campaigns a hundred times longer;
 * BERTH_FUZZ_SEED picks another seed.
 */
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { parseQuery } from '../../src/network/dns/wire.js';

export const LONG = process.env.BERTH_FUZZ_LONG === '1';
export const SCALE = LONG ? 100 : 1;
export const SEED = Number(process.env.BERTH_FUZZ_SEED ?? 0xc0ffee) >>> 0;

/** xorshift32: a small deterministic generator. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

export const seeds = [
  dnsPacket.encode({ type: 'query', id: 1, flags: 256, questions: [{ type: 'A', name: 'web' }] }),
  dnsPacket.encode({ type: 'query', id: 2, questions: [{ type: 'AAAA', name: 'web.net1' }] }),
  dnsPacket.encode({
    type: 'query',
    id: 3,
    questions: [{ type: 'PTR', name: '3.0.1.10.in-addr.arpa' }],
  }),
  dnsPacket.encode({ type: 'query', id: 4, questions: [{ type: 'A', name: 'example.org' }] }),
  dnsPacket.encode({
    type: 'query',
    id: 5,
    questions: [{ type: 'TXT', name: 'x' }],
    additionals: [
      {
        type: 'OPT',
        name: '.',
        udpPayloadSize: 4096,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: 0,
        flag_do: false,
        options: [],
      },
    ],
  }),
];

export function mutate(base: Buffer, rand: () => number): Buffer {
  const b = Buffer.from(base);
  const kind = rand();
  if (kind < 0.3) {
    const flips = 1 + Math.floor(rand() * 4);
    for (let i = 0; i < flips; i++) {
      const at = Math.floor(rand() * b.length);
      b[at] = (b[at] as number) ^ (1 << Math.floor(rand() * 8));
    }
    return b;
  }
  if (kind < 0.5) return b.subarray(0, Math.floor(rand() * b.length));
  if (kind < 0.7) {
    // Lie in a count field.
    b.writeUInt16BE(Math.floor(rand() * 65536), 4 + 2 * Math.floor(rand() * 4));
    return b;
  }
  if (kind < 0.85)
    return Buffer.concat([
      b,
      Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => (rand() * 256) | 0)),
    ]);
  return Buffer.from(Array.from({ length: Math.floor(rand() * 600) }, () => (rand() * 256) | 0));
}

export const int = (rand: () => number, n: number): number => Math.floor(rand() * n);
const bytes = (rand: () => number, n: number): Buffer =>
  Buffer.from(Array.from({ length: n }, () => int(rand, 256)));

function header(rand: () => number, counts: [number, number, number, number], flags = 0x0100) {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(int(rand, 65536), 0);
  h.writeUInt16BE(flags, 2);
  counts.forEach((c, i) => h.writeUInt16BE(c, 4 + 2 * i));
  return h;
}

/** A name from label lengths (content random letters); no terminating zero. */
function labels(rand: () => number, lens: number[]): Buffer {
  return Buffer.concat(
    lens.map((l) =>
      Buffer.concat([
        Buffer.of(l),
        Buffer.from(Array.from({ length: Math.min(l, 63) }, () => 0x61 + int(rand, 26))),
      ]),
    ),
  );
}

const QTAIL = Buffer.from([0, 1, 0, 1]);
const ROOT_OPT = Buffer.from([0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0]);

/** One malformed (or borderline legal) message of a kind picked at random. */
export function hostile(rand: () => number): Buffer {
  const q = Buffer.concat([labels(rand, [3, 3]), Buffer.of(0), QTAIL]);
  switch (int(rand, 14)) {
    case 0: // the question's name is a pointer to itself
      return Buffer.concat([header(rand, [1, 0, 0, 0]), Buffer.from([0xc0, 12]), QTAIL]);
    case 1: // a label, then a pointer back to it: a loop
      return Buffer.concat([
        header(rand, [1, 0, 0, 0]),
        labels(rand, [1]),
        Buffer.from([0xc0, 12]),
      ]);
    case 2: {
      // an additional record whose name points at itself, or at the next one pointing back
      const at = 12 + q.length;
      const self = Buffer.from([0xc0 | (at >> 8), at & 0xff]);
      const rr = Buffer.concat([self, Buffer.from([0, 41, 16, 0, 0, 0, 0, 0, 0, 0])]);
      const next = at + rr.length;
      const back = Buffer.concat([
        Buffer.from([0xc0 | (next >> 8), next & 0xff]),
        Buffer.from([0, 1, 0, 1, 0, 0, 0, 0, 0, 0]),
        Buffer.from([0xc0 | (at >> 8), at & 0xff]),
        Buffer.from([0, 1, 0, 1, 0, 0, 0, 0, 0, 0]),
      ]);
      return rand() < 0.5
        ? Buffer.concat([header(rand, [1, 0, 0, 1]), q, rr])
        : Buffer.concat([header(rand, [1, 0, 0, 2]), q, back]);
    }
    case 3: {
      // names of 256 to ~1000 bytes: many short labels, or several of 63
      const lens =
        rand() < 0.5
          ? Array.from({ length: 128 + int(rand, 200) }, () => 1)
          : Array.from({ length: 5 + int(rand, 10) }, () => 63);
      return Buffer.concat([header(rand, [1, 0, 0, 0]), labels(rand, lens), Buffer.of(0), QTAIL]);
    }
    case 4: {
      // the longest legal name (255 bytes on the wire) and one byte more
      const lens = [63, 63, 63, 61 + int(rand, 2)];
      return Buffer.concat([header(rand, [1, 0, 0, 0]), labels(rand, lens), Buffer.of(0), QTAIL]);
    }
    case 5: // a label length of 64..255 (too long, or the reserved 01/10 types)
      return Buffer.concat([
        header(rand, [1, 0, 0, 0]),
        Buffer.of(64 + int(rand, 192)),
        bytes(rand, int(rand, 300)),
        Buffer.of(0),
        QTAIL,
      ]);
    case 6: // counts that lie, up to 65535 each
      return Buffer.concat([
        header(rand, [int(rand, 65536), int(rand, 65536), int(rand, 65536), int(rand, 65536)]),
        q,
        bytes(rand, int(rand, 64)),
      ]);
    case 7: // a good question, then lying counts with nothing behind them
      return Buffer.concat([header(rand, [1, 65535, 65535, 65535]), q]);
    case 8: {
      // EDNS garbage: a second OPT, an OPT with a name, rdata running past the end
      const bad = [
        Buffer.concat([ROOT_OPT, ROOT_OPT]),
        Buffer.concat([Buffer.from([1, 0x61]), ROOT_OPT]),
        Buffer.from([0, 0, 41, 16, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 1]),
        Buffer.concat([
          Buffer.from([0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 8]),
          Buffer.from([0, 10, 0, 20]),
        ]),
      ][int(rand, 4)] as Buffer;
      const two = bad.length === 22 ? 2 : 1;
      return Buffer.concat([header(rand, [1, 0, 0, two]), q, bad]);
    }
    case 9: // random flags: responses, opcodes, TC, Z bits
      return Buffer.concat([header(rand, [1, 0, 0, 0], int(rand, 65536)), q]);
    case 10: // cut anywhere
      return Buffer.concat([header(rand, [1, 0, 0, 1]), q, ROOT_OPT]).subarray(0, int(rand, 40));
    case 11: // random bytes
      return bytes(rand, int(rand, 1024));
    case 12: // random bytes after a plausible header
      return Buffer.concat([header(rand, [1, 0, 0, int(rand, 3)]), bytes(rand, int(rand, 300))]);
    default: // a mutated valid query
      return mutate(seeds[int(rand, seeds.length)] as Buffer, rand);
  }
}

/**
 * Why `buf` is not a well-formed DNS message, or undefined: every name (with
 * its compression pointers, which must point backwards) and every record
 * within bounds, at most one OPT with the root name, nothing after the last
 * record.
 */
export function malformed(buf: Buffer): string | undefined {
  if (buf.length < 12) return 'shorter than a header';
  const readName = (start: number): number => {
    let off = start;
    let end = -1;
    let len = 1; // the final zero byte
    for (let hops = 0; hops < 128; hops++) {
      if (off >= buf.length) return -1;
      const l = buf[off] as number;
      if (l === 0) return end < 0 ? off + 1 : end;
      if ((l & 0xc0) === 0xc0) {
        if (off + 1 >= buf.length) return -1;
        const to = ((l & 0x3f) << 8) | (buf[off + 1] as number);
        if (to >= off) return -1;
        if (end < 0) end = off + 2;
        off = to;
        continue;
      }
      if (l > 63) return -1;
      len += l + 1;
      if (len > 255) return -1;
      off += 1 + l;
    }
    return -1;
  };
  let off = 12;
  for (let i = 0; i < buf.readUInt16BE(4); i++) {
    off = readName(off);
    if (off < 0 || off + 4 > buf.length) return `question ${i}`;
    off += 4;
  }
  const rrs = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10);
  let opts = 0;
  for (let i = 0; i < rrs; i++) {
    const at = off;
    off = readName(off);
    if (off < 0 || off + 10 > buf.length) return `record ${i}`;
    if (buf.readUInt16BE(off) === 41 && (++opts > 1 || buf[at] !== 0)) return 'bad OPT';
    off += 10 + buf.readUInt16BE(off + 8);
    if (off > buf.length) return `record ${i} rdata`;
  }
  return off === buf.length ? undefined : `${buf.length - off} bytes after the last record`;
}

/** Checks one reply to `msg`: none, or a well-formed response to it. */
export function checkReply(msg: Buffer, out: Buffer | null, tcp: boolean): void {
  if (out === null) return;
  const why = malformed(out);
  assert.equal(why, undefined, `reply to ${msg.toString('hex')}: ${why}: ${out.toString('hex')}`);
  assert.ok(tcp || out.length <= 4096, 'UDP reply within 4096 bytes');
  assert.ok(((out[2] as number) & 0x80) !== 0, 'a response');
  assert.equal(out.readUInt16BE(0), msg.readUInt16BE(0), 'the query ID');
  const q = parseQuery(msg);
  if (!('drop' in q) && out.readUInt16BE(4) === 1)
    assert.ok(out.subarray(12, q.qEnd).equals(msg.subarray(12, q.qEnd)), 'the question as asked');
}
