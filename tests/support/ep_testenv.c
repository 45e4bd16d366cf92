#include "ep_testenv.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_CHILDREN 256

struct ep_testenv {
  char home[256];
  char cookie[33];
  char tag[128];
  int epmd_port;
  char epmd_log[320]; /* the private epmd's debug output */
  pid_t children[MAX_CHILDREN];
  int nchildren;
  pid_t guard;     /* start_guard's process */
  int guard_fd;    /* the write end of its pipe: only this process holds it */
};

static void die(const char *what) {
  fprintf(stderr, "ep_testenv: %s: %s\n", what, strerror(errno));
  abort();
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void random_bytes(void *p, size_t n) {
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, p, n) != (ssize_t)n) die("/dev/urandom");
  close(fd);
}

/* The run tag: EP_TEST_RUN (set by CMake per build tree) or a random one. */
static const char *run_tag(void) {
  static char buf[64];
  const char *r = getenv("EP_TEST_RUN");
  if (r && *r) return r;
  if (!buf[0]) {
    unsigned v;
    random_bytes(&v, sizeof v);
    snprintf(buf, sizeof buf, "eprun-%08x", v);
  }
  return buf;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

void ep_testenv_run_dir(char *out, size_t cap) {
  const char *tmp = getenv("TMPDIR");
  snprintf(out, cap, "%s/%s", tmp && *tmp ? tmp : "/tmp", run_tag());
}

/* Removes the run's folder (the shell tests' worlds) and the run's HOMEs
 * ($TMPDIR/ephome.<run>.*): what failed or killed tests left behind. */
void ep_testenv_remove_run_dir(void) {
  char base[200];
  ep_testenv_run_dir(base, sizeof base);
  nftw(base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp) tmp = "/tmp";
  char prefix[128];
  snprintf(prefix, sizeof prefix, "ephome.%s.", run_tag());
  DIR *d = opendir(tmp);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (strncmp(de->d_name, prefix, strlen(prefix)) != 0) continue;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp, de->d_name);
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  }
  closedir(d);
}

/* What ep_testenv_free does, and what the guard does once the test's
 * process is gone: kill every process carrying the tag, remove HOME. */
static void sweep_env(ep_testenv *env) {
  ep_sweep_tag(env->tag, 0);
  nftw(env->home, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* The guard: a process that waits for this one to end, however it ends,
 * then sweeps the env. Check's fork mode ends a test's process at its first
 * failed assertion (_exit, no checked teardown) or kills it on timeout, so
 * ep_testenv_free never runs there; the guard still stops what the test
 * started, before the next test begins to compete with it for the CPU, and
 * removes its HOME (ep_sweep, after the suite, is the last resort). It
 * waits for EOF on a pipe whose write end only this process holds
 * (O_CLOEXEC: no erl or epmd inherits it; a child forked and not exec'd
 * does, and ends with the test), keeps no other descriptor (no socket of
 * the test stays open through it), and runs in a process group of its own
 * (Check kills the test's group). Its environment at exec time is the test
 * program's, without the tag: the sweep does not find it. */
static void start_guard(ep_testenv *env) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) die("pipe");
  pid_t g = fork();
  if (g < 0) die("fork");
  if (g == 0) {
    setpgid(0, 0);
    if (fds[0] != 3 && dup2(fds[0], 3) != 3) _exit(1);
    close_range(4, ~0U, 0);
    char c;
    while (read(3, &c, 1) < 0 && errno == EINTR) {
    }
    sweep_env(env);
    _exit(0);
  }
  close(fds[0]);
  env->guard = g;
  env->guard_fd = fds[1];
}

ep_testenv *ep_testenv_new(void) {
  ep_testenv *env = calloc(1, sizeof *env);
  if (!env) die("calloc");
  /* Directly under $TMPDIR: the OTP-root tests mirror this path inside a
   * chroot with one mkdir. (The shell tests' folders live under the run
   * folder that ep_sweep removes.) Named after the run, so that ep_sweep
   * also removes the HOMEs of tests that failed or were killed before
   * ep_testenv_free: Check skips a checked teardown after a failed
   * assertion and after a timeout. */
  const char *tmp = getenv("TMPDIR");
  snprintf(env->home, sizeof env->home, "%s/ephome.%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", run_tag());
  if (!mkdtemp(env->home)) die("mkdtemp");
  unsigned char rnd[16];
  random_bytes(rnd, sizeof rnd);
  for (int i = 0; i < 16; i++) {
    env->cookie[2 * i] = (char)('A' + (rnd[i] >> 4));
    env->cookie[2 * i + 1] = (char)('A' + (rnd[i] & 15));
  }
  char path[300];
  snprintf(path, sizeof path, "%s/.erlang.cookie", env->home);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0400);
  if (fd < 0 || write(fd, env->cookie, 32) != 32) die("write cookie");
  close(fd);
  env->epmd_port = ep_testenv_free_port();
  snprintf(env->tag, sizeof env->tag, "%s.%ld.%u", run_tag(), (long)getpid(), (unsigned)rnd[0] << 8 | rnd[1]);
  char port[16];
  snprintf(port, sizeof port, "%d", env->epmd_port);
  setenv("HOME", env->home, 1);
  setenv("ERL_EPMD_PORT", port, 1);
  setenv("EP_TEST_TAG", env->tag, 1);
  /* erl writes crash dumps to the cwd; keep them out of the source tree. */
  char dump[300];
  snprintf(dump, sizeof dump, "%s/erl_crash.dump", env->home);
  setenv("ERL_CRASH_DUMP", dump, 1);
  start_guard(env);
  return env;
}


void ep_testenv_free(ep_testenv *env) {
  if (!env) return;
  ep_sweep_tag(env->tag, 0);
  for (int i = 0; i < env->nchildren; i++) waitpid(env->children[i], NULL, 0);
  nftw(env->home, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  /* done here: the guard has nothing left to do (a forked child that
   * still holds the pipe must not keep it waiting) */
  if (env->guard > 0) {
    close(env->guard_fd);
    kill(env->guard, SIGKILL);
    waitpid(env->guard, NULL, 0);
  }
  free(env);
}

int ep_testenv_epmd_port(const ep_testenv *env) { return env->epmd_port; }
const char *ep_testenv_cookie(const ep_testenv *env) { return env->cookie; }
const char *ep_testenv_home(const ep_testenv *env) { return env->home; }
const char *ep_testenv_tag(const ep_testenv *env) { return env->tag; }

const char *ep_testenv_host(void) {
  static char host[256];
  if (!host[0]) {
    if (gethostname(host, sizeof host - 1) != 0) die("gethostname");
    char *dot = strchr(host, '.');
    if (dot) *dot = 0;
  }
  return host;
}

int ep_testenv_free_port(void) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof sa;
  if (bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 || getsockname(s, (struct sockaddr *)&sa, &sl) != 0)
    die("bind");
  close(s);
  return ntohs(sa.sin_port);
}

int ep_testenv_wait_port(int port, int timeout_ms) {
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) return -1;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = connect(s, (struct sockaddr *)&sa, sizeof sa);
    if (r != 0 && errno == EINPROGRESS) {
      struct pollfd pfd = {s, POLLOUT, 0};
      long long left = deadline - now_ms();
      if (poll(&pfd, 1, left > 0 ? (int)left : 0) == 1) {
        int e = 0;
        socklen_t el = sizeof e;
        getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el);
        r = e ? -1 : 0;
      }
    }
    close(s);
    if (r == 0) return 0;
    long long left = deadline - now_ms();
    if (left <= 0) return -1;
    /* Connection refused comes back at once: wait a little for the listener
     * to appear (there is no event to wait on for another process's bind). */
    poll(NULL, 0, left < 20 ? (int)left : 20);
  }
}

static void remember(ep_testenv *env, pid_t pid) {
  if (env->nchildren < MAX_CHILDREN) env->children[env->nchildren++] = pid;
}

static pid_t spawn(const char *const *argv, int in_fd, int out_fd, int err_fd) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (in_fd >= 0) posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
  else posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  else posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  if (err_fd >= 0) posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
  pid_t pid;
  int r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  return r == 0 ? pid : -1;
}

/* Whether the file at path holds text (in its first 64 KiB: the lines
 * waited for come early). */
static int file_has(const char *path, const char *text) {
  static char buf[65536];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t len = 0;
  ssize_t n;
  while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)n;
  close(fd);
  buf[len] = 0;
  return strstr(buf, text) != NULL;
}

/* Waits until the file at path holds text (0), or process pid (when > 0)
 * is gone without it, or timeout_ms pass (-1). Woken by inotify on each
 * write to the file and by the process's pidfd on its exit: no polling. */
static int wait_file(const char *path, const char *text, pid_t pid, int timeout_ms) {
  int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (in < 0) return -1;
  if (inotify_add_watch(in, path, IN_MODIFY) < 0) {
    close(in);
    return -1;
  }
  int pfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
  long long deadline = now_ms() + timeout_ms;
  int r = -1;
  for (;;) {
    /* Looked at after the watch is set: no write goes unseen. */
    if (file_has(path, text)) {
      r = 0;
      break;
    }
    struct pollfd pf[2] = {{in, POLLIN, 0}, {pfd, POLLIN, 0}};
    long long left = deadline - now_ms();
    if (left <= 0 || poll(pf, pfd >= 0 ? 2 : 1, (int)left) <= 0) break;
    if (pf[0].revents) {
      char ev[4096];
      while (read(in, ev, sizeof ev) > 0) {
      }
    }
    if (pfd >= 0 && pf[1].revents) { /* gone: what it wrote is all there is */
      r = file_has(path, text) ? 0 : -1;
      break;
    }
  }
  if (pfd >= 0) close(pfd);
  close(in);
  return r;
}

int ep_testenv_start_epmd(ep_testenv *env) {
  /* The port was free when we picked it; if epmd cannot have it after all
   * (it exits), pick another and say so in ERL_EPMD_PORT. Its debug output
   * (-d -d) goes to a file in HOME and says when it listens: "entering the
   * main select() loop" comes after its listen(). */
  for (int attempt = 0; attempt < 3; attempt++) {
    char port[16];
    snprintf(port, sizeof port, "%d", env->epmd_port);
    setenv("ERL_EPMD_PORT", port, 1);
    snprintf(env->epmd_log, sizeof env->epmd_log, "%s/epmd.%d.log", env->home, env->epmd_port);
    int log = open(env->epmd_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log < 0) return -1;
    const char *argv[] = {"epmd", "-port", port, "-d", "-d", NULL};
    pid_t pid = spawn(argv, -1, -1, log);
    close(log);
    if (pid < 0) return -1;
    remember(env, pid);
    if (wait_file(env->epmd_log, "entering the main select() loop", pid, 10000) == 0) return 0;
    ep_testenv_kill(env, pid); /* exited (not our port), or hangs */
    env->epmd_port = ep_testenv_free_port();
  }
  env->epmd_log[0] = 0;
  return -1;
}

int ep_testenv_wait_epmd_log(const ep_testenv *env, const char *text, int timeout_ms) {
  if (!env->epmd_log[0]) return -1;
  return wait_file(env->epmd_log, text, 0, timeout_ms);
}

/* Reads from fd until a line starting with marker arrives; copies the rest
 * of that line into rest. */
static int wait_line(int fd, const char *marker, char *rest, size_t cap, int timeout_ms) {
  char buf[8192];
  size_t len = 0;
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    buf[len] = 0;
    char *m = strstr(buf, marker);
    if (m) {
      char *nl = strchr(m, '\n');
      if (nl) {
        *nl = 0;
        snprintf(rest, cap, "%s", m + strlen(marker));
        return 0;
      }
    }
    long long left = deadline - now_ms();
    if (left <= 0) return -1;
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, (int)left) <= 0) return -1;
    if (len >= sizeof buf - 1) { /* keep the tail: the marker may straddle */
      memmove(buf, buf + len / 2, len - len / 2);
      len -= len / 2;
    }
    ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
    if (n <= 0) return -1;
    len += (size_t)n;
  }
}

pid_t ep_testenv_start_erl(ep_testenv *env, const char *sname, const char *const *extra_args, char *node,
                           size_t cap) {
  const char *argv[64];
  int k = 0;
  argv[k++] = "erl";
  argv[k++] = "-sname";
  argv[k++] = sname;
  argv[k++] = "-noshell";
  argv[k++] = "-noinput";
  for (int i = 0; extra_args && extra_args[i] && k < 58; i++) argv[k++] = extra_args[i];
  argv[k++] = "-eval";
  argv[k++] = "io:format(\"EP_READY ~s~n\", [node()]).";
  argv[k] = NULL;
  return ep_testenv_start_erl_argv(env, argv, node, cap);
}

pid_t ep_testenv_start_erl_argv(ep_testenv *env, const char *const *argv, char *node, size_t cap) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  pid_t pid = spawn(argv, -1, p[1], -1);
  close(p[1]);
  if (pid < 0) {
    close(p[0]);
    return -1;
  }
  remember(env, pid);
  char got[256] = {0};
  /* Keep the pipe open (the node may print more); it closes with the test. */
  if (wait_line(p[0], "EP_READY ", got, sizeof got, 20000) != 0) {
    close(p[0]);
    ep_testenv_kill(env, pid);
    return -1;
  }
  if (node) snprintf(node, cap, "%s", got);
  return pid;
}

int ep_testenv_wait_pid_gone(long pid, int timeout_ms) {
  int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
  if (fd < 0) return errno == ESRCH;
  struct pollfd pf = {fd, POLLIN, 0};
  int r = poll(&pf, 1, timeout_ms);
  close(fd);
  return r == 1;
}

void ep_testenv_kill(ep_testenv *env, pid_t pid) {
  (void)env;
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

static void drain(int fd, char **buf, size_t *len, size_t *cap) {
  char tmp[65536];
  ssize_t n = read(fd, tmp, sizeof tmp);
  if (n <= 0) return;
  if (*len + (size_t)n + 1 > *cap) {
    size_t nc = (*cap ? *cap * 2 : 65536);
    while (nc < *len + (size_t)n + 1) nc *= 2;
    char *d = realloc(*buf, nc);
    if (!d) die("realloc");
    *buf = d;
    *cap = nc;
  }
  memcpy(*buf + *len, tmp, (size_t)n);
  *len += (size_t)n;
  (*buf)[*len] = 0;
}

int ep_testenv_run(const char *const *argv, const char *stdin_data, size_t stdin_len, char **out, size_t *out_len,
                   char **err, int timeout_ms) {
  int pin[2], pout[2], perr[2];
  if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)) return -1;
  pid_t pid = spawn(argv, pin[0], pout[1], perr[1]);
  close(pin[0]);
  close(pout[1]);
  close(perr[1]);
  if (pid < 0) {
    close(pin[1]), close(pout[0]), close(perr[0]);
    return -1;
  }
  fcntl(pin[1], F_SETFL, O_NONBLOCK);
  signal(SIGPIPE, SIG_IGN);
  char *obuf = NULL, *ebuf = NULL;
  size_t olen = 0, ocap = 0, elen = 0, ecap = 0, sent = 0;
  int in_fd = pin[1];
  if (!stdin_data || stdin_len == 0) {
    close(in_fd);
    in_fd = -1;
  }
  int o_open = 1, e_open = 1, status = -1;
  long long deadline = now_ms() + timeout_ms;
  while (o_open || e_open) {
    struct pollfd pf[3];
    int n = 0, io = -1, ie = -1, ii = -1;
    if (o_open) pf[io = n++] = (struct pollfd){pout[0], POLLIN, 0};
    if (e_open) pf[ie = n++] = (struct pollfd){perr[0], POLLIN, 0};
    if (in_fd >= 0) pf[ii = n++] = (struct pollfd){in_fd, POLLOUT, 0};
    long long left = deadline - now_ms();
    if (left <= 0 || poll(pf, (nfds_t)n, (int)left) <= 0) {
      kill(pid, SIGKILL);
      break;
    }
    if (io >= 0 && pf[io].revents) {
      size_t before = olen;
      drain(pout[0], &obuf, &olen, &ocap);
      if (olen == before) o_open = 0;
    }
    if (ie >= 0 && pf[ie].revents) {
      size_t before = elen;
      drain(perr[0], &ebuf, &elen, &ecap);
      if (elen == before) e_open = 0;
    }
    if (ii >= 0 && pf[ii].revents) {
      ssize_t w = write(in_fd, stdin_data + sent, stdin_len - sent);
      if (w > 0) sent += (size_t)w;
      if (w < 0 || sent == stdin_len) {
        close(in_fd);
        in_fd = -1;
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  close(pout[0]);
  close(perr[0]);
  int ws;
  if (waitpid(pid, &ws, 0) == pid) status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  if (!obuf) obuf = calloc(1, 1);
  if (!ebuf) ebuf = calloc(1, 1);
  if (out) *out = obuf;
  else free(obuf);
  if (out_len) *out_len = olen;
  if (err) *err = ebuf;
  else free(ebuf);
  return status;
}

int ep_testenv_erl_eval(const char *exprs, char **out, size_t *out_len, int timeout_ms) {
  const char *argv[] = {"erl", "-noshell", "-noinput", "-eval", exprs, NULL};
  char *err = NULL;
  int st = ep_testenv_run(argv, NULL, 0, out, out_len, &err, timeout_ms);
  if (st != 0 && err && *err) fprintf(stderr, "erl -eval failed (%d): %s\n", st, err);
  free(err);
  return st;
}

/* A process that is still running (not a zombie: a zombie is dead, only
 * not yet reaped, and has no environment left to match). */
static int is_live(long pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *rp = strrchr(buf, ')');
  return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

/* One pass: SIGKILL every live process carrying the tag; returns how many.
 * The pidfd of each one killed (opened before the kill, so it names that
 * process and no later one with its pid) goes into fds, to wait on its end;
 * *unwatched counts those killed without one. */
static int sweep_pass(const char *want, size_t wl, int prefix, long *seen, int *nseen, int cap, struct pollfd *fds,
                      int *nfds, int fdcap, int *unwatched) {
  int found = 0;
  DIR *d = opendir("/proc");
  if (!d) return 0;
  struct dirent *de;
  static char envbuf[1 << 17];
  while ((de = readdir(d))) {
    char *end;
    long pid = strtol(de->d_name, &end, 10);
    if (*end || pid <= 1 || pid == getpid()) continue;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/environ", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, envbuf, sizeof envbuf - 1);
    close(fd);
    if (n <= 0) continue;
    envbuf[n] = 0;
    for (char *p = envbuf; p < envbuf + n; p += strlen(p) + 1) {
      if (strncmp(p, want, wl) == 0 && (prefix || p[wl] == 0)) {
        if (!is_live(pid)) break;
        int pfd = *nfds < fdcap ? (int)syscall(SYS_pidfd_open, (pid_t)pid, 0) : -1;
        if (kill((pid_t)pid, SIGKILL) == 0) {
          found++;
          if (pfd >= 0)
            fds[(*nfds)++] = (struct pollfd){pfd, POLLIN, 0};
          else
            (*unwatched)++;
          int known = 0;
          for (int i = 0; i < *nseen; i++) known |= seen[i] == pid;
          if (!known && *nseen < cap) seen[(*nseen)++] = pid;
        } else if (pfd >= 0) {
          close(pfd);
        }
        break;
      }
    }
  }
  closedir(d);
  return found;
}

/* Waits until every process of fds has ended (a pidfd turns readable when
 * its process exits, zombie or not, child of ours or not), or the deadline;
 * closes the fds. */
static void wait_all_ended(struct pollfd *fds, int n, long long deadline) {
  int left = n;
  while (left > 0) {
    long long ms = deadline - now_ms();
    if (ms <= 0 || poll(fds, (nfds_t)n, (int)ms) <= 0) break;
    for (int i = 0; i < n; i++)
      if (fds[i].fd >= 0 && fds[i].revents) {
        close(fds[i].fd);
        fds[i].fd = -1; /* poll skips it from now on */
        left--;
      }
  }
  for (int i = 0; i < n; i++)
    if (fds[i].fd >= 0) close(fds[i].fd);
}

int ep_sweep_tag(const char *tag, int prefix) {
  char want[200];
  snprintf(want, sizeof want, "EP_TEST_TAG=%s", tag);
  size_t wl = strlen(want);
  long seen[1024];
  int nseen = 0;
  static struct pollfd fds[256];
  /* Repeat until a pass finds nobody alive: a process may fork while we
   * scan (a detached erl daemonizing). Between passes, wait for the ones
   * killed to be gone (their pidfds), not for a period. Bounded: 5 s. */
  long long deadline = now_ms() + 5000;
  for (;;) {
    int nfds = 0, unwatched = 0;
    if (sweep_pass(want, wl, prefix, seen, &nseen, 1024, fds, &nfds, 256, &unwatched) == 0) break;
    wait_all_ended(fds, nfds, deadline);
    if (now_ms() >= deadline) break;
    /* More than 256 at once, or no pidfd: nothing to wait on for those
     * (they are not our children), so give the kills a moment. */
    if (unwatched) poll(NULL, 0, 5);
  }
  return nseen;
}
