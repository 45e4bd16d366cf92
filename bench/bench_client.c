/* bench_client.c - what a one-shot client costs, as a whole process, side by
 * side with erl_interface's erl_call on the same real node (issue 13):
 *
 *   call   erlpeer call target lists seq '[1,3]'  vs  erl_call -sname target -a 'lists seq [1,3]'
 *   ping   erlpeer ping target                    vs  the same erl_call
 *   peer   erlpeer peer --name X --call 'erlang:node()'
 *                                                 vs  erl -sname Y -noshell -noinput -eval 'halt().'
 *          (the floor: booting and halting a bare erl)
 *   atoms  N sequential erlpeer calls (default 1200): how much they grow
 *          the target's atom table (erlang:system_info(atom_count))
 *
 * Each figure is, per process, wall time (spawn to reaped), CPU (user +
 * system from wait4's rusage: the process and every child it waited for)
 * and peak RSS (wait4's ru_maxrss). Contenders take turns, in a rotating
 * order, PAIRS times (default 20); the medians are printed side by side
 * with ours/theirs ratios, against issue 13's targets: call and ping wall
 * and CPU at most 1.0x erl_call, peak RSS at most erl_call's + 1 MiB; peer
 * wall at most 1.05x the floor; the atoms at most 10 for 1200 calls.
 *
 * Usage: bench_client [PAIRS [CLI [ATOM_CALLS]]]   (CLI: the erlpeer binary,
 * default ./erlpeer; ATOM_CALLS 0 skips the atom phase)
 * It starts a private world (ep_testenv: temporary HOME and cookie, its own
 * EPMD on a free port, a target `erl -sname target`) and stops all of it on
 * every exit. A run that fails or prints the wrong answer, a program past
 * RUN_TIMEOUT_MS, a node that does not start: one line on stderr, exit 2,
 * no figure. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ep_bench.h"
#include "ep_testenv.h"

extern char **environ;

#define RUN_TIMEOUT_MS 60000
#define MAX_PAIRS 1000

static ep_testenv *env;

static void cleanup(void) {
  if (env) {
    ep_testenv *e = env;
    env = NULL;
    ep_testenv_free(e);
  }
}

static void on_signal(int sig) {
  cleanup();
  signal(sig, SIG_DFL);
  raise(sig);
}

typedef struct sample {
  double wall_ms, cpu_ms;
  long rss_kb;
} sample;

/* Runs argv (stdout into out, cap bytes, stderr to /dev/null) and reaps it
 * with wait4. The exit status, -1 when it could not be spawned, -2 past
 * RUN_TIMEOUT_MS (killed). */
static int run(const char *const *argv, char *out, size_t cap, sample *s) {
  int p[2];
  if (pipe(p)) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  posix_spawn_file_actions_addclose(&fa, p[0]);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  double t0 = epb_now_ms();
  pid_t pid;
  int r = posix_spawnp(&pid, argv[0], &fa, &at, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(p[1]);
  if (r) {
    close(p[0]);
    errno = r;
    return -1;
  }
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
    if (len + (size_t)n < cap) {
      memcpy(out + len, tmp, (size_t)n);
      len += (size_t)n;
    }
  }
  out[len] = 0;
  close(p[0]);
  int st;
  struct rusage ru;
  while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {
  }
  s->wall_ms = epb_now_ms() - t0;
  s->cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
              (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
  s->rss_kb = ru.ru_maxrss;
  if (timed_out) return -2;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs argv and fails the bench unless it exits 0 and its stdout holds want. */
static sample run_checked(const char *what, const char *const *argv, const char *want) {
  char out[4096];
  sample s;
  int st = run(argv, out, sizeof out, &s);
  if (st == -1) epb_fail("%s: `%s` could not be spawned (%s)", what, argv[0], strerror(errno));
  if (st == -2) epb_fail("%s: `%s` ran past %d s and was killed", what, argv[0], RUN_TIMEOUT_MS / 1000);
  if (st != 0) epb_fail("%s: `%s` exited with status %d (stdout: %.200s)", what, argv[0], st, out);
  if (!strstr(out, want)) epb_fail("%s: `%s` printed '%.200s', not '%s'", what, argv[0], out, want);
  return s;
}

enum { C_CALL, C_ERLCALL, C_PING, C_PEER, C_FLOOR, NCONT };
static const char *cont_name[NCONT] = {"erlpeer call", "erl_call -a", "erlpeer ping", "erlpeer peer --call",
                                       "erl boot+halt"};
static sample res[NCONT][MAX_PAIRS];

static double med(int c, int pairs, int field) {
  static double v[MAX_PAIRS];
  for (int i = 0; i < pairs; i++)
    v[i] = field == 0 ? res[c][i].wall_ms : field == 1 ? res[c][i].cpu_ms : (double)res[c][i].rss_kb;
  return epb_median(v, pairs);
}

static void row(const char *what, int ours, int theirs, int pairs, double wall_t, double cpu_t, double rss_plus_kb) {
  double w0 = med(ours, pairs, 0), w1 = med(theirs, pairs, 0);
  double c0 = med(ours, pairs, 1), c1 = med(theirs, pairs, 1);
  double r0 = med(ours, pairs, 2), r1 = med(theirs, pairs, 2);
  printf("| %s | %s against %s | %.2f / %.2f = **%.2fx** (%s %.2fx) | %.2f / %.2f = **%.2fx** (%s) | %.0f / %.0f kB, "
         "%+.0f kB (%s) |\n",
         what, cont_name[ours], cont_name[theirs], w0, w1, w0 / w1, w0 / w1 <= wall_t ? "met, <=" : "MISSED, >",
         wall_t, c0, c1, c0 / c1, cpu_t <= 0 ? "no target" : c0 / c1 <= cpu_t ? "met" : "MISSED", r0, r1, r0 - r1,
         rss_plus_kb < 0 ? "no target" : r0 - r1 <= rss_plus_kb ? "met" : "MISSED");
}

static long atom_count(const char *cli) {
  const char *argv[] = {cli, "call", "target", "erlang", "system_info", "[atom_count]", NULL};
  char out[256];
  sample s;
  int st = run(argv, out, sizeof out, &s);
  char *end;
  long v = strtol(out, &end, 10);
  if (st != 0 || end == out) epb_fail("atoms: erlang:system_info(atom_count) failed (status %d, '%.100s')", st, out);
  return v;
}

int main(int argc, char **argv) {
  epb_init("bench_client");
  int pairs = argc > 1 ? atoi(argv[1]) : 20;
  const char *cli = argc > 2 ? argv[2] : "./erlpeer";
  int atom_calls = argc > 3 ? atoi(argv[3]) : 1200;
  if (pairs < 1 || pairs > MAX_PAIRS) epb_fail("PAIRS must be 1..%d", MAX_PAIRS);
  if (access(cli, X_OK)) epb_fail("%s: not an executable (the erlpeer CLI; give its path)", cli);
  static char cli_abs[4096];
  if (!realpath(cli, cli_abs)) epb_fail("%s: %s", cli, strerror(errno));
  cli = cli_abs;
  atexit(cleanup);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  epb_header();
  double load[3] = {0};
  if (getloadavg(load, 3) == 3) printf("bench_client: load average %.2f %.2f %.2f at start\n", load[0], load[1], load[2]);

  env = ep_testenv_new();
  if (ep_testenv_start_epmd(env) != 0) epb_fail("cannot start epmd");
  char target[256];
  if (ep_testenv_start_erl(env, "target", NULL, target, sizeof target) <= 0) epb_fail("the target node did not start");

  const char *a_call[] = {cli, "call", "target", "lists", "seq", "[1,3]", NULL};
  const char *a_erlcall[] = {"erl_call", "-sname", "target", "-a", "lists seq [1,3]", NULL};
  const char *a_ping[] = {cli, "ping", "target", NULL};
  char peer_name[64], floor_name[64];
  snprintf(peer_name, sizeof peer_name, "bcpeer%d", (int)getpid());
  snprintf(floor_name, sizeof floor_name, "bcfloor%d", (int)getpid());
  const char *a_peer[] = {cli, "peer", "--name", peer_name, "--call", "erlang:node()", NULL};
  const char *a_floor[] = {"erl", "-sname", floor_name, "-noshell", "-noinput", "-eval", "halt().", NULL};
  char peer_want[128];
  snprintf(peer_want, sizeof peer_want, "%s@", peer_name);
  const char *const *args[NCONT] = {a_call, a_erlcall, a_ping, a_peer, a_floor};
  /* erl_call prints the list [1,2,3] as the string it also is */
  const char *want[NCONT] = {"[1,2,3]", "\\x1\\x2\\x3", "pong", peer_want, ""};

  /* one warm-up turn each: the page cache, the target's first connections */
  for (int c = 0; c < NCONT; c++) run_checked(cont_name[c], args[c], want[c]);
  double t0 = epb_now_s();
  for (int i = 0; i < pairs; i++) {
    /* the short ones in rotating order, then the two boots in turn */
    for (int k = 0; k < 3; k++) {
      int c = (i + k) % 3;
      res[c][i] = run_checked(cont_name[c], args[c], want[c]);
    }
    for (int k = 0; k < 2; k++) {
      int c = C_PEER + (i + k) % 2;
      res[c][i] = run_checked(cont_name[c], args[c], want[c]);
    }
  }
  printf("bench_client: %d alternating rounds in %.1f s; medians, ours / theirs (ms, ms, kB)\n\n", pairs,
         epb_now_s() - t0);
  printf("| what | contenders | wall ms | CPU ms | peak RSS |\n|---|---|---|---|---|\n");
  row("call", C_CALL, C_ERLCALL, pairs, 1.0, 1.0, 1024);
  row("ping", C_PING, C_ERLCALL, pairs, 1.0, 1.0, 1024);
  row("peer", C_PEER, C_FLOOR, pairs, 1.05, -1, -1);

  if (atom_calls > 0) {
    long a0 = atom_count(cli);
    double ta = epb_now_s();
    for (int i = 0; i < atom_calls; i++) run_checked("atoms", a_call, want[C_CALL]);
    long a1 = atom_count(cli);
    printf("\nbench_client: %d sequential `erlpeer call`s in %.1f s grew the target's atom table by %ld (%ld -> %ld): "
           "%s (at most 10)\n",
           atom_calls, epb_now_s() - ta, a1 - a0, a0, a1, a1 - a0 <= 10 ? "met" : "MISSED");
  }
  if (getloadavg(load, 3) == 3) printf("bench_client: load average %.2f %.2f %.2f at the end\n", load[0], load[1], load[2]);
  return 0;
}
