import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { configArgs, withConfigFile } from '../../src/daemon/config-file.js';

const PATH = '/etc/berth/daemon.json';

describe("berthd's configuration file (dockerd's daemon.json)", () => {
  it('turns directives into the flags they stand for', () => {
    const { args } = configArgs(
      JSON.stringify({
        bip: '10.77.0.1/24',
        mtu: 1400,
        icc: false,
        dns: ['198.51.100.1', '192.0.2.1'],
        'default-address-pools': [{ base: '10.128.0.0/9', size: 24 }],
      }),
    );
    assert.deepEqual(args, [
      ...['--bip', '10.77.0.1/24', '--mtu', '1400', '--icc=false'],
      ...['--dns', '198.51.100.1', '--dns', '192.0.2.1'],
      ...['--default-address-pool', 'base=10.128.0.0/9,size=24'],
    ]);
  });

  it('turns debug logging on only when debug is true', () => {
    assert.equal(withConfigFile([], PATH, '{"debug": false}').logLevel, 'info');
    assert.equal(withConfigFile(['--debug=false'], PATH, '{}').logLevel, 'info');
    assert.equal(withConfigFile(['-D'], PATH, '{}').logLevel, 'debug');
    assert.equal(withConfigFile([], PATH, '{"debug": true}').logLevel, 'debug');
  });

  it('applies the file under the command line, checking both as flags', () => {
    const text = JSON.stringify({
      bip: '10.77.0.1/24',
      ipv6: true,
      'log-level': 'warn',
      hosts: ['unix:///tmp/b.sock'],
    });
    const f = withConfigFile(['--fixed-cidr-v6', 'fd00:9::/64', '--mtu', '1400'], PATH, text);
    assert.deepEqual(
      [f.bip, f.ipv6, f.fixedCidrV6, f.mtu, f.logLevel, f.socket],
      ['10.77.0.1/24', true, 'fd00:9::/64', 1400, 'warn', '/tmp/b.sock'],
    );
    // A bad value in the file gets the flag's own message, under the file's name.
    assert.throws(() => withConfigFile([], PATH, '{"mtu": 40}'), {
      message: `unable to configure berthd with file ${PATH}: invalid --mtu 40: expected 68-65535`,
    });
  });

  it("refuses what dockerd refuses, with dockerd's words", () => {
    assert.throws(
      () =>
        withConfigFile(
          ['--bip', '10.1.0.1/24', '-D'],
          PATH,
          '{"bip": "10.2.0.1/24", "debug": true}',
        ),
      {
        message:
          `unable to configure berthd with file ${PATH}: the following directives are specified both as a flag and in the configuration file: ` +
          'bip: (from flag: 10.1.0.1/24, from file: 10.2.0.1/24), debug: (from flag: true, from file: true)',
      },
    );
    assert.throws(() => withConfigFile([], PATH, '{"storage-driver": "overlay2", "foo": 1}'), {
      message: `unable to configure berthd with file ${PATH}: the following directives don't match any configuration option: storage-driver, foo`,
    });
    assert.throws(() => configArgs('{"icc": "no"}'), { message: 'invalid value for icc: "no"' });
    assert.throws(() => configArgs('[1]'), /must be a JSON object/);
    assert.throws(() => configArgs('{'), /^Error: invalid JSON/);
  });
});
