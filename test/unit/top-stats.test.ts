/** The pure parts of top and stats: ps output, cgroup files, and the CLI's arithmetic. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePsOutput, validatePsArgs } from '../../src/containers/top.js';
import {
  memoryLimit,
  parseBlkio,
  parseIoStat,
  parseKeyValues,
  parseNetDev,
  systemCpu,
} from '../../src/containers/stats.js';
import { bytesSize, statsFigures } from '../../src/cli/commands/top-stats.js';

describe('top', () => {
  it('keeps the container processes, thread lines after them, the last column whole', () => {
    const out = [
      'UID   PID  PPID  C STIME TTY  TIME     CMD',
      'root  1    0     0 10:00 ?    00:00:01 /sbin/init splash',
      'root  42   1     0 10:00 ?    00:00:00 sh -c sleep 1000',
      'root  -    -     0 10:00 ?    00:00:00 -',
      'root  43   42    0 10:00 ?    00:00:00 sleep 1000',
      'root  -    -     0 10:00 ?    00:00:00 -',
      'root  99   1     0 10:00 ?    00:00:00 other',
      '',
    ].join('\n');
    const l = parsePsOutput(out, [42, 43]);
    assert.deepEqual(l.Titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    assert.deepEqual(
      l.Processes.map((p) => p[1]),
      ['42', '-', '43', '-'],
    );
    assert.equal(l.Processes[0]![7], 'sh -c sleep 1000');
    assert.throws(() => parsePsOutput('A B\n1 2\n', [1]), /Couldn't find PID field/);
  });

  it('refuses renaming a column to PID, as dockerd', () => {
    validatePsArgs('-ef');
    validatePsArgs('-o pid=PID');
    assert.throws(
      () => validatePsArgs('-o pid,comm=PID'),
      /specifying "pid,comm=PID" is not allowed/,
    );
    assert.throws(() => validatePsArgs('aux -o user= PIDX'), /specifying "user=PIDX"/);
  });
});

describe('stats', () => {
  it('reads the cgroup v1 and v2 files and the interfaces', () => {
    assert.deepEqual(parseKeyValues('cache 4096\nrss 8192\nbad x\n'), { cache: 4096, rss: 8192 });
    assert.deepEqual(parseBlkio('8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\nTotal 4608\n'), [
      { major: 8, minor: 0, op: 'Read', value: 4096 },
      { major: 8, minor: 0, op: 'Write', value: 512 },
      { major: 8, minor: 0, op: 'Total', value: 4608 },
    ]);
    const io = parseIoStat('254:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n');
    assert.deepEqual(
      io.bytes.map((b) => [b.op, b.value]),
      [
        ['read', 10],
        ['write', 20],
      ],
    );
    const dev = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0',
      '  eth0:     418       5    1    2    0     0          0         0      238       3    4    5    0     0       0          0',
    ].join('\n');
    assert.deepEqual(parseNetDev(dev), {
      eth0: {
        rx_bytes: 418,
        rx_packets: 5,
        rx_errors: 1,
        rx_dropped: 2,
        tx_bytes: 238,
        tx_packets: 3,
        tx_errors: 4,
        tx_dropped: 5,
      },
    });
    const sys = systemCpu('cpu  100 0 50 800 10 0 5 7 0 0\ncpu0 1 2\ncpu1 3 4\nintr 1\n');
    assert.deepEqual(sys, { usage: 965 * 1e7, cpus: 2 });
    assert.equal(memoryLimit(9223372036854771712, 8e9), 8e9);
    assert.equal(memoryLimit(64 << 20, 8e9), 64 << 20);
  });

  it('computes the columns as the docker CLI does', () => {
    const f = statsFigures({
      cpu_stats: { cpu_usage: { total_usage: 3e9 }, system_cpu_usage: 20e9, online_cpus: 2 },
      precpu_stats: { cpu_usage: { total_usage: 2e9 }, system_cpu_usage: 18e9 },
      memory_stats: { usage: 10 << 20, limit: 100 << 20, stats: { total_inactive_file: 2 << 20 } },
      networks: { eth0: { rx_bytes: 10, tx_bytes: 20 }, eth1: { rx_bytes: 1, tx_bytes: 2 } },
      blkio_stats: {
        io_service_bytes_recursive: [
          { op: 'Read', value: 5 },
          { op: 'Write', value: 7 },
          { op: 'Total', value: 12 },
        ],
      },
      pids_stats: { current: 3 },
    });
    assert.equal(f.cpuPercent, 100);
    assert.equal(f.memory, 8 << 20);
    assert.equal(f.memoryPercent, 8);
    assert.deepEqual([f.netRx, f.netTx, f.blockRead, f.blockWrite, f.pids], [11, 22, 5, 7, 3]);
    assert.equal(bytesSize(520192), '508KiB');
    assert.equal(bytesSize(25274925056), '23.54GiB');
    assert.equal(bytesSize(0), '0B');
  });
});
