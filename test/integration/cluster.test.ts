// Nodes and global networks of a cluster (issue 13 items 4 and 5). Each
// berthd with --cluster-store puts itself in etcd under a lease, as readable
// JSON; a SIGKILLed one stays until its lease expires, then goes; a cleanly
// stopped one goes at once; one that comes back registers again. An overlay
// network made on one host is listed on the other (S19, S20), with Docker's
// first subnet and its refusals, and goes from both with one rm. Checked with
// the docker CLI and etcdctl, as a user would. Needs root.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, type LabDaemon } from '../../src/lab/lab.js';
import { which } from '../../src/lab/proc.js';

const isRoot = process.getuid?.() === 0;
const ready = isRoot && !!which('etcd') && !!which('etcdctl');
const TTL = [
  '--cluster-store-opt',
  'discovery.ttl=3',
  '--cluster-store-opt',
  'discovery.heartbeat=1',
];

describe(
  'a cluster: nodes and overlay networks',
  { skip: !ready && 'needs root, etcd and etcdctl' },
  () => {
    let lab: Lab;
    const daemons: LabDaemon[] = [];

    /** The nodes etcd lists, by key, as etcdctl prints them. */
    const nodes = (): Record<string, { Addr: string; Name: string; ID: string }> => {
      const r = lab.etcdctl(1, ['get', '--prefix', '/berth/nodes/']);
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.split('\n').filter(Boolean);
      const out: Record<string, { Addr: string; Name: string; ID: string }> = {};
      for (let i = 0; i + 1 < lines.length; i += 2) out[lines[i]!] = JSON.parse(lines[i + 1]!);
      return out;
    };
    const until = async (what: string, ok: () => boolean, ms: number): Promise<number> => {
      const t0 = Date.now();
      while (!ok()) {
        if (Date.now() - t0 > ms)
          assert.fail(`${what}: not within ${ms} ms; nodes ${JSON.stringify(nodes())}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      return Date.now() - t0;
    };
    const start = async (h: number) => {
      const d = await lab.startDaemon(h, {
        args: [...lab.clusterArgs(h), ...TTL],
        timeoutMs: 30_000,
      });
      daemons.push(d);
      return d;
    };

    before(async () => {
      lab = await Lab.create({
        name: `cn${randomBytes(2).toString('hex')}`,
        hosts: 2,
        cluster: true,
      });
    });
    after(async () => {
      for (const d of daemons) await d.stop('SIGKILL').catch(() => undefined);
      await lab?.destroy();
    });

    it('lists every host under its advertise address, as JSON', async () => {
      const d1 = await start(1);
      await start(2);
      const keys = ['/berth/nodes/192.168.205.10:2375', '/berth/nodes/192.168.205.11:2375'];
      await until('both nodes listed', () => Object.keys(nodes()).length === 2, 10_000);
      const n = nodes();
      assert.deepEqual(Object.keys(n).sort(), keys);
      assert.equal(n[keys[0]!]!.Addr, '192.168.205.10:2375');
      const info = lab.exec(1, ['curl', '-sf', '--unix-socket', d1.socket, 'http://x/v1.41/info']);
      assert.equal(n[keys[0]!]!.ID, JSON.parse(info.stdout).ID);
    });

    it('keeps a SIGKILLed host while its lease lives, then removes it; it registers again', async () => {
      const d2 = daemons[1]!;
      await d2.stop('SIGKILL');
      const key = '/berth/nodes/192.168.205.11:2375';
      assert.ok(nodes()[key], 'still listed right after the kill');
      const gone = await until('the dead host removed', () => !nodes()[key], 10_000);
      assert.ok(gone >= 1000, `removed by the lease's expiry, not at once (${gone} ms)`);
      await start(2);
      await until('the host back', () => !!nodes()[key], 10_000);
    });

    /** The docker CLI against a host's berthd. */
    const docker = (d: LabDaemon, args: string[]) => {
      const r = spawnSync('docker', args, { encoding: 'utf8', env: { ...process.env, ...d.env } });
      return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
    };

    it('lists an overlay network made on one host on the other, with scope global (S19, S20)', async () => {
      const [d1, d2] = [daemons[0]!, daemons[2]!];
      const made = docker(d1, ['network', 'create', '-d', 'overlay', 'ov1']);
      assert.equal(made.status, 0, made.err);
      await until(
        'ov1 listed on host 2',
        () => / ov1 +overlay +global$/m.test(docker(d2, ['network', 'ls']).out),
        2000,
      );
      const i = JSON.parse(docker(d2, ['network', 'inspect', 'ov1']).out)[0];
      assert.equal(i.Id, made.out);
      assert.equal(i.Scope, 'global');
      assert.deepEqual(i.IPAM.Config, [{ Subnet: '10.0.0.0/24', Gateway: '10.0.0.1' }]);
      assert.equal(i.berth, undefined, "Berth's own part is not shown");
      const stored = lab.etcdctl(1, ['get', `/berth/networks/by-id/${i.Id}`]);
      assert.equal(JSON.parse(stored.stdout.split('\n')[1]!).Name, 'ov1');
    });

    it("refuses a taken name and an overlapping subnet from the other host, in Docker's words", () => {
      const d2 = daemons[2]!;
      const again = docker(d2, ['network', 'create', '-d', 'overlay', 'ov1']);
      assert.equal(again.status, 1);
      assert.match(again.err, /network with name ov1 already exists/);
      const dup = docker(d2, [
        'network',
        'create',
        '-d',
        'overlay',
        '--subnet',
        '10.0.0.0/24',
        'ovd',
      ]);
      assert.match(dup.err, /Pool overlaps with other one on this address space/);
    });

    it('runs containers on the overlay on both hosts; they reach each other by address, name and alias (S21)', async () => {
      const [d1, d2] = [daemons[0]!, daemons[2]!];
      for (const [d, name] of [
        [d1, 'c1'],
        [d2, 'c2'],
      ] as const) {
        const r = docker(d, [
          'run',
          '-d',
          '--name',
          name,
          '--network',
          'ov1',
          '--network-alias',
          `${name}-alias`,
          'busybox',
          'sleep',
          '3600',
        ]);
        assert.equal(r.status, 0, r.err);
      }
      const ep = (d: LabDaemon, name: string) =>
        JSON.parse(docker(d, ['inspect', name]).out)[0].NetworkSettings.Networks.ov1;
      const [e1, e2] = [ep(d1, 'c1'), ep(d2, 'c2')];
      assert.deepEqual(
        [e1.IPAddress, e1.IPPrefixLen, e1.Gateway, e1.MacAddress],
        ['10.0.0.2', 24, '', '02:42:0a:00:00:02'],
      );
      assert.equal(e2.IPAddress, '10.0.0.3');
      // Each host programs the other's endpoint from the store: the joining one
      // before its `run` returns, the other from its watch.
      for (const [d, from, to] of [
        [d1, 'c1', '10.0.0.3'],
        [d2, 'c2', '10.0.0.2'],
      ] as const) {
        const p = docker(d, ['exec', from, 'ping', '-c1', '-W2', to]);
        assert.equal(p.status, 0, p.out + p.err);
      }
      // Names across hosts: each host's resolver, on the overlay's gateway in
      // its namespace, answers the other host's containers by name and alias.
      for (const [d, from, name, ip] of [
        [d1, 'c1', 'c2', '10.0.0.3'],
        [d1, 'c1', 'c2-alias', '10.0.0.3'],
        [d2, 'c2', 'c1', '10.0.0.2'],
        [d2, 'c2', 'c2', '10.0.0.3'],
      ] as const) {
        const q = docker(d, ['exec', from, 'nslookup', name, '10.0.0.1']);
        assert.match(
          q.out,
          new RegExp(`Address: ${ip.replace(/\./g, '\\.')}$`, 'm'),
          q.out + q.err,
        );
      }
      // resolv.conf points there (with Docker's ndots:0): names just work.
      const resolv = docker(d1, ['exec', 'c1', 'cat', '/etc/resolv.conf']).out;
      assert.match(resolv, /^nameserver 10\.0\.0\.1$/m);
      assert.match(resolv, /^options ndots:0$/m);
      for (const name of ['c2', 'c2-alias']) {
        const p = docker(d1, ['exec', 'c1', 'ping', '-c1', '-W2', name]);
        assert.equal(p.status, 0, p.out + p.err);
        assert.match(p.out, /^PING [\w-]+ \(10\.0\.0\.3\)/m);
      }
      const eth0 = docker(d1, ['exec', 'c1', 'ip', '-o', 'link', 'show', 'eth0']).out;
      assert.match(eth0, /mtu 1450 /);
      // Each host lists both containers in the network, the other host's as dockerd does.
      const members = JSON.parse(docker(d1, ['network', 'inspect', 'ov1']).out)[0].Containers;
      const byName = Object.fromEntries(
        Object.entries(members).map(([k, v]) => [(v as { Name: string }).Name, k]),
      );
      assert.match(byName.c1!, /^[0-9a-f]{64}$/);
      assert.match(byName.c2!, /^ep-[0-9a-f]{64}$/);
      const stored = lab.etcdctl(1, ['get', '--prefix', '--keys-only', '/berth/endpoints/']);
      assert.equal(stored.stdout.split('\n').filter(Boolean).length, 2, stored.stdout);
    });

    it('keeps the containers talking while a berthd is SIGKILLed, and resumes without duplicates', async () => {
      const d2 = daemons[2]!;
      await d2.stop('SIGKILL');
      // The data plane is static: nothing on the packet path needs the daemon.
      const p = docker(daemons[0]!, ['exec', 'c1', 'ping', '-c1', '-W2', '10.0.0.3']);
      assert.equal(p.status, 0, p.out + p.err);
      const back = await lab.startDaemon(2, {
        args: [...lab.clusterArgs(2), ...TTL],
        timeoutMs: 30_000,
      });
      daemons[2] = back;
      assert.match(docker(back, ['ps', '--format', '{{.Names}}']).out, /^c2$/m);
      const again = docker(back, ['exec', 'c2', 'ping', '-c1', '-W2', '10.0.0.2']);
      assert.equal(again.status, 0, again.out + again.err);
      const eps = lab.etcdctl(1, ['get', '--prefix', '--keys-only', '/berth/endpoints/']);
      assert.equal(eps.stdout.split('\n').filter(Boolean).length, 2, eps.stdout);
    });

    it("refuses a name another host's container has on the network, as Docker; a rename reaches every host", async () => {
      const [d1, d2] = [daemons[0]!, daemons[2]!];
      // c1 is on ov1 on host 1. Docker 20.10: 403 at the start, the container stays created.
      const run = docker(d2, [
        'run',
        '-d',
        '--name',
        'c1',
        '--network',
        'ov1',
        'busybox',
        'sleep',
        '3600',
      ]);
      assert.equal(run.status, 125, run.err);
      assert.match(run.err, /endpoint with name c1 already exists in network ov1$/m);
      const status = docker(d2, ['ps', '-a', '--filter', 'name=^c1$', '--format', '{{.Status}}']);
      assert.match(status.out, /^Created$/);
      assert.equal(docker(d2, ['rm', 'c1']).status, 0);
      assert.equal(docker(d2, ['run', '-d', '--name', 'c1', 'busybox', 'sleep', '3600']).status, 0);
      const connect = docker(d2, ['network', 'connect', 'ov1', 'c1']);
      assert.notEqual(connect.status, 0);
      assert.match(connect.err, /endpoint with name c1 already exists in network ov1$/m);
      assert.equal(docker(d2, ['rm', '-f', 'c1']).status, 0);
      // Docker's cure for a stale name, disconnect -f: refused for a host still in the cluster.
      const force = docker(d2, ['network', 'disconnect', '-f', 'ov1', 'c1']);
      assert.notEqual(force.status, 0);
      assert.match(
        force.err,
        /endpoint c1 belongs to host 192\.168\.205\.10:2375, which is in the cluster/,
      );
      const none = docker(d2, ['network', 'disconnect', '-f', 'ov1', 'nosuch']);
      assert.match(none.err, /endpoint nosuch not found/);
      // c2 renamed on host 2: host 1 resolves the new name, and the old no more.
      assert.equal(docker(d2, ['rename', 'c2', 'c2x']).status, 0);
      const lookup = (name: string) => docker(d1, ['exec', 'c1', 'nslookup', name, '10.0.0.1']).out;
      await until(
        'c2x resolved on host 1',
        () => /Address: 10\.0\.0\.3$/m.test(lookup('c2x')),
        2000,
      );
      assert.doesNotMatch(lookup('c2'), /Address: 10\.0\.0\.3$/m);
      assert.equal(docker(d2, ['rename', 'c2x', 'c2']).status, 0);
      await until('c2 resolved on host 1', () => /Address: 10\.0\.0\.3$/m.test(lookup('c2')), 2000);
      // A rename refused on its own host (the name taken there) leaves the cluster's name as it was.
      assert.equal(docker(d2, ['create', '--name', 'dup', 'busybox']).status, 0);
      const refused = docker(d2, ['rename', 'c2', 'dup']);
      assert.match(refused.err, /Conflict\. The container name "\/dup" is already in use/);
      assert.equal(docker(d2, ['rm', 'dup']).status, 0);
      await new Promise((r) => setTimeout(r, 200));
      assert.match(lookup('c2'), /Address: 10\.0\.0\.3$/m);
      assert.doesNotMatch(lookup('dup'), /Address: 10\.0\.0\.3$/m);
      const claims = lab.etcdctl(1, ['get', '--prefix', '/berth/networks/endpoint-names/']);
      assert.deepEqual(
        claims.stdout
          .split('\n')
          .filter((l, i) => i % 2 === 0 && l)
          .map((k) => k.split('/').pop()),
        ['c1', 'c2'],
      );
    });

    it('forgets a removed container on the other host; rm of the network waits for the last endpoint', async () => {
      const [d1, d2] = [daemons[0]!, daemons[2]!];
      const netId = JSON.parse(docker(d1, ['network', 'inspect', 'ov1']).out)[0].Id as string;
      const overlayNs = join(d1.execRoot, 'overlay', `ov-${netId.slice(0, 12)}`);
      const fdb = () =>
        spawnSync('nsenter', [`--net=${overlayNs}`, 'bridge', 'fdb', 'show', 'dev', 'vxlan0'], {
          encoding: 'utf8',
        }).stdout;
      assert.match(fdb(), /02:42:0a:00:00:03 dst 192\.168\.205\.11/);
      assert.equal(docker(d2, ['rm', '-f', 'c2']).status, 0);
      await until('c2 gone from host 1', () => !/02:42:0a:00:00:03 dst/.test(fdb()), 2000);
      const busy = docker(d2, ['network', 'rm', 'ov1']);
      assert.match(
        busy.err,
        /error while removing network: network ov1 id \w+ has active endpoints/,
      );
      assert.equal(docker(d1, ['rm', '-f', 'c1']).status, 0);
    });

    it('removes an overlay network from every host with one rm', async () => {
      const [d1, d2] = [daemons[0]!, daemons[2]!];
      const netId = JSON.parse(docker(d1, ['network', 'inspect', 'ov1']).out)[0].Id as string;
      const overlayNs = join(d1.execRoot, 'overlay', `ov-${netId.slice(0, 12)}`);
      assert.ok(existsSync(overlayNs), 'host 1 took part in ov1');
      const rm = docker(d2, ['network', 'rm', 'ov1']);
      assert.equal(rm.status, 0, rm.err);
      await until(
        'ov1 gone on host 1',
        () => !/ ov1 /.test(docker(d1, ['network', 'ls']).out),
        2000,
      );
      await until("host 1's part of ov1 gone", () => !existsSync(overlayNs), 2000);
      assert.equal(lab.etcdctl(1, ['get', '--prefix', '/berth/networks/by-id/']).stdout, '');
    });

    it('removes a host that stops cleanly at once', async () => {
      await daemons[0]!.stop('SIGTERM');
      assert.equal(nodes()['/berth/nodes/192.168.205.10:2375'], undefined);
      assert.ok(nodes()['/berth/nodes/192.168.205.11:2375']);
    });
  },
);
