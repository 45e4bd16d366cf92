/* bench_tls - TLS distribution against plain, for erlpeer and for an
 * Erlang origin node: sequential RPC latency (erlang:node/0, 2000 calls),
 * pipelined calls/s with 64 in flight (20000 calls), and 1 MiB binary
 * messages to a registered sink that answers after the N-th (64 of them).
 *
 *   bench_tls [ROUNDS]    (default 3; each figure is the median)
 *
 * It starts a private EPMD and four erl nodes: a target and an origin over
 * plain TCP, a target and an origin over TLS (-proto_dist inet_tls, mutual
 * TLS from an -ssl_dist_optfile whose certificates it makes into the
 * private HOME), and two erlpeer nodes (plain, and TLS from the same file).
 * Contenders take turns in a rotating order. Calls have long timeouts: a
 * blocking node whose private loop sat idle while another was measured
 * arms its deadlines from a stale loop clock (lib/ep_deadline.c reads
 * uv_now without uv_update_time), and a 10 s timeout then fires at once. Every process it starts is
 * tagged and killed on exit (tests/support/ep_testenv.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ep_bench.h"
#include "ep_error.h"
#include "ep_node.h"
#include "ep_testenv.h"
#include "ep_tls_certs_int.h"

#define LAT_N 2000
#define PIPE_N 20000
#define PIPE_W 64
#define BIG_N 64
#define BIG_SIZE (1u << 20)
#define WAIT_MS 120000
#define WATCHDOG_S 900
#define MAXR 15

static ep_testenv *env;
static char tag_copy[128];

static void fail(const char *what, const char *why) {
  fprintf(stderr, "bench_tls: %s%s%s\n", what, why ? ": " : "", why ? why : "");
  if (env) ep_sweep_tag(tag_copy, 1);
  exit(EPB_EXIT_FAIL);
}

static void on_signal(int sig) {
  (void)sig;
  if (tag_copy[0]) ep_sweep_tag(tag_copy, 1);
  _exit(EPB_EXIT_FAIL);
}

static const char erl_module[] =
    "-module(bench_tls_erl).\n"
    "-export([start/1]).\n"
    "start([MaxS]) ->\n"
    "    Max = list_to_integer(atom_to_list(MaxS)),\n"
    "    spawn(fun() -> timer:sleep(Max * 1000), erlang:halt() end),\n"
    "    register(sink, spawn(fun sink/0)),\n"
    "    register(bench_origin, spawn(fun origin/0)),\n"
    "    ok.\n"
    "sink() -> receive {start, From, N} -> count(N), From ! {done, N} end, sink().\n"
    "count(0) -> ok;\n"
    "count(N) -> receive _ -> count(N - 1) end.\n"
    "origin() ->\n"
    "    receive {run, From, T, Spec} ->\n"
    "        Ns = try run(T, Spec) catch C:R -> io:format(\"origin: ~p:~p~n\", [C, R]), -1 end,\n"
    "        From ! {result, Ns}\n"
    "    end,\n"
    "    origin().\n"
    "ns(T0) -> erlang:convert_time_unit(erlang:monotonic_time() - T0, native, nanosecond).\n"
    "run(T, {lat, K}) -> T0 = erlang:monotonic_time(), lat(T, K), ns(T0);\n"
    "run(T, {pipe, Total, W}) ->\n"
    "    T0 = erlang:monotonic_time(), First = min(W, Total),\n"
    "    pipe(T, Total - First, fill(T, First, erpc:reqids_new())), ns(T0);\n"
    "run(T, {big, N, Size}) ->\n"
    "    Bin = binary:copy(<<0>>, Size), T0 = erlang:monotonic_time(),\n"
    "    {sink, T} ! {start, self(), N}, big(T, Bin, N),\n"
    "    receive {done, N} -> ok end, ns(T0).\n"
    "lat(_, 0) -> ok;\n"
    "lat(T, K) -> T = erpc:call(T, erlang, node, []), lat(T, K - 1).\n"
    "fill(_, 0, C) -> C;\n"
    "fill(T, K, C) -> fill(T, K - 1, erpc:send_request(T, erlang, node, [], x, C)).\n"
    "pipe(T, 0, C) -> case erpc:receive_response(C, infinity, true) of\n"
    "        no_request -> ok; {T, x, C1} -> pipe(T, 0, C1) end;\n"
    "pipe(T, Left, C) -> {T, x, C1} = erpc:receive_response(C, infinity, true),\n"
    "    pipe(T, Left - 1, erpc:send_request(T, erlang, node, [], x, C1)).\n"
    "big(_, _, 0) -> ok;\n"
    "big(T, Bin, N) -> {sink, T} ! Bin, big(T, Bin, N - 1).\n";

static void write_module(const char *dir) {
  char path[600];
  snprintf(path, sizeof path, "%s/bench_tls_erl.erl", dir);
  FILE *f = fopen(path, "w");
  if (!f || fwrite(erl_module, 1, sizeof erl_module - 1, f) != sizeof erl_module - 1 || fclose(f) != 0)
    fail("cannot write the Erlang module", strerror(errno));
  const char *argv[] = {"erlc", "-o", dir, path, NULL};
  char *out = NULL, *err = NULL;
  if (ep_testenv_run(argv, NULL, 0, &out, NULL, &err, 60000) != 0) fail("erlc failed", err);
  free(out), free(err);
}

/* --- one world: a target and an origin, plain or TLS, and our node -------------------- */

typedef struct world {
  const char *label;
  char target[256], origin[256];
  ep_node *node;
  ep_proc *me;
  bool done, result;
  double ns;
} world;

static world worlds[2] = {{.label = "plain"}, {.label = "tls"}};

static void on_msg(ep_proc *p, const ep_msg *m, void *ud) {
  (void)p;
  world *w = ud;
  if (m->kind != EP_MSG_SEND) return;
  ep_term t = m->msg;
  if (ep_is_record(t, "done", 2)) w->done = true;
  if (ep_is_record(t, "result", 2) && t.v.items[1].type == EP_T_INT) w->result = true, w->ns = (double)t.v.items[1].v.i;
}

static bool w_done(void *ud) { return ((world *)ud)->done; }
static bool w_result(void *ud) { return ((world *)ud)->result; }

static double epb_lat_calls(world *w) {
  ep_arena *a = ep_arena_new(NULL);
  double t0 = epb_now_s();
  for (int i = 0; i < LAT_N; i++) {
    ep_result r;
    int st = ep_rpc_call_sync(w->node, w->target, "erlang", "node", ep_nil(), WAIT_MS, a, &r);
    if (st) fail(w->label, ep_node_conn_error(w->node)[0] ? ep_node_conn_error(w->node) : ep_strerror(st));
    ep_arena_reset(a);
  }
  double el = epb_now_s() - t0;
  ep_arena_free(a);
  return el / LAT_N * 1e6;
}

typedef struct {
  world *w;
  long issued, done;
  int failed;
} pipe_st;

static void pipe_issue(pipe_st *p);
static void on_pipe_reply(ep_node *n, const ep_result *r, void *ud) {
  (void)n;
  pipe_st *p = ud;
  if (r->status) p->failed = r->status;
  p->done++;
  pipe_issue(p);
}
static void pipe_issue(pipe_st *p) {
  while (p->issued < PIPE_N && p->issued - p->done < PIPE_W) {
    p->issued++;
    int st = ep_rpc_call(p->w->node, p->w->target, "erlang", "node", ep_nil(), EP_INFINITY, on_pipe_reply, p);
    if (st) p->failed = st, p->done++;
  }
}
static bool pipe_done(void *ud) { return ((pipe_st *)ud)->done == PIPE_N; }

static double epb_pipe_calls(world *w) {
  pipe_st p = {w, 0, 0, 0};
  double t0 = epb_now_s();
  pipe_issue(&p);
  if (ep_node_run_until(w->node, pipe_done, &p, WAIT_MS)) fail("erlpeer pipeline", "timed out");
  if (p.failed) fail("erlpeer pipeline", ep_strerror(p.failed));
  return PIPE_N / (epb_now_s() - t0);
}

static ep_arena *big_arena;
static ep_term big_bin;

static bool drained(void *ud) {
  world *w = ud;
  return ep_node_queued(w->node, w->target) < 4u * BIG_SIZE;
}

static double epb_big_send(world *w) {
  ep_arena *a = ep_arena_new(NULL);
  w->done = false;
  double t0 = epb_now_s();
  int st = ep_node_send_named(w->node, w->me, w->target, "sink",
                         EP_TUPLE(a, ep_atom("start"), ep_proc_pid(w->me), ep_int(BIG_N)));
  if (st) fail("erlpeer send", ep_strerror(st));
  for (int i = 0; i < BIG_N; i++) {
    if ((st = ep_node_send_named(w->node, w->me, w->target, "sink", big_bin))) fail("erlpeer send", ep_strerror(st));
    if (ep_node_run_until(w->node, drained, w, WAIT_MS)) fail("erlpeer send", "the queue never drained");
  }
  if (ep_node_run_until(w->node, w_done, w, WAIT_MS)) fail("erlpeer sink", "no answer");
  double el = epb_now_s() - t0;
  ep_arena_free(a);
  return (double)BIG_N * BIG_SIZE / el / 1e6;
}

static double erl_run(world *w, ep_term spec, ep_arena *a) {
  w->result = false;
  ep_term req = EP_TUPLE(a, ep_atom("run"), ep_proc_pid(w->me), ep_atom(w->target), spec);
  int st = ep_node_send_named(w->node, w->me, w->origin, "bench_origin", req);
  if (st) fail("send to origin", ep_strerror(st));
  if (ep_node_run_until(w->node, w_result, w, WAIT_MS)) fail("origin", "no answer");
  if (w->ns <= 0) fail("origin", "its run failed (see its output)");
  return w->ns * 1e-9;
}

static double erl_lat(world *w) {
  ep_arena *a = ep_arena_new(NULL);
  double el = erl_run(w, EP_TUPLE(a, ep_atom("lat"), ep_int(LAT_N)), a);
  ep_arena_free(a);
  return el / LAT_N * 1e6;
}
static double erl_pipe(world *w) {
  ep_arena *a = ep_arena_new(NULL);
  double el = erl_run(w, EP_TUPLE(a, ep_atom("pipe"), ep_int(PIPE_N), ep_int(PIPE_W)), a);
  ep_arena_free(a);
  return PIPE_N / el;
}
static double erl_big(world *w) {
  ep_arena *a = ep_arena_new(NULL);
  double el = erl_run(w, EP_TUPLE(a, ep_atom("big"), ep_int(BIG_N), ep_int(BIG_SIZE)), a);
  ep_arena_free(a);
  return (double)BIG_N * BIG_SIZE / el / 1e6;
}

/* --- certificates ------------------------------------------------------------------------ */

static void make_certs(const char *dir, char *optfile, size_t cap) {
  char p[700];
  ep__tls_ca *ca;
  if (ep__tls_ca_new("bench CA", &ca)) fail("cannot make a CA", NULL);
  snprintf(p, sizeof p, "%s/ca.pem", dir);
  if (ep__tls_ca_write(ca, p)) fail("cannot write the CA", NULL);
  /* the library's own writer of a node's certificate and mutual-TLS optfile */
  int r = ep__tls_throwaway_node(ca, dir, ep_testenv_host(), NULL, "node", "bench node", optfile, cap);
  ep__tls_ca_free(ca);
  if (r) fail("cannot make the certificate and optfile", ep_strerror(r));
}

/* --- main -------------------------------------------------------------------------------- */

enum { M_LAT, M_PIPE, M_BIG, NMEAS };
enum { C_EP, C_ERL, NCONT };
static const char *meas_name[NMEAS] = {"sequential latency, us per call (lower is better)",
                                       "pipelined calls/s, 64 in flight", "MB/s, 1 MiB binary messages"};
static const char *cont_name[NCONT] = {"erlpeer", "Erlang origin"};

static double measure(int c, int m, world *w) {
  if (c == C_EP) return m == M_LAT ? epb_lat_calls(w) : m == M_PIPE ? epb_pipe_calls(w) : epb_big_send(w);
  return m == M_LAT ? erl_lat(w) : m == M_PIPE ? erl_pipe(w) : erl_big(w);
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 3;
  if (rounds < 1 || rounds > MAXR) fail("ROUNDS must be 1..15", NULL);
  epb_init("bench_tls");
  printf("bench_tls: %d rounds\n", rounds);
  epb_header();
  env = ep_testenv_new();
  snprintf(tag_copy, sizeof tag_copy, "%s", ep_testenv_tag(env));
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  alarm(WATCHDOG_S);
  if (ep_testenv_start_epmd(env) != 0) fail("cannot start epmd", NULL);
  const char *home = ep_testenv_home(env);
  write_module(home);
  char dir[600], optfile[700], maxs[16];
  snprintf(dir, sizeof dir, "%s/tls", home);
  if (mkdir(dir, 0700)) fail("mkdir", strerror(errno));
  make_certs(dir, optfile, sizeof optfile);
  snprintf(maxs, sizeof maxs, "%d", WATCHDOG_S + 60);
  const char *plain[] = {"-pa", home, "-s", "bench_tls_erl", "start", maxs, NULL};
  const char *tls[] = {"-pa", home, "-s", "bench_tls_erl", "start", maxs, "-proto_dist", "inet_tls",
                       "-ssl_dist_optfile", optfile, NULL};
  for (int i = 0; i < 2; i++) {
    world *w = &worlds[i];
    const char *const *args = i ? tls : plain;
    if (ep_testenv_start_erl(env, i ? "ttarget" : "ptarget", args, w->target, sizeof w->target) < 0)
      fail("cannot start a target node", w->label);
    if (ep_testenv_start_erl(env, i ? "torigin" : "porigin", args, w->origin, sizeof w->origin) < 0)
      fail("cannot start an origin node", w->label);
    ep_node_opts *o = ep_node_opts_new();
    ep_node_opts_set_name(o, i ? "eptls" : "epplain");
    ep_node_opts_set_epmd_mode(o, EP_EPMD_EXTERNAL);
    if (i && ep_node_opts_set_ssl_dist_optfile(o, optfile)) fail("optfile", ep_node_opts_error(o));
    int st = ep_node_start_sync(o, &w->node);
    ep_node_opts_free(o);
    if (st) fail("ep_node_start_sync", ep_strerror(st));
    if ((st = ep_proc_new(w->node, NULL, on_msg, w, &w->me))) fail("ep_proc_new", ep_strerror(st));
    if ((st = ep_node_ping_sync(w->node, w->target, 10000))) fail("cannot reach the target", ep_node_conn_error(w->node));
    if ((st = ep_node_ping_sync(w->node, w->origin, 10000))) fail("cannot reach the origin", ep_node_conn_error(w->node));
  }
  static uint8_t big[BIG_SIZE];
  big_arena = ep_arena_new(NULL);
  big_bin = ep_binary(big_arena, big, sizeof big);
  /* warm up every path */
  for (int i = 0; i < 2; i++)
    for (int c = 0; c < NCONT; c++)
      for (int m = 0; m < NMEAS; m++) (void)measure(c, m, &worlds[i]);
  static double res[NMEAS][NCONT][2][MAXR];
  double t0 = epb_now_s();
  for (int r = 0; r < rounds; r++) {
    for (int m = 0; m < NMEAS; m++)
      for (int k = 0; k < NCONT * 2; k++) {
        int j = (k + r + m) % (NCONT * 2), c = j / 2, i = j % 2;
        res[m][c][i][r] = measure(c, m, &worlds[i]);
      }
    fprintf(stderr, "bench_tls: round %d/%d done (%.1f s)\n", r + 1, rounds, epb_now_s() - t0);
  }
  printf("\n| measurement | erlpeer plain | erlpeer TLS | TLS/plain | Erlang origin plain | Erlang origin TLS | "
         "TLS/plain | erlpeer TLS / Erlang TLS |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int m = 0; m < NMEAS; m++) {
    double v[NCONT][2];
    for (int c = 0; c < NCONT; c++)
      for (int i = 0; i < 2; i++) v[c][i] = epb_median(res[m][c][i], rounds);
    bool lower = m == M_LAT;
    double ratio = lower ? v[C_ERL][1] / v[C_EP][1] : v[C_EP][1] / v[C_ERL][1];
    printf("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2fx |\n", meas_name[m], v[C_EP][0], v[C_EP][1],
           v[C_EP][1] / v[C_EP][0], v[C_ERL][0], v[C_ERL][1], v[C_ERL][1] / v[C_ERL][0], ratio);
    printf("TARGET %s: erlpeer over TLS %s Erlang origin over TLS (%.2fx, target >= 1.0x)\n", meas_name[m],
           ratio >= 1.0 ? "meets" : "MISSES", ratio);
  }
  (void)cont_name;
  for (int i = 0; i < 2; i++) ep_node_free(worlds[i].node);
  ep_arena_free(big_arena);
  ep_testenv_free(env);
  return 0;
}
