/**
 * Automatic subnets: Docker's default pools (31 networks, then Docker's
 * message) and the daemon flags --bip and --default-address-pool.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { apiCall } from '../helpers/api.js';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

const envs: LabEnv[] = [];

/**
 * Waits until the kernel has freed the lab namespaces. Tearing down a
 * namespace with thousands of bridges takes this kernel a minute or more
 * (per-device work that grows with the device count), and meanwhile it
 * blocks the creation of other namespaces: the next tests' labs would time
 * out. A probe namespace is created (it waits for the cleanup) until two in a
 * row come quickly.
 */
async function kernelSettled(): Promise<void> {
  const probe = `bp${randomBytes(3).toString('hex')}`;
  let quick = 0;
  while (quick < 2) {
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = Date.now();
    const r = spawnSync('ip', ['netns', 'add', probe], { timeout: 600_000 });
    spawnSync('ip', ['netns', 'del', probe]);
    assert.equal(r.status, 0, String(r.stderr));
    quick = Date.now() - t0 < 200 ? quick + 1 : 0;
  }
}

/** One Engine API call on the daemon's socket. */
const api = (env: LabEnv, method: string, path: string, body?: unknown) =>
  apiCall(`unix://${env.daemon.socket}`, method, path, body);

describe('address pools', () => {
  after(async () => {
    for (const e of envs) await e.destroy();
    await kernelSettled();
  });

  it("the default pools give 30 user networks in Docker's order, then fail with Docker's message", async () => {
    const env = await labWithDaemons();
    envs.push(env);
    const subnets: string[] = [];
    for (let i = 0; i < 30; i++) {
      const r = env.docker(['network', 'create', `n${i}`]);
      assert.equal(r.status, 0, r.stderr);
      subnets.push(
        env
          .docker(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', `n${i}`])
          .stdout.trim(),
      );
    }
    assert.deepEqual(subnets.slice(0, 3), ['172.18.0.0/16', '172.19.0.0/16', '172.20.0.0/16']);
    assert.equal(subnets[13], '172.31.0.0/16');
    assert.equal(subnets[14], '192.168.0.0/20');
    assert.equal(subnets[29], '192.168.240.0/20');
    const r = env.docker(['network', 'create', 'one-too-many']);
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr,
      /could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network/,
    );
    assert.doesNotMatch(env.docker(['network', 'ls']).stdout, /one-too-many/);
  });

  it('--bip moves the default bridge; --default-address-pool replaces the pools', async () => {
    const env = await labWithDaemons({
      args: ['--bip', '10.77.0.1/24', '--default-address-pool', 'base=10.128.0.0/9,size=24'],
    });
    envs.push(env);
    assert.equal(
      env.docker(['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'bridge']).stdout.trim(),
      '[{"Subnet":"10.77.0.0/24","Gateway":"10.77.0.1"}]',
    );
    assert.match(
      env.inHost(['ip', '-o', '-4', 'addr', 'show', 'berth0']).stdout,
      /inet 10\.77\.0\.1\/24/,
    );
    for (const [i, want] of ['10.128.0.0/24', '10.128.1.0/24'].entries()) {
      assert.equal(env.docker(['network', 'create', `p${i}`]).status, 0);
      assert.equal(
        env
          .docker(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', `p${i}`])
          .stdout.trim(),
        want,
      );
    }
    const r = env.docker(['run', '--rm', 'busybox', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
    assert.match(r.stdout, /inet 10\.77\.0\.2\/24/);
  });

  it('--default-address-pool base=10.128.0.0/9,size=24 gives 4096+ working networks', async () => {
    const env = await labWithDaemons({
      args: ['--default-address-pool', 'base=10.128.0.0/9,size=24'],
    });
    envs.push(env);
    const N = 4100;
    for (let i = 0; i < N; i++) {
      const r = await api(env, 'POST', '/networks/create', { Name: `m${i}`, CheckDuplicate: true });
      assert.equal(r.status, 201, `network ${i}: ${r.text}`);
    }
    // The default bridge took the pool's first /24 (as Docker's docker0 does
    // without --bip), so network N-1 has /24 number N = 4100 = 16 * 256 + 4.
    const r = env.docker([
      'run',
      '--rm',
      '--network',
      `m${N - 1}`,
      'busybox',
      'ip',
      '-o',
      '-4',
      'addr',
      'show',
      'eth0',
    ]);
    assert.match(r.stdout, /inet 10\.144\.4\.2\/24/, r.stderr);
    const ls = await api(env, 'GET', '/networks');
    assert.equal((JSON.parse(ls.text) as unknown[]).length, N + 3);
    assert.equal(
      env.inHost(['ip', '-o', 'link', 'show', 'type', 'bridge']).stdout.trim().split('\n').length,
      N + 1,
    );
  });
});
