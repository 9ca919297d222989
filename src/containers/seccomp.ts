/**
 * Seccomp: the default profile (Docker 20.10's, as data), the checks a
 * profile sent with `--security-opt seccomp=<json>` must pass, and the
 * translation of Docker's profile format into the OCI `linux.seccomp` object
 * runc loads. Pure: unit-tested against the objects dockerd 20.10 hands runc
 * (docs/reference/docker-20.10-seccomp.md, decision 0016).
 *
 * Size: most of its lines are Docker's default profile as data; the code
 * that reads it is short and belongs with it.
 */
import { invalid } from '../common/errors.js';

/** One condition on a syscall argument (Docker's and the OCI format agree). */
export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

/** When a rule of a Docker profile applies: capabilities, architectures, kernel. */
export interface SeccompFilter {
  caps?: string[];
  /** Go architecture names (`amd64`, `arm64`, `x32`, `x86`, `arm`...). */
  arches?: string[];
  /** "major.minor": the rule needs at least this kernel. */
  minKernel?: string;
}

/** A rule of a Docker profile. */
export interface DockerSyscallRule {
  name?: string;
  names?: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[];
  comment?: string;
  includes?: SeccompFilter;
  excludes?: SeccompFilter;
}

/** Docker's profile format: what `docker run --security-opt seccomp=FILE` sends. */
export interface DockerSeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  /** The old form: the architectures to filter, as they are. */
  architectures?: string[];
  /** The new form: per native architecture, the others it runs. */
  archMap?: Array<{ architecture: string; subArchitectures: string[] | null }>;
  flags?: string[];
  syscalls?: DockerSyscallRule[];
}

/** The OCI runtime spec's `linux.seccomp`. */
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  syscalls: Array<{ names: string[]; action: string; errnoRet?: number; args?: SeccompArg[] }>;
}

/** The actions runc accepts without a notify listener. */
export const ACTIONS = [
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
];

export const OPERATORS = [
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
];

export const ARCHITECTURES = [
  'SCMP_ARCH_X86',
  'SCMP_ARCH_X86_64',
  'SCMP_ARCH_X32',
  'SCMP_ARCH_ARM',
  'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64',
  'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL',
  'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC',
  'SCMP_ARCH_PPC64',
  'SCMP_ARCH_PPC64LE',
  'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X',
  'SCMP_ARCH_RISCV64',
];

export const FLAGS = [
  'SECCOMP_FILTER_FLAG_TSYNC',
  'SECCOMP_FILTER_FLAG_LOG',
  'SECCOMP_FILTER_FLAG_SPEC_ALLOW',
];

/** libseccomp's name for a Go architecture. */
const NATIVE: Record<string, string> = {
  amd64: 'SCMP_ARCH_X86_64',
  '386': 'SCMP_ARCH_X86',
  arm64: 'SCMP_ARCH_AARCH64',
  arm: 'SCMP_ARCH_ARM',
};

// The namespace flags of clone(2): without CAP_SYS_ADMIN a container may
// clone, but not into new namespaces (CLONE_NEWUSER is what `unshare -U` needs).
const CLONE_NEWNS = 0x00020000;
const CLONE_NEWCGROUP = 0x02000000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;
const NAMESPACE_FLAGS =
  CLONE_NEWNS |
  CLONE_NEWCGROUP |
  CLONE_NEWUTS |
  CLONE_NEWIPC |
  CLONE_NEWUSER |
  CLONE_NEWPID |
  CLONE_NEWNET;

// personality(2) values the default allows: PER_LINUX, PER_LINUX32,
// UNAME26, PER_LINUX32|UNAME26, and 0xffffffff (the query).
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

const ENOSYS = 38;

/** Allowed for every container (Docker 20.10's list). */
const ALLOWED = [
  'accept',
  'accept4',
  'access',
  'adjtimex',
  'alarm',
  'bind',
  'brk',
  'capget',
  'capset',
  'chdir',
  'chmod',
  'chown',
  'chown32',
  'clock_adjtime',
  'clock_adjtime64',
  'clock_getres',
  'clock_getres_time64',
  'clock_gettime',
  'clock_gettime64',
  'clock_nanosleep',
  'clock_nanosleep_time64',
  'close',
  'close_range',
  'connect',
  'copy_file_range',
  'creat',
  'dup',
  'dup2',
  'dup3',
  'epoll_create',
  'epoll_create1',
  'epoll_ctl',
  'epoll_ctl_old',
  'epoll_pwait',
  'epoll_pwait2',
  'epoll_wait',
  'epoll_wait_old',
  'eventfd',
  'eventfd2',
  'execve',
  'execveat',
  'exit',
  'exit_group',
  'faccessat',
  'faccessat2',
  'fadvise64',
  'fadvise64_64',
  'fallocate',
  'fanotify_mark',
  'fchdir',
  'fchmod',
  'fchmodat',
  'fchown',
  'fchown32',
  'fchownat',
  'fcntl',
  'fcntl64',
  'fdatasync',
  'fgetxattr',
  'flistxattr',
  'flock',
  'fork',
  'fremovexattr',
  'fsetxattr',
  'fstat',
  'fstat64',
  'fstatat64',
  'fstatfs',
  'fstatfs64',
  'fsync',
  'ftruncate',
  'ftruncate64',
  'futex',
  'futex_time64',
  'futex_waitv',
  'futimesat',
  'getcpu',
  'getcwd',
  'getdents',
  'getdents64',
  'getegid',
  'getegid32',
  'geteuid',
  'geteuid32',
  'getgid',
  'getgid32',
  'getgroups',
  'getgroups32',
  'getitimer',
  'getpeername',
  'getpgid',
  'getpgrp',
  'getpid',
  'getppid',
  'getpriority',
  'getrandom',
  'getresgid',
  'getresgid32',
  'getresuid',
  'getresuid32',
  'getrlimit',
  'get_robust_list',
  'getrusage',
  'getsid',
  'getsockname',
  'getsockopt',
  'get_thread_area',
  'gettid',
  'gettimeofday',
  'getuid',
  'getuid32',
  'getxattr',
  'inotify_add_watch',
  'inotify_init',
  'inotify_init1',
  'inotify_rm_watch',
  'io_cancel',
  'ioctl',
  'io_destroy',
  'io_getevents',
  'io_pgetevents',
  'io_pgetevents_time64',
  'ioprio_get',
  'ioprio_set',
  'io_setup',
  'io_submit',
  'io_uring_enter',
  'io_uring_register',
  'io_uring_setup',
  'ipc',
  'kill',
  'landlock_add_rule',
  'landlock_create_ruleset',
  'landlock_restrict_self',
  'lchown',
  'lchown32',
  'lgetxattr',
  'link',
  'linkat',
  'listen',
  'listxattr',
  'llistxattr',
  '_llseek',
  'lremovexattr',
  'lseek',
  'lsetxattr',
  'lstat',
  'lstat64',
  'madvise',
  'membarrier',
  'memfd_create',
  'memfd_secret',
  'mincore',
  'mkdir',
  'mkdirat',
  'mknod',
  'mknodat',
  'mlock',
  'mlock2',
  'mlockall',
  'mmap',
  'mmap2',
  'mprotect',
  'mq_getsetattr',
  'mq_notify',
  'mq_open',
  'mq_timedreceive',
  'mq_timedreceive_time64',
  'mq_timedsend',
  'mq_timedsend_time64',
  'mq_unlink',
  'mremap',
  'msgctl',
  'msgget',
  'msgrcv',
  'msgsnd',
  'msync',
  'munlock',
  'munlockall',
  'munmap',
  'nanosleep',
  'newfstatat',
  '_newselect',
  'open',
  'openat',
  'openat2',
  'pause',
  'pidfd_open',
  'pidfd_send_signal',
  'pipe',
  'pipe2',
  'poll',
  'ppoll',
  'ppoll_time64',
  'prctl',
  'pread64',
  'preadv',
  'preadv2',
  'prlimit64',
  'process_mrelease',
  'pselect6',
  'pselect6_time64',
  'pwrite64',
  'pwritev',
  'pwritev2',
  'read',
  'readahead',
  'readlink',
  'readlinkat',
  'readv',
  'recv',
  'recvfrom',
  'recvmmsg',
  'recvmmsg_time64',
  'recvmsg',
  'remap_file_pages',
  'removexattr',
  'rename',
  'renameat',
  'renameat2',
  'restart_syscall',
  'rmdir',
  'rseq',
  'rt_sigaction',
  'rt_sigpending',
  'rt_sigprocmask',
  'rt_sigqueueinfo',
  'rt_sigreturn',
  'rt_sigsuspend',
  'rt_sigtimedwait',
  'rt_sigtimedwait_time64',
  'rt_tgsigqueueinfo',
  'sched_getaffinity',
  'sched_getattr',
  'sched_getparam',
  'sched_get_priority_max',
  'sched_get_priority_min',
  'sched_getscheduler',
  'sched_rr_get_interval',
  'sched_rr_get_interval_time64',
  'sched_setaffinity',
  'sched_setattr',
  'sched_setparam',
  'sched_setscheduler',
  'sched_yield',
  'seccomp',
  'select',
  'semctl',
  'semget',
  'semop',
  'semtimedop',
  'semtimedop_time64',
  'send',
  'sendfile',
  'sendfile64',
  'sendmmsg',
  'sendmsg',
  'sendto',
  'setfsgid',
  'setfsgid32',
  'setfsuid',
  'setfsuid32',
  'setgid',
  'setgid32',
  'setgroups',
  'setgroups32',
  'setitimer',
  'setpgid',
  'setpriority',
  'setregid',
  'setregid32',
  'setresgid',
  'setresgid32',
  'setresuid',
  'setresuid32',
  'setreuid',
  'setreuid32',
  'setrlimit',
  'set_robust_list',
  'setsid',
  'setsockopt',
  'set_thread_area',
  'set_tid_address',
  'setuid',
  'setuid32',
  'setxattr',
  'shmat',
  'shmctl',
  'shmdt',
  'shmget',
  'shutdown',
  'sigaltstack',
  'signalfd',
  'signalfd4',
  'sigprocmask',
  'sigreturn',
  'socket',
  'socketcall',
  'socketpair',
  'splice',
  'stat',
  'stat64',
  'statfs',
  'statfs64',
  'statx',
  'symlink',
  'symlinkat',
  'sync',
  'sync_file_range',
  'syncfs',
  'sysinfo',
  'tee',
  'tgkill',
  'time',
  'timer_create',
  'timer_delete',
  'timer_getoverrun',
  'timer_gettime',
  'timer_gettime64',
  'timer_settime',
  'timer_settime64',
  'timerfd_create',
  'timerfd_gettime',
  'timerfd_gettime64',
  'timerfd_settime',
  'timerfd_settime64',
  'times',
  'tkill',
  'truncate',
  'truncate64',
  'ugetrlimit',
  'umask',
  'uname',
  'unlink',
  'unlinkat',
  'utime',
  'utimensat',
  'utimensat_time64',
  'utimes',
  'vfork',
  'vmsplice',
  'wait4',
  'waitid',
  'waitpid',
  'write',
  'writev',
];

/** Syscalls a capability opens, in the order Docker 20.10 lists them. */
const BY_CAPABILITY: Array<[string, string[]]> = [
  ['CAP_DAC_READ_SEARCH', ['open_by_handle_at']],
  [
    'CAP_SYS_ADMIN',
    [
      'bpf',
      'clone',
      'clone3',
      'fanotify_init',
      'fsconfig',
      'fsmount',
      'fsopen',
      'fspick',
      'lookup_dcookie',
      'mount',
      'mount_setattr',
      'move_mount',
      'name_to_handle_at',
      'open_tree',
      'perf_event_open',
      'quotactl',
      'quotactl_fd',
      'setdomainname',
      'sethostname',
      'setns',
      'syslog',
      'umount',
      'umount2',
      'unshare',
    ],
  ],
];

/** Opened by capabilities after the clone rules (Docker 20.10's order). */
const BY_CAPABILITY_LATER: Array<[string, string[]]> = [
  ['CAP_SYS_BOOT', ['reboot']],
  ['CAP_SYS_CHROOT', ['chroot']],
  ['CAP_SYS_MODULE', ['delete_module', 'init_module', 'finit_module']],
  ['CAP_SYS_PACCT', ['acct']],
  [
    'CAP_SYS_PTRACE',
    ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'],
  ],
  ['CAP_SYS_RAWIO', ['iopl', 'ioperm']],
  ['CAP_SYS_TIME', ['settimeofday', 'stime', 'clock_settime']],
  ['CAP_SYS_TTY_CONFIG', ['vhangup']],
  ['CAP_SYS_NICE', ['get_mempolicy', 'mbind', 'set_mempolicy']],
  ['CAP_SYSLOG', ['syslog']],
  // Docker 20.10 does not know these two capabilities; later Dockers open
  // bpf and perf_event_open with them, and so does Berth, which grants them.
  ['CAP_BPF', ['bpf']],
  ['CAP_PERFMON', ['perf_event_open']],
];

const allow = (names: string[], more: Partial<DockerSyscallRule> = {}): DockerSyscallRule => ({
  names,
  action: 'SCMP_ACT_ALLOW',
  ...more,
});

/**
 * Docker 20.10's default profile in Docker's own format: everything not
 * allowed fails with EPERM. Berth applies it to every container that is not
 * privileged and has no `seccomp=` option of its own.
 */
export const DEFAULT_PROFILE: DockerSeccompProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
  ],
  syscalls: [
    allow(ALLOWED),
    allow(['ptrace'], { includes: { minKernel: '4.8' } }),
    ...PERSONALITIES.map((p) =>
      allow(['personality'], { args: [{ index: 0, value: p, op: 'SCMP_CMP_EQ' }] }),
    ),
    allow(
      [
        'arm_fadvise64_64',
        'arm_sync_file_range',
        'sync_file_range2',
        'breakpoint',
        'cacheflush',
        'set_tls',
      ],
      { includes: { arches: ['arm', 'arm64'] } },
    ),
    allow(['arch_prctl'], { includes: { arches: ['amd64', 'x32'] } }),
    allow(['modify_ldt'], { includes: { arches: ['amd64', 'x32', 'x86'] } }),
    ...BY_CAPABILITY.map(([cap, names]) => allow(names, { includes: { caps: [cap] } })),
    allow(['clone'], {
      args: [{ index: 0, value: NAMESPACE_FLAGS, op: 'SCMP_CMP_MASKED_EQ' }],
      excludes: { caps: ['CAP_SYS_ADMIN'] },
    }),
    // clone3 passes its flags in memory a filter cannot read: ENOSYS makes
    // libc fall back to clone, whose flags the rule above checks.
    {
      names: ['clone3'],
      action: 'SCMP_ACT_ERRNO',
      errnoRet: ENOSYS,
      excludes: { caps: ['CAP_SYS_ADMIN'] },
    },
    ...BY_CAPABILITY_LATER.map(([cap, names]) => allow(names, { includes: { caps: [cap] } })),
  ],
};

// ---- checking a profile ---------------------------------------------------

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(what: string): never {
  throw invalid(`Decoding seccomp profile failed: ${what}`);
}

function strings(v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    bad(`${field} must be a list of strings`);
  }
  return v as string[];
}

function count(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    bad(`${field} must be a non-negative integer`);
  }
  return v;
}

function action(v: unknown, field: string): string {
  if (typeof v !== 'string' || !ACTIONS.includes(v)) {
    const shown = typeof v === 'string' ? v : JSON.stringify(v ?? null);
    throw invalid(
      `invalid seccomp profile: ${field} ${shown} is not a valid action for seccomp (one of ${ACTIONS.join(', ')})`,
    );
  }
  return v;
}

function filter(v: unknown, field: string): SeccompFilter | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) bad(`${field} must be an object`);
  const f: SeccompFilter = {};
  const caps = strings(v.caps, `${field}.caps`);
  const arches = strings(v.arches, `${field}.arches`);
  if (caps) f.caps = caps;
  if (arches) f.arches = arches;
  if (v.minKernel !== undefined && v.minKernel !== null && v.minKernel !== '') {
    if (typeof v.minKernel !== 'string' || !/^\d+\.\d+$/.test(v.minKernel)) {
      bad(`${field}.minKernel must be a kernel version such as "4.8"`);
    }
    f.minKernel = v.minKernel;
  }
  return f;
}

function rule(v: unknown, i: number): DockerSyscallRule {
  const field = `syscalls[${i}]`;
  if (!isObj(v)) bad(`${field} must be an object`);
  const names = strings(v.names, `${field}.names`);
  if (v.name !== undefined && v.name !== null && typeof v.name !== 'string') {
    bad(`${field}.name must be a string`);
  }
  const name = (v.name as string | undefined) || undefined;
  if (name && names && names.length) {
    throw invalid(
      "invalid seccomp profile: 'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'",
    );
  }
  const r: DockerSyscallRule = { action: action(v.action, `${field}.action`) };
  if (name) r.name = name;
  if (names) r.names = names;
  const errnoRet = count(v.errnoRet, `${field}.errnoRet`);
  if (errnoRet !== undefined) r.errnoRet = errnoRet;
  if (v.args !== undefined && v.args !== null) {
    if (!Array.isArray(v.args)) bad(`${field}.args must be a list`);
    r.args = v.args.map((a: unknown, j) => {
      const af = `${field}.args[${j}]`;
      if (!isObj(a)) bad(`${af} must be an object`);
      const index = count(a.index, `${af}.index`) ?? 0;
      if (index > 5) throw invalid(`invalid seccomp profile: ${af}.index must be 0 to 5`);
      if (typeof a.op !== 'string' || !OPERATORS.includes(a.op)) {
        throw invalid(
          `invalid seccomp profile: ${af}.op ${JSON.stringify(a.op ?? null)} is not a valid operator (one of ${OPERATORS.join(', ')})`,
        );
      }
      const arg: SeccompArg = { index, value: count(a.value, `${af}.value`) ?? 0, op: a.op };
      const two = count(a.valueTwo, `${af}.valueTwo`);
      if (two !== undefined) arg.valueTwo = two;
      return arg;
    });
  }
  const includes = filter(v.includes, `${field}.includes`);
  const excludes = filter(v.excludes, `${field}.excludes`);
  if (includes) r.includes = includes;
  if (excludes) r.excludes = excludes;
  return r;
}

/**
 * Checks the JSON of a `seccomp=<json>` option and returns the profile, or
 * undefined for a profile with neither a default action nor rules (Docker
 * runs such a container unconfined). Throws a 400 saying what is wrong.
 */
export function parseProfile(text: string): DockerSeccompProfile | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    bad((e as Error).message);
  }
  if (!isObj(v)) bad('the profile must be a JSON object');
  const syscalls = v.syscalls;
  if (syscalls !== undefined && syscalls !== null && !Array.isArray(syscalls)) {
    bad('syscalls must be a list');
  }
  const rules = (syscalls ?? []) as unknown[];
  if ((v.defaultAction === undefined || v.defaultAction === '') && rules.length === 0) {
    return undefined;
  }
  const p: DockerSeccompProfile = { defaultAction: action(v.defaultAction, 'defaultAction') };
  const errnoRet = count(v.defaultErrnoRet, 'defaultErrnoRet');
  if (errnoRet !== undefined) p.defaultErrnoRet = errnoRet;
  const arches = strings(v.architectures, 'architectures');
  if (v.archMap !== undefined && v.archMap !== null) {
    if (!Array.isArray(v.archMap)) bad('archMap must be a list');
    if (arches && arches.length && v.archMap.length) {
      throw invalid(
        "invalid seccomp profile: 'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'",
      );
    }
    p.archMap = v.archMap.map((m: unknown, i) => {
      if (!isObj(m) || typeof m.architecture !== 'string') {
        bad(`archMap[${i}] must be an object with an architecture`);
      }
      return {
        architecture: m.architecture,
        subArchitectures: strings(m.subArchitectures, `archMap[${i}].subArchitectures`) ?? null,
      };
    });
  }
  if (arches) p.architectures = arches;
  for (const a of [...(arches ?? []), ...(p.archMap ?? []).flatMap(archesOf)]) {
    if (!ARCHITECTURES.includes(a)) {
      throw invalid(`invalid seccomp profile: unknown architecture ${JSON.stringify(a)}`);
    }
  }
  const flags = strings(v.flags, 'flags');
  for (const f of flags ?? []) {
    if (!FLAGS.includes(f)) {
      throw invalid(`invalid seccomp profile: unknown flag ${JSON.stringify(f)}`);
    }
  }
  if (flags) p.flags = flags;
  p.syscalls = rules.map(rule);
  return p;
}

function archesOf(m: { architecture: string; subArchitectures: string[] | null }): string[] {
  return [m.architecture, ...(m.subArchitectures ?? [])];
}

// ---- the OCI object ---------------------------------------------------------

/** "6.1.0-18-amd64" → [6, 1]. */
export function kernelVersion(release: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

function kernelAtLeast(k: [number, number], min: string): boolean {
  const [maj, minor] = min.split('.').map(Number) as [number, number];
  return k[0] > maj || (k[0] === maj && k[1] >= minor);
}

/** Where a profile is applied: the machine and the container's capabilities. */
export interface SeccompTarget {
  /** Go's architecture name (goArch()). */
  arch: string;
  /** The container's capabilities (CAP_ names). */
  caps: string[];
  /** The running kernel's [major, minor]. */
  kernel: [number, number];
}

/**
 * Docker's profile as the OCI object for one container: the architectures of
 * the machine's entry in archMap, and the rules whose includes hold and whose
 * excludes do not (capabilities, architecture, kernel version).
 */
export function ociSeccomp(p: DockerSeccompProfile, t: SeccompTarget): OciSeccomp {
  const out: OciSeccomp = { defaultAction: p.defaultAction, syscalls: [] };
  if (p.defaultErrnoRet !== undefined) out.defaultErrnoRet = p.defaultErrnoRet;
  const native = NATIVE[t.arch];
  const mapped = p.archMap?.find((m) => m.architecture === native);
  if (p.architectures?.length) out.architectures = [...p.architectures];
  else if (mapped) out.architectures = archesOf(mapped);
  if (p.flags?.length) out.flags = [...p.flags];
  for (const r of p.syscalls ?? []) {
    const inc = r.includes ?? {};
    const exc = r.excludes ?? {};
    if (exc.arches?.includes(t.arch)) continue;
    if (exc.caps?.some((c) => t.caps.includes(c))) continue;
    if (exc.minKernel && kernelAtLeast(t.kernel, exc.minKernel)) continue;
    if (inc.arches?.length && !inc.arches.includes(t.arch)) continue;
    if (inc.caps?.length && !inc.caps.every((c) => t.caps.includes(c))) continue;
    if (inc.minKernel && !kernelAtLeast(t.kernel, inc.minKernel)) continue;
    const names = r.names?.length ? r.names : r.name ? [r.name] : [];
    if (!names.length) continue;
    const s: OciSeccomp['syscalls'][number] = { names: [...names], action: r.action };
    if (r.errnoRet !== undefined) s.errnoRet = r.errnoRet;
    if (r.args?.length) s.args = r.args.map((a) => ({ ...a }));
    out.syscalls.push(s);
  }
  return out;
}
