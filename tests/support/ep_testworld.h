/* ep_testworld.h - the world of the hidden-node tests: the testenv's
 * private EPMD, a real erl node "target" registered in it, and our hidden
 * node, started with EPMD external (so it registers there too).
 *
 * ep_testworld_up / ep_testworld_down are a Check fixture's setup and
 * teardown (they assert, so a broken world fails the test rather than the
 * suite); ep_testworld_parse / ep_testworld_eval run Erlang text on a node
 * through that node's own erl_scan, erl_parse and erl_eval over RPC.
 *
 * Header-only (static inline functions): the support library's build lists
 * its sources by name.
 */
#ifndef EP_TESTWORLD_H
#define EP_TESTWORLD_H

#include <check.h>
#include <string.h>
#include <sys/types.h>

#include "ep_error.h"
#include "ep_node.h"
#include "ep_testenv.h"
#include "ep_text.h"

typedef struct ep_testworld {
  ep_testenv *env;
  char target[256]; /* "target@host" */
  pid_t target_pid;
  ep_node *node;    /* ours */
  ep_arena *a;      /* the test's terms; freed by ep_testworld_down */
} ep_testworld;

/* A private EPMD, a real node "target", and our node named name registered
 * in that EPMD. */
static inline void ep_testworld_up(ep_testworld *w, const char *name) {
  memset(w, 0, sizeof *w);
  w->env = ep_testenv_new();
  ck_assert_int_eq(ep_testenv_start_epmd(w->env), 0);
  w->target_pid = ep_testenv_start_erl(w->env, "target", NULL, w->target, sizeof w->target);
  ck_assert_int_gt(w->target_pid, 0);
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, name), 0);
  ep_node_opts_set_epmd_mode(o, EP_EPMD_EXTERNAL);
  ck_assert_int_eq(ep_node_start_sync(o, &w->node), 0);
  ep_node_opts_free(o);
  w->a = ep_arena_new(NULL);
}

/* Frees our node and the arena, then the testenv kills every process it
 * started (the target, EPMD) and removes the private HOME. */
static inline void ep_testworld_down(ep_testworld *w) {
  if (w->node) ep_node_free(w->node);
  w->node = NULL;
  ep_arena_free(w->a);
  w->a = NULL;
  ep_testenv_free(w->env);
  w->env = NULL;
}

/* exprs scanned and parsed on node: the list of expressions that
 * erl_eval:exprs/2 takes. */
static inline ep_term ep_testworld_parse(ep_testworld *w, const char *node, const char *exprs) {
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(w->node, node, "erl_scan", "string", EP_LIST(w->a, ep_string(w->a, exprs)), 10000,
                                    w->a, &r),
                   0);
  ck_assert_msg(ep_is_record(r.value, "ok", 3), "scan: %s", ep_print_str(w->a, r.value));
  ck_assert_int_eq(ep_rpc_call_sync(w->node, node, "erl_parse", "parse_exprs", EP_LIST(w->a, r.value.v.items[1]),
                                    10000, w->a, &r),
                   0);
  ck_assert_msg(ep_is_record(r.value, "ok", 2), "parse: %s", ep_print_str(w->a, r.value));
  return r.value.v.items[1];
}

/* The value of exprs evaluated on node with bindings (a list of
 * {Name, Value}). */
static inline ep_term ep_testworld_eval(ep_testworld *w, const char *node, const char *exprs, ep_term bindings) {
  ep_term parsed = ep_testworld_parse(w, node, exprs);
  ep_result r;
  int s = ep_rpc_call_sync(w->node, node, "erl_eval", "exprs", EP_LIST(w->a, parsed, bindings), 10000, w->a, &r);
  ck_assert_msg(s == 0, "eval %s: %s %s", exprs, ep_strerror(s), ep_print_str(w->a, r.reason));
  ck_assert(ep_is_record(r.value, "value", 3));
  return r.value.v.items[1];
}

#endif
