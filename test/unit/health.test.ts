/** Healthcheck rules (dockerd's daemon/health.go) and the monitor's orchestration with a fake probe. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCreate, mergeWithImage } from '../../src/containers/config.js';
import {
  applyResult,
  healthcheckFromBody,
  HealthMonitors,
  mergeHealthcheck,
  nextProbeMs,
  probeArgv,
  timeoutOutput,
  type HealthState,
  type ProbeOutcome,
} from '../../src/containers/health.js';
import type { ContainerRecord } from '../../src/containers/types.js';
import { statusOf, statusText } from '../../src/containers/render.js';

const T0 = '2026-12-05T10:00:00.000Z';
const at = (ms: number) => new Date(Date.parse(T0) + ms).toISOString();
const result = (ms: number, code: number) => ({
  Start: at(ms),
  End: at(ms + 5),
  ExitCode: code,
  Output: `r${ms}`,
});

describe('healthchecks', () => {
  it('checks the create body with dockerd words', () => {
    assert.equal(healthcheckFromBody(undefined), undefined);
    assert.deepEqual(healthcheckFromBody({ Test: ['CMD-SHELL', 'true'], Interval: 2e9 }), {
      Test: ['CMD-SHELL', 'true'],
      Interval: 2e9,
    });
    assert.throws(
      () => healthcheckFromBody({ Test: ['CMD', 'x'], Interval: 5 }),
      /Interval in Healthcheck cannot be less than 1ms/,
    );
    assert.throws(
      () => healthcheckFromBody({ Test: ['CMD', 'x'], Timeout: 999_999 }),
      /Timeout in Healthcheck cannot be less than 1ms/,
    );
    assert.throws(
      () => healthcheckFromBody({ Test: ['CMD', 'x'], StartPeriod: 1 }),
      /StartPeriod in Healthcheck/,
    );
    assert.throws(
      () => healthcheckFromBody({ Test: ['CMD', 'x'], Retries: -1 }),
      /Retries in Healthcheck cannot be negative/,
    );
    assert.throws(
      () => healthcheckFromBody({ Test: ['SHELL', 'x'] }),
      /unknown healthcheck type 'SHELL'/,
    );
    assert.throws(() => healthcheckFromBody({ Test: ['CMD'] }), /has no command/);
    // Through the whole create path: a 400, nothing made.
    assert.throws(
      () => parseCreate({ Image: 'busybox', Healthcheck: { Test: ['CMD', 'x'], Retries: -2 } }),
      (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT',
    );
  });

  it("merges the image's HEALTHCHECK into the container's as moby does", () => {
    const img = { Test: ['CMD-SHELL', 'img'], Interval: 5e9, Retries: 7 };
    assert.deepEqual(mergeHealthcheck(undefined, img), img);
    assert.deepEqual(mergeHealthcheck({ Test: [], Timeout: 1e9 }, img), {
      Test: ['CMD-SHELL', 'img'],
      Timeout: 1e9,
      Interval: 5e9,
      Retries: 7,
    });
    assert.deepEqual(mergeHealthcheck({ Test: ['NONE'] }, img), {
      Test: ['NONE'],
      Interval: 5e9,
      Retries: 7,
    });
    const { config } = mergeWithImage(
      parseCreate({ Image: 'x', Cmd: ['sh'], Healthcheck: { Interval: 2e9 } }).config,
      { Healthcheck: img },
    );
    assert.deepEqual(config.Healthcheck, { Test: ['CMD-SHELL', 'img'], Interval: 2e9, Retries: 7 });
  });

  it('probes with the shell for CMD-SHELL, directly for CMD, not at all for NONE', () => {
    assert.deepEqual(probeArgv({ Test: ['CMD-SHELL', 'a && b'] }), ['/bin/sh', '-c', 'a && b']);
    assert.deepEqual(probeArgv({ Test: ['CMD-SHELL', 'x'] }, ['/bin/bash', '-ec']), [
      '/bin/bash',
      '-ec',
      'x',
    ]);
    assert.deepEqual(probeArgv({ Test: ['CMD', 'curl', '-f', 'x'] }), ['curl', '-f', 'x']);
    assert.equal(probeArgv({ Test: ['NONE'] }), undefined);
    assert.equal(probeArgv({ Test: [] }), undefined);
    assert.equal(probeArgv(undefined), undefined);
  });

  it('waits the interval, or the start interval inside the start period while starting', () => {
    assert.equal(nextProbeMs({ Test: [] }, 'starting', 0), 30_000);
    const h = { Test: [], Interval: 10e9, StartPeriod: 30e9, StartInterval: 2e9 };
    assert.equal(nextProbeMs(h, 'starting', 1000), 2000);
    assert.equal(nextProbeMs(h, 'healthy', 1000), 10_000);
    assert.equal(nextProbeMs(h, 'starting', 40_000), 10_000);
    // The start period ends before the next interval would: probe when it ends.
    assert.equal(
      nextProbeMs({ Test: [], Interval: 10e9, StartPeriod: 15e9 }, 'starting', 12_000),
      3000,
    );
  });

  it('counts failures to unhealthy at retries, resets on success, spares the start period', () => {
    const h = { Test: ['CMD', 'x'], Retries: 2, StartPeriod: 10e9 };
    let s: HealthState = { Status: 'starting', FailingStreak: 0, Log: [] };
    s = applyResult(s, result(1000, 1), h, T0);
    assert.deepEqual([s.Status, s.FailingStreak], ['starting', 0], 'in the start period');
    s = applyResult(s, result(11_000, 1), h, T0);
    assert.deepEqual([s.Status, s.FailingStreak], ['starting', 1]);
    s = applyResult(s, result(12_000, 2), h, T0);
    assert.deepEqual([s.Status, s.FailingStreak], ['unhealthy', 2], 'any non-zero code fails');
    s = applyResult(s, result(13_000, 0), h, T0);
    assert.deepEqual([s.Status, s.FailingStreak], ['healthy', 0]);
    for (let i = 0; i < 4; i++) s = applyResult(s, result(14_000 + i, 0), h, T0);
    assert.equal(s.Log.length, 5, 'the last five results');
    assert.equal(s.Log[0]!.Start, at(13_000));
    assert.equal(timeoutOutput(1e9), 'Health check exceeded timeout (1s)');
    assert.equal(timeoutOutput(5e8), 'Health check exceeded timeout (500ms)');
  });

  it('shows the health in the STATUS column while running', () => {
    const c = {
      State: {
        Status: 'running',
        StartedAt: at(0),
        Health: { Status: 'starting', FailingStreak: 0, Log: [] },
      },
    } as unknown as ContainerRecord;
    assert.equal(statusText(c, Date.parse(at(3000))), 'Up 3 seconds (health: starting)');
    c.State.Health!.Status = 'unhealthy';
    assert.equal(statusText(c, Date.parse(at(3000))), 'Up 3 seconds (unhealthy)');
    // Paused hides the health, as dockerd's State.String.
    c.State.Paused = true;
    assert.equal(statusText(c, Date.parse(at(3000))), 'Up 3 seconds (Paused)');
    assert.equal(statusOf(c), 'paused');
  });

  it('monitors: probes on schedule, saves and announces changes, stops when told', async () => {
    const c = {
      Id: 'c'.repeat(64),
      Config: { Healthcheck: { Test: ['CMD', 'check'], Interval: 20e6, Retries: 1 } },
      State: { Status: 'running', StartedAt: new Date().toISOString() },
    } as unknown as ContainerRecord;
    const codes = [0, 0, 1, 0];
    const probes: string[][] = [];
    const events: string[] = [];
    let saves = 0;
    const m = new HealthMonitors({
      probe: async (_c, argv): Promise<ProbeOutcome> => {
        probes.push(argv);
        return { exitCode: codes[probes.length - 1] ?? 0, output: 'ok' };
      },
      current: (id) => (id === c.Id ? c : undefined),
      save: async () => void saves++,
      emit: (_c, action) => void events.push(action),
      warn: () => undefined,
    });
    m.start(c);
    assert.equal(c.State.Health?.Status, 'starting');
    const until = Date.now() + 3000;
    while (probes.length < 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    m.stop(c.Id);
    const n = probes.length;
    assert.ok(n >= 4, `probed ${n} times`);
    assert.deepEqual(probes[0], ['check']);
    assert.deepEqual(events.slice(0, 3), [
      'health_status: healthy',
      'health_status: unhealthy',
      'health_status: healthy',
    ]);
    assert.equal(saves, 3, 'one write per status change, none per result');
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(probes.length, n, 'no probe after stop');
    // A container without a probe is not monitored.
    const none = {
      ...c,
      Id: 'd'.repeat(64),
      Config: { Healthcheck: { Test: ['NONE'] } },
      State: { ...c.State, Health: undefined },
    } as unknown as ContainerRecord;
    m.start(none);
    assert.equal(none.State.Health, undefined);
    m.close();
  });
});
