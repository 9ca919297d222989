// The cluster lab (issue 13): an underlay switch with the hosts at
// 192.168.205.10, .11, an etcd member per host forming one cluster, the world
// reachable through the underlay, and teardown after the owner is SIGKILLed.
// Then berthd's API over TCP from another lab host: plain with --tls=false,
// mutual TLS with throwaway certificates, a client without one refused, and
// plain TCP on a network address refused at start. Needs root.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../../src/lab/lab.js';
import { isAlive, which } from '../../src/lab/proc.js';
import { makeCerts } from '../helpers/certs.js';

const isRoot = process.getuid?.() === 0;
const ready = isRoot && !!which('etcd') && !!which('etcdctl');
const run = `hc${randomBytes(2).toString('hex')}`;
const created = new Set<string>();
const PING = which('ping') ? ['ping'] : ['busybox', 'ping'];

describe('cluster lab', { skip: !ready && 'needs root, etcd and etcdctl' }, () => {
  let lab: Lab;

  before(async () => {
    lab = await Lab.create({ name: `${run}a`, hosts: 2, cluster: true });
    created.add(lab.name);
  });

  after(async () => {
    const errors: string[] = [];
    for (const name of created) await Lab.remove(name).catch((e: Error) => errors.push(e.message));
    assert.deepEqual(errors, []);
  });

  it('puts the hosts on the seed underlay, with an etcd member each', () => {
    assert.deepEqual(
      lab.hosts.map((h) => h.ip),
      ['192.168.205.10', '192.168.205.11'],
    );
    assert.equal(lab.world.ip, '192.168.205.1');
    assert.ok(existsSync(`/run/netns/${lab.name}-u`));
    assert.match(
      lab.exec(2, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']).stdout,
      /inet 192\.168\.205\.11\/24/,
    );
    assert.deepEqual(lab.etcdEndpoints(), [
      'http://192.168.205.10:2379',
      'http://192.168.205.11:2379',
    ]);
    const state = JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8'));
    assert.equal(state.cluster.etcd.length, 2);
    for (const e of state.cluster.etcd) assert.ok(isAlive(e.pid, e.start));
  });

  it('has a healthy etcd cluster of two members (S17)', () => {
    const health = lab.etcdctl(2, ['endpoint', 'health']);
    assert.equal(health.status, 0, health.stderr);
    assert.equal((health.stdout + health.stderr).match(/is healthy/g)?.length, 2);
    const members = lab.etcdctl(1, ['member', 'list']);
    assert.equal(members.stdout.trim().split('\n').length, 2);
    const put = lab.etcdctl(1, ['put', '/hc/probe', 'x']);
    assert.equal(put.status, 0, put.stderr);
    assert.match(lab.etcdctl(2, ['get', '/hc/probe']).stdout, /x/);
  });

  it('lets hosts reach each other across the underlay and reach the world', () => {
    const pairs: [string | number, string][] = [
      [1, '192.168.205.11'],
      [2, '192.168.205.10'],
      [1, '192.168.205.1'],
      [2, '203.0.113.1'],
      ['world', '192.168.205.10'],
    ];
    for (const [from, to] of pairs) {
      const r = lab.exec(from, [...PING, '-c1', '-W1', to], { timeoutMs: 5000 });
      assert.equal(r.status, 0, `${from} -> ${to}: ${r.stdout}${r.stderr}`);
    }
  });

  it('serves the API over TCP to another host: plain with --tls=false, and shows the cluster flags', async () => {
    const [h1] = lab.hosts;
    const d = await lab.startDaemon(h1!, {
      args: [...lab.clusterArgs(1), '-H', 'tcp://192.168.205.10:2375', '--tls=false'],
      timeoutMs: 30_000,
    });
    try {
      // The API, not `docker info`: a newer docker CLI no longer knows these 20.10 fields.
      const info = lab.exec(2, ['curl', '-sf', 'http://192.168.205.10:2375/v1.41/info']);
      assert.equal(info.status, 0, info.stderr);
      const i = JSON.parse(info.stdout);
      assert.equal(i.ClusterStore, 'etcd://192.168.205.10:2379,192.168.205.11:2379');
      assert.equal(i.ClusterAdvertise, '192.168.205.10:2375');
      assert.match(
        i.Warnings.join('\n'),
        /API is accessible on http:\/\/192\.168\.205\.10:2375 without encryption/,
      );
      const ps = lab.exec(2, ['docker', '-H', 'tcp://192.168.205.10:2375', 'network', 'ls']);
      assert.equal(ps.status, 0, ps.stderr);
      assert.match(ps.stdout, /bridge/);
    } finally {
      await d.stop();
    }
  });

  it('refuses plain TCP on a network address at start, saying how to allow it', () => {
    const r = lab.exec(1, [
      new URL('../../../bin/berthd', import.meta.url).pathname,
      '-H',
      'tcp://192.168.205.10:2375',
      '--data-root',
      join(lab.hosts[0]!.dir, 'x'),
    ]);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /refusing to serve the API on tcp:\/\/192\.168\.205\.10:2375 without TLS.*--tls=false/s,
    );
  });

  it('serves mutual TLS: a client with a certificate the CA signed works, one without is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hc-certs-'));
    try {
      makeCerts(dir, '192.168.205.10');
      const d = await lab.startDaemon(1, {
        args: [
          ...['-H', 'tcp://192.168.205.10:2376', '--tlsverify'],
          ...['--tlscacert', join(dir, 'ca.pem'), '--tlscert', join(dir, 'server-cert.pem')],
          ...['--tlskey', join(dir, 'server-key.pem')],
        ],
        timeoutMs: 30_000,
      });
      try {
        const docker = ['docker', '-H', 'tcp://192.168.205.10:2376'];
        const tls = [
          '--tlsverify',
          '--tlscacert',
          join(dir, 'ca.pem'),
          '--tlscert',
          join(dir, 'cert.pem'),
          '--tlskey',
          join(dir, 'key.pem'),
        ];
        const ok = lab.exec(2, [...docker, ...tls, 'version', '--format', '{{.Server.Version}}']);
        assert.equal(ok.status, 0, ok.stderr);
        const info = lab.exec(2, [...docker, ...tls, 'info', '--format', '{{json .Warnings}}']);
        assert.equal(info.stdout.trim(), '[]');
        const noCert = lab.exec(
          2,
          [...docker, '--tlsverify', '--tlscacert', join(dir, 'ca.pem'), 'version'],
          {
            env: { DOCKER_CERT_PATH: join(dir, 'none') },
          },
        );
        assert.notEqual(noCert.status, 0);
        assert.match(noCert.stderr, /certificate|tls/i);
        const plain = lab.exec(2, [...docker, 'version']);
        assert.notEqual(plain.status, 0);
      } finally {
        await d.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('removes a cluster lab whose owner was SIGKILLed: etcd, namespaces, files', async () => {
    const name = `${run}c`;
    created.add(name);
    const labUrl = new URL('../../src/lab/lab.js', import.meta.url).href;
    const script = `
      import { Lab } from ${JSON.stringify(labUrl)};
      const lab = await Lab.create({ name: ${JSON.stringify(name)}, hosts: 2, cluster: true });
      console.log('up');
      process.stdin.on('close', () => process.exit(0)).resume();
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => c.toString().includes('up') && resolve());
      child.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGKILL');
    await exited;
    const state = JSON.parse(readFileSync(`/var/lib/berth-lab/${name}/lab.json`, 'utf8'));
    const etcd = state.cluster.etcd as { pid: number; start: number }[];
    assert.equal(etcd.length, 2);
    for (const e of etcd) assert.ok(isAlive(e.pid, e.start), 'etcd should outlive its owner');
    assert.ok(Lab.list().find((l) => l.name === name)?.orphan);
    // Only this lab: other labs on the machine are not ours to clean.
    await Lab.remove(name);
    for (const e of etcd) assert.ok(!isAlive(e.pid, e.start), 'etcd survived');
    for (const ns of ['w', 'u', 'h1', 'h2']) assert.ok(!existsSync(`/run/netns/${name}-${ns}`), ns);
    assert.ok(!existsSync(`/var/lib/berth-lab/${name}`));
  });
});
