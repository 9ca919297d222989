/**
 * S8, S9, S10 of the seed: user-defined bridge networks — create with the next
 * free subnet, run on one, connect a running container to a second one —
 * plus isolation between bridges and Docker's errors for bad input.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { eventually, labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
const LOOP = 'while true; do sleep 3600; done';

const hostState = () => ({
  links: env
    .inHost(['ip', '-o', 'link'])
    .stdout.split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0])
    .filter(Boolean)
    .sort(),
  addrs: env
    .inHost(['ip', '-o', 'addr'])
    .stdout.split('\n')
    .map((l) => l.split(/\s+/).slice(1, 4).join(' '))
    .sort(),
  networks: env.docker(['network', 'ls', '-q']).stdout.split('\n').sort(),
  nft: env.inHost(['nft', 'list', 'table', 'inet', 'berth']).stdout,
  store: storeDump(),
});

/** Every key and value of the daemon's store except container state (it changes as containers run). */
function storeDump(): string[] {
  const db = new Database(`${env.daemon.dataRoot}/berth.db`, {
    readonly: true,
    fileMustExist: true,
  });
  try {
    const rows = db.prepare('SELECT key, value FROM kv ORDER BY key').all() as Array<{
      key: string;
      value: string;
    }>;
    return rows.filter((r) => !r.key.startsWith('containers/')).map((r) => `${r.key}=${r.value}`);
  } finally {
    db.close();
  }
}

describe('user-defined bridge networks (S8-S10)', () => {
  before(async () => {
    env = await labWithDaemons();
    for (const n of ['test1', 'test2']) {
      assert.equal(env.docker(['run', '-d', '--name', n, 'busybox', 'sh', '-c', LOOP]).status, 0);
    }
  });
  after(async () => {
    await env?.destroy();
  });

  it('S8: network create takes 172.18.0.0/16 and makes br-<12 hex> with its gateway', () => {
    const r = env.docker(['network', 'create', '-d', 'bridge', 'my-bridge']);
    assert.equal(r.status, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.match(
      env.docker(['network', 'ls']).stdout,
      new RegExp(`^${id.slice(0, 12)}\\s+my-bridge\\s+bridge\\s+local$`, 'm'),
    );
    const insp = JSON.parse(env.docker(['network', 'inspect', 'my-bridge']).stdout) as Array<{
      IPAM: { Config: unknown[] };
    }>;
    assert.deepEqual(insp[0]!.IPAM.Config, [{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' }]);
    assert.match(
      env.inHost(['ip', '-o', '-4', 'addr', 'show', `br-${id.slice(0, 12)}`]).stdout,
      /inet 172\.18\.0\.1\/16/,
    );
  });

  it('S9: run --network my-bridge attaches at creation', () => {
    const r = env.docker([
      'run',
      '-d',
      '--name',
      'test3',
      '--network',
      'my-bridge',
      'busybox',
      'sh',
      '-c',
      LOOP,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      env.docker(['exec', 'test3', 'ip', '-o', '-4', 'addr', 'show', 'eth0']).stdout,
      /172\.18\.0\.2\/16/,
    );
    assert.match(
      env.docker(['exec', 'test3', 'ip', 'route']).stdout,
      /^default via 172\.18\.0\.1 dev eth0/m,
    );
  });

  it('S10: network connect gives a running container eth1; inspect lists both', () => {
    const r = env.docker(['network', 'connect', 'my-bridge', 'test2']);
    assert.equal(r.status, 0, r.stderr);
    const addrs = env.docker(['exec', 'test2', 'ip', '-o', '-4', 'addr']).stdout;
    assert.match(addrs, /eth0 +inet 172\.17\.0\.3\/16/);
    assert.match(addrs, /eth1 +inet 172\.18\.0\.3\/16/);
    assert.match(
      env.docker(['exec', 'test2', 'ip', 'route']).stdout,
      /^default via 172\.17\.0\.1 dev eth0/m,
    );
    const names = env.docker([
      'network',
      'inspect',
      '-f',
      '{{range .Containers}}{{.Name}} {{end}}',
      'my-bridge',
    ]).stdout;
    assert.deepEqual(names.trim().split(' ').sort(), ['test2', 'test3']);
    const both = env.docker([
      'inspect',
      '-f',
      '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}',
      'test2',
    ]);
    assert.equal(both.stdout.trim(), 'bridge=172.17.0.3 my-bridge=172.18.0.3');
    const ping = env.docker(['exec', 'test3', 'ping', '-c1', '-W2', '172.18.0.3']);
    assert.equal(ping.status, 0, ping.stdout + ping.stderr);
  });

  it('different bridges cannot reach each other', () => {
    const r = env.docker(['exec', 'test1', 'ping', '-c1', '-W1', '172.18.0.2']);
    assert.notEqual(r.status, 0, 'test1 (bridge) must not reach test3 (my-bridge)');
    const back = env.docker(['exec', 'test3', 'ping', '-c1', '-W1', '172.17.0.2']);
    assert.notEqual(back.status, 0);
  });

  it("bad input gets Docker's status and message and changes nothing", () => {
    assert.equal(
      env.docker(['run', '-d', '--name', 'nonet', '--network', 'none', 'busybox', 'sh', '-c', LOOP])
        .status,
      0,
    );
    const before = hostState();
    const cases: Array<[string[], RegExp]> = [
      [['network', 'create', 'my-bridge'], /network with name my-bridge already exists/],
      [['network', 'create', 'bridge'], /operation is not permitted on predefined bridge network/],
      [['network', 'create', '-d', 'nosuchdriver', 'n1'], /plugin "nosuchdriver" not found/],
      [
        ['network', 'create', '-o', 'com.docker.network.bridge.host_binding_ipv4=bogus', 'n5'],
        /failed to parse com\.docker\.network\.bridge\.host_binding_ipv4 value: bogus \(nil ip\)/,
      ],
      [
        ['network', 'create', '--subnet', '172.18.0.0/16', 'n2'],
        /Pool overlaps with other one on this address space/,
      ],
      [['network', 'rm', 'bridge'], /bridge is a pre-defined network and cannot be removed/],
      [['network', 'rm', 'my-bridge'], /has active endpoints/],
      [
        ['network', 'connect', 'my-bridge', 'test3'],
        /endpoint with name test3 already exists in network my-bridge/,
      ],
      [['network', 'connect', 'nosuch', 'test1'], /network nosuch not found/],
      [['network', 'connect', 'my-bridge', 'nosuch'], /No such container: nosuch/],
      [
        ['network', 'connect', 'host', 'test1'],
        /cannot be disconnected from host network or connected to host network/,
      ],
      [['network', 'disconnect', 'my-bridge', 'test1'], /is not connected to network my-bridge/],
      [
        ['network', 'connect', '--ip', '172.18.0.99', 'my-bridge', 'test1'],
        /user configured subnets/,
      ],
      [
        ['network', 'create', '--subnet', '300.1.0.0/16', 'n3'],
        /Invalid subnet 300\.1\.0\.0\/16 : invalid CIDR address/,
      ],
      [
        ['network', 'create', '--subnet', '10.0.0.0/33', 'n4'],
        /invalid CIDR address: 10\.0\.0\.0\/33/,
      ],
      [['network', 'connect', 'my-bridge', 'nonet'], /private \(none\) mode/],
    ];
    for (const [args, re] of cases) {
      const r = env.docker(args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
    }
    // Gateway outside the subnet: the docker CLI refuses it itself, so ask the API.
    const gw = env.inHost([
      'curl',
      '-s',
      '--unix-socket',
      env.daemon.socket,
      '-X',
      'POST',
      '-H',
      'Content-Type: application/json',
      '-d',
      JSON.stringify({
        Name: 'n5',
        IPAM: { Config: [{ Subnet: '10.60.0.0/16', Gateway: '10.61.0.1' }] },
      }),
      'http://x/networks/create',
    ]);
    assert.match(
      gw.stdout,
      /failed to allocate gateway \(10\.61\.0\.1\): Requested address is out of range/,
    );
    const api = (method: string, path: string, body: unknown) =>
      env.inHost([
        'curl',
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--unix-socket',
        env.daemon.socket,
        '-X',
        method,
        '-H',
        'Content-Type: application/json',
        '-d',
        JSON.stringify(body),
        `http://x${path}`,
      ]).stdout;
    assert.equal(api('POST', '/networks/create', { Name: 'my-bridge' }), '409');
    assert.equal(api('POST', '/networks/create', { Name: 'bridge' }), '403');
    assert.equal(api('POST', '/networks/create', { Name: 'x', Driver: 'nosuch' }), '404');
    assert.equal(
      api('POST', '/networks/create', {
        Name: 'x',
        IPAM: { Config: [{ Subnet: '300.1.0.0/16' }] },
      }),
      '400',
    );
    assert.equal(api('POST', '/networks/create', { Name: 'x', Labels: { a: 1 } }), '400');
    assert.deepEqual(hostState(), before);
  });

  it('--internal networks reach nothing outside; enable_icc=false isolates containers on one bridge', () => {
    assert.equal(env.docker(['network', 'create', '--internal', 'inside']).status, 0);
    assert.equal(
      env.docker(['run', '-d', '--name', 'i1', '--network', 'inside', 'busybox', 'sh', '-c', LOOP])
        .status,
      0,
    );
    assert.notEqual(
      env.docker(['exec', 'i1', 'ping', '-c1', '-W1', '198.51.100.1']).status,
      0,
      'internal must not leave',
    );
    assert.equal(
      env.docker(['network', 'create', '-o', 'com.docker.network.bridge.enable_icc=false', 'noicc'])
        .status,
      0,
    );
    for (const n of ['q1', 'q2']) {
      assert.equal(
        env.docker(['run', '-d', '--name', n, '--network', 'noicc', 'busybox', 'sh', '-c', LOOP])
          .status,
        0,
      );
    }
    const q2 = env
      .docker(['inspect', '-f', '{{.NetworkSettings.Networks.noicc.IPAddress}}', 'q2'])
      .stdout.trim();
    assert.notEqual(env.docker(['exec', 'q1', 'ping', '-c1', '-W1', q2]).status, 0, 'no ICC');
    assert.equal(
      env.docker(['exec', 'q1', 'ping', '-c1', '-W2', '198.51.100.1']).status,
      0,
      'but NAT works',
    );
    assert.equal(env.docker(['rm', '-f', 'i1', 'q1', 'q2']).status, 0);
    assert.equal(env.docker(['network', 'rm', 'inside', 'noicc']).status, 0);
  });

  it('a static --ip on a network with a user subnet, disconnect and rm', async () => {
    assert.equal(env.docker(['network', 'create', '--subnet', '10.50.0.0/24', 'ov1']).status, 0);
    const r = env.docker([
      'run',
      '-d',
      '--name',
      'fixed',
      '--network',
      'ov1',
      '--ip',
      '10.50.0.50',
      'busybox',
      'sh',
      '-c',
      LOOP,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      env
        .docker([
          'inspect',
          '-f',
          '{{.NetworkSettings.Networks.ov1.IPAddress}} {{.NetworkSettings.Networks.ov1.MacAddress}}',
          'fixed',
        ])
        .stdout.trim(),
      '10.50.0.50 02:42:0a:32:00:32',
    );
    assert.equal(env.docker(['network', 'disconnect', 'my-bridge', 'test2']).status, 0);
    // Down when disconnect returns; the kernel deletes it in the background.
    const eth1 = env.docker(['exec', 'test2', 'ip', '-o', 'link', 'show', 'eth1']).stdout;
    assert.doesNotMatch(eth1, /[<,]UP[,>]/);
    await eventually(() =>
      assert.doesNotMatch(env.docker(['exec', 'test2', 'ip', '-o', 'link']).stdout, /eth1/),
    );
    // Connected again it gets a new name, as Docker's sandboxes count up.
    assert.equal(env.docker(['network', 'connect', 'my-bridge', 'test2']).status, 0);
    assert.match(env.docker(['exec', 'test2', 'ip', '-o', 'link']).stdout, /eth2@/);
    assert.equal(env.docker(['network', 'disconnect', 'my-bridge', 'test2']).status, 0);
    assert.equal(env.docker(['rm', '-f', 'test3', 'fixed']).status, 0);
    for (const n of ['my-bridge', 'ov1']) {
      const rm = env.docker(['network', 'rm', n]);
      assert.equal(rm.status, 0, rm.stderr);
    }
    // Bridges are renamed at once and deleted in the background (~40 ms each).
    await eventually(() => assert.doesNotMatch(env.inHost(['ip', '-o', 'link']).stdout, /br-/));
    for (const n of ['p1', 'p2']) assert.equal(env.docker(['network', 'create', n]).status, 0);
    const prune = env.docker(['network', 'prune', '-f']);
    assert.equal(prune.status, 0, prune.stderr);
    assert.match(prune.stdout, /Deleted Networks:\np1\np2\n/);
    assert.equal(env.docker(['network', 'ls', '-q']).stdout.trim().split('\n').length, 3);
  });

  it("gives the default route by libnetwork's order, not attach order, as Docker 20.10", () => {
    const ok = (args: string[]) => {
      const r = env.docker(args);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    };
    ok(['network', 'create', 'zz-net']);
    ok(['network', 'create', 'aa-net']);
    ok(['network', 'create', '--internal', 'a0-int']);
    const gw = (n: string) =>
      ok(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Gateway}}{{end}}', n]);
    const route = (c: string) => /^default via (\S+)/m.exec(ok(['exec', c, 'ip', 'route']))?.[1];
    ok(['run', '-d', '--name', 'gw1', '--network', 'zz-net', 'busybox', 'sleep', '600']);
    assert.equal(route('gw1'), gw('zz-net'));
    ok(['network', 'connect', 'a0-int', 'gw1']);
    assert.equal(route('gw1'), gw('zz-net'), 'an internal network does not take it');
    ok(['network', 'connect', 'aa-net', 'gw1']);
    assert.equal(route('gw1'), gw('aa-net'), 'aa-net comes first by name');
    ok(['network', 'disconnect', 'aa-net', 'gw1']);
    assert.equal(route('gw1'), gw('zz-net'), 'and gives it back when it leaves');
    // At start too: connected while stopped, aa-net still comes first.
    ok(['create', '--name', 'gw2', '--network', 'zz-net', 'busybox', 'sleep', '600']);
    ok(['network', 'connect', 'aa-net', 'gw2']);
    ok(['start', 'gw2']);
    assert.equal(route('gw2'), gw('aa-net'));
    ok(['rm', '-f', 'gw1', 'gw2']);
    for (const n of ['zz-net', 'aa-net', 'a0-int']) ok(['network', 'rm', n]);
  });

  it("keeps a bridge's MAC (02:42 + 4 bytes) whatever ports join: the gateway's MAC never moves", () => {
    assert.equal(env.docker(['network', 'create', 'macnet']).status, 0);
    const id = env.docker(['network', 'inspect', '-f', '{{.Id}}', 'macnet']).stdout.trim();
    const macOf = (dev: string) =>
      /link\/ether ([0-9a-f:]+)/.exec(env.inHost(['ip', '-o', 'link', 'show', dev]).stdout)?.[1];
    const br = `br-${id.slice(0, 12)}`;
    const before = macOf(br);
    assert.match(before ?? '', /^02:42(:[0-9a-f]{2}){4}$/);
    assert.match(macOf('berth0') ?? '', /^02:42(:[0-9a-f]{2}){4}$/);
    // Without a MAC of its own a bridge takes its lowest port's: with six
    // random veth MACs it would all but surely have moved.
    const names = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'];
    for (const n of names) {
      const r = env.docker([
        'run',
        '-d',
        '--name',
        n,
        '--network',
        'macnet',
        'busybox',
        'sleep',
        '600',
      ]);
      assert.equal(r.status, 0, r.stderr);
    }
    assert.equal(macOf(br), before);
    assert.equal(env.docker(['rm', '-f', ...names]).status, 0);
    assert.equal(env.docker(['network', 'rm', 'macnet']).status, 0);
  });

  it('lists dangling networks and prunes by until, label and label!, as dockerd', () => {
    const ls = (filter: string) =>
      env.docker(['network', 'ls', '--filter', filter, '--format', '{{.Name}}']).stdout.trim();
    for (const [n, labels] of [
      ['keepme', ['--label', 'keep=yes']],
      ['unused', []],
      ['used', []],
    ] as const) {
      assert.equal(env.docker(['network', 'create', ...labels, n]).status, 0);
    }
    assert.equal(
      env.docker(['run', '-d', '--name', 'user', '--network', 'used', 'busybox', 'sleep', '600'])
        .status,
      0,
    );
    assert.equal(ls('dangling=true'), 'keepme\nunused');
    assert.equal(ls('dangling=false'), 'bridge\nhost\nnone\nused');
    const bad = env.docker(['network', 'ls', '--filter', 'dangling=maybe']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /invalid value for filter 'dangling', must be "true" \(or "1"\)/);
    // Created moments ago: an hour's `until` leaves them all.
    const young = env.docker(['network', 'prune', '-f', '--filter', 'until=1h']);
    assert.equal(young.status, 0, young.stderr);
    assert.equal(young.stdout.trim(), '');
    const refused = env.docker(['network', 'prune', '-f', '--filter', 'name=unused']);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /Invalid filter 'name'/);
    const p = env.docker(['network', 'prune', '-f', '--filter', 'label!=keep=yes']);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /Deleted Networks:\nunused\n/);
    assert.equal(ls('dangling=true'), 'keepme');
    assert.equal(env.docker(['rm', '-f', 'user']).status, 0);
    for (const n of ['keepme', 'used']) assert.equal(env.docker(['network', 'rm', n]).status, 0);
  });

  it('disconnect -f forgets a network that is gone from a created container, as dockerd', () => {
    assert.equal(env.docker(['network', 'create', 'shortlived']).status, 0);
    assert.equal(
      env.docker(['create', '--name', 'waiting', '--network', 'shortlived', 'busybox']).status,
      0,
    );
    // Not running: no endpoint holds the network, so it can go.
    assert.equal(env.docker(['network', 'rm', 'shortlived']).status, 0);
    const plain = env.docker(['network', 'disconnect', 'shortlived', 'waiting']);
    assert.notEqual(plain.status, 0);
    assert.match(plain.stderr, /is not connected to the network shortlived/);
    const forced = env.docker(['network', 'disconnect', '-f', 'shortlived', 'waiting']);
    assert.equal(forced.status, 0, forced.stderr);
    const nets = env.docker(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'waiting']);
    assert.equal(nets.stdout.trim(), '{}');
    // A container this host does not have, on a local network: no such endpoint.
    const stale = env.docker(['network', 'disconnect', '-f', 'bridge', 'nosuch']);
    assert.match(stale.stderr, /endpoint nosuch not found/);
    assert.equal(env.docker(['rm', 'waiting']).status, 0);
  });
});
