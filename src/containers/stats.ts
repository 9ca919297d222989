/**
 * `docker stats`: one sample of a container's cgroup counters in the shape
 * of Docker's StatsJSON (API 1.41), which the docker CLI turns into CPU %,
 * MEM USAGE / LIMIT, NET I/O, BLOCK I/O and PIDS. cgroup v1 (and hybrid)
 * is what dockerd 20.10 reads on such a host: cpuacct, memory, blkio
 * (throttle files), pids; cgroup v2 is read from its unified files. Network
 * counters come from the container's interfaces (its init's
 * /proc/PID/net/dev, loopback left out, as dockerd reads its sandbox).
 * The parsers are pure and unit-tested; `sample` reads the files.
 */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { cgroupPids, isV1, readCgroupFile, type CgroupDirs } from '../kernel/cgroup.js';

/** Nanoseconds per USER_HZ tick (Linux reports 100 ticks a second to user space). */
const NS_PER_TICK = 1e7;
/** cgroup v1's "no limit" (PAGE_COUNTER_MAX pages, rounded). */
const V1_UNLIMITED = 9223372036854771712;

export interface CpuStats {
  cpu_usage: {
    total_usage: number;
    percpu_usage?: number[];
    usage_in_kernelmode: number;
    usage_in_usermode: number;
  };
  system_cpu_usage?: number;
  online_cpus?: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

export interface NetStats {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

export interface StatsJson {
  read: string;
  preread: string;
  pids_stats: { current?: number; limit?: number };
  blkio_stats: {
    io_service_bytes_recursive: BlkioEntry[] | null;
    io_serviced_recursive: BlkioEntry[] | null;
    io_queue_recursive: BlkioEntry[] | null;
    io_service_time_recursive: BlkioEntry[] | null;
    io_wait_time_recursive: BlkioEntry[] | null;
    io_merged_recursive: BlkioEntry[] | null;
    io_time_recursive: BlkioEntry[] | null;
    sectors_recursive: BlkioEntry[] | null;
  };
  num_procs: number;
  storage_stats: Record<string, never>;
  cpu_stats: CpuStats;
  precpu_stats: CpuStats;
  memory_stats: {
    usage?: number;
    max_usage?: number;
    stats?: Record<string, number>;
    failcnt?: number;
    limit?: number;
  };
  name: string;
  id: string;
  networks?: Record<string, NetStats>;
}

/** Go's zero time, as an empty sample's dates. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** An empty CpuStats (the precpu of a first sample). */
export function emptyCpu(): CpuStats {
  return {
    cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  };
}

/** What dockerd sends for a container that does not run: its name and ID, the rest zero. */
export function emptyStats(name: string, id: string): StatsJson {
  return {
    read: ZERO_TIME,
    preread: ZERO_TIME,
    pids_stats: {},
    blkio_stats: {
      io_service_bytes_recursive: null,
      io_serviced_recursive: null,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: emptyCpu(),
    precpu_stats: emptyCpu(),
    memory_stats: {},
    name,
    id,
  };
}

/** `key value` lines (memory.stat, cpu.stat, cpuacct.stat) as numbers. */
export function parseKeyValues(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** A v1 blkio file (`8:0 Read 4096` lines, then `Total N`). */
export function parseBlkio(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\d+):(\d+)\s+(\S+)\s+(\d+)$/.exec(line.trim());
    if (m) out.push({ major: +m[1]!, minor: +m[2]!, op: m[3]!, value: +m[4]! });
  }
  return out;
}

/** cgroup v2's io.stat (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...`) as v1-style entries. */
export function parseIoStat(text: string | undefined): {
  bytes: BlkioEntry[];
  ios: BlkioEntry[];
} {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [dev, ...kvs] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!m) continue;
    const v = Object.fromEntries(kvs.map((kv) => kv.split('=')).map(([k, n]) => [k, Number(n)]));
    const d = { major: +m[1]!, minor: +m[2]! };
    bytes.push(
      { ...d, op: 'read', value: v.rbytes ?? 0 },
      { ...d, op: 'write', value: v.wbytes ?? 0 },
    );
    ios.push({ ...d, op: 'read', value: v.rios ?? 0 }, { ...d, op: 'write', value: v.wios ?? 0 });
  }
  return { bytes, ios };
}

/** /proc/PID/net/dev: each interface's counters, loopback left out. */
export function parseNetDev(text: string): Record<string, NetStats> {
  const out: Record<string, NetStats> = {};
  for (const line of text.split('\n').slice(2)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const name = line.slice(0, i).trim();
    if (name === 'lo') continue;
    const n = line
      .slice(i + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    out[name] = {
      rx_bytes: n[0] ?? 0,
      rx_packets: n[1] ?? 0,
      rx_errors: n[2] ?? 0,
      rx_dropped: n[3] ?? 0,
      tx_bytes: n[8] ?? 0,
      tx_packets: n[9] ?? 0,
      tx_errors: n[10] ?? 0,
      tx_dropped: n[11] ?? 0,
    };
  }
  return out;
}

/**
 * The host's CPU time (ns) and its online CPUs from /proc/stat, as dockerd's
 * getSystemCPUUsage: the first seven fields of the `cpu` line.
 */
export function systemCpu(procStat: string): { usage: number; cpus: number } {
  const lines = procStat.split('\n');
  const total = (lines[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1, 8)
    .reduce((a, b) => a + Number(b), 0);
  const cpus = lines.filter((l) => /^cpu\d+\s/.test(l)).length;
  return { usage: total * NS_PER_TICK, cpus };
}

/** The memory limit as the CLI shows it: no limit is the host's memory, as dockerd. */
export function memoryLimit(raw: number | undefined, machine = totalmem()): number | undefined {
  if (raw === undefined) return undefined;
  return raw >= V1_UNLIMITED || raw > machine ? machine : raw;
}

function num(text: string | undefined): number | undefined {
  const t = text?.trim();
  return t && /^\d+$/.test(t) ? Number(t) : undefined;
}

/** One sample of a running container's counters (precpu and preread empty). */
export function sample(
  c: { name: string; id: string; pid: number; hostNetwork: boolean },
  dirs: CgroupDirs,
): StatsJson {
  const s = emptyStats(c.name, c.id);
  s.read = new Date().toISOString();
  const sys = systemCpu(readFileSync('/proc/stat', 'utf8'));
  s.cpu_stats.system_cpu_usage = sys.usage;
  s.cpu_stats.online_cpus = sys.cpus;
  if (isV1(dirs)) {
    const ticks = parseKeyValues(readCgroupFile(dirs, 'cpuacct', 'cpuacct.stat'));
    const percpu = (readCgroupFile(dirs, 'cpuacct', 'cpuacct.usage_percpu') ?? '')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
    s.cpu_stats.cpu_usage = {
      total_usage: num(readCgroupFile(dirs, 'cpuacct', 'cpuacct.usage')) ?? 0,
      ...(percpu.length ? { percpu_usage: percpu } : {}),
      usage_in_kernelmode: (ticks.system ?? 0) * NS_PER_TICK,
      usage_in_usermode: (ticks.user ?? 0) * NS_PER_TICK,
    };
    const thr = parseKeyValues(readCgroupFile(dirs, 'cpu', 'cpu.stat'));
    s.cpu_stats.throttling_data = {
      periods: thr.nr_periods ?? 0,
      throttled_periods: thr.nr_throttled ?? 0,
      throttled_time: thr.throttled_time ?? 0,
    };
    s.memory_stats = {
      usage: num(readCgroupFile(dirs, 'memory', 'memory.usage_in_bytes')),
      max_usage: num(readCgroupFile(dirs, 'memory', 'memory.max_usage_in_bytes')),
      stats: parseKeyValues(readCgroupFile(dirs, 'memory', 'memory.stat')),
      failcnt: num(readCgroupFile(dirs, 'memory', 'memory.failcnt')),
      limit: memoryLimit(num(readCgroupFile(dirs, 'memory', 'memory.limit_in_bytes'))),
    };
    s.blkio_stats.io_service_bytes_recursive = parseBlkio(
      readCgroupFile(dirs, 'blkio', 'blkio.throttle.io_service_bytes_recursive'),
    );
    s.blkio_stats.io_serviced_recursive = parseBlkio(
      readCgroupFile(dirs, 'blkio', 'blkio.throttle.io_serviced_recursive'),
    );
  } else {
    const cpu = parseKeyValues(readCgroupFile(dirs, '', 'cpu.stat'));
    s.cpu_stats.cpu_usage = {
      total_usage: (cpu.usage_usec ?? 0) * 1000,
      usage_in_kernelmode: (cpu.system_usec ?? 0) * 1000,
      usage_in_usermode: (cpu.user_usec ?? 0) * 1000,
    };
    s.cpu_stats.throttling_data = {
      periods: cpu.nr_periods ?? 0,
      throttled_periods: cpu.nr_throttled ?? 0,
      throttled_time: (cpu.throttled_usec ?? 0) * 1000,
    };
    const max = readCgroupFile(dirs, '', 'memory.max')?.trim();
    s.memory_stats = {
      usage: num(readCgroupFile(dirs, '', 'memory.current')),
      stats: parseKeyValues(readCgroupFile(dirs, '', 'memory.stat')),
      limit: memoryLimit(max === 'max' ? Infinity : num(max)),
    };
    const io = parseIoStat(readCgroupFile(dirs, '', 'io.stat'));
    s.blkio_stats.io_service_bytes_recursive = io.bytes;
    s.blkio_stats.io_serviced_recursive = io.ios;
  }
  const pidsMax = readCgroupFile(dirs, 'pids', 'pids.max')?.trim();
  s.pids_stats = {
    current: num(readCgroupFile(dirs, 'pids', 'pids.current')) ?? cgroupPids(dirs).length,
    ...(pidsMax && pidsMax !== 'max' ? { limit: Number(pidsMax) } : {}),
  };
  if (!c.hostNetwork && c.pid > 0) {
    try {
      const nets = parseNetDev(readFileSync(`/proc/${c.pid}/net/dev`, 'utf8'));
      if (Object.keys(nets).length) s.networks = nets;
    } catch {
      // The process is gone: no network counters in this sample.
    }
  }
  return s;
}
