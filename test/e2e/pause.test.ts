/**
 * `docker pause` / `unpause` through the stock docker client (issue 14, item
 * 5): the cgroup freezer really holds the processes (freezer.state FROZEN,
 * the container's output stops), inspect/ps/filters/events say so, and
 * exec, attach, start, stop, rm and healthchecks behave on a paused
 * container as dockerd 20.10's do.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { eventually, labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
const TICK = 'while true; do echo tick; sleep 0.05; done';

function id(name: string): string {
  const r = env.docker(['inspect', '-f', '{{.Id}}', name]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

function freezerState(cid: string): string {
  return readFileSync(`/sys/fs/cgroup/freezer/berth/${cid}/freezer.state`, 'utf8').trim();
}

function logLines(name: string): number {
  return env.docker(['logs', name]).stdout.split('\n').filter(Boolean).length;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('pause and unpause', () => {
  before(async () => {
    env = await labWithDaemons();
  });
  after(async () => {
    await env?.destroy();
  });

  it('freezes the processes and thaws them, as inspect, ps, filters and events show', async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    assert.equal(env.docker(['run', '-d', '--name', 'p1', 'busybox', 'sh', '-c', TICK]).status, 0);
    const cid = id('p1');
    const pause = env.docker(['pause', 'p1']);
    assert.equal(pause.status, 0, pause.stderr);
    assert.equal(pause.stdout, 'p1\n');
    assert.equal(freezerState(cid), 'FROZEN');
    // Frozen processes write nothing more.
    const frozenAt = logLines('p1');
    await sleep(500);
    assert.equal(logLines('p1'), frozenAt, 'a paused container made output');

    const st = env.docker([
      'inspect',
      '-f',
      '{{.State.Status}} {{.State.Paused}} {{.State.Running}}',
      'p1',
    ]);
    assert.equal(st.stdout.trim(), 'paused true true');
    assert.match(
      env.docker(['ps', '--format', '{{.Status}}', '-f', 'name=p1']).stdout,
      /^Up .* \(Paused\)$/m,
    );
    assert.equal(env.docker(['ps', '-q', '-f', 'status=paused']).stdout.trim(), cid.slice(0, 12));
    assert.equal(env.docker(['ps', '-q', '-f', 'status=running']).stdout.trim(), '');

    const again = env.docker(['pause', 'p1']);
    assert.equal(again.status, 1);
    assert.match(again.stderr, new RegExp(`Container ${cid} is already paused`));

    const exec = env.docker(['exec', 'p1', 'true']);
    assert.notEqual(exec.status, 0);
    assert.match(
      exec.stderr,
      /Error response from daemon: Container p1 is paused, unpause the container before exec/,
    );
    const start = env.docker(['start', 'p1']);
    assert.match(start.stderr, /cannot start a paused container, try unpause instead/);
    const rm = env.docker(['rm', 'p1']);
    assert.equal(rm.status, 1);
    assert.match(
      rm.stderr,
      new RegExp(
        `You cannot remove a paused container ${cid}. Unpause and then stop the container before attempting removal or force remove`,
      ),
    );

    const unpause = env.docker(['unpause', 'p1']);
    assert.equal(unpause.status, 0, unpause.stderr);
    assert.equal(freezerState(cid), 'THAWED');
    await eventually(() => assert.ok(logLines('p1') > frozenAt + 3, 'output resumes'), 5000);
    assert.equal(env.docker(['inspect', '-f', '{{.State.Status}}', 'p1']).stdout.trim(), 'running');
    assert.equal(env.docker(['exec', 'p1', 'echo', 'ok']).stdout, 'ok\n');
    const un = env.docker(['unpause', 'p1']);
    assert.equal(un.status, 1);
    assert.match(un.stderr, new RegExp(`Container ${cid} is not paused`));

    const ev = env.docker([
      'events',
      '--since',
      since,
      '--until',
      String(Math.ceil(Date.now() / 1000) + 1),
      '--filter',
      'container=p1',
      '--format',
      '{{.Action}}',
    ]);
    const acts = ev.stdout.split('\n').filter((a) => a === 'pause' || a === 'unpause');
    assert.deepEqual(acts, ['pause', 'unpause']);
  });

  it('stops, kills and force-removes a paused container', async () => {
    assert.equal(env.docker(['run', '-d', '--name', 'p2', 'busybox', 'sh', '-c', TICK]).status, 0);
    assert.equal(env.docker(['pause', 'p2']).status, 0);
    const stop = env.docker(['stop', '-t', '1', 'p2']);
    assert.equal(stop.status, 0, stop.stderr);
    assert.equal(
      env.docker(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'p2']).stdout.trim(),
      'exited false',
    );
    // Started again, it is not paused.
    assert.equal(env.docker(['start', 'p2']).status, 0);
    assert.equal(env.docker(['inspect', '-f', '{{.State.Paused}}', 'p2']).stdout.trim(), 'false');
    assert.equal(env.docker(['pause', 'p2']).status, 0);
    const kill = env.docker(['kill', 'p2']);
    assert.equal(kill.status, 0, kill.stderr);
    assert.equal(env.docker(['inspect', '-f', '{{.State.ExitCode}}', 'p2']).stdout.trim(), '137');

    assert.equal(env.docker(['run', '-d', '--name', 'p3', 'busybox', 'sh', '-c', TICK]).status, 0);
    const cid = id('p3');
    assert.equal(env.docker(['pause', 'p3']).status, 0);
    const rm = env.docker(['rm', '-f', 'p3']);
    assert.equal(rm.status, 0, rm.stderr);
    assert.equal(env.docker(['ps', '-aq', '-f', `id=${cid}`]).stdout.trim(), '');
  });

  it('runs no healthcheck probe while paused, and probes again after unpause', async () => {
    const r = env.docker([
      'run',
      '-d',
      '--name',
      'p4',
      '--health-cmd',
      'true',
      '--health-interval',
      '100ms',
      'busybox',
      'sh',
      '-c',
      TICK,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const lastProbe = () =>
      env
        .docker([
          'inspect',
          '-f',
          '{{with .State.Health}}{{range .Log}}{{.End}} {{end}}{{end}}',
          'p4',
        ])
        .stdout.trim();
    await eventually(() => assert.notEqual(lastProbe(), ''), 5000);
    // berth's own CLI this time.
    const bp = env.berth(['pause', 'p4']);
    assert.equal(bp.status, 0, bp.stderr);
    assert.equal(bp.stdout, 'p4\n');
    await sleep(300); // a probe under way when it paused may still finish
    const frozen = lastProbe();
    await sleep(700);
    assert.equal(lastProbe(), frozen, 'a probe ran while the container was paused');
    assert.equal(
      env.docker(['inspect', '-f', '{{.State.Health.Status}}', 'p4']).stdout.trim(),
      'healthy',
    );
    assert.equal(env.berth(['unpause', 'p4']).status, 0);
    await eventually(() => assert.notEqual(lastProbe(), frozen), 5000);
    assert.equal(env.docker(['rm', '-f', 'p4']).status, 0);
  });
});
