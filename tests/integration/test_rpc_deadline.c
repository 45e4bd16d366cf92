/* The node's call deadlines (lib/ep_deadline.c through ep_rpc.c): calls
 * time out in the order of their deadlines, whatever the order they were
 * made in; a call that cannot get a deadline (the heap cannot grow) fails
 * with EP_ENOMEM, and its callback never runs; the node goes on. */
#include <check.h>
#include <stdlib.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_node.h"
#include "ep_testworld.h"

static ep_testworld W;

/* libc, but the next realloc from nothing of exactly the heap's first
 * array (16 entries) fails while armed: the deadline heap's first growth. */
static bool fail_heap_growth;
static long heap_refusals;
static void *t_malloc(size_t n, void *ud) {
  (void)ud;
  return malloc(n);
}
static void *t_realloc(void *p, size_t n, void *ud) {
  (void)ud;
  if (fail_heap_growth && !p && n == 16 * sizeof(void *)) {
    fail_heap_growth = false;
    heap_refusals++;
    return NULL;
  }
  return realloc(p, n);
}
static void t_free(void *p, void *ud) {
  (void)ud;
  free(p);
}
static const ep_mem tmem = {t_malloc, t_realloc, t_free, NULL};

static ep_node *node;

static void setup(void) {
  ep_testworld_up(&W, "ctl");
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, "dl"), 0);
  ep_node_opts_set_epmd_mode(o, EP_EPMD_EXTERNAL);
  ep_node_opts_set_mem(o, &tmem);
  ck_assert_int_eq(ep_node_start_sync(o, &node), 0);
  ep_node_opts_free(o);
  ck_assert_int_eq(ep_node_ping_sync(node, W.target, 10000), 0);
}

static void teardown(void) {
  ep_node_free(node);
  ep_testworld_down(&W);
}

#define CALLS 40

static int order[CALLS], nfired, nwrong;

static void on_timeout(ep_node *n, const ep_result *r, void *ud) {
  (void)n;
  if (r->status != EP_ETIMEDOUT) nwrong++;
  order[nfired++] = (int)(intptr_t)ud;
}

static bool all_fired(void *ud) {
  (void)ud;
  return nfired == CALLS;
}

START_TEST(calls_time_out_in_deadline_order) {
  /* Made latest deadline first (the reverse of a list's order), none
   * answered: the callbacks come earliest first. */
  for (int i = CALLS - 1; i >= 0; i--)
    ck_assert_int_eq(ep_rpc_call(node, W.target, "timer", "sleep", EP_LIST(W.a, ep_atom("infinity")),
                                 (uint64_t)(20 + 15 * i), on_timeout, (void *)(intptr_t)i),
                     0);
  ck_assert_int_eq(ep_node_run_until(node, all_fired, NULL, 20000), 0);
  ck_assert_int_eq(nwrong, 0);
  for (int i = 0; i < CALLS; i++) ck_assert_int_eq(order[i], i);
}
END_TEST

static int refused_cb_runs, later_done, later_status = 1;

static void on_refused(ep_node *n, const ep_result *r, void *ud) {
  (void)n, (void)r, (void)ud;
  refused_cb_runs++;
}

static void on_later(ep_node *n, const ep_result *r, void *ud) {
  (void)n, (void)ud;
  later_done++;
  later_status = r->status;
}

static bool later_in(void *ud) {
  (void)ud;
  return later_done == 2;
}

START_TEST(a_call_without_a_deadline_slot_fails_and_is_never_called) {
  /* No deadline yet: the heap is empty and has no array. A call without a
   * timeout needs none and goes through while the growth is refused. */
  fail_heap_growth = true;
  ck_assert_int_eq(ep_rpc_call(node, W.target, "erlang", "node", ep_nil(), EP_INFINITY, on_later, NULL), 0);
  ck_assert(fail_heap_growth);
  ck_assert_int_eq(heap_refusals, 0);
  /* With a timeout: refused, nothing sent, no callback. */
  ck_assert_int_eq(ep_rpc_call(node, W.target, "erlang", "node", ep_nil(), 5000, on_refused, NULL), EP_ENOMEM);
  ck_assert_int_eq(heap_refusals, 1);
  /* The next one gets its deadline, and its answer. */
  ck_assert_int_eq(ep_rpc_call(node, W.target, "erlang", "node", ep_nil(), 5000, on_later, NULL), 0);
  ck_assert_int_eq(ep_node_run_until(node, later_in, NULL, 10000), 0);
  ck_assert_int_eq(later_status, 0);
  ck_assert_int_eq(refused_cb_runs, 0);
  /* a round trip more: nothing was owed to the refused call */
  ck_assert_int_eq(ep_node_ping_sync(node, W.target, 10000), 0);
  ck_assert_int_eq(refused_cb_runs, 0);
}
END_TEST

/* One timeout convention: 0 is a deadline already due (it meant infinity
 * before EP_INFINITY), EP_INFINITY never fires. */
static int zero_status = 1, zero_done, inf_done;
static void on_zero(ep_node *n, const ep_result *r, void *ud) {
  (void)n, (void)ud;
  zero_status = r->status;
  zero_done++;
}
static void on_inf(ep_node *n, const ep_result *r, void *ud) {
  (void)n, (void)r, (void)ud;
  inf_done++;
}
static bool zero_fired(void *ud) {
  (void)ud;
  return zero_done == 1;
}
static bool never_true(void *ud) {
  (void)ud;
  return false;
}

START_TEST(zero_is_due_and_infinity_never_fires) {
  ck_assert_int_eq(ep_rpc_call(node, W.target, "timer", "sleep", EP_LIST(W.a, ep_atom("infinity")), EP_INFINITY,
                               on_inf, NULL),
                   0);
  ck_assert_int_eq(ep_rpc_call(node, W.target, "timer", "sleep", EP_LIST(W.a, ep_int(2000)), 0, on_zero, NULL), 0);
  ck_assert_int_eq(ep_node_run_until(node, zero_fired, NULL, 1000), 0);
  ck_assert_int_eq(zero_status, EP_ETIMEDOUT);
  /* A run with 0 does what is ready and returns. */
  ck_assert_int_eq(ep_node_run_until(node, never_true, NULL, 0), EP_ETIMEDOUT);
  ck_assert_int_eq(ep_node_run_until(node, never_true, NULL, 300), EP_ETIMEDOUT);
  ck_assert_int_eq(inf_done, 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("rpc_deadline");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, calls_time_out_in_deadline_order);
  tcase_add_test(tc, a_call_without_a_deadline_slot_fails_and_is_never_called);
  tcase_add_test(tc, zero_is_due_and_infinity_never_fires);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
