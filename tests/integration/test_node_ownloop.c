/* The asynchronous API on a loop the caller owns and drives itself, with
 * nothing but its own uv_run calls: no ep_node_run_until, no *_sync call.
 *
 * The whole life of a node against a real erl and a real EPMD (start and
 * registration, connect, a call, a message each way, a call that times
 * out, close; then uv_run returns and the loop closes with no handle left),
 * driven once with `while (!done) uv_run(loop, UV_RUN_ONCE)` and once with
 * UV_RUN_NOWAIT polling. Every wait is bounded by a timer of the caller's on
 * the same loop, so a completion that never comes (or that comes only when
 * something else happens to wake the loop) fails the test instead of
 * hanging it. libuv before 1.45 (1.44 here) runs due timers first thing in
 * uv_run and only then polls: a completion the node delivers from a timer
 * (a start without EPMD, a failure, a deadline that passed while the
 * caller was busy) must still let that uv_run return.
 *
 * A node with nothing to do must let UV_RUN_ONCE block: CPU time and loop
 * turns over a second of idleness are measured (an idle or check handle
 * left active, or a 0 ms timer re-armed, would spin). So must a node that
 * waits at close for a stalled peer to take its last frames.
 *
 * A sender that streams with ep_node_send_lent, sending the next message from
 * the previous one's done callback, must not run its whole chain in one
 * loop turn: timers, reads and other connections get their turn between
 * the links. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "ep_checkrun.h"
#include "ep_epmd_uv.h"
#include "ep_error.h"
#include "ep_node.h"
#include "ep_testenv.h"
#include "ep_testepmd.h"
#include "ep_text.h"

/* --- the caller: its loop, and a guard timer that bounds every wait -------------------- */

static struct {
  uv_loop_t loop;
  uv_timer_t guard;
  bool expired;
  uv_run_mode mode;
  long turns; /* uv_run calls made */
} L;

static void on_guard(uv_timer_t *t) {
  (void)t;
  L.expired = true;
}

static void guard_start(uint64_t ms) {
  L.expired = false;
  uv_timer_start(&L.guard, on_guard, ms, 0);
}

/* Runs the loop the way the caller's own code would, until cond holds or
 * ms pass (the guard). */
#define DRIVE(cond, ms)                         \
  do {                                          \
    guard_start(ms);                            \
    while (!(cond) && !L.expired) {             \
      uv_run(&L.loop, L.mode);                  \
      L.turns++;                                \
    }                                           \
    uv_timer_stop(&L.guard);                    \
  } while (0)

/* The guard firing fails the wait even when cond then holds: a completion
 * that left uv_run blocked in poll until something else (here the guard)
 * woke the loop would hang a caller whose loop has nothing else to do. */
#define WAIT(cond, ms, what)                                                                         \
  do {                                                                                               \
    DRIVE(cond, ms);                                                                                 \
    ck_assert_msg((cond) && !L.expired, "%s: %s within %d ms of %s", what,                          \
                  (cond) ? "only woken by the caller's guard timer" : "not done", (int)(ms),         \
                  L.mode == UV_RUN_ONCE ? "uv_run(UV_RUN_ONCE)" : "uv_run(UV_RUN_NOWAIT)");         \
  } while (0)

/* --- the world: a private EPMD, a real node "target", our node -------------------------- */

static ep_testenv *env;
static char target[256];
static pid_t target_pid;

/* target runs two registered processes: echo answers {From, M} with
 * {echo, M}; pinger answers {From, N} with N messages {tick, I}, one a
 * millisecond. */
static const char *const target_args[] = {
    "-eval",
    "register(echo, spawn(fun() -> (fun L() -> receive {F, M} -> F ! {echo, M}, L() end end)() end)),"
    "register(pinger, spawn(fun() -> (fun L() -> receive {F, N} ->"
    "  [begin F ! {tick, I}, timer:sleep(1) end || I <- lists:seq(1, N)], L() end end)() end)).",
    NULL};

#define MAXMSG 16

static struct {
  ep_node *node;
  ep_arena *a;
  int started; /* start callbacks */
  int start_status;
  bool closed;
  int closed_after_started; /* start callbacks seen when close reported */
  bool connected;
  int connect_status;
  bool port_done;
  int port_status, port;
  bool called;
  ep_result r; /* terms copied into a */
  ep_proc *box;
  int nmsg;
  ep_term msgs[MAXMSG];
  long ticks;  /* {tick, I} from the pinger */
  long chained; /* chain messages that reached the box */
  long fires;  /* the ticker's */
  uv_timer_t ticker;
} S;

static void on_started(ep_node *n, int status, void *ud) {
  (void)n, (void)ud;
  S.started++;
  S.start_status = status;
}

static void on_closed(ep_node *n, void *ud) {
  (void)n, (void)ud;
  S.closed = true;
  S.closed_after_started = S.started;
}

static void on_connected(ep_node *n, const char *peer, int status, void *ud) {
  (void)n, (void)peer, (void)ud;
  S.connected = true;
  S.connect_status = status;
}

static void on_port(int status, const ep_epmd_port_info *info, void *ud) {
  (void)ud;
  S.port_done = true;
  S.port_status = status;
  S.port = status ? 0 : info->port;
}

static void on_call(ep_node *n, const ep_result *r, void *ud) {
  (void)n, (void)ud;
  S.called = true;
  S.r = *r;
  S.r.arena = S.a;
  S.r.value = ep_term_copy(S.a, r->value);
  S.r.cls = ep_term_copy(S.a, r->cls);
  S.r.reason = ep_term_copy(S.a, r->reason);
}

static void on_flag_done(ep_node *n, int status, void *ud) {
  (void)n;
  ck_assert_int_eq(status, 0);
  *(bool *)ud = true;
}

static void box_cb(ep_proc *p, const ep_msg *m, void *ud) {
  (void)p, (void)ud;
  if (m->kind != EP_MSG_SEND) return;
  if (m->msg.type == EP_T_BINARY) {
    S.chained++;
    return;
  }
  if (ep_is_record(m->msg, "tick", 2)) {
    S.ticks++;
    return;
  }
  if (S.nmsg < MAXMSG) S.msgs[S.nmsg++] = ep_term_copy(S.a, m->msg);
}

static void on_tick_timer(uv_timer_t *t) {
  (void)t;
  S.fires++;
}

static void setup(void) {
  memset(&S, 0, sizeof S);
  memset(&L, 0, sizeof L);
  env = ep_testenv_new();
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  target_pid = ep_testenv_start_erl(env, "target", target_args, target, sizeof target);
  ck_assert_int_gt(target_pid, 0);
  ck_assert_int_eq(uv_loop_init(&L.loop), 0);
  uv_timer_init(&L.loop, &L.guard);
  L.mode = UV_RUN_ONCE;
  S.a = ep_arena_new(NULL);
}

static void teardown(void) {
  ep_arena_free(S.a);
  ep_testenv_free(env);
  env = NULL;
}

static void start_node(const char *name) {
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, name), 0);
  ep_node_opts_set_epmd_mode(o, EP_EPMD_EXTERNAL);
  ck_assert_int_eq(ep_node_start(&L.loop, o, on_started, NULL, &S.node), 0);
  ep_node_opts_free(o);
  WAIT(S.started, 10000, "start");
  ck_assert_int_eq(S.started, 1);
  ck_assert_msg(S.start_status == 0, "start: %s", ep_strerror(S.start_status));
}

static void connect_target(void) {
  ck_assert_int_eq(ep_node_connect(S.node, target, 10000, on_connected, NULL), 0);
  WAIT(S.connected, 15000, "connect");
  ck_assert_msg(S.connect_status == 0, "connect: %s", ep_strerror(S.connect_status));
}

static void call(const char *mod, const char *fun, ep_term args, uint64_t timeout_ms) {
  S.called = false;
  ck_assert_int_eq(ep_rpc_call(S.node, target, mod, fun, args, timeout_ms, on_call, NULL), 0);
  WAIT(S.called, 10000, fun);
}

static void count_open(uv_handle_t *h, void *ud) {
  if (h == (uv_handle_t *)&L.guard || uv_is_closing(h)) return;
  (*(int *)ud)++;
  fprintf(stderr, "left open on the caller's loop: a %s handle (%s)\n", uv_handle_type_name(uv_handle_get_type(h)),
          uv_is_active(h) ? "active" : "inactive");
}

/* Closes the node; then nothing of it may be left on the loop: uv_run
 * returns and the loop closes. */
static void close_node_and_loop(void) {
  ep_node_close(S.node, on_closed, NULL);
  WAIT(S.closed, 10000, "close");
  S.node = NULL;
  int left = 0;
  uv_walk(&L.loop, count_open, &left);
  ck_assert_int_eq(left, 0);
  uv_close((uv_handle_t *)&L.guard, NULL);
  ck_assert_int_eq(uv_run(&L.loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&L.loop), 0);
}

/* A listening socket on a free port, for a node that must fail to listen
 * there. Returns the port. */
static int take_port(uv_tcp_t *t) {
  struct sockaddr_in sa;
  int len = sizeof sa;
  uv_tcp_init(&L.loop, t);
  uv_ip4_addr("0.0.0.0", 0, &sa);
  ck_assert_int_eq(uv_tcp_bind(t, (struct sockaddr *)&sa, 0), 0);
  ck_assert_int_eq(uv_listen((uv_stream_t *)t, 1, NULL), 0);
  uv_tcp_getsockname(t, (struct sockaddr *)&sa, &len);
  return ntohs(sa.sin_port);
}

static long cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* A second with nothing to do: UV_RUN_ONCE must block in poll, not spin. */
static void idle_second(const char *what) {
  if (L.mode != UV_RUN_ONCE) return; /* NOWAIT spins by the caller's choice */
  bool never = false;
  long c0 = cpu_us(), t0 = L.turns;
  DRIVE(never, 1000);
  long used = cpu_us() - c0, turns = L.turns - t0;
  fprintf(stderr, "ownloop: %s: idle for 1 s: %ld us CPU, %ld loop turns\n", what, used, turns);
  ck_assert_msg(used < 50000 && turns < 20, "%s: an idle node used %ld us CPU in %ld loop turns over 1 s", what, used,
                turns);
}

/* --- the whole life of a node, on the caller's loop ---------------------------------------- */

static void whole_life(uv_run_mode mode) {
  L.mode = mode;
  ep_arena *a = S.a;
  start_node("own");
  ck_assert_uint_ne(ep_node_creation(S.node), 0);
  ck_assert_ptr_eq(ep_node_loop(S.node), &L.loop);
  idle_second("started, no connection");

  /* Registered: the EPMD gives out our listening port. */
  t_client eo = {0};
  eo.host = "127.0.0.1";
  eo.port = (uint16_t)ep_testenv_epmd_port(env);
  ck_assert_int_eq(ep_epmd_port_please(&L.loop, t_c(&eo), "own", on_port, NULL, NULL), 0);
  WAIT(S.port_done, 10000, "EPMD lookup of our node");
  ck_assert_int_eq(S.port_status, 0);
  ck_assert_int_eq(S.port, ep_node_port(S.node));

  connect_target();
  ck_assert(ep_node_is_connected(S.node, target));
  /* Connecting when connected: the callback still comes from the loop. */
  S.connected = false;
  ck_assert_int_eq(ep_node_connect(S.node, target, 5000, on_connected, NULL), 0);
  ck_assert(!S.connected);
  WAIT(S.connected, 5000, "connect when connected");
  ck_assert_int_eq(S.connect_status, 0);

  call("erlang", "node", ep_nil(), 5000);
  ck_assert_int_eq(S.r.status, 0);
  ck_assert(ep_atom_eq(S.r.value, target));

  /* A message from the target: it sends to our registered process. */
  ck_assert_int_eq(ep_proc_new(S.node, "box", box_cb, NULL, &S.box), 0);
  call("erlang", "send", EP_LIST(a, EP_TUPLE(a, ep_atom("box"), ep_atom(ep_node_name(S.node))), ep_atom("hello")),
       5000);
  ck_assert_int_eq(S.r.status, 0);
  WAIT(S.nmsg >= 1, 5000, "message from the target");
  ck_assert(ep_atom_eq(S.msgs[0], "hello"));

  /* A message to the target, answered. */
  ck_assert_int_eq(ep_node_send_named(S.node, S.box, target, "echo", EP_TUPLE(a, ep_proc_pid(S.box), ep_atom("ping"))), 0);
  WAIT(S.nmsg >= 2, 5000, "echo");
  ck_assert_msg(ep_is_record(S.msgs[1], "echo", 2) && ep_atom_eq(S.msgs[1].v.items[1], "ping"), "echo: %s",
                ep_print_str(a, S.msgs[1]));

  /* Two frames in one go from the caller's code (the second waits for the
   * loop): both leave with the next uv_run. */
  ck_assert_int_eq(ep_node_send_named(S.node, S.box, target, "echo", EP_TUPLE(a, ep_proc_pid(S.box), ep_atom("one"))), 0);
  ck_assert_int_eq(ep_node_send_named(S.node, S.box, target, "echo", EP_TUPLE(a, ep_proc_pid(S.box), ep_atom("two"))), 0);
  WAIT(S.nmsg >= 4, 5000, "two echoes");
  ck_assert(ep_atom_eq(S.msgs[2].v.items[1], "one") && ep_atom_eq(S.msgs[3].v.items[1], "two"));

  /* A lent send to ourselves: delivered inside the call, its done from
   * the loop before the poll; uv_run returns all the same. */
  bool lent_done = false;
  ck_assert_int_eq(ep_node_send_lent(S.node, S.box, ep_proc_pid(S.box), ep_atom("self"), on_flag_done, &lent_done), 0);
  ck_assert(!lent_done);
  WAIT(lent_done, 5000, "lent send's done");
  ck_assert(S.nmsg == 5 && ep_atom_eq(S.msgs[4], "self"));

  /* A call whose timeout passed while the caller was busy elsewhere: its
   * timer fires first thing in the next uv_run (before the poll, with
   * libuv before 1.45), which must not then block. */
  S.called = false;
  ck_assert_int_eq(ep_rpc_call(S.node, target, "timer", "sleep", EP_LIST(a, ep_int(5000)), 100, on_call, NULL), 0);
  usleep(300000);
  WAIT(S.called, 5000, "call timed out while the caller was busy");
  ck_assert_int_eq(S.r.status, EP_ETIMEDOUT);

  /* A call that times out, on the call's own timer; nothing else wakes the
   * loop meanwhile. */
  long t0 = L.turns;
  uint64_t h0 = uv_hrtime();
  S.called = false;
  ck_assert_int_eq(ep_rpc_call(S.node, target, "timer", "sleep", EP_LIST(a, ep_int(5000)), 300, on_call, NULL), 0);
  WAIT(S.called, 5000, "call timing out");
  uint64_t ms = (uv_hrtime() - h0) / 1000000;
  ck_assert_int_eq(S.r.status, EP_ETIMEDOUT);
  ck_assert_msg(ms >= 250 && ms < 3000, "timed out after %d ms", (int)ms);
  if (mode == UV_RUN_ONCE) ck_assert_msg(L.turns - t0 < 20, "%ld loop turns waiting for a timeout", L.turns - t0);
  /* The connection is still good. */
  call("erlang", "node", ep_nil(), 5000);
  ck_assert(ep_atom_eq(S.r.value, target));
  idle_second("connected");

  close_node_and_loop();
  ck_assert_int_eq(S.closed_after_started, 1);
}

START_TEST(whole_life_with_run_once) { whole_life(UV_RUN_ONCE); }
END_TEST

START_TEST(whole_life_with_run_nowait) { whole_life(UV_RUN_NOWAIT); }
END_TEST

/* Closed before its start finished (no loop turn in between): the start
 * callback still runs exactly once, before the close callback, with
 * EP_ECANCELED; the loop closes. In every EPMD mode, and when the start
 * fails (the listening port is taken: the failure is reported from the
 * loop too). */
START_TEST(close_while_starting) {
  uv_tcp_t taken;
  struct {
    ep_epmd_mode mode;
    bool port_taken;
  } cases[] = {{EP_EPMD_EXTERNAL, false}, {EP_EPMD_NONE, false}, {EP_EPMD_EMBEDDED, false}, {EP_EPMD_NONE, true}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (i) {
      ck_assert_int_eq(uv_loop_init(&L.loop), 0);
      uv_timer_init(&L.loop, &L.guard);
    }
    S.started = 0;
    S.start_status = 1;
    S.closed = false;
    ep_node_opts *o = ep_node_opts_new();
    ck_assert_int_eq(ep_node_opts_set_name(o, "early"), 0);
    ep_node_opts_set_epmd_mode(o, cases[i].mode);
    if (cases[i].mode == EP_EPMD_EMBEDDED) ep_node_opts_set_epmd_port(o, ep_testenv_free_port());
    if (cases[i].port_taken) ep_node_opts_set_listen_port(o, take_port(&taken));
    ck_assert_int_eq(ep_node_start(&L.loop, o, on_started, NULL, &S.node), 0);
    ep_node_opts_free(o);
    if (cases[i].port_taken) uv_close((uv_handle_t *)&taken, NULL);
    close_node_and_loop();
    ck_assert_msg(S.started == 1, "case %d: %d start callbacks", (int)i, S.started);
    ck_assert_int_eq(S.closed_after_started, 1);
    ck_assert_msg(S.start_status == EP_ECANCELED || (cases[i].port_taken && S.start_status == EP_EADDRINUSE),
                  "case %d: start reported %s", (int)i, ep_err_name(S.start_status));
  }
}
END_TEST

/* Start in every EPMD mode, the caller driving: no EPMD at all (the start
 * is reported from a 0 ms timer, which libuv before 1.45 runs before the
 * poll), an embedded one (nobody answers on the port we give, so the node
 * serves it), the real one; and a start that fails (also reported from
 * the loop). */
START_TEST(start_in_every_epmd_mode) {
  uv_tcp_t taken;
  struct {
    ep_epmd_mode mode;
    bool port_taken;
    int want;
  } cases[] = {{EP_EPMD_NONE, false, 0},
               {EP_EPMD_AUTO, false, 0},
               {EP_EPMD_EMBEDDED, false, 0},
               {EP_EPMD_EXTERNAL, false, 0},
               {EP_EPMD_NONE, true, EP_EADDRINUSE}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (i) {
      ck_assert_int_eq(uv_loop_init(&L.loop), 0);
      uv_timer_init(&L.loop, &L.guard);
    }
    S.started = 0;
    S.closed = false;
    ep_node_opts *o = ep_node_opts_new();
    ck_assert_int_eq(ep_node_opts_set_name(o, "modes"), 0);
    ep_node_opts_set_epmd_mode(o, cases[i].mode);
    /* AUTO and EMBEDDED on a port where no EPMD runs. */
    if (cases[i].mode == EP_EPMD_AUTO || cases[i].mode == EP_EPMD_EMBEDDED)
      ep_node_opts_set_epmd_port(o, ep_testenv_free_port());
    if (cases[i].port_taken) ep_node_opts_set_listen_port(o, take_port(&taken));
    ck_assert_int_eq(ep_node_start(&L.loop, o, on_started, NULL, &S.node), 0);
    ep_node_opts_free(o);
    WAIT(S.started, 5000, "start");
    ck_assert_msg(S.start_status == cases[i].want, "case %d: %s", (int)i, ep_strerror(S.start_status));
    if (!cases[i].want) idle_second("started");
    if (cases[i].port_taken) uv_close((uv_handle_t *)&taken, NULL);
    close_node_and_loop();
    ck_assert_int_eq(S.closed_after_started, 1);
  }
}
END_TEST

/* Closing with frames still going to a peer that does not read (stopped):
 * the node waits for the flush (at most 2 s) with the loop blocked, not
 * spinning. */
START_TEST(close_waiting_for_a_stalled_peer_does_not_spin) {
  start_node("stall");
  connect_target();
  ck_assert_int_eq(kill(target_pid, SIGSTOP), 0);
  size_t len = (size_t)32 << 20;
  uint8_t *big = calloc(1, len);
  ck_assert_ptr_nonnull(big);
  ck_assert_int_eq(ep_node_send_named(S.node, NULL, target, "nobody", ep_binary(S.a, big, len)), 0);
  free(big);
  ck_assert_uint_gt(ep_node_queued(S.node, target), 0);
  long c0 = cpu_us();
  uint64_t h0 = uv_hrtime();
  close_node_and_loop();
  long used = cpu_us() - c0;
  uint64_t ms = (uv_hrtime() - h0) / 1000000;
  fprintf(stderr, "ownloop: close with a stalled peer: %d ms, %ld us CPU\n", (int)ms, used);
  kill(target_pid, SIGCONT);
  ck_assert_msg(used < 300000, "closing used %ld us CPU in %d ms", used, (int)ms);
}
END_TEST

/* --- a chain of lent sends ------------------------------------------------------------------ */

#define CHAIN_CAP 50000L

typedef struct {
  ep_term to, msg;
  long done, cap;
  long fires0, ticks0;
  bool want_ticks;
  bool finished, hit_cap;
  int err;
} chain;

/* The next link, from the done callback of the one before; stops once the
 * ticker fired and (for the remote chain) ticks arrived since the chain
 * began: proof that the loop polled between links. */
static void on_link_done(ep_node *n, int status, void *ud) {
  chain *c = ud;
  c->done++;
  if (status) {
    c->err = status;
    c->finished = true;
    return;
  }
  if (S.fires - c->fires0 >= 3 && (!c->want_ticks || S.ticks - c->ticks0 >= 3)) {
    c->finished = true;
    return;
  }
  if (c->done >= c->cap) {
    c->hit_cap = true;
    c->finished = true;
    return;
  }
  int r = ep_node_send_lent(n, S.box, c->to, c->msg, on_link_done, c);
  if (r) {
    c->err = r;
    c->finished = true;
  }
}

static void run_chain(chain *c) {
  uv_timer_init(&L.loop, &S.ticker);
  uv_timer_start(&S.ticker, on_tick_timer, 2, 2);
  c->fires0 = S.fires;
  c->ticks0 = S.ticks;
  c->cap = CHAIN_CAP;
  uint64_t h0 = uv_hrtime();
  ck_assert_int_eq(ep_node_send_lent(S.node, S.box, c->to, c->msg, on_link_done, c), 0);
  ck_assert_int_eq(c->done, 0); /* never inside the call */
  WAIT(c->finished, 20000, "the chain");
  uint64_t ms = (uv_hrtime() - h0) / 1000000;
  fprintf(stderr, "ownloop: chain of %ld lent sends in %d ms: %ld timer fires, %ld ticks\n", c->done, (int)ms,
          S.fires - c->fires0, S.ticks - c->ticks0);
  ck_assert_msg(c->err == 0, "chain: %s", ep_strerror(c->err));
  ck_assert_msg(!c->hit_cap, "%ld links ran without the loop polling (timer fired %ld times, %ld ticks)", c->done,
                S.fires - c->fires0, S.ticks - c->ticks0);
  uv_close((uv_handle_t *)&S.ticker, NULL);
}

static uint8_t link_bytes[1024];

/* To a process of our own node: each send is delivered at once and its
 * done queued; no socket is involved to break the chain. */
START_TEST(lent_chain_to_ourselves_lets_timers_run) {
  start_node("chain");
  ck_assert_int_eq(ep_proc_new(S.node, "box", box_cb, NULL, &S.box), 0);
  chain c = {0};
  c.to = ep_proc_pid(S.box);
  c.msg = ep_binary(S.a, link_bytes, sizeof link_bytes);
  run_chain(&c);
  ck_assert_int_eq(S.chained, c.done);
  close_node_and_loop();
}
END_TEST

/* Our node connected to the target, whose pinger streams 3000 ticks to
 * our process "box"; returns once the first has arrived. */
static void start_chain_with_ticks(void) {
  start_node("chain");
  connect_target();
  ck_assert_int_eq(ep_proc_new(S.node, "box", box_cb, NULL, &S.box), 0);
  ck_assert_int_eq(ep_node_send_named(S.node, S.box, target, "pinger", EP_TUPLE(S.a, ep_proc_pid(S.box), ep_int(3000))), 0);
  WAIT(S.ticks >= 1, 5000, "first tick");
}

/* To the target, while the target streams ticks to us. */
START_TEST(lent_chain_to_a_peer_lets_reads_and_timers_run) {
  start_chain_with_ticks();
  ep_arena *a = S.a;
  chain c = {0};
  c.to = EP_TUPLE(a, ep_atom("sink"), ep_atom(target)); /* nobody: dropped */
  c.msg = ep_binary(a, link_bytes, sizeof link_bytes);
  c.want_ticks = true;
  run_chain(&c);
  close_node_and_loop();
}
END_TEST

/* The same with messages large enough to be lent (written from the
 * sender's memory). */
START_TEST(lent_chain_of_large_messages_to_a_peer) {
  start_chain_with_ticks();
  ep_arena *a = S.a;
  static uint8_t large[(size_t)128 << 10];
  chain c = {0};
  c.to = EP_TUPLE(a, ep_atom("sink"), ep_atom(target));
  ep_term bin = ep_none();
  bin.type = EP_T_BINARY;
  bin.n = sizeof large;
  bin.v.bytes = large; /* lent, not copied */
  c.msg = bin;
  c.want_ticks = true;
  run_chain(&c);
  close_node_and_loop();
}
END_TEST

int main(void) {
  Suite *s = suite_create("node_ownloop");
  TCase *tc = tcase_create("caller's loop");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 90);
  tcase_add_test(tc, whole_life_with_run_once);
  tcase_add_test(tc, whole_life_with_run_nowait);
  tcase_add_test(tc, close_while_starting);
  tcase_add_test(tc, start_in_every_epmd_mode);
  tcase_add_test(tc, close_waiting_for_a_stalled_peer_does_not_spin);
  tcase_add_test(tc, lent_chain_to_ourselves_lets_timers_run);
  tcase_add_test(tc, lent_chain_to_a_peer_lets_reads_and_timers_run);
  tcase_add_test(tc, lent_chain_of_large_messages_to_a_peer);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
