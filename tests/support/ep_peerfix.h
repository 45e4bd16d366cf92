/* ep_peerfix.h - the peer controller tests' fixture (test_peer.c over the
 * alternative connections, test_peer_dist.c over distribution): what every
 * one of their tests stood on, so that a test states only its behaviour.
 *
 * A Check checked fixture: pf_setup (or pf_setup_epmd, for a world with a
 * private EPMD) before each test gives it, in PF,
 *  - a private world (ep_testenv: HOME, cookie, EPMD port, the tag every
 *    process it starts carries),
 *  - a controller on a private loop (PF.ctl), or, after pf_own_loop(), on
 *    the test's own loop (PF.loop), with pf_own_node() a hidden node there,
 *  - an arena for the test's terms (PF.a) and what the collect_* callbacks
 *    of ep_testpeer.h saw (PF.col).
 * Options made with pf_opts / pf_dist_opts / pf_new_opts are the fixture's
 * (a test never frees them); pf_start starts a linked peer and asserts it
 * runs; peers left running are stopped when the controller goes.
 *
 * pf_teardown frees all of it: the controller (stopping its linked peers),
 * the node, the test's loop (run to its end and closed: nothing may be
 * left on it), the options, the arena, and the world. Check's fork mode
 * skips a checked teardown when an assertion failed or the test timed out:
 * then the world's guard (ep_testenv.c) kills whatever the test started and
 * removes its HOME as soon as the test's process is gone. Every test stays
 * bounded by its tcase timeout, wait_boot and call timeouts.
 *
 *   tcase_add_checked_fixture(tc, pf_setup, pf_teardown);
 *
 *   START_TEST(calls) {
 *     ep_peer *p = pf_start(pf_opts(_i));  // _i: PF_STDIO or PF_TCP
 *     ...
 *   }
 *
 * Header-only (static inline functions), like the rest of tests/support
 * but ep_testenv.c: the support library's build lists its sources by name.
 */
#ifndef EP_PEERFIX_H
#define EP_PEERFIX_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "ep_error.h"
#include "ep_node.h"
#include "ep_peer.h"
#include "ep_testenv.h"
#include "ep_testpeer.h"

/* The connection kinds of pf_opts (the loop index of the alternative
 * connection tests, as kind_name says). */
enum { PF_STDIO = 0, PF_TCP = 1 };

/* pf_collect's what: which collect_* callbacks of ep_testpeer.h fill PF.col. */
enum { PF_OUTPUT = 1, PF_STATE = 2 };

typedef struct ep_peerfix {
  ep_testenv *env;
  ep_ctl *ctl;       /* private loop, or PF.loop after pf_own_loop */
  bool own_loop;     /* PF.loop is initialised */
  uv_loop_t loop;    /* the test's own loop */
  ep_node *node;     /* pf_own_node's, on PF.loop */
  ep_arena *a;       /* the test's terms */
  collected col;     /* what collect_output / collect_state saw */
  ep_peer_opts **opts; /* the fixture's options, freed by the teardown */
  size_t nopts, capopts;
} ep_peerfix;

/* One per test process (Check forks each test). */
__attribute__((unused)) static ep_peerfix PF;

/* The checked setup: a private world, a controller on a private loop, an
 * arena. */
static inline void pf_setup(void) {
  memset(&PF, 0, sizeof PF);
  PF.col = (collected)COLLECTED_INIT;
  PF.env = ep_testenv_new();
  PF.ctl = ep_ctl_new(NULL);
  ck_assert_ptr_nonnull(PF.ctl);
  PF.a = ep_arena_new(NULL);
}

/* The same, with the real epmd running on the world's port. */
static inline void pf_setup_epmd(void) {
  pf_setup();
  ck_assert_int_eq(ep_testenv_start_epmd(PF.env), 0);
}

/* The controller moves to the test's own loop (PF.loop), which the test
 * drives itself (uv_run); the teardown runs it to its end and closes it. */
static inline uv_loop_t *pf_own_loop(void) {
  ep_ctl_free(PF.ctl);
  ck_assert_int_eq(uv_loop_init(&PF.loop), 0);
  PF.own_loop = true;
  PF.ctl = ep_ctl_new(&PF.loop);
  ck_assert_ptr_nonnull(PF.ctl);
  return &PF.loop;
}

static inline void pf__node_started(ep_node *n, int status, void *ud) {
  (void)n;
  *(int *)ud = status == 0 ? 1 : status;
}

/* A hidden node (default options) started on the test's own loop, not
 * given to the controller yet (ep_ctl_set_node); closed by the teardown,
 * after the controller. */
static inline ep_node *pf_own_node(void) {
  ck_assert(PF.own_loop);
  ep_node_opts *no = ep_node_opts_new();
  int started = 0;
  ck_assert_int_eq(ep_node_start(&PF.loop, no, pf__node_started, &started, &PF.node), 0);
  ep_node_opts_free(no);
  while (!started) uv_run(&PF.loop, UV_RUN_ONCE);
  ck_assert_int_eq(started, 1);
  return PF.node;
}

/* Frees the controller now (what the test is about: its linked peers
 * stop with it); the teardown then has none to free. */
static inline void pf_free_ctl(void) {
  ep_ctl_free(PF.ctl);
  PF.ctl = NULL;
}

static inline void pf__node_closed(ep_node *n, void *ud) {
  (void)n;
  *(int *)ud = 1;
}

/* Ends the test's own loop: the controller freed, the node closed, then
 * uv_run(UV_RUN_DEFAULT) returns by itself and the loop closes (nothing of
 * the controller or the node is left on it). */
static inline void pf_close_loop(void) {
  if (!PF.own_loop) return;
  pf_free_ctl();
  int closed = !PF.node;
  if (PF.node) ep_node_close(PF.node, pf__node_closed, &closed);
  PF.node = NULL;
  uv_run(&PF.loop, UV_RUN_DEFAULT);
  ck_assert(closed);
  ck_assert_int_eq(uv_loop_close(&PF.loop), 0);
  PF.own_loop = false;
}

/* o, owned by the fixture from now on. */
static inline ep_peer_opts *pf_keep(ep_peer_opts *o) {
  ck_assert_ptr_nonnull(o);
  if (PF.nopts == PF.capopts) {
    PF.capopts = PF.capopts ? 2 * PF.capopts : 16;
    PF.opts = realloc(PF.opts, PF.capopts * sizeof *PF.opts);
    ck_assert_ptr_nonnull(PF.opts);
  }
  PF.opts[PF.nopts++] = o;
  return o;
}

/* New default options (the fixture's). */
static inline ep_peer_opts *pf_new_opts(void) { return pf_keep(ep_peer_opts_new()); }

/* Options for an alternative connection kind (PF_STDIO, PF_TCP), as
 * opts_for: a 20 s boot wait. */
static inline ep_peer_opts *pf_opts(int kind) { return pf_keep(opts_for(kind)); }

/* Options for a distributed peer named prefix-<random> (the dist
 * connection, a 30 s boot wait). */
static inline ep_peer_opts *pf_dist_opts(const char *prefix) {
  ep_peer_opts *o = pf_new_opts();
  char name[96];
  ck_assert_int_eq(ep_peer_random_name(prefix, name, sizeof name), 0);
  ck_assert_int_eq(ep_peer_opts_set_name(o, name), 0);
  ep_peer_opts_set_wait_boot(o, 30000);
  return o;
}

/* o's output (PF_OUTPUT) and state changes (PF_STATE) collected in PF.col. */
static inline ep_peer_opts *pf_collect(ep_peer_opts *o, unsigned what) {
  if (what & PF_OUTPUT) ep_peer_opts_set_output(o, collect_output, &PF.col);
  if (what & PF_STATE) ep_peer_opts_set_state_cb(o, collect_state, &PF.col);
  return o;
}

/* A linked peer started on the blocking controller, asserted running. */
static inline ep_peer *pf_start(const ep_peer_opts *o) {
  ep_peer *p;
  int rc = ep_peer_start_sync(PF.ctl, o, true, &p);
  ck_assert_msg(rc == 0, "start: %s (%s)", ep_err_name(rc), ep_ctl_last_start_reason(PF.ctl));
  ck_assert_int_eq(ep_peer_get_state(p), EP_PEER_RUNNING);
  return p;
}

/* A start that is to fail: its error (nothing is left running). */
static inline int pf_start_fails(const ep_peer_opts *o) {
  ep_peer *p = NULL;
  int rc = ep_peer_start_sync(PF.ctl, o, true, &p);
  ck_assert_ptr_null(p);
  return rc;
}

/* Stops p, asserting the stop completes and leaves it down, and frees it. */
static inline void pf_stop(ep_peer *p) {
  ck_assert_int_eq(ep_peer_stop_sync(p), 0);
  ck_assert_int_eq(ep_peer_get_state(p), EP_PEER_DOWN);
  ep_peer_free(p);
}

/* What the asynchronous API's callbacks counted (ud: the struct): starts
 * that succeeded and that failed, stops; replies are the test's own reply
 * callback's to count (what makes a reply right is the test's). */
typedef struct pf_counts {
  int started, failed, replies, stopped;
} pf_counts;

static inline void pf_count_start(ep_peer *p, int err, void *ud) {
  (void)p;
  pf_counts *m = ud;
  if (err)
    m->failed++;
  else
    m->started++;
}

static inline void pf_count_stop(ep_peer *p, void *ud) {
  (void)p;
  ((pf_counts *)ud)->stopped++;
}

/* The checked teardown (see the top of this file). */
static inline void pf_teardown(void) {
  if (PF.own_loop)
    pf_close_loop();
  else
    pf_free_ctl();
  for (size_t i = 0; i < PF.nopts; i++) ep_peer_opts_free(PF.opts[i]);
  free(PF.opts);
  ep_arena_free(PF.a);
  ep_buf_free(&PF.col.out);
  ep_testenv_free(PF.env);
  memset(&PF, 0, sizeof PF);
}

#endif
