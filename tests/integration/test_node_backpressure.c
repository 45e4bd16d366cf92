/* Backpressure against real erl nodes (docs/limits.md):
 * - a node that stops reading (SIGSTOP) does not grow our send queue
 *   without bound: past the configured limit a send, and a call, fail with
 *   EP_EBACKPRESSURE, while another node is served as before; once the
 *   stopped one runs again the queue drains and sends go through;
 * - calls in flight to one node are capped (a small configured maximum,
 *   calls that sleep there): the next fails with EP_ETOOMANYCALLS, and once
 *   answers come back new calls go through. */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_node.h"
#include "ep_testenv.h"

static struct {
  ep_testenv *env;
  char slow[256], other[256];
  pid_t slow_pid, other_pid;
  bool stopped;
  ep_node *node;
  ep_arena *a;
  int answered, ok;
} W;

static void up(size_t send_queue_limit, uint32_t max_calls) {
  memset(&W, 0, sizeof W);
  W.env = ep_testenv_new();
  ck_assert_int_eq(ep_testenv_start_epmd(W.env), 0);
  W.slow_pid = ep_testenv_start_erl(W.env, "slow", NULL, W.slow, sizeof W.slow);
  ck_assert_int_gt(W.slow_pid, 0);
  W.other_pid = ep_testenv_start_erl(W.env, "other", NULL, W.other, sizeof W.other);
  ck_assert_int_gt(W.other_pid, 0);
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, "bp"), 0);
  ep_node_opts_set_epmd_mode(o, EP_EPMD_EXTERNAL);
  ep_node_opts_set_send_queue_limit(o, send_queue_limit);
  ep_node_opts_set_max_calls(o, max_calls);
  ck_assert_int_eq(ep_node_start_sync(o, &W.node), 0);
  ep_node_opts_free(o);
  W.a = ep_arena_new(NULL);
}

static void down(void) {
  if (W.stopped) kill(W.slow_pid, SIGCONT);
  if (W.node) ep_node_free(W.node);
  ep_arena_free(W.a);
  ep_testenv_free(W.env);
}

static bool after_one_look(void *ud) { return ++*(int *)ud > 1; }
static void run_one_turn(void) {
  int looks = 0;
  ck_assert_int_eq(ep_node_run_until(W.node, after_one_look, &looks, 10000), 0);
}
static bool drained(void *ud) { return ep_node_queued(W.node, ud) == 0; }


static void call_ok(const char *peer) {
  ep_result r;
  int s = ep_rpc_call_sync(W.node, peer, "erlang", "abs", EP_LIST(W.a, ep_int(-7)), 10000, W.a, &r);
  ck_assert_msg(s == 0, "call %s: %s", peer, ep_strerror(s));
  ck_assert(ep_term_eq(r.value, ep_int(7)));
}

#define LIMIT ((size_t)1 << 20)
#define CHUNK ((size_t)64 << 10)

START_TEST(a_node_that_stops_reading_meets_the_send_queue_limit) {
  up(LIMIT, 0);
  ck_assert_int_eq(ep_node_ping_sync(W.node, W.slow, 10000), 0);
  ck_assert_int_eq(ep_node_ping_sync(W.node, W.other, 10000), 0);
  ck_assert_int_eq(kill(W.slow_pid, SIGSTOP), 0);
  W.stopped = true;
  uint8_t *b = calloc(1, CHUNK);
  ep_term msg = ep_binary(W.a, b, CHUNK);
  /* The kernel's socket buffers take a few MiB first; then our queue grows
   * to the limit and no further. Bounded: 4096 chunks are 256 MiB. */
  int r = 0;
  size_t sent = 0;
  for (; sent < 4096 && !r; sent++) {
    r = ep_node_send_named(W.node, NULL, W.slow, "nobody", msg);
    run_one_turn();
  }
  ck_assert_msg(r == EP_EBACKPRESSURE, "after %zu sends: %s", sent, ep_strerror(r));
  size_t q = ep_node_queued(W.node, W.slow);
  ck_assert_uint_gt(q, LIMIT);
  ck_assert_uint_le(q, LIMIT + 2 * CHUNK); /* past by one message at most */
  /* It stays refused, for a call too, and the queue does not grow. */
  ck_assert_int_eq(ep_node_send_named(W.node, NULL, W.slow, "nobody", msg), EP_EBACKPRESSURE);
  ep_result rr;
  ck_assert_int_eq(ep_rpc_call_sync(W.node, W.slow, "erlang", "node", ep_nil(), 2000, W.a, &rr), EP_EBACKPRESSURE);
  ck_assert_uint_eq(ep_node_queued(W.node, W.slow), q);
  ck_assert_str_eq(ep_strerror(EP_EBACKPRESSURE), "the connection's send queue is full: the peer is not reading");
  /* The other node is served meanwhile. */
  for (int i = 0; i < 20; i++) call_ok(W.other);
  ck_assert_int_eq(ep_node_send_named(W.node, NULL, W.other, "nobody", msg), 0);
  /* Running again, the slow one reads the queue and takes sends again. */
  ck_assert_int_eq(kill(W.slow_pid, SIGCONT), 0);
  W.stopped = false;
  ck_assert_int_eq(ep_node_run_until(W.node, drained, W.slow, 30000), 0);
  ck_assert_int_eq(ep_node_send_named(W.node, NULL, W.slow, "nobody", msg), 0);
  call_ok(W.slow);
  free(b);
  down();
}
END_TEST

#define MAXCALLS 8

static void on_answer(ep_node *n, const ep_result *r, void *ud) {
  (void)n, (void)ud;
  W.answered++;
  if (r->status == 0) W.ok++;
}
static bool all_answered(void *ud) { return W.answered >= *(int *)ud; }

START_TEST(calls_in_flight_are_capped) {
  up(0, MAXCALLS);
  ck_assert_int_eq(ep_node_ping_sync(W.node, W.slow, 10000), 0);
  /* MAXCALLS calls that sleep 1 s there fill the slots... */
  for (int i = 0; i < MAXCALLS; i++)
    ck_assert_int_eq(ep_rpc_call(W.node, W.slow, "timer", "sleep", EP_LIST(W.a, ep_int(1000)), 20000, on_answer, NULL),
                     0);
  /* ...so the next fails at once, a multi-call too, without a callback. */
  ck_assert_int_eq(ep_rpc_call(W.node, W.slow, "erlang", "node", ep_nil(), 20000, on_answer, NULL), EP_ETOOMANYCALLS);
  ep_rpc_item it = {"erlang", "node", ep_nil()};
  ep_rpc_multi_result mr;
  ck_assert_int_eq(ep_rpc_multi_sync(W.node, W.slow, &it, 1, 5000, W.a, &mr), EP_ETOOMANYCALLS);
  /* A short name counts as the same node. */
  ck_assert_int_eq(ep_rpc_call(W.node, "slow", "erlang", "node", ep_nil(), 20000, on_answer, NULL), EP_ETOOMANYCALLS);
  /* Another node has slots of its own. */
  call_ok(W.other);
  ck_assert_int_eq(W.answered, 0);
  int want = MAXCALLS;
  ck_assert_int_eq(ep_node_run_until(W.node, all_answered, &want, 20000), 0);
  ck_assert_int_eq(W.ok, MAXCALLS);
  /* The slots are free again: as many calls go through. */
  for (int i = 0; i < MAXCALLS; i++)
    ck_assert_int_eq(ep_rpc_call(W.node, W.slow, "erlang", "node", ep_nil(), 20000, on_answer, NULL), 0);
  want = 2 * MAXCALLS;
  ck_assert_int_eq(ep_node_run_until(W.node, all_answered, &want, 20000), 0);
  ck_assert_int_eq(W.ok, 2 * MAXCALLS);
  /* A timed-out call frees its slot too. */
  for (int i = 0; i < MAXCALLS; i++)
    ck_assert_int_eq(ep_rpc_call(W.node, W.slow, "timer", "sleep", EP_LIST(W.a, ep_int(5000)), 300, on_answer, NULL),
                     0);
  want = 3 * MAXCALLS;
  ck_assert_int_eq(ep_node_run_until(W.node, all_answered, &want, 20000), 0);
  call_ok(W.slow);
  down();
}
END_TEST

int main(void) {
  Suite *s = suite_create("node backpressure");
  TCase *tc = tcase_create("backpressure");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, a_node_that_stops_reading_meets_the_send_queue_limit);
  tcase_add_test(tc, calls_in_flight_are_capped);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
