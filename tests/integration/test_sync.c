/* The blocking layer (lib/ep_sync.c): a blocking call made inside a
 * callback of the loop it would run is refused with EP_EINCALLBACK, and the
 * loop goes on; a blocking call on a node that runs on the caller's own loop
 * is refused the same way; a controller freed from inside a callback ends
 * the blocking call in progress with EP_ECLOSED, leaving nothing behind
 * (ASan's leak check, and the peer's process is gone). Peers over
 * standard_io (a real erl), a node with no EPMD for the rest. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <uv.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_node.h"
#include "ep_peer.h"
#include "ep_testenv.h"

static ep_testenv *env;
static void setup(void) { env = ep_testenv_new(); }
static void teardown(void) { ep_testenv_free(env); }

static ep_peer_opts *stdio_opts(void) {
  ep_peer_opts *o = ep_peer_opts_new();
  ck_assert_int_eq(ep_peer_opts_set_connection_stdio(o), 0);
  ep_peer_opts_set_wait_boot(o, 20000);
  return o;
}

typedef struct {
  ep_ctl *ctl;
  int call, poll, start, runnings;
  bool free_ctl;
  long pid;
} inside;

static void on_state(ep_peer *p, ep_peer_state st, int err, void *ud) {
  (void)err;
  inside *in = ud;
  if (st != EP_PEER_RUNNING) return;
  in->runnings++;
  in->pid = ep_peer_os_pid(p);
  ep_arena *a = ep_arena_new(NULL);
  ep_result r;
  in->call = ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("node"), ep_nil(), 5000, a, &r);
  ep_arena_free(a);
  in->poll = ep_ctl_poll(in->ctl, 10);
  ep_peer *q;
  ep_peer_opts *o = stdio_opts();
  in->start = ep_peer_start_sync(in->ctl, o, true, &q);
  ep_peer_opts_free(o);
  if (in->free_ctl) ep_ctl_free(in->ctl);
}

START_TEST(peer_blocking_calls_inside_a_callback_are_refused) {
  inside in = {ep_ctl_new(NULL), 1, 1, 1, 0, false, 0};
  ep_peer_opts *o = stdio_opts();
  ep_peer_opts_set_state_cb(o, on_state, &in);
  ep_peer *p;
  ck_assert_int_eq(ep_peer_start_sync(in.ctl, o, true, &p), 0);
  ep_peer_opts_free(o);
  ck_assert_int_eq(in.runnings, 1);
  ck_assert_int_eq(in.call, EP_EINCALLBACK);
  ck_assert_int_eq(in.poll, EP_EINCALLBACK);
  ck_assert_int_eq(in.start, EP_EINCALLBACK);
  /* The loop went on: the peer answers, from outside any callback. */
  ep_arena *a = ep_arena_new(NULL);
  ep_result r;
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("node"), ep_nil(), 5000, a, &r), 0);
  ck_assert(ep_atom_eq(r.value, "nonode@nohost"));
  ep_arena_free(a);
  /* No arena to copy the result into: refused, and the result says so. */
  r.status = 1;
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("node"), ep_nil(), 5000, NULL, &r), EP_EINVAL);
  ck_assert_int_eq(r.status, EP_EINVAL);
  ck_assert_int_eq(ep_ctl_poll(in.ctl, 0), 0);
  ep_ctl_free(in.ctl);
}
END_TEST

START_TEST(controller_freed_inside_a_callback) {
  inside in = {ep_ctl_new(NULL), 1, 1, 1, 0, true, 0};
  ep_peer_opts *o = stdio_opts();
  ep_peer_opts_set_state_cb(o, on_state, &in);
  ep_peer *p;
  ck_assert_int_eq(ep_peer_start_sync(in.ctl, o, true, &p), EP_ECLOSED);
  ep_peer_opts_free(o);
  ck_assert_int_eq(in.runnings, 1);
  ck_assert_ptr_null(p);
  /* the peer's emulator went with the controller: it was our child, and
   * has been reaped before the call returned */
  ck_assert_int_gt(in.pid, 0);
  ck_assert_int_eq(kill((pid_t)in.pid, 0), -1);
}
END_TEST

static void on_started(ep_node *n, int status, void *ud) {
  (void)n;
  *(int *)ud = status == 0 ? 1 : -1;
}
static void on_closed(ep_node *n, void *ud) {
  (void)n;
  *(int *)ud = 2;
}

START_TEST(node_on_the_callers_loop_refuses_blocking_calls) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  ep_node_opts *o = ep_node_opts_new();
  ep_node_opts_set_epmd_mode(o, EP_EPMD_NONE);
  ck_assert_int_eq(ep_node_opts_set_cookie(o, "c"), 0);
  int st = 0;
  ep_node *n;
  ck_assert_int_eq(ep_node_start(&loop, o, on_started, &st, &n), 0);
  ep_node_opts_free(o);
  while (!st) uv_run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(st, 1);
  ep_arena *a = ep_arena_new(NULL);
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(n, "x@localhost", "erlang", "node", ep_nil(), 100, a, &r), EP_EINCALLBACK);
  ck_assert_int_eq(ep_node_ping_sync(n, "x@localhost", 100), EP_EINCALLBACK);
  ep_arena_free(a);
  ep_node_close(n, on_closed, &st);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(st, 2);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("sync");
  TCase *tc = tcase_create("blocking layer");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, peer_blocking_calls_inside_a_callback_are_refused);
  tcase_add_test(tc, controller_freed_inside_a_callback);
  tcase_add_test(tc, node_on_the_callers_loop_refuses_blocking_calls);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
