// Address parsing and canonical printing for the firewall (the text that
// reaches nft, and the form dumps are compared in).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, parseIp, tryParseIp } from '../../src/kernel/firewall/addr.js';

const canon = (s: string) => formatIp(parseIp(s));

describe('firewall addresses', () => {
  it('parses and prints IPv4', () => {
    assert.equal(canon('0.0.0.0'), '0.0.0.0');
    assert.equal(canon('255.255.255.255'), '255.255.255.255');
    assert.equal(canon('172.17.0.2'), '172.17.0.2');
  });

  it('rejects malformed IPv4', () => {
    for (const s of [
      '1.2.3',
      '1.2.3.4.5',
      '01.2.3.4',
      '1.2.3.256',
      '1.2.3.-1',
      ' 1.2.3.4',
      '1.2.3.4 ',
      '1..3.4',
      '0x1.2.3.4',
    ]) {
      assert.equal(tryParseIp(s), undefined, s);
    }
  });

  it('prints IPv6 as RFC 5952', () => {
    const cases: [string, string][] = [
      ['::', '::'],
      ['::1', '::1'],
      ['FD00:0:0:0:0:0:0:2', 'fd00::2'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero word stays
      ['2001:0db8::0001', '2001:db8::1'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
      ['::ffff:c000:0201', '::ffff:192.0.2.1'],
      ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
      ['fe80::1:2', 'fe80::1:2'],
    ];
    for (const [i, o] of cases) assert.equal(canon(i), o, i);
  });

  it('rejects malformed IPv6', () => {
    for (const s of [
      ':',
      ':::',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '12345::',
      'g::',
      '::1%lo',
      '1:2:3:4:5:6:7:8::',
      ':1::',
      '::ffff:1.2.3',
      '[::1]',
    ]) {
      assert.equal(tryParseIp(s), undefined, s);
    }
  });

  it('reports bad input as INVALID_ARGUMENT', () => {
    assert.throws(() => parseIp('nope', 'host IP'), {
      code: 'INVALID_ARGUMENT',
      message: 'invalid host IP: "nope"',
    });
    assert.throws(() => parseIp(undefined as unknown as string), { code: 'INVALID_ARGUMENT' });
  });
});
