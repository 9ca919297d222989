/**
 * What the machine offers containers' limits, as dockerd's sysinfo reads it:
 * the CPUs this process may use, the cpuset root's CPUs and memory nodes,
 * whether the memory cgroup accounts swap (cgroup v1 here, decision 0032).
 */
import { readFileSync, existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';

const CGROUP = '/sys/fs/cgroup';

function read(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

export interface SysInfo {
  numCpu: number;
  cpus: string;
  mems: string;
  swapLimit: boolean;
}

/** Read each time (cheap): the cpuset can change under a running daemon. */
export function sysInfo(): SysInfo {
  const numCpu = availableParallelism();
  const v1 = existsSync(`${CGROUP}/cpuset/cpuset.cpus`);
  return {
    numCpu,
    cpus: v1
      ? read(`${CGROUP}/cpuset/cpuset.cpus`, `0-${numCpu - 1}`)
      : read(`${CGROUP}/cpuset.cpus.effective`, `0-${numCpu - 1}`),
    mems: v1
      ? read(`${CGROUP}/cpuset/cpuset.mems`, '0')
      : read(`${CGROUP}/cpuset.mems.effective`, '0'),
    swapLimit: v1 ? existsSync(`${CGROUP}/memory/memory.memsw.limit_in_bytes`) : true,
  };
}

/** Where a tiny init for `--init` is on this machine (Debian's tini, static). */
export function initBinary(): string | undefined {
  for (const p of ['/usr/bin/tini-static', '/usr/sbin/tini-static']) {
    if (existsSync(p)) return p;
  }
  return undefined;
}
