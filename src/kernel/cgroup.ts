/**
 * A container's cgroups as the kernel shows them: where its directories are
 * (runc's record of them, else where `cgroupsPath: /berth/<id>` puts them on
 * a v1, hybrid or v2 layout), the PIDs in them, and the raw counters `docker
 * stats` is made of. Reads only; runc creates and removes them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = '/sys/fs/cgroup';
const V1_CONTROLLERS = [
  'blkio',
  'cpu',
  'cpuacct',
  'cpuset',
  'devices',
  'freezer',
  'memory',
  'pids',
];

/** A container's cgroup directories by controller (`""`: the cgroup v2 one). */
export type CgroupDirs = Record<string, string>;

/** Whether this machine has the unified (v2 only) layout. */
export function unifiedOnly(): boolean {
  return existsSync(join(ROOT, 'cgroup.controllers'));
}

/** Where `cgroupsPath` (`/berth/<id>`) puts a container's cgroups when runc's record is not at hand. */
export function guessDirs(cgroupsPath: string): CgroupDirs {
  if (unifiedOnly()) return { '': join(ROOT, cgroupsPath) };
  const out: CgroupDirs = {};
  for (const c of V1_CONTROLLERS) out[c] = join(ROOT, c, cgroupsPath);
  if (existsSync(join(ROOT, 'unified'))) out[''] = join(ROOT, 'unified', cgroupsPath);
  return out;
}

/** Whether the layout of `dirs` is v1 (one hierarchy per controller). */
export function isV1(dirs: CgroupDirs): boolean {
  return Object.keys(dirs).some((k) => k !== '');
}

/** A file of one controller's directory, or undefined when it cannot be read. */
export function readCgroupFile(
  dirs: CgroupDirs,
  controller: string,
  file: string,
): string | undefined {
  const dir = isV1(dirs) ? dirs[controller] : dirs[''];
  if (!dir) return undefined;
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Every PID in the container's cgroup and its children, as containerd's
 * ListPids answers (from the pids, else freezer, else devices controller).
 */
export function cgroupPids(dirs: CgroupDirs): number[] {
  const dir = isV1(dirs) ? (dirs.pids ?? dirs.freezer ?? dirs.devices) : dirs[''];
  if (!dir) return [];
  const out: number[] = [];
  const walk = (d: string) => {
    let text = '';
    try {
      text = readFileSync(join(d, 'cgroup.procs'), 'utf8');
    } catch {
      return;
    }
    for (const l of text.split('\n')) if (l.trim()) out.push(Number(l));
    let subs: string[] = [];
    try {
      subs = readdirSync(d, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return;
    }
    for (const s of subs) walk(join(d, s));
  };
  walk(dir);
  return out;
}
