// The gateway bridge (S23, issue 13 item 7): a container on an overlay also
// gets an interface on the host's berth_gwbridge (Docker's docker_gwbridge:
// icc off, NAT out, the next local pool), its default route unless a bridge
// network gives it, and its published ports through its own host. Internal
// overlays get none. Compared with Docker 20.10's answers in
// docs/reference/docker-20.10-overlay-transcript.md. Needs root and etcd.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Lab, type LabDaemon } from '../../src/lab/lab.js';
import { which } from '../../src/lab/proc.js';

const isRoot = process.getuid?.() === 0;
const ready = isRoot && !!which('etcd') && !!which('etcdctl');
const WEB = [
  'sh',
  '-c',
  'mkdir -p /www; echo "hello from web" > /www/index.html; exec httpd -f -p 80 -h /www',
];

describe(
  'the gateway bridge of overlay containers (S23)',
  { skip: !ready && 'needs root and etcd' },
  () => {
    let lab: Lab;
    let d1: LabDaemon;
    let d2: LabDaemon;

    /** The docker CLI against a host's berthd. */
    const docker = (d: LabDaemon, args: string[]) => {
      const r = spawnSync('docker', args, { encoding: 'utf8', env: { ...process.env, ...d.env } });
      return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
    };
    const ok = (d: LabDaemon, args: string[]) => {
      const r = docker(d, args);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.err}`);
      return r.out;
    };
    const inspect = (d: LabDaemon, what: string) => JSON.parse(ok(d, ['inspect', what]))[0];
    const gwMembers = (d: LabDaemon): Record<string, { Name: string; IPv4Address: string }> =>
      JSON.parse(ok(d, ['network', 'inspect', 'berth_gwbridge']))[0].Containers;
    const curl = (where: 'world' | number, url: string) =>
      lab.exec(where, ['curl', '-s', '-m', '3', url]);

    before(async () => {
      lab = await Lab.create({
        name: `gw${randomBytes(2).toString('hex')}`,
        hosts: 2,
        cluster: true,
      });
      d1 = await lab.startDaemon(1, { args: lab.clusterArgs(1), timeoutMs: 30_000 });
      d2 = await lab.startDaemon(2, { args: lab.clusterArgs(2), timeoutMs: 30_000 });
      ok(d1, ['network', 'create', '-d', 'overlay', 'ov1']);
      ok(d1, ['network', 'create', '-d', 'overlay', '--internal', 'ovi']);
    });
    after(async () => {
      for (const d of [d1, d2]) await d?.stop('SIGKILL').catch(() => undefined);
      await lab?.destroy();
    });

    it('gives an overlay container an interface on berth_gwbridge with its default route, and NAT out', () => {
      assert.doesNotMatch(ok(d1, ['network', 'ls']), /berth_gwbridge/, 'made at first use');
      ok(d1, ['run', '-d', '--name', 'c1', '--network', 'ov1', 'busybox', 'sleep', '3600']);
      const c1 = inspect(d1, 'c1');
      // Only the overlay among its networks, as Docker's.
      assert.deepEqual(Object.keys(c1.NetworkSettings.Networks), ['ov1']);
      const net = JSON.parse(ok(d1, ['network', 'inspect', 'berth_gwbridge']))[0];
      assert.equal(net.Driver, 'bridge');
      assert.equal(net.Scope, 'local');
      assert.deepEqual(net.IPAM.Config, [{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' }]);
      assert.deepEqual(net.Options, {
        'com.docker.network.bridge.enable_icc': 'false',
        'com.docker.network.bridge.enable_ip_masquerade': 'true',
        'com.docker.network.bridge.name': 'berth_gwbridge',
      });
      assert.deepEqual(net.Containers[c1.Id], {
        Name: `gateway_${c1.Id.slice(0, 12)}`,
        EndpointID: net.Containers[c1.Id].EndpointID,
        MacAddress: '02:42:ac:12:00:02',
        IPv4Address: '172.18.0.2/16',
        IPv6Address: '',
      });
      const routes = ok(d1, ['exec', 'c1', 'ip', 'route']);
      assert.match(routes, /^default via 172\.18\.0\.1 dev eth1/m);
      assert.match(routes, /^10\.0\.0\.0\/24 dev eth0/m);
      const out = docker(d1, ['exec', 'c1', 'ping', '-c1', '-W2', lab.world.internetIp]);
      assert.equal(out.status, 0, out.out + out.err);
    });

    it('publishes ports through the own host only (-p 8000:80 on host 2)', async () => {
      ok(d2, [
        'run',
        '-d',
        '--name',
        'web',
        '--network',
        'ov1',
        '-p',
        '8000:80',
        'busybox',
        ...WEB,
      ]);
      assert.match(ok(d2, ['port', 'web']), /^80\/tcp -> 0\.0\.0\.0:8000$/m);
      const url = 'http://192.168.205.11:8000/';
      for (let i = 0; i < 50 && curl('world', url).status !== 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(curl('world', url).stdout.trim(), 'hello from web');
      assert.equal(curl(1, url).stdout.trim(), 'hello from web');
      assert.notEqual(curl('world', 'http://192.168.205.10:8000/').status, 0, 'not on host 1');
      // And across the overlay by name, from host 1.
      const get = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 80 | tail -1`;
      assert.equal(ok(d1, ['exec', 'c1', 'sh', '-c', get]), 'hello from web');
    });

    it('keeps containers on berth_gwbridge apart (icc off)', () => {
      ok(d2, ['run', '-d', '--name', 'c2', '--network', 'ov1', 'busybox', 'sleep', '3600']);
      const members = gwMembers(d2);
      assert.equal(Object.keys(members).length, 2, JSON.stringify(members));
      const webGw = members[inspect(d2, 'web').Id]!.IPv4Address.split('/')[0]!;
      const p = docker(d2, ['exec', 'c2', 'ping', '-c1', '-W1', webGw]);
      assert.notEqual(p.status, 0, 'one gateway endpoint reached another');
    });

    it('gives an internal overlay container none', () => {
      ok(d1, ['run', '-d', '--name', 'i1', '--network', 'ovi', 'busybox', 'sleep', '3600']);
      assert.doesNotMatch(ok(d1, ['exec', 'i1', 'ip', 'route']), /default/);
      assert.notEqual(docker(d1, ['exec', 'i1', 'ip', 'link', 'show', 'eth1']).status, 0);
      assert.equal(inspect(d1, 'i1').Id in gwMembers(d1), false);
    });

    it('moves the way out to a bridge network connected later, and back when it goes', () => {
      const id = inspect(d1, 'c1').Id as string;
      ok(d1, ['network', 'create', 'lbr']);
      ok(d1, ['network', 'connect', 'lbr', 'c1']);
      assert.equal(id in gwMembers(d1), false, 'the gateway endpoint left');
      assert.match(ok(d1, ['exec', 'c1', 'ip', 'route']), /^default via 172\.19\.0\.1 /m);
      ok(d1, ['network', 'disconnect', 'lbr', 'c1']);
      assert.equal(id in gwMembers(d1), true, 'the gateway endpoint is back');
      assert.match(ok(d1, ['exec', 'c1', 'ip', 'route']), /^default via 172\.18\.0\.1 /m);
    });

    it('takes the gateway endpoint away with the container', () => {
      const id = inspect(d1, 'c1').Id as string;
      ok(d1, ['stop', '-t', '0', 'c1']);
      assert.equal(id in gwMembers(d1), false);
      ok(d1, ['start', 'c1']);
      assert.equal(id in gwMembers(d1), true);
      ok(d1, ['rm', '-f', 'c1', 'i1']);
      assert.deepEqual(gwMembers(d1), {});
      const rm = docker(d2, ['network', 'rm', 'berth_gwbridge']);
      assert.match(rm.err, /has active endpoints/);
    });
  },
);
