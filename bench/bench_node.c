/* bench_node: the hidden node against erl_interface and an Erlang origin,
 * side by side in one run, against the same running node.
 *
 * The bench starts a private world (ep_testenv: temporary HOME and cookie,
 * private EPMD port), a real EPMD, a target node `target` that runs a sink
 * process, and an origin node `origin` (plain erl) that runs the Erlang
 * contender's loops when asked. Then, round by round (the contenders take
 * turns, in a rotating order, so a burst of load from the other jobs on the
 * machine hits all of them alike), against `target`:
 *
 *   erlpeer - one ep_node (blocking API): ep_rpc_call_sync for latency;
 *             ep_rpc_call with N calls in flight (each reply issues the
 *             next call, matched by its reference inside the library;
 *             calls go through rex, docs/node.md);
 *             ep_node_send_named to the sink for small messages, ep_node_send_lent
 *             (the binary lent, not copied) for the 1 MiB ones.
 *   ei      - erl_interface's libei.a, one blocking connection: ei_rpc for
 *             latency; ei_rpc_to/ei_rpc_from with N calls in flight (rex
 *             answers {rex, Reply} with no request id, so replies are
 *             matched by count and each is decoded and checked);
 *             ei_reg_send for messages.
 *   erlang  - the origin node: erpc:call; erpc:send_request with a request
 *             id collection (erpc:receive_response/3) keeping N in flight;
 *             {sink, Target} ! Msg. It times itself (monotonic_time) and
 *             sends the figure back.
 *   tcp     - raw loopback TCP, one connection, a thread writing 256 KiB
 *             chunks and the main thread reading them: the ceiling.
 *
 * Workloads: sequential calls of erlang:node/0 (us per call); pipelined
 * erlang:node/0 with 64 and 256 in flight (calls/s); messages to a
 * registered sink on target: {msg, I} (msgs/s) and a 1 MiB binary (MB/s,
 * 10^6 bytes): the sender first sends {start, ReplyTo, N}, the sink counts N
 * messages and answers {done, N}, so message throughput is end to end (the
 * last message has been received by the sink process).
 *
 * Message sources are built the way each API is used: erlpeer builds the
 * term of each small message and sends it (ep_node_send encodes); ei encodes each
 * small message into an ei_x_buff; the 1 MiB binary is built once as a term
 * (erlpeer), encoded once (ei) or made once (Erlang) and sent N times.
 *
 * Every figure is the median of the rounds. The processes the bench starts
 * carry its EP_TEST_TAG and are killed on every exit path (normal, error,
 * signal, and a watchdog alarm); the erl nodes also halt by themselves after
 * five minutes.
 *
 * Usage: bench_node [rounds]   (default 5)
 * Prints a table, the targets, and RESULT lines for bench/run_node_bench.sh.
 * A measurement that cannot be made ends the bench: the reason on stderr,
 * exit status 2, and no figure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ei.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "ep_bench.h"
#include "ep_error.h"
#include "ep_node.h"
#include "ep_testenv.h"

#define MAX_ROUNDS 15
#define LAT_CALLS 2000
#define PIPE_CALLS 20000
#define SMALL_MSGS 100000
#define BIG_MSGS 128
#define BIG_SIZE (1 << 20)
#define TCP_BYTES (256u << 20)
#define TCP_CHUNK (256u << 10)
#define WAIT_MS 60000
#define WATCHDOG_S 240

enum { C_EP, C_EI, C_ERL, NCONT };
enum { M_LAT, M_PIPE64, M_PIPE256, M_SMALL, M_BIG, NMEAS };
static const char *cont_key[NCONT] = {"erlpeer", "ei", "erlang"};
static const char *meas_key[NMEAS] = {"lat", "pipe64", "pipe256", "small", "big"};
static const long meas_ops[NMEAS] = {LAT_CALLS, PIPE_CALLS, PIPE_CALLS, SMALL_MSGS, BIG_MSGS};

static int rounds = 5;
static double results[NMEAS][NCONT][MAX_ROUNDS];
/* CPU time of this process per operation (us), for erlpeer and ei: the
 * client's own cost, which the machine's load does not inflate much. */
static double cpu_results[NMEAS][NCONT][MAX_ROUNDS];
/* CPU time of the target node per operation (us; /proc, 10 ms ticks, so
 * rough): what each contender's protocol costs the node it talks to. */
static double tcpu_results[NMEAS][NCONT][MAX_ROUNDS];
static pid_t target_pid;
static double tcp_results[MAX_ROUNDS];
/* What BENCH_NODE_ONLY / BENCH_NODE_CONT left out has no figure: it is
 * reported as "-", never as a 0. */
static bool measured[NMEAS][NCONT], tcp_measured;

static ep_testenv *env;
static char tag_copy[160];

/* epb_fail exits through atexit, where cleanup() stops every process we
 * started. */
static _Noreturn void fail(const char *what, const char *detail) {
  epb_fail("%s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

/* The target node's CPU time (s), which every operation's figure needs. */
static double target_cpu_s(void) {
  double s = epb_proc_cpu_s(target_pid);
  if (s < 0) fail("cannot read the target node's CPU time", "is it still running?");
  return s;
}

/* --- cleanup on every path ------------------------------------------------------------------ */

static void cleanup(void) {
  if (env) {
    ep_testenv *e = env;
    env = NULL;
    ep_testenv_free(e);
  }
}

/* A signal (or the watchdog) ends the run: kill what carries our tag. The
 * temporary HOME may stay behind; no process does. */
static void on_signal(int sig) {
  (void)sig;
  if (tag_copy[0]) ep_sweep_tag(tag_copy, 0);
  _exit(2);
}

/* --- the Erlang side --------------------------------------------------------------------------- */

/* One module for both erl nodes: target runs `sink`, origin runs
 * `bench_origin` (each registers both; the other stays idle). */
static const char erl_module[] =
    "-module(bench_node_erl).\n"
    "-export([start/1]).\n"
    "%% Failsafe: if the bench dies without cleaning up, the node halts by itself.\n"
    "start([MaxS]) ->\n"
    "    Max = list_to_integer(atom_to_list(MaxS)),\n"
    "    spawn(fun() -> timer:sleep(Max * 1000), erlang:halt() end),\n"
    "    register(sink, spawn(fun sink/0)),\n"
    "    register(bench_origin, spawn(fun origin/0)),\n"
    "    ok.\n"
    "sink() ->\n"
    "    receive {start, From, N} -> count(N), From ! {done, N} end,\n"
    "    sink().\n"
    "count(0) -> ok;\n"
    "count(N) -> receive _ -> count(N - 1) end.\n"
    "origin() ->\n"
    "    receive\n"
    "        {run, From, T, Spec} ->\n"
    "            Ns = try run(T, Spec) catch C:R -> io:format(\"origin: ~p:~p~n\", [C, R]), -1 end,\n"
    "            From ! {result, Ns}\n"
    "    end,\n"
    "    origin().\n"
    "ns(T0) -> erlang:convert_time_unit(erlang:monotonic_time() - T0, native, nanosecond).\n"
    "run(T, {lat, K}) ->\n"
    "    T0 = erlang:monotonic_time(), lat(T, K), ns(T0);\n"
    "run(T, {pipe, Total, W}) ->\n"
    "    T0 = erlang:monotonic_time(),\n"
    "    First = min(W, Total),\n"
    "    pipe(T, Total - First, fill(T, First, erpc:reqids_new())),\n"
    "    ns(T0);\n"
    "run(T, {small, N}) ->\n"
    "    T0 = erlang:monotonic_time(),\n"
    "    {sink, T} ! {start, self(), N},\n"
    "    small(T, 0, N),\n"
    "    receive {done, N} -> ok end,\n"
    "    ns(T0);\n"
    "run(T, {big, N, Size}) ->\n"
    "    Bin = binary:copy(<<0>>, Size),\n"
    "    T0 = erlang:monotonic_time(),\n"
    "    {sink, T} ! {start, self(), N},\n"
    "    big(T, Bin, N),\n"
    "    receive {done, N} -> ok end,\n"
    "    ns(T0).\n"
    "lat(_, 0) -> ok;\n"
    "lat(T, K) -> T = erpc:call(T, erlang, node, []), lat(T, K - 1).\n"
    "fill(_, 0, C) -> C;\n"
    "fill(T, K, C) -> fill(T, K - 1, erpc:send_request(T, erlang, node, [], x, C)).\n"
    "pipe(T, 0, C) ->\n"
    "    case erpc:receive_response(C, infinity, true) of\n"
    "        no_request -> ok;\n"
    "        {T, x, C1} -> pipe(T, 0, C1)\n"
    "    end;\n"
    "pipe(T, Left, C) ->\n"
    "    {T, x, C1} = erpc:receive_response(C, infinity, true),\n"
    "    pipe(T, Left - 1, erpc:send_request(T, erlang, node, [], x, C1)).\n"
    "small(_, N, N) -> ok;\n"
    "small(T, I, N) -> {sink, T} ! {msg, I}, small(T, I + 1, N).\n"
    "big(_, _, 0) -> ok;\n"
    "big(T, Bin, N) -> {sink, T} ! Bin, big(T, Bin, N - 1).\n";

static void write_module(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/bench_node_erl.erl", dir);
  FILE *f = fopen(path, "w");
  if (!f || fwrite(erl_module, 1, sizeof erl_module - 1, f) != sizeof erl_module - 1 || fclose(f) != 0)
    fail("cannot write the Erlang module", strerror(errno));
  const char *argv[] = {"erlc", "-o", dir, path, NULL};
  char *out = NULL, *err = NULL;
  int st = ep_testenv_run(argv, NULL, 0, &out, NULL, &err, 60000);
  if (st != 0) fail("erlc failed", err);
  free(out);
  free(err);
}

/* --- the erlpeer contender ------------------------------------------------------------------- */

static ep_node *node;
static ep_proc *me;
static const char *target; /* "target@host" */
static const char *origin; /* "origin@host" */

/* What our process heard last: {done, N} from a sink or {result, Ns} from
 * the origin. */
static struct {
  bool done;
  long n;
  bool result;
  double ns;
} inbox;

static void on_msg(ep_proc *p, const ep_msg *m, void *ud) {
  (void)p, (void)ud;
  if (m->kind != EP_MSG_SEND) return;
  ep_term t = m->msg;
  if (ep_is_record(t, "done", 2) && t.v.items[1].type == EP_T_INT) {
    inbox.done = true;
    inbox.n = (long)t.v.items[1].v.i;
  } else if (ep_is_record(t, "result", 2) && t.v.items[1].type == EP_T_INT) {
    inbox.result = true;
    inbox.ns = (double)t.v.items[1].v.i;
  }
}

static bool inbox_done(void *ud) {
  (void)ud;
  return inbox.done;
}
static bool inbox_result(void *ud) {
  (void)ud;
  return inbox.result;
}

static double epb_lat(long k) {
  ep_arena *a = ep_arena_new(NULL);
  ep_result r;
  double t0 = epb_now_s();
  for (long i = 0; i < k; i++) {
    ep_arena_reset(a);
    int st = ep_rpc_call_sync(node, target, "erlang", "node", ep_nil(), EP_INFINITY, a, &r);
    if (st || r.value.type != EP_T_ATOM) fail("erlpeer call", ep_strerror(st));
  }
  double el = epb_now_s() - t0;
  ep_arena_free(a);
  return el / (double)k * 1e6;
}

typedef struct {
  long issued, done, total, window;
  int failed;
} epb_pipe;

static void epb_pipe_issue(epb_pipe *p);

static void on_pipe_reply(ep_node *n, const ep_result *r, void *ud) {
  (void)n;
  epb_pipe *p = ud;
  if (r->status || r->value.type != EP_T_ATOM) p->failed = r->status ? r->status : EP_EINVAL;
  p->done++;
  epb_pipe_issue(p);
}

static void epb_pipe_issue(epb_pipe *p) {
  while (p->issued < p->total && p->issued - p->done < p->window) {
    p->issued++;
    int st = ep_rpc_call(node, target, "erlang", "node", ep_nil(), EP_INFINITY, on_pipe_reply, p);
    if (st) {
      p->failed = st;
      p->done++;
    }
  }
}

static bool pipe_done(void *ud) {
  epb_pipe *p = ud;
  return p->done == p->total;
}

static double epb_pipeline(long total, long window) {
  epb_pipe p = {0, 0, total, window, 0};
  double t0 = epb_now_s();
  epb_pipe_issue(&p);
  if (ep_node_run_until(node, pipe_done, &p, WAIT_MS)) fail("erlpeer pipeline", "timed out");
  double el = epb_now_s() - t0;
  if (p.failed) fail("erlpeer pipeline", ep_strerror(p.failed));
  return (double)total / el;
}

static void epb_start_sink(ep_arena *a, long n) {
  inbox.done = false;
  ep_term start = EP_TUPLE(a, ep_atom("start"), ep_proc_pid(me), ep_int(n));
  int st = ep_node_send_named(node, me, target, "sink", start);
  if (st) fail("erlpeer send", ep_strerror(st));
}

static void epb_wait_sink(long n) {
  if (ep_node_run_until(node, inbox_done, NULL, WAIT_MS) || inbox.n != n) fail("erlpeer sink", "no answer");
}

/* The loop runs (without blocking) every `every` messages: written frames
 * leave the output buffer as the socket takes them, the way an application
 * that sends from its loop would see it. */
static double epb_small(long n) {
  ep_arena *a = ep_arena_new(NULL);
  uv_loop_t *loop = ep_node_loop(node);
  double t0 = epb_now_s();
  epb_start_sink(a, n);
  for (long i = 0; i < n; i++) {
    ep_arena_reset(a);
    int st = ep_node_send_named(node, me, target, "sink", EP_TUPLE(a, ep_atom("msg"), ep_int(i)));
    if (st) fail("erlpeer send", ep_strerror(st));
    if ((i & 63) == 63) uv_run(loop, UV_RUN_NOWAIT);
  }
  epb_wait_sink(n);
  double el = epb_now_s() - t0;
  ep_arena_free(a);
  return (double)n / el;
}

static void on_big_released(ep_node *n, int status, void *ud) {
  (void)n;
  if (status) fail("erlpeer send_lent", ep_strerror(status));
  (*(long *)ud)++;
}
static bool big_all_released(void *ud) { return ((long *)ud)[0] >= ((long *)ud)[1]; }

static double epb_big(long n, ep_term bin) {
  ep_arena *a = ep_arena_new(NULL);
  uv_loop_t *loop = ep_node_loop(node);
  long released[2] = {0, n};
  double t0 = epb_now_s();
  epb_start_sink(a, n);
  ep_term to = EP_TUPLE(a, ep_atom("sink"), ep_atom(target));
  for (long i = 0; i < n; i++) {
    /* The binary is lent (ep_node_send_lent, as uv_write's buffers are): what
     * the socket does not take at once is written later from our memory
     * instead of being copied, as ei's blocking writev does. */
    int st = ep_node_send_lent(node, me, to, bin, on_big_released, released);
    if (st) fail("erlpeer send", ep_strerror(st));
    /* As ei's blocking writes: the next send starts once this one is on
     * the socket (a loop run with nothing queued would wait for the next
     * tick). Without this the whole run piles up in the output queue
     * (sends have no backpressure). */
    while (ep_node_queued(node, target)) uv_run(loop, UV_RUN_ONCE);
  }
  if (ep_node_run_until(node, big_all_released, released, WAIT_MS)) fail("erlpeer send_lent", "not released");
  epb_wait_sink(n);
  double el = epb_now_s() - t0;
  ep_arena_free(a);
  return (double)n * BIG_SIZE / el / 1e6;
}

/* --- the Erlang origin ----------------------------------------------------------------------- */

/* Asks the origin to run spec; returns its own timing in seconds. */
static double erl_run(ep_arena *a, ep_term spec) {
  inbox.result = false;
  ep_term req = EP_TUPLE(a, ep_atom("run"), ep_proc_pid(me), ep_atom(target), spec);
  int st = ep_node_send_named(node, me, origin, "bench_origin", req);
  if (st) fail("send to origin", ep_strerror(st));
  if (ep_node_run_until(node, inbox_result, NULL, WAIT_MS)) fail("origin", "no answer");
  if (inbox.ns <= 0) fail("origin", "its run failed (see its output)");
  return inbox.ns * 1e-9;
}

static double erl_lat(long k) {
  ep_arena *a = ep_arena_new(NULL);
  double el = erl_run(a, EP_TUPLE(a, ep_atom("lat"), ep_int(k)));
  ep_arena_free(a);
  return el / (double)k * 1e6;
}

static double erl_pipeline(long total, long window) {
  ep_arena *a = ep_arena_new(NULL);
  double el = erl_run(a, EP_TUPLE(a, ep_atom("pipe"), ep_int(total), ep_int(window)));
  ep_arena_free(a);
  return (double)total / el;
}

static double erl_small(long n) {
  ep_arena *a = ep_arena_new(NULL);
  double el = erl_run(a, EP_TUPLE(a, ep_atom("small"), ep_int(n)));
  ep_arena_free(a);
  return (double)n / el;
}

static double erl_big(long n) {
  ep_arena *a = ep_arena_new(NULL);
  double el = erl_run(a, EP_TUPLE(a, ep_atom("big"), ep_int(n), ep_int(BIG_SIZE)));
  ep_arena_free(a);
  return (double)n * BIG_SIZE / el / 1e6;
}

/* --- the ei contender -------------------------------------------------------------------------- */

static ei_cnode ec;
static int ei_fd = -1;
static ei_x_buff ei_args; /* [] without the version byte, as ei_rpc wants it */
static ei_x_buff ei_big_msg;

/* Checks a reply {rex, Atom} (as ei_rpc_from leaves it: with the version). */
static void ei_check_rex(ei_x_buff *x) {
  int idx = 0, ver, arity;
  char atom[MAXATOMLEN_UTF8];
  if (ei_decode_version(x->buff, &idx, &ver) || ei_decode_tuple_header(x->buff, &idx, &arity) || arity != 2 ||
      ei_decode_atom(x->buff, &idx, atom) || strcmp(atom, "rex") != 0 || ei_decode_atom(x->buff, &idx, atom))
    fail("ei", "unexpected rpc reply");
}

static double ei_lat(long k) {
  ei_x_buff x;
  ei_x_new(&x);
  double t0 = epb_now_s();
  for (long i = 0; i < k; i++) {
    x.index = 0;
    if (ei_rpc(&ec, ei_fd, "erlang", "node", ei_args.buff, ei_args.index, &x) < 0) fail("ei_rpc", NULL);
  }
  double el = epb_now_s() - t0;
  /* ei_rpc strips {rex, _}: the result is the atom itself. */
  int idx = 0, type, size;
  if (ei_get_type(x.buff, &idx, &type, &size) || (type != ERL_ATOM_EXT && type != ERL_SMALL_ATOM_UTF8_EXT &&
                                                  type != ERL_ATOM_UTF8_EXT && type != ERL_SMALL_ATOM_EXT))
    fail("ei_rpc", "unexpected reply");
  ei_x_free(&x);
  return el / (double)k * 1e6;
}

static double ei_pipeline(long total, long window) {
  ei_x_buff x;
  erlang_msg msg;
  ei_x_new(&x);
  long issued = 0, done = 0;
  double t0 = epb_now_s();
  for (; issued < window && issued < total; issued++)
    if (ei_rpc_to(&ec, ei_fd, "erlang", "node", ei_args.buff, ei_args.index) < 0) fail("ei_rpc_to", NULL);
  while (done < total) {
    x.index = 0;
    int r = ei_rpc_from(&ec, ei_fd, ERL_NO_TIMEOUT, &msg, &x);
    if (r == ERL_TICK) continue;
    if (r != ERL_MSG) fail("ei_rpc_from", NULL);
    ei_check_rex(&x);
    done++;
    if (issued < total) {
      if (ei_rpc_to(&ec, ei_fd, "erlang", "node", ei_args.buff, ei_args.index) < 0) fail("ei_rpc_to", NULL);
      issued++;
    }
  }
  double el = epb_now_s() - t0;
  ei_x_free(&x);
  return (double)total / el;
}

static void ei_start_sink(ei_x_buff *x, long n) {
  x->index = 0;
  ei_x_encode_version(x);
  ei_x_encode_tuple_header(x, 3);
  ei_x_encode_atom(x, "start");
  ei_x_encode_pid(x, ei_self(&ec));
  ei_x_encode_long(x, n);
  if (ei_reg_send(&ec, ei_fd, "sink", x->buff, x->index) < 0) fail("ei_reg_send", NULL);
}

static void ei_wait_sink(long n) {
  ei_x_buff x;
  erlang_msg msg;
  ei_x_new(&x);
  for (;;) {
    x.index = 0;
    int r = ei_xreceive_msg_tmo(ei_fd, &msg, &x, WAIT_MS);
    if (r == ERL_TICK) continue;
    if (r != ERL_MSG) fail("ei sink", "no answer");
    int idx = 0, ver, arity;
    char atom[MAXATOMLEN_UTF8];
    long got;
    if (ei_decode_version(x.buff, &idx, &ver) == 0 && ei_decode_tuple_header(x.buff, &idx, &arity) == 0 &&
        arity == 2 && ei_decode_atom(x.buff, &idx, atom) == 0 && strcmp(atom, "done") == 0 &&
        ei_decode_long(x.buff, &idx, &got) == 0 && got == n)
      break;
  }
  ei_x_free(&x);
}

static double ei_small(long n) {
  ei_x_buff x;
  ei_x_new(&x);
  double t0 = epb_now_s();
  ei_start_sink(&x, n);
  for (long i = 0; i < n; i++) {
    x.index = 0;
    ei_x_encode_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "msg");
    ei_x_encode_long(&x, i);
    if (ei_reg_send(&ec, ei_fd, "sink", x.buff, x.index) < 0) fail("ei_reg_send", NULL);
  }
  ei_wait_sink(n);
  double el = epb_now_s() - t0;
  ei_x_free(&x);
  return (double)n / el;
}

static double ei_big(long n) {
  ei_x_buff x;
  ei_x_new(&x);
  double t0 = epb_now_s();
  ei_start_sink(&x, n);
  for (long i = 0; i < n; i++)
    if (ei_reg_send(&ec, ei_fd, "sink", ei_big_msg.buff, ei_big_msg.index) < 0) fail("ei_reg_send", NULL);
  ei_wait_sink(n);
  double el = epb_now_s() - t0;
  ei_x_free(&x);
  return (double)n * BIG_SIZE / el / 1e6;
}

/* --- raw loopback TCP ------------------------------------------------------------------------ */

static int tcp_listener = -1, tcp_port;

static void *tcp_writer(void *arg) {
  (void)arg;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)tcp_port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) fail("tcp connect", strerror(errno));
  int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char *buf = calloc(1, TCP_CHUNK);
  for (size_t sent = 0; sent < TCP_BYTES;) {
    ssize_t w = write(s, buf, TCP_CHUNK);
    if (w <= 0) fail("tcp write", strerror(errno));
    sent += (size_t)w;
  }
  free(buf);
  close(s);
  return NULL;
}

static double tcp_run(void) {
  pthread_t th;
  double t0 = epb_now_s();
  if (pthread_create(&th, NULL, tcp_writer, NULL) != 0) fail("pthread_create", NULL);
  int c = accept(tcp_listener, NULL, NULL);
  if (c < 0) fail("tcp accept", strerror(errno));
  char *buf = malloc(TCP_CHUNK);
  size_t got = 0;
  for (;;) {
    ssize_t r = read(c, buf, TCP_CHUNK);
    if (r < 0) fail("tcp read", strerror(errno));
    if (r == 0) break;
    got += (size_t)r;
  }
  double el = epb_now_s() - t0;
  pthread_join(th, NULL);
  close(c);
  free(buf);
  if (got != TCP_BYTES) fail("tcp", "short stream");
  return (double)got / el / 1e6;
}

static void tcp_setup(void) {
  tcp_listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof sa;
  if (tcp_listener < 0 || bind(tcp_listener, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      listen(tcp_listener, 1) != 0 || getsockname(tcp_listener, (struct sockaddr *)&sa, &sl) != 0)
    fail("tcp listen", strerror(errno));
  tcp_port = ntohs(sa.sin_port);
}

/* --- driver ------------------------------------------------------------------------------------ */

static ep_term big_bin;
static ep_arena *big_arena;

static double measure(int cont, int meas) {
  switch (cont * NMEAS + meas) {
    case C_EP * NMEAS + M_LAT: return epb_lat(LAT_CALLS);
    case C_EP * NMEAS + M_PIPE64: return epb_pipeline(PIPE_CALLS, 64);
    case C_EP * NMEAS + M_PIPE256: return epb_pipeline(PIPE_CALLS, 256);
    case C_EP * NMEAS + M_SMALL: return epb_small(SMALL_MSGS);
    case C_EP * NMEAS + M_BIG: return epb_big(BIG_MSGS, big_bin);
    case C_EI * NMEAS + M_LAT: return ei_lat(LAT_CALLS);
    case C_EI * NMEAS + M_PIPE64: return ei_pipeline(PIPE_CALLS, 64);
    case C_EI * NMEAS + M_PIPE256: return ei_pipeline(PIPE_CALLS, 256);
    case C_EI * NMEAS + M_SMALL: return ei_small(SMALL_MSGS);
    case C_EI * NMEAS + M_BIG: return ei_big(BIG_MSGS);
    case C_ERL * NMEAS + M_LAT: return erl_lat(LAT_CALLS);
    case C_ERL * NMEAS + M_PIPE64: return erl_pipeline(PIPE_CALLS, 64);
    case C_ERL * NMEAS + M_PIPE256: return erl_pipeline(PIPE_CALLS, 256);
    case C_ERL * NMEAS + M_SMALL: return erl_small(SMALL_MSGS);
    case C_ERL * NMEAS + M_BIG: return erl_big(BIG_MSGS);
  }
  return 0;
}

static const char *fmt(double v, char *buf, size_t cap) {
  if (isnan(v)) snprintf(buf, cap, "-");
  else if (v >= 1000) snprintf(buf, cap, "%.0f", v);
  else if (v >= 100) snprintf(buf, cap, "%.1f", v);
  else snprintf(buf, cap, "%.2f", v);
  return buf;
}

static void report(void) {
  static const char *label[NMEAS] = {
      "sequential latency, us per call (lower is better)", "pipelined calls/s, 64 in flight",
      "pipelined calls/s, 256 in flight", "messages/s, {msg, I}", "MB/s, 1 MiB binary messages"};
  double med[NMEAS][NCONT], cpu[NMEAS][NCONT], tcpu[NMEAS][NCONT];
  for (int m = 0; m < NMEAS; m++)
    for (int c = 0; c < NCONT; c++) {
      med[m][c] = measured[m][c] ? epb_median(results[m][c], rounds) : NAN;
      cpu[m][c] = measured[m][c] ? epb_median(cpu_results[m][c], rounds) : NAN;
      tcpu[m][c] = measured[m][c] ? epb_median(tcpu_results[m][c], rounds) : NAN;
    }
  double tcp = tcp_measured ? epb_median(tcp_results, rounds) : NAN;
  cpu_set_t set;
  int ncpu = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
  printf("\nbench_node: median of %d rounds, %d CPU(s) allowed\n\n", rounds, ncpu);
  printf("| measurement | erlpeer | ei | Erlang origin |\n|---|---:|---:|---:|\n");
  char b[6][32];
  for (int m = 0; m < NMEAS; m++)
    printf("| %s | %s | %s | %s |\n", label[m], fmt(med[m][C_EP], b[0], 32), fmt(med[m][C_EI], b[1], 32),
           fmt(med[m][C_ERL], b[2], 32));
  printf("| raw loopback TCP, MB/s (ceiling) | %s | | |\n\n", fmt(tcp, b[0], 32));
  printf("CPU time per operation, us: this process (client) and the target node:\n\n");
  printf("| measurement | erlpeer | ei | target: erlpeer | target: ei | target: Erlang origin |\n"
         "|---|---:|---:|---:|---:|---:|\n");
  for (int m = 0; m < NMEAS; m++)
    printf("| %s | %s | %s | %s | %s | %s |\n", meas_key[m], fmt(cpu[m][C_EP], b[0], 32), fmt(cpu[m][C_EI], b[1], 32),
           fmt(tcpu[m][C_EP], b[2], 32), fmt(tcpu[m][C_EI], b[3], 32), fmt(tcpu[m][C_ERL], b[4], 32));
  printf("\n");
  double ei_best = med[M_PIPE64][C_EI] > med[M_PIPE256][C_EI] ? med[M_PIPE64][C_EI] : med[M_PIPE256][C_EI];
  struct {
    const char *what;
    double ratio, need;
  } t[] = {
      {"latency <= ei_rpc (ratio ei/erlpeer)", med[M_LAT][C_EI] / med[M_LAT][C_EP], 1.0},
      {"latency <= erpc:call (ratio Erlang/erlpeer)", med[M_LAT][C_ERL] / med[M_LAT][C_EP], 1.0},
      {"pipelined 64 >= 1.5x erpc:send_request", med[M_PIPE64][C_EP] / med[M_PIPE64][C_ERL], 1.5},
      {"pipelined 64 >= 1.3x ei's best (ei_rpc_to/from, 64 or 256)", med[M_PIPE64][C_EP] / ei_best, 1.3},
      {"small messages >= ei_reg_send", med[M_SMALL][C_EP] / med[M_SMALL][C_EI], 1.0},
      {"1 MiB messages >= ei_reg_send", med[M_BIG][C_EP] / med[M_BIG][C_EI], 1.0},
  };
  printf("| target | ratio | met |\n|---|---:|---|\n");
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (isnan(t[i].ratio)) printf("| %s | - | not measured |\n", t[i].what);
    else printf("| %s | %.2fx | %s |\n", t[i].what, t[i].ratio, t[i].ratio >= t[i].need ? "yes" : "**no**");
  printf("\n");
  for (int m = 0; m < NMEAS; m++)
    for (int c = 0; c < NCONT; c++) {
      if (!measured[m][c]) continue;
      printf("RESULT %s %s %.6g", meas_key[m], cont_key[c], med[m][c]);
      for (int r = 0; r < rounds; r++) printf(" %.4g", results[m][c][r]);
      printf("\n");
    }
  if (tcp_measured) printf("RESULT tcp tcp %.6g\n", tcp);
  for (int m = 0; m < NMEAS; m++)
    for (int c = 0; c < NCONT; c++) {
      if (!measured[m][c]) continue;
      if (c != C_ERL) printf("CPU %s %s %.4g\n", meas_key[m], cont_key[c], cpu[m][c]);
      printf("TCPU %s %s %.4g\n", meas_key[m], cont_key[c], tcpu[m][c]);
    }
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (!isnan(t[i].ratio)) printf("TARGET %zu %.3f %s\n", i, t[i].ratio, t[i].ratio >= t[i].need ? "met" : "missed");
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc > 1) rounds = atoi(argv[1]);
  if (rounds < 1 || rounds > MAX_ROUNDS) {
    fprintf(stderr, "usage: bench_node [rounds 1..%d]\n", MAX_ROUNDS);
    return 2;
  }
  epb_init("bench_node");
  printf("bench_node: %d rounds\n", rounds);
  epb_header();
  env = ep_testenv_new();
  snprintf(tag_copy, sizeof tag_copy, "%s", ep_testenv_tag(env));
  atexit(cleanup);
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  alarm(WATCHDOG_S);

  if (ep_testenv_start_epmd(env) != 0) fail("cannot start epmd", NULL);
  const char *home = ep_testenv_home(env);
  write_module(home);
  static char tnode[256], onode[256];
  char maxs[16];
  snprintf(maxs, sizeof maxs, "%d", WATCHDOG_S + 60);
  const char *extra[] = {"-pa", home, "-s", "bench_node_erl", "start", maxs, NULL};
  if ((target_pid = ep_testenv_start_erl(env, "target", extra, tnode, sizeof tnode)) < 0)
    fail("cannot start the target node", NULL);
  if (ep_testenv_start_erl(env, "origin", extra, onode, sizeof onode) < 0) fail("cannot start the origin node", NULL);
  target = tnode;
  origin = onode;

  ep_node_opts *o = ep_node_opts_new();
  ep_node_opts_set_name(o, "epbench");
  ep_node_opts_set_epmd_mode(o, EP_EPMD_EXTERNAL);
  int st = ep_node_start_sync(o, &node);
  ep_node_opts_free(o);
  if (st) fail("ep_node_start_sync", ep_strerror(st));
  if ((st = ep_proc_new(node, NULL, on_msg, NULL, &me))) fail("ep_proc_new", ep_strerror(st));
  if ((st = ep_node_ping_sync(node, target, 10000))) fail("erlpeer cannot reach target", ep_strerror(st));
  if ((st = ep_node_ping_sync(node, origin, 10000))) fail("erlpeer cannot reach origin", ep_strerror(st));

  if (ei_init() != 0) fail("ei_init", NULL);
  if (ei_connect_init(&ec, "eibench", ep_testenv_cookie(env), 1) < 0) fail("ei_connect_init", NULL);
  if ((ei_fd = ei_connect_tmo(&ec, tnode, 10000)) < 0) fail("ei_connect", NULL);
  ei_x_new(&ei_args);
  ei_x_encode_empty_list(&ei_args);

  static uint8_t big[BIG_SIZE];
  big_arena = ep_arena_new(NULL);
  big_bin = ep_binary(big_arena, big, sizeof big);
  ei_x_new_with_version(&ei_big_msg);
  ei_x_encode_binary(&ei_big_msg, big, sizeof big);
  tcp_setup();

  /* For profiling one path: BENCH_NODE_ONLY=<lat|pipe64|pipe256|small|big>,
   * BENCH_NODE_CONT=<erlpeer|ei|erlang>. */
  const char *only_meas = getenv("BENCH_NODE_ONLY"), *only_cont = getenv("BENCH_NODE_CONT");
  if (only_meas && !*only_meas) only_meas = NULL;
  if (only_cont && !*only_cont) only_cont = NULL;

  /* Warm up every path once (connections, code loading, caches). */
  bool w_ep = !only_cont || !strcmp(only_cont, "erlpeer"), w_ei = !only_cont || !strcmp(only_cont, "ei"),
       w_erl = !only_cont || !strcmp(only_cont, "erlang");
  if (w_ep) epb_lat(200), epb_pipeline(2000, 64), epb_small(5000), epb_big(4, big_bin);
  if (w_ei) ei_lat(200), ei_pipeline(2000, 64), ei_small(5000), ei_big(4);
  if (w_erl) erl_lat(200), erl_pipeline(2000, 64), erl_small(5000), erl_big(4);
  double t0 = epb_now_s();
  for (int r = 0; r < rounds; r++) {
    for (int m = 0; m < NMEAS; m++)
      for (int k = 0; k < NCONT; k++) {
        int c = (k + r + m) % NCONT; /* rotate who goes first */
        if ((only_meas && strcmp(only_meas, meas_key[m])) || (only_cont && strcmp(only_cont, cont_key[c]))) continue;
        double c0 = epb_cpu_s(), t0c = target_cpu_s();
        results[m][c][r] = measure(c, m);
        cpu_results[m][c][r] = (epb_cpu_s() - c0) / (double)meas_ops[m] * 1e6;
        tcpu_results[m][c][r] = (target_cpu_s() - t0c) / (double)meas_ops[m] * 1e6;
        measured[m][c] = true;
      }
    if (!only_meas && !only_cont) tcp_results[r] = tcp_run(), tcp_measured = true;
    fprintf(stderr, "bench_node: round %d/%d done (%.1f s)\n", r + 1, rounds, epb_now_s() - t0);
  }
  report();

  ei_x_free(&ei_args);
  ei_x_free(&ei_big_msg);
  close(ei_fd);
  ep_arena_free(big_arena);
  ep_node_free(node);
  close(tcp_listener);
  return 0; /* atexit: cleanup() stops epmd and the nodes */
}
