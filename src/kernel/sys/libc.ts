/**
 * The few system calls the daemon makes in-process (through koffi), where a
 * helper process would cost milliseconds per container: mount, umount2,
 * unshare and setns for network namespaces, and a socket ioctl to bring `lo` up.
 * All are synchronous, so no other JavaScript runs on the main thread while it
 * is switched into a foreign namespace (ARCHITECTURE.md, principle 3).
 */
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

const c = {
  mount: libc.func(
    'int mount(const char *src, const char *target, const char *fstype, unsigned long flags, const char *data)',
  ),
  umount2: libc.func('int umount2(const char *target, int flags)'),
  unshare: libc.func('int unshare(int flags)'),
  setns: libc.func('int setns(int fd, int nstype)'),
  socket: libc.func('int socket(int domain, int type, int protocol)'),
  // ioctl is variadic in libc; on x86-64 a fixed pointer argument is passed the same way.
  ioctl: libc.func('int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)'),
  close: libc.func('int close(int fd)'),
  strerror: libc.func('const char *strerror(int errnum)'),
};

export const CLONE_NEWNET = 0x40000000;
export const MS_BIND = 0x1000;
export const MNT_DETACH = 2;
const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1;

/** A failed system call, with the kernel's errno (and its name as `code`, like Node's errors). */
export class SysError extends Error {
  constructor(
    readonly syscall: string,
    readonly errno: number,
    detail: string,
  ) {
    super(`${syscall} ${detail}: ${c.strerror(errno) as string}`);
  }
  /** Errno names the callers test for. */
  get code(): string {
    return ERRNO_NAMES[this.errno] ?? `E${this.errno}`;
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  16: 'EBUSY',
  17: 'EEXIST',
  22: 'EINVAL',
};

function check(r: number, syscall: string, detail: string): void {
  if (r < 0) throw new SysError(syscall, koffi.errno(), detail);
}

/** mount(2). */
export function mount(
  src: string | null,
  target: string,
  fstype: string | null,
  flags: number,
  data: string | null,
): void {
  check(c.mount(src, target, fstype, flags, data) as number, 'mount', target);
}

/** umount2(2); returns false when `target` was not mounted. */
export function umount(target: string, flags = 0): boolean {
  const r = c.umount2(target, flags) as number;
  if (r < 0) {
    const e = koffi.errno();
    if (e === 22 || e === 2) return false; // EINVAL: not a mount point; ENOENT: gone
    throw new SysError('umount2', e, target);
  }
  return true;
}

function setLinkUp(name: string): void {
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0) as number;
  check(fd, 'socket', 'AF_INET');
  try {
    const ifr = Buffer.alloc(40);
    ifr.write(name, 0, 15, 'latin1');
    check(c.ioctl(fd, SIOCGIFFLAGS, ifr) as number, 'ioctl', `SIOCGIFFLAGS ${name}`);
    ifr.writeInt16LE(ifr.readInt16LE(16) | IFF_UP, 16);
    check(c.ioctl(fd, SIOCSIFFLAGS, ifr) as number, 'ioctl', `SIOCSIFFLAGS ${name}`);
  } finally {
    c.close(fd);
  }
}

/**
 * Creates a network namespace, binds it on `target` (an existing empty file)
 * and brings its `lo` up. The calling thread switches into the new namespace
 * and back within this synchronous call.
 */
export function createBoundNetns(
  target: string,
  openFd: (p: string) => number,
  closeFd: (fd: number) => void,
): void {
  const home = openFd('/proc/thread-self/ns/net');
  try {
    check(c.unshare(CLONE_NEWNET) as number, 'unshare', 'CLONE_NEWNET');
    try {
      mount('/proc/thread-self/ns/net', target, null, MS_BIND, null);
      setLinkUp('lo');
    } finally {
      // Always come home, even if binding failed: the thread must not stay behind.
      const r = c.setns(home, CLONE_NEWNET) as number;
      if (r < 0) {
        process.stderr.write(
          `fatal: cannot return to the daemon's network namespace (errno ${koffi.errno()})\n`,
        );
        process.exit(70);
      }
    }
  } finally {
    closeFd(home);
  }
}
