/**
 * Resource limits and runtime flags with real containers under runc, as
 * Docker 20.10 (docs/reference/docker-20.10-limits-transcript.md, decision 0032): what
 * the container sees in its cgroup files (cgroup v1 here), rlimits, PID 1,
 * sysctls, groups, devices and namespaces; inspect's HostConfig; dockerd's
 * refusals; `docker update` on running and stopped containers; the log
 * drivers; the item-6 details of issue 14.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiCall } from '../helpers/api.js';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';
import { CPU, FILES, LOOP, MEM, RUNS } from '../helpers/limits-scenario.js';

let env: LabEnv;
const ok = (args: string[]): string => {
  const r = env.docker(args);
  assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};
/** Runs `sh -c script` in a new busybox container with `flags`; its output. */
const sh = (flags: string[], script: string): string =>
  ok(['run', '--rm', ...flags, 'busybox', 'sh', '-c', script]);
/** The files' contents, one per line, read inside a running container. */
const files = (name: string, paths: string[]): string[] =>
  ok(['exec', name, 'cat', ...paths]).split('\n');

/** One Engine API call on the daemon's socket. */
const api = (method: string, path: string, body?: unknown) =>
  apiCall(`unix://${env.daemon.socket}`, method, path, body);
const message = (text: string): string => (JSON.parse(text) as { message: string }).message;
const hostConfig = (name: string): Record<string, unknown> =>
  JSON.parse(ok(['inspect', '-f', '{{json .HostConfig}}', name])) as Record<string, unknown>;

describe('limits and runtime flags', () => {
  before(async () => {
    env = await labWithDaemons();
  });
  after(async () => {
    env?.docker(['rm', '-f', 'm1', 'm2', 'c1', 'c2', 'u1', 'u2', 'i1', 'ipc1', 'l1', 'l2', 's1']);
    await env?.destroy();
  });

  it('writes memory limits into the cgroup and shows them as dockerd', () => {
    ok(RUNS.m1);
    assert.deepEqual(
      files('m1', [`${MEM}/memory.limit_in_bytes`, `${MEM}/memory.memsw.limit_in_bytes`]),
      ['67108864', '134217728'],
    );
    const hc1 = hostConfig('m1');
    assert.equal(hc1.Memory, 67108864);
    assert.equal(hc1.MemorySwap, 134217728);
    assert.equal(hc1.MemorySwappiness, null);
    assert.equal(hc1.PidsLimit, null);
    assert.equal(hc1.OomKillDisable, false);
    ok(RUNS.m2);
    const [limit, swap, soft, oom] = files('m2', FILES.m2);
    assert.deepEqual(
      [limit, swap, soft, oom],
      ['67108864', '104857600', '33554432', 'oom_kill_disable 1'],
    );
    const hc2 = hostConfig('m2');
    assert.equal(hc2.MemoryReservation, 33554432);
    assert.equal(hc2.OomKillDisable, true);
    const unlimitedSwap = sh(
      ['--memory', '64m', '--memory-swap', '-1'],
      `cat ${MEM}/memory.memsw.limit_in_bytes`,
    );
    assert.equal(unlimitedSwap, '9223372036854771712');
  });

  it('writes CPU, cpuset and pids limits, the OOM score and rlimits', () => {
    ok(RUNS.c1);
    assert.deepEqual(files('c1', FILES.c1), ['150000', '100000', '512']);
    assert.equal(hostConfig('c1').NanoCpus, 1500000000);
    ok(RUNS.c2);
    assert.deepEqual(files('c2', FILES.c2), ['25000', '50000', '0', '0', '50', '500']);
    // The container's process has the rlimits; so does an exec (its process
    // spec carries them, as dockerd's does). Its soft nofile limit is then
    // runc's to settle: runc 1.1.5 (Go 1.19, which raises the soft limit to
    // the hard one at start-up) gave the capture's dockerd exec 2048 2048,
    // and gives 1024 2048 on other machines of the same image. Both are
    // runc's; the hard limit and nproc are Berth's.
    const limits = (text: string) =>
      text
        .split('\n')
        .filter((l) => /^Max (open files|processes)/.test(l))
        .map((l) =>
          l
            .split(/\s{2,}/)
            .slice(1, 3)
            .join(' '),
        );
    assert.deepEqual(limits(ok(['exec', 'c2', 'cat', '/proc/1/limits'])), ['100 100', '1024 2048']);
    const [nproc, nofile] = limits(ok(['exec', 'c2', 'cat', '/proc/self/limits']));
    assert.equal(nproc, '100 100');
    assert.match(nofile!, /^(1024|2048) 2048$/);
    const hc = hostConfig('c2');
    assert.equal(hc.PidsLimit, 50);
    assert.deepEqual(hc.Ulimits, [
      { Name: 'nofile', Hard: 2048, Soft: 1024 },
      { Name: 'nproc', Hard: 100, Soft: 100 },
    ]);
    // The host's view of the same cgroup: Berth's own hierarchy.
    const id = ok(['inspect', '-f', '{{.Id}}', 'c2']);
    const host = env.inHost(['cat', `/sys/fs/cgroup/pids/berth/${id}/pids.max`]);
    assert.equal(host.stdout.trim(), '50');
  });

  it('refuses the limits dockerd refuses, with its messages, creating nothing', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ Memory: 1000 }, 'Minimum memory limit allowed is 6MB'],
      [{ Memory: -5 }, 'Minimum memory limit allowed is 6MB'],
      [
        { Memory: 64 << 20, MemorySwap: 32 << 20 },
        'Minimum memoryswap limit should be larger than memory limit, see usage',
      ],
      [
        { MemorySwap: 64 << 20 },
        'You should always set the Memory limit when using Memoryswap limit, see usage',
      ],
      [{ MemoryReservation: 1000 }, 'Minimum memory reservation allowed is 6MB'],
      [{ MemorySwappiness: 200 }, 'Invalid value: 200, valid memory swappiness range is 0-100'],
      [
        { NanoCpus: 100e9 },
        'Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available',
      ],
      [
        { NanoCpus: 1e9, CpuPeriod: 100000 },
        'Conflicting options: Nano CPUs and CPU Period cannot both be set',
      ],
      [
        { CpuPeriod: 500 },
        'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)',
      ],
      [{ CpuQuota: 500 }, 'CPU cfs quota can not be less than 1ms (i.e. 1000)'],
      [{ CpuShares: -1 }, 'shares: invalid argument'],
      [{ CpusetCpus: 'abc' }, 'Invalid value abc for cpuset cpus: invalid format: abc'],
      [
        { CpusetCpus: '0-100' },
        'Requested CPUs are not available - requested 0-100, available: 0-1',
      ],
      [{ CpusetMems: '5' }, 'Requested memory nodes are not available - requested 5, available: 0'],
      [{ OomScoreAdj: 2000 }, 'Invalid value 2000, range for oom score adj is [-1000, 1000]'],
      [{ Ulimits: [{ Name: 'foo', Soft: 1, Hard: 1 }] }, 'invalid ulimit type: foo'],
      [
        { Sysctls: { 'kernel.foo': '1' } },
        'sysctl "kernel.foo" is not in a separate kernel namespace',
      ],
      [
        { Sysctls: { 'net.ipv4.ip_forward': '1' }, NetworkMode: 'host' },
        'sysctl "net.ipv4.ip_forward" not allowed in host network namespace',
      ],
      [
        { Sysctls: { 'kernel.shmmax': '1' }, IpcMode: 'host' },
        'sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace',
      ],
      [{ IpcMode: 'bogus' }, 'Invalid IPC mode: bogus'],
      [
        {
          Devices: [
            { PathOnHost: '/etc/passwd', PathInContainer: '/dev/x', CgroupPermissions: 'rwm' },
          ],
        },
        'error gathering device information while adding custom device "/etc/passwd": not a device node',
      ],
      [
        { LogConfig: { Type: 'syslog', Config: {} } },
        'berth does not support log driver syslog yet: use json-file, local or none (HostConfig.LogConfig)',
      ],
      [{ BlkioWeight: 300 }, 'berth does not support --blkio-weight (HostConfig.BlkioWeight) yet'],
    ];
    const before = ok(['ps', '-aq']);
    for (const [hc, want] of cases) {
      const r = await api('POST', '/containers/create', {
        Image: 'busybox',
        Cmd: ['true'],
        HostConfig: hc,
      });
      assert.equal(r.status, 400, `${JSON.stringify(hc)}: ${r.text}`);
      assert.ok(message(r.text).startsWith(want), `${JSON.stringify(hc)}: ${r.text}`);
    }
    const uts = await api('POST', '/containers/create', {
      Image: 'busybox',
      Hostname: 'x',
      HostConfig: { UTSMode: 'host' },
    });
    assert.equal(message(uts.text), 'conflicting options: hostname and the UTS mode');
    assert.equal(ok(['ps', '-aq']), before);
  });

  it('updates a running container with runc update, and a stopped one for its next start', async () => {
    ok(['run', '-d', '--name', 'u1', 'busybox', ...LOOP]);
    const r = env.docker(['update', '--memory', '128m', 'u1']);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /Cannot update container [0-9a-f]{64}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time/,
    );
    ok(['update', '--memory', '128m', '--memory-swap', '256m', 'u1']);
    assert.deepEqual(
      files('u1', [`${MEM}/memory.limit_in_bytes`, `${MEM}/memory.memsw.limit_in_bytes`]),
      ['134217728', '268435456'],
    );
    ok(['update', '--cpus', '0.5', '--pids-limit', '20', '--cpu-shares', '256', 'u1']);
    assert.deepEqual(
      files('u1', [
        `${CPU}/cpu.cfs_quota_us`,
        `${CPU}/cpu.cfs_period_us`,
        `${CPU}/cpu.shares`,
        '/sys/fs/cgroup/pids/pids.max',
      ]),
      ['50000', '100000', '256', '20'],
    );
    const conflictRun = env.docker(['update', '--cpu-period', '50000', 'u1']);
    assert.match(
      conflictRun.stderr,
      /Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set/,
    );
    ok(['update', '--pids-limit', '-1', 'u1']);
    assert.deepEqual(files('u1', ['/sys/fs/cgroup/pids/pids.max']), ['max']);
    ok(['update', '--restart', 'always', 'u1']);
    const hc = hostConfig('u1');
    assert.deepEqual(hc.RestartPolicy, { Name: 'always', MaximumRetryCount: 0 });
    assert.equal(hc.Memory, 134217728);
    assert.equal(hc.NanoCpus, 500000000);
    const small = await api('POST', '/containers/u1/update', { Memory: 1000 });
    assert.deepEqual(
      [small.status, message(small.text)],
      [400, 'Minimum memory limit allowed is 6MB'],
    );
    const kmem = await api('POST', '/containers/u1/update', { KernelMemory: 64 << 20 });
    assert.equal(kmem.status, 400);
    const fine = await api('POST', '/containers/u1/update', { CpusetCpus: '0' });
    assert.deepEqual([fine.status, JSON.parse(fine.text)], [200, { Warnings: null }]);
    const none = await api('POST', '/containers/nosuch/update', { CpuShares: 100 });
    assert.deepEqual([none.status, message(none.text)], [404, 'No such container: nosuch']);
    ok(['create', '--name', 'u2', 'busybox', ...LOOP]);
    ok(['update', '--memory', '64m', '--memory-swap', '128m', 'u2']);
    ok(['start', 'u2']);
    assert.deepEqual(files('u2', [`${MEM}/memory.limit_in_bytes`]), ['67108864']);
  });

  it('takes the same flags through the berth CLI, and berth update', () => {
    const r = env.berth([
      'run',
      '--rm',
      '--memory',
      '64m',
      '--cpus',
      '0.5',
      '--ulimit',
      'nofile=512:1024',
      'busybox',
      'sh',
      '-c',
      `cat ${MEM}/memory.limit_in_bytes ${CPU}/cpu.cfs_quota_us; grep "open files" /proc/self/limits`,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^67108864\n50000\nMax open files\s+512\s+1024 /);
    const u = env.berth(['update', '--memory', '96m', '--memory-swap', '192m', 'u1']);
    assert.equal(u.status, 0, u.stderr);
    assert.deepEqual(files('u1', [`${MEM}/memory.limit_in_bytes`]), ['100663296']);
    const bad = env.berth(['run', '--rm', '--cpus', 'x', 'busybox', 'true']);
    assert.equal(bad.status, 125);
    assert.match(bad.stderr, /failed to parse x as a rational number/);
  });

  it('runs tini as PID 1 with --init, bound at /sbin/docker-init', () => {
    assert.equal(sh(['--init'], 'cat /proc/1/comm'), 'docker-init');
    ok(['run', '-d', '--name', 'i1', '--init', 'busybox', ...LOOP]);
    assert.equal(
      ok(['inspect', '-f', '{{.Path}} {{json .Args}} {{.HostConfig.Init}}', 'i1']),
      'sleep ["3600"] true',
    );
    assert.match(
      ok(['exec', 'i1', 'cat', '/proc/1/cmdline']),
      /^\/sbin\/docker-init\x00--\x00sleep\x003600/,
    );
    // Another container's PID namespace: its init is PID 1 there.
    assert.equal(sh(['--pid', 'container:i1'], 'cat /proc/1/comm'), 'docker-init');
  });

  it("sets Docker's default sysctls and the container's own", () => {
    assert.equal(
      sh(
        [],
        'cat /proc/sys/net/ipv4/ping_group_range /proc/sys/net/ipv4/ip_unprivileged_port_start',
      ),
      '0\t2147483647\n0',
    );
    assert.equal(
      sh(['--network', 'none'], 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start'),
      '0',
    );
    assert.equal(
      sh(
        [
          '--sysctl',
          'net.ipv4.ip_forward=1',
          '--sysctl',
          'kernel.shmmax=123456',
          '--sysctl',
          'net.ipv4.ip_unprivileged_port_start=1024',
        ],
        'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_unprivileged_port_start',
      ),
      '1\n123456\n1024',
    );
    // A sysctl of the container's own interface: its joins come before
    // runc writes sysctls (decision 0041).
    assert.equal(
      sh(
        ['--sysctl', 'net.ipv4.conf.eth0.rp_filter=2'],
        'cat /proc/sys/net/ipv4/conf/eth0/rp_filter',
      ),
      '2',
    );
  });

  it('gives the supplementary groups runc gives, and --group-add', () => {
    assert.equal(sh([], 'id'), 'uid=0(root) gid=0(root) groups=0(root),10(wheel)');
    assert.equal(sh(['-u', 'daemon'], 'id'), 'uid=1(daemon) gid=1(daemon) groups=1(daemon)');
    assert.equal(sh(['-u', '4242'], 'id'), 'uid=4242 gid=0(root) groups=0(root)');
    assert.match(
      sh(['--group-add', 'sys', '--group-add', '4321'], 'grep Groups /proc/self/status'),
      /^Groups:\s+0 3 4321 10\s*$|^Groups:\s+0 3 10 4321\s*$/,
    );
    const r = env.docker(['run', '--rm', '--group-add', 'nosuchgroup', 'busybox', 'id']);
    assert.match(r.stderr, /Unable to find group nosuchgroup: no matching entries in group file/);
  });

  it('maps --device nodes with their cgroup permissions', () => {
    assert.match(
      sh(['--device', '/dev/null:/dev/mynull'], 'ls -l /dev/mynull'),
      /^crw-rw-rw-.* 1,\s+3 /,
    );
    // /dev/cpu_dma_latency (10:259) is not among the devices every container
    // may use: readable with the mapping, refused without it (a node made by
    // hand), and with a mapping that does not allow reading.
    const dma = '/dev/cpu_dma_latency:/dev/dma';
    const read = 'head -c 4 /dev/dma 2>&1 | wc -c; head -c 4 /dev/dma 2>&1 >/dev/null || true';
    assert.equal(sh(['--device', dma], read), '4');
    assert.match(sh([], `mknod /dev/dma c 10 259; ${read}`), /Operation not permitted/);
    assert.match(sh(['--device', `${dma}:w`], read), /Operation not permitted/);
    const rule = 'grep "^c 10:259 " /sys/fs/cgroup/devices/devices.list || true';
    assert.equal(sh(['--device', `${dma}:r`], rule), 'c 10:259 r');
    assert.equal(sh([], rule), '');
    const r = env.docker(['run', '--rm', '--device', '/dev/nosuch', 'busybox', 'true']);
    assert.match(
      r.stderr,
      /error gathering device information while adding custom device "\/dev\/nosuch": no such file or directory/,
    );
  });

  it('shares the host PID and UTS namespaces, and IPC as asked', () => {
    const hostInit = env.inHost(['cat', '/proc/1/comm']).stdout.trim();
    assert.equal(sh(['--pid', 'host'], 'cat /proc/1/comm'), hostInit);
    const hostName = env.inHost(['hostname']).stdout.trim();
    assert.equal(sh(['--uts', 'host'], 'hostname'), hostName);
    assert.equal(sh(['--ipc', 'none'], 'grep -c " /dev/shm " /proc/self/mountinfo || true'), '0');
    ok(RUNS.ipc1);
    assert.equal(sh(['--ipc', 'container:ipc1'], 'cat /dev/shm/f'), 'hi');
    const r = env.docker(['run', '--rm', '--ipc', 'container:m1', 'busybox', 'true']);
    assert.match(
      r.stderr,
      /can't join IPC of container [0-9a-f]{64}: non-shareable IPC \(hint: use IpcMode:shareable for the donor container\)/,
    );
  });

  it('keeps no log with --log-driver none, and logs with local', async () => {
    assert.equal(
      ok(['run', '--name', 'l1', '--log-driver', 'none', 'busybox', 'echo', 'hello']),
      'hello',
    );
    const r = env.docker(['logs', 'l1']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /configured logging driver does not support reading/);
    const a = await api('GET', '/containers/l1/logs?stdout=1');
    assert.equal(a.status, 501);
    assert.equal(
      ok(['inspect', '-f', '{{json .HostConfig.LogConfig}}|{{.LogPath}}', 'l1']),
      '{"Type":"none","Config":{}}|',
    );
    ok(['run', '--name', 'l2', '--log-driver', 'local', 'busybox', 'echo', 'hello']);
    assert.equal(ok(['logs', 'l2']), 'hello');
    const opt = env.docker(['run', '--rm', '--log-opt', 'max-size=1m', 'busybox', 'true']);
    assert.match(opt.stderr, /berth does not support --log-opt/);
  });

  it('lists the short name of a dotted hostname in /etc/hosts, and stops with USR1', async () => {
    assert.match(sh(['--hostname', 'a.b.c'], 'cat /etc/hosts'), /\ta\.b\.c a$/m);
    assert.match(
      sh(['--hostname', 'h', '--domainname', 'example.com'], 'cat /etc/hosts'),
      /\th\.example\.com h$/m,
    );
    ok([
      'run',
      '-d',
      '--name',
      's1',
      '--stop-signal',
      'USR1',
      'busybox',
      'sh',
      '-c',
      "trap 'echo got usr1; exit 3' USR1; while true; do sleep 0.1; done",
    ]);
    ok(['stop', 's1']);
    assert.equal(ok(['inspect', '-f', '{{.State.ExitCode}}', 's1']), '3');
    assert.equal(ok(['logs', 's1']), 'got usr1');
  });
});
