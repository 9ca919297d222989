/**
 * Restart policies against removal, stop and kill (the hardening issue's
 * defect 10): a crash-looping container that is removed stays removed, also
 * after a daemon restart, and its name is free again; no two containers ever
 * hold one name (docker-compose scaling a crash-looping service down); a
 * container stopped or killed between two restarts stays stopped. The races
 * are timing-dependent, so each case runs several rounds.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labWithDaemons, type Cmd, type LabEnv } from '../helpers/lab-daemon.js';
import { containerStore } from '../helpers/store-view.js';

let env: LabEnv;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const mountsUnder = (dir: string) =>
  readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[1]?.startsWith(dir + '/'));

async function restartDaemon(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  await env.daemon.stop(signal);
  env.daemon = await env.lab.startDaemon(env.lab.hosts[0]!);
  env.daemons[0] = env.daemon;
}

/** Names of every container the daemon lists (`ps -a`). */
function allNames(): string[] {
  const r = env.docker(['ps', '-a', '--format', '{{.Names}}']);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).sort();
}

/** Nothing a container leaves while it runs: runc state, mounts, endpoints. */
function assertNothingRuns(where: string): void {
  const runc = spawnSync('runc', ['--root', `${env.daemon.execRoot}/runc`, 'list', '-q'], {
    encoding: 'utf8',
  });
  assert.equal(runc.stdout.trim(), '', `${where}: runc containers left`);
  assert.deepEqual(mountsUnder(env.lab.dir), [], `${where}: mounts left`);
}

/** Best effort: what an earlier, failed case left must not fail the next one. */
function cleanSlate(): void {
  const ids = env.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
  if (ids.length) env.docker(['rm', '-f', ...ids]);
  env.docker(['network', 'prune', '-f']);
}

function assertStoreConsistent(where: string): void {
  assert.deepEqual(containerStore(env.daemon.dataRoot).problems, [], where);
}

describe('restart policies against rm, stop and kill', () => {
  before(async () => {
    env = await labWithDaemons();
  });
  after(async () => {
    await env?.destroy();
  });

  it('a crash-looping container backs off and shows as restarting, as Docker 20.10', async () => {
    cleanSlate();
    const d = env.docker;
    assert.equal(
      d(['run', '-d', '--name', 'bo', '--restart', 'always', 'busybox', 'false']).status,
      0,
    );
    const state = () => {
      const r = d([
        'inspect',
        '-f',
        '{{.State.Status}} {{.State.Running}} {{.State.Restarting}} {{.RestartCount}}',
        'bo',
      ]);
      const [status = '', running = '', restarting = '', count = ''] = r.stdout.trim().split(' ');
      return { status, running, restarting, count: Number(count) };
    };
    await sleep(2500);
    // Delays of 100, 200, 400, 800 ms...: about five restarts in 2.5 s (a
    // fixed 100 ms delay made a dozen), and most of the time is spent waiting.
    let s = state();
    for (let i = 0; i < 20 && s.status !== 'restarting'; i++) {
      await sleep(20);
      s = state();
    }
    assert.deepEqual(
      { ...s, count: 0 },
      { status: 'restarting', running: 'true', restarting: 'true', count: 0 },
    );
    assert.ok(s.count >= 3 && s.count <= 6, `${s.count} restarts in 2.5 s`);
    assert.match(d(['ps', '--format', '{{.Names}} {{.Status}}']).stdout, /^bo Restarting \(1\) /m);
    const exec = d(['exec', 'bo', 'true']);
    assert.match(exec.stderr, /is restarting, wait until the container is running/);
    // A daemon that went away while it waited restarts it when it is back.
    await restartDaemon('SIGKILL');
    await sleep(1000);
    assert.ok(state().count > s.count, 'restarted after the daemon restart');
    assert.equal(d(['rm', '-f', 'bo']).status, 0);
    // on-failure:N gives up after N restarts.
    assert.equal(
      d(['run', '-d', '--name', 'of', '--restart', 'on-failure:2', 'busybox', 'false']).status,
      0,
    );
    await sleep(1500);
    assert.equal(
      d(['inspect', '-f', '{{.State.Status}} {{.RestartCount}}', 'of']).stdout.trim(),
      'exited 2',
    );
    assert.equal(d(['rm', 'of']).status, 0);
    assertNothingRuns('after the backoff case');
  });

  it('a removed crash-looping container stays removed, also after a daemon restart', async () => {
    cleanSlate();
    const d = env.docker;
    for (let round = 0; round < 4; round++) {
      const where = `round ${round}`;
      const run = d(['run', '-d', '--name', 'xx', '--restart', 'always', 'busybox', 'false']);
      assert.equal(run.status, 0, `${where}: ${run.stderr}`);
      await sleep(1500 + Math.random() * 1000);
      const rm = d(['rm', '-f', 'xx']);
      assert.equal(rm.status, 0, `${where}: rm -f: ${rm.stderr}`);
      // Long enough for a restart that was pending to have happened.
      await sleep(1200);
      assert.deepEqual(allNames(), [], `${where}: before the daemon restart`);
      assertNothingRuns(`${where}, before the daemon restart`);
      assertStoreConsistent(`${where}, before the daemon restart`);
      await restartDaemon(round % 2 ? 'SIGKILL' : 'SIGTERM');
      assert.deepEqual(allNames(), [], `${where}: after the daemon restart`);
      assertStoreConsistent(`${where}, after the daemon restart`);
      assertNothingRuns(`${where}, after the daemon restart`);
      const again = d(['run', '--name', 'xx', 'busybox', 'true']);
      assert.equal(again.status, 0, `${where}: the name is free again: ${again.stderr}`);
      assert.equal(d(['rm', 'xx']).status, 0);
    }
  });

  it('docker-compose scaling a crash-looping service down leaves no container and no name twice', async () => {
    cleanSlate();
    const dir = join(env.lab.dir, 'crashloop');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'docker-compose.yml'),
      [
        "version: '2.4'",
        'services:',
        '  s:',
        '    image: busybox',
        "    command: ['sh', '-c', 'sleep 0.1; exit 3']",
        '    restart: unless-stopped',
        '',
      ].join('\n'),
    );
    const compose = (args: string[]): Cmd => {
      const r = spawnSync('docker-compose', ['--project-name', 'cl', ...args], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, DOCKER_HOST: env.daemon.env.DOCKER_HOST },
      });
      return {
        status: r.status,
        stdout: r.stdout ?? '',
        stderr: (r.stderr ?? '') + (r.error ?? ''),
      };
    };
    for (let round = 0; round < 2; round++) {
      const where = `round ${round}`;
      const up = compose(['up', '-d', '--scale', 's=3']);
      assert.equal(up.status, 0, `${where}: ${up.stdout}${up.stderr}`);
      await sleep(1000 + Math.random() * 1000);
      const down0 = compose(['up', '-d', '--scale', 's=0']);
      assert.equal(down0.status, 0, `${where}: scale 0: ${down0.stdout}${down0.stderr}`);
      const down = compose(['down', '-t', '1']);
      assert.equal(down.status, 0, `${where}: down: ${down.stdout}${down.stderr}`);
      await sleep(1200);
      assert.deepEqual(allNames(), [], `${where}: before the daemon restart`);
      assertStoreConsistent(`${where}, before the daemon restart`);
      await restartDaemon('SIGKILL');
      assert.deepEqual(allNames(), [], `${where}: after the daemon restart`);
      assertStoreConsistent(`${where}, after the daemon restart`);
      assertNothingRuns(`${where}, after the daemon restart`);
    }
  });

  for (const how of ['stop', 'kill'] as const) {
    it(`docker ${how} of a crash-looping container stops it for good`, async () => {
      cleanSlate();
      const d = env.docker;
      for (let round = 0; round < 4; round++) {
        const where = `${how}, round ${round}`;
        const run = d(['run', '-d', '--name', 'yy', '--restart', 'always', 'busybox', 'false']);
        assert.equal(run.status, 0, `${where}: ${run.stderr}`);
        await sleep(1000 + Math.random() * 1000);
        const r = d(how === 'stop' ? ['stop', '-t', '1', 'yy'] : ['kill', 'yy']);
        assert.equal(r.status, 0, `${where}: ${r.stderr}`);
        const state = () =>
          d(['inspect', '-f', '{{.State.Status}} {{.RestartCount}}', 'yy']).stdout.trim();
        const first = state();
        assert.match(first, /^exited \d+$/, where);
        await sleep(1500);
        assert.equal(state(), first, `${where}: no restart after ${how}`);
        assertNothingRuns(where);
        assert.equal(d(['rm', 'yy']).status, 0);
      }
    });
  }
});
