import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkName,
  checkStoredHostConfig,
  mergeEnv,
  processEnv,
  replaceOrAppendEnv,
  mergeWithImage,
  parseCreate,
} from '../../src/containers/config.js';
import { hostsFile, parseResolvConf, resolvConf } from '../../src/containers/files.js';
import { resolveUserFrom } from '../../src/containers/user.js';

const img = { Cmd: ['sh'], Env: ['PATH=/usr/bin:/bin', 'A=1'], Entrypoint: null };

describe('container create validation', () => {
  it('accepts the docker CLI body and defaults NetworkMode to default', () => {
    const r = parseCreate({
      Image: 'busybox',
      Cmd: ['sleep', '1'],
      HostConfig: {},
      NetworkingConfig: { EndpointsConfig: { default: {} } },
    });
    assert.equal(r.hostConfig.NetworkMode, 'default');
    assert.deepEqual(r.config.Cmd, ['sleep', '1']);
    assert.deepEqual(r.endpointsConfig, { default: {} });
  });

  it('refuses bad input with 400s naming the field', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{}, /Config cannot be empty/],
      [{ Image: 'b', Cmd: 5 }, /invalid Cmd/],
      [{ Image: 'b', Env: ['=x'] }, /invalid environment variable/],
      [
        { Image: 'b', HostConfig: { RestartPolicy: { Name: 'sometimes' } } },
        /invalid restart policy/,
      ],
      [
        { Image: 'b', HostConfig: { AutoRemove: true, RestartPolicy: { Name: 'always' } } },
        /AutoRemove/,
      ],
      [{ Image: 'b', WorkingDir: 'rel' }, /absolute path/],
      [{ Image: 'b', HostConfig: { Dns: ['not-an-ip'] } }, /not an ip address/],
      [{ Image: 'b', Labels: { a: 1 } }, /invalid Labels.a/],
      [{ Image: 'b', HostConfig: { NetworkMode: '  ' } }, /no network can have that name/],
      [{ Image: 'b', HostConfig: { NetworkMode: 'container:' } }, /invalid container format/],
      ['string', /invalid body/],
    ];
    for (const [body, re] of bad) {
      assert.throws(
        () => parseCreate(body),
        (e: Error & { code?: string }) => re.test(e.message) && e.code === 'INVALID_ARGUMENT',
        String(re),
      );
    }
  });

  it('takes as NetworkMode every name dockerd 20.10 takes for a network', () => {
    for (const mode of ['test 01', 'a/b', '../x', '-lead', '日本', 'x:y']) {
      const r = parseCreate({ Image: 'b', HostConfig: { NetworkMode: mode } });
      assert.equal(r.hostConfig.NetworkMode, mode);
    }
  });

  it('refuses NetworkingConfig naming more than one network, in dockerd 20.10 words', () => {
    const two = (mode: string | undefined, nets: string[]) => () =>
      parseCreate({
        Image: 'b',
        HostConfig: mode === undefined ? {} : { NetworkMode: mode },
        NetworkingConfig: { EndpointsConfig: Object.fromEntries(nets.map((n) => [n, {}])) },
      });
    assert.throws(two('mn', ['mn', 'en']), {
      code: 'INVALID_ARGUMENT',
      message: 'Container cannot be connected to network endpoints: mn, en',
    });
    assert.throws(two(undefined, ['bridge', 'mn']), /network endpoints: bridge, mn$/);
    assert.throws(two('host', ['host', 'mn']), /network endpoints: host, mn$/);
    // One network other than NetworkMode is accepted, as dockerd accepts it.
    two('mn', ['en'])();
  });

  it('takes a MAC address in the forms dockerd parses; refuses the others before anything is made', () => {
    for (const mac of [
      '02:42:ac:11:00:99',
      '02-00-00-00-00-51',
      '0200.0000.0052',
      '02:AB:CD:EF:00:54',
    ]) {
      assert.equal(parseCreate({ Image: 'b', MacAddress: mac }).config.MacAddress, mac);
      const ep = { EndpointsConfig: { mn: { MacAddress: mac } } };
      parseCreate({ Image: 'b', HostConfig: { NetworkMode: 'mn' }, NetworkingConfig: ep });
    }
    for (const [mac, re] of [
      ['zz', /^address zz: invalid MAC address$/],
      ['02:00:00:00:00', /^address 02:00:00:00:00: invalid MAC address$/],
      ['02:00:00:00:00:00:00:53', /invalid MAC address/],
      ['01:00:5e:00:00:01', /multicast or all-zero/],
      ['ff:ff:ff:ff:ff:ff', /multicast or all-zero/],
      ['00:00:00:00:00:00', /multicast or all-zero/],
    ] as const) {
      const is400 = (e: Error & { code?: string }) =>
        re.test(e.message) && e.code === 'INVALID_ARGUMENT';
      assert.throws(() => parseCreate({ Image: 'b', MacAddress: mac }), is400, mac);
      const ep = { EndpointsConfig: { mn: { MacAddress: mac } } };
      assert.throws(
        () => parseCreate({ Image: 'b', HostConfig: { NetworkMode: 'mn' }, NetworkingConfig: ep }),
        is400,
        mac,
      );
    }
    assert.equal(parseCreate({ Image: 'b', MacAddress: '' }).config.MacAddress, undefined);
  });

  it('validates names like Docker', () => {
    assert.equal(checkName('test1'), '/test1');
    assert.equal(checkName('/a.b-c_d'), '/a.b-c_d');
    assert.throws(() => checkName('-x'), /Invalid container name/);
    assert.throws(() => checkName('a'), /Invalid container name/);
    assert.throws(() => checkName('a b'), /Invalid container name/);
  });
});

describe('merging with the image config', () => {
  const create = (b: object) => parseCreate({ Image: 'busybox', ...b }).config;

  it('takes the image cmd when none is given', () => {
    const m = mergeWithImage(create({}), img);
    assert.equal(m.path, 'sh');
    assert.deepEqual(m.args, []);
  });

  it('a user entrypoint drops the image cmd', () => {
    const m = mergeWithImage(create({ Entrypoint: ['echo'] }), img);
    assert.equal(m.path, 'echo');
    assert.deepEqual(m.args, []);
  });

  it('user cmd follows the image entrypoint', () => {
    const m = mergeWithImage(create({ Cmd: ['-c', 'x'] }), { ...img, Entrypoint: ['/bin/sh'] });
    assert.deepEqual([m.path, ...m.args], ['/bin/sh', '-c', 'x']);
  });

  it('an empty entrypoint clears the image entrypoint', () => {
    const m = mergeWithImage(create({ Entrypoint: [''], Cmd: ['ls'] }), {
      ...img,
      Entrypoint: ['/x'],
    });
    assert.deepEqual([m.path, ...m.args], ['ls']);
  });

  it('fails without any command', () => {
    assert.throws(() => mergeWithImage(create({}), { Cmd: null }), /No command specified/);
  });

  it('refuses at start a stored HostConfig Berth would not honour', () => {
    // A record written before --blkio-weight was refused at create.
    assert.throws(
      () => checkStoredHostConfig({ NetworkMode: 'default', BlkioWeight: 300 }),
      /berth does not support --blkio-weight \(HostConfig.BlkioWeight\) yet/,
    );
    // What create stores today passes.
    const { hostConfig } = parseCreate({ Image: 'busybox', HostConfig: { BlkioWeight: 0 } });
    assert.doesNotThrow(() => checkStoredHostConfig(hostConfig));
  });

  it("merges env as dockerd 20.10: the request's first, then the image's it does not set", () => {
    assert.deepEqual(mergeEnv(['A=1', 'B=2'], ['B=3', 'C=4']), ['B=3', 'C=4', 'A=1']);
    assert.deepEqual(mergeEnv(['A=1'], []), ['A=1']);
    // A bare name stays in Config.Env and hides the image's value of it.
    assert.deepEqual(mergeEnv(['Foo=img', 'P=1'], ['Foo', 'Bar=1']), ['Foo', 'Bar=1', 'P=1']);
    const m = mergeWithImage(create({ Env: ['A=2'] }), img);
    assert.deepEqual(m.config.Env, ['A=2', 'PATH=/usr/bin:/bin']);
    const noPath = mergeWithImage(create({}), { Cmd: ['sh'] });
    assert.ok(noPath.config.Env[0]!.startsWith('PATH=/usr/local/sbin'));
  });
});

describe('generated files', () => {
  it("writes Docker's /etc/hosts header and entries", () => {
    const h = hostsFile([{ ip: '172.17.0.2', names: ['abc'] }]);
    assert.match(h, /^127\.0\.0\.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n/);
    assert.match(h, /172\.17\.0\.2\tabc\n$/);
  });

  it('drops loopback nameservers and honours overrides', () => {
    const parsed = parseResolvConf(
      '# x\nnameserver 127.0.0.53\nnameserver 198.51.100.1\nsearch lab\noptions ndots:2\n',
    );
    assert.deepEqual(parsed.servers, ['127.0.0.53', '198.51.100.1']);
    const base = {
      daemonServers: parsed.servers,
      daemonSearch: parsed.search,
      daemonOptions: parsed.options,
      dns: [],
      dnsSearch: [],
      dnsOptions: [],
    };
    assert.equal(resolvConf(base), 'search lab\nnameserver 198.51.100.1\noptions ndots:2\n');
    assert.equal(
      resolvConf({ ...base, dns: ['192.0.2.1'] }),
      'search lab\nnameserver 192.0.2.1\noptions ndots:2\n',
    );
  });

  it('resolves users and groups against passwd and group files', () => {
    const passwd =
      'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\nalice:x:1000:100::/home/a:/bin/sh\n';
    const group = 'root:x:0:\nusers:x:100:\nwheel:x:10:alice\nnogroup:x:65534:\n';
    // As runc's GetExecUser and dockerd's getUser: the primary group first, then
    // the groups listing the user unless a group was named, then --group-add
    // (docs/reference/docker-20.10-limits-transcript.md, "Users and groups").
    assert.deepEqual(resolveUserFrom('nobody', passwd, group), {
      uid: 65534,
      gid: 65534,
      additionalGids: [65534],
    });
    assert.deepEqual(resolveUserFrom('alice', passwd, group), {
      uid: 1000,
      gid: 100,
      additionalGids: [100, 10],
    });
    assert.deepEqual(resolveUserFrom('alice:users', passwd, group).additionalGids, [100]);
    assert.deepEqual(resolveUserFrom('1234:5', passwd, group), {
      uid: 1234,
      gid: 5,
      additionalGids: [5],
    });
    assert.deepEqual(resolveUserFrom('4242', passwd, group).additionalGids, [0]);
    const rootInWheel = 'root:x:0:\nwheel:x:10:root\n';
    assert.deepEqual(resolveUserFrom('', passwd, rootInWheel).additionalGids, [0, 10]);
    assert.deepEqual(
      resolveUserFrom('', passwd, group, ['wheel', '4321']).additionalGids,
      [0, 10, 4321],
    );
    assert.throws(
      () => resolveUserFrom('', passwd, group, ['audio']),
      /^Error: Unable to find group audio: no matching entries in group file$|Unable to find group audio/,
    );
    assert.deepEqual(resolveUserFrom('alice:wheel', passwd, group).gid, 10);
    assert.throws(() => resolveUserFrom('bob', passwd, group), /unable to find user bob/);
    assert.throws(() => resolveUserFrom('alice:nope', passwd, group), /unable to find group nope/);
  });

  it("builds a process's env as dockerd: defaults, links, then Config.Env over them", () => {
    // docs/reference/docker-20.10-inspect.json, "env": Foo is in Config.Env, not in the process.
    assert.deepEqual(
      processEnv({
        config: [
          'Foo',
          'Bar=1',
          'Empty=',
          'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        ],
        hostname: '34190b922b0e',
        tty: false,
        links: [],
      }),
      [
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'HOSTNAME=34190b922b0e',
        'Bar=1',
        'Empty=',
      ],
    );
    assert.deepEqual(
      processEnv({ config: ['PATH=/bin', 'HOSTNAME'], hostname: 'h', tty: true, links: ['L=1'] }),
      ['PATH=/bin', 'TERM=xterm', 'L=1'],
    );
    assert.deepEqual(replaceOrAppendEnv(['A=1', 'B=2'], ['B', 'C=3', 'A=0']), ['A=0', 'C=3']);
  });
});
