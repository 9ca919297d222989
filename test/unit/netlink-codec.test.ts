// Netlink wire format: framing, attributes (nested, padded), the kernel's
// error and done messages, and address text ⇄ bytes. Byte fixtures only.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  NlWriter,
  align4,
  attrString,
  attrU32,
  parseAttrs,
  parseDone,
  parseError,
  parseMessages,
  type NlMessage,
} from '../../src/kernel/netlink/codec.js';
import {
  broadcast4,
  formatIp,
  formatMac,
  parseIp,
  parseMac,
  parsePrefix,
} from '../../src/kernel/netlink/addr.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('netlink codec: writing', () => {
  it('aligns to 4 bytes', () => {
    assert.deepEqual([0, 1, 3, 4, 5, 8].map(align4), [0, 4, 4, 4, 8, 8]);
  });

  it('frames a message: length, type, flags, zero sequence, then the fixed struct', () => {
    const msg = new NlWriter(18, 0x0300, hex('00000000 01000000 00000000 00000000')).finish();
    assert.equal(
      msg.toString('hex'),
      '20000000' + '1200' + '0003' + '00000000' + '00000000' + '00000000010000000000000000000000',
    );
  });

  it('pads a string attribute after its NUL, and the length excludes the padding', () => {
    const msg = new NlWriter(16, 0, Buffer.alloc(0)).str(3, 'lo').finish();
    // nla_len 7 (4 + "lo\0"), nla_type 3, then "lo\0" and one pad byte.
    assert.equal(msg.subarray(16).toString('hex'), '07000300' + '6c6f0000');
    assert.equal(msg.readUInt32LE(0), 24);
  });

  it('writes integers in host order, ports in network order', () => {
    const msg = new NlWriter(16, 0, Buffer.alloc(0)).u32(4, 1400).be16(15, 4789).u8(7, 0).finish();
    assert.equal(
      msg.subarray(16).toString('hex'),
      '08000400' + '78050000' + '06000f00' + '12b50000' + '05000700' + '00000000',
    );
  });

  it('nests attributes and patches the nest length after the children', () => {
    const msg = new NlWriter(16, 0, Buffer.alloc(0))
      .nest(18, (w) => {
        w.str(1, 'veth');
        w.nest(2, (d) => d.u32(28, 4));
      })
      .finish();
    const body = msg.subarray(16);
    assert.equal(body.readUInt16LE(0), 4 + 12 + 12); // kind (4+5 → 12) + data (4+8)
    const outer = parseAttrs(body);
    const linkinfo = outer.get(18)!;
    const inner = parseAttrs(linkinfo);
    assert.equal(attrString(inner.get(1)), 'veth');
    assert.equal(attrU32(parseAttrs(inner.get(2)!).get(28)), 4);
  });

  it('grows past its initial buffer', () => {
    const w = new NlWriter(16, 0, Buffer.alloc(0));
    for (let i = 0; i < 200; i++) w.u32(i + 1, i);
    const msg = w.finish();
    assert.equal(msg.length, 16 + 200 * 8);
    assert.equal(attrU32(parseAttrs(msg, 16).get(200)), 199);
  });
});

describe('netlink codec: reading', () => {
  it('masks NLA_F_NESTED off attribute types and keeps the last of a repeated type', () => {
    const a = parseAttrs(hex('08000280 01000000 08000300 02000000 08000300 03000000'));
    assert.deepEqual([...a.keys()], [2, 3]);
    assert.equal(attrU32(a.get(3)), 3);
  });

  it('stops at an attribute whose length runs past the end', () => {
    const a = parseAttrs(hex('08000100 01000000 40000200 0000'));
    assert.deepEqual([...a.keys()], [1]);
  });

  it('splits a datagram holding several messages, each padded to 4', () => {
    const one = new NlWriter(16, 2, Buffer.alloc(0)).str(3, 'a').finish(); // 16 + 4 + 2 → 24 aligned
    const two = new NlWriter(3, 2, hex('00000000')).finish();
    one.writeUInt32LE(7, 8);
    two.writeUInt32LE(7, 8);
    const msgs = parseMessages(Buffer.concat([one, two]));
    assert.deepEqual(
      msgs.map((m) => [m.type, m.flags, m.seq, m.payload.length]),
      [
        [16, 2, 7, 8],
        [3, 2, 7, 4],
      ],
    );
  });

  it('rejects a message length shorter than the header or past the datagram', () => {
    assert.throws(() => parseMessages(hex('08000000 10000000 00000000 00000000')), /malformed/);
    assert.throws(() => parseMessages(hex('40000000 10000000 00000000 00000000')), /malformed/);
  });

  const errMsg = (payload: Buffer, flags: number): NlMessage => ({
    type: 2,
    flags,
    seq: 1,
    pid: 0,
    payload,
  });

  it('reads an acknowledgement as errno 0', () => {
    const ack = hex('00000000' + '20000000 1000 0506 01000000 00000000');
    assert.deepEqual(parseError(errMsg(ack, 0x100)), { errno: 0, requestType: 16 });
  });

  it('reads EEXIST with the extended-ack text and offset after a capped request', () => {
    // -17, the request's header (NLM_F_CAPPED), then NLMSGERR_ATTR_MSG and _OFFS.
    const payload = Buffer.concat([
      hex('efffffff' + '2c000000 1000 0506 05000000 00000000'),
      hex('10000100'),
      Buffer.from('Link exists\0'),
      hex('08000200 20000000'),
    ]);
    assert.deepEqual(parseError(errMsg(payload, 0x100 | 0x200)), {
      errno: 17,
      requestType: 16,
      message: 'Link exists',
      offset: 32,
    });
  });

  it('skips the whole echoed request when the ack is not capped', () => {
    const payload = Buffer.concat([
      hex('edffffff' + '18000000 1100 0500 05000000 00000000' + '0000 0000 0000 0000'),
      hex('0c000100'),
      Buffer.from('no dev\0\0'),
    ]);
    assert.deepEqual(parseError(errMsg(payload, 0x200)), {
      errno: 19,
      requestType: 17,
      message: 'no dev',
    });
  });

  it('reads a dump that ended in an error from NLMSG_DONE', () => {
    const done = (p: Buffer, flags: number): NlMessage => ({
      type: 3,
      flags,
      seq: 1,
      pid: 0,
      payload: p,
    });
    assert.deepEqual(parseDone(done(hex('00000000'), 2)), { errno: 0 });
    const failed = Buffer.concat([hex('eaffffff 0d000100'), Buffer.from('bad dump\0\0\0\0')]);
    assert.deepEqual(parseDone(done(failed, 2 | 0x200)), { errno: 22, message: 'bad dump' });
  });
});

describe('netlink addresses', () => {
  it('parses and formats IPv4 and IPv6 (RFC 5952 compression)', () => {
    assert.equal(parseIp('172.17.0.1').bytes.toString('hex'), 'ac110001');
    assert.equal(parseIp('fd00:88::1').bytes.toString('hex'), 'fd000088000000000000000000000001');
    assert.equal(
      parseIp('::ffff:1.2.3.4').bytes.toString('hex'),
      '00000000000000000000ffff01020304',
    );
    assert.equal(parseIp('::').bytes.toString('hex'), '0'.repeat(32));
    for (const text of [
      'fd00:88::1',
      '::1',
      '::',
      'fe80::1:0:0:2',
      '2001:db8:0:1:1:1:1:1',
      '1::',
    ]) {
      assert.equal(formatIp(parseIp(text).bytes), text);
    }
    assert.equal(formatIp(hex('20010db8000000000001000000000001')), '2001:db8::1:0:0:1');
    assert.throws(() => parseIp('10.0.0.256'), /invalid IP/);
    assert.throws(() => parseIp('fd00::1::2'), /invalid IP/);
  });

  it('parses prefixes, keeping host bits, and computes the IPv4 broadcast', () => {
    const p = parsePrefix('10.88.0.2/24');
    assert.deepEqual([p.family, p.length, p.bytes.toString('hex')], [2, 24, '0a580002']);
    assert.equal(formatIp(broadcast4(p)), '10.88.0.255');
    assert.equal(formatIp(broadcast4(parsePrefix('172.17.0.1/16'))), '172.17.255.255');
    assert.equal(parsePrefix('fd00::/64').length, 64);
    assert.throws(() => parsePrefix('10.0.0.1'), /no \/length/);
    assert.throws(() => parsePrefix('10.0.0.1/33'), /prefix length/);
    assert.throws(() => parsePrefix('fd00::1/129'), /prefix length/);
  });

  it('parses and formats MAC addresses', () => {
    assert.equal(parseMac('02:42:AC:11:00:02').toString('hex'), '0242ac110002');
    assert.equal(parseMac('02-42-ac-11-00-02').toString('hex'), '0242ac110002');
    assert.equal(formatMac(hex('0242ac110002')), '02:42:ac:11:00:02');
    assert.throws(() => parseMac('02:42:ac:11:00'), /invalid MAC/);
  });
});
