/**
 * Healthchecks through the stock docker client and docker-compose (issue 14,
 * item 3): probes run in the container, State.Health and its log, the
 * `(healthy)` status in ps and its filter, health_status events, timeouts,
 * the image's HEALTHCHECK and --no-healthcheck, dockerd's refusals, and
 * compose's `depends_on: condition: service_healthy`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiCall } from '../helpers/api.js';
import { FOREVER, MISSING_PROBE, RUNS } from '../helpers/health-scenario.js';
import { eventually, labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
const LOOP = FOREVER;

interface Health {
  Status: string;
  FailingStreak: number;
  Log: Array<{ Start: string; End: string; ExitCode: number; Output: string }>;
}

function health(name: string): Health | null {
  const r = env.docker(['inspect', '-f', '{{json .State.Health}}', name]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Health | null;
}

async function waitStatus(name: string, status: string, ms = 15_000): Promise<Health> {
  let h: Health | null = null;
  await eventually(() => {
    h = health(name);
    assert.equal(h?.Status, status, `health of ${name}: ${JSON.stringify(h)}`);
  }, ms);
  return h!;
}

describe('healthchecks', () => {
  before(async () => {
    env = await labWithDaemons();
  });
  after(async () => {
    await env?.destroy();
  });

  it('goes starting -> healthy -> unhealthy -> healthy with what the probe sees', async () => {
    // docker events, from before the container exists.
    const since = String(Math.floor(Date.now() / 1000) - 1);
    // Its failures before /tmp/ok exists do not count: no "unhealthy" first.
    const r = env.docker(RUNS.hc1);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(health('hc1')?.Status, 'starting');
    assert.match(
      env.docker(['ps', '--format', '{{.Status}}', '-f', 'name=hc1']).stdout,
      /\(health: starting\)/,
    );
    const ok = await waitStatus('hc1', 'healthy');
    const last = ok.Log[ok.Log.length - 1]!;
    assert.equal(last.ExitCode, 0);
    assert.equal(last.Output, 'fine\n', 'the probe ran in the container and its output is kept');
    assert.ok(ok.Log.length <= 5);
    assert.match(
      env.docker(['ps', '--format', '{{.Status}}', '-f', 'name=hc1']).stdout,
      /^Up .* \(healthy\)$/m,
    );
    const healthy = env.docker(['ps', '-q', '--filter', 'health=healthy']);
    assert.equal(healthy.stdout.trim(), r.stdout.trim().slice(0, 12));
    assert.equal(env.docker(['ps', '-q', '--filter', 'health=none']).stdout.trim(), '');

    assert.equal(env.docker(['exec', 'hc1', 'rm', '/tmp/ok']).status, 0);
    const bad = await waitStatus('hc1', 'unhealthy');
    assert.ok(bad.FailingStreak >= 2, JSON.stringify(bad));
    assert.equal(bad.Log[bad.Log.length - 1]!.ExitCode, 1);
    assert.match(bad.Log[bad.Log.length - 1]!.Output, /No such file or directory/);
    assert.equal(
      env.docker(['ps', '-q', '--filter', 'health=unhealthy']).stdout.trim(),
      r.stdout.trim().slice(0, 12),
    );

    assert.equal(env.docker(['exec', 'hc1', 'touch', '/tmp/ok']).status, 0);
    await waitStatus('hc1', 'healthy');
    const ev = env.docker([
      'events',
      '--since',
      since,
      '--until',
      String(Math.ceil(Date.now() / 1000) + 1),
      '--filter',
      'container=hc1',
      '--format',
      '{{.Action}}',
    ]);
    const statuses = ev.stdout.split('\n').filter((l) => l.startsWith('health_status'));
    assert.deepEqual(statuses, [
      'health_status: healthy',
      'health_status: unhealthy',
      'health_status: healthy',
    ]);
    // Each probe is an exec, as dockerd shows it.
    assert.match(ev.stdout, /^exec_start: \/bin\/sh -c cat \/tmp\/ok$/m);
    assert.match(ev.stdout, /^exec_die$/m);
  });

  it('a probe past its timeout is killed and fails with dockerd words', async () => {
    const r = env.docker(RUNS.hc2);
    assert.equal(r.status, 0, r.stderr);
    const h = await waitStatus('hc2', 'unhealthy');
    const last = h.Log[h.Log.length - 1]!;
    assert.equal(last.ExitCode, -1);
    // As 20.10: the words alone, none of the probe's output (docs/reference/docker-20.10-health.md).
    assert.equal(last.Output, 'Health check exceeded timeout (300ms)');
    // The killed probes do not pile up in the container.
    const ps = env.docker(['exec', 'hc2', 'ps', '-o', 'args']);
    assert.ok((ps.stdout.match(/sleep 30/g) ?? []).length <= 1, ps.stdout);
  });

  it('a command that is not there fails the probe with the runtime message', async () => {
    const r = env.docker([
      'run',
      '-d',
      '--name',
      'hc3',
      '--health-cmd',
      'true',
      '--health-interval',
      '100ms',
      '--health-retries',
      '1',
      '--health-start-period',
      '1ms',
      'busybox',
      'sh',
      '-c',
      LOOP,
    ]);
    assert.equal(r.status, 0, r.stderr);
    await waitStatus('hc3', 'healthy');
    // A CMD probe (exec form) of a missing binary, through the API as docker-py sends it.
    const c = await apiCall(
      env.daemon.env.DOCKER_HOST,
      'POST',
      '/containers/create?name=hc4',
      MISSING_PROBE,
    );
    assert.equal(c.status, 201, c.text);
    assert.equal(env.docker(['start', 'hc4']).status, 0);
    const h = await waitStatus('hc4', 'unhealthy');
    assert.equal(
      h.Log[h.Log.length - 1]!.Output,
      'OCI runtime exec failed: exec failed: unable to start container process: exec: "/nonexistent": stat /nonexistent: no such file or directory: unknown',
    );
    assert.equal(h.Log[h.Log.length - 1]!.ExitCode, -1);
  });

  it('a probe that leaves a process behind does not stall the monitor', async () => {
    const r = env.docker([
      'run',
      '-d',
      '--name',
      'hc9',
      '--health-cmd',
      'sleep 1000 & echo ok',
      '--health-interval',
      '100ms',
      '--health-timeout',
      '300ms',
      'busybox',
      'sh',
      '-c',
      LOOP,
    ]);
    assert.equal(r.status, 0, r.stderr);
    // Every probe ends (by its timeout at worst), so results keep coming.
    const h = await waitStatus('hc9', 'unhealthy', 10_000);
    assert.ok(h.Log.length >= 3, JSON.stringify(h));
    assert.equal(env.docker(['rm', '-f', 'hc9']).status, 0);
  });

  it('restarts from "starting", keeps the log, and stops probing when stopped', async () => {
    assert.equal(env.docker(['stop', '-t', '1', 'hc1']).status, 0);
    const stopped = health('hc1')!;
    // dockerd marks a stopped container unhealthy, its log kept.
    assert.equal(stopped.Status, 'unhealthy');
    assert.ok(stopped.Log.length > 0);
    assert.equal(
      env.docker(['ps', '-aq', '--filter', 'name=hc1', '--filter', 'health=healthy']).stdout.trim(),
      '',
    );
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(health('hc1'), stopped, 'no probe of a stopped container');
    assert.equal(env.docker(['start', 'hc1']).status, 0);
    const h = health('hc1')!;
    assert.equal(h.Status, 'starting');
    assert.equal(h.FailingStreak, 0);
    assert.ok(h.Log.length > 0, 'the log survives a restart, as dockerd');
  });

  it("the image's HEALTHCHECK is used, and --no-healthcheck turns it off", async () => {
    const ctx = join(env.lab.dir, 'hc-image');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(
      join(ctx, 'Dockerfile'),
      'FROM busybox\nHEALTHCHECK --interval=100ms --retries=1 CMD echo from-image\n',
    );
    const b = env.docker(['build', '-q', '-t', 'hcimg', ctx], { timeout: 120_000 });
    assert.equal(b.status, 0, b.stderr);
    assert.equal(env.docker(['run', '-d', '--name', 'hc5', 'hcimg', 'sh', '-c', LOOP]).status, 0);
    const h = await waitStatus('hc5', 'healthy');
    assert.equal(h.Log[0]!.Output, 'from-image\n');
    const off = env.docker([
      'run',
      '-d',
      '--name',
      'hc6',
      '--no-healthcheck',
      'hcimg',
      'sh',
      '-c',
      LOOP,
    ]);
    assert.equal(off.status, 0, off.stderr);
    assert.equal(health('hc6'), null);
    assert.match(
      env.docker(['ps', '--format', '{{.Status}}', '-f', 'name=hc6']).stdout,
      /^Up [^(]*$/m,
    );
    // Overriding part of it keeps the rest: the image's command, the container's interval.
    const cfg = env.docker([
      'run',
      '-d',
      '--name',
      'hc7',
      '--health-interval',
      '2s',
      'hcimg',
      'sh',
      '-c',
      LOOP,
    ]);
    assert.equal(cfg.status, 0, cfg.stderr);
    const merged = env.docker(['inspect', '-f', '{{json .Config.Healthcheck}}', 'hc7']);
    assert.deepEqual(JSON.parse(merged.stdout), {
      Test: ['CMD-SHELL', 'echo from-image'],
      Interval: 2e9,
      Retries: 1,
    });
  });

  it('refuses bad settings with dockerd words, and makes nothing', () => {
    const before = env.docker(['ps', '-aq']).stdout;
    const r = env.docker([
      'run',
      '-d',
      '--health-cmd',
      'true',
      '--health-interval',
      '10us',
      'busybox',
    ]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Interval in Healthcheck cannot be less than 1ms/);
    const neg = env.docker(['run', '-d', '--health-retries', '-1', 'busybox']);
    assert.notEqual(neg.status, 0);
    assert.match(neg.stderr, /--health-retries cannot be negative/);
    const both = env.docker(['run', '-d', '--no-healthcheck', '--health-cmd', 'x', 'busybox']);
    assert.match(both.stderr, /--no-healthcheck conflicts with --health-\* options/);
    const filt = env.docker(['ps', '--filter', 'health=great']);
    assert.notEqual(filt.status, 0);
    assert.match(filt.stderr, /Unrecognised filter value for health: great/);
    assert.equal(env.docker(['ps', '-aq']).stdout, before);
  });

  it('berth run takes the --health-* flags as docker does', async () => {
    const r = env.berth([
      'run',
      '-d',
      '--name',
      'hc8',
      '--health-cmd',
      'true',
      '--health-interval',
      '100ms',
      'busybox',
      'sh',
      '-c',
      LOOP,
    ]);
    assert.equal(r.status, 0, r.stderr);
    await waitStatus('hc8', 'healthy');
    assert.match(env.berth(['ps', '--filter', 'name=hc8']).stdout, /\(healthy\)/);
    const bad = env.berth(['run', '--health-interval', 'soon', 'busybox']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /invalid argument "soon" for "--health-interval" flag/);
  });

  it("compose waits for a dependency's healthcheck (depends_on: service_healthy)", async () => {
    const dir = join(env.lab.dir, 'hc-compose');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'docker-compose.yml'),
      [
        'services:',
        '  db:',
        '    image: busybox',
        `    command: ["sh", "-c", "sleep 2; touch /tmp/ready; ${LOOP}"]`,
        '    healthcheck:',
        '      test: ["CMD", "test", "-e", "/tmp/ready"]',
        '      interval: 200ms',
        '      retries: 30',
        '  web:',
        '    image: busybox',
        `    command: ["sh", "-c", "${LOOP}"]`,
        '    depends_on:',
        '      db:',
        '        condition: service_healthy',
        '',
      ].join('\n'),
    );
    const up = spawnSync('docker-compose', ['--project-name', 'hc', 'up', '-d'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, DOCKER_HOST: env.daemon.env.DOCKER_HOST },
    });
    assert.equal(up.status, 0, up.stdout + up.stderr);
    // web was created only once db was healthy.
    const times = (n: string) => env.docker(['inspect', '-f', '{{.Created}}', n]).stdout.trim();
    const dbHealthy = health('hc_db_1')!.Log.find((l) => l.ExitCode === 0)!;
    assert.ok(
      Date.parse(times('hc_web_1')) >= Date.parse(dbHealthy.End),
      `${times('hc_web_1')} vs ${dbHealthy.End}`,
    );
    const down = spawnSync('docker-compose', ['--project-name', 'hc', 'down', '-t', '1'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, DOCKER_HOST: env.daemon.env.DOCKER_HOST },
    });
    assert.equal(down.status, 0, down.stderr);
  });
});
