/**
 * The resource-limit and runtime flags of `run`/`create` and `update`, read
 * as the docker CLI reads them (go-units sizes, --cpus as a decimal,
 * --ulimit, --device, --sysctl) with its messages, and the HostConfig
 * fields they set (decision 0032).
 */
import { isIpcSysctl } from '../common/sysctls.js';
import type { FlagDef, Flags } from './flags.js';

/** A user error in a limit flag (run/create report it as their option errors, exit 125). */
export class OptionError extends Error {}

const S = (long: string, short: string | undefined, usage: string): FlagDef => ({
  long,
  short,
  type: 'string',
  usage,
});
const L = (long: string, usage: string, argName = 'list'): FlagDef => ({
  long,
  type: 'list',
  usage,
  argName,
});

/** The limit flags `run`, `create` and `update` share. */
export const LIMIT_FLAGS: FlagDef[] = [
  S('cpu-period', undefined, 'Limit CPU CFS (Completely Fair Scheduler) period'),
  S('cpu-quota', undefined, 'Limit CPU CFS (Completely Fair Scheduler) quota'),
  S('cpu-shares', 'c', 'CPU shares (relative weight)'),
  S('cpus', undefined, 'Number of CPUs'),
  S('cpuset-cpus', undefined, 'CPUs in which to allow execution (0-3, 0,1)'),
  S('cpuset-mems', undefined, 'MEMs in which to allow execution (0-3, 0,1)'),
  S('memory', 'm', 'Memory limit'),
  S('memory-reservation', undefined, 'Memory soft limit'),
  S(
    'memory-swap',
    undefined,
    "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
  ),
  S('pids-limit', undefined, 'Tune container pids limit (set -1 for unlimited)'),
];

/** The flags only `run` and `create` have. */
export const RUN_LIMIT_FLAGS: FlagDef[] = [
  ...LIMIT_FLAGS,
  S('memory-swappiness', undefined, 'Tune container memory swappiness (0 to 100)'),
  { long: 'oom-kill-disable', type: 'bool', usage: 'Disable OOM Killer' },
  S('oom-score-adj', undefined, "Tune host's OOM preferences (-1000 to 1000)"),
  L('ulimit', 'Ulimit options', 'ulimit'),
  L('device', 'Add a host device to the container'),
];

/** go-units RAMInBytes: "64m", "1.5g", "512" (bytes), binary multiples. */
export function ramInBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)*) ?([kmgtp])?i?b?$/i.exec(s);
  if (!m) throw new OptionError(`invalid size: '${s}'`);
  const mult = { k: 1, m: 2, g: 3, t: 4, p: 5 }[(m[2] ?? '').toLowerCase()] ?? 0;
  return Math.floor(Number(m[1]) * 1024 ** mult);
}

/** The CLI's int64 flag parsing (strconv.ParseInt), with pflag's message. */
function int(f: Flags, name: string): number {
  const v = f.str(name);
  if (!/^[+-]?\d+$/.test(v)) {
    throw new OptionError(
      `invalid argument "${v}" for "--${name}" flag: strconv.ParseInt: parsing "${v}": invalid syntax`,
    );
  }
  return Number(v);
}

/** opts.NanoCPUs: a decimal number of CPUs, in billionths. */
export function nanoCpus(v: string): number {
  const m = /^(\d*)(?:\.(\d*))?$/.exec(v);
  if (!m || (m[1] === '' && !m[2])) {
    throw new OptionError(
      `invalid argument "${v}" for "--cpus" flag: failed to parse ${v} as a rational number`,
    );
  }
  const frac = (m[2] ?? '').replace(/0+$/, '');
  if (frac.length > 9) {
    throw new OptionError(`invalid argument "${v}" for "--cpus" flag: value is too precise`);
  }
  return Number(m[1] || '0') * 1e9 + Number(frac.padEnd(9, '0') || '0');
}

/** go-units ParseUlimit: "nofile=1024[:2048]". */
export function parseUlimit(v: string): { Name: string; Hard: number; Soft: number } {
  const bad = (why: string) =>
    new OptionError(`invalid argument "${v}" for "--ulimit" flag: ${why}`);
  const eq = v.indexOf('=');
  if (eq < 0) throw bad(`invalid ulimit argument: ${v}`);
  const name = v.slice(0, eq);
  const known =
    'core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime sigpending stack';
  if (!known.split(' ').includes(name)) throw bad(`invalid ulimit type: ${name}`);
  const parts = v.slice(eq + 1).split(':');
  if (parts.length > 2 || parts.some((p) => !/^[+-]?\d+$/.test(p))) {
    throw bad(
      `too many limit value arguments - ${v.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``,
    );
  }
  const soft = Number(parts[0]);
  const hard = parts.length === 2 ? Number(parts[1]) : soft;
  if (soft > hard) {
    throw bad(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  }
  return { Name: name, Hard: hard, Soft: soft };
}

const validMode = (m: string): boolean =>
  m.length > 0 && m.length <= 3 && /^[rwm]+$/.test(m) && new Set(m).size === m.length;

/** The CLI's parseDevice: "HOST[:CONTAINER][:rwm]". */
export function parseDevice(v: string): {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
} {
  const parts = v.split(':');
  let src = parts[0] ?? '';
  let dst = '';
  let mode = 'rwm';
  if (parts.length === 3) {
    if (!validMode(parts[2]!)) throw new OptionError(`bad mode specified: ${parts[2]}`);
    dst = parts[1]!;
    mode = parts[2]!;
  } else if (parts.length === 2) {
    if (validMode(parts[1]!)) mode = parts[1]!;
    else dst = parts[1]!;
  } else if (parts.length !== 1) {
    throw new OptionError(`invalid device specification: ${v}`);
  }
  if (!src.startsWith('/')) throw new OptionError(`bad format for path: ${src}`);
  src = src.replace(/\/+$/, '') || '/';
  return { PathOnHost: src, PathInContainer: dst || src, CgroupPermissions: mode };
}

/** opts.ValidateSysctl. */
export function validateSysctl(v: string): string {
  const eq = v.indexOf('=');
  const k = eq < 0 ? '' : v.slice(0, eq);
  if (k && (isIpcSysctl(k) || k.startsWith('net.'))) return v;
  throw new OptionError(
    `invalid argument "${v}" for "--sysctl" flag: sysctl '${v}' is not allowed`,
  );
}

/** The Resources fields the shared limit flags set (only those given; -1 swap as -1). */
export function limitFields(f: Flags): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const size = (name: string) => {
    try {
      return ramInBytes(f.str(name));
    } catch (e) {
      throw new OptionError(
        `invalid argument "${f.str(name)}" for "--${name}" flag: ${(e as Error).message}`,
      );
    }
  };
  if (f.has('cpu-shares')) out.CpuShares = int(f, 'cpu-shares');
  if (f.has('memory')) out.Memory = size('memory');
  if (f.has('cpus')) out.NanoCpus = nanoCpus(f.str('cpus'));
  if (f.has('cpu-period')) out.CpuPeriod = int(f, 'cpu-period');
  if (f.has('cpu-quota')) out.CpuQuota = int(f, 'cpu-quota');
  if (f.has('cpuset-cpus')) out.CpusetCpus = f.str('cpuset-cpus');
  if (f.has('cpuset-mems')) out.CpusetMems = f.str('cpuset-mems');
  if (f.has('memory-reservation')) out.MemoryReservation = size('memory-reservation');
  if (f.has('memory-swap'))
    out.MemorySwap = f.str('memory-swap') === '-1' ? -1 : size('memory-swap');
  if (f.has('pids-limit')) out.PidsLimit = int(f, 'pids-limit');
  return out;
}

/** The HostConfig fields `run`/`create` set from their limit and runtime flags. */
export function runLimitFields(f: Flags): Record<string, unknown> {
  const out = limitFields(f);
  if (f.has('memory-swappiness')) out.MemorySwappiness = int(f, 'memory-swappiness');
  if (f.bool('oom-kill-disable')) out.OomKillDisable = true;
  if (f.has('oom-score-adj')) out.OomScoreAdj = int(f, 'oom-score-adj');
  if (f.list('ulimit').length) out.Ulimits = f.list('ulimit').map(parseUlimit);
  if (f.list('device').length) out.Devices = f.list('device').map(parseDevice);
  for (const s of f.list('sysctl')) validateSysctl(s);
  return out;
}
