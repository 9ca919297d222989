/**
 * Captures what a real Docker 20.10 (Debian docker.io) does with resource
 * limits and the runtime flags of issue 14 item 2: the cgroup files and
 * rlimits a container sees, inspect's HostConfig, the refusals and their
 * messages (create and update bodies through the API), `docker update` on
 * running and stopped containers, --init, --sysctl, --group-add, --device,
 * --pid/--uts/--ipc, --log-driver none/local, and the item-6 details (the
 * default sysctls, a dotted hostname in /etc/hosts, --stop-signal without SIG,
 * supplementary groups). One dockerd in lab host 1. Writes a markdown
 * transcript and the same as JSON (docs/reference/docker-20.10-limits*.md).
 *
 *   node dist/bench/capture-docker-limits.js [--out DIR]
 */
import { CPU, FILES, LOOP, MEM, RUNS } from '../test/helpers/limits-scenario.js';
import { runCapture } from './lib/capture-run.js';

runCapture({
  name: 'capture-docker-limits',
  title: 'Docker 20.10 resource limits and runtime flags: raw capture',
  hosts: 1,
  steps: async ({ cap: c, dockerd }) => {
    await dockerd(0);
    const cat = (name: string, files: string[]) =>
      c.docker(['exec', name, 'sh', '-c', files.map((f) => `echo ${f}=$(cat ${f})`).join(';')]);

    c.sec('Memory');
    c.docker(RUNS.m1);
    cat('m1', FILES.m2);
    c.docker(RUNS.m2);
    cat('m2', FILES.m2);
    c.docker([
      'run',
      '-d',
      '--name',
      'm3',
      '--memory',
      '64m',
      '--memory-swap',
      '-1',
      'busybox',
      ...LOOP,
    ]);
    cat('m3', [`${MEM}/memory.limit_in_bytes`, `${MEM}/memory.memsw.limit_in_bytes`]);
    await c.api('GET', '/containers/m1/json', undefined, 'HostConfig');
    await c.api('GET', '/containers/m2/json', undefined, 'HostConfig');
    await c.api('GET', '/containers/m3/json', undefined, 'HostConfig');

    c.sec('CPU, cpuset, pids, oom score, ulimits');
    c.docker(RUNS.c1);
    cat('c1', FILES.c1);
    c.docker(RUNS.c2);
    cat('c2', FILES.c2);
    c.docker(['exec', 'c2', 'sh', '-c', 'ulimit -n; ulimit -Hn; ulimit -u']);
    c.docker(['exec', 'c2', 'grep', 'open files', '/proc/1/limits', '/proc/self/limits']);
    c.docker(['run', '--rm', 'busybox', 'sh', '-c', 'ulimit -n; ulimit -Hn']);
    await c.api('GET', '/containers/c1/json', undefined, 'HostConfig');
    await c.api('GET', '/containers/c2/json', undefined, 'HostConfig');
    c.docker(['run', '--rm', '--cpus', '99', 'busybox', 'true']);
    c.docker(['run', '--rm', '--ulimit', 'nofile=20:10', 'busybox', 'true']);
    c.docker(['run', '--rm', '--ulimit', 'foo=1', 'busybox', 'true']);

    c.sec('Refusals through the API');
    const create = (hc: Record<string, unknown>) =>
      c.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: hc });
    const bodies: Array<Record<string, unknown>> = [
      { Memory: 1000 },
      { Memory: -5 },
      { Memory: 64 << 20, MemorySwap: 32 << 20 },
      { MemorySwap: 64 << 20 },
      { MemoryReservation: 1000 },
      { Memory: 32 << 20, MemoryReservation: 64 << 20 },
      { MemorySwappiness: 200 },
      { NanoCpus: 100e9 },
      { NanoCpus: -1 },
      { NanoCpus: 1e9, CpuPeriod: 100000 },
      { NanoCpus: 1e9, CpuQuota: 50000 },
      { CpuPeriod: 500 },
      { CpuPeriod: 2000000 },
      { CpuQuota: 500 },
      { CpuShares: -1 },
      { CpusetCpus: 'abc' },
      { CpusetCpus: '0-100' },
      { CpusetCpus: '3-1' },
      { CpusetCpus: '99999' },
      { CpusetMems: '5' },
      { OomScoreAdj: 2000 },
      { PidsLimit: -1 },
      { PidsLimit: 0 },
      { Ulimits: [{ Name: 'foo', Soft: 1, Hard: 1 }] },
      { Ulimits: [{ Name: 'nofile', Soft: 20, Hard: 10 }] },
      { Sysctls: { 'kernel.foo': '1' } },
      { Sysctls: { 'kernel.hostname': 'x' } },
      { Sysctls: { 'net.ipv4.ip_forward': '1' }, NetworkMode: 'host' },
      { Sysctls: { 'kernel.shmmax': '1' }, IpcMode: 'host' },
      { IpcMode: 'bogus' },
      { PidMode: 'bogus' },
      { UTSMode: 'bogus' },
      {
        Devices: [
          { PathOnHost: '/dev/nosuch', PathInContainer: '/dev/x', CgroupPermissions: 'rwm' },
        ],
      },
      {
        Devices: [
          { PathOnHost: '/etc/passwd', PathInContainer: '/dev/x', CgroupPermissions: 'rwm' },
        ],
      },
      { Devices: [{ PathOnHost: '/dev/null', PathInContainer: 'x', CgroupPermissions: 'rwm' }] },
      {
        Devices: [{ PathOnHost: '/dev/null', PathInContainer: '/dev/x', CgroupPermissions: 'rwx' }],
      },
      { GroupAdd: ['nosuchgroup'] },
      { LogConfig: { Type: 'none', Config: { 'max-size': '1m' } } },
      { LogConfig: { Type: 'local', Config: { 'max-size': '1m' } } },
    ];
    for (const hc of bodies) {
      const r = await create(hc);
      const id = (r.json as { Id?: string } | undefined)?.Id;
      if (r.status === 201 && id) {
        await c.api('POST', `/containers/${id}/start`);
        await c.api('DELETE', `/containers/${id}?force=1`);
      }
    }
    await c.api('POST', '/containers/create', {
      Image: 'busybox',
      Hostname: 'x',
      HostConfig: { UTSMode: 'host' },
    });

    c.sec('docker update');
    c.docker(['run', '-d', '--name', 'u1', 'busybox', ...LOOP]);
    c.docker(['update', '--memory', '128m', 'u1']);
    c.docker(['update', '--memory', '128m', '--memory-swap', '256m', 'u1']);
    cat('u1', [`${MEM}/memory.limit_in_bytes`, `${MEM}/memory.memsw.limit_in_bytes`]);
    c.docker(['update', '--cpus', '0.5', '--pids-limit', '20', '--cpu-shares', '256', 'u1']);
    cat('u1', [
      `${CPU}/cpu.cfs_quota_us`,
      `${CPU}/cpu.cfs_period_us`,
      `${CPU}/cpu.shares`,
      '/sys/fs/cgroup/pids/pids.max',
    ]);
    c.docker(['update', '--memory', '300m', 'u1']);
    c.docker(['update', '--cpu-period', '50000', 'u1']);
    c.docker(['update', '--pids-limit', '-1', 'u1']);
    cat('u1', ['/sys/fs/cgroup/pids/pids.max']);
    c.docker(['update', '--restart', 'always', 'u1']);
    await c.api('GET', '/containers/u1/json', undefined, 'HostConfig');
    await c.api('POST', '/containers/u1/update', { Memory: 1000 });
    await c.api('POST', '/containers/u1/update', { CpusetCpus: '0' });
    await c.api('POST', '/containers/u1/update', { BlkioWeight: 300 });
    await c.api('POST', '/containers/u1/update', { KernelMemory: 64 << 20 });
    await c.api('POST', '/containers/nosuch/update', { CpuShares: 100 });
    c.docker(['create', '--name', 'u2', 'busybox', ...LOOP]);
    c.docker(['update', '--memory', '64m', '--memory-swap', '128m', 'u2']);
    c.docker(['start', 'u2']);
    cat('u2', [`${MEM}/memory.limit_in_bytes`]);
    c.docker([
      'events',
      '--since',
      '0',
      '--until',
      String(Math.floor(Date.now() / 1000) + 1),
      '--filter',
      'event=update',
    ]);

    c.sec('--init');
    c.docker(['run', '--rm', '--init', 'busybox', 'cat', '/proc/1/comm']);
    c.docker(['run', '--rm', '--init', 'busybox', 'ps', '-o', 'pid,comm,args']);
    c.docker(['run', '-d', '--name', 'i1', '--init', 'busybox', ...LOOP]);
    c.docker(['inspect', '-f', '{{.Path}} {{json .Args}} {{.HostConfig.Init}}', 'i1']);
    c.docker(['exec', 'i1', 'ls', '-l', '/sbin/docker-init']);
    c.docker(['exec', 'i1', 'grep', 'docker-init', '/proc/self/mountinfo']);
    c.docker(['run', '--rm', '--init', '--pid', 'host', 'busybox', 'cat', '/proc/1/comm']);

    c.sec('--sysctl and the default sysctls');
    c.docker([
      'run',
      '--rm',
      'busybox',
      'sh',
      '-c',
      'cat /proc/sys/net/ipv4/ping_group_range /proc/sys/net/ipv4/ip_unprivileged_port_start',
    ]);
    c.docker([
      'run',
      '--rm',
      '--network',
      'host',
      'busybox',
      'sh',
      '-c',
      'cat /proc/sys/net/ipv4/ping_group_range /proc/sys/net/ipv4/ip_unprivileged_port_start',
    ]);
    c.docker([
      'run',
      '--rm',
      '--network',
      'none',
      'busybox',
      'cat',
      '/proc/sys/net/ipv4/ip_unprivileged_port_start',
    ]);
    c.docker([
      'run',
      '--rm',
      '--sysctl',
      'net.ipv4.ip_forward=1',
      '--sysctl',
      'kernel.shmmax=123456',
      '--sysctl',
      'net.ipv4.ip_unprivileged_port_start=1024',
      'busybox',
      'sh',
      '-c',
      'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_unprivileged_port_start',
    ]);
    c.docker(['run', '--rm', '--sysctl', 'kernel.foo=1', 'busybox', 'true']);
    c.docker([
      'run',
      '--rm',
      '--network',
      'host',
      '--sysctl',
      'net.ipv4.ip_forward=1',
      'busybox',
      'true',
    ]);
    c.docker(['run', '--rm', '-u', 'nobody', 'busybox', 'ping', '-c', '1', '127.0.0.1']);

    c.sec('Users and groups');
    c.docker(['run', '--rm', 'busybox', 'id']);
    c.docker(['run', '--rm', '-u', 'daemon', 'busybox', 'id']);
    c.docker(['run', '--rm', '-u', 'daemon:daemon', 'busybox', 'id']);
    c.docker(['run', '--rm', '-u', '1', 'busybox', 'id']);
    c.docker(['run', '--rm', '-u', '4242', 'busybox', 'id']);
    c.docker(['run', '--rm', '--group-add', 'audio', '--group-add', '4321', 'busybox', 'id']);
    c.docker(['run', '--rm', '--group-add', 'nosuchgroup', 'busybox', 'id']);
    c.docker(['run', '--rm', 'busybox', 'grep', 'Groups', '/proc/self/status']);
    c.docker(['run', '--rm', '-u', 'daemon', 'busybox', 'grep', 'Groups', '/proc/self/status']);

    c.sec('--device');
    c.docker([
      'run',
      '--rm',
      '--device',
      '/dev/null:/dev/mynull',
      'busybox',
      'ls',
      '-l',
      '/dev/mynull',
    ]);
    c.docker([
      'run',
      '--rm',
      '--device',
      '/dev/null:/dev/mynull:r',
      'busybox',
      'sh',
      '-c',
      'echo x > /dev/mynull; echo $?',
    ]);
    c.docker([
      'run',
      '--rm',
      '--device',
      '/dev/full:/dev/myfull',
      'busybox',
      'head',
      '-c',
      '3',
      '/dev/myfull',
    ]);
    c.docker([
      'run',
      '--rm',
      '--device',
      '/dev/full:/dev/myfull:w',
      'busybox',
      'head',
      '-c',
      '3',
      '/dev/myfull',
    ]);
    c.docker([
      'run',
      '--rm',
      '--device',
      '/dev/full:/dev/myfull:w',
      'busybox',
      'cat',
      '/sys/fs/cgroup/devices/devices.list',
    ]);
    c.docker(['run', '--rm', '--device', '/dev/nosuch', 'busybox', 'true']);
    c.docker(['run', '--rm', '--device', '/etc/passwd', 'busybox', 'true']);
    c.docker(['run', '--rm', '--device', '/dev/null:/dev/x:rwx', 'busybox', 'true']);

    c.sec('--pid, --uts, --ipc');
    c.docker(['run', '--rm', '--pid', 'host', 'busybox', 'sh', '-c', 'cat /proc/1/comm; echo $$']);
    c.docker(['run', '--rm', '--pid', 'container:i1', 'busybox', 'cat', '/proc/1/comm']);
    c.docker(['run', '--rm', '--uts', 'host', 'busybox', 'hostname']);
    c.docker(['run', '--rm', '--uts', 'host', '--hostname', 'x', 'busybox', 'hostname']);
    c.docker([
      'run',
      '--rm',
      '--ipc',
      'none',
      'busybox',
      'sh',
      '-c',
      'grep /dev/shm /proc/self/mountinfo; echo $?',
    ]);
    c.docker([
      'run',
      '--rm',
      '--ipc',
      'host',
      'busybox',
      'sh',
      '-c',
      'grep /dev/shm /proc/self/mountinfo',
    ]);
    c.docker(RUNS.ipc1);
    c.docker(['run', '--rm', '--ipc', 'container:ipc1', 'busybox', 'cat', '/dev/shm/f']);
    c.docker(['run', '--rm', '--ipc', 'container:m1', 'busybox', 'true']);
    c.docker([
      'inspect',
      '-f',
      '{{.HostConfig.IpcMode}} {{.HostConfig.PidMode}} {{.HostConfig.UTSMode}}',
      'ipc1',
    ]);

    c.sec('--log-driver');
    c.docker(['run', '--name', 'l1', '--log-driver', 'none', 'busybox', 'echo', 'hello']);
    c.docker(['logs', 'l1']);
    await c.api('GET', '/containers/l1/logs?stdout=1');
    c.docker(['inspect', '-f', '{{json .HostConfig.LogConfig}} {{.LogPath}}', 'l1']);
    c.docker(['run', '--name', 'l2', '--log-driver', 'local', 'busybox', 'echo', 'hello']);
    c.docker(['logs', 'l2']);
    c.docker(['inspect', '-f', '{{json .HostConfig.LogConfig}} {{.LogPath}}', 'l2']);

    c.sec('Item 6: hostnames in /etc/hosts, --stop-signal without SIG');
    c.docker([
      'run',
      '--rm',
      '--hostname',
      'a.b.c',
      'busybox',
      'sh',
      '-c',
      'cat /etc/hosts; hostname',
    ]);
    c.docker([
      'run',
      '--rm',
      '--hostname',
      'h',
      '--domainname',
      'example.com',
      'busybox',
      'sh',
      '-c',
      'cat /etc/hosts; hostname',
    ]);
    c.docker([
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
    c.docker(['stop', 's1']);
    c.docker(['inspect', '-f', '{{.State.ExitCode}} {{.Config.StopSignal}}', 's1']);
    c.docker(['logs', 's1']);
  },
});
