/**
 * The seed's multi-host part with the stock docker client, each host driven
 * from the other over `-H tcp://` as the seed does (S17, S18), and over its
 * unix socket: an overlay made on one host (S19), redis on host 1 and the
 * Flask app of examples/flask-redis built and run on host 2 with a
 * published port (S22), its traffic to redis carried in VXLAN between the
 * hosts' own addresses (S16). Needs root and etcd.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Lab, type LabDaemon } from '../../src/lab/lab.js';
import { which } from '../../src/lab/proc.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/flask-redis', import.meta.url));
const IP = { 1: '192.168.205.10', 2: '192.168.205.11' } as const;
const ready = process.getuid?.() === 0 && !!which('etcd') && !!which('etcdctl');

describe(
  'the flask-redis app across two hosts (S16–S22)',
  { skip: !ready && 'needs root and etcd' },
  () => {
    let lab: Lab;
    const daemons: LabDaemon[] = [];

    /** The docker CLI in host `from`'s namespace, against host `to`'s berthd over TCP. */
    const docker = (from: 1 | 2, to: 1 | 2, args: string[], timeoutMs = 60_000) => {
      const r = lab.exec(from, ['docker', '-H', `tcp://${IP[to]}:2375`, ...args], { timeoutMs });
      return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
    };
    const ok = (from: 1 | 2, to: 1 | 2, args: string[], timeoutMs?: number) => {
      const r = docker(from, to, args, timeoutMs);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.out} ${r.err}`);
      return r.out;
    };
    /** The first line of an HTTP/1.0 answer from `ip:port`, asked from container `c` on host 1. */
    const ask = (c: string, ip: string, port: number, path: string) =>
      docker(2, 1, [
        'exec',
        c,
        'sh',
        '-c',
        `printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${ip} ${port} | head -1`,
      ]).out;
    const curl = (url: string) => lab.exec('world', ['curl', '-s', '-m', '5', url]);
    const seen = (n: number, host: string) =>
      `Hello Container World! I have been seen ${n} times and my hostname is ${host}.\n`;

    before(async () => {
      lab = await Lab.create({
        name: `ca${randomBytes(2).toString('hex')}`,
        hosts: 2,
        cluster: true,
      });
      for (const h of [1, 2] as const) {
        daemons.push(
          await lab.startDaemon(h, {
            args: [...lab.clusterArgs(h), '-H', `tcp://${IP[h]}:2375`, '--tls=false'],
            timeoutMs: 30_000,
          }),
        );
      }
    });
    after(async () => {
      for (const d of daemons) await d.stop('SIGKILL').catch(() => undefined);
      await lab?.destroy();
    });

    it('has a healthy etcd member on each host (S17) and each daemon in the cluster (S18)', () => {
      const health = lab.etcdctl(1, ['endpoint', 'health']);
      assert.equal(health.status, 0, health.stderr);
      for (const ip of Object.values(IP)) {
        assert.match(health.stdout + health.stderr, new RegExp(`${ip}:2379 is healthy`));
      }
      for (const h of [1, 2] as const) {
        // The API: a newer docker CLI no longer shows these 20.10 fields.
        const got = lab.exec(h === 1 ? 2 : 1, ['curl', '-sf', `http://${IP[h]}:2375/v1.41/info`]);
        const info = JSON.parse(got.stdout);
        assert.equal(info.ClusterAdvertise, `${IP[h]}:2375`);
        assert.match(info.ClusterStore, /^etcd:\/\/192\.168\.205\.10:2379,/);
      }
    });

    it('runs redis on host 1 and the app built on host 2 on one overlay; the world counts up (S22)', async () => {
      ok(2, 1, ['network', 'create', '-d', 'overlay', 'demo']);
      ok(2, 1, ['run', '-d', '--name', 'redis', '--network', 'demo', 'redis']);
      const built = ok(1, 2, ['build', '-t', 'flask-redis', EXAMPLE], 180_000);
      assert.match(built, /Successfully tagged flask-redis:latest/);
      const id = ok(1, 2, [
        'run',
        '-d',
        '--name',
        'web',
        '--network',
        'demo',
        '-e',
        'REDIS_HOST=redis',
        '-p',
        '5000:5000',
        'flask-redis',
      ]).slice(0, 12);
      const url = `http://${IP[2]}:5000/`;
      for (let i = 0; i < 150 && curl(`${url}not-counted`).status !== 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(curl(url).stdout, seen(1, id));
      assert.equal(curl(url).stdout, seen(2, id));
      // The count is redis's, on host 1: it sees the app's overlay address.
      assert.equal(ok(2, 1, ['exec', 'redis', 'redis-cli', 'get', 'hits']), '2');
      const clients = ok(2, 1, ['exec', 'redis', 'redis-cli', 'client', 'list']);
      const webIp = ok(1, 2, [
        'inspect',
        '-f',
        '{{.NetworkSettings.Networks.demo.IPAddress}}',
        'web',
      ]);
      assert.match(clients, new RegExp(`addr=${webIp.replace(/\./g, '\\.')}:`));
    });

    it("carries the app's traffic in VXLAN between the hosts' own addresses (S16)", () => {
      // Counted where it arrives: UDP 4789 from host 2's underlay address.
      const nft = (args: string) => lab.exec(1, ['nft', ...args.split(' ')]);
      assert.equal(nft('add table inet s16').status, 0);
      nft('add chain inet s16 in { type filter hook input priority 0 ; }');
      nft(`add rule inet s16 in ip saddr ${IP[2]} udp dport 4789 counter`);
      try {
        assert.equal(curl(`http://${IP[2]}:5000/`).status, 0);
        const counted = nft('list chain inet s16 in').stdout;
        const packets = Number(/counter packets (\d+)/.exec(counted)?.[1] ?? 0);
        assert.ok(packets > 0, counted);
      } finally {
        nft('delete table inet s16');
      }
    });

    it("keeps containers off the hosts' APIs and etcd, not off another host's published port (decision 0040)", () => {
      ok(2, 1, ['run', '-d', '--name', 'probe', 'busybox', 'sleep', '600']);
      ok(2, 1, ['run', '-d', '--name', 'oprobe', '--network', 'demo', 'busybox', 'sleep', '600']);
      for (const c of ['probe', 'oprobe']) {
        assert.equal(ask(c, IP[1], 2375, '/_ping'), '', `${c} → its host's API`);
        assert.equal(ask(c, IP[1], 2379, '/health'), '', `${c} → its host's etcd member`);
        // Through its host to the other's: the cluster's control plane (etcd's peer port too).
        assert.equal(ask(c, IP[2], 2375, '/_ping'), '', `${c} → host 2's API`);
        assert.equal(ask(c, IP[2], 2379, '/health'), '', `${c} → host 2's etcd member`);
        assert.equal(ask(c, IP[2], 2380, '/members'), '', `${c} → host 2's etcd peer port`);
        assert.match(
          ask(c, IP[2], 5000, '/not-counted'),
          /^HTTP\/1\.\d 404/,
          `${c} → host 2's port 5000`,
        );
      }
      // The API and etcd themselves still answer, from another host.
      assert.equal(lab.exec(2, ['curl', '-s', `http://${IP[1]}:2375/_ping`]).stdout, 'OK');
      assert.match(lab.exec(1, ['curl', '-s', `http://${IP[2]}:2379/health`]).stdout, /true/);
    });

    it('keeps them off after another program flushes the ruleset: the control plane comes back too', async () => {
      const control = () => lab.exec(1, ['nft', 'list', 'set', 'inet', 'berth', 'control4']).stdout;
      const host2 = /192\.168\.205\.11 \. 2375/;
      assert.match(control(), host2);
      assert.equal(lab.exec(1, ['nft', 'flush', 'ruleset']).status, 0);
      for (let i = 0; i < 50 && !host2.test(control()); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const e of ['192.168.205.11 . 2375', '192.168.205.11 . 2379', '192.168.205.11 . 2380']) {
        assert.ok(control().includes(e), `${e} in ${control()}`);
      }
      assert.equal(ask('probe', IP[2], 2375, '/_ping'), '', "probe → host 2's API");
      assert.equal(ask('probe', IP[1], 2379, '/health'), '', "probe → its host's etcd member");
    });
  },
);
