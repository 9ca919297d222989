/**
 * The containers of the healthcheck scenario (issue 14 item 3), shared by the
 * capture of what dockerd 20.10 does (bench/capture-docker-health.ts) and the
 * e2e test that holds Berth to it (test/e2e/health.test.ts): the same `run`
 * command lines and create bodies.
 */

/** A shell loop that runs until the container is removed. */
export const FOREVER = 'while true; do sleep 3600; done';
/** The same as a container command. */
export const LOOP = ['sh', '-c', FOREVER];

/** The `docker run` argument lists of the scenario's containers. */
export const RUNS = {
  /**
   * starting, healthy, unhealthy, healthy again: /tmp/ok appears after a
   * second, and the failures before it (within the start period) do not count.
   */
  hc1: [
    ...['run', '-d', '--name', 'hc1'],
    ...['--health-cmd', 'cat /tmp/ok', '--health-interval', '200ms', '--health-retries', '2'],
    ...['--health-start-period', '5s'],
    ...['busybox', 'sh', '-c', `sleep 1; echo fine > /tmp/ok; ${FOREVER}`],
  ],
  /** A probe past its timeout. */
  hc2: [
    ...['run', '-d', '--name', 'hc2'],
    ...['--health-cmd', 'echo started; sleep 30', '--health-timeout', '300ms'],
    ...['--health-interval', '100ms', '--health-retries', '1'],
    ...['busybox', ...LOOP],
  ],
};

/** The create body of a container whose CMD probe (exec form) is a missing binary, as docker-py sends it. */
export const MISSING_PROBE = {
  Image: 'busybox',
  Cmd: LOOP,
  Healthcheck: { Test: ['CMD', '/nonexistent'], Interval: 100e6, Retries: 1 },
};
