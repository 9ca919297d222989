import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseFilters, parseJson, qBool, qInt } from '../../src/common/validate.js';
import { FrameDecoder, frame } from '../../src/api/stream.js';
import { Router } from '../../src/api/server.js';
import { parseFlags } from '../../src/daemon/flags.js';
import { parseNetworkCreate } from '../../src/network/create.js';

describe('API request validation', () => {
  it('parses both filter encodings', () => {
    assert.deepEqual(
      [...parseFilters('{"label":["a=b"],"status":{"running":true,"exited":false}}')],
      [
        ['label', ['a=b']],
        ['status', ['running']],
      ],
    );
    assert.throws(() => parseFilters('{"label":5}'), /invalid filter/);
    assert.throws(() => parseFilters('{bad'), /invalid JSON/);
  });

  it('reads query booleans and integers like Docker', () => {
    assert.equal(qBool('1'), true);
    assert.equal(qBool('True'), true);
    assert.equal(qBool('0'), false);
    assert.equal(qBool(null), false);
    assert.equal(qInt('10', 't'), 10);
    assert.throws(() => qInt('ten', 't'), /invalid value for t/);
  });

  it('treats an empty body as {} and malformed JSON as a 400', () => {
    assert.deepEqual(parseJson(''), {});
    assert.throws(
      () => parseJson('{'),
      (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT',
    );
  });

  it('routes with and without a version prefix stripped, and tells 405 from 404', () => {
    const r = new Router();
    const h = async () => undefined;
    r.on('GET', '/containers/:id/json', h)
      .on('DELETE', '/images/*', h)
      .on('GET', '/images/*/json', h);
    const m = r.match('GET', '/containers/abc/json');
    assert.ok(m && m !== 'method');
    assert.deepEqual(m.params, ['abc']);
    const img = r.match('DELETE', '/images/docker.io/library/busybox:latest');
    assert.ok(img && img !== 'method');
    assert.deepEqual(img.params, ['docker.io/library/busybox:latest']);
    const insp = r.match('GET', '/images/library/busybox:1/json');
    assert.ok(insp && insp !== 'method');
    assert.deepEqual(insp.params, ['library/busybox:1']);
    assert.equal(r.match('POST', '/containers/abc/json'), 'method');
    assert.equal(r.match('GET', '/nope'), undefined);
  });
});

describe('network create validation', () => {
  const parse = (body: unknown) => parseNetworkCreate(body, () => false);
  const withOption = (k: string, v: string) => parse({ Name: 'n', Options: { [k]: v } });
  const status = (f: () => unknown): number => {
    try {
      f();
    } catch (e) {
      return (e as { status: number }).status;
    }
    return 0;
  };

  it('answers a body without a name with 400 (dockerd: 500 "invalid name: ")', () => {
    for (const body of [null, undefined, {}, { Driver: 'bridge' }]) {
      assert.throws(() => parse(body), /^BerthError: invalid name: /);
      assert.equal(
        status(() => parse(body)),
        400,
      );
    }
    assert.equal(
      status(() => parse([])),
      400,
    );
    assert.equal(
      status(() => parse({ Name: '' })),
      409,
      'an empty Name: as the CLI sees dockerd',
    );
  });

  it('takes every name dockerd 20.10 takes; refuses all-blank ones with its words', () => {
    for (const name of [
      'test 01',
      '/',
      'a/b',
      'c'.repeat(1000),
      'ünïcødé',
      '日本',
      '..',
      '-lead',
      '_x',
      'x:y',
      'x?y',
      'tab\tx',
      'container:x',
    ]) {
      assert.equal(parse({ Name: name }).Name, name);
    }
    for (const name of [' ', '\t', '  \n']) {
      assert.throws(() => parse({ Name: name }), { message: `invalid name: ${name}` });
      assert.equal(
        status(() => parse({ Name: name })),
        400,
      );
    }
    for (const name of ['bridge', 'host', 'none']) {
      assert.throws(() => parse({ Name: name }), {
        message: `operation is not permitted on predefined ${name} network `,
      });
    }
  });

  it('keeps IPAM Options null when the request has none, as dockerd 20.10 shows them', () => {
    assert.equal(parse({ Name: 'n' }).IPAM.Options, null);
    assert.equal(parse({ Name: 'n', IPAM: { Driver: 'default' } }).IPAM.Options, null);
    assert.deepEqual(parse({ Name: 'n', IPAM: { Options: {} } }).IPAM.Options, {});
    assert.deepEqual(parse({ Name: 'n', IPAM: { Options: { foo: 'bar' } } }).IPAM.Options, {
      foo: 'bar',
    });
  });

  it("refuses MTUs the kernel refuses, with dockerd's messages where it has them", () => {
    const mtu = (v: string) => withOption('com.docker.network.driver.mtu', v);
    for (const v of ['99999999', '65536', '67', '1', '+5']) {
      const want = `invalid MTU number: ${v} (an interface's MTU is 68-65535, or 0 for the default)`;
      assert.throws(() => mtu(v), { message: want });
      assert.equal(
        status(() => mtu(v)),
        400,
      );
    }
    assert.throws(() => mtu('-1'), /^BerthError: invalid MTU number: -1$/);
    assert.throws(
      () => mtu('abc'),
      /^BerthError: failed to parse com\.docker\.network\.driver\.mtu value: abc \(strconv\.Atoi: parsing "abc": invalid syntax\)$/,
    );
    assert.throws(() => mtu('1.5'), /parsing "1\.5": invalid syntax/);
    for (const v of ['0', '68', '1500', '65535']) mtu(v);
    const v6 = (v: string) =>
      parse({ Name: 'n', EnableIPv6: true, Options: { 'com.docker.network.driver.mtu': v } });
    assert.throws(() => v6('1279'), /^BerthError: invalid MTU number: 1279 \(an IPv6 network/);
    for (const v of ['0', '1280']) v6(v);
  });

  it('refuses bridge names the kernel refuses, saying why; an empty one is the default', () => {
    const br = (v: string) => withOption('com.docker.network.bridge.name', v);
    for (const [v, why] of [
      ['.', /"\." and "\.\." are not interface names/],
      ['..', /"\." and "\.\." are not interface names/],
      ['abcdefghijklmnop', /at most 15 characters/],
      ['a/b', /only \[a-zA-Z0-9_.-\] are allowed/],
      ['a b', /only/],
      ['a:b', /only/],
    ] as const) {
      assert.throws(() => br(v), why);
      assert.equal(
        status(() => br(v)),
        400,
      );
    }
    for (const v of ['', 'abcdefghijklmno', 'br.0', 'x']) br(v);
  });
});

describe('multiplexed streams', () => {
  it('decodes frames split across chunks', () => {
    const got: Array<[number, string]> = [];
    const d = new FrameDecoder((s, b) => got.push([s, b.toString()]));
    const all = Buffer.concat([
      frame(1, Buffer.from('hello\n')),
      frame(2, Buffer.from('err')),
      frame(1, Buffer.alloc(0)),
    ]);
    for (let i = 0; i < all.length; i += 3) d.push(all.subarray(i, i + 3));
    assert.deepEqual(got, [
      [1, 'hello\n'],
      [2, 'err'],
      [1, ''],
    ]);
  });
});

describe('berthd flags', () => {
  it('has Docker-like defaults and spellings', () => {
    const f = parseFlags([]);
    assert.equal(f.socket, '/run/berth/berth.sock');
    assert.equal(f.dataRoot, '/var/lib/berth');
    const g = parseFlags([
      '-H',
      'unix:///tmp/x.sock',
      '--data-root=/d',
      '--dns',
      '198.51.100.1',
      '--dns',
      '192.0.2.1',
      '-D',
    ]);
    assert.equal(g.socket, '/tmp/x.sock');
    assert.equal(g.dataRoot, '/d');
    assert.deepEqual(g.dns, ['198.51.100.1', '192.0.2.1']);
    assert.equal(g.logLevel, 'debug');
  });

  it('refuses unknown flags, bad IPs and relative paths', () => {
    assert.throws(() => parseFlags(['--bogus']), /unknown flag/);
    assert.throws(() => parseFlags(['--dns', 'x']), /not an ip address/);
    assert.throws(() => parseFlags(['--data-root', 'rel']), /absolute/);
    assert.throws(() => parseFlags(['-H', 'fd://']), /does not support fd:\/\/ API listeners/);
    assert.throws(() => parseFlags(['-H', 'tcp://0.0.0.0:2375']), /without TLS/);
    assert.throws(() => parseFlags(['--log-level', 'loud']), /invalid log level/);
    assert.throws(() => parseFlags(['--bip', '172.17.0.1']), /invalid --bip/);
    assert.throws(
      () => parseFlags(['--default-address-pool', 'base=10.0.0.0/8,size=x']),
      /invalid --default-address-pool/,
    );
    const f = parseFlags([
      '--bip',
      '10.1.0.1/24',
      '--default-address-pool',
      'base=10.128.0.0/9,size=24',
    ]);
    assert.equal(f.bip, '10.1.0.1/24');
    assert.deepEqual(f.defaultAddressPools, [{ base: '10.128.0.0/9', size: 24 }]);
  });

  it("takes the default bridge's --mtu, --icc, --ip-masq and --ip as dockerd does", () => {
    const d = parseFlags([]);
    assert.deepEqual([d.mtu, d.icc, d.ipMasq, d.ip], [undefined, true, true, undefined]);
    const f = parseFlags(['--mtu', '1400', '--icc=false', '--ip-masq=0', '--ip', '127.0.0.1']);
    assert.deepEqual([f.mtu, f.icc, f.ipMasq, f.ip], [1400, false, false, '127.0.0.1']);
    const g = parseFlags(['--mtu=0', '--icc', '--ip-masq=True']);
    assert.deepEqual([g.mtu, g.icc, g.ipMasq], [undefined, true, true]);
    // dockerd 20.10's messages (docs/reference/docker-20.10-bridge-flags.md).
    assert.throws(
      () => parseFlags(['--mtu', 'abc']),
      /^Error: invalid argument "abc" for "--mtu" flag: strconv.ParseInt: parsing "abc": invalid syntax$/,
    );
    assert.throws(
      () => parseFlags(['--icc=maybe']),
      /^Error: invalid argument "maybe" for "--icc" flag: strconv.ParseBool: parsing "maybe": invalid syntax$/,
    );
    assert.throws(
      () => parseFlags(['--ip', 'bogus']),
      /^Error: invalid argument "bogus" for "--ip" flag: bogus is not an ip address$/,
    );
    assert.throws(() => parseFlags(['--mtu', '40']), /invalid --mtu 40: expected 68-65535/);
    assert.throws(
      () => parseFlags(['--ip', '::1']),
      /an IPv6 default address needs a userland proxy/,
    );
  });

  it('takes --fixed-cidr, --ipv6 and --fixed-cidr-v6, refusing what dockerd refuses', () => {
    const f = parseFlags([
      '--fixed-cidr',
      '172.17.5.0/24',
      '--ipv6',
      '--fixed-cidr-v6=fd00:9::/64',
    ]);
    assert.deepEqual([f.fixedCidr, f.ipv6, f.fixedCidrV6], ['172.17.5.0/24', true, 'fd00:9::/64']);
    assert.equal(parseFlags([]).ipv6, false);
    assert.throws(
      () => parseFlags(['--ipv6']),
      /^Error: IPv6 is enabled for the default bridge, but no subnet is configured. Specify an IPv6 subnet using --fixed-cidr-v6$/,
    );
    assert.throws(
      () => parseFlags(['--fixed-cidr', 'bogus']),
      /^Error: invalid CIDR address: bogus$/,
    );
    assert.throws(() => parseFlags(['--fixed-cidr', 'fd00::/64']), /is not an IPv4 subnet/);
    assert.throws(() => parseFlags(['--fixed-cidr-v6', '10.0.0.0/8']), /is not an IPv6 subnet/);
  });
});
