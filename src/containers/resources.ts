/**
 * A container's resource limits as dockerd 20.10 reads them (HostConfig's
 * embedded `Resources`): the checks of verifyPlatformContainerResources with
 * its messages, the defaults it fills in (MemorySwap twice Memory), the OCI
 * `linux.resources` runc turns into cgroup files, what `runc update` is
 * given, `docker update`'s merge, and `--ulimit` as process rlimits
 * (decision 0032). Pure: what it needs of the machine comes in `HostFacts`.
 */
import { BerthError, invalid } from '../common/errors.js';
import type { Json } from '../common/validate.js';

/** What the checks need to know of the machine (kernel/sysinfo.ts reads it). */
export interface HostFacts {
  /** CPUs the daemon may run on (Go's runtime.NumCPU: the affinity mask). */
  numCpu: number;
  /** The cpuset hierarchy's root `cpuset.cpus` and `cpuset.mems` ("0-1", "0"). */
  cpus: string;
  mems: string;
  /** Whether the memory cgroup has swap accounting (memory.memsw.*). */
  swapLimit: boolean;
}

/** dockerd's linuxMinMemory: 6 MiB. */
export const MIN_MEMORY = 6 * 1024 * 1024;

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * parsers.ParseUintList: "0-2,4" into its numbers; `max` (when not 0) bounds
 * them. Throws dockerd's words ("invalid format: X", "value of out range").
 */
export function parseUintList(val: string, max = 0): Set<number> {
  const out = new Set<number>();
  if (val === '') return out;
  const bad = () => new Error(`invalid format: ${val}`);
  const int = (s: string): number => {
    if (!/^[+-]?\d+$/.test(s)) throw bad();
    return Number(s);
  };
  const over = (n: number) => {
    if (max !== 0 && n > max) throw new Error(`value of out range, maximum is ${max}`);
  };
  for (const r of val.split(',')) {
    const dash = r.indexOf('-');
    if (dash < 0) {
      const v = int(r);
      over(v);
      out.add(v);
      continue;
    }
    const lo = int(r.slice(0, dash));
    const hi = int(r.slice(dash + 1));
    if (hi < lo) throw bad();
    over(hi);
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return out;
}

/** sysinfo's isCpusetListAvailable: whether every number of `provided` is in `available`. */
function cpusetAvailable(provided: string, available: string): boolean {
  const have = parseUintList(available);
  const max = Math.max(8192, ...have);
  for (const n of parseUintList(provided, max)) if (!have.has(n)) return false;
  return true;
}

function cpuset(kind: 'cpus' | 'mems', provided: string, available: string): void {
  let ok: boolean;
  try {
    ok = cpusetAvailable(provided, available);
  } catch (e) {
    throw invalid(`Invalid value ${provided} for cpuset ${kind}: ${(e as Error).message}`);
  }
  if (!ok) {
    const what = kind === 'cpus' ? 'CPUs' : 'memory nodes';
    throw invalid(
      `Requested ${what} are not available - requested ${provided}, available: ${available}`,
    );
  }
}

/**
 * verifyPlatformContainerResources (and the OomScoreAdj range of
 * verifyPlatformContainerSettings): throws dockerd's 400 for limits it
 * refuses, returns the warnings it gives. `r` is a HostConfig or an update
 * body; `update` relaxes what dockerd relaxes for `docker update`. Adjusts
 * `r` as dockerd does when the kernel lacks swap accounting.
 */
export function checkResources(r: Json, host: HostFacts, update: boolean): string[] {
  const warnings: string[] = [];
  const memory = num(r.Memory);
  if (memory !== 0 && memory < MIN_MEMORY) throw invalid('Minimum memory limit allowed is 6MB');
  if (memory > 0 && r.MemorySwap !== -1 && !host.swapLimit) {
    warnings.push(
      'Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.',
    );
    r.MemorySwap = -1;
  }
  const swap = num(r.MemorySwap);
  if (memory > 0 && swap > 0 && swap < memory) {
    throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  if (memory === 0 && swap > 0 && !update) {
    throw invalid('You should always set the Memory limit when using Memoryswap limit, see usage');
  }
  const swappiness = r.MemorySwappiness;
  if (typeof swappiness === 'number' && swappiness !== -1 && (swappiness < 0 || swappiness > 100)) {
    throw invalid(`Invalid value: ${swappiness}, valid memory swappiness range is 0-100`);
  }
  const reservation = num(r.MemoryReservation);
  if (reservation > 0 && reservation < MIN_MEMORY) {
    throw invalid('Minimum memory reservation allowed is 6MB');
  }
  if (memory > 0 && reservation > 0 && memory < reservation) {
    throw invalid('Minimum memory limit can not be less than memory reservation limit, see usage');
  }
  if (r.OomKillDisable === true && memory === 0) {
    warnings.push(
      'OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.',
    );
  }
  const nano = num(r.NanoCpus);
  const period = num(r.CpuPeriod);
  const quota = num(r.CpuQuota);
  if (nano > 0 && period > 0) {
    throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  }
  if (nano > 0 && quota > 0) {
    throw invalid('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  }
  if (nano < 0 || nano > host.numCpu * 1e9) {
    throw invalid(
      `Range of CPUs is from 0.01 to ${host.numCpu}.00, as there are only ${host.numCpu} CPUs available`,
    );
  }
  if (period !== 0 && (period < 1000 || period > 1000000)) {
    throw invalid(
      'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)',
    );
  }
  if (quota > 0 && quota < 1000) {
    throw invalid('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  }
  cpuset('cpus', str(r.CpusetCpus), host.cpus);
  cpuset('mems', str(r.CpusetMems), host.mems);
  const oom = num(r.OomScoreAdj);
  if (oom < -1000 || oom > 1000) {
    throw invalid(`Invalid value ${oom}, range for oom score adj is [-1000, 1000]`);
  }
  return warnings;
}

/** What dockerd fills in at create (adaptContainerSettings and the create route). */
export function adaptResources(hc: Json): void {
  const memory = num(hc.Memory);
  if (memory > 0 && num(hc.MemorySwap) === 0) hc.MemorySwap = memory * 2;
  // 0 and negative values are "unlimited": not set at all.
  if (typeof hc.PidsLimit === 'number' && hc.PidsLimit <= 0) hc.PidsLimit = null;
  if (hc.OomKillDisable === undefined || hc.OomKillDisable === null) hc.OomKillDisable = false;
  // fixMemorySwappiness: -1 is "not set".
  if (hc.MemorySwappiness === -1) hc.MemorySwappiness = null;
}

export interface OciMemory {
  limit?: number;
  reservation?: number;
  swap?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
}
export interface OciCpu {
  shares?: number;
  quota?: number;
  period?: number;
  cpus?: string;
  mems?: string;
}
export interface OciResources {
  memory?: OciMemory;
  cpu?: OciCpu;
  pids?: { limit: number };
}

/** dockerd's CFS period for --cpus: 100 ms. */
const NANO_PERIOD = 100000;

/** The part of `linux.resources` a HostConfig's limits make (getMemoryResources & co.). */
export function ociResources(hc: Json): OciResources {
  const out: OciResources = {};
  const memory: OciMemory = {};
  if (num(hc.Memory) > 0) memory.limit = num(hc.Memory);
  if (num(hc.MemoryReservation) > 0) memory.reservation = num(hc.MemoryReservation);
  if (num(hc.MemorySwap) > 0) memory.swap = num(hc.MemorySwap);
  const swappiness = hc.MemorySwappiness;
  if (typeof swappiness === 'number' && swappiness >= 0) memory.swappiness = swappiness;
  if (hc.OomKillDisable === true) memory.disableOOMKiller = true;
  if (Object.keys(memory).length) out.memory = memory;
  const cpu: OciCpu = {};
  if (num(hc.CpuShares) < 0) throw invalid('shares: invalid argument');
  if (num(hc.CpuShares) > 0) cpu.shares = num(hc.CpuShares);
  if (str(hc.CpusetCpus)) cpu.cpus = str(hc.CpusetCpus);
  if (str(hc.CpusetMems)) cpu.mems = str(hc.CpusetMems);
  if (num(hc.NanoCpus) > 0) {
    cpu.period = NANO_PERIOD;
    cpu.quota = Math.floor((num(hc.NanoCpus) * NANO_PERIOD) / 1e9);
  }
  if (num(hc.CpuPeriod) !== 0) cpu.period = num(hc.CpuPeriod);
  if (num(hc.CpuQuota) !== 0) cpu.quota = num(hc.CpuQuota);
  if (Object.keys(cpu).length) out.cpu = cpu;
  if (typeof hc.PidsLimit === 'number') out.pids = { limit: hc.PidsLimit > 0 ? hc.PidsLimit : -1 };
  return out;
}

/**
 * The resources `runc update` is given for a running container after an
 * update (dockerd's toContainerdResources): every limit written, a removed
 * one as 0 (runc leaves 0 alone) or, for pids, -1.
 */
export function updateResources(hc: Json): OciResources {
  let period = 0;
  let quota = 0;
  if (num(hc.NanoCpus) !== 0) {
    period = NANO_PERIOD;
    quota = Math.floor((num(hc.NanoCpus) * NANO_PERIOD) / 1e9);
  }
  if (quota === 0 && num(hc.CpuQuota) !== 0) quota = num(hc.CpuQuota);
  if (period === 0 && num(hc.CpuPeriod) !== 0) period = num(hc.CpuPeriod);
  const memory: OciMemory = {
    limit: num(hc.Memory),
    reservation: num(hc.MemoryReservation),
  };
  if (num(hc.MemorySwap) > 0) memory.swap = num(hc.MemorySwap);
  const out: OciResources = {
    memory,
    cpu: {
      shares: num(hc.CpuShares),
      cpus: str(hc.CpusetCpus),
      mems: str(hc.CpusetMems),
      period,
      quota,
    },
  };
  if (typeof hc.PidsLimit === 'number' || hc.PidsLimit === null) {
    const p = num(hc.PidsLimit);
    out.pids = { limit: p > 0 ? p : -1 };
  }
  return out;
}

/** The Resources fields `docker update` may change (and RestartPolicy beside them). */
export const UPDATE_FIELDS = [
  'CpuShares',
  'Memory',
  'NanoCpus',
  'CpuPeriod',
  'CpuQuota',
  'CpusetCpus',
  'CpusetMems',
  'MemoryReservation',
  'MemorySwap',
  'PidsLimit',
] as const;

const conflicting = (msg: string) => new BerthError('CONFLICT', msg);

/**
 * container.UpdateContainer: merges an update body's limits into a stored
 * HostConfig (a zero value changes nothing; PidsLimit 0 or less removes the
 * limit), with dockerd's 409s for the conflicts it refuses.
 */
export function mergeUpdate(hc: Json, u: Json): void {
  const set = (k: string) => num(hc[k]) > 0;
  if (num(u.NanoCpus) > 0 && set('CpuPeriod')) {
    throw conflicting(
      'Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set',
    );
  }
  if (num(u.NanoCpus) > 0 && set('CpuQuota')) {
    throw conflicting(
      'Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set',
    );
  }
  if (num(u.CpuPeriod) > 0 && set('NanoCpus')) {
    throw conflicting(
      'Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set',
    );
  }
  if (num(u.CpuQuota) > 0 && set('NanoCpus')) {
    throw conflicting(
      'Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set',
    );
  }
  if (num(u.Memory) !== 0 && num(u.Memory) > num(hc.MemorySwap) && num(u.MemorySwap) === 0) {
    throw conflicting(
      'Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time',
    );
  }
  for (const k of UPDATE_FIELDS) {
    if (k === 'PidsLimit') continue;
    const v = u[k];
    if (v !== undefined && v !== null && v !== 0 && v !== '') hc[k] = v;
  }
  if (typeof u.PidsLimit === 'number') hc.PidsLimit = Math.max(u.PidsLimit, 0);
}

/** The rlimit names `--ulimit` knows (go-units). */
const ULIMITS = new Set([
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'rttime',
  'sigpending',
  'stack',
]);

export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

/** Checks HostConfig.Ulimits (each {Name, Soft, Hard}): go-units' messages. */
export function checkUlimits(v: unknown): Ulimit[] {
  if (!Array.isArray(v)) return [];
  return v.map((u: Json) => {
    const name = str(u.Name);
    if (!ULIMITS.has(name)) throw invalid(`invalid ulimit type: ${name}`);
    const soft = u.Soft;
    const hard = u.Hard;
    if (!Number.isSafeInteger(soft) || !Number.isSafeInteger(hard)) {
      throw invalid(`invalid ulimit argument: ${name}: soft and hard must be integers`);
    }
    if ((soft as number) > (hard as number)) {
      throw invalid(
        `ulimit soft limit must be less than or equal to hard limit: ${String(soft)} > ${String(hard)}`,
      );
    }
    return { Name: name, Soft: soft as number, Hard: hard as number };
  });
}

/**
 * An rlimit value as runc reads it (a uint64): a negative int64 is Go's
 * uint64() of it (-1 is RLIM_INFINITY). Too big for a JS number, so the
 * spec carries it as the placeholder specJson() writes as a bare number.
 */
function rlimitValue(n: number): number | string {
  return n >= 0 ? n : `${U64}${(2n ** 64n + BigInt(n)).toString()}`;
}
const U64 = '\u0000u64:';

/** process.rlimits for `--ulimit` (dockerd's WithRlimits; the daemon has no defaults). */
export function rlimits(
  list: Ulimit[],
): Array<{ type: string; soft: number | string; hard: number | string }> {
  return list.map((u) => ({
    type: `RLIMIT_${u.Name.toUpperCase()}`,
    soft: rlimitValue(u.Soft),
    hard: rlimitValue(u.Hard),
  }));
}

/** The spec as JSON, with rlimitValue's placeholders written as the numbers they stand for. */
export function specJson(spec: unknown): string {
  return JSON.stringify(spec).replace(/"\\u0000u64:(\d+)"/g, '$1');
}
