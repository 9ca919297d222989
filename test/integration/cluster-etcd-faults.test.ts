// A three-host cluster when its etcd members fail (issue 13 item 9): with
// one member of three down everything works; with all down the containers
// keep talking across hosts (the data plane is static), global operations
// fail at once with a clear error, local ones work; and all of it comes back
// by itself when etcd does. Members are killed (a crash) and started again
// from their data directories. Needs root and etcd.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Lab, type LabDaemon } from '../../src/lab/lab.js';
import { which } from '../../src/lab/proc.js';

const ready = process.getuid?.() === 0 && !!which('etcd') && !!which('etcdctl');
/** A global operation with the store down must fail within this, not hang. */
const FAIL_FAST_MS = 10_000;

describe('a 3-host cluster when etcd fails', { skip: !ready && 'needs root and etcd' }, () => {
  let lab: Lab;
  const d: LabDaemon[] = [];

  const docker = (h: number, args: string[]) => {
    const t0 = Date.now();
    const r = spawnSync('docker', args, {
      encoding: 'utf8',
      env: { ...process.env, ...d[h - 1]!.env },
      timeout: 60_000,
    });
    return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim(), ms: Date.now() - t0 };
  };
  const ok = (h: number, args: string[]) => {
    const r = docker(h, args);
    assert.equal(r.status, 0, `${args.join(' ')} on host ${h}: ${r.err}`);
    return r.out;
  };
  const ipOf = (h: number, name: string) =>
    ok(h, ['inspect', '-f', '{{.NetworkSettings.Networks.ov.IPAddress}}', name]);
  const pings = (h: number, from: string, to: string) => {
    const p = docker(h, ['exec', from, 'ping', '-c1', '-W2', to]);
    assert.equal(p.status, 0, `${from} -> ${to}: ${p.out} ${p.err}`);
  };
  const sleeper = (h: number, name: string, net: string) =>
    ok(h, ['run', '-d', '--name', name, '--network', net, 'busybox', 'sleep', '3600']);

  before(async () => {
    lab = await Lab.create({
      name: `ef${randomBytes(2).toString('hex')}`,
      hosts: 3,
      cluster: true,
    });
    for (const h of [1, 2, 3]) {
      d.push(await lab.startDaemon(h, { args: lab.clusterArgs(h), timeoutMs: 30_000 }));
    }
    ok(1, ['network', 'create', '-d', 'overlay', 'ov']);
    sleeper(1, 'c1', 'ov');
    sleeper(2, 'c2', 'ov');
  });
  after(async () => {
    for (const x of d) await x.stop('SIGKILL').catch(() => undefined);
    await lab?.destroy();
  });

  it('works on with one member of three down', async () => {
    await lab.stopEtcdMembers([3]);
    try {
      ok(3, ['network', 'create', '-d', 'overlay', 'ov2']);
      sleeper(3, 'c3', 'ov');
      pings(1, 'c1', ipOf(3, 'c3'));
      pings(3, 'c3', 'c2');
      ok(3, ['rm', '-f', 'c3']);
      ok(2, ['network', 'rm', 'ov2']);
    } finally {
      await lab.startEtcdMembers([3]);
    }
  });

  it('with every member down: traffic flows, global operations fail at once, local ones work', async () => {
    await lab.stopEtcdMembers([1, 2, 3]);
    // The data plane and the resolvers' records are the hosts' own.
    pings(1, 'c1', ipOf(2, 'c2'));
    pings(2, 'c2', 'c1');
    for (const [h, args] of [
      [1, ['network', 'create', '-d', 'overlay', 'ovx']],
      [2, ['run', '-d', '--name', 'cx', '--network', 'ov', 'busybox', 'sleep', '3600']],
      [3, ['network', 'rm', 'ov']],
    ] as const) {
      const r = docker(h, [...args]);
      assert.notEqual(r.status, 0, `${args.join(' ')} with etcd down`);
      assert.ok(r.ms < FAIL_FAST_MS, `${args.join(' ')} took ${r.ms} ms`);
      assert.match(r.err, /cluster store|etcd/i, r.err);
    }
    // A container whose start failed keeps nothing of the overlay.
    docker(2, ['rm', '-f', 'cx']);
    ok(1, ['run', '--rm', 'busybox', 'true']);
    ok(1, ['network', 'create', 'local1']);
    sleeper(1, 'l1', 'local1');
    ok(1, ['rm', '-f', 'l1']);
    ok(1, ['network', 'rm', 'local1']);
  });

  it('comes back by itself when etcd does', async () => {
    await lab.startEtcdMembers([1, 2, 3]);
    // Each host's global operations come back by themselves (each host's
    // client retries a member it gave up on within a second).
    const t0 = Date.now();
    for (const [h, name] of [
      [1, 'ovy'],
      [3, 'ovz'],
    ] as const) {
      while (docker(h, ['network', 'create', '-d', 'overlay', name]).status !== 0) {
        assert.ok(
          Date.now() - t0 < 30_000,
          `global operations on host ${h} did not come back in 30 s`,
        );
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    sleeper(3, 'c4', 'ov');
    pings(1, 'c1', ipOf(3, 'c4'));
    pings(3, 'c4', 'c1');
    const nodes = lab.etcdctl(1, ['get', '--prefix', '--keys-only', '/berth/nodes/']);
    assert.equal(nodes.stdout.split('\n').filter(Boolean).length, 3, nodes.stdout);
    // No endpoint of the failed run was left in the store.
    const eps = lab.etcdctl(1, ['get', '--prefix', '/berth/endpoints/']);
    const names = eps.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => (JSON.parse(l) as { Name: string }).Name)
      .sort();
    assert.deepEqual(names, ['c1', 'c2', 'c4']);
  });
});
