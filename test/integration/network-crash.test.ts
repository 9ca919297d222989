/**
 * The bridge issue's crash test: berthd is SIGKILLed at random points while
 * networks are created and removed and containers attached and detached.
 * After every restart the store and the kernel must agree — every veth on a
 * Berth bridge belongs to a ready endpoint, every endpoint's veth and address
 * exist, every address has its endpoint, no address is held twice, and the
 * rest test/helpers/leaks.ts checks (bridges, nft sets and maps, mounts,
 * namespaces, runtime containers, names) — and after removing everything
 * nothing is left.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';
import { inconsistencies, leftovers, settle, storeState } from '../helpers/leaks.js';

let env: LabEnv;
const ROUNDS = Number(process.env.BERTH_CRASH_ROUNDS ?? 50);

/** Store and kernel agree (test/helpers/leaks.ts), once the kernel has caught up. */
async function checkConsistent(round: number, check = inconsistencies): Promise<void> {
  assert.deepEqual(await settle(() => check(env)), [], `round ${round}`);
}

/** Runs a burst of network operations through the docker CLI; it dies with the daemon. */
function burst(i: number) {
  const d = `DOCKER_HOST=${env.daemon.env.DOCKER_HOST} docker`;
  const script = [
    `${d} network create c${i}`,
    `${d} run -d --name x${i} --network c${i} -p ${20000 + i}:80 busybox sleep 1000`,
    `${d} network connect bridge x${i}`,
    `${d} network disconnect c${i} x${i}`,
    `${d} rm -f x${i}`,
    `${d} network rm c${i}`,
    `${d} run -d --name y${i} -p ${30000 + i}:80/udp -p ${30000 + i}:80 busybox sleep 1000`,
  ].join('; ');
  return spawn('sh', ['-c', script], { stdio: 'ignore' });
}

describe('SIGKILL of berthd during network operations', () => {
  before(async () => {
    env = await labWithDaemons();
  });
  after(async () => {
    await env?.destroy();
  });

  it(`leaves store and kernel consistent at ${ROUNDS} random kill points, then nothing behind`, async () => {
    let progressed = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const child = burst(i);
      // Spread the kill points over the whole burst (it takes ~300 ms uninterrupted).
      await new Promise((r) => setTimeout(r, Math.random() * 350));
      await env.daemon.stop('SIGKILL');
      child.kill('SIGKILL');
      env.daemon = await env.lab.startDaemon(env.lab.hosts[0]!);
      env.daemons[0] = env.daemon;
      await checkConsistent(i);
      if (storeState(env.daemon.dataRoot).eps.length > 0) progressed++;
    }
    // The kills must have landed while endpoints existed, or this test proves nothing.
    assert.ok(progressed >= Math.min(5, ROUNDS / 4), `only ${progressed} rounds had endpoints`);
    const ids = env.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
    if (ids.length) assert.equal(env.docker(['rm', '-f', ...ids]).status, 0);
    assert.equal(env.docker(['network', 'prune', '-f']).status, 0);
    // Links are deleted in the background, a few ms after the commands return.
    await checkConsistent(ROUNDS, leftovers);
    assert.equal(env.docker(['network', 'ls', '-q']).stdout.trim().split('\n').length, 3);
  });
});
