/* Interoperability: the hidden node and the peer controller against every
 * OTP release users run (ep_otproot.h: 25 = the system erl, 27 and 29 =
 * Debian roots run through `chroot ROOT erl`), with short names, long names
 * and IPv6, and one controller holding peers of every release at once.
 *
 * Per release, one Check suite:
 *  - node:  ping both directions, RPC of every term kind (and pids, refs,
 *           ports, funs the node made, sent back), each exception class,
 *           links and monitors both ways, a 64 MiB message both ways, ticks
 *           (an idle connection lives past net_ticktime, a stopped node is
 *           detected within it);
 *  - peer:  dist, tcp, standard_io: start (exec chroot for 27/29), calls,
 *           every reply class, I/O relay, each shutdown mode, boot failure;
 *  - names: long names (-name x@IP) and IPv6 (-proto_dist inet6_tcp, EPMD
 *           over ::1) for the hidden node and for peers, and the
 *           controller's naming mode (follows the peer, or a clear error).
 * Then "mixed": one controller, a peer of every connection of every release.
 * A release whose root is missing is skipped with a message saying why;
 * so are the IPv6 tests on a machine without ::1. docs/compat.md is the
 * table these tests keep true. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ep_checkrun.h"
#include "ep_dflags.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_node.h"
#include "ep_node_int.h" /* the negotiated flags of a connection */
#include "ep_otproot.h"
#include "ep_peer.h"
#include "ep_testenv.h"
#include "ep_testinbox.h"
#include "ep_testwait.h"
#include "ep_text.h"

/* The release under test (set in the parent before each suite runs; Check
 * forks every test, which inherits it). */
static const ep_otp_release *REL;
static char ROOT[512];

static ep_testenv *env;
static char bindir[700];
static ep_arena *A;

static void world_down(void);
/* The roots this world mirrored its HOME into (ROOT, or every root for the
 * mixed test). */
static const char *mirrored[4];
static size_t nmirrored;


static void world_up(void) {
  env = ep_testenv_new();
  if (ROOT[0]) mirrored[nmirrored++] = ROOT;
  ck_assert_int_eq(ep_otproot_enter(env, ROOT, bindir, sizeof bindir), 0);
  ep_otproot_use_path(bindir);
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  A = ep_arena_new(NULL);
}

static void world_down(void) {
  ep_arena_free(A);
  A = NULL;
  if (env) {
    char home[300];
    snprintf(home, sizeof home, "%s", ep_testenv_home(env));
    ep_testenv_free(env); /* kills every process first */
    env = NULL;
    for (size_t i = 0; i < nmirrored; i++) ep_otproot_leave(mirrored[i], home);
  }
  nmirrored = 0;
}

static ep_term parse(const char *text) {
  ep_term t;
  ep_text_error e;
  ck_assert_msg(ep_parse_str(A, text, &t, &e) == 0, "parse %s", text);
  return t;
}

static const char *show(ep_term t) { return ep_print_str(A, t); }

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Starts a real node of the release under test ("erl" is the release's
 * wrapper in PATH). name_flag: "-sname" or "-name". */
static pid_t start_target(const char *name_flag, const char *name, const char *const *extra, char *node, size_t cap) {
  const char *argv[32];
  int k = 0;
  argv[k++] = "erl";
  argv[k++] = name_flag;
  argv[k++] = name;
  argv[k++] = "-noshell";
  argv[k++] = "-noinput";
  for (int i = 0; extra && extra[i] && k < 28; i++) argv[k++] = extra[i];
  argv[k++] = "-eval";
  argv[k++] = "io:format(\"EP_READY ~s~n\", [node()]).";
  argv[k] = NULL;
  pid_t pid = ep_testenv_start_erl_argv(env, argv, node, cap);
  ck_assert_msg(pid > 0, "%s: could not start %s %s", REL->label, name_flag, name);
  return pid;
}

/* --- the hidden node ------------------------------------------------------------------ */

static ep_node *N;
static char target[256];
static pid_t target_pid;
static int down_reason;

static void on_event(ep_node *n, ep_node_event_kind k, const char *peer, int reason, void *ud) {
  (void)n, (void)ud;
  if (k == EP_NODE_DOWN && strcmp(peer, target) == 0) down_reason = reason ? reason : -1;
}

static ep_node *start_node(const char *name, bool longnames, bool ipv6, unsigned ticktime) {
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, name), 0);
  ep_node_opts_set_longnames(o, longnames);
  ep_node_opts_set_ipv6(o, ipv6);
  ep_node_opts_set_epmd_mode(o, EP_EPMD_EXTERNAL);
  if (ticktime) ep_node_opts_set_ticktime(o, ticktime);
  ep_node_opts_set_event_cb(o, on_event, NULL);
  ep_node *n;
  int r = ep_node_start_sync(o, &n);
  ep_node_opts_free(o);
  ck_assert_msg(r == 0, "node %s: %s", name, ep_strerror(r));
  return n;
}

static void node_setup(void) {
  world_up();
  static const char *tick[] = {"-kernel", "net_ticktime", "4", NULL};
  target_pid = start_target("-sname", "target", tick, target, sizeof target);
  N = start_node("ctl", false, false, 4);
  down_reason = 0;
}

static void node_teardown(void) {
  if (N) ep_node_free(N);
  N = NULL;
  world_down();
}

static ep_term call_ok(const char *node, const char *m, const char *f, ep_term args) {
  ep_result r;
  int s = ep_rpc_call_sync(N, node, m, f, args, 20000, A, &r);
  ck_assert_msg(s == 0, "%s: %s:%s: %s %s", REL->label, m, f, ep_strerror(s), show(r.reason));
  return r.value;
}

/* Evaluates expressions on node with bindings, through its own erl_eval. */
static ep_term eval_on(const char *node, const char *exprs, ep_term bindings) {
  ep_term v = call_ok(node, "erl_scan", "string", EP_LIST(A, ep_string(A, exprs)));
  ck_assert_msg(ep_is_record(v, "ok", 3), "scan: %s", show(v));
  v = call_ok(node, "erl_parse", "parse_exprs", EP_LIST(A, v.v.items[1]));
  ck_assert_msg(ep_is_record(v, "ok", 2), "parse: %s", show(v));
  v = call_ok(node, "erl_eval", "exprs", EP_LIST(A, v.v.items[1], bindings));
  ck_assert(ep_is_record(v, "value", 3));
  return v.v.items[1];
}

static void assert_release(const char *node) {
  ep_term v = call_ok(node, "erlang", "system_info", EP_LIST(A, ep_atom("otp_release")));
  char want[16];
  snprintf(want, sizeof want, "\"%s\"", REL->release);
  ck_assert_msg(strcmp(show(v), want) == 0, "%s: node %s runs %s", REL->label, node, show(v));
}

/* The node dials us: a process there drops the connection, pings us by
 * name (EPMD lookup, its handshake as initiator, our acceptor) and reports
 * to our registered process "box". It drops the connection only once told
 * to, after the reply to the call that spawned it has reached us (a drop
 * before would lose that reply). */
static void node_pings_us(ep_node *n, const char *tnode) {
  ep_testinbox b = {0};
  b.a = ep_arena_new(NULL);
  ep_proc *box;
  ck_assert_int_eq(ep_proc_new(n, "box", ep_testinbox_collect, &b, &box), 0);
  ep_term bnd = EP_LIST(A, EP_TUPLE(A, ep_atom("N"), ep_atom(ep_node_name(n))));
  ep_term pinger = eval_on(tnode,
                           "spawn(fun() -> receive go -> ok end, erlang:disconnect_node(N), R = net_adm:ping(N),"
                           " {box, N} ! {pinged, R, node()} end).",
                           bnd);
  ck_assert_int_eq(pinger.type, EP_T_PID);
  ck_assert_int_eq(ep_node_send(n, NULL, pinger, ep_atom("go")), 0);
  b.want = 1;
  ck_assert_int_eq(ep_node_run_until(n, ep_testinbox_has, &b, 15000), 0);
  ck_assert_msg(ep_term_eq(b.msg[0], EP_TUPLE(A, ep_atom("pinged"), ep_atom("pong"), ep_atom(tnode))), "%s: %s",
                REL->label, show(b.msg[0]));
  ep_proc_exit(box, ep_atom("normal"));
  ep_arena_free(b.a);
}

START_TEST(ping_both_directions) {
  ck_assert_int_eq(ep_node_ping_sync(N, target, 10000), 0);
  assert_release(target);
  node_pings_us(N, target);
  /* hidden: listed only under nodes(hidden) */
  ep_term v = call_ok(target, "erlang", "nodes", EP_LIST(A, ep_atom("hidden")));
  ck_assert_msg(ep_list_len(v) == 1 && ep_atom_eq(ep_list_at(v, 0), ep_node_name(N)), "%s", show(v));
  ck_assert_int_eq(call_ok(target, "erlang", "nodes", ep_nil()).type, EP_T_NIL);
}
END_TEST

/* The one flag set (dist/ep_dflags.h) against what this release asks and
 * offers (erts_internal:get_dflags(): {erts_dflags, Default, Mandatory,
 * Addable, Rejectable, Strict}): everything it makes mandatory is in ours,
 * and what was negotiated holds nothing we do not implement - OTP 29 offers
 * ALTACT_SIG and NATIVE_RECORDS, we must not take them. */
START_TEST(flags_every_release_accepts) {
  ck_assert_int_eq(ep_node_ping_sync(N, target, 10000), 0);
  ep_term d = call_ok(target, "erts_internal", "get_dflags", ep_nil());
  ck_assert_msg(ep_is_record(d, "erts_dflags", 6), "%s", show(d));
  uint64_t offered = (uint64_t)d.v.items[1].v.i, mandatory = (uint64_t)d.v.items[2].v.i;
  ck_assert_msg((mandatory & ~EP_DFLAGS_OURS) == 0, "%s mandates %#llx that we lack", REL->label,
                (unsigned long long)(mandatory & ~EP_DFLAGS_OURS));
  ep__conn *c = ep__conn_find(N, target);
  ck_assert_ptr_nonnull(c);
  uint64_t got = c->flags;
  ck_assert_msg((got & ~EP_DFLAGS_NODE) == 0, "negotiated %#llx beyond ours", (unsigned long long)got);
  ck_assert_msg((got & ~offered) == 0, "negotiated %#llx the node did not offer", (unsigned long long)got);
  ck_assert_int_eq(got & (EP_DFLAG_ALTACT_SIG | EP_DFLAG_NATIVE_RECORDS | EP_DFLAG_PUBLISHED | EP_DFLAG_ATOM_CACHE |
                          EP_DFLAG_HIDDEN_ATOM_CACHE),
                   0);
  ck_assert_msg(got & EP_DFLAG_DIST_HDR_ATOM_CACHE, "%s did not take the atom cache", REL->label);
  /* Both directions use it: the calls above went out with cache refs and
   * their answers came back with them. */
  ck_assert_uint_gt(ep_dist_writer_refs(c->aw), 0);
  ck_assert_uint_gt(ep_dist_reader_refs(c->rd), 0);
  ck_assert_msg((got & EP_DFLAGS_REQUIRED) == EP_DFLAGS_REQUIRED, "negotiated %#llx", (unsigned long long)got);
  if (strcmp(REL->release, "29") >= 0)
    ck_assert_msg(offered & EP_DFLAG_NATIVE_RECORDS, "%s no longer offers NATIVE_RECORDS: update ep_dflags.h notes",
                  REL->label);
  /* the node sees a hidden node, and calls work over that set */
  ep_term v = call_ok(target, "net_kernel", "node_info", EP_LIST(A, ep_atom(ep_node_name(N)), ep_atom("type")));
  ck_assert_msg(ep_term_eq(v, parse("{ok, hidden}")), "%s", show(v));
}
END_TEST

START_TEST(rpc_every_term_kind) {
  const char *terms[] = {"0", "255", "-1", "2147483647", "-2147483648", "18446744073709551616",
                         "-340282366920938463463374607431768211456", "1.5", "-0.0", "1.0e300", "atom",
                         "'quoted atom'", "'\xc3\xa9t\xc3\xa9'", "'\xe2\x88\x80\xf0\x9f\x98\x80'", "[]",
                         "\"string\"", "[1, [2], {3}]", "[a | b]", "{}", "{a, {b, c}}", "#{}",
                         "#{a => 1, \"k\" => [v], {t} => #{}}", "<<>>", "<<1, 2, 3>>", "<<\"bin\">>", "<<1:3>>",
                         "<<255, 7:5>>", "fun lists:seq/2", "[1.0, 2.0e-10, 3]", "{rec, 1, \"two\", three}"};
  for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++) {
    ep_term t = parse(terms[i]);
    ep_term v = call_ok(target, "erlang", "hd", EP_LIST(A, EP_LIST(A, t)));
    ck_assert_msg(ep_term_eq(v, t), "%s: %s came back as %s", REL->label, terms[i], show(v));
  }
  /* a big map (HAMT on the node's side, > 32 keys) */
  ep_term big = eval_on(target, "maps:from_list([{K, K * K} || K <- lists:seq(1, 100)]).", ep_nil());
  ck_assert_int_eq(big.type, EP_T_MAP);
  ck_assert_int_eq(big.n, 100);
  ck_assert(ep_term_eq(call_ok(target, "erlang", "hd", EP_LIST(A, EP_LIST(A, big))), big));
  /* terms only the node can make; they go back unchanged and the node
   * recognises them as its own */
  ep_term v = eval_on(target,
                      "{self(), make_ref(), hd(erlang:ports()), fun(X) -> X + 1 end, spawn(fun() -> ok end),"
                      " alias()}.",
                      ep_nil());
  ck_assert(v.type == EP_T_TUPLE && v.n == 6);
  ck_assert_int_eq(v.v.items[0].type, EP_T_PID);
  ck_assert_int_eq(v.v.items[1].type, EP_T_REF);
  ck_assert_int_eq(v.v.items[2].type, EP_T_PORT);
  ck_assert_int_eq(v.v.items[3].type, EP_T_FUN);
  ck_assert_int_eq(v.v.items[4].type, EP_T_PID);
  ck_assert_int_eq(v.v.items[5].type, EP_T_REF);
  ck_assert_int_eq(call_ok(target, "erlang", "apply", EP_LIST(A, v.v.items[3], EP_LIST(A, ep_int(41)))).v.i, 42);
  ck_assert(ep_term_eq(call_ok(target, "erlang", "hd", EP_LIST(A, EP_LIST(A, v))), v));
  ck_assert(ep_atom_eq(call_ok(target, "erlang", "node", EP_LIST(A, v.v.items[1])), target));
  /* our own pid and ref go there and back too */
  ep_term mine = EP_TUPLE(A, ep_node_make_ref(N, A), ep_atom(ep_node_name(N)));
  ck_assert(ep_term_eq(call_ok(target, "erlang", "hd", EP_LIST(A, EP_LIST(A, mine))), mine));
  ck_assert(ep_atom_eq(call_ok(target, "erlang", "node", EP_LIST(A, mine.v.items[0])), ep_node_name(N)));
}
END_TEST

START_TEST(each_exception_class) {
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(N, target, "erlang", "throw", EP_LIST(A, ep_atom("ball")), 5000, A, &r),
                   EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r.cls, "throw") && ep_atom_eq(r.reason, "ball"));
  ck_assert_int_eq(ep_rpc_call_sync(N, target, "erlang", "exit", EP_LIST(A, ep_atom("bye")), 5000, A, &r),
                   EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r.cls, "exit") && ep_atom_eq(r.reason, "bye"));
  ck_assert_int_eq(ep_rpc_call_sync(N, target, "erlang", "error", EP_LIST(A, parse("{my, error}")), 5000, A, &r),
                   EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r.cls, "error") && ep_term_eq(r.reason, parse("{my, error}")));
  ck_assert(ep_is_list(r.stack) && ep_list_len(r.stack) > 0);
  ck_assert_int_eq(ep_rpc_call_sync(N, target, "lists", "nth", EP_LIST(A, ep_int(5), ep_nil()), 5000, A, &r),
                   EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r.cls, "error"));
  ck_assert_int_eq(ep_rpc_call_sync(N, target, "no_such_mod", "f", ep_nil(), 5000, A, &r), EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r.cls, "error") && ep_atom_eq(r.reason, "undef"));
  /* a call slower than its timeout (the sleep is the slowness under test;
   * the test does not wait for it) */
  ck_assert_int_eq(ep_rpc_call_sync(N, target, "timer", "sleep", EP_LIST(A, ep_int(3000)), 200, A, &r), EP_ETIMEDOUT);
  /* and the connection still serves */
  ck_assert(ep_atom_eq(call_ok(target, "erlang", "node", ep_nil()), target));
}
END_TEST

START_TEST(links_and_monitors) {
  ep_testinbox qb = {0}, pb = {0};
  qb.a = ep_arena_new(NULL);
  pb.a = ep_arena_new(NULL);
  ep_proc *q, *p;
  ck_assert_int_eq(ep_proc_new(N, "observer", ep_testinbox_collect, &qb, &q), 0);
  ck_assert_int_eq(ep_proc_new(N, "victim", ep_testinbox_collect, &pb, &p), 0);
  ep_term b = EP_LIST(A, EP_TUPLE(A, ep_atom("P"), ep_proc_pid(p)), EP_TUPLE(A, ep_atom("Q"), ep_proc_pid(q)),
                      EP_TUPLE(A, ep_atom("N"), ep_atom(ep_node_name(N))));
  eval_on(target,
          "spawn(fun() -> process_flag(trap_exit, true), link(P), Ref = monitor(process, {victim, N}),"
          " M2 = monitor(process, P), Q ! ready, R1 = receive {'EXIT', P, X} -> X end,"
          " R2 = receive {'DOWN', Ref, process, _, Y} -> Y end, R3 = receive {'DOWN', M2, process, P, Z} -> Z end,"
          " Q ! {seen, R1, R2, R3} end).",
          b);
  qb.want = 1;
  ck_assert_int_eq(ep_node_run_until(N, ep_testinbox_has, &qb, 10000), 0);
  ck_assert(ep_atom_eq(qb.msg[0], "ready"));
  ep_proc_exit(p, ep_atom("gone"));
  qb.want = 2;
  ck_assert_int_eq(ep_node_run_until(N, ep_testinbox_has, &qb, 10000), 0);
  ck_assert_msg(ep_term_eq(qb.msg[1], parse("{seen, gone, gone, gone}")), "%s: saw %s", REL->label, show(qb.msg[1]));
  /* ours on a remote process: monitor, link, then an unlink that sticks */
  ep_term rp = eval_on(target, "spawn(fun() -> receive _ -> ok end end).", ep_nil());
  ep_term rp2 = eval_on(target, "spawn(fun() -> receive _ -> ok end end).", ep_nil());
  ep_term ref;
  ck_assert_int_eq(ep_proc_monitor(q, rp, A, &ref), 0);
  ck_assert_int_eq(ep_proc_link(q, rp), 0);
  ck_assert_int_eq(ep_proc_link(q, rp2), 0);
  ck_assert_int_eq(ep_proc_unlink(q, rp2), 0);
  ep_term links = call_ok(target, "erlang", "process_info", EP_LIST(A, rp, ep_atom("links")));
  ck_assert_msg(ep_list_len(links.v.items[1]) == 1, "%s: links %s", REL->label, show(links));
  call_ok(target, "erlang", "exit", EP_LIST(A, rp, ep_atom("kill")));
  call_ok(target, "erlang", "exit", EP_LIST(A, rp2, ep_atom("kill")));
  qb.want = 4;
  ck_assert_int_eq(ep_node_run_until(N, ep_testinbox_has, &qb, 10000), 0);
  int downs = 0, exits = 0;
  for (int i = 2; i < 4; i++) {
    if (qb.kind[i] == EP_MSG_DOWN && ep_atom_eq(qb.reason[i], "killed")) downs++;
    if (qb.kind[i] == EP_MSG_EXIT && ep_atom_eq(qb.reason[i], "killed")) exits++;
  }
  ck_assert_int_eq(downs, 1);
  ck_assert_int_eq(exits, 1);
  /* nothing from the unlinked one */
  qb.want = 5;
  ck_assert_int_eq(ep_node_run_until(N, ep_testinbox_has, &qb, 300), EP_ETIMEDOUT);
  ep_arena_free(qb.a);
  ep_arena_free(pb.a);
}
END_TEST

START_TEST(sixty_four_mib_message) {
  size_t n = (size_t)64 << 20;
  uint8_t *big = malloc(n);
  ck_assert_ptr_nonnull(big);
  for (size_t i = 0; i < n; i++) big[i] = (uint8_t)(i * 7 + (i >> 20));
  ep_testinbox b = {0};
  b.a = ep_arena_new(NULL);
  ep_proc *q;
  ck_assert_int_eq(ep_proc_new(N, "bigbox", ep_testinbox_collect, &b, &q), 0);
  eval_on(target,
          "register(echo, spawn(fun L() -> receive {From, M} -> From ! {echo, erlang:md5(M), M}, L() end end)).",
          ep_nil());
  ck_assert_int_eq(ep_node_send_named(N, q, target, "echo", EP_TUPLE(A, ep_proc_pid(q), ep_binary(A, big, n))), 0);
  b.want = 1;
  ck_assert_int_eq(ep_node_run_until(N, ep_testinbox_has, &b, 60000), 0);
  ep_term m = b.msg[0];
  ck_assert(ep_is_record(m, "echo", 3));
  ck_assert_int_eq(m.v.items[2].type, EP_T_BINARY);
  ck_assert_int_eq(m.v.items[2].n, n);
  ck_assert(memcmp(m.v.items[2].v.bytes, big, n) == 0);
  /* the digest the node computed of what it got equals its own md5 of what
   * we sent as an RPC argument */
  ep_term md5 = call_ok(target, "erlang", "md5", EP_LIST(A, ep_binary(A, big, n)));
  ck_assert(ep_term_eq(md5, m.v.items[1]));
  free(big);
  ep_arena_free(b.a);
}
END_TEST

static bool went_down(void *ud) {
  (void)ud;
  return down_reason != 0;
}
static bool never(void *ud) {
  (void)ud;
  return false;
}

/* Both sides run net_ticktime 4: an idle connection outlives it (ticks are
 * answered both ways), a stopped node is detected within it. */
START_TEST(ticks) {
  ck_assert_int_eq(ep_node_ping_sync(N, target, 10000), 0);
  ck_assert_int_eq(ep_node_run_until(N, never, NULL, 6000), EP_ETIMEDOUT);
  ck_assert_int_eq(down_reason, 0);
  ck_assert(ep_node_is_connected(N, target));
  ck_assert(ep_atom_eq(call_ok(target, "erlang", "node", ep_nil()), target));
  kill(target_pid, SIGSTOP);
  int r = ep_node_run_until(N, went_down, NULL, 6500);
  kill(target_pid, SIGCONT);
  ck_assert_int_eq(r, 0);
  ck_assert_int_eq(down_reason, EP_ETICK);
}
END_TEST

/* --- peers ------------------------------------------------------------------------------ */

static const char *conn_name[] = {"dist", "tcp", "standard_io"};

typedef struct {
  ep_buf out;
} output;

static void on_output(ep_peer *p, const char *t, size_t n, void *ud) {
  (void)p;
  ep_buf_append(&((output *)ud)->out, t, n);
}

static bool out_has(output *o, const char *s) {
  ep_buf_put8(&o->out, 0);
  o->out.len--;
  return o->out.data && strstr((char *)o->out.data, s) != NULL;
}

/* Runs the controller's loop until o holds s, or 5 s pass (returning on the
 * output callback that brought it); whether it does. */
typedef struct {
  output *o;
  const char *s;
} output_wait;
static bool output_arrived(void *ud) {
  output_wait *w = ud;
  return out_has(w->o, w->s);
}
static bool wait_output(ep_ctl *c, output *o, const char *s) {
  output_wait w = {o, s};
  return ep_testwait_ctl(c, output_arrived, &w, 5000);
}

static bool exited(void *ud) { return ep_peer_exit_status(ud) >= 0; }

/* Options for a peer of the release under test over connection kind
 * (0 dist, 1 tcp, 2 standard_io). */
static ep_peer_opts *peer_opts(int kind, const char *name, const char *root) {
  ep_peer_opts *o = ep_peer_opts_new();
  ck_assert_ptr_nonnull(o);
  if (kind == 0) {
    ck_assert_int_eq(ep_peer_opts_set_name(o, name), 0);
    ck_assert_int_eq(ep_peer_opts_set_connection_dist(o), 0);
  } else if (kind == 1) {
    ck_assert_int_eq(ep_peer_opts_set_connection_tcp(o, "127.0.0.1", 0), 0);
  } else {
    ck_assert_int_eq(ep_peer_opts_set_connection_stdio(o), 0);
  }
  if (root && root[0]) {
    const char *pre[] = {root, "erl", NULL};
    ck_assert_int_eq(ep_peer_opts_set_exec(o, "chroot", pre), 0);
  }
  ep_peer_opts_set_wait_boot(o, 20000);
  return o;
}

static ep_term pcall(ep_peer *p, const char *m, const char *f, const char *args, int want_status,
                     ep_result *r) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term t;
  ck_assert_int_eq(ep_parse_str(a, args, &t, NULL), 0);
  int s = ep_peer_call_sync(p, ep_atom(m), ep_atom(f), t, 10000, A, r); /* the result in the test's arena */
  ep_arena_free(a);
  ck_assert_msg(s == want_status, "%s: %s:%s%s gave %s", REL->label, m, f, args, ep_strerror(s));
  return r->value;
}

static const char *rtext(ep_result *r) {
  return ep_print_str(A, r->status == 0 ? r->value : r->reason);
}

static long peer_os_pid(ep_peer *p) {
  ep_result r;
  pcall(p, "os", "getpid", "[]", 0, &r);
  const char *s;
  size_t n;
  ep_get_text(r.arena, r.value, &s, &n);
  long pid = strtol(s, NULL, 10);
  return pid;
}

static void peer_setup(void) { world_up(); }
static void peer_teardown(void) { world_down(); }

START_TEST(peer_start_call_io) {
  ep_ctl *c = ep_ctl_new(NULL);
  output col = {EP_BUF_INIT};
  ep_peer_opts *o = peer_opts(_i, "pcall", ROOT);
  ep_peer_opts_set_output(o, on_output, &col);
  ep_peer *p;
  int s = ep_peer_start_sync(c, o, true, &p);
  ck_assert_msg(s == 0, "%s %s: start: %s %s", REL->label, conn_name[_i], ep_strerror(s), ep_ctl_last_start_reason(c));
  ck_assert_int_eq(ep_peer_get_state(p), EP_PEER_RUNNING);
  ep_result r;
  pcall(p, "erlang", "system_info", "[otp_release]", 0, &r);
  char want[16];
  snprintf(want, sizeof want, "\"%s\"", REL->release);
  ck_assert_str_eq(rtext(&r), want);
  pcall(p, "erlang", "node", "[]", 0, &r);
  ck_assert(ep_atom_eq(r.value, ep_peer_node(p)));
  if (_i == 0) ck_assert_msg(strncmp(ep_peer_node(p), "pcall@", 6) == 0, "%s", ep_peer_node(p));
  else ck_assert_str_eq(ep_peer_node(p), "nonode@nohost");
  pcall(p, "lists", "seq", "[1, 3]", 0, &r);
  ck_assert_str_eq(rtext(&r), "[1,2,3]");
  static const char *cls[][2] = {{"throw", "[x]"}, {"error", "[boom]"}, {"exit", "[bye]"}};
  for (int i = 0; i < 3; i++) {
    pcall(p, "erlang", cls[i][0], cls[i][1], EP_EEXCEPTION, &r);
    ck_assert(ep_atom_eq(r.cls, cls[i][0]));
  }
  /* I/O relay: io:format in a call (-peer_detached makes 27+ relay it) and
   * from a process the peer spawns on its own (its group leader is ours) */
  char line[64];
  snprintf(line, sizeof line, "[\"rel ~s ~w~n\", [\"%s\", %d]]", REL->release, _i);
  pcall(p, "io", "format", line, 0, &r);
  snprintf(line, sizeof line, "rel %s %d\n", REL->release, _i);
  ck_assert_msg(wait_output(c, &col, line), "%s %s: no relayed output", REL->label, conn_name[_i]);
  pcall(p, "io", "put_chars", "[[<<\"unicode \\x{2200}\"/utf8>>, $\\n]]", 0, &r);
  ck_assert(wait_output(c, &col, "unicode \xe2\x88\x80\n"));
  ck_assert_int_eq(ep_peer_stop_sync(p), 0);
  ck_assert_int_eq(ep_peer_get_state(p), EP_PEER_DOWN);
  ep_peer_free(p);
  ep_peer_opts_free(o);
  ep_ctl_free(c);
  ep_buf_free(&col.out);
}
END_TEST

START_TEST(peer_shutdown_modes) {
  ep_ctl *c = ep_ctl_new(NULL);
  static const struct {
    ep_peer_shutdown mode;
    uint32_t ms;
    const char *label;
  } modes[] = {{EP_PEER_SHUTDOWN_HALT, 5000, "halt"},
               {EP_PEER_SHUTDOWN_CLOSE, 0, "close"},
               {EP_PEER_SHUTDOWN_STOP, 5000, "init:stop 5000"}};
  for (size_t i = 0; i < 3; i++) {
    char name[32];
    snprintf(name, sizeof name, "sd%zu", i);
    ep_peer_opts *o = peer_opts(_i, name, ROOT);
    ck_assert_int_eq(ep_peer_opts_set_shutdown(o, modes[i].mode, modes[i].ms), 0);
    ep_peer *p;
    int s = ep_peer_start_sync(c, o, true, &p);
    ck_assert_msg(s == 0, "%s %s: start: %s", REL->label, conn_name[_i], ep_strerror(s));
    long pid = peer_os_pid(p);
    double t0 = now_ms();
    ck_assert_int_eq(ep_peer_stop_sync(p), 0);
    double took = now_ms() - t0;
    ck_assert_msg(took < (modes[i].ms ? modes[i].ms : 1000) + 1000, "%s %s %s took %.0f ms", REL->label,
                  conn_name[_i], modes[i].label, took);
    ck_assert_int_eq(ep_peer_get_state(p), EP_PEER_DOWN);
    if (modes[i].mode == EP_PEER_SHUTDOWN_CLOSE)
      ck_assert_msg(ep_testenv_wait_pid_gone(pid, 10000), "%s %s: close left the peer running", REL->label,
                    conn_name[_i]);
    else
      ck_assert_msg(ep_testenv_wait_pid_gone(pid, 1000), "%s %s %s returned before the peer exited", REL->label,
                    conn_name[_i], modes[i].label);
    ep_peer_free(p);
    ep_peer_opts_free(o);
  }
  ep_ctl_free(c);
}
END_TEST

/* An erl that cannot boot: attached (so its exit status is seen), the
 * start fails with EP_EBOOT and the status, and nothing stays behind. */
START_TEST(peer_boot_failure) {
  ep_ctl *c = ep_ctl_new(NULL);
  ep_peer_opts *o = peer_opts(_i, "bootfail", ROOT);
  ep_peer_opts_set_env(o, "ERL_CRASH_DUMP_SECONDS", "0"); /* no 300 KB dump per failure */
  if (_i != 2) ep_peer_opts_set_detached(o, false);
  ep_peer_opts_add_arg(o, "-boot");
  ep_peer_opts_add_arg(o, "/nonexistent/boot");
  ep_peer *p;
  double t0 = now_ms();
  ck_assert_int_eq(ep_peer_start_sync(c, o, true, &p), EP_EBOOT);
  ck_assert_msg(now_ms() - t0 < 10000, "%s: boot failure took %.0f ms", REL->label, now_ms() - t0);
  ck_assert_str_eq(ep_ctl_last_start_reason(c), "{exit_status,1}");
  ck_assert_ptr_null(p);
  ep_peer_opts_free(o);
  if (_i != 2) {
    /* detached, its launcher exits 0 at once and the emulator dies alone:
     * the controller notices (boot_failed) or wait_boot ends the start, and
     * not later than that */
    o = peer_opts(_i, "bootfail2", ROOT);
    ep_peer_opts_set_env(o, "ERL_CRASH_DUMP_SECONDS", "0");
    ep_peer_opts_set_wait_boot(o, 2000);
    ep_peer_opts_add_arg(o, "-boot");
    ep_peer_opts_add_arg(o, "/nonexistent/boot");
    t0 = now_ms();
    int sr = ep_peer_start_sync(c, o, true, &p);
    ck_assert_msg(sr == EP_EBOOT || sr == EP_ETIMEDOUT, "%s: %s", REL->label, ep_err_name(sr));
    ck_assert_msg(now_ms() - t0 < 3500, "%s: wait_boot 2000 took %.0f ms", REL->label, now_ms() - t0);
    ck_assert_ptr_null(p);
    ep_peer_opts_free(o);
  }
  ep_ctl_free(c);
}
END_TEST

/* detached = false over TCP: the peer stays our child. Without
 * -peer_detached an OTP 27+ peer keeps its own terminal I/O (it does not
 * relay it over the connection), so its output must arrive through its
 * stdout; and its exit status is ours to see. */
START_TEST(peer_attached_tcp) {
  ep_ctl *c = ep_ctl_new(NULL);
  output col = {EP_BUF_INIT};
  ep_peer_opts *o = peer_opts(1, "att", ROOT);
  ep_peer_opts_set_output(o, on_output, &col);
  ep_peer_opts_set_detached(o, false);
  ep_peer *p;
  int s = ep_peer_start_sync(c, o, true, &p);
  ck_assert_msg(s == 0, "%s: start: %s %s", REL->label, ep_strerror(s), ep_ctl_last_start_reason(c));
  ep_result r;
  char line[64];
  snprintf(line, sizeof line, "[\"attached ~s~n\", [\"%s\"]]", REL->release);
  pcall(p, "io", "format", line, 0, &r);
  snprintf(line, sizeof line, "attached %s\n", REL->release);
  ck_assert_msg(wait_output(c, &col, line), "%s: attached output not relayed", REL->label);
  pcall(p, "erlang", "halt", "[4]", EP_EPEERDOWN, &r);
  ep_testwait_ctl(c, exited, p, 10000);
  ck_assert_int_eq(ep_peer_exit_status(p), 4);
  ep_peer_free(p);
  ep_peer_opts_free(o);
  ep_ctl_free(c);
  ep_buf_free(&col.out);
}
END_TEST

/* --- long names and IPv6 ---------------------------------------------------------------- */

static void names_setup(void) {
  world_up();
  N = NULL;
  target_pid = 0;
}
static void names_teardown(void) { node_teardown(); }

static void hidden_node_checks(const char *tnode) {
  ck_assert_int_eq(ep_node_ping_sync(N, tnode, 10000), 0);
  assert_release(tnode);
  ck_assert(ep_atom_eq(call_ok(tnode, "erlang", "node", ep_nil()), tnode));
  /* its pids name its long node name */
  ep_term v = eval_on(tnode, "self().", ep_nil());
  ck_assert_str_eq(v.v.pid.node, tnode);
  node_pings_us(N, tnode);
}

START_TEST(hidden_node_long_names) {
  static const char *none[] = {NULL};
  start_target("-name", "target@127.0.0.1", none, target, sizeof target);
  ck_assert_str_eq(target, "target@127.0.0.1");
  /* our default host with long names: the FQDN, or (no domain here) an
   * address the BEAM accepts as a long host */
  N = start_node("ctl", true, false, 0);
  const char *host = strchr(ep_node_name(N), '@') + 1;
  ck_assert_msg(strchr(host, '.') || strchr(host, ':'), "long name %s", ep_node_name(N));
  hidden_node_checks(target);
  ep_node_free(N);
  /* an explicit long name */
  N = start_node("ctl2@127.0.0.1", true, false, 0);
  hidden_node_checks(target);
  ep_node_free(N);
  /* a short-name hidden node may still dial it (the BEAM checks the naming
   * mode only of the nodes it dials itself), as erl_interface can */
  N = start_node("ctl3", false, false, 0);
  ck_assert_int_eq(ep_node_ping_sync(N, target, 10000), 0);
  ck_assert(ep_atom_eq(call_ok(target, "erlang", "node", ep_nil()), target));
}
END_TEST

START_TEST(hidden_node_ipv6) {
  if (!ep_ipv6_loopback()) {
    printf("interop %s: no IPv6 loopback (::1) on this machine: IPv6 hidden node skipped\n", REL->label);
    return;
  }
  static const char *v6[] = {"-proto_dist", "inet6_tcp", NULL};
  start_target("-name", "target6@::1", v6, target, sizeof target);
  ck_assert_str_eq(target, "target6@::1");
  N = start_node("ctl6@::1", true, true, 0);
  hidden_node_checks(target);
  /* EPMD over IPv6: the node's own EPMD client finds us through ::1 */
  ep_term v = call_ok(target, "erl_epmd", "names", EP_LIST(A, parse("{0,0,0,0,0,0,0,1}")));
  ck_assert_msg(strstr(show(v), "\"ctl6\""), "%s", show(v));
  /* and an IPv4-only node is still reachable from our IPv6 node (mapped
   * addresses), as from an inet6_tcp BEAM */
  char t4[256];
  static const char *none[] = {NULL};
  start_target("-name", "target4@127.0.0.1", none, t4, sizeof t4);
  ck_assert_int_eq(ep_node_ping_sync(N, t4, 10000), 0);
  ck_assert(ep_atom_eq(call_ok(t4, "erlang", "node", ep_nil()), t4));
}
END_TEST

START_TEST(peer_long_names) {
  ep_ctl *c = ep_ctl_new(NULL);
  ep_peer_opts *o = peer_opts(_i, "plong", ROOT);
  if (_i != 0) ck_assert_int_eq(ep_peer_opts_set_name(o, "plong"), 0);
  ck_assert_int_eq(ep_peer_opts_set_host(o, "127.0.0.1"), 0);
  ck_assert_int_eq(ep_peer_opts_set_longnames(o, true), 0);
  ep_peer *p;
  int s = ep_peer_start_sync(c, o, true, &p);
  ck_assert_msg(s == 0, "%s %s: start: %s %s", REL->label, conn_name[_i], ep_strerror(s), ep_ctl_last_start_reason(c));
  ck_assert_str_eq(ep_peer_node(p), "plong@127.0.0.1");
  ep_result r;
  pcall(p, "erlang", "node", "[]", 0, &r);
  ck_assert(ep_atom_eq(r.value, "plong@127.0.0.1"));
  if (_i == 0) {
    /* the controller's own node followed the peer into long names */
    const char *host = strchr(ep_node_name(ep_ctl_node(c)), '@') + 1;
    ck_assert_msg(strchr(host, '.') || strchr(host, ':'), "%s", ep_node_name(ep_ctl_node(c)));
    pcall(p, "erlang", "nodes", "[hidden]", 0, &r);
    ck_assert(ep_atom_eq(ep_list_at(r.value, 0), ep_node_name(ep_ctl_node(c))));
  }
  ck_assert_int_eq(ep_peer_stop_sync(p), 0);
  ep_peer_free(p);
  ep_peer_opts_free(o);
  ep_ctl_free(c);
}
END_TEST

START_TEST(peer_ipv6) {
  if (!ep_ipv6_loopback()) {
    printf("interop %s: no IPv6 loopback (::1) on this machine: IPv6 peer skipped\n", REL->label);
    return;
  }
  ep_ctl *c = ep_ctl_new(NULL);
  ep_peer_opts *o = peer_opts(_i, "pv6", ROOT);
  if (_i == 1) ck_assert_int_eq(ep_peer_opts_set_connection_tcp(o, "::1", 0), 0);
  if (_i != 0) ck_assert_int_eq(ep_peer_opts_set_name(o, "pv6"), 0);
  ck_assert_int_eq(ep_peer_opts_set_host(o, "::1"), 0);
  ck_assert_int_eq(ep_peer_opts_set_longnames(o, true), 0);
  ep_peer_opts_add_arg(o, "-proto_dist");
  ep_peer_opts_add_arg(o, "inet6_tcp");
  ep_peer *p;
  int s = ep_peer_start_sync(c, o, true, &p);
  ck_assert_msg(s == 0, "%s %s: start: %s %s", REL->label, conn_name[_i], ep_strerror(s), ep_ctl_last_start_reason(c));
  ck_assert_str_eq(ep_peer_node(p), "pv6@::1");
  ep_result r;
  pcall(p, "net_kernel", "get_state", "[]", 0, &r);
  pcall(p, "erlang", "system_info", "[otp_release]", 0, &r);
  /* the peer's EPMD client registered it over IPv6 */
  pcall(p, "erl_epmd", "names", "[{0,0,0,0,0,0,0,1}]", 0, &r);
  ck_assert_msg(strstr(rtext(&r), "\"pv6\""), "%s", rtext(&r));
  if (_i == 0) {
    const char *nn = ep_node_name(ep_ctl_node(c));
    ck_assert_msg(strchr(nn, ':'), "the controller's node is not on IPv6: %s", nn);
  }
  ck_assert_int_eq(ep_peer_stop_sync(p), 0);
  ep_peer_free(p);
  ep_peer_opts_free(o);
  ep_ctl_free(c);
}
END_TEST

/* The controller's node is in the other naming mode than the peer: a clear
 * error before anything is spawned, not a boot timeout. */
START_TEST(naming_mode_mismatch_is_an_error) {
  ep_ctl *c = ep_ctl_new(NULL);
  ep_node_opts *no = ep_node_opts_new();
  ep_node_opts_set_name(no, "shortctl");
  ck_assert_int_eq(ep_ctl_start_node(c, no), 0);
  ep_node_opts_free(no);
  ep_peer_opts *o = peer_opts(0, "longpeer", ROOT);
  ck_assert_int_eq(ep_peer_opts_set_host(o, "127.0.0.1"), 0);
  ck_assert_int_eq(ep_peer_opts_set_longnames(o, true), 0);
  ep_peer *p = NULL;
  double t0 = now_ms();
  ck_assert_int_eq(ep_peer_start_sync(c, o, true, &p), EP_EBADNAME);
  ck_assert(now_ms() - t0 < 1000);
  ck_assert_ptr_null(p);
  ck_assert_msg(strstr(ep_ctl_last_start_reason(c), "peer wants long names") &&
                    strstr(ep_ctl_last_start_reason(c), "has short names"),
                "%s", ep_ctl_last_start_reason(c));
  /* the short-name peer still works on that node */
  ck_assert_int_eq(ep_peer_opts_set_longnames(o, false), 0);
  ck_assert_int_eq(ep_peer_opts_set_host(o, NULL), 0);
  ck_assert_int_eq(ep_peer_start_sync(c, o, true, &p), 0);
  ck_assert_int_eq(ep_peer_stop_sync(p), 0);
  ep_peer_free(p);
  ep_ctl_free(c);
  /* a node the controller started on its own follows its first dist peer,
   * but not while another dist peer depends on it */
  c = ep_ctl_new(NULL);
  ep_peer *first;
  ck_assert_int_eq(ep_peer_start_sync(c, o, true, &first), 0);
  ep_peer_opts *lo = peer_opts(0, "longpeer2", ROOT);
  ck_assert_int_eq(ep_peer_opts_set_host(lo, "127.0.0.1"), 0);
  ck_assert_int_eq(ep_peer_opts_set_longnames(lo, true), 0);
  ck_assert_int_eq(ep_peer_start_sync(c, lo, true, &p), EP_EBADNAME);
  ck_assert_ptr_null(p);
  ep_result r;
  pcall(first, "erlang", "node", "[]", 0, &r); /* undisturbed */
  ck_assert_int_eq(ep_peer_stop_sync(first), 0);
  ep_peer_free(first);
  ck_assert_int_eq(ep_peer_start_sync(c, lo, true, &p), 0); /* now it may follow */
  ck_assert_str_eq(ep_peer_node(p), "longpeer2@127.0.0.1");
  ck_assert_int_eq(ep_peer_stop_sync(p), 0);
  ep_peer_free(p);
  ep_peer_opts_free(lo);
  ep_peer_opts_free(o);
  ep_ctl_free(c);
}
END_TEST

/* --- every release on one controller ------------------------------------------------------- */

static char roots[EP_OTP_NRELEASES][512];
static bool have[EP_OTP_NRELEASES];

START_TEST(one_controller_every_release) {
  world_up();
  char dirs[EP_OTP_NRELEASES][700];
  for (size_t i = 0; i < EP_OTP_NRELEASES; i++)
    if (have[i] && roots[i][0]) {
      mirrored[nmirrored++] = roots[i];
      ck_assert_int_eq(ep_otproot_enter(env, roots[i], dirs[i], sizeof dirs[i]), 0);
    }
  ep_ctl *c = ep_ctl_new(NULL);
  ep_peer *peers[EP_OTP_NRELEASES * 3] = {0};
  output outs[EP_OTP_NRELEASES * 3];
  long pids[EP_OTP_NRELEASES * 3] = {0};
  size_t np = 0;
  for (size_t i = 0; i < EP_OTP_NRELEASES; i++) {
    if (!have[i]) continue;
    for (int kind = 0; kind < 3; kind++) {
      char name[32];
      snprintf(name, sizeof name, "mix%s_%d", ep_otp_releases[i].release, kind);
      ep_peer_opts *o = peer_opts(kind, name, roots[i]);
      ep_buf_init(&outs[np].out, NULL);
      ep_peer_opts_set_output(o, on_output, &outs[np]);
      int s = ep_peer_start_sync(c, o, true, &peers[np]);
      ck_assert_msg(s == 0, "%s %s: %s", ep_otp_releases[i].label, conn_name[kind], ep_strerror(s));
      ep_peer_opts_free(o);
      np++;
    }
  }
  /* every one answers as its own release, prints through its own relay */
  size_t k = 0;
  for (size_t i = 0; i < EP_OTP_NRELEASES; i++) {
    if (!have[i]) continue;
    REL = &ep_otp_releases[i];
    for (int kind = 0; kind < 3; kind++, k++) {
      ep_result r;
      pcall(peers[k], "erlang", "system_info", "[otp_release]", 0, &r);
      char want[16];
      snprintf(want, sizeof want, "\"%s\"", ep_otp_releases[i].release);
      ck_assert_msg(strcmp(rtext(&r), want) == 0, "peer %zu: %s", k, rtext(&r));
      char line[64];
      snprintf(line, sizeof line, "[\"mixed ~b~n\", [%zu]]", k);
      pcall(peers[k], "io", "format", line, 0, &r);
      pids[k] = peer_os_pid(peers[k]);
    }
  }
  for (k = 0; k < np; k++) {
    char want[32];
    snprintf(want, sizeof want, "mixed %zu\n", k);
    ck_assert_msg(wait_output(c, &outs[k], want), "peer %zu: output not relayed to its own callback", k);
    for (size_t j = 0; j < np; j++) {
      if (j == k) continue;
      char other[32];
      snprintf(other, sizeof other, "mixed %zu\n", j);
      ck_assert_msg(!out_has(&outs[k], other), "peer %zu got peer %zu's output", k, j);
    }
  }
  /* the dist peers of different releases form a cluster of their own */
  for (size_t i = 0; i < np; i += 3)
    for (size_t j = i + 3; j < np; j += 3) {
      char arg[300];
      snprintf(arg, sizeof arg, "['%s']", ep_peer_node(peers[j]));
      ep_result r;
      pcall(peers[i], "net_adm", "ping", arg, 0, &r);
      ck_assert_msg(ep_atom_eq(r.value, "pong"), "%s -> %s: %s", ep_peer_node(peers[i]), ep_peer_node(peers[j]),
                    rtext(&r));
    }
  ep_ctl_free(c); /* stops every linked peer (halt) */
  for (k = 0; k < np; k++) {
    ck_assert_msg(ep_testenv_wait_pid_gone(pids[k], 5000), "peer %zu still runs", k);
    ep_buf_free(&outs[k].out);
  }
  world_down();
}
END_TEST

static int run_release(const ep_otp_release *r, const char *root) {
  REL = r;
  if ((size_t)snprintf(ROOT, sizeof ROOT, "%s", root) >= sizeof ROOT) return 1;
  char label[64];
  snprintf(label, sizeof label, "interop (%s)", r->label);
  Suite *s = suite_create(label);
  TCase *tn = tcase_create("hidden node");
  tcase_add_checked_fixture(tn, node_setup, node_teardown);
  tcase_set_timeout(tn, 90);
  tcase_add_test(tn, ping_both_directions);
  tcase_add_test(tn, flags_every_release_accepts);
  tcase_add_test(tn, rpc_every_term_kind);
  tcase_add_test(tn, each_exception_class);
  tcase_add_test(tn, links_and_monitors);
  tcase_add_test(tn, sixty_four_mib_message);
  tcase_add_test(tn, ticks);
  suite_add_tcase(s, tn);
  TCase *tp = tcase_create("peers");
  tcase_add_checked_fixture(tp, peer_setup, peer_teardown);
  tcase_set_timeout(tp, 120);
  tcase_add_loop_test(tp, peer_start_call_io, 0, 3);
  tcase_add_loop_test(tp, peer_shutdown_modes, 0, 3);
  tcase_add_loop_test(tp, peer_boot_failure, 0, 3);
  tcase_add_test(tp, peer_attached_tcp);
  suite_add_tcase(s, tp);
  TCase *tl = tcase_create("long names and IPv6");
  tcase_add_checked_fixture(tl, names_setup, names_teardown);
  tcase_set_timeout(tl, 90);
  tcase_add_test(tl, hidden_node_long_names);
  tcase_add_test(tl, hidden_node_ipv6);
  tcase_add_loop_test(tl, peer_long_names, 0, 3);
  tcase_add_loop_test(tl, peer_ipv6, 0, 3);
  tcase_add_test(tl, naming_mode_mismatch_is_an_error);
  suite_add_tcase(s, tl);
  return ep_check_run(s, CK_ENV);
}

/* Check ends a failing test's process at once (_exit), skipping its
 * teardown: its HOME, and the mirror of it in a root, would outlive it. So
 * every test's HOME is made under one scope folder of this run (TMPDIR, read
 * by ep_testenv_new) that main removes, on the host and in every root, once
 * the suites are done - whatever happened in them. (Processes a failed test
 * left are killed by the sweep that ctest runs after the suite.) */
static char scope[512];

static void scope_remove(void) {
  for (size_t i = 0; i < EP_OTP_NRELEASES; i++) {
    char p[1200];
    if (!roots[i][0] || (size_t)snprintf(p, sizeof p, "%s%s", roots[i], scope) >= sizeof p) continue;
    nftw(p, ep_otproot__rm, 16, FTW_DEPTH | FTW_PHYS);
    /* and the mirror of the run folder, when nothing else is in it */
    *strrchr(p, '/') = 0;
    rmdir(p);
  }
  nftw(scope, ep_otproot__rm, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void) {
  /* EP_INTEROP_ONLY=27 runs one release (and mixed), for a quick look. */
  const char *only = getenv("EP_INTEROP_ONLY");
  /* in the run's folder: if ctest kills this program before scope_remove,
   * ep_sweep removes the scope with the run's folder (and the next
   * ep_otproot_enter its mirrors in the roots) */
  char run[256];
  ep_testenv_run_dir(run, sizeof run);
  mkdir(run, 0700);
  snprintf(scope, sizeof scope, "%s/epinterop.XXXXXX", run);
  if (!mkdtemp(scope)) {
    perror("interop: mkdtemp");
    return 1;
  }
  setenv("TMPDIR", scope, 1);
  int failed = 0;
  size_t navail = 0;
  for (size_t i = 0; i < EP_OTP_NRELEASES; i++) {
    char why[4096];
    have[i] = ep_otproot_available(&ep_otp_releases[i], roots[i], sizeof roots[i], why, sizeof why);
    if (!have[i]) {
      printf("interop: SKIPPED %s\n", why);
      continue;
    }
    navail++;
    if (only && *only && strcmp(only, ep_otp_releases[i].release) != 0) continue;
    failed += run_release(&ep_otp_releases[i], roots[i]);
  }
  ROOT[0] = 0;
  if (navail > 1) {
    Suite *s = suite_create("interop (one controller, every release)");
    TCase *tc = tcase_create("mixed");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, one_controller_every_release);
    suite_add_tcase(s, tc);
    failed += ep_check_run(s, CK_ENV);
  } else {
    printf("interop: SKIPPED one controller with every release: only %zu release available\n", navail);
  }
  scope_remove();
  fflush(stdout);
  return failed ? 1 : 0;
}
