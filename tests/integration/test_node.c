/* The hidden node against a real erl: connections both ways, cookies, RPC
 * of every term kind and exception class, many calls in flight, big
 * messages, tick silence, hidden visibility, links and monitors. */
#include <check.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_node.h"
#include "ep_testenv.h"
#include "ep_testinbox.h"
#include "ep_testworld.h"
#include "ep_text.h"

static ep_testworld W;

/* A private EPMD, a real node "target", and our node registered in it. */
static void setup(void) { ep_testworld_up(&W, "ctl"); }
static void teardown(void) { ep_testworld_down(&W); }

static ep_term parse(const char *text) {
  ep_term t;
  ep_text_error e;
  ck_assert_msg(ep_parse_str(W.a, text, &t, &e) == 0, "parse %s", text);
  return t;
}

static const char *show(ep_term t) { return ep_print_str(W.a, t); }

/* Evaluates Erlang expressions on node with bindings (a list of
 * {Name, Value}), through its own erl_scan/erl_parse/erl_eval. */
static ep_term eval_on(const char *node, const char *exprs, ep_term bindings) {
  return ep_testworld_eval(&W, node, exprs, bindings);
}

/* Runs argv as a child on our node's own loop (so the node keeps serving
 * while the child talks to it), until it exits; returns its exit status and
 * its stdout. */
typedef struct {
  bool exited;
  int64_t status;
  char out[4096];
  size_t len;
  uv_pipe_t pipe;
  int closed;
} child;

static void child_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  child *c = h->data;
  (void)s;
  b->base = c->out + c->len;
  b->len = sizeof c->out - 1 - c->len;
}
static void child_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  child *c = st->data;
  (void)b;
  if (n > 0) c->len += (size_t)n;
  else if (n < 0) uv_read_stop(st);
}
static void child_exit(uv_process_t *p, int64_t status, int sig) {
  child *c = p->data;
  c->status = sig ? 128 + sig : status;
  c->exited = true;
  uv_close((uv_handle_t *)p, NULL);
}
static bool child_done(void *ud) { return ((child *)ud)->exited; }

static int run_child(const char **argv, char *out, size_t cap) {
  static child c;
  memset(&c, 0, sizeof c);
  uv_loop_t *loop = ep_node_loop(W.node);
  uv_pipe_init(loop, &c.pipe, 0);
  c.pipe.data = &c;
  uv_stdio_container_t io[3] = {{UV_IGNORE, {0}}, {UV_CREATE_PIPE | UV_WRITABLE_PIPE, {0}}, {UV_INHERIT_FD, {0}}};
  io[1].data.stream = (uv_stream_t *)&c.pipe;
  io[2].data.fd = 2;
  uv_process_options_t po = {0};
  po.file = argv[0];
  po.args = (char **)argv;
  po.exit_cb = child_exit;
  po.stdio = io;
  po.stdio_count = 3;
  static uv_process_t proc;
  proc.data = &c;
  ck_assert_int_eq(uv_spawn(loop, &proc, &po), 0);
  uv_read_start((uv_stream_t *)&c.pipe, child_alloc, child_read);
  ck_assert_int_eq(ep_node_run_until(W.node, child_done, &c, 30000), 0);
  uv_close((uv_handle_t *)&c.pipe, NULL);
  c.out[c.len] = 0;
  size_t k = c.len < cap - 1 ? c.len : cap - 1;
  memcpy(out, c.out, k);
  out[k] = 0;
  return (int)c.status;
}

START_TEST(ping_and_call) {
  ck_assert_int_eq(ep_node_ping_sync(W.node, W.target, 10000), 0);
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "erlang", "node", ep_nil(), 5000, W.a, &r), 0);
  ck_assert(ep_atom_eq(r.value, W.target));
}
END_TEST

START_TEST(real_node_connects_to_us) {
  /* A separate erl process dials our node: we are the acceptor. */
  char expr[512];
  snprintf(expr, sizeof expr, "io:format(\"~p\", [net_adm:ping('%s')]), halt().", ep_node_name(W.node));
  const char *argv[] = {"erl", "-sname", "dialer", "-noshell", "-noinput", "-eval", expr, NULL};
  char out[256];
  ck_assert_int_eq(run_child(argv, out, sizeof out), 0);
  ck_assert_str_eq(out, "pong");
}
END_TEST

START_TEST(wrong_cookie_refused_both_ways) {
  ep_node_opts *o = ep_node_opts_new();
  ep_node_opts_set_cookie(o, "not-the-cookie");
  ep_node_opts_set_name(o, "intruder");
  ep_node_opts_set_epmd_mode(o, EP_EPMD_NONE);
  ep_node *bad;
  ck_assert_int_eq(ep_node_start_sync(o, &bad), 0);
  ep_node_opts_free(o);
  ck_assert_int_eq(ep_node_ping_sync(bad, "target", 10000), EP_EAUTH);
  ep_node_free(bad);
  /* And a real node with a wrong cookie cannot reach us. */
  char expr[512];
  snprintf(expr, sizeof expr, "io:format(\"~p\", [net_adm:ping('%s')]), halt().", ep_node_name(W.node));
  const char *argv[] = {"erl", "-sname", "badcookie", "-setcookie", "wrong", "-noshell", "-noinput", "-eval",
                        expr, NULL};
  char out[256];
  ck_assert_int_eq(run_child(argv, out, sizeof out), 0);
  ck_assert_str_eq(out, "pang");
}
END_TEST

START_TEST(every_term_kind_round_trips) {
  const char *terms[] = {
      "0", "255", "-1", "2147483647", "-2147483648", "18446744073709551616", "-340282366920938463463374607431768211456",
      "1.5", "-0.0", "1.0e300", "atom", "'quoted atom'", "'\xc3\xa9t\xc3\xa9'", "[]", "\"string\"", "[1, [2], {3}]",
      "[a | b]", "{}", "{a, {b, c}}", "#{}", "#{a => 1, \"k\" => [v]}", "<<>>", "<<1, 2, 3>>", "<<\"bin\">>",
      "<<1:3>>", "fun lists:seq/2", "[1.0, 2.0e-10, 3]"};
  for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++) {
    ep_term t = parse(terms[i]);
    ep_result r;
    ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "erlang", "hd", EP_LIST(W.a, EP_LIST(W.a, t)), 5000, W.a, &r),
                     0);
    ck_assert_msg(ep_term_eq(r.value, t), "%s came back as %s", terms[i], show(r.value));
  }
  /* Terms only a node can make: pid, ref, port, closure. */
  ep_term v = eval_on("target", "{self(), make_ref(), hd(erlang:ports()), fun(X) -> X + 1 end}.", ep_nil());
  ck_assert(v.type == EP_T_TUPLE && v.n == 4);
  ck_assert_int_eq(v.v.items[0].type, EP_T_PID);
  ck_assert_int_eq(v.v.items[1].type, EP_T_REF);
  ck_assert_int_eq(v.v.items[2].type, EP_T_PORT);
  ck_assert_int_eq(v.v.items[3].type, EP_T_FUN);
  /* They go back unchanged: the node applies the closure it made. */
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "erlang", "apply",
                                    EP_LIST(W.a, v.v.items[3], EP_LIST(W.a, ep_int(41))), 5000, W.a, &r),
                   0);
  ck_assert_int_eq(r.value.v.i, 42);
}
END_TEST

START_TEST(each_exception_class) {
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "erlang", "throw", EP_LIST(W.a, ep_atom("ball")), 5000, W.a, &r),
                   EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r.cls, "throw") && ep_atom_eq(r.reason, "ball"));
  ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "erlang", "exit", EP_LIST(W.a, ep_atom("bye")), 5000, W.a, &r),
                   EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r.cls, "exit") && ep_atom_eq(r.reason, "bye"));
  ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "lists", "nth", EP_LIST(W.a, ep_int(5), ep_nil()), 5000, W.a, &r),
                   EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r.cls, "error"));
  ck_assert(ep_is_list(r.stack) && ep_list_len(r.stack) > 0);
  ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "no_such_mod", "f", ep_nil(), 5000, W.a, &r), EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r.reason, "undef"));
  /* a call slower than its timeout (the sleep is the slowness under test;
   * the test does not wait for it) */
  ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "timer", "sleep", EP_LIST(W.a, ep_int(3000)), 200, W.a, &r),
                   EP_ETIMEDOUT);
}
END_TEST

typedef struct {
  int answered, wrong;
} counter;

static void on_seq(ep_node *n, const ep_result *r, void *ud) {
  (void)n;
  counter *c = ud;
  c->answered++;
  if (r->status != 0 || r->value.type != EP_T_INT) c->wrong++;
}
static counter C;
static bool all_answered(void *ud) { return ((counter *)ud)->answered == 1000; }

START_TEST(thousand_calls_in_flight) {
  memset(&C, 0, sizeof C);
  for (int i = 0; i < 1000; i++) {
    ep_arena_reset(W.a);
    ck_assert_int_eq(ep_rpc_call(W.node, "target", "erlang", "abs", EP_LIST(W.a, ep_int(-i)), 30000, on_seq, &C), 0);
  }
  ck_assert_int_eq(ep_node_run_until(W.node, all_answered, &C, 60000), 0);
  ck_assert_int_eq(C.wrong, 0);
}
END_TEST

static bool md5_done;
static ep_term md5_value;
static void on_md5(ep_node *n, const ep_result *r, void *ud) {
  (void)n, (void)ud;
  md5_done = true;
  md5_value = r->status == 0 ? ep_term_copy(W.a, r->value) : ep_none();
}
static bool md5_finished(void *ud) {
  (void)ud;
  return md5_done;
}

START_TEST(sixty_four_mib_both_ways) {
  size_t n = (size_t)64 << 20;
  uint8_t *big = malloc(n);
  for (size_t i = 0; i < n; i++) big[i] = (uint8_t)(i * 7);
  ep_result r;
  ck_assert_int_eq(ep_node_ping_sync(W.node, "target", 10000), 0);
  ck_assert_int_eq(ep_rpc_call(W.node, "target", "erlang", "md5", EP_LIST(W.a, ep_binary(W.a, big, n)), 60000,
                               on_md5, &r),
                   0);
  /* What the socket did not take at once (most of the 64 MiB) waits in the
   * queue until the loop writes it. */
  ck_assert_uint_gt(ep_node_queued(W.node, "target"), 0);
  md5_done = false;
  ck_assert_int_eq(ep_node_run_until(W.node, md5_finished, NULL, 60000), 0);
  ck_assert_int_eq(ep_node_queued(W.node, "target"), 0);
  ck_assert_int_eq(md5_value.type, EP_T_BINARY);
  ck_assert_int_eq(md5_value.n, 16);
  ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "binary", "copy",
                                    EP_LIST(W.a, ep_binary(W.a, "\x5a", 1), ep_int((int64_t)n)), 60000, W.a, &r),
                   0);
  ck_assert_int_eq(r.value.type, EP_T_BINARY);
  ck_assert_int_eq(r.value.n, n);
  ck_assert(r.value.v.bytes[0] == 0x5a && r.value.v.bytes[n - 1] == 0x5a);
  free(big);
}
END_TEST

static int down_reason;
static void on_event(ep_node *n, ep_node_event_kind k, const char *peer, int reason, void *ud) {
  (void)n, (void)peer, (void)ud;
  if (k == EP_NODE_DOWN) down_reason = reason ? reason : -1;
}
static bool went_down(void *ud) {
  (void)ud;
  return down_reason != 0;
}

START_TEST(silent_peer_detected_within_tick_time) {
  ep_node_free(W.node);
  ep_node_opts *o = ep_node_opts_new();
  ep_node_opts_set_name(o, "ticker");
  ep_node_opts_set_epmd_mode(o, EP_EPMD_NONE);
  ep_node_opts_set_ticktime(o, 4);
  ep_node_opts_set_event_cb(o, on_event, NULL);
  ck_assert_int_eq(ep_node_start_sync(o, &W.node), 0);
  ep_node_opts_free(o);
  ck_assert_int_eq(ep_node_ping_sync(W.node, "target", 10000), 0);
  down_reason = 0;
  kill(W.target_pid, SIGSTOP);
  /* Silence for a whole tick time (4 s) means down: allow 4 s + one tick
   * interval, and no more. */
  int r = ep_node_run_until(W.node, went_down, NULL, 6500);
  kill(W.target_pid, SIGCONT);
  ck_assert_int_eq(r, 0);
  ck_assert_int_eq(down_reason, EP_ETICK);
}
END_TEST

START_TEST(listed_as_hidden) {
  ck_assert_int_eq(ep_node_ping_sync(W.node, "target", 10000), 0);
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "erlang", "nodes", EP_LIST(W.a, ep_atom("hidden")), 5000, W.a, &r),
                   0);
  ck_assert_msg(ep_list_len(r.value) == 1 && ep_atom_eq(ep_list_at(r.value, 0), ep_node_name(W.node)), "hidden: %s",
                show(r.value));
  ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "erlang", "nodes", ep_nil(), 5000, W.a, &r), 0);
  ck_assert_int_eq(r.value.type, EP_T_NIL);
}
END_TEST

/* --- processes ------------------------------------------------------------------------ */

START_TEST(links_and_monitors_both_ways) {
  ep_testinbox qb = {0}, pb = {0};
  qb.a = ep_arena_new(NULL);
  pb.a = ep_arena_new(NULL);
  ep_proc *q, *p;
  ck_assert_int_eq(ep_proc_new(W.node, "observer", ep_testinbox_collect, &qb, &q), 0);
  ck_assert_int_eq(ep_proc_new(W.node, "victim", ep_testinbox_collect, &pb, &p), 0);
  /* A remote process links to p and monitors "victim" by name, reporting
   * to q what it sees. */
  ep_term b = EP_LIST(W.a, EP_TUPLE(W.a, ep_atom("P"), ep_proc_pid(p)), EP_TUPLE(W.a, ep_atom("Q"), ep_proc_pid(q)),
                      EP_TUPLE(W.a, ep_atom("N"), ep_atom(ep_node_name(W.node))));
  eval_on("target",
          "spawn(fun() -> process_flag(trap_exit, true), link(P), Ref = monitor(process, {victim, N}),"
          " Q ! ready, R1 = receive {'EXIT', P, X} -> X end, R2 = receive {'DOWN', Ref, process, _, Y} -> Y end,"
          " Q ! {seen, R1, R2} end).",
          b);
  qb.want = 1;
  ck_assert_int_eq(ep_node_run_until(W.node, ep_testinbox_has, &qb, 10000), 0);
  ck_assert(ep_atom_eq(qb.msg[0], "ready"));
  ep_proc_exit(p, ep_atom("gone"));
  qb.want = 2;
  ck_assert_int_eq(ep_node_run_until(W.node, ep_testinbox_has, &qb, 10000), 0);
  ck_assert_msg(ep_term_eq(qb.msg[1], parse("{seen, gone, gone}")), "saw %s", show(qb.msg[1]));

  /* Our monitor and link on a remote process. */
  ep_term rp = eval_on("target", "spawn(fun() -> receive _ -> ok end end).", ep_nil());
  ep_term ref;
  ck_assert_int_eq(ep_proc_monitor(q, rp, W.a, &ref), 0);
  ck_assert_int_eq(ep_proc_link(q, rp), 0);
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "erlang", "exit", EP_LIST(W.a, rp, ep_atom("kill")), 5000, W.a, &r),
                   0);
  qb.want = 4;
  ck_assert_int_eq(ep_node_run_until(W.node, ep_testinbox_has, &qb, 10000), 0);
  int downs = 0, exits = 0;
  for (int i = 2; i < 4; i++) {
    if (qb.kind[i] == EP_MSG_DOWN && ep_atom_eq(qb.reason[i], "killed")) downs++;
    if (qb.kind[i] == EP_MSG_EXIT && ep_atom_eq(qb.reason[i], "killed")) exits++;
  }
  ck_assert_int_eq(downs, 1);
  ck_assert_int_eq(exits, 1);

  /* A link to a process on a node that dies: EXIT noconnection. */
  rp = eval_on("target", "spawn(fun() -> receive _ -> ok end end).", ep_nil());
  ck_assert_int_eq(ep_proc_link(q, rp), 0);
  ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "erlang", "is_process_alive", EP_LIST(W.a, rp), 5000, W.a, &r), 0);
  kill(W.target_pid, SIGKILL);
  qb.want = 5;
  ck_assert_int_eq(ep_node_run_until(W.node, ep_testinbox_has, &qb, 10000), 0);
  ck_assert_int_eq(qb.kind[4], EP_MSG_EXIT);
  ck_assert(ep_atom_eq(qb.reason[4], "noconnection"));
  ep_arena_free(qb.a);
  ep_arena_free(pb.a);
}
END_TEST

/* Links and monitors made while the connection is being set up fire with
 * noconnection when it cannot be, as the BEAM's do: here no such node is
 * registered in EPMD. */
START_TEST(links_and_monitors_to_an_unreachable_node_fire) {
  ep_testinbox b = {0};
  b.a = ep_arena_new(NULL);
  ep_proc *q;
  ck_assert_int_eq(ep_proc_new(W.node, NULL, ep_testinbox_collect, &b, &q), 0);
  char nosuch[300];
  snprintf(nosuch, sizeof nosuch, "nosuch%s", strchr(W.target, '@'));
  ep_term ref;
  ep_term name = EP_TUPLE(W.a, ep_atom("someone"), ep_atom_copy(W.a, nosuch, strlen(nosuch)));
  ck_assert_int_eq(ep_proc_monitor(q, name, W.a, &ref), 0);
  ck_assert_int_eq(ep_proc_link(q, ep_pid(W.a, nosuch, 40, 0, 1)), 0);
  b.want = 2;
  ck_assert_int_eq(ep_node_run_until(W.node, ep_testinbox_has, &b, 10000), 0);
  int downs = 0, exits = 0;
  for (int i = 0; i < b.n; i++) {
    if (b.kind[i] == EP_MSG_DOWN && ep_atom_eq(b.reason[i], "noconnection")) downs++;
    if (b.kind[i] == EP_MSG_EXIT && ep_atom_eq(b.reason[i], "noconnection")) exits++;
  }
  ck_assert_int_eq(downs, 1);
  ck_assert_int_eq(exits, 1);
  ck_assert(!ep_node_is_connected(W.node, nosuch));
  ep_arena_free(b.a);
}
END_TEST

START_TEST(send_to_names_and_pids) {
  ep_testinbox b = {0};
  b.a = ep_arena_new(NULL);
  ep_proc *q;
  ck_assert_int_eq(ep_proc_new(W.node, "mailbox", ep_testinbox_collect, &b, &q), 0);
  /* A remote process registered as echo sends back what it gets. */
  eval_on("target", "register(echo, spawn(fun L() -> receive {From, M} -> From ! {echo, M}, L() end end)).",
          ep_nil());
  ck_assert_int_eq(ep_node_send_named(W.node, q, "target", "echo", EP_TUPLE(W.a, ep_proc_pid(q), ep_atom("hi"))), 0);
  b.want = 1;
  ck_assert_int_eq(ep_node_run_until(W.node, ep_testinbox_has, &b, 10000), 0);
  ck_assert(ep_term_eq(b.msg[0], parse("{echo, hi}")));
  /* The node sends to our registered name. */
  ep_term bnd = EP_LIST(W.a, EP_TUPLE(W.a, ep_atom("N"), ep_atom(ep_node_name(W.node))));
  eval_on("target", "{mailbox, N} ! {hello, <<\"by name\">>}.", bnd);
  b.want = 2;
  ck_assert_int_eq(ep_node_run_until(W.node, ep_testinbox_has, &b, 10000), 0);
  ck_assert(ep_term_eq(b.msg[1], parse("{hello, <<\"by name\">>}")));
  ep_arena_free(b.a);
}
END_TEST

START_TEST(cast_runs_remotely) {
  ep_testinbox b = {0};
  b.a = ep_arena_new(NULL);
  ep_proc *q;
  ck_assert_int_eq(ep_proc_new(W.node, "castbox", ep_testinbox_collect, &b, &q), 0);
  ck_assert_int_eq(ep_rpc_cast(W.node, "target", "erlang", "send",
                               EP_LIST(W.a, ep_proc_pid(q), ep_atom("cast_arrived"))),
                   0);
  b.want = 1;
  ck_assert_int_eq(ep_node_run_until(W.node, ep_testinbox_has, &b, 10000), 0);
  ck_assert(ep_atom_eq(b.msg[0], "cast_arrived"));
  ep_arena_free(b.a);
}
END_TEST

typedef struct {
  int order[2], n;
} finish_order;
static void on_order(ep_node *n, const ep_result *r, void *ud) {
  (void)n;
  finish_order *o = ud;
  o->order[o->n++] = r->status == 0 && r->value.type == EP_T_INT ? (int)r->value.v.i : -1;
}
static bool both_done(void *ud) { return ((finish_order *)ud)->n == 2; }

/* Calls go through rex, which runs each in its own process: a slow call
 * does not hold up a quick one; a worker killed from outside the call still
 * answers its own call (rex replies from the DOWN, with our tag); and rex
 * calls to our node are refused at once, as calls of undefined functions. */
START_TEST(calls_run_in_parallel_and_each_gets_its_answer) {
  finish_order o = {{0, 0}, 0};
  /* The slow call sleeps on purpose: it is the slow one that must not hold
   * up the quick one sent after it. */
  ck_assert_int_eq(ep_rpc_call(W.node, "target", "timer", "sleep", EP_LIST(W.a, ep_int(1500)), 10000, on_order, &o),
                   0);
  ck_assert_int_eq(ep_rpc_call(W.node, "target", "erlang", "abs", EP_LIST(W.a, ep_int(-7)), 10000, on_order, &o), 0);
  ck_assert_int_eq(ep_node_run_until(W.node, both_done, &o, 20000), 0);
  ck_assert_int_eq(o.order[0], 7);  /* the quick one first */
  ck_assert_int_eq(o.order[1], -1); /* then timer:sleep's ok */

  ep_term kill_self = ep_testworld_parse(&W, "target", "exit(self(), kill).");
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "erl_eval", "exprs", EP_LIST(W.a, kill_self, ep_nil()), 10000,
                                    W.a, &r),
                   EP_EBADRPC);
  ck_assert_msg(ep_term_eq(r.reason, parse("{'EXIT', killed}")), "%s", show(r.reason));

  char expr[512];
  snprintf(expr, sizeof expr,
           "R = make_ref(), {gen_server:call({rex, '%s'}, {call, erpc, execute_call, [R, m, f, [1]], user}), R}.",
           ep_node_name(W.node));
  ep_term v = eval_on("target", expr, ep_nil());
  ep_term ref = v.v.items[1];
  ep_term want = EP_TUPLE(W.a, ep_atom("badrpc"),
                          EP_TUPLE(W.a, ep_atom("EXIT"),
                                   EP_TUPLE(W.a, ref, ep_atom("error"), ep_atom("undef"),
                                            EP_LIST(W.a, EP_TUPLE(W.a, ep_atom("m"), ep_atom("f"),
                                                                  EP_LIST(W.a, ep_int(1)), ep_nil())))));
  ck_assert_msg(ep_term_eq(v.v.items[0], want), "%s", show(v.v.items[0]));
}
END_TEST

/* A process that makes a blocking call from inside its message callback:
 * libuv's loop is not reentrant, so the call is refused at once with
 * EP_EINCALLBACK, and the loop goes on: the asynchronous call the callback
 * makes instead is answered. */
static int nested_status = -1, nested_async = -1;
static void on_nested_reply(ep_node *n, const ep_result *r, void *ud) {
  (void)n, (void)ud;
  nested_async = r->status == 0 && r->value.type == EP_T_INT && r->value.v.i == 3 ? 0 : -2;
}
static void call_from_callback(ep_proc *p, const ep_msg *m, void *ud) {
  (void)ud;
  if (m->kind != EP_MSG_SEND) return;
  ep_result r;
  ep_arena *a = ep_arena_new(NULL);
  nested_status = ep_rpc_call_sync(ep_proc_node(p), "target", "erlang", "abs", EP_LIST(a, ep_int(-3)), 5000, a, &r);
  if (ep_rpc_call(ep_proc_node(p), "target", "erlang", "abs", EP_LIST(a, ep_int(-3)), 5000, on_nested_reply, NULL))
    nested_async = -3;
  ep_arena_free(a);
}
static bool nested_done(void *ud) {
  (void)ud;
  return nested_async != -1;
}

START_TEST(blocking_call_inside_a_callback) {
  ep_proc *p;
  ck_assert_int_eq(ep_proc_new(W.node, "nester", call_from_callback, NULL, &p), 0);
  nested_status = nested_async = -1;
  ck_assert_int_eq(ep_rpc_cast(W.node, "target", "erlang", "send", EP_LIST(W.a, ep_proc_pid(p), ep_atom("go"))), 0);
  ck_assert_int_eq(ep_node_run_until(W.node, nested_done, NULL, 10000), 0);
  ck_assert_int_eq(nested_status, EP_EINCALLBACK);
  ck_assert_int_eq(nested_async, 0);
}
END_TEST

/* A blocking node's private loop sleeps between blocking calls: a timeout
 * given after a while asleep counts from now, not from the loop's last
 * turn (the sleep here is the behaviour under test: an idle program). */
START_TEST(timeout_counts_from_the_call_after_an_idle_while) {
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "erlang", "node", ep_nil(), 5000, W.a, &r), 0);
  struct timespec idle = {1, 500000000};
  nanosleep(&idle, NULL);
  ck_assert_int_eq(
      ep_rpc_call_sync(W.node, "target", "timer", "sleep", EP_LIST(W.a, ep_int(100)), 1000, W.a, &r), 0);
}
END_TEST

/* Frames sent in a burst wait for the flusher, which runs before the loop
 * polls and may write them all at once: a wait that this completes ends
 * then, not at the next packet, tick or deadline. */
static bool nothing_queued(void *ud) {
  (void)ud;
  return ep_node_queued(W.node, "target") == 0;
}

START_TEST(wait_completed_by_the_flush_ends_at_once) {
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "erlang", "node", ep_nil(), 5000, W.a, &r), 0);
  ep_testinbox b = {0};
  ep_proc *q;
  ck_assert_int_eq(ep_proc_new(W.node, NULL, ep_testinbox_collect, &b, &q), 0);
  /* The first is written at once, the second waits for the flusher. */
  ck_assert_int_eq(ep_node_send_named(W.node, q, "target", "nobody", ep_atom("first")), 0);
  ck_assert_int_eq(ep_node_send_named(W.node, q, "target", "nobody", ep_atom("second")), 0);
  ck_assert_uint_gt(ep_node_queued(W.node, "target"), 0);
  /* Nothing else wakes the loop until a tick (seconds away), or the
   * deadline, which also returns 0 as the condition holds by then: the
   * time the wait took is what tells. */
  uint64_t t0 = uv_hrtime();
  ck_assert_int_eq(ep_node_run_until(W.node, nothing_queued, NULL, 3000), 0);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  ck_assert_msg(ms < 1500, "the wait ended after %.0f ms, not when the flusher had written everything", ms);
}
END_TEST

/* A call made before the connection is up waits in the queue; a nodeup
 * callback that tries to block until its answer is refused, and the call
 * is still answered. */
typedef struct {
  int reply, up_wait;
} queued_call;
static void on_queued_reply(ep_node *n, const ep_result *r, void *ud) {
  (void)n;
  ((queued_call *)ud)->reply = r->status == 0 && r->value.type == EP_T_ATOM ? 1 : 2;
}
static bool queued_replied(void *ud) { return ((queued_call *)ud)->reply != 0; }
static void block_on_up(ep_node *n, ep_node_event_kind k, const char *peer, int reason, void *ud) {
  (void)peer, (void)reason;
  queued_call *q = ud;
  if (k == EP_NODE_UP && !q->up_wait) q->up_wait = ep_node_run_until(n, queued_replied, q, 5000);
}

START_TEST(nodeup_callback_cannot_block_and_the_queued_call_goes_on) {
  queued_call q = {0, 0};
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, "upblock"), 0);
  ep_node_opts_set_epmd_mode(o, EP_EPMD_EXTERNAL);
  ep_node_opts_set_event_cb(o, block_on_up, &q);
  ep_node *n;
  ck_assert_int_eq(ep_node_start_sync(o, &n), 0);
  ep_node_opts_free(o);
  ck_assert_int_eq(ep_rpc_call(n, "target", "erlang", "node", ep_nil(), 10000, on_queued_reply, &q), 0);
  ck_assert_int_eq(ep_node_run_until(n, queued_replied, &q, 10000), 0);
  ck_assert_int_eq(q.reply, 1);
  ck_assert_int_eq(q.up_wait, EP_EINCALLBACK);
  ep_node_free(n);
}
END_TEST

static int exits_seen;
static void exit_on_exit(ep_proc *p, const ep_msg *m, void *ud) {
  (void)ud;
  if (m->kind != EP_MSG_EXIT) return;
  exits_seen++;
  ep_proc_exit(p, ep_atom("following")); /* ends itself inside the callback */
}
static bool one_exit(void *ud) {
  (void)ud;
  return exits_seen > 0;
}

START_TEST(process_may_end_itself_when_its_links_go) {
  ep_proc *p;
  ck_assert_int_eq(ep_proc_new(W.node, NULL, exit_on_exit, NULL, &p), 0);
  for (int i = 0; i < 3; i++) {
    ep_term rp = eval_on("target", "spawn(fun() -> receive _ -> ok end end).", ep_nil());
    ck_assert_int_eq(ep_proc_link(p, rp), 0);
  }
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(W.node, "target", "erlang", "node", ep_nil(), 5000, W.a, &r), 0);
  exits_seen = 0;
  kill(W.target_pid, SIGKILL);
  ck_assert_int_eq(ep_node_run_until(W.node, one_exit, NULL, 10000), 0);
  /* The first noconnection ended it: the other two are not delivered to a
   * process that is gone (ASan would see a use after free). */
  ck_assert_int_eq(exits_seen, 1);
}
END_TEST

int main(void) {
  Suite *s = suite_create("node");
  TCase *tc = tcase_create("real erl");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, ping_and_call);
  tcase_add_test(tc, real_node_connects_to_us);
  tcase_add_test(tc, wrong_cookie_refused_both_ways);
  tcase_add_test(tc, every_term_kind_round_trips);
  tcase_add_test(tc, each_exception_class);
  tcase_add_test(tc, thousand_calls_in_flight);
  tcase_add_test(tc, calls_run_in_parallel_and_each_gets_its_answer);
  tcase_add_test(tc, blocking_call_inside_a_callback);
  tcase_add_test(tc, timeout_counts_from_the_call_after_an_idle_while);
  tcase_add_test(tc, wait_completed_by_the_flush_ends_at_once);
  tcase_add_test(tc, sixty_four_mib_both_ways);
  tcase_add_test(tc, silent_peer_detected_within_tick_time);
  tcase_add_test(tc, listed_as_hidden);
  tcase_add_test(tc, links_and_monitors_both_ways);
  tcase_add_test(tc, links_and_monitors_to_an_unreachable_node_fire);
  tcase_add_test(tc, send_to_names_and_pids);
  tcase_add_test(tc, cast_runs_remotely);
  tcase_add_test(tc, process_may_end_itself_when_its_links_go);
  tcase_add_test(tc, nodeup_callback_cannot_block_and_the_queued_call_goes_on);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
