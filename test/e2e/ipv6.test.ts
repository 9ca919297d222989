/**
 * Dual-stack user networks: `network create --ipv6 --subnet <v6>`, containers
 * with an IPv6 address and default route, names answered with AAAA records,
 * `--ip6`, isolation between bridges over IPv6, published ports on IPv6 (from
 * the world, the host, and containers), and Docker's errors for bad input.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
const LOOP = 'while true; do sleep 3600; done';
const HOST6 = 'fd99::11';

describe('IPv6 (dual-stack) bridge networks', () => {
  before(async () => {
    env = await labWithDaemons();
    // IPv6 between the lab world and host 1 (the lab's own namespaces).
    for (const [where, argv] of [
      ['world', ['ip', '-6', 'addr', 'add', 'fd99::1/64', 'dev', 'br0', 'nodad']],
      [1, ['ip', '-6', 'addr', 'add', `${HOST6}/64`, 'dev', 'eth0', 'nodad']],
    ] as const) {
      const r = env.lab.exec(where, [...argv]);
      assert.equal(r.status, 0, r.stderr);
    }
  });
  after(async () => {
    await env?.destroy();
  });

  it('creates a dual-stack network: an automatic IPv4 subnet plus the given IPv6 one', () => {
    const r = env.docker(['network', 'create', '--ipv6', '--subnet', 'fd00:1::/64', 'v6a']);
    assert.equal(r.status, 0, r.stderr);
    const [n] = JSON.parse(env.docker(['network', 'inspect', 'v6a']).stdout) as Array<{
      EnableIPv6: boolean;
      IPAM: { Config: Array<{ Subnet: string }> };
    }>;
    assert.equal(n!.EnableIPv6, true);
    assert.deepEqual(
      n!.IPAM.Config.map((c) => c.Subnet),
      ['172.18.0.0/16', 'fd00:1::/64'],
    );
    const br = `br-${r.stdout.trim().slice(0, 12)}`;
    assert.match(
      env.inHost(['ip', '-6', 'addr', 'show', br]).stdout,
      /inet6 fd00:1::1\/64 scope global/,
    );
  });

  it('gives containers an IPv6 address and default route; names resolve to AAAA', () => {
    for (const n of ['six1', 'six2']) {
      assert.equal(
        env.docker(['run', '-d', '--name', n, '--network', 'v6a', 'busybox', 'sh', '-c', LOOP])
          .status,
        0,
      );
    }
    assert.match(
      env.docker(['exec', 'six1', 'ip', '-6', 'addr', 'show', 'eth0']).stdout,
      /inet6 fd00:1::2\/64 scope global/,
    );
    assert.match(
      env.docker(['exec', 'six1', 'ip', '-6', 'route']).stdout,
      /default via fd00:1::1 dev eth0/,
    );
    assert.match(env.docker(['exec', 'six1', 'cat', '/etc/hosts']).stdout, /^fd00:1::2\t\S+$/m);
    const ping = env.docker(['exec', 'six1', 'ping6', '-c', '1', '-W', '3', 'six2']);
    assert.equal(ping.status, 0, ping.stdout + ping.stderr);
    assert.match(ping.stdout, /PING six2 \(fd00:1::3\)/);
    const [c] = JSON.parse(env.docker(['inspect', 'six1']).stdout) as Array<{
      NetworkSettings: { Networks: Record<string, Record<string, unknown>> };
    }>;
    const ep = c!.NetworkSettings.Networks.v6a!;
    assert.deepEqual(
      [ep.GlobalIPv6Address, ep.GlobalIPv6PrefixLen, ep.IPv6Gateway],
      ['fd00:1::2', 64, 'fd00:1::1'],
    );
    assert.match(
      env.docker([
        'network',
        'inspect',
        '-f',
        '{{range .Containers}}{{.IPv6Address}} {{end}}',
        'v6a',
      ]).stdout,
      /fd00:1::2\/64/,
    );
  });

  it('honours --ip6 and refuses it where the network has no IPv6', () => {
    const r = env.docker([
      'run',
      '-d',
      '--name',
      'six3',
      '--network',
      'v6a',
      '--ip6',
      'fd00:1::99',
      'busybox',
      'sh',
      '-c',
      LOOP,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      env.docker(['exec', 'six3', 'ip', '-6', 'addr', 'show', 'eth0']).stdout,
      /fd00:1::99\/64/,
    );
    assert.equal(env.docker(['network', 'create', 'four']).status, 0);
    const bad = env.docker(['run', '-d', '--network', 'four', '--ip6', 'fd00:1::98', 'busybox']);
    assert.notEqual(bad.status, 0);
    assert.match(
      bad.stderr,
      /user specified IP address is supported only when connecting to networks with user configured subnets/,
    );
    // As Docker: a container without an IPv6 network has no IPv6 at all.
    const v4only = env.docker(['run', '--rm', '--network', 'four', 'busybox', 'ip', 'a']);
    assert.doesNotMatch(v4only.stdout, /inet6/);
    assert.match(v4only.stdout, /inet 127\.0\.0\.1/);
  });

  it('keeps other bridges out over IPv6 too', () => {
    assert.equal(
      env.docker(['network', 'create', '--ipv6', '--subnet', 'fd00:2::/64', 'v6b']).status,
      0,
    );
    assert.equal(
      env.docker(['run', '-d', '--name', 'other6', '--network', 'v6b', 'busybox', 'sh', '-c', LOOP])
        .status,
      0,
    );
    const r = env.docker(['exec', 'other6', 'ping6', '-c', '1', '-W', '1', 'fd00:1::2']);
    assert.notEqual(r.status, 0, 'v6b reached v6a');
  });

  it('publishes ports on IPv6 as well: from the world, the host and containers', async () => {
    const r = env.docker([
      'run',
      '-d',
      '--name',
      'web6',
      '--network',
      'v6a',
      '-p',
      '8080:80',
      'busybox',
      'sh',
      '-c',
      'mkdir /www; echo six > /www/index.html; exec httpd -f -p 80 -h /www',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      env.docker(['port', 'web6']).stdout,
      '80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n',
    );
    const get = (where: 'world' | number, url: string) =>
      env.lab.exec(where, ['curl', '-s', '-m', '3', url]).stdout;
    for (let i = 0; i < 30 && get(1, `http://[${HOST6}]:8080/`) !== 'six\n'; i++) {
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(get('world', `http://[${HOST6}]:8080/`), 'six\n');
    assert.equal(get('world', 'http://198.51.100.11:8080/'), 'six\n');
    assert.equal(get(1, `http://[${HOST6}]:8080/`), 'six\n');
    const hairpin = env.docker([
      'exec',
      'six1',
      'sh',
      '-c',
      `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${HOST6} 8080 | tail -1`,
    ]);
    assert.equal(hairpin.stdout, 'six\n');
    // As dockerd (docs/reference/docker-20.10-ipv6.md): 0.0.0.0 is IPv4 only, [::] IPv6 only.
    for (const [name, spec, want] of [
      ['v4only', '0.0.0.0:8081:80', '80/tcp -> 0.0.0.0:8081\n'],
      ['v6only', '[::]:8082:80', '80/tcp -> [::]:8082\n'],
    ] as const) {
      const p = env.docker([
        'run',
        '-d',
        '--name',
        name,
        '--network',
        'v6a',
        '-p',
        spec,
        'busybox',
        'sleep',
        '600',
      ]);
      assert.equal(p.status, 0, p.stderr);
      assert.equal(env.docker(['port', name]).stdout, want);
    }
    assert.equal(env.docker(['rm', '-f', 'web6', 'v4only', 'v6only']).status, 0);
    assert.doesNotMatch(
      env.inHost(['nft', 'list', 'map', 'inet', 'berth', 'ports6']).stdout,
      /8080/,
    );
  });

  it("refuses --ipv6 without an IPv6 subnet, with Docker's message, creating nothing", () => {
    const before = env.docker(['network', 'ls', '-q']).stdout;
    const r = env.docker(['network', 'create', '--ipv6', 'nov6']);
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr,
      /could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network/,
    );
    const overlap = env.docker(['network', 'create', '--ipv6', '--subnet', 'fd00:1::/48', 'dup6']);
    assert.notEqual(overlap.status, 0);
    assert.match(overlap.stderr, /Pool overlaps with other one on this address space/);
    const two = env.docker([
      'network',
      'create',
      '--ipv6',
      '--subnet',
      'fd00:7::/64',
      '--subnet',
      'fd00:8::/64',
      'two6',
    ]);
    assert.notEqual(two.status, 0);
    assert.match(two.stderr, /bridge driver doesn't support multiple subnets/);
    assert.equal(env.docker(['network', 'ls', '-q']).stdout, before);
  });

  it('removes the network and its addresses', () => {
    assert.equal(env.docker(['rm', '-f', 'six1', 'six2', 'six3', 'other6']).status, 0);
    assert.equal(env.docker(['network', 'rm', 'v6a', 'v6b']).status, 0);
    assert.doesNotMatch(env.inHost(['ip', '-6', 'addr']).stdout, /fd00:[12]::1/);
  });
});
