/**
 * IPAM's pure parts: address arithmetic with Go's parsing rules, Docker's
 * messages, MACs, the default pool lists and the interval set (checked
 * against a brute-force model).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { STATUS_OF, type BerthError } from '../../src/common/errors.js';
import {
  DOCKER_LOCAL_POOLS,
  DefaultPools,
  IntervalSet,
  cidrContains,
  cidrOverlaps,
  formatCidr,
  formatIp,
  ipamErrors as E,
  ipv6FromMac,
  macFromIPv4,
  parseAddressPoolFlag,
  parseCidr,
  parseIp,
} from '../../src/network/ipam/index.js';

const v4 = (s: string): bigint => {
  const ip = parseIp(s);
  assert.ok(ip && ip.family === 4, s);
  return ip.value;
};

describe('ipam addresses', () => {
  it('parses IPv4 as Go does (no leading zeros, four octets)', () => {
    assert.equal(v4('172.17.0.2'), 0xac110002n);
    assert.equal(v4('0.0.0.0'), 0n);
    assert.equal(v4('255.255.255.255'), 0xffffffffn);
    for (const bad of [
      '01.2.3.4',
      '256.0.0.1',
      '1.2.3',
      '1.2.3.4.5',
      '',
      ' 1.2.3.4',
      '1.2.3.-4',
      'zz',
    ]) {
      assert.equal(parseIp(bad), undefined, bad);
    }
  });

  it('parses IPv6 forms and refuses zones and malformed ones', () => {
    const good: [string, string][] = [
      ['::', '::'],
      ['::1', '::1'],
      ['fd00:1::9', 'fd00:1::9'],
      ['FD00:0:0:0:0:0:0:1', 'fd00::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
      ['1:0:1:1:1:1:1:1', '1:0:1:1:1:1:1:1'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['::1:2:3:4:5:6:7', '0:1:2:3:4:5:6:7'],
      ['::ffff:10.0.0.1', '::ffff:a00:1'],
      ['0001:0db8::0001', '1:db8::1'],
    ];
    for (const [s, canonical] of good) {
      const ip = parseIp(s);
      assert.ok(ip && ip.family === 6, s);
      assert.equal(formatIp(6, ip.value), canonical, s);
    }
    for (const bad of [
      ':::',
      '1::2::3',
      '12345::',
      'fe80::1%eth0',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7:8::',
      ':1::',
      '1.2.3.4::',
      '1:2:3:4:5:6:7',
      'g::1',
    ]) {
      assert.equal(parseIp(bad), undefined, bad);
    }
  });

  it('parses CIDR blocks keeping host bits, as net.ParseCIDR', () => {
    const c = parseCidr('10.10.0.1/24');
    assert.ok(c);
    assert.equal(formatCidr(c), '10.10.0.0/24');
    assert.equal(formatIp(4, c.ip), '10.10.0.1');
    assert.equal(formatIp(4, c.last), '10.10.0.255');
    assert.equal(parseCidr('10.0.0.0/016')?.prefix, 16);
    assert.equal(formatCidr(parseCidr('fd00:1::5/64')!), 'fd00:1::/64');
    assert.equal(formatCidr(parseCidr('0.0.0.0/0')!), '0.0.0.0/0');
    for (const bad of [
      'x',
      '10.0.0.0',
      '10.0.0.0/',
      '10.0.0.0/33',
      '10.0.0.0/-1',
      'fd00::/129',
      '/8',
    ]) {
      assert.equal(parseCidr(bad), undefined, bad);
    }
  });

  it('tests containment and overlap', () => {
    const a = parseCidr('10.0.0.0/16')!;
    const b = parseCidr('10.0.5.0/24')!;
    const c = parseCidr('10.1.0.0/16')!;
    assert.ok(cidrOverlaps(a, b) && cidrOverlaps(b, a));
    assert.ok(!cidrOverlaps(a, c));
    assert.ok(!cidrOverlaps(a, parseCidr('::/0')!), 'families never overlap');
    assert.ok(cidrContains(a, parseIp('10.0.255.255')!));
    assert.ok(!cidrContains(a, parseIp('10.1.0.0')!));
  });

  it('derives Docker MACs from IPv4 addresses', () => {
    assert.equal(macFromIPv4('172.17.0.2'), '02:42:ac:11:00:02');
    // Seen on dockerd 20.10: 10.30.0.2 and 10.31.0.100.
    assert.equal(macFromIPv4('10.30.0.2'), '02:42:0a:1e:00:02');
    assert.equal(macFromIPv4(v4('10.31.0.100')), '02:42:0a:1f:00:64');
    assert.throws(() => macFromIPv4('fd00::1'), TypeError);
  });

  it("derives the default bridge's IPv6 addresses from MACs as dockerd 20.10", () => {
    // Seen with --fixed-cidr-v6 fd00:9::/64 (docs/reference/docker-20.10-bridge-flags.md).
    assert.equal(ipv6FromMac('fd00:9::/64', '02:42:ac:11:05:01'), 'fd00:9::242:ac11:501');
    assert.equal(ipv6FromMac('fd00:9::/80', '02:42:ac:11:00:02'), 'fd00:9::242:ac11:2');
    assert.equal(ipv6FromMac('fd00:9::/96', '02:42:ac:11:00:02'), undefined, 'under 48 bits');
    assert.equal(ipv6FromMac('10.0.0.0/8', '02:42:ac:11:00:02'), undefined);
    assert.equal(ipv6FromMac('fd00:9::/64', 'nonsense'), undefined);
  });
});

describe("ipam errors: Docker 20.10's words", () => {
  const cases: [BerthError, string, number][] = [
    [E.invalidSubnet('x'), 'Invalid subnet x : invalid CIDR address: x', 400],
    [E.invalidGateway('zz'), 'invalid gateway address zz in Ipam configuration', 400],
    [
      E.invalidIpRange('LocalDefault', '10.23.1.0/24', 'y'),
      'failed to parse pool request for address space "LocalDefault" pool "10.23.1.0/24" subpool "y": Invalid Address SubPool',
      400,
    ],
    [E.poolOverlap(), 'Pool overlaps with other one on this address space', 403],
    [
      E.noDefaultPool(4),
      'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network',
      404,
    ],
    [
      E.gatewayFailed('10.21.0.1', E.REASON.outOfRange),
      'failed to allocate gateway (10.21.0.1): Requested address is out of range',
      400,
    ],
    [
      E.auxOutside('h', '10.28.0.5', '10.27.0.0/24'),
      'auxiliary address: (h:10.28.0.5) must belong to the master pool: 10.27.0.0/24',
      403,
    ],
    [E.addressInUse(), 'Address already in use', 403],
    [
      E.addressOutside('10.40.0.9'),
      "Invalid address 10.40.0.9: It does not belong to any of this network's subnets",
      400,
    ],
    [
      E.noAddresses(4, 's1', 'abc'),
      "no available IPv4 addresses on this network's address pools: s1 (abc)",
      503,
    ],
    [E.invalidAddress(4, 'zz'), 'invalid IPv4 address: zz', 400],
  ];
  it('has the exact texts and statuses', () => {
    for (const [e, msg, status] of cases) {
      assert.equal(e.message, msg);
      assert.equal(STATUS_OF[e.code], status, msg);
    }
  });
});

describe('ipam default pools', () => {
  it("lists Docker's 31 local blocks in Docker's order", () => {
    const d = new DefaultPools(DOCKER_LOCAL_POOLS);
    assert.equal(d.total, 31n);
    const all = Array.from({ length: 31 }, (_, i) => d.slotCidr(BigInt(i)));
    const expected = [
      ...Array.from({ length: 15 }, (_, i) => `172.${17 + i}.0.0/16`),
      ...Array.from({ length: 16 }, (_, i) => `192.168.${i * 16}.0/20`),
    ];
    assert.deepEqual(all, expected);
  });

  it('splits --default-address-pool bases and checks them as ipamutils does', () => {
    const d = new DefaultPools([parseAddressPoolFlag('base=10.128.0.0/9,size=24')]);
    assert.equal(d.total, 32768n);
    assert.equal(d.slotCidr(0n), '10.128.0.0/24');
    assert.equal(d.slotCidr(32767n), '10.255.255.0/24');
    assert.throws(() => new DefaultPools([{ base: 'x', size: 24 }]), {
      message: 'invalid base pool "x": invalid CIDR address: x',
    });
    assert.throws(() => new DefaultPools([{ base: '10.0.0.0/9', size: 8 }]), {
      message: 'invalid pools size: 8',
    });
    assert.throws(() => new DefaultPools([{ base: '10.0.0.0/9', size: 33 }]), {
      message: 'invalid pools size: 33',
    });
  });

  it("parses the flag with Docker's messages", () => {
    assert.deepEqual(parseAddressPoolFlag('BASE=10.128.0.0/9,Size=24'), {
      base: '10.128.0.0/9',
      size: 24,
    });
    assert.throws(() => parseAddressPoolFlag('base'), {
      message: "invalid field 'base' must be a key=value pair",
    });
    assert.throws(() => parseAddressPoolFlag('base=10.0.0.0/8,size=x'), {
      message:
        'invalid size value: "x" (must be integer): strconv.Atoi: parsing "x": invalid syntax',
    });
    assert.throws(() => parseAddressPoolFlag('foo=1'), {
      message: "unexpected key 'foo' in 'foo=1'",
    });
  });
});

describe('IntervalSet', () => {
  it('matches a brute-force set under random adds and removes', () => {
    let seed = 42;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const N = 200;
    const model = new Set<number>();
    const s = new IntervalSet();
    for (let step = 0; step < 4000; step++) {
      const a = rnd(N);
      const b = Math.min(N - 1, a + rnd(8));
      if (rnd(3) === 0) {
        s.remove(BigInt(a), BigInt(b));
        for (let x = a; x <= b; x++) model.delete(x);
      } else {
        s.add(BigInt(a), BigInt(b));
        for (let x = a; x <= b; x++) model.add(x);
      }
      const from = rnd(N);
      const to = Math.min(N - 1, from + rnd(40));
      let want: number | undefined;
      for (let x = from; x <= to; x++) {
        if (!model.has(x)) {
          want = x;
          break;
        }
      }
      const got = s.firstFree(BigInt(from), BigInt(to));
      assert.equal(got === undefined ? undefined : Number(got), want, `step ${step}`);
      assert.equal(s.has(BigInt(a)), model.has(a));
      let overlap = false;
      for (let x = from; x <= to; x++) overlap ||= model.has(x);
      assert.equal(s.firstOverlap(BigInt(from), BigInt(to)) !== undefined, overlap);
    }
    // Runs never touch: each run is maximal.
    const runs = [...s.entries()];
    for (let i = 1; i < runs.length; i++) assert.ok(runs[i]![0] > runs[i - 1]![1] + 1n);
    assert.equal(runs.length, s.runs);
  });

  it('keeps sequential allocation to a couple of runs', () => {
    const s = new IntervalSet();
    s.add(0n, 0n);
    s.add(65535n, 65535n);
    for (let i = 0; i < 60000; i++) {
      const a = s.firstFree(1n, 65534n)!;
      s.add(a, a);
    }
    assert.equal(s.runs, 2);
    assert.equal(s.firstFree(1n, 65534n), 60001n);
  });
});
