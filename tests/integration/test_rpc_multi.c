/* ep_rpc_multi against a real node: one result or exception per item,
 * exactly as single calls report them; one worker for the whole batch;
 * nothing loaded on the target; the whole request's timeout; nodedown in
 * the middle of a long item; an item that kills the worker. The system's
 * OTP 25, then OTP 27 and 29 from the roots of scripts/otp-roots.sh when
 * they are there (skipped, passing, when not). */
#include <check.h>
#include <time.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_node.h"
#include "ep_otproot.h"
#include "ep_testenv.h"
#include "ep_text.h"

static ep_testenv *env;
static char target[256];
static ep_node *node;
static ep_arena *A;
/* NULL: the system's erl; else the root its erl runs in (chroot). */
static const char *otp_root;
static const char *expected_release;
static char home_copy[600];

static void setup(void) {
  env = ep_testenv_new();
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  if (otp_root) {
    char bindir[700];
    snprintf(home_copy, sizeof home_copy, "%s", ep_testenv_home(env));
    ck_assert_int_eq(ep_otproot_enter(env, otp_root, bindir, sizeof bindir), 0);
    ep_otproot_use_path(bindir);
  }
  ck_assert_int_gt(ep_testenv_start_erl(env, "target", NULL, target, sizeof target), 0);
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, "ctl"), 0);
  ep_node_opts_set_epmd_mode(o, EP_EPMD_EXTERNAL);
  ck_assert_int_eq(ep_node_start_sync(o, &node), 0);
  ep_node_opts_free(o);
  A = ep_arena_new(NULL);
  if (expected_release) {
    ep_result r;
    ck_assert_int_eq(
        ep_rpc_call_sync(node, target, "erlang", "system_info", EP_LIST(A, ep_atom("otp_release")), 10000, A, &r), 0);
    ck_assert_str_eq(ep_print_str(A, r.value), ep_print_str(A, ep_string(A, expected_release)));
  }
}

static void teardown(void) {
  if (node) ep_node_free(node);
  node = NULL;
  ep_arena_free(A);
  ep_testenv_free(env);
  if (otp_root && home_copy[0]) ep_otproot_leave(otp_root, home_copy);
  ep_otproot_use_path("");
}

#define ITEM(m, f, args) ((ep_rpc_item){(m), (f), (args)})
#define NITEMS(a) (sizeof(a) / sizeof(a)[0])

static void assert_same_result(const ep_result *x, const ep_result *y, const char *what) {
  ck_assert_msg(x->status == y->status, "%s: status %s, single call %s", what, ep_err_name(x->status),
                ep_err_name(y->status));
  ep_term xs[] = {x->value, x->cls, x->reason, x->stack}, ys[] = {y->value, y->cls, y->reason, y->stack};
  for (int i = 0; i < 4; i++)
    ck_assert_msg(ep_is_none(xs[i]) == ep_is_none(ys[i]) && (ep_is_none(xs[i]) || ep_term_eq(xs[i], ys[i])),
                  "%s: field %d %s, single call %s", what, i, ep_print_str(A, xs[i]), ep_print_str(A, ys[i]));
}

/* Every item gets its own answer, in order, and an exception ends only its
 * item: each answer is the one the same call alone gets. */
START_TEST(results_and_exceptions_per_item) {
  ep_rpc_item items[] = {
      ITEM("erlang", "node", ep_nil()),
      ITEM("erlang", "error", EP_LIST(A, ep_atom("boom"))),
      ITEM("lists", "seq", EP_LIST(A, ep_int(1), ep_int(3))),
      ITEM("erlang", "throw", EP_LIST(A, ep_atom("thrown"))),
      ITEM("erlang", "exit", EP_LIST(A, ep_atom("gone"))),
      ITEM("erlang", "binary_to_term", EP_LIST(A, ep_binary(A, "", 0))),
      ITEM("nomod", "nofun", EP_LIST(A, ep_int(1))),
      ITEM("erlang", "exit", EP_LIST(A, ep_atom("kill"))), /* an exception, not a signal: only this item */
      ITEM("erlang", "length", EP_LIST(A, EP_LIST(A, ep_int(1), ep_int(2)))),
  };
  ep_rpc_multi_result mr;
  ck_assert_int_eq(ep_rpc_multi_sync(node, target, items, NITEMS(items), 20000, A, &mr), 0);
  ck_assert_uint_eq(mr.n, NITEMS(items));
  ck_assert_ptr_eq(mr.arena, A);
  const ep_result *r = mr.items;
  ck_assert_int_eq(r[0].status, 0);
  ck_assert_str_eq(ep_print_str(A, r[0].value), target);
  ck_assert_int_eq(r[1].status, EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r[1].cls, "error") && ep_atom_eq(r[1].reason, "boom"));
  ck_assert_int_eq(r[2].status, 0);
  ck_assert_str_eq(ep_print_str(A, r[2].value), "[1,2,3]");
  ck_assert_int_eq(r[3].status, EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r[3].cls, "throw") && ep_atom_eq(r[3].reason, "thrown"));
  ck_assert_int_eq(r[4].status, EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r[4].cls, "exit") && ep_atom_eq(r[4].reason, "gone"));
  /* badarg from a BIF, with the stack trace erpc trims to the call */
  ck_assert_int_eq(r[5].status, EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r[5].cls, "error") && ep_atom_eq(r[5].reason, "badarg"));
  ck_assert_int_ge(ep_list_len(r[5].stack), 1);
  ep_term top = ep_list_at(r[5].stack, 0);
  ck_assert(ep_is_tuple(top) && top.n == 4 && ep_atom_eq(top.v.items[0], "erlang") &&
            ep_atom_eq(top.v.items[1], "binary_to_term"));
  ck_assert_int_eq(r[6].status, EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r[6].cls, "error") && ep_atom_eq(r[6].reason, "undef"));
  ck_assert_int_eq(r[7].status, EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r[7].cls, "exit") && ep_atom_eq(r[7].reason, "kill"));
  ck_assert_int_eq(r[8].status, 0);
  ck_assert_str_eq(ep_print_str(A, r[8].value), "2");
  for (size_t i = 0; i < NITEMS(items); i++) {
    ep_result one;
    ep_rpc_call_sync(node, target, items[i].mod, items[i].fun, items[i].args, 20000, A, &one);
    char what[64];
    snprintf(what, sizeof what, "item %zu (%s:%s)", i + 1, items[i].mod, items[i].fun);
    assert_same_result(&r[i], &one, what);
  }
}
END_TEST

START_TEST(no_items_is_an_empty_answer) {
  ep_rpc_multi_result mr;
  ck_assert_int_eq(ep_rpc_multi_sync(node, target, NULL, 0, 10000, A, &mr), 0);
  ck_assert_uint_eq(mr.n, 0);
  ep_rpc_item bad[] = {ITEM("erlang", "node", ep_int(1))};
  ck_assert_int_eq(ep_rpc_multi_sync(node, target, bad, 1, 10000, A, &mr), EP_EINVAL);
  ep_rpc_item nomod[] = {ITEM(NULL, "node", ep_nil())};
  ck_assert_int_eq(ep_rpc_multi_sync(node, target, nomod, 1, 10000, A, &mr), EP_EINVAL);
  ck_assert_int_eq(ep_rpc_multi(node, target, NULL, 0, 0, NULL, NULL), EP_EINVAL);
  /* No arena to copy into: refused, and the result says so. */
  mr.status = 1;
  ck_assert_int_eq(ep_rpc_multi_sync(node, target, NULL, 0, 10000, NULL, &mr), EP_EINVAL);
  ck_assert_int_eq(mr.status, EP_EINVAL);
  ep_result r;
  r.status = 1;
  ck_assert_int_eq(ep_rpc_call_sync(node, target, "erlang", "node", ep_nil(), 10000, NULL, &r), EP_EINVAL);
  ck_assert_int_eq(r.status, EP_EINVAL);
}
END_TEST

/* The batch runs in one process: its first and last item see the same
 * self(), and the process count read by two items is the same (a poll does
 * not count workers of its own). Two single calls, in flight together, run
 * in two workers: what the check tells apart. */
START_TEST(one_worker_for_the_batch) {
  ep_term count = EP_LIST(A, ep_atom("process_count"));
  ep_rpc_item items[] = {ITEM("erlang", "self", ep_nil()), ITEM("erlang", "system_info", count),
                         ITEM("erlang", "statistics", EP_LIST(A, ep_atom("run_queue"))),
                         ITEM("erlang", "system_info", count), ITEM("erlang", "self", ep_nil())};
  ep_rpc_multi_result mr;
  ck_assert_int_eq(ep_rpc_multi_sync(node, target, items, NITEMS(items), 20000, A, &mr), 0);
  for (size_t i = 0; i < mr.n; i++) ck_assert_int_eq(mr.items[i].status, 0);
  ck_assert_int_eq(mr.items[0].value.type, EP_T_PID);
  ck_assert_msg(ep_term_eq(mr.items[0].value, mr.items[4].value), "%s then %s", ep_print_str(A, mr.items[0].value),
                ep_print_str(A, mr.items[4].value));
  ck_assert_msg(ep_term_eq(mr.items[1].value, mr.items[3].value), "process_count %s then %s",
                ep_print_str(A, mr.items[1].value), ep_print_str(A, mr.items[3].value));
  /* Two batches: two workers, one after the other. */
  ep_rpc_multi_result again;
  ck_assert_int_eq(ep_rpc_multi_sync(node, target, items, 1, 20000, A, &again), 0);
  ck_assert(!ep_term_eq(again.items[0].value, mr.items[0].value));
}
END_TEST

/* Two sets of loaded modules, as code:all_loaded/0 lists them, equal. */
static bool same_modules(ep_term x, ep_term y) {
  ptrdiff_t n = ep_list_len(x);
  if (n < 0 || n != ep_list_len(y)) return false;
  for (ptrdiff_t i = 0; i < n; i++) {
    ep_term m = ep_list_at(x, (size_t)i);
    bool found = false;
    for (ptrdiff_t j = 0; j < n && !found; j++) found = ep_term_eq(m, ep_list_at(y, (size_t)j));
    if (!found) return false;
  }
  return true;
}

static ep_term all_loaded(void) {
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(node, target, "code", "all_loaded", ep_nil(), 10000, A, &r), 0);
  ck_assert_int_gt(ep_list_len(r.value), 10);
  return r.value;
}

/* A poll of metrics with an exception among them loads nothing on the
 * target: code:all_loaded/0 is the same before and after, and erl_eval is
 * loaded after only if it was before. A module loaded by a call does
 * change that list: what makes the check able to fail. */
START_TEST(nothing_loaded_on_the_target) {
  ep_result r;
  ck_assert_int_eq(
      ep_rpc_call_sync(node, target, "erlang", "module_loaded", EP_LIST(A, ep_atom("erl_eval")), 10000, A, &r), 0);
  ep_term eval_before = r.value;
  ep_term before = all_loaded();
  ep_rpc_item items[] = {
      ITEM("erlang", "memory", ep_nil()),
      ITEM("erlang", "statistics", EP_LIST(A, ep_atom("run_queue"))),
      ITEM("erlang", "system_info", EP_LIST(A, ep_atom("process_count"))),
      ITEM("erlang", "error", EP_LIST(A, ep_atom("boom"))),
      ITEM("erlang", "module_loaded", EP_LIST(A, ep_atom("erl_eval"))),
      ITEM("erlang", "statistics", EP_LIST(A, ep_atom("wall_clock"))),
  };
  for (int round = 0; round < 3; round++) {
    ep_rpc_multi_result mr;
    ck_assert_int_eq(ep_rpc_multi_sync(node, target, items, NITEMS(items), 20000, A, &mr), 0);
    ck_assert_int_eq(mr.items[3].status, EP_EEXCEPTION);
    ck_assert(ep_term_eq(mr.items[4].value, eval_before));
  }
  ep_term after = all_loaded();
  ck_assert_msg(same_modules(before, after), "loaded before: %td modules, after: %td", ep_list_len(before),
                ep_list_len(after));
  ck_assert_int_eq(
      ep_rpc_call_sync(node, target, "erlang", "module_loaded", EP_LIST(A, ep_atom("erl_eval")), 10000, A, &r), 0);
  ck_assert(ep_term_eq(r.value, eval_before));

  /* The check sees a module that a call loads. */
  static const char *const spare[] = {"digraph", "sofs", "erl_tar", "dets", "xref"};
  const char *load = NULL;
  for (size_t i = 0; i < NITEMS(spare) && !load; i++) {
    ck_assert_int_eq(
        ep_rpc_call_sync(node, target, "erlang", "module_loaded", EP_LIST(A, ep_atom(spare[i])), 10000, A, &r), 0);
    if (ep_atom_eq(r.value, "false")) load = spare[i];
  }
  ck_assert_ptr_nonnull(load);
  ck_assert_int_eq(ep_rpc_call_sync(node, target, "code", "ensure_loaded", EP_LIST(A, ep_atom(load)), 10000, A, &r),
                   0);
  ck_assert(!same_modules(after, all_loaded()));
}
END_TEST


/* The timeout bounds the whole request, not each item; the node stays
 * usable (the late answer matches nothing). */
START_TEST(timeout_for_the_whole_request) {
  ep_rpc_item items[] = {ITEM("erlang", "node", ep_nil()), ITEM("timer", "sleep", EP_LIST(A, ep_int(400))),
                         ITEM("timer", "sleep", EP_LIST(A, ep_int(400))), ITEM("erlang", "node", ep_nil())};
  ep_rpc_multi_result mr;
  /* Each item alone is under the timeout, the whole over it: EP_ETIMEDOUT
   * is the proof. (No elapsed-time check: libuv measures the 600 ms from
   * its loop's cached clock, which another clock may see end at 599.) */
  ck_assert_int_eq(ep_rpc_multi_sync(node, target, items, NITEMS(items), 600, A, &mr), EP_ETIMEDOUT);
  ck_assert_ptr_null(mr.items);
  ck_assert_uint_eq(mr.n, 0);
  /* Each item alone is well within the timeout. The late answer of the
   * timed-out batch (due some 200 ms after its timeout) arrives while this
   * one runs, and is dropped: this one gets its own. */
  ck_assert_int_eq(ep_rpc_multi_sync(node, target, items, 2, 5000, A, &mr), 0);
  ck_assert_uint_eq(mr.n, 2);
  ck_assert_str_eq(ep_print_str(A, mr.items[0].value), target);
  ck_assert_str_eq(ep_print_str(A, mr.items[1].value), "ok");
}
END_TEST

typedef struct {
  int calls;
  int status;
  const ep_result *items;
} multi_seen;

static void on_multi(ep_node *n, const ep_rpc_multi_result *r, void *ud) {
  (void)n;
  multi_seen *s = ud;
  s->calls++;
  s->status = r->status;
  s->items = r->items;
}

static bool multi_done(void *ud) { return ((multi_seen *)ud)->calls > 0; }

/* The target halts while an item sleeps: the whole request fails with
 * EP_ENODEDOWN, once, and no item's answer is made up. */
START_TEST(nodedown_in_the_middle) {
  ep_rpc_item items[] = {ITEM("erlang", "node", ep_nil()), ITEM("timer", "sleep", EP_LIST(A, ep_atom("infinity"))),
                         ITEM("erlang", "node", ep_nil())};
  multi_seen seen = {0, 0, NULL};
  ck_assert_int_eq(ep_rpc_multi(node, target, items, NITEMS(items), EP_INFINITY, on_multi, &seen), 0);
  /* A call behind it on the same connection: once it is answered, rex has
   * started the batch's worker. */
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(node, target, "erlang", "node", ep_nil(), 10000, A, &r), 0);
  ck_assert_int_eq(seen.calls, 0);
  ck_assert_int_eq(ep_rpc_cast(node, target, "erlang", "halt", ep_nil()), 0);
  ck_assert_int_eq(ep_node_run_until(node, multi_done, &seen, 30000), 0);
  ck_assert_int_eq(seen.calls, 1);
  ck_assert_int_eq(seen.status, EP_ENODEDOWN);
  ck_assert_ptr_null(seen.items);
  /* And a batch to the node that is gone fails as a whole too. */
  ep_rpc_multi_result mr;
  int st = ep_rpc_multi_sync(node, target, items, 1, 5000, A, &mr);
  ck_assert_msg(st != 0, "a batch to a halted node answered");
  ck_assert_ptr_null(mr.items);
  ck_assert_int_eq(seen.calls, 1);
}
END_TEST

/* An item that gets its worker killed (here by the max heap size it set
 * for it) ends the whole batch: the rest cannot run in that process. */
START_TEST(killed_worker_fails_the_batch) {
  ep_term limit = EP_MAP(A, ep_atom("size"), ep_int(2000), ep_atom("kill"), ep_bool(true), ep_atom("error_logger"),
                         ep_bool(false));
  ep_rpc_item items[] = {ITEM("erlang", "node", ep_nil()),
                         ITEM("erlang", "process_flag", EP_LIST(A, ep_atom("max_heap_size"), limit)),
                         ITEM("lists", "seq", EP_LIST(A, ep_int(1), ep_int(200000))),
                         ITEM("erlang", "node", ep_nil())};
  ep_rpc_multi_result mr;
  ck_assert_int_eq(ep_rpc_multi_sync(node, target, items, NITEMS(items), 20000, A, &mr), EP_EBADRPC);
  ck_assert_ptr_null(mr.items);
  ck_assert_msg(ep_is_record(mr.reason, "EXIT", 2) && ep_atom_eq(mr.reason.v.items[1], "killed"), "reason %s",
                ep_print_str(A, mr.reason));
  /* The node is fine, and so is the next batch. */
  ck_assert_int_eq(ep_rpc_multi_sync(node, target, items, 1, 20000, A, &mr), 0);
  ck_assert_str_eq(ep_print_str(A, mr.items[0].value), target);
}
END_TEST

static void on_other_started(ep_node *n, int status, void *ud) {
  (void)n;
  *(int *)ud = status;
}

static void on_other_closed(ep_node *n, void *ud) {
  (void)n;
  *(bool *)ud = true;
}

static bool started(void *ud) { return *(int *)ud != 1; }
static bool closed(void *ud) { return *(bool *)ud; }

/* A target that cannot run the batch (another erlpeer node, which runs no
 * Erlang code and answers every call with undef) fails it as a whole. The
 * other node shares our node's loop: our blocking waits serve both. */
START_TEST(a_target_without_the_functions_fails_the_batch) {
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, "other"), 0);
  ep_node_opts_set_epmd_mode(o, EP_EPMD_EXTERNAL);
  ep_node *other;
  int st = 1;
  ck_assert_int_eq(ep_node_start(ep_node_loop(node), o, on_other_started, &st, &other), 0);
  ep_node_opts_free(o);
  ck_assert_int_eq(ep_node_run_until(node, started, &st, 20000), 0);
  ck_assert_int_eq(st, 0);
  ep_rpc_item items[] = {ITEM("erlang", "node", ep_nil()), ITEM("erlang", "node", ep_nil())};
  ep_rpc_multi_result mr;
  ck_assert_int_eq(ep_rpc_multi_sync(node, ep_node_name(other), items, NITEMS(items), 20000, A, &mr), EP_EBADRPC);
  ck_assert_ptr_null(mr.items);
  ck_assert_msg(ep_is_tuple(mr.reason) && mr.reason.n == 3 && ep_atom_eq(mr.reason.v.items[0], "error") &&
                    ep_atom_eq(mr.reason.v.items[1], "undef"),
                "reason %s", ep_print_str(A, mr.reason));
  bool done = false;
  ep_node_close(other, on_other_closed, &done);
  ck_assert_int_eq(ep_node_run_until(node, closed, &done, 20000), 0);
}
END_TEST

static int run_suite(const char *label, bool all) {
  Suite *s = suite_create(label);
  TCase *tc = tcase_create("real erl");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, results_and_exceptions_per_item);
  tcase_add_test(tc, one_worker_for_the_batch);
  tcase_add_test(tc, nothing_loaded_on_the_target);
  tcase_add_test(tc, nodedown_in_the_middle);
  if (all) {
    tcase_add_test(tc, no_items_is_an_empty_answer);
    tcase_add_test(tc, timeout_for_the_whole_request);
    tcase_add_test(tc, killed_worker_fails_the_batch);
    if (!otp_root) tcase_add_test(tc, a_target_without_the_functions_fails_the_batch);
  }
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL);
}

int main(void) {
  int failed = run_suite("rpc_multi (system OTP)", true);
  for (size_t i = 0; i < EP_OTP_NRELEASES; i++) {
    const ep_otp_release *rel = &ep_otp_releases[i];
    if (!rel->suite) continue; /* the system OTP: run above */
    static char root[512];
    char why[1024];
    if (!ep_otproot_available(rel, root, sizeof root, why, sizeof why)) {
      printf("rpc_multi: %s: skipped\n", why);
      continue;
    }
    otp_root = root;
    expected_release = rel->release;
    char label[64];
    snprintf(label, sizeof label, "rpc_multi (%s)", rel->label);
    failed += run_suite(label, true);
  }
  return failed ? 1 : 0;
}
