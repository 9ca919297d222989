// The resolver's wire code and address helpers: query parsing as miekg/dns
// accepts queries, responses as dns-packet reads them, TTL scanning.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import {
  answerResponse,
  emptyResponse,
  parseQuery,
  scanResponse,
  addressRecords,
  sameQuestion,
  TYPE_A,
  type Query,
} from '../../src/network/dns/wire.js';
import { canonicalIp, ipv6Bytes, ptrNameToIp, formatIPv6 } from '../../src/network/dns/ip.js';

const query = (
  name: string,
  type: dnsPacket.RecordType = 'A',
  extra: Partial<dnsPacket.Packet> = {},
) =>
  dnsPacket.encode({
    type: 'query',
    id: 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    ...extra,
  });

const opt = (udpPayloadSize: number, flags = 0): dnsPacket.OptAnswer => ({
  type: 'OPT',
  name: '.',
  udpPayloadSize,
  extendedRcode: 0,
  ednsVersion: 0,
  flags,
  flag_do: false,
  options: [],
});

function parsed(msg: Buffer): Query {
  const q = parseQuery(msg);
  assert.ok(!('drop' in q), 'expected a query');
  return q;
}

describe('dns wire: parseQuery', () => {
  it('reads the question, lower-cased', () => {
    const q = parsed(query('WeB.MyNet'));
    assert.equal(q.name, 'web.mynet');
    assert.equal(q.qtype, 1);
    assert.equal(q.qclass, 1);
    assert.equal(q.plain, true);
    assert.equal(q.edns, false);
    assert.equal(q.udpSize, 512);
  });

  it('drops what is shorter than a header and responses', () => {
    assert.deepEqual(parseQuery(Buffer.alloc(11)), { drop: true });
    const r = query('web');
    r[2] = (r[2] as number) | 0x80;
    assert.deepEqual(parseQuery(r), { drop: true });
  });

  it('answers NOTIMP to other opcodes, FORMERR to QDCOUNT != 1 and bad names', () => {
    const upd = query('web');
    upd[2] = 5 << 3;
    assert.deepEqual(parseQuery(upd), { drop: false, rcode: 4 });
    const two = dnsPacket.encode({
      type: 'query',
      id: 1,
      questions: [
        { type: 'A', name: 'a' },
        { type: 'A', name: 'b' },
      ],
    });
    assert.deepEqual(parseQuery(two), { drop: false, rcode: 1 });
    const none = Buffer.from(query('web').subarray(0, 12));
    none.writeUInt16BE(0, 4);
    assert.deepEqual(parseQuery(none), { drop: false, rcode: 1 });
    // A compression pointer in the question, and a question cut short.
    const ptr = Buffer.concat([
      query('web').subarray(0, 12),
      Buffer.from([0xc0, 0x0c, 0, 1, 0, 1]),
    ]);
    assert.deepEqual(parseQuery(ptr), { drop: false, rcode: 1 });
    assert.deepEqual(parseQuery(query('web').subarray(0, 17)), { drop: false, rcode: 1 });
  });

  it('takes names up to 255 bytes on the wire, the final zero included, and no longer', () => {
    const withLabels = (lens: number[]) => {
      const q = query('x');
      const name = Buffer.concat([
        ...lens.map((l) => Buffer.concat([Buffer.of(l), Buffer.alloc(l, 0x61)])),
        Buffer.of(0),
      ]);
      return Buffer.concat([q.subarray(0, 12), name, q.subarray(q.length - 4)]);
    };
    const ones = (k: number) => Array.from({ length: k }, () => 1);
    assert.equal(parsed(withLabels(ones(127))).name.length, 253, '127 labels: 255 bytes');
    assert.deepEqual(parseQuery(withLabels(ones(128))), { drop: false, rcode: 1 });
    assert.equal(parsed(withLabels([63, 63, 63, 61])).name.length, 253);
    assert.deepEqual(parseQuery(withLabels([63, 63, 63, 62])), { drop: false, rcode: 1 });
  });

  it('reads EDNS: payload size and DO bit; rejects two OPT records', () => {
    const q = parsed(
      query('web', 'A', {
        additionals: [opt(4096, dnsPacket.DNSSEC_OK)],
      }),
    );
    assert.equal(q.edns, true);
    assert.equal(q.udpSize, 4096);
    assert.equal(q.dnssecOk, true);
    assert.deepEqual(parseQuery(query('web', 'A', { additionals: [opt(1232), opt(1232)] })), {
      drop: false,
      rcode: 1,
    });
  });

  it('marks names with a dot inside a label as not plain', () => {
    const msg = Buffer.concat([
      query('x').subarray(0, 12),
      Buffer.from([3, 0x61, 0x2e, 0x62, 0, 0, 1, 0, 1]),
    ]);
    const q = parsed(msg);
    assert.equal(q.name, 'a.b');
    assert.equal(q.plain, false);
  });
});

describe('dns wire: responses', () => {
  it('answers with the question as asked, RD echoed, RA set', () => {
    const q = parsed(query('Web'));
    const rrs = addressRecords([Buffer.from([10, 0, 0, 2]), Buffer.from([10, 0, 0, 3])], TYPE_A);
    const r = dnsPacket.decode(answerResponse(q, rrs, 2, 16, false, 512));
    assert.equal(r.id, 4242);
    assert.equal(r.type, 'response');
    assert.equal(r.flag_rd, true);
    assert.equal(r.flag_ra, true);
    assert.equal(r.questions?.[0]?.name, 'Web');
    assert.deepEqual(
      r.answers?.map((a) => {
        const s = a as dnsPacket.StringAnswer;
        return [s.name, s.type, s.ttl, s.data];
      }),
      [
        ['Web', 'A', 600, '10.0.0.2'],
        ['Web', 'A', 600, '10.0.0.3'],
      ],
    );
  });

  it('truncates to the limit and sets TC', () => {
    const q = parsed(query('many'));
    const addrs = Array.from({ length: 100 }, (_, i) => Buffer.from([10, 0, 1, i]));
    const buf = answerResponse(q, addressRecords(addrs, TYPE_A), 100, 16, true, 512);
    assert.ok(buf.length <= 512);
    const r = dnsPacket.decode(buf);
    assert.equal(r.flag_tc, true);
    assert.ok((r.answers?.length ?? 0) > 20 && (r.answers?.length ?? 0) < 100);
  });

  it('adds an OPT record when the query had one', () => {
    const q = parsed(query('web', 'A', { additionals: [opt(4096)] }));
    const r = dnsPacket.decode(emptyResponse(q, 3));
    assert.equal((r.flags ?? 0) & 15, 3);
    assert.equal(r.additionals?.[0]?.type, 'OPT');
  });
});

describe('dns wire: scanResponse', () => {
  const resp = (p: Partial<dnsPacket.Packet>) =>
    dnsPacket.encode({
      type: 'response',
      id: 1,
      questions: [{ type: 'A', name: 'x.example' }],
      ...p,
    });

  it('takes the smallest answer TTL and every TTL offset', () => {
    const buf = resp({
      answers: [
        { type: 'A', name: 'x.example', ttl: 300, data: '192.0.2.1' },
        { type: 'A', name: 'x.example', ttl: 30, data: '192.0.2.2' },
      ],
    });
    const s = scanResponse(buf);
    assert.equal(s?.ttl, 30);
    assert.deepEqual(
      s?.ttlOffsets.map((o) => buf.readUInt32BE(o)),
      [300, 30],
    );
  });

  it('caches negative answers for min(SOA TTL, SOA minimum), without SOA not at all', () => {
    const soa = {
      type: 'SOA' as const,
      name: 'example',
      ttl: 900,
      data: {
        mname: 'ns.example',
        rname: 'h.example',
        serial: 1,
        refresh: 1,
        retry: 1,
        expire: 1,
        minimum: 45,
      },
    };
    const nx = resp({ flags: 3, authorities: [soa] });
    assert.equal(scanResponse(nx)?.rcode, 3);
    assert.equal(scanResponse(nx)?.ttl, 45);
    assert.equal(scanResponse(resp({ flags: 3 }))?.ttl, 0);
    assert.equal(scanResponse(resp({ flags: 2 }))?.ttl, 0);
  });

  it('rejects queries, cut messages and runaway names', () => {
    assert.equal(scanResponse(query('x')), undefined);
    const buf = resp({ answers: [{ type: 'A', name: 'x.example', ttl: 3, data: '192.0.2.1' }] });
    for (let n = 0; n < buf.length; n++) assert.equal(scanResponse(buf.subarray(0, n)), undefined);
  });

  it('follows compression pointers backwards only: loops and forward pointers are malformed', () => {
    // An answer whose owner is a pointer to the question (offset 12), as servers write them.
    const q = resp({});
    const owner = q.length;
    const buf = Buffer.concat([
      q,
      Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 3, 0, 4, 192, 0, 2, 1]),
    ]);
    buf.writeUInt16BE(1, 6);
    assert.equal(scanResponse(buf)?.end, buf.length);
    const at = (to: number) => {
      const b = Buffer.from(buf);
      b.writeUInt16BE(0xc000 | to, owner);
      return scanResponse(b);
    };
    assert.equal(at(owner), undefined, 'a pointer to itself');
    assert.equal(at(owner + 2), undefined, 'a pointer forwards');
    assert.equal(at(2), undefined, 'into the header, where 0x00 0x00 ... is no name');
    // A name whose pointer lands on a label that points back to the same place.
    const loop = Buffer.concat([
      q,
      Buffer.from([1, 0x61, 0xc0, owner, 0, 1, 0, 1, 0, 0, 0, 3, 0, 0]),
    ]);
    loop.writeUInt16BE(1, 6);
    assert.equal(scanResponse(loop), undefined);
    // Trailing bytes are not part of the answer.
    const tail = Buffer.concat([buf, Buffer.from([1, 2, 3])]);
    assert.equal(scanResponse(tail)?.end, buf.length);
  });

  it('a query ends after its last record; longer names than 255 bytes through pointers are malformed', () => {
    const q = query('x', 'A', { additionals: [opt(1232)] });
    assert.equal(parsed(Buffer.concat([q, Buffer.from([9, 9, 9])])).end, q.length);
    assert.equal(parsed(query('x')).end, query('x').length);
    // An additional record whose name is 4 × 63-byte labels then a pointer to 'x': 258 bytes.
    const l63 = Buffer.concat([Buffer.of(63), Buffer.alloc(63, 0x61)]);
    const base = query('x');
    const rr = Buffer.concat([
      l63,
      l63,
      l63,
      l63,
      Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]),
    ]);
    const long = Buffer.concat([base, rr]);
    long.writeUInt16BE(1, 10);
    assert.deepEqual(parseQuery(long), { drop: false, rcode: 1 });
    const ok = Buffer.concat([base, rr.subarray(64)]);
    ok.writeUInt16BE(1, 10);
    assert.equal(parsed(ok).end, ok.length);
  });

  it('compares questions ignoring case in the name only', () => {
    const a = query('Web');
    const b = query('wEB');
    assert.equal(sameQuestion(a, a.length, b, b.length), true);
    const c = query('web', 'AAAA');
    assert.equal(sameQuestion(a, a.length, c, c.length), false);
  });
});

describe('dns ip helpers', () => {
  it('canonicalises addresses', () => {
    assert.equal(canonicalIp('10.0.0.1'), '10.0.0.1');
    assert.equal(canonicalIp('FD00:0:0:0::0001'), 'fd00::1');
    assert.equal(canonicalIp('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(canonicalIp('2001:db8:0:1:0:0:0:1'), '2001:db8:0:1::1');
    assert.equal(formatIPv6(ipv6Bytes('2001:db8:1:0:1::1') as Buffer), '2001:db8:1:0:1::1');
    assert.throws(() => canonicalIp('nope'), { code: 'INVALID_ARGUMENT' });
  });

  it('reads reverse names', () => {
    assert.equal(ptrNameToIp('3.0.18.172.in-addr.arpa'), '172.18.0.3');
    assert.equal(ptrNameToIp('18.172.in-addr.arpa'), undefined);
    assert.equal(ptrNameToIp('300.0.18.172.in-addr.arpa'), undefined);
    const v6 = '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa';
    assert.equal(ptrNameToIp(v6), 'fd00::1');
    assert.equal(ptrNameToIp('x.ip6.arpa'), undefined);
  });
});
