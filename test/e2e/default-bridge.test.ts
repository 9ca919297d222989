/**
 * S3, S4, S5, S6 of the seed: containers on the default bridge (berth0,
 * 172.17.0.0/16), driven by the stock docker client and by berth.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
const LOOP = 'while true; do sleep 3600; done';

interface NetInspect {
  IPAM: { Config: Array<{ Subnet: string; Gateway: string }> };
  Containers: Record<
    string,
    {
      Name: string;
      EndpointID: string;
      MacAddress: string;
      IPv4Address: string;
      IPv6Address: string;
    }
  >;
}

const hostLinks = () =>
  env
    .inHost(['ip', '-o', 'link'])
    .stdout.trim()
    .split('\n')
    .map((l) => l.split(': ')[1]!.split('@')[0]!);

describe('default bridge (S3-S6)', () => {
  before(async () => {
    env = await labWithDaemons();
  });
  after(async () => {
    await env?.destroy();
  });

  it('S2+S3: containers get 172.17.0.2 and .3 with MACs derived from them', () => {
    for (const n of ['test1', 'test2']) {
      const r = env.docker(['run', '-d', '--name', n, 'busybox', '/bin/sh', '-c', LOOP]);
      assert.equal(r.status, 0, r.stderr);
    }
    const r = env.docker(['network', 'inspect', 'bridge']);
    assert.equal(r.status, 0, r.stderr);
    const [net] = JSON.parse(r.stdout) as NetInspect[];
    assert.deepEqual(net!.IPAM.Config, [{ Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' }]);
    const byName = new Map(Object.values(net!.Containers).map((c) => [c.Name, c]));
    assert.equal(byName.get('test1')?.IPv4Address, '172.17.0.2/16');
    assert.equal(byName.get('test1')?.MacAddress, '02:42:ac:11:00:02');
    assert.equal(byName.get('test2')?.IPv4Address, '172.17.0.3/16');
    assert.equal(byName.get('test2')?.MacAddress, '02:42:ac:11:00:03');
    assert.match(byName.get('test1')!.EndpointID, /^[0-9a-f]{64}$/);
    const id = env.docker(['inspect', '-f', '{{.Id}}', 'test1']).stdout.trim();
    assert.ok(net!.Containers[id], 'keyed by container ID');
  });

  it('inspect shows the endpoint in NetworkSettings, as Docker does', () => {
    const f =
      '{{.NetworkSettings.IPAddress}} {{.NetworkSettings.IPPrefixLen}} {{.NetworkSettings.Gateway}} {{.NetworkSettings.MacAddress}} {{.NetworkSettings.Networks.bridge.IPAddress}}';
    const r = env.docker(['inspect', '-f', f, 'test1']);
    assert.equal(r.stdout.trim(), '172.17.0.2 16 172.17.0.1 02:42:ac:11:00:02 172.17.0.2');
    const hosts = env.docker(['exec', 'test1', 'cat', '/etc/hosts']).stdout;
    const hn = env.docker(['exec', 'test1', 'hostname']).stdout.trim();
    assert.match(hosts, new RegExp(`^172\\.17\\.0\\.2\\t${hn}$`, 'm'));
  });

  it('S4: the host has berth0 172.17.0.1/16 and one veth per container on it; the container has eth0', () => {
    const br = env.inHost(['ip', '-o', '-4', 'addr', 'show', 'berth0']);
    assert.match(br.stdout, /inet 172\.17\.0\.1\/16/);
    const ports = env
      .inHost(['ip', '-o', 'link', 'show', 'master', 'berth0'])
      .stdout.trim()
      .split('\n');
    assert.equal(ports.length, 2, ports.join('\n'));
    for (const p of ports) assert.match(p, /: veth[0-9a-f]{7}@if\d+: .*master berth0/);
    const inside = env.docker(['exec', 'test1', 'ip', '-o', 'addr', 'show', 'eth0']);
    assert.match(inside.stdout, /eth0 +inet 172\.17\.0\.2\/16/);
    const link = env.docker(['exec', 'test1', 'ip', '-o', 'link', 'show', 'eth0']).stdout;
    assert.match(link, /eth0@if\d+: .*mtu 1500/);
    const route = env.docker(['exec', 'test1', 'ip', 'route']).stdout;
    assert.match(route, /^default via 172\.17\.0\.1 dev eth0/m);
  });

  it('S5: containers ping each other by IP', () => {
    const a = env.docker(['exec', 'test1', 'ping', '-c1', '-W2', '172.17.0.3']);
    assert.equal(a.status, 0, a.stdout + a.stderr);
    const b = env.docker(['exec', 'test2', 'ping', '-c1', '-W2', '172.17.0.2']);
    assert.equal(b.status, 0, b.stdout + b.stderr);
    const gw = env.docker(['exec', 'test2', 'ping', '-c1', '-W2', '172.17.0.1']);
    assert.equal(gw.status, 0, gw.stdout + gw.stderr);
  });

  it('--add-host NAME:host-gateway names the default bridge gateway, which answers', () => {
    const r = env.docker([
      'run',
      '--rm',
      '--add-host',
      'host.docker.internal:host-gateway',
      'busybox',
      'sh',
      '-c',
      'grep host.docker.internal /etc/hosts; ping -c1 -W2 host.docker.internal >/dev/null && echo reached',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '172.17.0.1\thost.docker.internal\nreached\n');
    // inspect keeps what was asked, as dockerd.
    const c = env.docker(['create', '--add-host', 'gw:host-gateway', 'busybox']);
    assert.equal(c.status, 0, c.stderr);
    const hosts = env.docker(['inspect', '-f', '{{json .HostConfig.ExtraHosts}}', c.stdout.trim()]);
    assert.equal(hosts.stdout.trim(), '["gw:host-gateway"]');
    env.docker(['rm', c.stdout.trim()]);
  });

  it('--add-host on the host network writes Docker default lines and the extra host', () => {
    const r = env.docker([
      'run',
      '--rm',
      '--network',
      'host',
      '--add-host',
      'db:10.9.8.7',
      'busybox',
      'cat',
      '/etc/hosts',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^127\.0\.0\.1\tlocalhost$/m);
    assert.match(r.stdout, /^10\.9\.8\.7\tdb$/m);
    // Without extra hosts the container sees the host's own file.
    const plain = env.docker(['run', '--rm', '--network', 'host', 'busybox', 'cat', '/etc/hosts']);
    assert.equal(plain.stdout, readFileSync('/etc/hosts', 'utf8'));
  });

  it('S6: containers reach the world through NAT on the host uplink', async () => {
    // The world has no route back to 172.17.0.0/16: replies arrive only if the host masquerades.
    assert.doesNotMatch(env.lab.exec('world', ['ip', 'route']).stdout, /172\.17\./);
    const www = mkdtempSync(join(env.lab.dir, 'www-'));
    writeFileSync(join(www, 'index.html'), 'hello from the world\n');
    const httpd = env.lab.spawn(
      'world',
      ['busybox', 'httpd', '-f', '-p', '203.0.113.1:80', '-h', www],
      { stdio: 'ignore' },
    );
    try {
      await new Promise((r) => setTimeout(r, 200));
      const ping = env.docker(['exec', 'test1', 'ping', '-c1', '-W2', '198.51.100.1']);
      assert.equal(ping.status, 0, ping.stdout + ping.stderr);
      const page = env.docker([
        'exec',
        'test1',
        'timeout',
        '5',
        'wget',
        '-qO-',
        'http://203.0.113.1/',
      ]);
      assert.equal(page.stdout, 'hello from the world\n', page.stderr);
    } finally {
      httpd.kill();
    }
  });

  it('berth network inspect agrees', () => {
    const r = env.berth([
      'network',
      'inspect',
      '-f',
      '{{range .Containers}}{{.Name}}={{.IPv4Address}} {{end}}',
      'bridge',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split(' ').sort(), [
      'test1=172.17.0.2/16',
      'test2=172.17.0.3/16',
    ]);
  });

  it('stop releases the address and the veth; start gets one back', () => {
    assert.equal(env.docker(['stop', '-t', '0', 'test1']).status, 0);
    assert.equal(
      env.inHost(['ip', '-o', 'link', 'show', 'master', 'berth0']).stdout.trim().split('\n').length,
      1,
    );
    assert.equal(
      env.docker(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'test1']).stdout.trim(),
      '',
    );
    const r = env.docker(['run', '-d', '--name', 'test3', 'busybox', 'sh', '-c', LOOP]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      env.docker(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'test3']).stdout.trim(),
      '172.17.0.2',
    );
    assert.equal(env.docker(['start', 'test1']).status, 0);
    assert.equal(
      env.docker(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'test1']).stdout.trim(),
      '172.17.0.4',
    );
  });

  it('--ip on the default bridge is refused as Docker does, and nothing leaks', () => {
    const r = env.docker(['run', '--rm', '--ip', '172.17.0.50', 'busybox', 'true']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /user specified IP address is supported on user defined networks only/);
    assert.equal(
      env.inHost(['ip', '-o', 'link', 'show', 'master', 'berth0']).stdout.trim().split('\n').length,
      3,
    );
  });

  it('SIGKILL of the daemon keeps endpoints of running containers; rm -f then leaves nothing', async () => {
    await env.daemon.stop('SIGKILL');
    env.daemon = await env.lab.startDaemon(env.lab.hosts[0]!);
    env.daemons[0] = env.daemon;
    assert.equal(env.docker(['exec', 'test2', 'ping', '-c1', '-W2', '172.17.0.2']).status, 0);
    const rm = env.docker(['rm', '-f', 'test1', 'test2', 'test3']);
    assert.equal(rm.status, 0, rm.stderr);
    // The kernel frees the pairs in the background, a few ms after rm returns.
    await eventually(() =>
      assert.deepEqual(
        hostLinks().filter((l) => l.startsWith('veth')),
        [],
      ),
    );
    const [net] = JSON.parse(env.docker(['network', 'inspect', 'bridge']).stdout) as NetInspect[];
    assert.deepEqual(net!.Containers, {});
    // The addresses are free again: the next container gets .2.
    const r = env.docker(['run', '--rm', 'busybox', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
    assert.match(r.stdout, /172\.17\.0\.2\/16/);
  });
});
