/*
 * berth-shim: the monitor process that owns one container (or one exec)
 * process, so that it outlives berthd. See docs/decisions/0002-own-container-monitor.md.
 *
 *   berth-shim --state-dir DIR [--log FILE] [--tty] [--stdin] [--stdin-once]
 *              [--wait-attach] -- RUNTIME ARGS...
 *
 * It becomes a child subreaper, runs the runtime in detached mode (`runc create`,
 * which berthd follows with its start, or `runc exec -d`), so the container's
 * first process is re-parented to it,
 * and then:
 *   - holds the container's stdio (pipes, or the pty master received on
 *     DIR/console.sock when --tty), writes stdout/stderr to FILE in Docker's
 *     json-file format and copies it to attached clients;
 *   - serves DIR/attach.sock (SOCK_STREAM, so Node can speak it). A client
 *     sends one line: "attach STDIN STDOUT STDERR\n" (0/1 each) and then gets
 *     Docker-multiplexed frames, its further bytes going to the container's
 *     stdin; "wait\n" gets "exit CODE\n" when the process exits; "resize H W\n"
 *     resizes the tty and gets "ok\n";
 *   - records the exit status in DIR/exit ("CODE UNIXNANOS\n", atomically) and exits.
 * The launch result goes to fd 1 (a pipe from berthd): "ok PID\n" or
 * "error STATUS\n"; on error the runtime's own output is in DIR/runtime-error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define LINE_MAX_LOG 16384

enum { C_NEW, C_ATTACH, C_WAIT };

struct client {
  int fd;
  int kind;
  int want_stdin, want_stdout, want_stderr;
  char line[128];
  size_t line_len;
};

static const char *state_dir;
static const char *log_path;
static int opt_tty, opt_stdin, opt_stdin_once, opt_wait_attach;
static int log_fd = -1;
static int stdin_w = -1;          /* write end of the container's stdin pipe */
static int out_r = -1, err_r = -1; /* read ends of stdout/stderr pipes */
static int master = -1;           /* pty master when --tty */
static struct winsize pending_ws;  /* last size asked for, applied when the master arrives */
static struct client clients[MAX_CLIENTS];
static int listen_fd = -1;
static char partial[3][LINE_MAX_LOG]; /* per stream: partial log line */
static size_t partial_len[3];
/* Launch phase: output is held until the runtime has exited, so its error
 * messages never land in the container's log. */
static int launched;
static char *held;
static size_t held_len, held_cap;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dprintf(1, "error ");
  vdprintf(1, fmt, ap);
  dprintf(1, "\n");
  va_end(ap);
  exit(1);
}

static char *path_in(const char *name) {
  static char buf[4][4096];
  static int i;
  i = (i + 1) % 4;
  snprintf(buf[i], sizeof buf[i], "%s/%s", state_dir, name);
  return buf[i];
}

static void write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        poll(&pfd, 1, 1000);
        continue;
      }
      return;
    }
    c += w;
    n -= (size_t)w;
  }
}

static void write_file_atomic(const char *name, const char *content) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path_in(name));
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  /* No fsync: a machine crash loses the container anyway; rename keeps readers
   * from seeing a half-written file while the machine runs. */
  write_all(fd, content, strlen(content));
  close(fd);
  rename(tmp, path_in(name));
}

static void now_rfc3339(char *out, size_t n) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t l = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + l, n - l, ".%09ldZ", ts.tv_nsec);
}

/* One json-file log entry: {"log":"...","stream":"stdout","time":"..."} */
static void log_entry(int stream, const char *p, size_t n) {
  if (log_fd < 0) return;
  static char buf[LINE_MAX_LOG * 6 + 128];
  size_t o = 0;
  o += (size_t)snprintf(buf + o, sizeof buf - o, "{\"log\":\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '"' || c == '\\') {
      buf[o++] = '\\';
      buf[o++] = (char)c;
    } else if (c == '\n') {
      buf[o++] = '\\';
      buf[o++] = 'n';
    } else if (c == '\r') {
      buf[o++] = '\\';
      buf[o++] = 'r';
    } else if (c == '\t') {
      buf[o++] = '\\';
      buf[o++] = 't';
    } else if (c < 0x20 || c == 0x7f) {
      o += (size_t)snprintf(buf + o, sizeof buf - o, "\\u%04x", c);
    } else {
      buf[o++] = (char)c; /* UTF-8 bytes pass through */
    }
  }
  char ts[64];
  now_rfc3339(ts, sizeof ts);
  o += (size_t)snprintf(buf + o, sizeof buf - o, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n",
                        stream == 2 ? "stderr" : "stdout", ts);
  write_all(log_fd, buf, o);
}

static void log_data(int stream, const char *p, size_t n) {
  while (n > 0) {
    const char *nl = memchr(p, '\n', n);
    size_t take = nl ? (size_t)(nl - p) + 1 : n;
    size_t room = LINE_MAX_LOG - partial_len[stream];
    if (take > room) take = room;
    memcpy(partial[stream] + partial_len[stream], p, take);
    partial_len[stream] += take;
    p += take;
    n -= take;
    if (partial[stream][partial_len[stream] - 1] == '\n' || partial_len[stream] == LINE_MAX_LOG) {
      log_entry(stream, partial[stream], partial_len[stream]);
      partial_len[stream] = 0;
    }
  }
}

static void flush_partials(void) {
  for (int s = 1; s <= 2; s++)
    if (partial_len[s]) {
      log_entry(s, partial[s], partial_len[s]);
      partial_len[s] = 0;
    }
}

static void close_client(struct client *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

static void deliver(int stream, const char *p, size_t n) {
  log_data(stream, p, n);
  unsigned char hdr[8] = {(unsigned char)stream, 0, 0, 0, (unsigned char)(n >> 24),
                          (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &clients[i];
    if (c->fd < 0 || c->kind != C_ATTACH) continue;
    if ((stream == 1 && !c->want_stdout) || (stream == 2 && !c->want_stderr)) continue;
    write_all(c->fd, hdr, 8);
    write_all(c->fd, p, n);
  }
}

/* Output read before the runtime exited is held: it is the runtime's error if
 * the launch fails, and the container's first output if it succeeds. */
static void output(int stream, const char *p, size_t n) {
  if (launched) {
    deliver(stream, p, n);
    return;
  }
  if (held_len + n + 5 > held_cap) {
    held_cap = (held_len + n + 5) * 2;
    held = realloc(held, held_cap);
    if (!held) exit(1);
  }
  held[held_len++] = (char)stream;
  memcpy(held + held_len, &n, sizeof(uint32_t));
  held_len += 4;
  memcpy(held + held_len, p, n);
  held_len += n;
}

static void release_held(int ok) {
  int fd = ok ? -1 : open(path_in("runtime-error"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  size_t o = 0;
  launched = 1;
  while (o < held_len) {
    int stream = held[o];
    uint32_t n;
    memcpy(&n, held + o + 1, 4);
    if (ok)
      deliver(stream, held + o + 5, n);
    else if (fd >= 0)
      write_all(fd, held + o + 5, n);
    o += 5 + n;
  }
  if (fd >= 0) close(fd);
  free(held);
  held = NULL;
  held_len = held_cap = 0;
}

static int drain(int fd, int stream) {
  char buf[32768];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0) {
    output(stream, buf, (size_t)n);
    return 1;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 1;
  return 0; /* EOF, or EIO on a pty whose slave side is gone */
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static int listen_unix(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (fd < 0 || strlen(path) >= sizeof sa.sun_path) die("socket path too long: %s", path);
  strcpy(sa.sun_path, path);
  unlink(path);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0)
    die("cannot listen on %s: %s", path, strerror(errno));
  return fd;
}

/* Receives the pty master that the runtime sends over the console socket. */
static int recv_master(int lfd) {
  int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return -1;
  char data[256];
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {data, sizeof data};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  int fd = -1;
  if (recvmsg(c, &msg, 0) >= 0) {
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (cm && cm->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  }
  close(c);
  return fd;
}

static void handle_line(struct client *c) {
  int h, w;
  if (sscanf(c->line, "attach %d %d %d", &c->want_stdin, &c->want_stdout, &c->want_stderr) == 3) {
    c->kind = C_ATTACH;
  } else if (strncmp(c->line, "wait", 4) == 0) {
    c->kind = C_WAIT;
  } else if (sscanf(c->line, "resize %d %d", &h, &w) == 2) {
    pending_ws = (struct winsize){.ws_row = (unsigned short)h, .ws_col = (unsigned short)w};
    if (master >= 0) ioctl(master, TIOCSWINSZ, &pending_ws);
    write_all(c->fd, "ok\n", 3);
    close_client(c);
  } else {
    write_all(c->fd, "error unknown command\n", 22);
    close_client(c);
  }
}

static void close_stdin(void) {
  if (stdin_w >= 0) {
    close(stdin_w);
    stdin_w = -1;
  }
}

/* Reads from a client: its command line first, then stdin bytes. */
static void client_read(struct client *c) {
  char buf[32768];
  ssize_t n = read(c->fd, buf, sizeof buf);
  if (n <= 0) {
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (c->kind == C_ATTACH && c->want_stdin && opt_stdin_once) close_stdin();
    if (c->kind != C_ATTACH || n < 0) close_client(c);
    else c->want_stdin = 0; /* half-closed: keep sending it output */
    return;
  }
  size_t off = 0;
  if (c->kind == C_NEW) {
    while (off < (size_t)n && c->kind == C_NEW) {
      char ch = buf[off++];
      if (ch == '\n') {
        c->line[c->line_len] = 0;
        handle_line(c);
        if (c->fd < 0) return;
      } else if (c->line_len < sizeof c->line - 1) {
        c->line[c->line_len++] = ch;
      }
    }
  }
  if (c->kind == C_ATTACH && c->want_stdin && off < (size_t)n) {
    int target = master >= 0 ? master : stdin_w;
    if (target >= 0) write_all(target, buf + off, (size_t)n - off);
  }
}

static void accept_client(void) {
  int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (clients[i].fd < 0) {
      memset(&clients[i], 0, sizeof clients[i]);
      clients[i].fd = fd;
      clients[i].kind = C_NEW;
      return;
    }
  close(fd);
}

static pid_t read_pidfile(void) {
  char buf[32] = {0};
  int fd = open(path_in("pid"), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n > 0 ? (pid_t)atoi(buf) : -1;
}

static int status_code(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }

int main(int argc, char **argv) {
  int i;
  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--state-dir") && i + 1 < argc) state_dir = argv[++i];
    else if (!strcmp(argv[i], "--log") && i + 1 < argc) log_path = argv[++i];
    else if (!strcmp(argv[i], "--tty")) opt_tty = 1;
    else if (!strcmp(argv[i], "--stdin")) opt_stdin = 1;
    else if (!strcmp(argv[i], "--stdin-once")) opt_stdin_once = 1;
    else if (!strcmp(argv[i], "--wait-attach")) opt_wait_attach = 1;
    else if (!strcmp(argv[i], "--")) { i++; break; }
    else die("unknown argument %s", argv[i]);
  }
  if (!state_dir || i >= argc) die("usage: berth-shim --state-dir DIR [opts] -- RUNTIME ARGS...");
  char **rt_argv = argv + i;

  signal(SIGPIPE, SIG_IGN);
  for (int k = 0; k < MAX_CLIENTS; k++) clients[k].fd = -1;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) die("subreaper: %s", strerror(errno));
  char pidbuf[32];
  snprintf(pidbuf, sizeof pidbuf, "%d\n", getpid());
  write_file_atomic("shim.pid", pidbuf);
  if (log_path) {
    log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (log_fd < 0) die("cannot open log %s: %s", log_path, strerror(errno));
  }

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

  listen_fd = listen_unix(path_in("attach.sock"));
  set_nonblock(listen_fd);
  int console_fd = opt_tty ? listen_unix(path_in("console.sock")) : -1;

  /* Pipes: the runtime's (and so, in pass-through mode, the container's) stdio. */
  int pin[2] = {-1, -1}, pout[2], perr[2];
  if ((opt_stdin && !opt_tty && pipe2(pin, O_CLOEXEC) < 0) || pipe2(pout, O_CLOEXEC) < 0 ||
      pipe2(perr, O_CLOEXEC) < 0)
    die("pipe: %s", strerror(errno));

  if (opt_wait_attach) {
    /* Output must not start before the first client listens (docker run, attached). */
    struct pollfd pfd = {listen_fd, POLLIN, 0};
    if (poll(&pfd, 1, 30000) <= 0) die("no client attached within 30 s");
    accept_client();
  }

  pid_t rt = fork();
  if (rt < 0) die("fork: %s", strerror(errno));
  if (rt == 0) {
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
    int devnull = open("/dev/null", O_RDWR);
    dup2(pin[0] >= 0 ? pin[0] : devnull, 0);
    dup2(pout[1], 1);
    dup2(perr[1], 2);
    execv(rt_argv[0], rt_argv);
    dprintf(2, "cannot exec %s: %s\n", rt_argv[0], strerror(errno));
    _exit(127);
  }
  if (pin[0] >= 0) close(pin[0]);
  close(pout[1]);
  close(perr[1]);
  stdin_w = pin[1];
  out_r = pout[0];
  err_r = perr[0];
  set_nonblock(out_r);
  set_nonblock(err_r);

  pid_t child = -1;      /* the container's (or exec's) process */
  int child_status = -1; /* its wait status once reaped */
  int rt_done = 0;
  /* Exit statuses of processes reaped before we knew the child's pid. */
  pid_t early_pid[16];
  int early_st[16], n_early = 0;

  for (;;) {
    struct pollfd pfds[MAX_CLIENTS + 6];
    int n = 0;
    pfds[n++] = (struct pollfd){sfd, POLLIN, 0};
    pfds[n++] = (struct pollfd){listen_fd, POLLIN, 0};
    pfds[n++] = (struct pollfd){out_r, POLLIN, 0};
    pfds[n++] = (struct pollfd){err_r, POLLIN, 0};
    pfds[n++] = (struct pollfd){master, POLLIN, 0};
    pfds[n++] = (struct pollfd){console_fd, POLLIN, 0};
    for (int k = 0; k < MAX_CLIENTS; k++) pfds[n++] = (struct pollfd){clients[k].fd, POLLIN, 0};
    /* Once the child is gone, wait for its output to drain, then finish. */
    if (child_status >= 0 && out_r < 0 && err_r < 0 && master < 0) break;
    int timeout = child_status >= 0 ? 200 : -1;
    int r = poll(pfds, (nfds_t)n, timeout);
    if (r < 0 && errno != EINTR) break;
    if (r == 0 && child_status >= 0) break; /* orphaned writers hold the pipes: give up */

    if (pfds[5].revents & POLLIN) {
      master = recv_master(console_fd);
      if (master >= 0) {
        set_nonblock(master);
        if (pending_ws.ws_row) ioctl(master, TIOCSWINSZ, &pending_ws);
        close(console_fd);
        console_fd = -1;
      }
    }
    if (pfds[2].revents & (POLLIN | POLLHUP | POLLERR) && !drain(out_r, 1)) {
      close(out_r);
      out_r = -1;
    }
    if (pfds[3].revents & (POLLIN | POLLHUP | POLLERR) && !drain(err_r, 2)) {
      close(err_r);
      err_r = -1;
    }
    if (pfds[4].revents & (POLLIN | POLLHUP | POLLERR) && !drain(master, 1)) {
      close(master);
      master = -1;
    }
    if (pfds[1].revents & POLLIN) accept_client();
    for (int k = 0; k < MAX_CLIENTS; k++)
      if (clients[k].fd >= 0 && pfds[6 + k].revents & (POLLIN | POLLHUP | POLLERR)) client_read(&clients[k]);

    if (pfds[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {
      }
      int st;
      pid_t p;
      while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
        if (p == rt) {
          rt_done = 1;
          if (status_code(st) != 0) {
            /* Collect what the runtime printed, then report the failure. */
            for (int fd_i = 0; fd_i < 2; fd_i++) {
              int *fdp = fd_i ? &err_r : &out_r;
              struct pollfd q = {*fdp, POLLIN, 0};
              while (*fdp >= 0 && poll(&q, 1, 100) > 0 && drain(*fdp, fd_i + 1)) {
              }
            }
            release_held(0);
            dprintf(1, "error %d\n", status_code(st));
            unlink(path_in("attach.sock"));
            exit(1);
          }
          child = read_pidfile();
          if (child <= 0) {
            dprintf(1, "error no pid file\n");
            exit(1);
          }
          release_held(1);
          dprintf(1, "ok %d\n", child);
          close(1);
          open("/dev/null", O_WRONLY);
          for (int k = 0; k < n_early; k++)
            if (early_pid[k] == child) child_status = early_st[k];
        } else if (rt_done && p == child) {
          child_status = st;
        } else if (!rt_done && n_early < 16) {
          early_pid[n_early] = p;
          early_st[n_early++] = st;
        }
      }
      if (child_status >= 0) {
        /* The pty master reports EIO once every slave holder is gone. */
        if (stdin_w >= 0) close_stdin();
      }
    }
  }

  flush_partials();
  int code = status_code(child_status < 0 ? 0 : child_status);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char exitbuf[64];
  snprintf(exitbuf, sizeof exitbuf, "%d %lld%09ld\n", code, (long long)ts.tv_sec, ts.tv_nsec);
  write_file_atomic("exit", exitbuf);
  unlink(path_in("attach.sock"));
  char msg[32];
  int ml = snprintf(msg, sizeof msg, "exit %d\n", code);
  for (int k = 0; k < MAX_CLIENTS; k++) {
    if (clients[k].fd < 0) continue;
    if (clients[k].kind == C_WAIT) write_all(clients[k].fd, msg, (size_t)ml);
    close_client(&clients[k]);
  }
  if (log_fd >= 0) close(log_fd);
  return 0;
}
