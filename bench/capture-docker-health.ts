/**
 * Captures what a real Docker 20.10 (Debian docker.io) does with
 * healthchecks: State.Health while starting, healthy, unhealthy, after a stop
 * and a start; ps's STATUS and its health filter; the events; a probe past
 * its timeout; a probe whose command is missing; an image HEALTHCHECK and
 * --no-healthcheck; the refusals. One dockerd in lab host 1. Writes a
 * markdown transcript and the same as JSON (docs/reference/docker-20.10-health*).
 *
 *   node dist/bench/capture-docker-health.js [--out DIR]
 *
 * Everything is removed in `finally`, and the machine's own namespace is
 * compared before and after.
 */
import { LOOP, MISSING_PROBE, RUNS } from '../test/helpers/health-scenario.js';
import { runCapture } from './lib/capture-run.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

runCapture({
  name: 'capture-docker-health',
  title: 'Docker 20.10 healthchecks: raw capture',
  hosts: 1,
  steps: async ({ cap: c, dockerd }) => {
    await dockerd(0);
    const since = String(Math.floor(Date.now() / 1000) - 1);
    c.sec('starting, healthy, unhealthy, healthy again');
    c.docker(RUNS.hc1);
    c.docker(['inspect', '-f', '{{json .State.Health}}', 'hc1']);
    c.docker(['ps', '--format', '{{.Status}}']);
    await sleep(2500);
    c.docker(['inspect', '-f', '{{json .State.Health}}', 'hc1']);
    c.docker(['ps', '--format', '{{.Status}}']);
    c.docker(['ps', '--filter', 'health=healthy', '--format', '{{.Names}}']);
    c.docker(['ps', '--filter', 'health=none', '--format', '{{.Names}}']);
    c.docker(['exec', 'hc1', 'rm', '/tmp/ok']);
    await sleep(1500);
    c.docker(['inspect', '-f', '{{json .State.Health}}', 'hc1']);
    c.docker(['ps', '--format', '{{.Status}}']);
    c.docker(['exec', 'hc1', 'touch', '/tmp/ok']);
    await sleep(1000);
    c.docker(['inspect', '-f', '{{.State.Health.Status}}', 'hc1']);
    c.sec('stopped, then started again');
    c.docker(['stop', '-t', '1', 'hc1']);
    c.docker(['inspect', '-f', '{{json .State.Health}}', 'hc1']);
    c.docker(['ps', '-a', '--filter', 'health=healthy', '--format', '{{.Names}} {{.Status}}']);
    c.docker(['start', 'hc1']);
    c.docker(['inspect', '-f', '{{json .State.Health}}', 'hc1']);
    c.sec('a probe past its timeout; a missing command');
    c.docker(RUNS.hc2);
    await c.api('POST', '/containers/create?name=hc3', MISSING_PROBE);
    c.docker(['start', 'hc3']);
    await sleep(2000);
    c.docker(['inspect', '-f', '{{json .State.Health}}', 'hc2']);
    c.docker(['inspect', '-f', '{{json .State.Health}}', 'hc3']);
    c.docker(['exec', 'hc2', 'ps', '-o', 'args']);
    c.sec("the image's HEALTHCHECK; --no-healthcheck; a partial override");
    c.docker(['build', '-q', '-t', 'hcimg', '-'], {
      input: 'FROM busybox\nHEALTHCHECK --interval=100ms --retries=1 CMD echo from-image\n',
    });
    c.docker(['run', '-d', '--name', 'hc5', 'hcimg', ...LOOP]);
    c.docker(['run', '-d', '--name', 'hc6', '--no-healthcheck', 'hcimg', ...LOOP]);
    c.docker(['run', '-d', '--name', 'hc7', '--health-interval', '2s', 'hcimg', ...LOOP]);
    await sleep(800);
    c.docker(['inspect', '-f', '{{json .State.Health}}', 'hc5']);
    c.docker(['inspect', '-f', '{{json .State.Health}} {{json .Config.Healthcheck}}', 'hc6']);
    c.docker(['inspect', '-f', '{{json .Config.Healthcheck}}', 'hc7']);
    c.sec('refusals');
    c.docker(['run', '-d', '--health-cmd', 'true', '--health-interval', '10us', 'busybox']);
    await c.api('POST', '/containers/create', {
      Image: 'busybox',
      Healthcheck: { Test: ['SHELL', 'true'] },
    });
    await c.api('POST', '/containers/create', {
      Image: 'busybox',
      Healthcheck: { Test: ['CMD'] },
    });
    c.docker(['ps', '--filter', 'health=great']);
    c.sec('events');
    c.docker([
      'events',
      '--since',
      since,
      '--until',
      String(Math.floor(Date.now() / 1000) + 1),
      '--filter',
      'container=hc1',
      '--format',
      '{{.Action}}',
    ]);
  },
});
