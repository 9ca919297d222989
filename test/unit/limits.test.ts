/**
 * The pure parts of limits and runtime flags (decision 0032): dockerd's
 * checks and defaults, the OCI resources and update body, rlimits beyond
 * JS's integers, runc's sysctl refusals, what the flags do to a spec, and
 * the CLI's parsing of sizes, --cpus, --ulimit and --device.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  adaptResources,
  checkResources,
  mergeUpdate,
  ociResources,
  parseUintList,
  rlimits,
  specJson,
  updateResources,
  type HostFacts,
} from '../../src/containers/resources.js';
import {
  applyRuntimeFlags,
  checkSysctls,
  sysctlsFor,
  type RuntimeFlags,
} from '../../src/containers/runtime-flags.js';
import { ownNames } from '../../src/containers/bundle.js';
import { nanoCpus, parseDevice, parseUlimit, ramInBytes } from '../../src/cli/limitopts.js';
import { signalNumber } from '../../src/kernel/runtime/runtime.js';

const HOST: HostFacts = { numCpu: 2, cpus: '0-1', mems: '0', swapLimit: true };
const MiB = 1024 * 1024;

describe('resource limits', () => {
  it("refuses what dockerd's verifyPlatformContainerResources refuses", () => {
    const refused = (r: Record<string, unknown>, msg: string, update = false) =>
      assert.throws(() => checkResources(r, HOST, update), { message: msg });
    refused({ Memory: 1000 }, 'Minimum memory limit allowed is 6MB');
    refused(
      { Memory: 64 * MiB, MemorySwap: 32 * MiB },
      'Minimum memoryswap limit should be larger than memory limit, see usage',
    );
    refused(
      { MemorySwap: 64 * MiB },
      'You should always set the Memory limit when using Memoryswap limit, see usage',
    );
    assert.deepEqual(checkResources({ MemorySwap: 64 * MiB }, HOST, true), []);
    refused(
      { NanoCpus: 3e9 },
      'Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available',
    );
    refused({ CpusetCpus: '3-1' }, 'Invalid value 3-1 for cpuset cpus: invalid format: 3-1');
    refused(
      { CpusetCpus: '99999' },
      'Invalid value 99999 for cpuset cpus: value of out range, maximum is 8192',
    );
    refused({ CpusetCpus: '2' }, 'Requested CPUs are not available - requested 2, available: 0-1');
    refused(
      { OomScoreAdj: -1001 },
      'Invalid value -1001, range for oom score adj is [-1000, 1000]',
    );
    // No swap accounting: the swap limit dropped with dockerd's warning.
    const r: Record<string, unknown> = { Memory: 64 * MiB };
    assert.match(
      checkResources(r, { ...HOST, swapLimit: false }, false)[0]!,
      /Memory limited without swap/,
    );
    assert.equal(r.MemorySwap, -1);
  });

  it('parses cpuset lists as ParseUintList', () => {
    assert.deepEqual([...parseUintList('0-2,5,03')].sort(), [0, 1, 2, 3, 5]);
    assert.throws(() => parseUintList('a'), /invalid format: a/);
  });

  it('fills in what dockerd fills in, and makes the OCI resources', () => {
    const hc: Record<string, unknown> = {
      Memory: 64 * MiB,
      MemorySwap: 0,
      MemorySwappiness: -1,
      PidsLimit: 0,
      NanoCpus: 1.5e9,
      CpuShares: 512,
      CpusetCpus: '0',
      OomKillDisable: true,
    };
    adaptResources(hc);
    assert.equal(hc.MemorySwap, 128 * MiB);
    assert.equal(hc.MemorySwappiness, null);
    assert.equal(hc.PidsLimit, null);
    assert.deepEqual(ociResources(hc), {
      memory: { limit: 64 * MiB, swap: 128 * MiB, disableOOMKiller: true },
      cpu: { shares: 512, cpus: '0', period: 100000, quota: 150000 },
    });
    assert.deepEqual(ociResources({ PidsLimit: 50, CpuPeriod: 50000, CpuQuota: 25000 }), {
      cpu: { period: 50000, quota: 25000 },
      pids: { limit: 50 },
    });
    assert.throws(() => ociResources({ CpuShares: -1 }), /shares: invalid argument/);
  });

  it("merges an update as UpdateContainer, with dockerd's conflicts", () => {
    const hc: Record<string, unknown> = { Memory: 0, MemorySwap: 0, NanoCpus: 1e9 };
    assert.throws(
      () => mergeUpdate(hc, { Memory: 128 * MiB }),
      /update the memoryswap at the same time/,
    );
    assert.throws(
      () => mergeUpdate(hc, { CpuPeriod: 50000 }),
      /CPU Period cannot be updated as NanoCPUs has already been set/,
    );
    mergeUpdate(hc, { Memory: 128 * MiB, MemorySwap: 256 * MiB, CpuShares: 0, PidsLimit: 0 });
    assert.deepEqual(hc, { Memory: 128 * MiB, MemorySwap: 256 * MiB, NanoCpus: 1e9, PidsLimit: 0 });
    assert.deepEqual(updateResources(hc), {
      memory: { limit: 128 * MiB, reservation: 0, swap: 256 * MiB },
      cpu: { shares: 0, cpus: '', mems: '', period: 100000, quota: 100000 },
      pids: { limit: -1 },
    });
  });

  it('writes rlimits runc reads as uint64, -1 as RLIM_INFINITY', () => {
    const spec = { process: { rlimits: rlimits([{ Name: 'nofile', Soft: 1024, Hard: -1 }]) } };
    assert.equal(
      specJson(spec),
      '{"process":{"rlimits":[{"type":"RLIMIT_NOFILE","soft":1024,"hard":18446744073709551615}]}}',
    );
  });
});

describe('runtime flags', () => {
  it("makes runc's sysctl refusals at create", () => {
    checkSysctls({
      Sysctls: { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1', 'fs.mqueue.msg_max': '5' },
    });
    assert.throws(
      () => checkSysctls({ Sysctls: { 'kernel.foo': '1' } }),
      /is not in a separate kernel namespace/,
    );
    assert.throws(
      () => checkSysctls({ NetworkMode: 'host', Sysctls: { 'net.ipv4.ip_forward': '1' } }),
      /not allowed in host network namespace/,
    );
    assert.throws(
      () => checkSysctls({ IpcMode: 'host', Sysctls: { 'kernel.sem': '1' } }),
      /not allowed in the hosts ipc namespace/,
    );
  });

  it("sets Docker's default sysctls only in a network namespace of the container's own", () => {
    assert.deepEqual(
      sysctlsFor({
        NetworkMode: 'none',
        Sysctls: { 'net.ipv4.ip_unprivileged_port_start': '1024' },
      }),
      {
        'net.ipv4.ping_group_range': '0 2147483647',
        'net.ipv4.ip_unprivileged_port_start': '1024',
      },
    );
    assert.deepEqual(sysctlsFor({ NetworkMode: 'host' }), {});
    assert.deepEqual(sysctlsFor({ NetworkMode: 'container:x' }), {});
  });

  it('changes the spec: init, namespaces, /dev/shm, devices', () => {
    const spec = {
      process: { args: ['sleep', '1'] },
      mounts: [{ destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: [] }],
      linux: {
        namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'mount' }],
        resources: { devices: [{ allow: false, access: 'rwm' }] },
      },
    };
    const flags: RuntimeFlags = {
      resources: { pids: { limit: 5 } },
      ulimits: [],
      oomScoreAdj: 0,
      sysctl: {},
      devices: [
        {
          path: '/dev/x',
          type: 'c',
          major: 10,
          minor: 259,
          fileMode: 0o600,
          uid: 0,
          gid: 0,
          permissions: 'r',
        },
      ],
      ipc: { kind: 'container', pid: 42, shm: '/data/c/mounts/shm' },
      pid: { kind: 'private' },
      init: '/usr/bin/tini-static',
    };
    applyRuntimeFlags(spec, flags);
    assert.deepEqual(spec.process.args, ['/sbin/docker-init', '--', 'sleep', '1']);
    assert.deepEqual(spec.linux.namespaces, [
      { type: 'pid' },
      { type: 'mount' },
      { type: 'ipc', path: '/proc/42/ns/ipc' },
    ]);
    assert.equal(spec.mounts[0]!.source, '/data/c/mounts/shm');
    assert.equal(spec.mounts[1]!.destination, '/sbin/docker-init');
    assert.deepEqual(spec.linux.resources.devices.at(-1), {
      allow: true,
      type: 'c',
      major: 10,
      minor: 259,
      access: 'r',
    });
    // --pid host: no PID namespace and no init (dockerd adds one only in a private one).
    const host = {
      process: { args: ['x'] },
      mounts: [],
      linux: { namespaces: [{ type: 'pid' }], resources: {} },
    };
    applyRuntimeFlags(host, {
      ...flags,
      devices: [],
      ipc: { kind: 'none' },
      pid: { kind: 'host' },
    });
    assert.deepEqual([host.process.args, host.linux.namespaces], [['x'], []]);
  });

  it("lists a dotted hostname's short name as libnetwork does", () => {
    assert.deepEqual(ownNames('a.b.c'), ['a.b.c', 'a']);
    assert.deepEqual(ownNames('h', 'example.com'), ['h.example.com', 'h']);
    assert.deepEqual(ownNames('abc123'), ['abc123']);
  });

  it('knows signals without SIG and real-time ones', () => {
    assert.equal(signalNumber('USR1'), 10);
    assert.equal(signalNumber('sigterm'), 15);
    assert.equal(signalNumber('9'), 9);
    assert.equal(signalNumber('RTMIN+3'), 37);
  });
});

describe('the CLI reads limit flags as docker does', () => {
  it('sizes, --cpus, --ulimit, --device', () => {
    assert.equal(ramInBytes('64m'), 64 * MiB);
    assert.equal(ramInBytes('1.5g'), 1.5 * 1024 * MiB);
    assert.equal(ramInBytes('512'), 512);
    assert.throws(() => ramInBytes('lots'), /invalid size: 'lots'/);
    assert.equal(nanoCpus('1.5'), 1.5e9);
    assert.equal(nanoCpus('.25'), 0.25e9);
    assert.throws(() => nanoCpus('0.0000000001'), /value is too precise/);
    assert.deepEqual(parseUlimit('nofile=1024:2048'), { Name: 'nofile', Hard: 2048, Soft: 1024 });
    assert.deepEqual(parseUlimit('nproc=100'), { Name: 'nproc', Hard: 100, Soft: 100 });
    assert.throws(() => parseUlimit('foo=1'), /invalid ulimit type: foo/);
    assert.throws(
      () => parseUlimit('nofile=20:10'),
      /soft limit must be less than or equal to hard limit: 20 > 10/,
    );
    assert.deepEqual(parseDevice('/dev/fuse'), {
      PathOnHost: '/dev/fuse',
      PathInContainer: '/dev/fuse',
      CgroupPermissions: 'rwm',
    });
    assert.deepEqual(parseDevice('/dev/null:r'), {
      PathOnHost: '/dev/null',
      PathInContainer: '/dev/null',
      CgroupPermissions: 'r',
    });
    assert.equal(parseDevice('/dev/null:/dev/n:rw').PathInContainer, '/dev/n');
    assert.throws(() => parseDevice('/dev/null:/dev/x:rwx'), /bad mode specified: rwx/);
  });
});
