import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bigintToBytes, bytesToBigint, formatIp, parseIp } from '../../src/common/ip.js';

const text = (s: string): string | undefined => {
  const a = parseIp(s);
  return a && formatIp(a.bytes);
};

describe('common/ip: the one address parser', () => {
  it("accepts what Go's net.ParseIP accepts and prints it canonically", () => {
    const ok: Array<[string, string]> = [
      ['0.0.0.0', '0.0.0.0'],
      ['255.255.255.255', '255.255.255.255'],
      ['172.17.0.2', '172.17.0.2'],
      ['::', '::'],
      ['::1', '::1'],
      ['FD00:0:0:0:0:0:0:1', 'fd00::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of two equal runs
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero group stays
      ['::ffff:10.0.0.1', '::ffff:a00:1'],
      ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ];
    for (const [input, want] of ok) assert.equal(text(input), want, input);
  });

  it('refuses what Go refuses', () => {
    for (const bad of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '01.2.3.4',
      '1.2.3.256',
      '1.2.3.-1',
      '1..2.3',
      ' 1.2.3.4',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:8:9',
      '1::2::3',
      '12345::1',
      'fe80::1%eth0',
      '1.2.3.4::',
      '::1.2.3.4:5',
      '10.0.0.0/8',
      'g::1',
      'a'.repeat(46),
    ]) {
      assert.equal(parseIp(bad), undefined, bad);
    }
  });

  it('writes an IPv4-mapped address in the style asked for', () => {
    const b = parseIp('::ffff:1.2.3.4')!.bytes;
    assert.equal(formatIp(b), '::ffff:102:304');
    assert.equal(formatIp(b, 'mixed'), '::ffff:1.2.3.4');
    assert.equal(formatIp(b, 'ipv4'), '1.2.3.4');
    assert.equal(formatIp(parseIp('fd00::1')!.bytes, 'ipv4'), 'fd00::1');
  });

  it('converts to and from integers', () => {
    assert.equal(bytesToBigint(parseIp('255.1.2.3')!.bytes), 0xff010203n);
    assert.equal(bytesToBigint(parseIp('::1:2')!.bytes), 0x10002n);
    assert.deepEqual(bigintToBytes(4, 0xac110002n), Buffer.from([172, 17, 0, 2]));
    const v6 = parseIp('2001:db8::ff')!.bytes;
    assert.deepEqual(bigintToBytes(6, bytesToBigint(v6)), v6);
    assert.throws(() => formatIp(new Uint8Array(5)), /not an IP address/);
  });
});
