/* bench_peer.c - peer control over the distribution, side by side:
 * erlpeer (this library, and the erlpeer CLI as a process), an Erlang origin
 * (peer:start_link / peer:stop in an `erl` it starts), erl_call -s / -q, and
 * the floor (spawning `erl -sname X` until its init has started).
 *
 * Usage: bench_peer [RUNS] [CLI]   (RUNS default 3, medians reported; CLI the
 * erlpeer binary for the whole-process figure, default ./erlpeer)
 * Needs an EPMD on ERL_EPMD_PORT (or 4369) and a cookie in ~/.erlang.cookie. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ep_error.h"
#include "ep_peer.h"

extern char **environ;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Runs argv, stdout into buf (cap) when buf, waits; the exit status. */
static int run(const char *const *argv, char *buf, size_t cap) {
  int p[2];
  if (pipe(p)) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclose(&fa, p[0]);
  pid_t pid;
  int r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  if (r) {
    close(p[0]);
    return -1;
  }
  size_t len = 0;
  char tmp[4096];
  ssize_t n;
  while ((n = read(p[0], tmp, sizeof tmp)) > 0)
    if (buf && len + (size_t)n < cap) {
      memcpy(buf + len, tmp, (size_t)n);
      len += (size_t)n;
    }
  if (buf) buf[len] = 0;
  close(p[0]);
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
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
  int p[2];
  if (pipe(p)) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  posix_spawn_file_actions_addclose(&fa, p[0]);
  pid_t pid;
  double t0 = now_ms();
  if (posix_spawnp(&pid, "erl", &fa, NULL, (char *const *)argv, environ)) return -1;
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  char c;
  double t = -1;
  while (read(p[0], &c, 1) == 1)
    if (c == 'R') {
      t = now_ms() - t0;
      break;
    }
  close(p[0]);
  waitpid(pid, NULL, 0);
  return t;
}

/* --- erlpeer in process ---------------------------------------------------------------- */

typedef struct cnt {
  int started, failed, stopped;
} cnt;

static void c_started(ep_peer *p, int err, void *ud) {
  cnt *c = ud;
  if (err) c->failed++;
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
  double t0 = now_ms();
  for (int i = 0; i < n; i++) {
    ep_peer_opts *o = opts("bm");
    if (ep_peer_start(c, o, true, &ps[i], c_started, &k)) return -1;
    ep_peer_opts_free(o);
  }
  while (k.started + k.failed < n) ep_ctl_poll(c, 10);
  return k.failed ? -1 : now_ms() - t0;
}

static void stop_many(ep_ctl *c, int n, ep_peer **ps) {
  cnt k = {0};
  for (int i = 0; i < n; i++) ep_peer_stop(ps[i], c_stopped, &k);
  while (k.stopped < n) ep_ctl_poll(c, 10);
  for (int i = 0; i < n; i++) ep_peer_free(ps[i]);
}

static long vm_hwm_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6)) kb = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  return kb;
}

static double cpu_ms(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
}

/* --- an Erlang origin ----------------------------------------------------------------- */

/* Runs an `erl -sname` origin evaluating body (which prints one number of
 * ms and halts); that number. */
static double erl_origin(const char *body) {
  char name[64], out[256];
  static int k;
  snprintf(name, sizeof name, "borigin%d_%d", k++, getpid());
  const char *argv[] = {"erl", "-sname", name, "-noinput", "-noshell", "-eval", body, NULL};
  if (run(argv, out, sizeof out) != 0) return -1;
  const char *m = strstr(out, "BENCH_MS ");
  return m ? atof(m + 9) : -1;
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 3;
  const char *cli = argc > 2 ? argv[2] : "./erlpeer";
  if (runs < 1 || runs > 15) runs = 3;
  double v[16], w[16];
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0); /* figures as they come, even into a file */
  printf("bench_peer: medians of %d runs\n", runs);

  double fl[16];

  ep_ctl *c = ep_ctl_new(NULL);
  if (ep_ctl_start_node(c, ep_node_opts_new()) != 0) {
    fprintf(stderr, "no node (EPMD?)\n");
    return 1;
  }
  /* start to running, one peer at a time, and the stop per mode */
  static const struct {
    const char *name;
    ep_peer_shutdown mode;
    uint32_t ms;
  } modes[] = {{"close", EP_PEER_SHUTDOWN_CLOSE, 0},
               {"halt", EP_PEER_SHUTDOWN_HALT, 5000},
               {"stop (init:stop, infinity)", EP_PEER_SHUTDOWN_STOP, EP_PEER_INFINITY}};
  double start_ms = 0, floor_ms = 0;
  for (size_t m = 0; m < 3; m++) {
    for (int i = 0; i < runs; i++) {
      ep_peer_opts *o = opts("bs");
      ep_peer_opts_set_shutdown(o, modes[m].mode, modes[m].ms);
      ep_peer *p;
      if (m == 1) fl[i] = floor_once(i); /* interleaved: the same load for both */
      double t0 = now_ms();
      if (ep_peer_start_sync(c, o, true, &p)) return 1;
      v[i] = now_ms() - t0;
      t0 = now_ms();
      ep_peer_stop_sync(p);
      w[i] = now_ms() - t0;
      ep_peer_free(p);
      ep_peer_opts_free(o);
    }
    if (m == 1) start_ms = median(v, runs), floor_ms = median(fl, runs);
    printf("erlpeer: stop, shutdown %-28s %8.1f ms\n", modes[m].name, median(w, runs));
  }
  printf("floor: erl -sname spawn to init {started,started}      %8.1f ms\n", floor_ms);
  printf("erlpeer: start to running (ep_peer_start_sync)          %8.1f ms  (%.1f%% over the floor)\n", start_ms,
         (start_ms / floor_ms - 1) * 100);

  /* an Erlang origin: start_link to running, stop (halt) */
  for (int i = 0; i < runs; i++)
    v[i] = erl_origin("T0 = erlang:monotonic_time(microsecond),"
                      "{ok, P, _} = peer:start_link(#{name => peer:random_name(bo)}),"
                      "T1 = erlang:monotonic_time(microsecond), peer:stop(P),"
                      "io:format(\"BENCH_MS ~.3f~n\", [(T1 - T0) / 1000]), halt().");
  printf("erlang origin: peer:start_link to running             %8.1f ms\n", median(v, runs));

  /* whole process: start a peer, call erlang:node(), stop it */
  for (int i = 0; i < runs; i++) {
    char name[64];
    snprintf(name, sizeof name, "bw%d_%d", i, getpid());
    const char *a[] = {cli, "peer", "--name", name, "--call", "erlang:node()", NULL};
    double t0 = now_ms();
    if (run(a, NULL, 0) != 0) v[i] = -1;
    else v[i] = now_ms() - t0;
  }
  double whole_ep = median(v, runs);
  printf("whole process: erlpeer peer --name X --call node()     %8.1f ms\n", whole_ep);
  for (int i = 0; i < runs; i++) {
    char name[64], body[400];
    snprintf(name, sizeof name, "bwo%d_%d", i, getpid());
    snprintf(body, sizeof body,
             "{ok, P, N} = peer:start_link(#{name => %s}), N = erpc:call(N, erlang, node, []),"
             "peer:stop(P), halt().",
             name);
    const char *a[] = {"erl", "-sname", name + 1, "-noinput", "-noshell", "-eval", body, NULL};
    double t0 = now_ms();
    run(a, NULL, 0);
    v[i] = now_ms() - t0;
  }
  double whole_erl = median(v, runs);
  printf("whole process: erl origin, start_link+erpc+stop        %8.1f ms  (erlpeer/erl = %.2f)\n", whole_erl,
         whole_ep / whole_erl);
  const char *erl_call = "/usr/lib/erlang/lib/erl_interface-5.3/bin/erl_call";
  for (int i = 0; i < runs; i++) {
    char name[64];
    snprintf(name, sizeof name, "bec%d_%d", i, getpid());
    const char *a[] = {erl_call, "-s", "-sname", name, "-a", "erlang node", NULL};
    const char *q[] = {erl_call, "-sname", name, "-q", NULL};
    double t0 = now_ms();
    run(a, NULL, 0);
    run(q, NULL, 0);
    v[i] = now_ms() - t0;
  }
  printf("whole process: erl_call -s -a 'erlang node' + -q       %8.1f ms\n", median(v, runs));

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
      w[i] = erl_origin(body);
    }
    printf("erlpeer: %2d peers started concurrently, all running    %8.1f ms\n", n, median(v, runs));
    printf("erlang origin: %2d peer:start_link, wait_boot notify   %8.1f ms\n", n, median(w, runs));
  }
  /* erl_call -s, 16 at once (each its own process) */
  for (int i = 0; i < runs; i++) {
    pid_t kids[M];
    double t0 = now_ms();
    for (int k = 0; k < M; k++) {
      char name[64];
      snprintf(name, sizeof name, "becm%d_%d_%d", i, k, getpid());
      const char *a[] = {erl_call, "-s", "-sname", name, "-a", "erlang node", NULL};
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
      posix_spawn(&kids[k], erl_call, &fa, NULL, (char *const *)a, environ);
      posix_spawn_file_actions_destroy(&fa);
    }
    for (int k = 0; k < M; k++) waitpid(kids[k], NULL, 0);
    v[i] = now_ms() - t0;
    for (int k = 0; k < M; k++) {
      char name[64];
      snprintf(name, sizeof name, "becm%d_%d_%d", i, k, getpid());
      const char *q[] = {erl_call, "-sname", name, "-q", NULL};
      run(q, NULL, 0);
    }
  }
  printf("erl_call -s: 16 started concurrently, each answered    %8.1f ms\n", median(v, runs));

  /* the controller holding 16 peers: peak RSS, CPU per peer */
  double cpu0 = cpu_ms();
  double t = start_many(c, M, ps);
  ep_ctl_poll(c, 1000); /* hold them a second (ticks, nothing else) */
  double cpu1 = cpu_ms();
  printf("erlpeer: holding 16 peers: peak RSS (VmHWM) %ld kB, CPU %.2f ms per peer (start + 1 s held; start %.0f ms)\n",
         vm_hwm_kb(), (cpu1 - cpu0) / M, t);
  stop_many(c, M, ps);
  ep_ctl_free(c);
  return 0;
}
