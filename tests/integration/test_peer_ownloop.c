/* The peer controller's asynchronous API on a loop the caller owns and
 * drives itself: ep_ctl_new(&loop), then nothing but the caller's own
 * `while (!done) uv_run(loop, UV_RUN_ONCE)` (no *_sync call, no
 * ep_ctl_poll, no prepare handle that stops the loop for it).
 *
 * Every wait is bounded by a guard timer of the caller's on the same loop,
 * and a wait that only the guard ended fails: a completion that sets the
 * caller's flag but leaves uv_run blocked in poll until something
 * unrelated wakes the loop would hang a caller whose loop has nothing else
 * to do. libuv before 1.45 (1.44 here) runs due timers first thing in
 * uv_run, then polls with a timeout computed as if nothing had run: a
 * callback the controller delivers from a timer (a 0 ms deferral, a call
 * deadline that passed while the caller was busy) must still let that
 * uv_run return. So every wait also checks that uv_run returned soon after
 * the callback that ended it (an unrelated event, e.g. the peer's output,
 * would otherwise hide the block).
 *
 * Covered, over standard_io and TCP (and one dist peer, on a hidden node
 * started on the same loop): a start that succeeds, starts that fail (no
 * such program, exit before boot, boot timeout, TCP accept timeout),
 * wait_boot none (the start reported from a 0 ms timer), calls, an
 * exception, a call timeout on its own timer and one that passed while the
 * caller was busy, stop in the close, halt and stop modes and past a
 * shutdown timeout (a peer that ignores it), stop of a peer already down
 * (reported from a 0 ms timer). At the end uv_run(UV_RUN_DEFAULT) returns
 * and uv_loop_close succeeds. An idle controller, with or without peers,
 * must let UV_RUN_ONCE block: CPU time and loop turns over an idle second
 * are measured. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_node.h"
#include "ep_peer.h"
#include "ep_testenv.h"
#include "ep_testpeer.h"
#include "ep_text.h"

/* --- the caller: its loop, and a guard timer that bounds every wait -------------------- */

static struct {
  uv_loop_t loop;
  uv_timer_t guard;
  bool expired;
  long turns;      /* uv_run calls made */
  uint64_t marked; /* uv_hrtime() of the last completion callback */
} L;

/* How long after a completion callback uv_run may take to return (a
 * blocked poll lasts until the guard or a late event, seconds; a loaded
 * machine may deschedule us for a moment). */
#define MAX_LAG_MS 500

static void on_guard(uv_timer_t *t) {
  L.expired = true;
  uv_stop(t->loop); /* also ends the final UV_RUN_DEFAULT */
}

static void guard_start(uint64_t ms) {
  L.expired = false;
  uv_timer_start(&L.guard, on_guard, ms, 0);
}

static void mark(void) { L.marked = uv_hrtime(); }

/* Runs the loop the way the caller's own code would, until cond holds or
 * ms pass (the guard). */
#define DRIVE(cond, ms)               \
  do {                                \
    guard_start(ms);                  \
    while (!(cond) && !L.expired) {   \
      uv_run(&L.loop, UV_RUN_ONCE);   \
      L.turns++;                      \
    }                                 \
    uv_timer_stop(&L.guard);          \
  } while (0)

/* The guard firing fails the wait even when cond then holds, and so does a
 * uv_run that returned long after the callback that made cond true. */
#define WAIT(cond, ms, what)                                                                             \
  do {                                                                                                   \
    long turns0_ = L.turns;                                                                              \
    DRIVE(cond, ms);                                                                                     \
    uint64_t back_ = uv_hrtime();                                                                        \
    ck_assert_msg((cond) && !L.expired, "%s: %s within %d ms of uv_run(UV_RUN_ONCE)", what,             \
                  (cond) ? "only woken by the caller's guard timer" : "not done", (int)(ms));            \
    if (L.turns > turns0_)                                                                               \
      ck_assert_msg(back_ - L.marked < (uint64_t)MAX_LAG_MS * 1000000, "%s: uv_run returned %d ms after " \
                    "the callback", what, (int)((back_ - L.marked) / 1000000));                          \
  } while (0)

/* --- what the callbacks saw -------------------------------------------------------------- */

static struct {
  int started, start_err;
  int stopped;
  int called;
  ep_result r;
  int runnings, downs, down_err;
  bool node_started, node_closed;
  int node_status;
  int seq, start_seq, stop_seq, call_seq; /* the order callbacks came in */
} S;

static ep_testenv *env;
static ep_ctl *ctl;
static ep_node *node; /* the dist test's */
static ep_arena *A;

static void on_start(ep_peer *p, int err, void *ud) {
  (void)p, (void)ud;
  S.started++;
  S.start_err = err;
  S.start_seq = ++S.seq;
  mark();
}

static void on_stop(ep_peer *p, void *ud) {
  (void)p, (void)ud;
  S.stopped++;
  S.stop_seq = ++S.seq;
  mark();
}

/* The result is lent for the callback: what the test reads later is
 * copied into the test's arena. */
static void on_call(ep_peer *p, const ep_result *r, void *ud) {
  (void)p, (void)ud;
  S.r = *r;
  S.r.value = ep_term_copy(A, r->value);
  S.r.cls = ep_term_copy(A, r->cls);
  S.r.reason = ep_term_copy(A, r->reason);
  S.r.stack = ep_term_copy(A, r->stack);
  S.r.arena = A;
  S.called++;
  S.call_seq = ++S.seq;
  mark();
}

static void on_state(ep_peer *p, ep_peer_state st, int err, void *ud) {
  (void)p, (void)ud;
  if (st == EP_PEER_RUNNING) S.runnings++;
  if (st == EP_PEER_DOWN) {
    S.downs++;
    S.down_err = err;
  }
}

static void on_node_started(ep_node *n, int status, void *ud) {
  (void)n, (void)ud;
  S.node_started = true;
  S.node_status = status;
  mark();
}

static void on_node_closed(ep_node *n, void *ud) {
  (void)n, (void)ud;
  S.node_closed = true;
  mark();
}

static void setup(void) {
  memset(&S, 0, sizeof S);
  memset(&L, 0, sizeof L);
  env = ep_testenv_new();
  ck_assert_int_eq(uv_loop_init(&L.loop), 0);
  uv_timer_init(&L.loop, &L.guard);
  ctl = ep_ctl_new(&L.loop);
  ck_assert_ptr_nonnull(ctl);
  ck_assert_ptr_eq(ep_ctl_loop(ctl), &L.loop);
  node = NULL;
  A = ep_arena_new(NULL);
}

static void teardown(void) {
  ep_arena_free(A);
  ep_testenv_free(env);
  env = NULL;
}

static long cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* A second with nothing to do: UV_RUN_ONCE must block in poll, not spin. */
static void idle_second(const char *what) {
  bool never = false;
  long c0 = cpu_us(), t0 = L.turns;
  DRIVE(never, 1000);
  long used = cpu_us() - c0, turns = L.turns - t0;
  fprintf(stderr, "peer_ownloop: %s: idle for 1 s: %ld us CPU, %ld loop turns\n", what, used, turns);
  ck_assert_msg(used < 50000 && turns < 20, "%s: an idle controller used %ld us CPU in %ld loop turns over 1 s",
                what, used, turns);
}

static void print_open(uv_handle_t *h, void *ud) {
  (void)ud;
  if (h == (uv_handle_t *)&L.guard || uv_is_closing(h)) return;
  fprintf(stderr, "left on the caller's loop: a %s handle (%s)\n", uv_handle_type_name(uv_handle_get_type(h)),
          uv_is_active(h) ? "active" : "inactive");
}

/* Frees the controller (and closes the node); then uv_run(UV_RUN_DEFAULT)
 * returns by itself (the guard, unreferenced, only bounds it) and the loop
 * closes: nothing of the controller is left on it. */
static void end_loop(void) {
  ep_ctl_free(ctl);
  ctl = NULL;
  if (node) {
    ep_node_close(node, on_node_closed, NULL);
    WAIT(S.node_closed, 10000, "node close");
    node = NULL;
  }
  uv_unref((uv_handle_t *)&L.guard);
  guard_start(20000);
  int alive = uv_run(&L.loop, UV_RUN_DEFAULT);
  if (L.expired || alive) uv_walk(&L.loop, print_open, NULL);
  ck_assert_msg(!L.expired, "uv_run(UV_RUN_DEFAULT) still running after 20 s");
  ck_assert_int_eq(alive, 0);
  uv_close((uv_handle_t *)&L.guard, NULL);
  ck_assert_int_eq(uv_run(&L.loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&L.loop), 0);
}

/* --- peers ------------------------------------------------------------------------------- */

/* The shared options, plus the state callback these tests count. */
static ep_peer_opts *own_opts(int kind) {
  ep_peer_opts *o = opts_for(kind);
  ep_peer_opts_set_state_cb(o, on_state, NULL);
  return o;
}

/* A "peer" that is bash running script (the erl arguments follow as $@). */
static ep_peer_opts *script_opts(int kind, const char *script, uint64_t wait_boot) {
  ep_peer_opts *o = own_opts(kind);
  const char *pre[] = {"-c", script, "sh", NULL};
  ck_assert_int_eq(ep_peer_opts_set_exec(o, "/bin/bash", pre), 0);
  ck_assert_int_eq(ep_peer_opts_set_wait_boot(o, wait_boot), 0);
  return o;
}

/* Starts a peer and waits for the start callback, which must say want. */
static ep_peer *start_peer(const ep_peer_opts *o, int want, int ms, const char *what) {
  ep_peer *p;
  S.started = 0;
  S.start_err = 1;
  ck_assert_int_eq(ep_peer_start(ctl, o, true, &p, on_start, NULL), 0);
  ck_assert_int_eq(S.started, 0); /* never from inside the call */
  WAIT(S.started, ms, what);
  ck_assert_int_eq(S.started, 1);
  ck_assert_msg(S.start_err == want, "%s: start reported %s (%s), not %s", what, ep_err_name(S.start_err),
                ep_peer_down_reason(p), ep_err_name(want));
  return p;
}

static void stop_peer(ep_peer *p, int ms, const char *what) {
  S.stopped = 0;
  ck_assert_int_eq(ep_peer_stop(p, on_stop, NULL), 0);
  ck_assert_int_eq(S.stopped, 0);
  WAIT(S.stopped, ms, what);
  ck_assert_int_eq(S.stopped, 1);
  ck_assert_int_eq(ep_peer_get_state(p), EP_PEER_DOWN);
}

/* Stopping a peer already down completes from the loop (a 0 ms timer):
 * nothing else happens on the loop meanwhile. */
static void stop_down_peer(ep_peer *p) {
  ck_assert_int_eq(ep_peer_get_state(p), EP_PEER_DOWN);
  stop_peer(p, 5000, "stop of a peer already down");
}

static void call(ep_peer *p, const char *m, const char *f, const char *args, uint32_t timeout_ms, const char *what) {
  S.called = 0;
  ck_assert_int_eq(ep_peer_call(p, ep_atom(m), ep_atom(f), args_of(A, args), timeout_ms, on_call, NULL), 0);
  ck_assert_int_eq(S.called, 0);
  WAIT(S.called, 10000, what);
  ck_assert_int_eq(S.called, 1);
}

/* Calls, an exception, and both kinds of call timeout on a running peer. */
static void calls(ep_peer *p) {
  call(p, "lists", "seq", "[1, 3]", 5000, "call");
  ck_assert_int_eq(S.r.status, 0);
  ck_assert_str_eq(result_text(&S.r), "[1,2,3]");
  call(p, "erlang", "error", "[boom]", 5000, "call raising");
  ck_assert_int_eq(S.r.status, EP_EEXCEPTION);
  ck_assert(ep_atom_eq(S.r.cls, "error"));

  /* On the call's own timer, nothing else waking the loop meanwhile. */
  uint64_t h0 = uv_hrtime();
  call(p, "timer", "sleep", "[5000]", 300, "call timing out");
  uint64_t ms = (uv_hrtime() - h0) / 1000000;
  ck_assert_int_eq(S.r.status, EP_ETIMEDOUT);
  ck_assert_msg(ms >= 250 && ms < 3000, "timed out after %d ms", (int)ms);

  /* A deadline that passed while the caller was busy elsewhere: its timer
   * fires first thing in the next uv_run (before the poll, with libuv
   * before 1.45), which must not then block. */
  S.called = 0;
  ck_assert_int_eq(ep_peer_call(p, ep_atom("timer"), ep_atom("sleep"), args_of(A, "[5000]"), 100, on_call, NULL), 0);
  usleep(300000);
  WAIT(S.called, 5000, "call timed out while the caller was busy");
  ck_assert_int_eq(S.r.status, EP_ETIMEDOUT);

  /* The late replies are dropped; the peer still answers. */
  call(p, "erlang", "abs", "[-4]", 5000, "call after timeouts");
  ck_assert_int_eq(S.r.status, 0);
  ck_assert_int_eq(S.r.value.v.i, 4);
}

/* --- tests ------------------------------------------------------------------------------- */

START_TEST(idle_controller_without_peers) {
  idle_second("no peers");
  end_loop();
}
END_TEST

/* Start, calls, idle, stop (halt: waits until the emulator is gone), stop
 * again once down. */
START_TEST(whole_life) {
  ep_peer_opts *o = own_opts(_i);
  ep_peer *p = start_peer(o, 0, 20000, "start");
  ep_peer_opts_free(o);
  ck_assert_int_eq(ep_peer_get_state(p), EP_PEER_RUNNING);
  ck_assert_int_eq(S.runnings, 1);
  ck_assert_str_eq(ep_peer_node(p), "nonode@nohost");
  idle_second(_i ? "tcp peer running" : "standard_io peer running");
  calls(p);
  long pid = ep_peer_os_pid(p);
  ck_assert_int_gt(pid, 0);
  idle_second(_i ? "tcp peer after calls" : "standard_io peer after calls");
  stop_peer(p, 10000, "stop (halt)");
  ck_assert_msg(ep_testenv_wait_pid_gone(pid, 0), "%s: halt returned before the emulator exited", kind_name[_i]);
  ck_assert_int_eq(S.downs, 1);
  stop_down_peer(p);
  ep_peer_free(p);
  end_loop();
}
END_TEST

/* close (returns at once; the peer halts by itself) and stop (init:stop,
 * waits for the emulator to go). */
START_TEST(shutdown_close_and_stop) {
  static const struct {
    ep_peer_shutdown mode;
    uint32_t ms;
    const char *what;
  } modes[] = {{EP_PEER_SHUTDOWN_CLOSE, 0, "stop (close)"}, {EP_PEER_SHUTDOWN_STOP, 5000, "stop (init:stop)"}};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    ep_peer_opts *o = own_opts(_i);
    ck_assert_int_eq(ep_peer_opts_set_shutdown(o, modes[i].mode, modes[i].ms), 0);
    ep_peer *p = start_peer(o, 0, 20000, "start");
    ep_peer_opts_free(o);
    long pid = ep_peer_os_pid(p);
    ck_assert_int_gt(pid, 0);
    stop_peer(p, 10000, modes[i].what);
    ck_assert_msg(ep_testenv_wait_pid_gone(pid, modes[i].mode == EP_PEER_SHUTDOWN_CLOSE ? 10000 : 0),
                  "%s %s: the emulator is still there", kind_name[_i], modes[i].what);
    stop_down_peer(p);
    ep_peer_free(p);
  }
  end_loop();
}
END_TEST

/* Starts that fail, each reported from the loop; stop of each failed peer. */
START_TEST(start_failures) {
  ep_peer *p;
  /* No such program: an error from the call, no callback, nothing left. */
  ep_peer_opts *o = own_opts(_i);
  ep_peer_opts_set_exec(o, "/nonexistent/erl", NULL);
  S.started = 0;
  ck_assert_int_eq(ep_peer_start(ctl, o, true, &p, on_start, NULL), EP_ESPAWN);
  ck_assert_ptr_null(p);
  ep_peer_opts_free(o);

  /* Exits before it boots. */
  o = script_opts(_i, "exit 7", 10000);
  p = start_peer(o, EP_EBOOT, 10000, "start of a peer that exits");
  ep_peer_opts_free(o);
  ck_assert_str_eq(ep_peer_down_reason(p), "{exit_status,7}");
  stop_down_peer(p);
  ep_peer_free(p);

  /* Never boots: wait_boot passes, the peer is killed. */
  uint64_t h0 = uv_hrtime();
  o = script_opts(_i, "exec sleep 30", 700);
  p = start_peer(o, EP_ETIMEDOUT, 5000, "boot timeout");
  ep_peer_opts_free(o);
  ck_assert_msg((uv_hrtime() - h0) / 1000000 < 3000, "boot timeout took %d ms", (int)((uv_hrtime() - h0) / 1000000));
  ck_assert_str_eq(ep_peer_down_reason(p), "timeout");
  stop_down_peer(p);
  ep_peer_free(p);

  if (_i == 1) {
    /* A TCP peer that never connects back. */
    o = script_opts(_i, "exec sleep 30", 20000);
    ep_peer_opts_set_accept_timeout(o, 700);
    p = start_peer(o, EP_ENOCONNECT, 5000, "accept timeout");
    ep_peer_opts_free(o);
    stop_down_peer(p);
    ep_peer_free(p);
  }

  /* A peer that boots for ever (wait_boot async): the controller waits
   * for it without spinning; freeing it kills it. */
  o = script_opts(_i, "exec sleep 30", 20000);
  ep_peer_opts_set_wait_boot(o, EP_INFINITY);
  S.started = 0;
  ck_assert_int_eq(ep_peer_start(ctl, o, true, &p, on_start, NULL), 0);
  ep_peer_opts_free(o);
  idle_second("a peer booting");
  ck_assert_int_eq(S.started, 0);
  ep_peer_free(p);
  end_loop();
  /* nothing tagged is left (the sleeps were killed) */
  ck_assert_int_eq(ep_sweep_tag(ep_testenv_tag(env), 0), 0);
}
END_TEST

/* wait_boot none: the start is reported from a 0 ms timer right after the
 * spawn, and the peer does nothing else; then a stop past its timeout (the
 * "peer" ignores the closed connection and is killed). */
START_TEST(wait_boot_none_and_shutdown_timeout) {
  ep_peer_opts *o = script_opts(_i, "exec sleep 30", EP_PEER_WAIT_NONE);
  ck_assert_int_eq(ep_peer_opts_set_shutdown(o, EP_PEER_SHUTDOWN_HALT, 1000), 0);
  ep_peer *p = start_peer(o, 0, 5000, "start with wait_boot none");
  ep_peer_opts_free(o);
  ck_assert_int_eq(ep_peer_get_state(p), EP_PEER_BOOTING);
  uint64_t h0 = uv_hrtime();
  stop_peer(p, 5000, "stop past its timeout");
  uint64_t ms = (uv_hrtime() - h0) / 1000000;
  ck_assert_msg(ms >= 900 && ms < 3000, "stop took %d ms", (int)ms);
  ck_assert_int_eq(ep_peer_exit_status(p), 128 + SIGKILL);
  stop_down_peer(p);
  ep_peer_free(p);
  end_loop();
}
END_TEST

/* What a stop owes the caller comes from the loop, never from inside
 * ep_peer_stop, and before the stop's own callback: a start still booting
 * is cancelled, a call in flight closed. */
START_TEST(stop_with_callbacks_owed) {
  ep_peer_opts *o = script_opts(_i, "exec sleep 30", EP_INFINITY);
  ck_assert_int_eq(ep_peer_opts_set_shutdown(o, EP_PEER_SHUTDOWN_HALT, 1000), 0);
  ep_peer *p;
  S.started = 0;
  ck_assert_int_eq(ep_peer_start(ctl, o, true, &p, on_start, NULL), 0);
  ep_peer_opts_free(o);
  S.stopped = 0;
  ck_assert_int_eq(ep_peer_stop(p, on_stop, NULL), 0);
  ck_assert_msg(S.started == 0, "the start callback ran inside ep_peer_stop");
  WAIT(S.stopped, 5000, "stop while booting");
  ck_assert_int_eq(S.started, 1);
  ck_assert_int_eq(S.start_err, EP_ECANCELED);
  ck_assert_int_lt(S.start_seq, S.stop_seq);
  ep_peer_free(p);

  o = own_opts(_i);
  p = start_peer(o, 0, 20000, "start");
  ep_peer_opts_free(o);
  S.called = 0;
  ck_assert_int_eq(ep_peer_call(p, ep_atom("timer"), ep_atom("sleep"), args_of(A, "[5000]"), 10000, on_call, NULL), 0);
  S.stopped = 0;
  ck_assert_int_eq(ep_peer_stop(p, on_stop, NULL), 0);
  ck_assert_msg(S.called == 0, "a call's callback ran inside ep_peer_stop");
  WAIT(S.stopped, 10000, "stop with a call in flight");
  ck_assert_int_eq(S.called, 1);
  ck_assert_int_eq(S.r.status, EP_ECLOSED);
  ck_assert_int_lt(S.call_seq, S.stop_seq);
  ep_peer_free(p);
  end_loop();
}
END_TEST

/* Freeing the controller with a linked peer still running: its
 * connection closes, the peer halts, and the loop runs out by itself. */
START_TEST(ctl_free_with_a_running_peer) {
  ep_peer_opts *o = own_opts(_i);
  ep_peer *p = start_peer(o, 0, 20000, "start");
  ep_peer_opts_free(o);
  long pid = ep_peer_os_pid(p);
  ck_assert_int_gt(pid, 0);
  S.started = S.downs = 0;
  end_loop(); /* ep_ctl_free, then uv_run(UV_RUN_DEFAULT) must return */
  ck_assert_int_eq(S.downs, 0); /* freed: no callback any more */
  ck_assert_msg(ep_testenv_wait_pid_gone(pid, 10000), "%s: the peer outlived its controller", kind_name[_i]);
}
END_TEST

/* A dist peer: the controller on the caller's loop is given a hidden node
 * started on that loop. */
START_TEST(dist_peer) {
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  ep_peer_opts *o = ep_peer_opts_new();
  char name[96];
  ck_assert_int_eq(ep_peer_random_name("own", name, sizeof name), 0);
  ck_assert_int_eq(ep_peer_opts_set_name(o, name), 0);
  ep_peer_opts_set_wait_boot(o, 30000);
  ep_peer_opts_set_state_cb(o, on_state, NULL);
  ep_peer *p;
  ck_assert_int_eq(ep_peer_start(ctl, o, true, &p, on_start, NULL), EP_ENEEDNODE);
  ep_node_opts *no = ep_node_opts_new();
  ep_node_opts_set_epmd_mode(no, EP_EPMD_EXTERNAL);
  ck_assert_int_eq(ep_node_start(&L.loop, no, on_node_started, NULL, &node), 0);
  ep_node_opts_free(no);
  WAIT(S.node_started, 10000, "node start");
  ck_assert_msg(S.node_status == 0, "node start: %s", ep_strerror(S.node_status));
  ck_assert_int_eq(ep_ctl_set_node(ctl, node), 0);
  idle_second("a node, no peer");

  p = start_peer(o, 0, 30000, "dist start");
  ep_peer_opts_free(o);
  ck_assert_ptr_nonnull(strstr(ep_peer_node(p), name));
  idle_second("dist peer running");
  calls(p);
  call(p, "erlang", "node", "[]", 5000, "erlang:node()");
  ck_assert_str_eq(S.r.value.v.str, ep_peer_node(p));
  long pid = ep_peer_os_pid(p);
  ck_assert_int_gt(pid, 0);
  stop_peer(p, 10000, "dist stop (halt)");
  ck_assert(ep_testenv_wait_pid_gone(pid, 0));
  stop_down_peer(p);
  ep_peer_free(p);
  end_loop();
}
END_TEST

int main(void) {
  Suite *s = suite_create("peer_ownloop");
  TCase *tc = tcase_create("caller's loop");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 90);
  EP_ADD(tc, idle_controller_without_peers);
  EP_ADD_LOOP(tc, whole_life, 0, 2);
  EP_ADD_LOOP(tc, shutdown_close_and_stop, 0, 2);
  EP_ADD_LOOP(tc, start_failures, 0, 2);
  EP_ADD_LOOP(tc, wait_boot_none_and_shutdown_timeout, 0, 2);
  EP_ADD_LOOP(tc, stop_with_callbacks_owed, 0, 2);
  EP_ADD_LOOP(tc, ctl_free_with_a_running_peer, 0, 2);
  EP_ADD(tc, dist_peer);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
