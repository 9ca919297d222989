/**
 * What berthd does with containers when it stops and starts (issue 14, item
 * 4), as dockerd 20.10: without --live-restore (the default) it stops them
 * with their stop signal when it stops, stops the ones a killed daemon left
 * running when it starts, and starts again those whose restart policy says
 * so — `always` even after a stop by hand, `unless-stopped` not after one,
 * `on-failure` after a failure, `no` never. With --live-restore they keep
 * running and are adopted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
// Ends on SIGTERM within a second with code 3 (a failure, for on-failure).
const TRAPS = "trap 'exit 3' TERM; while true; do sleep 1; done";

async function restartDaemon(signal: 'SIGTERM' | 'SIGKILL', args: string[]): Promise<void> {
  await env.daemon.stop(signal, 30_000);
  env.daemon = await env.lab.startDaemon(env.lab.hosts[0]!, { args });
  env.daemons[0] = env.daemon;
}

interface State {
  Status: string;
  Pid: number;
  ExitCode: number;
  StartedAt: string;
}

function state(name: string): State {
  const r = env.docker(['inspect', '-f', '{{json .State}}', name]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as State;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function run(name: string, policy: string): State {
  const r = env.docker([
    'run',
    '-d',
    '--name',
    name,
    '--restart',
    policy,
    'busybox',
    'sh',
    '-c',
    TRAPS,
  ]);
  assert.equal(r.status, 0, r.stderr);
  return state(name);
}

const OFF = ['--live-restore=false'];

describe('containers across a daemon stop and start (--live-restore)', () => {
  before(async () => {
    env = await labWithDaemons({ args: OFF });
  });
  after(async () => {
    await env?.destroy();
  });

  it('docker info tells whether live-restore is on', () => {
    const r = env.docker(['info', '-f', '{{.LiveRestoreEnabled}}']);
    assert.equal(r.stdout.trim(), 'false');
  });

  it('off: a stopping daemon stops its containers; the next starts them by policy', async () => {
    const before: Record<string, State> = {};
    for (const [n, p] of [
      ['no', 'no'],
      ['always', 'always'],
      ['unless', 'unless-stopped'],
      ['always-stopped', 'always'],
      ['unless-stopped', 'unless-stopped'],
      ['onfail', 'on-failure'],
    ] as const) {
      before[n] = run(n, p);
    }
    // Stopped by hand before the daemon goes.
    assert.equal(env.docker(['stop', 'always-stopped', 'unless-stopped']).status, 0);
    await restartDaemon('SIGTERM', OFF);
    for (const n of ['no', 'always', 'unless', 'onfail']) {
      assert.ok(!pidAlive(before[n]!.Pid), `${n}: its process ended with the daemon`);
    }
    assert.equal(state('no').Status, 'exited');
    assert.equal(state('no').ExitCode, 3, 'stopped with its stop signal (SIGTERM, trapped)');
    for (const n of ['always', 'unless', 'always-stopped', 'onfail']) {
      const s = state(n);
      assert.equal(s.Status, 'running', `${n} starts with the daemon`);
      assert.notEqual(s.Pid, before[n]!.Pid, `${n} is a new process`);
      assert.ok(pidAlive(s.Pid));
    }
    assert.equal(state('unless-stopped').Status, 'exited', 'unless-stopped stopped by hand stays');
    const ps = env.docker(['ps', '--format', '{{.Names}}']).stdout.split('\n').filter(Boolean);
    assert.deepEqual(ps.sort(), ['always', 'always-stopped', 'onfail', 'unless']);
  });

  it('off: what a killed daemon left running is stopped at start, then started by policy', async () => {
    const always = state('always');
    const no = env.docker(['start', 'no']);
    assert.equal(no.status, 0, no.stderr);
    const noPid = state('no').Pid;
    await restartDaemon('SIGKILL', OFF);
    assert.ok(!pidAlive(noPid), 'the policy-less container was stopped');
    assert.equal(state('no').Status, 'exited');
    const a = state('always');
    assert.equal(a.Status, 'running');
    assert.notEqual(a.Pid, always.Pid, 'stopped and started again');
  });

  it('on: the containers keep running across a kill and a stop, and are adopted', async () => {
    const a = state('always');
    // A daemon with --live-restore adopts what a killed one left...
    await restartDaemon('SIGKILL', ['--live-restore']);
    assert.equal(env.docker(['info', '-f', '{{.LiveRestoreEnabled}}']).stdout.trim(), 'true');
    // ...and leaves its containers running when it stops.
    await restartDaemon('SIGTERM', ['--live-restore']);
    const b = state('always');
    assert.equal(b.Status, 'running');
    assert.equal(b.Pid, a.Pid, 'the same process');
    assert.equal(b.StartedAt, a.StartedAt);
    assert.ok(pidAlive(a.Pid));
    assert.equal(state('unless-stopped').Status, 'exited');
    // Stopping by hand still works on the adopted container.
    assert.equal(env.docker(['stop', 'always']).status, 0);
    assert.ok(!pidAlive(a.Pid));
  });
});
