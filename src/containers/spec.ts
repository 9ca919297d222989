/**
 * OCI runtime bundles with Docker's defaults (moby's oci/defaults.go and
 * daemon/oci_linux.go, 20.10): capability set, masked and read-only paths,
 * /dev, /proc, /sys, /dev/shm mounts, device rules, the seccomp filter and
 * no-new-privileges (security.ts). Pure: unit-tested.
 */
import { seccompFor, type SecurityOptions } from './security.js';

/** Docker's default capability set (busybox ping needs NET_RAW). */
export const DEFAULT_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Every capability runc knows on this kernel generation (for --privileged and ALL). */
export const ALL_CAPS = [
  ...DEFAULT_CAPS,
  'CAP_DAC_READ_SEARCH',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_LEASE',
  'CAP_AUDIT_CONTROL',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

export const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
];

export const READONLY_PATHS = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** One mount of the OCI spec. */
export interface SpecMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/** The depth of a destination: parents are mounted before their children. */
const depth = (m: SpecMount) => (m.destination.replace(/\/+$/, '').match(/\//g) ?? []).length;

/**
 * dockerd's WithMounts: the default mounts a user mount replaces (same
 * destination, or anything under /dev when /dev is the user's) are left
 * out; the generated /etc files and the user's mounts follow, parents first.
 */
export function mergeMounts(
  defaults: SpecMount[],
  files: SpecMount[],
  user: SpecMount[],
): SpecMount[] {
  const mine = new Set(user.map((m) => m.destination));
  const dev = mine.has('/dev');
  const keep = defaults.filter(
    (m) => !mine.has(m.destination) && !(dev && m.destination.startsWith('/dev/')),
  );
  const rest = [...files.filter((m) => !mine.has(m.destination)), ...user];
  // A stable sort by depth: /etc before /etc/hosts, equal depths as given.
  return [
    ...keep,
    ...rest
      .map((m, i) => ({ m, i }))
      .sort((a, b) => depth(a.m) - depth(b.m) || a.i - b.i)
      .map((x) => x.m),
  ];
}

export interface User {
  uid: number;
  gid: number;
  additionalGids: number[];
}

export interface SpecInput {
  /** The process's argv (entrypoint + cmd, already merged). */
  args: string[];
  env: string[];
  cwd: string;
  user: User;
  tty: boolean;
  /** Initial console size [height, width], when tty. */
  consoleSize?: [number, number];
  hostname: string;
  domainname?: string;
  /** Absolute path of the mounted root filesystem. */
  rootfs: string;
  readonlyRootfs?: boolean;
  /** Network namespace to join; undefined shares the daemon's (host network). */
  netnsPath?: string;
  /** Share the host's UTS namespace too (host network). */
  hostUts?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  /** Files bind-mounted over /etc/hosts, /etc/hostname, /etc/resolv.conf. */
  files: { hosts: string; hostname: string; resolvConf: string };
  cgroupsPath: string;
  /** Size of /dev/shm in bytes (Docker: 64 MiB). */
  shmSize?: number;
  /** The container's binds, volumes and tmpfs mounts (containers/mounts.ts), parents first. */
  userMounts?: SpecMount[];
  /** linux.rootfsPropagation a shared or slave bind needs. */
  rootfsPropagation?: string;
  /** OCI annotations (Docker puts nothing much here; labels help debugging). */
  annotations?: Record<string, string>;
  /** What the container's SecurityOpt asks for (parseSecurityOpts). */
  security: SecurityOptions;
  /** The machine the filter is made for: Go's arch name and the kernel's release. */
  machine: { arch: string; kernelRelease: string };
}

/** Normalises `NET_ADMIN`, `cap_net_admin`, `ALL` into CAP_ names. */
export function capName(c: string): string {
  const u = c.toUpperCase();
  return u === 'ALL' || u.startsWith('CAP_') ? u : `CAP_${u}`;
}

/** Docker's capability arithmetic: defaults, plus adds, minus drops (ALL honoured). */
export function capabilities(
  add: string[] = [],
  drop: string[] = [],
  privileged = false,
): string[] {
  if (privileged) return [...ALL_CAPS];
  const a = add.map(capName);
  const d = drop.map(capName);
  let caps = a.includes('ALL') ? [...ALL_CAPS] : [...DEFAULT_CAPS, ...a.filter((c) => c !== 'ALL')];
  if (d.includes('ALL')) caps = a.filter((c) => c !== 'ALL');
  caps = caps.filter((c) => !d.includes(c));
  for (const c of caps) {
    if (!ALL_CAPS.includes(c)) throw new Error(`unknown capability: "${c}"`);
  }
  return [...new Set(caps)];
}

/** The OCI process object (also used for `exec`). */
export function processSpec(i: {
  args: string[];
  env: string[];
  cwd: string;
  user: User;
  tty: boolean;
  consoleSize?: [number, number];
  caps: string[];
  noNewPrivileges?: boolean;
}): Record<string, unknown> {
  const p: Record<string, unknown> = {
    terminal: i.tty,
    user: { uid: i.user.uid, gid: i.user.gid, additionalGids: i.user.additionalGids },
    args: i.args,
    env: i.env,
    cwd: i.cwd,
    capabilities: {
      bounding: i.caps,
      effective: i.caps,
      permitted: i.caps,
      inheritable: [],
    },
    noNewPrivileges: i.noNewPrivileges ?? false,
  };
  if (i.tty && i.consoleSize && i.consoleSize[0] > 0) {
    p.consoleSize = { height: i.consoleSize[0], width: i.consoleSize[1] };
  }
  return p;
}

/** The whole config.json of a container's bundle. */
export function buildSpec(i: SpecInput): Record<string, unknown> {
  const caps = capabilities(i.capAdd, i.capDrop, i.privileged);
  const shm = i.shmSize ?? 64 * 1024 * 1024;
  const bind = (src: string, dst: string): SpecMount => ({
    destination: dst,
    type: 'bind',
    source: src,
    options: ['rbind', 'rprivate'],
  });
  const namespaces: Array<Record<string, string>> = [
    { type: 'pid' },
    { type: 'ipc' },
    { type: 'mount' },
  ];
  if (!i.hostUts) namespaces.push({ type: 'uts' });
  if (i.netnsPath) namespaces.push({ type: 'network', path: i.netnsPath });
  const seccomp = seccompFor(i.security, {
    privileged: i.privileged ?? false,
    caps,
    ...i.machine,
  });
  return {
    ociVersion: '1.0.2-dev',
    process: processSpec({ ...i, caps, noNewPrivileges: i.security.noNewPrivileges }),
    root: { path: i.rootfs, readonly: i.readonlyRootfs ?? false },
    hostname: i.hostUts ? undefined : i.hostname,
    domainname: i.hostUts ? undefined : i.domainname || undefined,
    mounts: mergeMounts(
      [
        {
          destination: '/proc',
          type: 'proc',
          source: 'proc',
          options: ['nosuid', 'noexec', 'nodev'],
        },
        {
          destination: '/dev',
          type: 'tmpfs',
          source: 'tmpfs',
          options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
        },
        {
          destination: '/dev/pts',
          type: 'devpts',
          source: 'devpts',
          options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
        },
        {
          destination: '/sys',
          type: 'sysfs',
          source: 'sysfs',
          options: ['nosuid', 'noexec', 'nodev', i.privileged ? 'rw' : 'ro'],
        },
        {
          destination: '/sys/fs/cgroup',
          type: 'cgroup',
          source: 'cgroup',
          options: ['ro', 'nosuid', 'noexec', 'nodev'],
        },
        {
          destination: '/dev/mqueue',
          type: 'mqueue',
          source: 'mqueue',
          options: ['nosuid', 'noexec', 'nodev'],
        },
        {
          destination: '/dev/shm',
          type: 'tmpfs',
          source: 'shm',
          options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shm}`],
        },
      ],
      [
        bind(i.files.resolvConf, '/etc/resolv.conf'),
        bind(i.files.hostname, '/etc/hostname'),
        bind(i.files.hosts, '/etc/hosts'),
      ],
      i.userMounts ?? [],
    ),
    annotations: i.annotations ?? {},
    linux: {
      cgroupsPath: i.cgroupsPath,
      resources: {
        devices: i.privileged
          ? [{ allow: true, access: 'rwm' }]
          : [
              { allow: false, access: 'rwm' },
              { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
              { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
              { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
              { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
              { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
              { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
              { allow: true, type: 'c', major: 136, access: 'rwm' },
              { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
              { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
              { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
              { allow: true, type: 'c', access: 'm' },
              { allow: true, type: 'b', access: 'm' },
            ],
      },
      namespaces,
      ...(i.rootfsPropagation ? { rootfsPropagation: i.rootfsPropagation } : {}),
      maskedPaths: i.privileged ? [] : MASKED_PATHS,
      readonlyPaths: i.privileged ? [] : READONLY_PATHS,
      ...(seccomp ? { seccomp } : {}),
    },
  };
}
