/* Calls in flight when their node is lost: every one of them fails, once,
 * even when a failure callback starts new calls (which grows the table of
 * calls, and goes to the same node on a new connection); the new calls are
 * not failed with the old connection, they get their answers. */
#include <check.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_node.h"
#include "ep_testworld.h"

static ep_testworld W;

static void setup(void) { ep_testworld_up(&W, "ctl"); }
static void teardown(void) { ep_testworld_down(&W); }

#define OLD_CALLS 8
#define NEW_CALLS 40

static int old_failed, old_wrong, new_done, new_ok;

static void on_new(ep_node *n, const ep_result *r, void *ud) {
  (void)n, (void)ud;
  new_done++;
  if (r->status == 0) new_ok++;
}

static void on_old(ep_node *n, const ep_result *r, void *ud) {
  (void)ud;
  old_failed++;
  if (r->status != EP_ENODEDOWN) old_wrong++;
  if (old_failed > 1) return;
  for (int i = 0; i < NEW_CALLS; i++)
    ck_assert_int_eq(ep_rpc_call(n, "target", "erlang", "node", ep_nil(), 20000, on_new, NULL), 0);
}

static bool all_new_done(void *ud) {
  (void)ud;
  return new_done == NEW_CALLS;
}

START_TEST(every_call_fails_when_a_callback_calls_again) {
  ck_assert_int_eq(ep_node_ping_sync(W.node, "target", 10000), 0);
  /* calls that never end by themselves (timer:sleep(infinity), timeout
   * infinity): only the lost connection ends them */
  for (int i = 0; i < OLD_CALLS; i++)
    ck_assert_int_eq(
        ep_rpc_call(W.node, "target", "timer", "sleep", EP_LIST(W.a, ep_atom("infinity")), EP_INFINITY, on_old, NULL), 0);
  ck_assert_int_eq(ep_node_disconnect(W.node, "target"), 0);
  /* Failed at once, from inside ep_node_disconnect. */
  ck_assert_int_eq(old_failed, OLD_CALLS);
  ck_assert_int_eq(old_wrong, 0);
  ck_assert_int_eq(new_done, 0);
  ck_assert_int_eq(ep_node_run_until(W.node, all_new_done, NULL, 30000), 0);
  ck_assert_int_eq(new_ok, NEW_CALLS);
  ck_assert_int_eq(old_failed, OLD_CALLS);
}
END_TEST

int main(void) {
  Suite *s = suite_create("rpc_lost");
  TCase *tc = tcase_create("real erl");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, every_call_fails_when_a_callback_calls_again);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
