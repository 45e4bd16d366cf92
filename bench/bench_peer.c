/* bench_peer.c - peer control over the distribution, side by side:
 * erlpeer (this library, and the erlpeer CLI as a process), an Erlang origin
 * (peer:start_link / peer:stop in an `erl` it starts), erl_call -s / -q, and
 * the floor (spawning `erl -sname X` until its init has started).
 *
 * Usage: bench_peer [RUNS] [CLI]   (RUNS default 3, medians reported; CLI the
 * erlpeer binary for the whole-process figure, default ./erlpeer)
 * Needs an EPMD on ERL_EPMD_PORT (or 4369) and a cookie in ~/.erlang.cookie.
 * When a measurement cannot be made (no EPMD, a node that does not start, a
 * program that fails or runs past RUN_TIMEOUT_MS) it says why on stderr and
 * exits 2, printing no figure for it. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ep_bench.h"
#include "ep_error.h"
#include "ep_peer.h"

extern char **environ;

/* Every program the bench runs is bounded: past this it is killed and the
 * bench fails, instead of waiting for ever on a node that cannot start. */
#define RUN_TIMEOUT_MS 120000

/* Spawns argv in a process group of its own (so a timeout kills erl's
 * children as well), stdout into a pipe and stderr to /dev/null; -1 and
 * errno when the spawn fails. */
static pid_t spawn_quiet(const char *const *argv, int out_fd) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&at, 0);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  else posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int r = posix_spawnp(&pid, argv[0], &fa, &at, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (r) {
    errno = r;
    return -1;
  }
  return pid;
}

/* Runs argv to its end, its stdout into buf (cap) when buf. When marker is
 * not 0, *t_marker is set to the ms from the spawn until that byte first
 * appears on stdout (-1 if it never does). The exit status; -1 when the
 * spawn failed, -2 when the program ran past RUN_TIMEOUT_MS (it is killed). */
static int run_marked(const char *const *argv, char *buf, size_t cap, char marker, double *t_marker) {
  int p[2];
  if (pipe(p)) return -1;
  double t0 = epb_now_ms();
  pid_t pid = spawn_quiet(argv, p[1]);
  close(p[1]);
  if (pid < 0) {
    close(p[0]);
    return -1;
  }
  if (t_marker) *t_marker = -1;
  size_t len = 0;
  bool timed_out = false;
  for (;;) {
    int left = (int)(t0 + RUN_TIMEOUT_MS - epb_now_ms());
    struct pollfd pf = {p[0], POLLIN, 0};
    if (left <= 0 || poll(&pf, 1, left) == 0) {
      timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    char tmp[4096];
    ssize_t n = read(p[0], tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (marker && t_marker && *t_marker < 0 && memchr(tmp, marker, (size_t)n)) *t_marker = epb_now_ms() - t0;
    if (buf && len + (size_t)n < cap) {
      memcpy(buf + len, tmp, (size_t)n);
      len += (size_t)n;
    }
  }
  if (buf) buf[len] = 0;
  close(p[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return -2;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run(const char *const *argv, char *buf, size_t cap) { return run_marked(argv, buf, cap, 0, NULL); }

/* What a run's status means, for a failure's one line. */
static const char *status_text(int st, char *buf, size_t cap) {
  if (st == -1) snprintf(buf, cap, "could not be spawned (%s)", strerror(errno));
  else if (st == -2) snprintf(buf, cap, "did not finish within %d s and was killed", RUN_TIMEOUT_MS / 1000);
  else if (st >= 128) snprintf(buf, cap, "was killed by signal %d", st - 128);
  else snprintf(buf, cap, "exited with status %d", st);
  return buf;
}

/* Runs argv and fails the bench unless it exits 0; what names it. */
static void run_ok(const char *what, const char *const *argv, char *buf, size_t cap) {
  int st = run(argv, buf, cap);
  char why[96];
  if (st != 0) epb_fail("%s: `%s %s` %s", what, argv[0], argv[1], status_text(st, why, sizeof why));
}

/* The floor: from spawning `erl -sname X` until init:get_status() is
 * {started, started} (seen by a process that polls it every ms and prints
 * a marker); then the node halts. */
static double floor_once(int i) {
  char name[64], eval[200];
  snprintf(name, sizeof name, "bfloor%d_%d", i, getpid());
  /* -eval runs while init is still {starting, started}: a process watches */
  snprintf(eval, sizeof eval,
           "spawn(fun W() -> case init:get_status() of {started, started} -> io:format(\"R~n\"), halt();"
           " _ -> timer:sleep(1), W() end end).");
  const char *argv[] = {"erl", "-sname", name, "-noinput", "-noshell", "-eval", eval, NULL};
  double t;
  int st = run_marked(argv, NULL, 0, 'R', &t);
  char why[96];
  if (st != 0 || t < 0)
    epb_fail("floor: `erl -sname %s` %s before init reached {started, started}", name,
             st ? status_text(st, why, sizeof why) : "exited 0");
  return t;
}

/* --- erlpeer in process ---------------------------------------------------------------- */

typedef struct cnt {
  int started, failed, stopped, err;
} cnt;

static void c_started(ep_peer *p, int err, void *ud) {
  cnt *c = ud;
  if (err) c->failed++, c->err = err;
  else c->started++;
}
static void c_stopped(ep_peer *p, void *ud) { ((cnt *)ud)->stopped++; }

static ep_peer_opts *opts(const char *prefix) {
  ep_peer_opts *o = ep_peer_opts_new();
  char name[64];
  ep_peer_random_name(prefix, name, sizeof name);
  ep_peer_opts_set_name(o, name);
  ep_peer_opts_set_wait_boot(o, 60000);
  return o;
}

/* n peers started at once on the controller's loop; ms until all run. */
static double start_many(ep_ctl *c, int n, ep_peer **ps) {
  cnt k = {0};
  double t0 = epb_now_ms();
  for (int i = 0; i < n; i++) {
    ep_peer_opts *o = opts("bm");
    int st = ep_peer_start(c, o, true, &ps[i], c_started, &k);
    if (st) epb_fail("erlpeer: ep_peer_start of peer %d of %d: %s", i + 1, n, ep_strerror(st));
    ep_peer_opts_free(o);
  }
  while (k.started + k.failed < n) ep_ctl_poll(c, 10);
  if (k.failed)
    epb_fail("erlpeer: %d of %d concurrent peers did not start: %s (%s)", k.failed, n, ep_strerror(k.err),
             ep_ctl_last_start_reason(c));
  return epb_now_ms() - t0;
}

static void stop_many(ep_ctl *c, int n, ep_peer **ps) {
  cnt k = {0};
  for (int i = 0; i < n; i++) ep_peer_stop(ps[i], c_stopped, &k);
  while (k.stopped < n) ep_ctl_poll(c, 10);
  for (int i = 0; i < n; i++) ep_peer_free(ps[i]);
}

/* --- an Erlang origin ----------------------------------------------------------------- */

/* Runs an `erl -sname` origin evaluating body (which prints one number of
 * ms and halts); that number. */
static double erl_origin(const char *what, const char *body) {
  char name[64], out[256];
  static int k;
  snprintf(name, sizeof name, "borigin%d_%d", k++, getpid());
  const char *argv[] = {"erl", "-sname", name, "-noinput", "-noshell", "-eval", body, NULL};
  run_ok(what, argv, out, sizeof out);
  const char *m = strstr(out, "BENCH_MS ");
  double ms = m ? atof(m + 9) : -1;
  if (ms <= 0) epb_fail("%s: the origin printed no figure", what);
  return ms;
}

/* erl_interface's erl_call, the newest installed. */
static const char *find_erl_call(void) {
  static char path[512];
  glob_t g;
  if (glob("/usr/lib/erlang/lib/erl_interface-*/bin/erl_call", 0, NULL, &g) != 0 || !g.gl_pathc)
    epb_fail("erl_call: none under /usr/lib/erlang/lib/erl_interface-*/bin (erlang-dev)");
  snprintf(path, sizeof path, "%s", g.gl_pathv[g.gl_pathc - 1]);
  globfree(&g);
  return path;
}

static volatile sig_atomic_t g_alarm;
static void on_alarm(int sig) { (void)sig, g_alarm = 1; }

/* Waits for n children, each in its own process group, for at most
 * RUN_TIMEOUT_MS together; fails the bench (killing them) unless all
 * exit 0. */
static void wait_all(const char *what, const pid_t *kids, int n) {
  struct sigaction sa = {0}, old;
  sa.sa_handler = on_alarm; /* no SA_RESTART: waitpid returns EINTR */
  sigaction(SIGALRM, &sa, &old);
  g_alarm = 0;
  alarm(RUN_TIMEOUT_MS / 1000);
  int bad = 0, bad_st = 0;
  for (int k = 0; k < n; k++) {
    int st;
    while (waitpid(kids[k], &st, 0) < 0)
      if (errno != EINTR || g_alarm) {
        for (int j = k; j < n; j++) kill(-kids[j], SIGKILL);
        for (int j = k; j < n; j++) waitpid(kids[j], NULL, 0);
        epb_fail("%s: %d of %d did not finish within %d s", what, n - k, n, RUN_TIMEOUT_MS / 1000);
      }
    int s = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (s) bad++, bad_st = s;
  }
  alarm(0);
  sigaction(SIGALRM, &old, NULL);
  if (bad) epb_fail("%s: %d of %d failed (one with status %d)", what, bad, n, bad_st);
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 3;
  const char *cli = argc > 2 ? argv[2] : "./erlpeer";
  if (runs < 1 || runs > 15) runs = 3;
  double v[16], w[16];
  epb_init("bench_peer");
  printf("bench_peer: medians of %d runs\n", runs);
  epb_header();
  const char *erl_call = find_erl_call();
  if (access(cli, X_OK) != 0) epb_fail("the erlpeer CLI %s: %s", cli, strerror(errno));

  double fl[16];

  /* EXTERNAL: the erl nodes the bench starts need the same EPMD as the
   * controller; one the controller served itself would not be theirs. */
  ep_ctl *c = ep_ctl_new(NULL);
  ep_node_opts *no = ep_node_opts_new();
  ep_node_opts_set_epmd_mode(no, EP_EPMD_EXTERNAL);
  int st = ep_ctl_start_node(c, no);
  ep_node_opts_free(no);
  if (st != 0) {
    const char *port = getenv("ERL_EPMD_PORT");
    epb_fail("the controller's node did not start: %s (is an EPMD running on port %s?)", ep_strerror(st),
             port && *port ? port : "4369");
  }
  /* start to running, one peer at a time, and the stop per mode */
  static const struct {
    const char *name;
    ep_peer_shutdown mode;
    uint64_t ms;
  } modes[] = {{"close", EP_PEER_SHUTDOWN_CLOSE, 0},
               {"halt", EP_PEER_SHUTDOWN_HALT, 5000},
               {"stop (init:stop, infinity)", EP_PEER_SHUTDOWN_STOP, EP_INFINITY}};
  double start_ms = 0, floor_ms = 0;
  for (size_t m = 0; m < 3; m++) {
    for (int i = 0; i < runs; i++) {
      ep_peer_opts *o = opts("bs");
      ep_peer_opts_set_shutdown(o, modes[m].mode, modes[m].ms);
      ep_peer *p;
      if (m == 1) fl[i] = floor_once(i); /* interleaved: the same load for both */
      double t0 = epb_now_ms();
      if ((st = ep_peer_start_sync(c, o, true, &p)))
        epb_fail("erlpeer: ep_peer_start_sync: %s (%s)", ep_strerror(st), ep_ctl_last_start_reason(c));
      v[i] = epb_now_ms() - t0;
      t0 = epb_now_ms();
      if ((st = ep_peer_stop_sync(p))) epb_fail("erlpeer: ep_peer_stop_sync (%s): %s", modes[m].name, ep_strerror(st));
      w[i] = epb_now_ms() - t0;
      ep_peer_free(p);
      ep_peer_opts_free(o);
    }
    if (m == 1) start_ms = epb_median(v, runs), floor_ms = epb_median(fl, runs);
    printf("erlpeer: stop, shutdown %-28s %8.1f ms\n", modes[m].name, epb_median(w, runs));
  }
  printf("floor: erl -sname spawn to init {started,started}      %8.1f ms\n", floor_ms);
  printf("erlpeer: start to running (ep_peer_start_sync)          %8.1f ms  (%+.1f%% over the floor)\n", start_ms,
         (start_ms / floor_ms - 1) * 100);

  /* an Erlang origin: start_link to running, stop (halt) */
  for (int i = 0; i < runs; i++)
    v[i] = erl_origin("erlang origin, peer:start_link",
                      "T0 = erlang:monotonic_time(microsecond),"
                      "{ok, P, _} = peer:start_link(#{name => peer:random_name(bo)}),"
                      "T1 = erlang:monotonic_time(microsecond), peer:stop(P),"
                      "io:format(\"BENCH_MS ~.3f~n\", [(T1 - T0) / 1000]), halt().");
  printf("erlang origin: peer:start_link to running             %8.1f ms\n", epb_median(v, runs));

  /* whole process: start a peer, call erlang:node(), stop it */
  for (int i = 0; i < runs; i++) {
    char name[64];
    snprintf(name, sizeof name, "bw%d_%d", i, getpid());
    const char *a[] = {cli, "peer", "--name", name, "--call", "erlang:node()", NULL};
    double t0 = epb_now_ms();
    run_ok("whole process, erlpeer", a, NULL, 0);
    v[i] = epb_now_ms() - t0;
  }
  double whole_ep = epb_median(v, runs);
  printf("whole process: erlpeer peer --name X --call node()     %8.1f ms\n", whole_ep);
  for (int i = 0; i < runs; i++) {
    char name[64], body[400];
    snprintf(name, sizeof name, "bwo%d_%d", i, getpid());
    snprintf(body, sizeof body,
             "{ok, P, N} = peer:start_link(#{name => %s}), N = erpc:call(N, erlang, node, []),"
             "peer:stop(P), halt().",
             name);
    const char *a[] = {"erl", "-sname", name + 1, "-noinput", "-noshell", "-eval", body, NULL};
    double t0 = epb_now_ms();
    run_ok("whole process, erl origin", a, NULL, 0);
    v[i] = epb_now_ms() - t0;
  }
  double whole_erl = epb_median(v, runs);
  printf("whole process: erl origin, start_link+erpc+stop        %8.1f ms  (erlpeer/erl = %.2f)\n", whole_erl,
         whole_ep / whole_erl);
  for (int i = 0; i < runs; i++) {
    char name[64];
    snprintf(name, sizeof name, "bec%d_%d", i, getpid());
    const char *a[] = {erl_call, "-s", "-sname", name, "-a", "erlang node", NULL};
    const char *q[] = {erl_call, "-sname", name, "-q", NULL};
    double t0 = epb_now_ms();
    run_ok("erl_call -s -a", a, NULL, 0);
    run_ok("erl_call -q", q, NULL, 0);
    v[i] = epb_now_ms() - t0;
  }
  printf("whole process: erl_call -s -a 'erlang node' + -q       %8.1f ms\n", epb_median(v, runs));

  /* concurrent starts: 8 and 16 */
  enum { M = 16 };
  ep_peer *ps[M];
  for (int n = 8; n <= M; n += 8) {
    char body[800];
    snprintf(body, sizeof body,
             "T0 = erlang:monotonic_time(microsecond),"
             "Ps = [begin {ok, P} = peer:start_link(#{name => peer:random_name(bc), wait_boot => {self(), tag},"
             " args => [\"-connect_all\", \"false\"]}), P end"
             " || _ <- lists:seq(1, %d)],"
             "[receive {tag, {started, _, P}} -> ok end || P <- Ps],"
             "T1 = erlang:monotonic_time(microsecond), [peer:stop(P) || P <- Ps],"
             "io:format(\"BENCH_MS ~.3f~n\", [(T1 - T0) / 1000]), halt().",
             n);
    for (int i = 0; i < runs; i++) { /* interleaved: the same load for both */
      v[i] = start_many(c, n, ps);
      stop_many(c, n, ps);
      w[i] = erl_origin("erlang origin, concurrent peer:start_link", body);
    }
    printf("erlpeer: %2d peers started concurrently, all running    %8.1f ms\n", n, epb_median(v, runs));
    printf("erlang origin: %2d peer:start_link, wait_boot notify   %8.1f ms\n", n, epb_median(w, runs));
  }
  /* erl_call -s, 16 at once (each its own process) */
  for (int i = 0; i < runs; i++) {
    pid_t kids[M];
    double t0 = epb_now_ms();
    for (int k = 0; k < M; k++) {
      char name[64];
      snprintf(name, sizeof name, "becm%d_%d_%d", i, k, getpid());
      const char *a[] = {erl_call, "-s", "-sname", name, "-a", "erlang node", NULL};
      if ((kids[k] = spawn_quiet(a, -1)) < 0) epb_fail("erl_call -s: %s", strerror(errno));
    }
    wait_all("16 concurrent erl_call -s", kids, M);
    v[i] = epb_now_ms() - t0;
    for (int k = 0; k < M; k++) {
      char name[64];
      snprintf(name, sizeof name, "becm%d_%d_%d", i, k, getpid());
      const char *q[] = {erl_call, "-sname", name, "-q", NULL};
      run_ok("erl_call -q", q, NULL, 0);
    }
  }
  printf("erl_call -s: 16 started concurrently, each answered    %8.1f ms\n", epb_median(v, runs));

  /* the controller holding 16 peers: peak RSS, CPU per peer */
  double cpu0 = epb_cpu_s();
  double t = start_many(c, M, ps);
  ep_ctl_poll(c, 1000); /* hold them a second (ticks, nothing else) */
  double cpu1 = epb_cpu_s();
  long rss = epb_peak_rss_kb();
  if (rss < 0) epb_fail("peak RSS: no VmHWM in /proc/self/status");
  printf("erlpeer: holding 16 peers: peak RSS (VmHWM) %ld kB, CPU %.2f ms per peer (start + 1 s held; start %.0f ms)\n",
         rss, (cpu1 - cpu0) * 1e3 / M, t);
  stop_many(c, M, ps);
  ep_ctl_free(c);
  return 0;
}
