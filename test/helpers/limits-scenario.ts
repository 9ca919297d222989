/**
 * The containers of the limits scenario (issue 14 item 2), shared by the
 * capture of what dockerd 20.10 does (bench/capture-docker-limits.ts) and the
 * e2e test that holds Berth to it (test/e2e/limits.test.ts): the same `run`
 * command lines and the cgroup files read back.
 */

/** A container command that runs until removed. */
export const LOOP = ['sleep', '3600'];
/** cgroup v1 mount points inside a container. */
export const MEM = '/sys/fs/cgroup/memory';
export const CPU = '/sys/fs/cgroup/cpu';

/** `docker run -d --name NAME FLAGS busybox sleep 3600`. */
const runD = (name: string, flags: string[]) => [
  'run',
  '-d',
  '--name',
  name,
  ...flags,
  'busybox',
  ...LOOP,
];

/** The `docker run` argument lists of the scenario's long-running containers. */
export const RUNS = {
  m1: runD('m1', ['--memory', '64m']),
  m2: runD('m2', [
    '--memory',
    '64m',
    '--memory-swap',
    '100m',
    '--memory-reservation',
    '32m',
    '--oom-kill-disable',
  ]),
  c1: runD('c1', ['--cpus', '1.5', '--cpu-shares', '512']),
  c2: runD('c2', [
    '--cpu-period',
    '50000',
    '--cpu-quota',
    '25000',
    '--cpuset-cpus',
    '0',
    '--cpuset-mems',
    '0',
    '--pids-limit',
    '50',
    '--oom-score-adj',
    '500',
    '--ulimit',
    'nofile=1024:2048',
    '--ulimit',
    'nproc=100',
  ]),
  /** A shareable IPC namespace with a file in its /dev/shm, for `--ipc container:ipc1`. */
  ipc1: [
    'run',
    '-d',
    '--name',
    'ipc1',
    '--ipc',
    'shareable',
    'busybox',
    'sh',
    '-c',
    'echo hi > /dev/shm/f; sleep 3600',
  ],
};

/** The files read back from m2 (memory) and c2 (CPU, cpuset, pids, OOM score). */
export const FILES = {
  m2: [
    `${MEM}/memory.limit_in_bytes`,
    `${MEM}/memory.memsw.limit_in_bytes`,
    `${MEM}/memory.soft_limit_in_bytes`,
    `${MEM}/memory.oom_control`,
  ],
  c1: [`${CPU}/cpu.cfs_quota_us`, `${CPU}/cpu.cfs_period_us`, `${CPU}/cpu.shares`],
  c2: [
    `${CPU}/cpu.cfs_quota_us`,
    `${CPU}/cpu.cfs_period_us`,
    '/sys/fs/cgroup/cpuset/cpuset.cpus',
    '/sys/fs/cgroup/cpuset/cpuset.mems',
    '/sys/fs/cgroup/pids/pids.max',
    '/proc/self/oom_score_adj',
  ],
};
