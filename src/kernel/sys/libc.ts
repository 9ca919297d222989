/**
 * The few system calls the daemon makes in-process (through koffi), where a
 * helper process would cost milliseconds per container: mount, umount2,
 * unshare and setns for network namespaces, and a socket ioctl to bring `lo` up.
 * All are synchronous, so no other JavaScript runs on the main thread while it
 * is switched into a foreign namespace (docs/architecture.md, principle 3).
 */
import { closeSync, openSync } from 'node:fs';
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
  pthread_sigmask: libc.func(
    'int pthread_sigmask(int how, const uint8_t *set, _Out_ uint8_t *oldset)',
  ),
  lgetxattr: libc.func(
    'long lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)',
  ),
};

export const CLONE_NEWNET = 0x40000000;
export const MS_RDONLY = 0x1;
export const MS_BIND = 0x1000;
export const MNT_DETACH = 2;
/** open(2): a handle on the path alone; no driver's open runs (Node's fs.constants lacks it). */
export const O_PATH = 0o10000000;
export const AF_INET = 2;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_RCVTIMEO = 20;
export const SO_RCVBUFFORCE = 33;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
/** Error numbers the socket readers test for (asm-generic/errno*.h). */
export const EINTR = 4;
export const EAGAIN = 11;
export const EMSGSIZE = 90;
export const ENOBUFS = 105;
export const ETIMEDOUT = 110;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1;

const SIG_BLOCK = 0;
const SIG_SETMASK = 2;
// A kernel sigset_t (64 signals) inside glibc's 128-byte one: all bits set.
const ALL_SIGNALS = Buffer.alloc(128, 0xff);

/**
 * Runs `fn` with every signal held back on the calling thread, then lets the
 * pending ones through. For library calls that wait in select(2) or poll(2),
 * which a signal handler's return never restarts: a SIGCHLD from any child
 * the daemon runs would otherwise fail them with EINTR part-way.
 */
export function withSignalsBlocked<T>(fn: () => T): T {
  const old = Buffer.alloc(128);
  const r = c.pthread_sigmask(SIG_BLOCK, ALL_SIGNALS, old) as number;
  // pthread_sigmask returns the error number itself rather than setting errno.
  if (r !== 0) throw new SysError('pthread_sigmask', r, 'block');
  try {
    return fn();
  } finally {
    c.pthread_sigmask(SIG_SETMASK, old, null);
  }
}

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

const ENODATA = 61;

/** lgetxattr(2): an attribute's value (at most 256 bytes), or undefined when the file has none. */
export function getXattr(path: string, name: string): Buffer | undefined {
  const buf = Buffer.alloc(256);
  const n = c.lgetxattr(path, name, buf, buf.length) as number;
  if (n >= 0) return buf.subarray(0, n);
  const e = koffi.errno();
  if (e === ENODATA || e === 95) return undefined; // 95: EOPNOTSUPP, no xattrs there at all
  throw new SysError('lgetxattr', e, `${path} ${name}`);
}

/** SIOCOUTQ (= TIOCOUTQ): bytes a socket sent that are still queued. */
const SIOCOUTQ = 0x5411;

/**
 * Bytes a unix stream socket sent that its peer has not read yet (the
 * kernel charges them to the sender until the reader takes them), or
 * undefined when that cannot be told.
 */
export function unreadBySocketPeer(fd: number): number | undefined {
  const n = Buffer.alloc(4);
  if ((c.ioctl(fd, SIOCOUTQ, n) as number) < 0) return undefined;
  return n.readInt32LE(0);
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

// --- Sockets and namespace switching for the netlink layer (src/kernel/netlink) ---

const sock = {
  bind: libc.func('int bind(int fd, const void *addr, uint32_t len)'),
  connect: libc.func('int connect(int fd, const void *addr, uint32_t len)'),
  // Buffers passed as `void *` are handed to the kernel in place, without a copy.
  send: libc.func('long send(int fd, const void *buf, size_t len, int flags)'),
  recv: libc.func('long recv(int fd, void *buf, size_t len, int flags)'),
  setsockopt: libc.func(
    'int setsockopt(int fd, int level, int name, const void *val, uint32_t len)',
  ),
};

/** struct sockaddr_in for an IPv4 address and port. */
export function sockaddrIn(ip: string, port: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  ip.split('.').forEach((o, i) => b.writeUInt8(Number(o), 4 + i));
  return b;
}

/** socket(2) with SOCK_CLOEXEC added; returns the fd. */
export function openSocket(domain: number, type: number, protocol: number): number {
  const fd = c.socket(domain, type | SOCK_CLOEXEC, protocol) as number;
  check(fd, 'socket', `domain ${domain}`);
  return fd;
}

/** bind(2) to a raw sockaddr. */
export function bindSocket(fd: number, addr: Buffer): void {
  check(sock.bind(fd, addr, addr.length) as number, 'bind', `fd ${fd}`);
}

/**
 * connect(2) to a raw sockaddr. On a non-blocking socket a connection in
 * progress (EINPROGRESS) is not an error: the SYN is on its way.
 */
export function connectSocket(fd: number, addr: Buffer): void {
  const r = sock.connect(fd, addr, addr.length) as number;
  if (r < 0 && koffi.errno() === EINPROGRESS) return;
  check(r, 'connect', `fd ${fd}`);
}

const EINPROGRESS = 115;

/** setsockopt(2) with an int value or raw bytes (e.g. a struct timeval). */
export function setSockOpt(fd: number, level: number, name: number, value: number | Buffer): void {
  let v = value;
  if (typeof v === 'number') {
    v = Buffer.alloc(4);
    v.writeInt32LE(value as number);
  }
  check(sock.setsockopt(fd, level, name, v, v.length) as number, 'setsockopt', `${level}/${name}`);
}

/** send(2) of the whole buffer (datagram sockets send all or fail); retries EINTR. */
export function sendBytes(fd: number, buf: Buffer): number {
  for (;;) {
    const n = sock.send(fd, buf, buf.length, 0) as number;
    if (n >= 0) return n;
    const e = koffi.errno();
    if (e !== EINTR) throw new SysError('send', e, `fd ${fd}`);
  }
}

/**
 * recv(2) into `buf`; returns the datagram's length, which is larger than
 * `buf` when `flags` has MSG_TRUNC and the datagram did not fit. Retries EINTR.
 */
export function recvBytes(fd: number, buf: Buffer, flags: number): number {
  for (;;) {
    const n = sock.recv(fd, buf, buf.length, flags) as number;
    if (n >= 0) return n;
    const e = koffi.errno();
    if (e !== EINTR) throw new SysError('recv', e, `fd ${fd}`);
  }
}

/**
 * send(2) on a libuv worker thread, for requests the kernel may work on for
 * milliseconds (rtnetlink runs a request in the sender's context). Resolves
 * to send's result; -1 on failure, whose errno is lost with the thread.
 */
export function sendBytesOffThread(fd: number, buf: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    sock.send.async(fd, buf, buf.length, 0, (err: unknown, n: number) =>
      err ? reject(err as Error) : resolve(n),
    );
  });
}

/** recv(2) on a libuv worker thread; resolves to recv's result (-1 on failure, errno lost). */
export function recvBytesOffThread(fd: number, buf: Buffer, flags: number): Promise<number> {
  return new Promise((resolve, reject) => {
    sock.recv.async(fd, buf, buf.length, flags, (err: unknown, n: number) =>
      err ? reject(err as Error) : resolve(n),
    );
  });
}

/** close(2), ignoring errors (the fd is gone either way). */
export function closeFd(fd: number): void {
  c.close(fd);
}

/**
 * Runs `fn` with the calling thread switched into the network namespace bound
 * at `nsPath`, then switches back. `fn` must be synchronous: no other
 * JavaScript runs meanwhile, and libuv's threads never move. What `fn` opens
 * (sockets, /proc/sys/net files) keeps the foreign namespace after the
 * return. A failure to come back exits the process rather than leaving the
 * daemon in the wrong namespace.
 */
export function inNetns<T>(nsPath: string, fn: () => T): T {
  const home = openSync('/proc/thread-self/ns/net', 'r');
  try {
    const target = openSync(nsPath, 'r');
    try {
      check(c.setns(target, CLONE_NEWNET) as number, 'setns', nsPath);
    } finally {
      closeSync(target);
    }
    let result: T;
    try {
      result = fn();
    } finally {
      comeHome(home);
    }
    if (typeof (result as { then?: unknown } | null)?.then === 'function') {
      throw new Error('inNetns: the callback must be synchronous');
    }
    return result;
  } finally {
    closeSync(home);
  }
}

function comeHome(home: number): void {
  if ((c.setns(home, CLONE_NEWNET) as number) < 0) {
    process.stderr.write(
      `fatal: cannot return to the daemon's network namespace (errno ${koffi.errno()})\n`,
    );
    process.exit(70);
  }
}
