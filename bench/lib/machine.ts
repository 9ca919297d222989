/**
 * What the machine itself looks like from outside the lab: its own network
 * namespace (links, firewall, forwarding sysctls), the directories a stock
 * dockerd/containerd create at fixed paths whatever their --exec-root, and
 * mounts outside the lab. Taken before and after a benchmark, the difference
 * is what the run leaked.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/**
 * Fixed paths dockerd 20.10 and containerd 1.6 create even with --data-root and
 * --exec-root elsewhere: /run/docker/plugins (plugin discovery),
 * /run/containerd/s (shim sockets), /opt/containerd (containerd's "opt"
 * plugin), /etc/docker/key.json (moved to the lab by `deprecated-key-path`).
 */
export const FIXED_PATHS = [
  '/run/docker/plugins',
  '/run/docker',
  '/run/containerd/s',
  '/run/containerd',
  '/opt/containerd/bin',
  '/opt/containerd/lib',
  '/opt/containerd',
  '/var/lib/docker',
  '/var/lib/containerd',
  '/etc/docker/key.json',
];

/** State of the machine outside the lab, as far as this benchmark could change it. */
export interface MachineSnapshot {
  /** Interface names in the machine's own network namespace. */
  links: string[];
  /** Line count of `iptables-save` in the machine's namespace. */
  iptablesLines: number;
  /** Line count of `ip6tables-save` in the machine's namespace. */
  ip6tablesLines: number;
  /** Forwarding and bridge-netfilter sysctls of the machine's namespace. */
  sysctls: Record<string, string>;
  /** Which of FIXED_PATHS exist. */
  paths: string[];
  /** Mount points outside the lab root and /run/netns (overlays, nsfs, binds). */
  mounts: string[];
}

const SYSCTLS = [
  'net/ipv4/ip_forward',
  'net/ipv6/conf/all/forwarding',
  'net/bridge/bridge-nf-call-iptables',
  'net/bridge/bridge-nf-call-ip6tables',
];

function lineCount(argv: string[]): number {
  const [prog, ...args] = argv;
  const r = spawnSync(prog as string, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) return -1;
  return r.stdout.split('\n').filter((l) => l !== '').length;
}

function sysctl(key: string): string {
  try {
    return readFileSync(`/proc/sys/${key}`, 'utf8').trim();
  } catch {
    return '(absent)';
  }
}

function unescapeMount(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points (with fs type) outside `labRoot` and /run/netns. */
function foreignMounts(labRoot: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length > 2)
    .map((f) => ({ point: unescapeMount(f[1] as string), type: f[2] as string }))
    .filter(
      (m) =>
        !m.point.startsWith(labRoot + '/') &&
        !m.point.startsWith('/run/netns/') &&
        /docker|containerd|overlay|nsfs|berth/.test(`${m.point} ${m.type}`),
    )
    .map((m) => `${m.type} ${m.point}`);
}

/** Takes a snapshot of the machine (its own namespace; this process must run there). */
export function snapshotMachine(labRoot: string): MachineSnapshot {
  const ip = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' });
  const links = ip.stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort();
  return {
    links,
    iptablesLines: lineCount(['iptables-save']),
    ip6tablesLines: lineCount(['ip6tables-save']),
    sysctls: Object.fromEntries(SYSCTLS.map((k) => [k, sysctl(k)])),
    paths: FIXED_PATHS.filter((p) => existsSync(p)),
    mounts: foreignMounts(labRoot).sort(),
  };
}

/** Human-readable differences between two snapshots; empty when nothing changed. */
export function diffMachine(before: MachineSnapshot, after: MachineSnapshot): string[] {
  const out: string[] = [];
  const setDiff = (what: string, a: string[], b: string[]) => {
    for (const x of b) if (!a.includes(x)) out.push(`${what} appeared: ${x}`);
    for (const x of a) if (!b.includes(x)) out.push(`${what} disappeared: ${x}`);
  };
  setDiff('link', before.links, after.links);
  setDiff('path', before.paths, after.paths);
  setDiff('mount', before.mounts, after.mounts);
  if (before.iptablesLines !== after.iptablesLines) {
    out.push(`iptables-save: ${before.iptablesLines} -> ${after.iptablesLines} lines`);
  }
  if (before.ip6tablesLines !== after.ip6tablesLines) {
    out.push(`ip6tables-save: ${before.ip6tablesLines} -> ${after.ip6tablesLines} lines`);
  }
  for (const [k, v] of Object.entries(before.sysctls)) {
    if (after.sysctls[k] !== v) out.push(`sysctl ${k}: ${v} -> ${after.sysctls[k] ?? '?'}`);
  }
  return out;
}
