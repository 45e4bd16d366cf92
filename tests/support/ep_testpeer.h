/* ep_testpeer.h - what the peer controller tests (test_peer.c over the
 * alternative connections, test_peer_dist.c over distribution) both use:
 * callbacks that collect a peer's output and state changes, a wait for
 * output (tests/support/ep_testwait.h waits for other events), the monotonic
 * clock, Erlang text as call arguments, a call's result as text, Erlang
 * text evaluated on the peer, the peer's OS pid, and OTP's post_process_args
 * example. Each test keeps its own message callback (they print different
 * things).
 *
 * Header-only (static inline functions, so a test may use only some of
 * them): the support library's build lists its sources by name.
 */
#ifndef EP_TESTPEER_H
#define EP_TESTPEER_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ep_peer.h"
#include "ep_testwait.h"
#include "ep_text.h"

/* The two alternative connections the tests loop over (_i of a loop
 * test): 0 standard_io, 1 TCP on 127.0.0.1; a 20 s boot wait. */
__attribute__((unused)) static const char *const kind_name[] = {"standard_io", "tcp"};

static inline ep_peer_opts *opts_for(int kind) {
  ep_peer_opts *o = ep_peer_opts_new();
  ck_assert_ptr_nonnull(o);
  if (kind == 0)
    ck_assert_int_eq(ep_peer_opts_set_connection_stdio(o), 0);
  else
    ck_assert_int_eq(ep_peer_opts_set_connection_tcp(o, "127.0.0.1", 0), 0);
  ep_peer_opts_set_wait_boot(o, 20000);
  return o;
}

/* What the collect_* callbacks saw (ud: the struct). */
typedef struct collected {
  ep_buf out;          /* collect_output */
  int messages;        /* the test's own message callback */
  char last_msg[256];
  int runnings, downs, down_err; /* collect_state */
} collected;

#define COLLECTED_INIT {EP_BUF_INIT, 0, "", 0, 0, 0}

static inline void collect_output(ep_peer *p, const char *t, size_t n, void *ud) {
  (void)p;
  ep_buf_append(&((collected *)ud)->out, t, n);
}

static inline void collect_state(ep_peer *p, ep_peer_state st, int err, void *ud) {
  (void)p;
  collected *c = ud;
  if (st == EP_PEER_RUNNING) c->runnings++;
  if (st == EP_PEER_DOWN) {
    c->downs++;
    c->down_err = err;
  }
}

/* Whether the collected output holds s. */
static inline int out_has(collected *c, const char *s) {
  ep_buf_put8(&c->out, 0);
  c->out.len--;
  return c->out.data && strstr((char *)c->out.data, s) != NULL;
}

/* An ep_testwait condition: the collected output holds every string of
 * want (NULL-terminated). */
typedef struct collected_wait {
  collected *col;
  const char *const *want;
} collected_wait;

static inline bool out_has_all(void *ud) {
  collected_wait *w = ud;
  for (const char *const *s = w->want; *s; s++)
    if (!out_has(w->col, *s)) return false;
  return true;
}

/* Runs the controller's loop until the output collected in col holds every
 * string of want (NULL-terminated), or ms pass; whether it does. */
static inline bool wait_output(ep_ctl *c, collected *col, const char *const *want, uint32_t ms) {
  collected_wait w = {col, want};
  return ep_testwait_ctl(c, out_has_all, &w, ms);
}

static inline double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* t printed, in a static buffer (valid until the next call). */
static inline char *term_text(ep_term t) {
  static char buf[1024];
  ep_buf b;
  ep_buf_init(&b, NULL);
  ep_print(&b, t);
  snprintf(buf, sizeof buf, "%.*s", (int)b.len, (char *)b.data);
  ep_buf_free(&b);
  return buf;
}

/* A call's value, or its reason when it failed, printed (as term_text). */
static inline char *result_text(ep_result *r) { return term_text(r->status == 0 ? r->value : r->reason); }

/* Erlang text parsed into a term in a (the arguments of a call). */
static inline ep_term args_of(ep_arena *a, const char *text) {
  ep_term t;
  ck_assert_int_eq(ep_parse_str(a, text, &t, NULL), 0);
  return t;
}

/* The OS pid of the peer's emulator, as the peer says (os:getpid/0). */
static inline long os_pid_of(ep_peer *p) {
  ep_arena *a = ep_arena_new(NULL);
  ep_result r;
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("os"), ep_atom("getpid"), ep_nil(), 5000, a, &r), 0);
  const char *s;
  size_t n;
  ck_assert_int_eq(ep_get_text(a, r.value, &s, &n), 0);
  long pid = strtol(s, NULL, 10);
  ep_arena_free(a);
  return pid;
}

/* Evaluates Erlang text in the call's own process on the peer; the
 * result's terms go in a. */
static inline int eval_sync(ep_peer *p, ep_arena *a, const char *text, ep_result *r) {
  ep_result r1, r2;
  int rc = ep_peer_call_sync(p, ep_atom("erl_scan"), ep_atom("string"), EP_LIST(a, ep_string(a, text)), 5000, a, &r1);
  ck_assert_int_eq(rc, 0);
  rc = ep_peer_call_sync(p, ep_atom("erl_parse"), ep_atom("parse_exprs"), EP_LIST(a, r1.value.v.items[1]), 5000, a, &r2);
  ck_assert_int_eq(rc, 0);
  return ep_peer_call_sync(p, ep_atom("erl_eval"), ep_atom("exprs"), EP_LIST(a, r2.value.v.items[1], ep_nil()), 5000, a, r);
}

/* A post_process_args hook (ud: an int it counts calls in), the
 * reference's example: bash -c "erl ARGS" wants one argument. */
static inline int post_join(size_t argc, const char *const *argv, ep_peer_args *out, void *ud) {
  (*(int *)ud)++;
  ep_peer_args_push(out, argv[0]); /* -c */
  char buf[4096] = "exec erl";
  for (size_t i = 1; i < argc; i++) {
    strcat(buf, " ");
    strcat(buf, argv[i]);
  }
  return ep_peer_args_push(out, buf);
}

#endif
