import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags } from '../../src/daemon/flags.js';
import { configArgs, withConfigFile } from '../../src/daemon/config-file.js';
import { discovery, resolveAdvertise, storeConfig } from '../../src/daemon/cluster.js';
import { apiWarnings, tlsFiles } from '../../src/daemon/hosts.js';

const PATH = '/etc/berth/daemon.json';

describe('berthd -H and TLS flags', () => {
  it('serves several listeners, unix and tcp, with dockerd default ports', () => {
    const f = parseFlags([
      '-H',
      'unix:///tmp/b.sock',
      '-H',
      'tcp://192.168.205.10:2375',
      '--tls=false',
    ]);
    assert.equal(f.socket, '/tmp/b.sock');
    assert.deepEqual(f.hosts, [
      { proto: 'unix', path: '/tmp/b.sock' },
      { proto: 'tcp', host: '192.168.205.10', port: 2375 },
    ]);
    assert.deepEqual(parseFlags(['-H', 'tcp://:2375']).hosts, [
      { proto: 'tcp', host: '127.0.0.1', port: 2375 },
    ]);
    const tls = parseFlags(['-H', 'tcp://10.0.0.1', '--tlsverify']);
    assert.deepEqual(tls.hosts, [{ proto: 'tcp', host: '10.0.0.1', port: 2376 }]);
    assert.equal(tls.tls, true);
    assert.equal(tls.socket, '');
    assert.deepEqual(parseFlags([]).hosts, [{ proto: 'unix', path: '/run/berth/berth.sock' }]);
  });

  it('refuses plain TCP on a network address unless --tls=false', () => {
    assert.throws(() => parseFlags(['-H', 'tcp://0.0.0.0:2375']), /without TLS.*--tls=false/s);
    assert.equal(parseFlags(['-H', 'tcp://192.168.205.10:2375', '--tls']).tls, true);
    assert.doesNotThrow(() => parseFlags(['-H', 'tcp://127.0.0.1:2375']));
    assert.doesNotThrow(() => parseFlags(['-H', 'tcp://[::1]:2375']));
    const f = parseFlags(['-H', 'tcp://0.0.0.0:2375', '--tls=false']);
    assert.equal(f.tls, false);
    // dockerd 20.10: --tlsverify given at all turns TLS on.
    assert.equal(parseFlags(['-H', 'tcp://0.0.0.0', '--tlsverify=false']).tls, true);
  });

  it("refuses malformed hosts in dockerd's words", () => {
    assert.throws(() => parseFlags(['-H', 'tcp://1.2.3.4:99999', '--tls=false']), {
      message:
        'invalid argument "tcp://1.2.3.4:99999" for "-H, --host" flag: Invalid bind address format: tcp://1.2.3.4:99999',
    });
    assert.throws(() => parseFlags(['-H', 'foo://x']), /Invalid bind address format: foo:\/\/x/);
    assert.throws(() => parseFlags(['-H', 'fd://']), /does not support fd:\/\//);
  });

  it('finds TLS files as dockerd does, and warns about TCP as 20.10 docker info does', () => {
    const f = parseFlags(['-H', 'tcp://10.0.0.1:2376', '--tls', '--tlscert', '/c.pem']);
    assert.deepEqual(tlsFiles(f, {}, '/root'), {
      ca: '/root/.docker/ca.pem',
      cert: '/c.pem',
      key: '/root/.docker/key.pem',
    });
    assert.equal(tlsFiles(f, { DOCKER_CERT_PATH: '/certs' }, '/root').key, '/certs/key.pem');
    assert.match(
      apiWarnings(f.hosts, f)[0]!,
      /^WARNING: API is accessible on https:\/\/10\.0\.0\.1:2376 without TLS client verification\./,
    );
    const plain = parseFlags(['-H', 'tcp://10.0.0.1:2375', '--tls=false']);
    assert.match(
      apiWarnings(plain.hosts, plain)[0]!,
      /^WARNING: API is accessible on http:\/\/10\.0\.0\.1:2375 without encryption\./,
    );
    const mutual = parseFlags(['-H', 'tcp://10.0.0.1', '--tlsverify']);
    assert.deepEqual(apiWarnings(mutual.hosts, mutual), []);
  });
});

describe('berthd cluster flags', () => {
  it("parses the seed's flags", () => {
    const f = parseFlags([
      ...['--cluster-store', 'etcd://192.168.205.10:2379,192.168.205.11'],
      ...['--cluster-advertise', '192.168.205.10:2375'],
    ]);
    assert.deepEqual(f.clusterStore, {
      url: 'etcd://192.168.205.10:2379,192.168.205.11',
      backend: 'etcd',
      endpoints: ['192.168.205.10:2379', '192.168.205.11:2379'],
      prefix: '',
    });
    assert.deepEqual(f.clusterAdvertise, {
      raw: '192.168.205.10:2375',
      ip: '192.168.205.10',
      port: 2375,
    });
    assert.deepEqual(
      parseFlags(['--cluster-store', 'etcd://h1:2379/berth']).clusterStore?.prefix,
      'berth',
    );
  });

  it('refuses bad stores, advertise without store, and partial TLS opts', () => {
    assert.throws(
      () => parseFlags(['--cluster-store', 'consul://1.2.3.4:8500']),
      /does not support the consul cluster store/,
    );
    assert.throws(() => parseFlags(['--cluster-store', '1.2.3.4:2379']), /invalid --cluster-store/);
    assert.throws(() => parseFlags(['--cluster-store', 'etcd://']), /invalid --cluster-store/);
    assert.throws(() => parseFlags(['--cluster-store', 'etcd://1.2.3.4:0']), /bad endpoint/);
    assert.throws(() => parseFlags(['--cluster-advertise', '1.2.3.4:2375']), {
      message:
        'invalid cluster configuration. --cluster-advertise must be accompanied by --cluster-store configuration',
    });
    const store = ['--cluster-store', 'etcd://1.2.3.4:2379'];
    assert.throws(
      () => parseFlags([...store, '--cluster-advertise', '0.0.0.0:2375']),
      /discovery advertise parsing failed/,
    );
    assert.throws(
      () => parseFlags([...store, '--cluster-store-opt', 'kv.certfile=/c']),
      /missing kv\.cacertfile, kv\.keyfile/,
    );
    assert.throws(
      () => parseFlags([...store, '--cluster-store-opt', 'discovery.backend=x']),
      /does not support the cluster store option discovery\.backend/,
    );
    assert.throws(
      () => parseFlags([...store, '--cluster-store-opt', 'discovery.ttl=2s']),
      /discovery\.ttl must be a whole number of seconds/,
    );
    assert.throws(
      () =>
        parseFlags([
          ...store,
          ...['--cluster-store-opt', 'discovery.ttl=5'],
          ...['--cluster-store-opt', 'discovery.heartbeat=5'],
        ]),
      /discovery\.heartbeat \(5\) must be less than discovery\.ttl \(5\)/,
    );
    assert.throws(
      () => parseFlags([...store, '--cluster-store-opt', 'kv.certfile']),
      /expected KEY=VALUE/,
    );
  });

  it('gives the store https endpoints and TLS files with the kv.* opts', () => {
    const f = parseFlags([
      ...['--cluster-store', 'etcd://10.0.0.1:2379'],
      ...['--cluster-store-opt', 'kv.cacertfile=/ca', '--cluster-store-opt', 'kv.certfile=/c'],
      ...['--cluster-store-opt', 'kv.keyfile=/k'],
    ]);
    assert.deepEqual(storeConfig(f.clusterStore!, f.clusterStoreOpts), {
      endpoints: ['https://10.0.0.1:2379'],
      prefix: '/berth/',
      tls: { caFile: '/ca', certFile: '/c', keyFile: '/k' },
    });
  });

  it('resolves an interface to its first IPv4 address', () => {
    const f = parseFlags([
      '--cluster-store',
      'etcd://10.0.0.1:2379',
      '--cluster-advertise',
      'eth0:2375',
    ]);
    const ifaces = {
      eth0: [
        { address: 'fe80::1', family: 'IPv6', internal: false },
        { address: '192.168.205.11', family: 'IPv4', internal: false },
      ],
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
    } as unknown as Parameters<typeof resolveAdvertise>[1];
    assert.equal(resolveAdvertise(f.clusterAdvertise!, ifaces), '192.168.205.11:2375');
    assert.throws(
      () => resolveAdvertise({ raw: 'eth9:1', iface: 'eth9', port: 1 }, ifaces),
      /interface name \(eth9:1\)/,
    );
    assert.throws(
      () => resolveAdvertise({ raw: 'lo', iface: 'lo' }, ifaces),
      /could not find a valid ip-address in interface lo/,
    );
  });

  it('reads them from daemon.json, refusing one given both ways', () => {
    const text = JSON.stringify({
      'cluster-store': 'etcd://10.0.0.1:2379',
      'cluster-advertise': '10.0.0.2:2375',
      'cluster-store-opts': { 'kv.cacertfile': '/ca', 'kv.certfile': '/c', 'kv.keyfile': '/k' },
      hosts: ['unix:///tmp/b.sock', 'tcp://10.0.0.2:2376'],
      tlsverify: true,
      tlscacert: '/tca',
    });
    const f = withConfigFile([], PATH, text);
    assert.equal(f.clusterStore?.url, 'etcd://10.0.0.1:2379');
    assert.equal(f.clusterAdvertise?.ip, '10.0.0.2');
    assert.equal(f.clusterStoreOpts.size, 3);
    assert.deepEqual([f.tls, f.tlsVerify, f.tlsCaCert, f.hosts.length], [true, true, '/tca', 2]);
    assert.throws(
      () => withConfigFile(['--cluster-store', 'etcd://10.0.0.9:2379'], PATH, text),
      /specified both as a flag and in the configuration file: cluster-store/,
    );
    assert.throws(
      () => configArgs('{"cluster-store-opts": ["x"]}'),
      /invalid value for cluster-store-opts/,
    );
  });

  it('checks -H on the command line with the TLS settings of daemon.json, as dockerd', () => {
    const argv = ['-H', 'tcp://10.0.0.2:2376'];
    assert.throws(() => parseFlags(argv), /without TLS|--tls=false/);
    const f = withConfigFile(argv, PATH, JSON.stringify({ tlsverify: true, tlscacert: '/tca' }));
    assert.deepEqual([f.tls, f.tlsVerify, f.hosts[0]?.proto], [true, true, 'tcp']);
    const plain = withConfigFile(argv, PATH, JSON.stringify({ tls: false }));
    assert.equal(plain.tlsExplicitlyOff, true);
    // Each flag is still read at once: a bad one is refused before any file.
    assert.throws(() => parseFlags(['--mtu', 'x'], { checks: false }), /invalid argument "x"/);
  });

  it("takes dockerd's discovery.ttl and discovery.heartbeat for the node's lease", () => {
    const store = ['--cluster-store', 'etcd://1.2.3.4:2379'];
    assert.deepEqual(discovery(parseFlags(store).clusterStoreOpts), { ttl: 20, heartbeat: 6 });
    const f = parseFlags([
      ...store,
      ...['--cluster-store-opt', 'discovery.ttl=3'],
      ...['--cluster-store-opt', 'discovery.heartbeat=1'],
    ]);
    assert.deepEqual(discovery(f.clusterStoreOpts), { ttl: 3, heartbeat: 1 });
    // Not TLS: the discovery options leave the endpoints plain.
    assert.equal(storeConfig(f.clusterStore!, f.clusterStoreOpts).tls, undefined);
  });
});
