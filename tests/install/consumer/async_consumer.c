/* An asynchronous program outside the tree, built against the installed
 * erlpeer: its own uv_loop_t, its own uv_run calls, so it calls libuv
 * directly and must get libuv from erlpeer's link line (pkg-config, or the
 * erlpeer::erlpeer / erlpeer::erlpeer_static targets) alone.
 *
 * Needs no erl and no EPMD: a node started with EPMD mode NONE on the
 * caller's loop, a controller on the same loop given that node, then both
 * closed, and the loop must close with nothing left on it. A guard timer of
 * the program's own bounds every wait. */
/* uv.h needs POSIX declarations (pthread_rwlock_t) that strict -std=c11
 * hides: libuv's requirement, not erlpeer's (its headers do not include uv.h). */
#define _POSIX_C_SOURCE 200809L
#include <erlpeer/erlpeer.h>
#include <stdbool.h>
#include <stdio.h>
#include <uv.h>

static struct {
  uv_loop_t loop;
  uv_timer_t guard;
  bool expired, started, closed;
  int status;
} S;

static void on_guard(uv_timer_t *t) {
  (void)t;
  S.expired = true;
}

static void on_started(ep_node *n, int status, void *ud) {
  (void)n;
  (void)ud;
  S.status = status;
  S.started = true;
}

static void on_closed(ep_node *n, void *ud) {
  (void)n;
  (void)ud;
  S.closed = true;
}

static int fail(const char *what, int err) {
  fprintf(stderr, "async consumer: %s: %s\n", what, err ? ep_strerror(err) : "timed out");
  return 1;
}

int main(void) {
  if (uv_loop_init(&S.loop) != 0 || uv_timer_init(&S.loop, &S.guard) != 0) return fail("uv_loop_init", 0);
  uv_timer_start(&S.guard, on_guard, 10000, 0);

  ep_node_opts *o = ep_node_opts_new();
  if (!o) return fail("ep_node_opts_new", EP_ENOMEM);
  ep_node_opts_set_name(o, "install-consumer@127.0.0.1");
  ep_node_opts_set_longnames(o, true);
  ep_node_opts_set_cookie(o, "INSTALLTEST");
  ep_node_opts_set_epmd_mode(o, EP_EPMD_NONE);
  ep_node *n = NULL;
  int rc = ep_node_start(&S.loop, o, on_started, NULL, &n);
  ep_node_opts_free(o);
  if (rc != 0) return fail("ep_node_start", rc);
  while (!S.started && !S.expired) uv_run(&S.loop, UV_RUN_ONCE);
  if (!S.started) return fail("node start", 0);
  if (S.status != 0) return fail("node start", S.status);

  ep_ctl *ctl = ep_ctl_new(&S.loop);
  if (!ctl) return fail("ep_ctl_new", EP_ENOMEM);
  if ((rc = ep_ctl_set_node(ctl, n)) != 0) return fail("ep_ctl_set_node", rc);
  bool same = ep_ctl_loop(ctl) == &S.loop && ep_node_loop(n) == &S.loop;
  ep_ctl_free(ctl);

  ep_node_close(n, on_closed, NULL);
  while (!S.closed && !S.expired) uv_run(&S.loop, UV_RUN_ONCE);
  if (!S.closed) return fail("node close", 0);
  uv_close((uv_handle_t *)&S.guard, NULL);
  uv_run(&S.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&S.loop) != 0) return fail("uv_loop_close: handles left on the loop", 0);
  printf("async consumer: %s\n", same ? "ok" : "FAILED");
  return same ? 0 : 1;
}
