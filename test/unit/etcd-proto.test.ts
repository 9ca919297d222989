// The etcd store's protobuf messages and gRPC framing, against byte
// fixtures written from etcd's rpc.proto and kv.proto (field numbers, wire
// types) by hand, not by this encoder.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Deframer, frame } from '../../src/store/etcd/grpc.js';
import * as pb from '../../src/store/etcd/proto.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const b = (s: string): Buffer => Buffer.from(s);
/** 7587869594418409732, a lease ID of etcd's above 2^53, as a varint. */
const LEASE_VARINT = '84e2af8a9ae6e1a669';
const LEASE = '7587869594418409732';

describe('etcd protobuf: requests', () => {
  it('a range: key, range_end, count_only; defaults left out', () => {
    assert.equal(
      pb.rangeRequest({ key: b('a'), rangeEnd: b('b'), countOnly: true }).toString('hex'),
      '0a0161' + '120162' + '4801',
    );
    assert.equal(pb.rangeRequest({ key: b('a'), keysOnly: false }).toString('hex'), '0a0161');
  });

  it('a put with a lease ID above 2^53, exactly', () => {
    assert.equal(
      pb.putRequest({ key: b('k'), value: b('v'), lease: LEASE }).toString('hex'),
      '0a016b' + '120176' + '18' + LEASE_VARINT,
    );
    assert.equal(
      pb.putRequest({ key: b('k'), value: b('v'), lease: '0' }).toString('hex'),
      '0a016b120176',
    );
  });

  it('a transaction: mod_revision compares (0 = absent), then success and failure ops', () => {
    const t = pb.txnRequest(
      [
        { key: b('k'), modRevision: 300 },
        { key: b('n'), modRevision: 0 },
      ],
      [{ put: { key: b('k'), value: b('') } }, { delete: { key: b('a'), rangeEnd: b('b') } }],
      [{ range: { key: b('k'), keysOnly: true } }],
    );
    const cmp1 = '1002' + '1a016b' + '30ac02'; // target MOD, key, mod_revision 300
    const cmp2 = '1002' + '1a016e'; // mod_revision 0 left out: "absent"
    const put = '12' + '03' + '0a016b'; // RequestOp.request_put { key }
    const del = '1a' + '06' + '0a0161120162'; // RequestOp.request_delete_range
    const range = '0a' + '05' + '0a016b4001'; // RequestOp.request_range { key, keys_only }
    assert.equal(
      t.toString('hex'),
      '0a08' + cmp1 + '0a05' + cmp2 + '1205' + put + '1208' + del + '1a07' + range,
    );
  });

  it('a watch from a revision, and lease calls by ID', () => {
    assert.equal(
      pb.watchCreateRequest({ key: b('p'), rangeEnd: b('q'), startRevision: 300 }).toString('hex'),
      '0a09' + '0a0170' + '120171' + '18ac02',
    );
    assert.equal(pb.leaseIdRequest(LEASE).toString('hex'), '08' + LEASE_VARINT);
    assert.equal(pb.leaseGrantRequest(30).toString('hex'), '081e');
    assert.equal(pb.compactionRequest(300, false).toString('hex'), '08ac02');
  });
});

describe('etcd protobuf: responses', () => {
  const header = '0a03' + '18ac02'; // ResponseHeader { revision 300 }
  const kv = '0a016b' + '1002' + '18ac02' + '2001' + '2a0176' + '30' + LEASE_VARINT; // KeyValue { key "k", create 2, mod 300, version 1, value "v", lease }
  const kvLen = (kv.length / 2).toString(16).padStart(2, '0');

  it('a range: revision, keys and values, a lease ID above 2^53 exactly', () => {
    const r = pb.rangeResponse(hex(header + '12' + kvLen + kv + '2001'));
    assert.equal(r.revision, 300);
    assert.equal(r.count, 1);
    assert.equal(r.kvs.length, 1);
    const e = r.kvs[0]!;
    assert.deepEqual(
      [e.key.toString(), e.value.toString(), e.createRevision, e.modRevision, e.version, e.lease],
      ['k', 'v', 2, 300, 1, LEASE],
    );
  });

  it('skips fields it does not know, of every wire type', () => {
    // field 15 varint, field 14 fixed64, field 13 bytes, field 12 fixed32
    const unknown = '7801' + '710102030405060708' + '6a02abcd' + '6501020304';
    assert.equal(pb.revisionOf(hex(unknown + header)), 300);
  });

  it('a transaction: succeeded, and the failure branch read back', () => {
    const rangeRes = '12' + kvLen + kv;
    const op = '0a' + (rangeRes.length / 2).toString(16).padStart(2, '0') + rangeRes;
    const r = pb.txnResponse(
      hex(header + '1000' + '1a' + (op.length / 2).toString(16).padStart(2, '0') + op),
    );
    assert.equal(r.succeeded, false);
    assert.equal(r.revision, 300);
    assert.equal(r.responses[0]?.range?.kvs[0]?.modRevision, 300);
    const ok = pb.txnResponse(hex(header + '1001' + '1a04' + '1a02' + '1001'));
    assert.equal(ok.succeeded, true);
    assert.equal(ok.responses[0]?.deleted, 1);
  });

  it('a lease: its ID, and a TTL of -1 (etcd: expired) as -1', () => {
    const r = pb.leaseResponse(hex(header + '10' + LEASE_VARINT + '18ffffffffffffffffff01'));
    assert.deepEqual([r.id, r.ttl], [LEASE, -1]);
  });

  it('a watch response: created, events of both kinds, compaction, cancel reason', () => {
    const put = '12' + kvLen + kv;
    const del = '0801' + '1203' + '0a0178';
    const events = '5a' + (put.length / 2).toString(16).padStart(2, '0') + put + '5a' + '07' + del;
    const w = pb.watchResponse(hex(header + '1001' + '1801' + events));
    assert.equal(w.created, true);
    assert.equal(w.revision, 300);
    assert.deepEqual(
      w.events.map((e) => [e.type, e.kv.key.toString()]),
      [
        ['put', 'k'],
        ['delete', 'x'],
      ],
    );
    const c = pb.watchResponse(
      hex(header + '2001' + '28ac02' + '3206' + b('gone!!').toString('hex')),
    );
    assert.deepEqual([c.canceled, c.compactRevision, c.cancelReason], [true, 300, 'gone!!']);
  });

  it('refuses a message cut short, rather than reading past it', () => {
    assert.throws(() => pb.rangeResponse(hex('0a05' + '18ac02')), /truncated/);
    assert.throws(() => pb.rangeResponse(hex('18ac')), /truncated/);
    // Also when what is cut comes after the field wanted (a Put's answer).
    assert.throws(() => pb.revisionOf(hex(header + '12')), /truncated|bad varint/);
    assert.throws(() => pb.revisionOf(hex('0a05' + '18ac02' + '20')), /truncated/);
  });

  it('refuses a revision or count out of range rather than rounding it', () => {
    // 2^53 + 1, and -1 (ten bytes): no revision etcd gives.
    assert.throws(() => pb.revisionOf(hex('0a09' + '188180808080808010')), /out of range/);
    const minus1 = '18ffffffffffffffffff01';
    assert.throws(() => pb.revisionOf(hex('0a0b' + minus1)), /out of range/);
    assert.equal(pb.revisionOf(hex('0a09' + '18ffffffffffffff0f')), 2 ** 53 - 1);
  });
});

describe('gRPC framing', () => {
  it('prefixes a message with an uncompressed flag and its length', () => {
    assert.equal(frame(b('abc')).toString('hex'), '00' + '00000003' + '616263');
  });

  it('splits messages however the chunks fall: a prefix cut, several in one, one in many', () => {
    const big = Buffer.alloc(100_000, 7);
    const wire = Buffer.concat([frame(b('one')), frame(big), frame(b('')), frame(b('two'))]);
    for (const size of [1, 3, 5, 16_384, wire.length]) {
      const d = new Deframer();
      const got: Buffer[] = [];
      for (let i = 0; i < wire.length; i += size)
        d.push(wire.subarray(i, i + size), (m) => got.push(m));
      assert.deepEqual(
        got.map((m) => m.length),
        [3, 100_000, 0, 3],
        `chunks of ${size}`,
      );
      assert.equal(got[3]!.toString(), 'two');
      assert.ok(got[1]!.equals(big));
      assert.equal(d.pending, false);
    }
    const cut = new Deframer();
    cut.push(frame(b('whole')).subarray(0, 7), () => assert.fail('no message yet'));
    assert.equal(cut.pending, true);
  });

  it('refuses a compressed message (Berth asks for none)', () => {
    assert.throws(
      () => new Deframer().push(hex('01 00000001 61'), () => undefined),
      /compressed message/,
    );
  });
});
