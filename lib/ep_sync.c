/* ep_sync.c - the blocking layer: private loops, and every *_sync call of
 * the node, remote calls and the peer controller, as thin wrappers over the
 * asynchronous API (libcurl's easy interface over multi has this shape).
 * See ep_sync.h for the rules. */
#include "ep_sync_int.h"

#include <stdlib.h>
#include <string.h>

#include "ep_error.h"
#include "ep_node_ctl_int.h"
#include "ep_peer_int.h"

/* --- private loops ---------------------------------------------------------------- */

struct ep__sloop {
  uv_loop_t loop;
  const ep_mem *mem;
  uv_prepare_t check;  /* before each poll, after every other prepare handle: ends a run whose wait is over */
  uv_timer_t deadline; /* the run's timeout */
  bool running;
  bool expired;
  bool (*done)(void *ud);
  void *ud;
  bool doomed; /* freed by its owner during a run */
  void (*release)(void *ud);
  void *release_ud;
};

/* libuv runs due timers first thing in a turn, then polls with a timeout it
 * computed before them: a timer callback that ends the wait would leave the
 * poll blocked. Checking just before each poll stops the loop instead. */
static void on_check(uv_prepare_t *h) {
  ep__sloop *s = h->data;
  if (s->done && (s->doomed || s->done(s->ud))) uv_stop(&s->loop);
}

int ep__sloop_new(const ep_mem *mem, ep__sloop **out) {
  if (!mem) mem = ep_mem_default();
  ep__sloop *s = ep_malloc(mem, sizeof *s);
  if (!s) return EP_ENOMEM;
  memset(s, 0, sizeof *s);
  s->mem = mem;
  if (uv_loop_init(&s->loop) != 0) {
    ep_free(mem, s);
    return EP_ESYS;
  }
  uv_prepare_init(&s->loop, &s->check);
  s->check.data = s;
  /* Started now and never stopped: libuv runs the prepare handles started
   * last first, so this one runs after all the others, such as the node's
   * flusher, which may end a wait by writing everything queued. Checked
   * before them, a wait they end would be noticed only after the poll: at
   * the next packet, tick or the deadline. */
  uv_prepare_start(&s->check, on_check);
  uv_unref((uv_handle_t *)&s->check); /* never what keeps the loop alive */
  uv_timer_init(&s->loop, &s->deadline);
  s->deadline.data = s;
  *out = s;
  return 0;
}

uv_loop_t *ep__sloop_loop(ep__sloop *s) { return &s->loop; }

int ep__sloop_enter(ep__sloop *s) {
  if (!s || s->running) return EP_EINCALLBACK;
  /* A private loop sleeps between blocking calls: its cached clock is as
   * old as the last one, and a timeout armed now from it (a call's
   * deadline) would be due at once. */
  uv_update_time(&s->loop);
  return 0;
}

static void on_deadline(uv_timer_t *t) {
  ep__sloop *s = t->data;
  s->expired = true;
  uv_stop(&s->loop);
}

static void close_own(ep__sloop *s) {
  uv_close((uv_handle_t *)&s->check, NULL);
  uv_close((uv_handle_t *)&s->deadline, NULL);
}

/* Whatever is still closing closes, then the loop goes. */
static void finish(ep__sloop *s) {
  close_own(s);
  s->running = true; /* the owner's last callbacks may not block either */
  while (uv_run(&s->loop, UV_RUN_DEFAULT) != 0) {
  }
  uv_loop_close(&s->loop);
  ep_free(s->mem, s);
}

static bool never(void *ud) {
  (void)ud;
  return false;
}

int ep__sloop_run(ep__sloop *s, bool (*done)(void *ud), void *ud, int64_t timeout_ms) {
  int e = ep__sloop_enter(s);
  if (e) return e;
  if (!done) done = never;
  s->running = true;
  s->done = done;
  s->ud = ud;
  s->expired = false;
  if (timeout_ms >= 0) uv_timer_start(&s->deadline, on_deadline, (uint64_t)timeout_ms, 0);
  bool alive = true;
  /* One turn at a time, checked after each: the turn that completes the
   * wait ends the run, with no further poll (UV_RUN_DEFAULT stopped from
   * the prepare handle costs one more epoll_wait per blocking call). */
  while (alive && !s->doomed && !s->expired && !done(ud)) alive = uv_run(&s->loop, UV_RUN_ONCE) != 0;
  uv_timer_stop(&s->deadline);
  s->running = false;
  s->done = NULL;
  if (s->doomed) {
    void (*release)(void *) = s->release;
    void *rud = s->release_ud;
    finish(s);
    if (release) release(rud);
    return EP_ECLOSED;
  }
  if (done(ud)) return 0;
  return s->expired ? EP_ETIMEDOUT : EP_ECLOSED;
}

void ep__sloop_free(ep__sloop *s) {
  if (s) finish(s);
}

void ep__sloop_doom(ep__sloop *s, void (*release)(void *ud), void *ud) {
  s->doomed = true;
  s->release = release;
  s->release_ud = ud;
}

int ep__sloop_drain(uv_loop_t *loop) {
  while (uv_run(loop, UV_RUN_DEFAULT) != 0) {
  }
  return uv_loop_close(loop) == 0 ? 0 : EP_ESYS;
}

/* --- the node ------------------------------------------------------------------------ */

typedef struct {
  bool done;
  int status;
} ep__wait;

static bool wait_done(void *ud) { return ((ep__wait *)ud)->done; }

static void on_node_started(ep_node *n, int status, void *ud) {
  (void)n;
  ep__wait *w = ud;
  w->done = true;
  w->status = status;
}

int ep_node_start_sync(const ep_node_opts *o, ep_node **out) {
  ep__sloop *s;
  int r = ep__sloop_new(ep__node_opts_mem(o), &s);
  if (r) return r;
  ep__wait w = {false, 0};
  ep_node *n;
  r = ep_node_start(ep__sloop_loop(s), o, on_node_started, &w, &n);
  if (r) {
    ep__sloop_free(s);
    return r;
  }
  ep__node_set_sloop(n, s, true);
  r = ep__sloop_run(s, wait_done, &w, EP__SLOOP_FOREVER);
  if (!r) r = w.status;
  if (r) {
    ep_node_free(n);
    return r;
  }
  *out = n;
  return 0;
}

static void on_node_closed(ep_node *n, void *ud) {
  (void)n;
  ((ep__wait *)ud)->done = true;
}

void ep_node_free(ep_node *n) {
  if (!n) return;
  bool own;
  ep__sloop *s = ep__node_sloop(n, &own);
  if (ep__sloop_enter(s) != 0) {
    /* From a callback (or a node on the caller's loop): the close goes on
     * from the loop; a private loop of its own goes once it is done. */
    ep_node_close(n, NULL, NULL);
    if (s && own) ep__sloop_doom(s, NULL, NULL);
    return;
  }
  ep__wait w = {false, 0};
  ep_node_close(n, on_node_closed, &w);
  if (ep__sloop_run(s, wait_done, &w, EP__SLOOP_FOREVER) == EP_ECLOSED) return;
  if (own) ep__sloop_free(s);
}

/* A public timeout (EP_INFINITY: none) as ep__sloop_run's. */
static int64_t sloop_ms(uint64_t ms) { return ms == EP_INFINITY || ms > INT64_MAX ? EP__SLOOP_FOREVER : (int64_t)ms; }

int ep_node_run_until(ep_node *n, bool (*cond)(void *ud), void *ud, uint64_t timeout_ms) {
  int e = ep__sloop_enter(ep__node_sloop(n, NULL));
  if (e) return e;
  return ep__sloop_run(ep__node_sloop(n, NULL), cond, ud, sloop_ms(timeout_ms));
}

static void on_ping(ep_node *n, const char *peer, int status, void *ud) {
  (void)peer;
  on_node_started(n, status, ud);
}

int ep_node_ping_sync(ep_node *n, const char *peer, uint64_t timeout_ms) {
  int e = ep__sloop_enter(ep__node_sloop(n, NULL));
  if (e) return e;
  ep__wait w = {false, 0};
  e = ep_node_connect(n, peer, timeout_ms, on_ping, &w);
  if (e) return e;
  /* The connection attempt itself ends by timeout_ms. */
  e = ep__sloop_run(ep__node_sloop(n, NULL), wait_done, &w, EP__SLOOP_FOREVER);
  return e ? e : w.status;
}

static ep_term copy_or_keep(ep_arena *a, ep_term t, bool *oom) {
  ep_term c = ep_term_copy(a, t);
  if (ep_is_none(c) && !ep_is_none(t)) *oom = true;
  return c;
}

typedef struct {
  bool done;
  ep_arena *a;
  ep_result *r;
} ep__wait_call;

/* Copies a result into a; EP_ENOMEM (and no terms) when a cannot hold it,
 * and then true. */
static bool copy_result(ep_arena *a, const ep_result *r, ep_result *o) {
  bool oom = false;
  *o = *r;
  o->arena = a;
  o->value = copy_or_keep(a, r->value, &oom);
  o->cls = copy_or_keep(a, r->cls, &oom);
  o->reason = copy_or_keep(a, r->reason, &oom);
  o->stack = copy_or_keep(a, r->stack, &oom);
  if (oom) *o = (ep_result){EP_ENOMEM, ep_none(), ep_none(), ep_atom("enomem"), ep_none(), a};
  return oom;
}

static void on_call(ep_node *n, const ep_result *r, void *ud) {
  (void)n;
  ep__wait_call *w = ud;
  w->done = true;
  copy_result(w->a, r, w->r);
}

static bool call_done(void *ud) { return ((ep__wait_call *)ud)->done; }

int ep_rpc_call_sync(ep_node *n, const char *peer, const char *mod, const char *fun, ep_term args,
                     uint64_t timeout_ms, ep_arena *a, ep_result *r) {
  if (!r) return EP_EINVAL;
  memset(r, 0, sizeof *r);
  if (!a) return r->status = EP_EINVAL;
  ep__wait_call w = {false, a, r};
  int e = ep__sloop_enter(ep__node_sloop(n, NULL));
  if (!e) e = ep_rpc_call(n, peer, mod, fun, args, timeout_ms, on_call, &w);
  /* Not done only when the node was freed from a callback: its close ran
   * every callback still owed, this one included. */
  if (!e) e = ep__sloop_run(ep__node_sloop(n, NULL), call_done, &w, EP__SLOOP_FOREVER);
  if (e && !w.done) r->status = e;
  return r->status;
}

/* The multi-call's (lib/ep_rpc_multi.c): the results are copied into a. */
typedef struct {
  bool done;
  ep_arena *a;
  ep_rpc_multi_result *r;
} ep__sync_multi;

static void on_sync_multi(ep_node *n, const ep_rpc_multi_result *r, void *ud) {
  (void)n;
  ep__sync_multi *s = ud;
  s->done = true;
  bool oom = false;
  ep_rpc_multi_result *o = s->r;
  *o = *r;
  o->arena = s->a;
  o->reason = copy_or_keep(s->a, r->reason, &oom);
  ep_result *items = NULL;
  if (r->n && !(items = ep_arena_alloc(s->a, r->n * sizeof *items))) oom = true;
  for (size_t i = 0; items && i < r->n; i++)
    if (copy_result(s->a, &r->items[i], &items[i])) oom = true;
  o->items = items;
  if (oom) {
    o->status = EP_ENOMEM;
    o->n = 0;
    o->items = NULL;
    o->reason = ep_atom("enomem");
  }
}

static bool sync_multi_done(void *ud) { return ((ep__sync_multi *)ud)->done; }

int ep_rpc_multi_sync(ep_node *n, const char *peer, const ep_rpc_item *items, size_t count, uint64_t timeout_ms,
                      ep_arena *a, ep_rpc_multi_result *r) {
  if (!r) return EP_EINVAL;
  ep__sync_multi s = {false, a, r};
  memset(r, 0, sizeof *r);
  r->reason = ep_none();
  r->arena = a;
  if (!a) return r->status = EP_EINVAL;
  int e = ep__sloop_enter(ep__node_sloop(n, NULL));
  if (!e) e = ep_rpc_multi(n, peer, items, count, timeout_ms, on_sync_multi, &s);
  if (!e) e = ep__sloop_run(ep__node_sloop(n, NULL), sync_multi_done, &s, EP__SLOOP_FOREVER);
  if (e && !s.done) r->status = e;
  return r->status;
}

/* --- the peer controller -------------------------------------------------------------- */

ep_ctl *ep_ctl_new_with(uv_loop_t *loop, const ep_mem *mem) {
  if (loop) return ep__ctl_create(loop, NULL, mem);
  ep__sloop *s;
  if (ep__sloop_new(mem, &s)) return NULL;
  ep_ctl *c = ep__ctl_create(ep__sloop_loop(s), s, mem);
  if (!c) ep__sloop_free(s);
  return c;
}

ep_ctl *ep_ctl_new(uv_loop_t *loop) { return ep_ctl_new_with(loop, NULL); }

int ep_ctl_poll(ep_ctl *c, uint64_t ms) {
  if (!c || !c->sloop) return EP_EINVAL;
  int e = ep__sloop_run(c->sloop, NULL, NULL, sloop_ms(ms));
  return e == EP_ETIMEDOUT ? 0 : e;
}

int ep_ctl_start_node(ep_ctl *c, const ep_node_opts *o) {
  if (!c || !c->sloop) return EP_EINVAL;
  if (c->node || c->node_busy) return EP_ESTATE;
  int e = ep__sloop_enter(c->sloop);
  if (e) return e;
  ep__wait w = {false, 0};
  ep_node *n;
  e = ep__node_start(c->loop, o, true, on_node_started, &w, &n);
  if (e) return e;
  ep__node_set_sloop(n, c->sloop, false);
  e = ep__sloop_run(c->sloop, wait_done, &w, EP__SLOOP_FOREVER);
  if (e == EP_ECLOSED && !w.done) return e;
  if (!e) e = w.status;
  if (e) {
    /* Run until this node is gone, not until the loop is empty: peers of
     * the other connections may have handles on it. */
    ep_node_free(n);
    return e;
  }
  return ep__ctl_adopt_node(c, n);
}

typedef struct {
  bool done;
  int err;
} ep__wait_peer;

static bool peer_done(void *ud) { return ((ep__wait_peer *)ud)->done; }

static void on_peer_started(ep_peer *p, int err, void *ud) {
  (void)p;
  ep__wait_peer *w = ud;
  w->done = true;
  w->err = err;
}

typedef struct {
  ep_ctl *c;
  size_t below;
} ep__wait_release;

static bool released(void *ud) {
  ep__wait_release *w = ud;
  return w->c->npeers < w->below;
}

int ep_peer_start_sync(ep_ctl *c, const ep_peer_opts *o, bool link, ep_peer **out) {
  if (out) *out = NULL;
  if (!c || !c->sloop || !out) return EP_EINVAL;
  int e = ep__sloop_enter(c->sloop);
  if (e) return e;
  ep__wait_peer w = {false, 0};
  ep_peer *p;
  e = ep_peer_start(c, o, link, &p, on_peer_started, &w);
  if (e) return e;
  e = ep__sloop_run(c->sloop, peer_done, &w, EP__SLOOP_FOREVER);
  if (e == EP_ECLOSED) return e; /* the controller was freed from a callback */
  if (w.err) {
    snprintf(c->last_reason, sizeof c->last_reason, "%s", p->down_reason);
    ep__wait_release r = {c, c->npeers};
    ep_peer_free(p);
    if (ep__sloop_run(c->sloop, released, &r, EP__SLOOP_FOREVER) == EP_ECLOSED) return w.err;
    return w.err;
  }
  *out = p;
  return 0;
}

static void on_peer_call(ep_peer *p, const ep_result *r, void *ud) {
  (void)p;
  ep__wait_call *w = ud;
  w->done = true;
  copy_result(w->a, r, w->r);
}

int ep_peer_call_sync(ep_peer *p, ep_term m, ep_term f, ep_term args, uint64_t timeout_ms, ep_arena *a,
                      ep_result *r) {
  if (!r) return EP_EINVAL;
  memset(r, 0, sizeof *r);
  if (!p || !a || !p->ctl || !p->ctl->sloop) return r->status = EP_EINVAL;
  int e = ep__sloop_enter(p->ctl->sloop);
  ep__wait_call w = {false, a, r};
  if (!e) e = ep_peer_call(p, m, f, args, timeout_ms, on_peer_call, &w);
  if (!e) e = ep__sloop_run(p->ctl->sloop, call_done, &w, EP__SLOOP_FOREVER);
  if (e && !w.done) r->status = e;
  return r->status;
}

static void on_peer_stopped(ep_peer *p, void *ud) {
  (void)p;
  ((ep__wait_peer *)ud)->done = true;
}

int ep_peer_stop_sync(ep_peer *p) {
  if (!p || !p->ctl || !p->ctl->sloop) return EP_EINVAL;
  int e = ep__sloop_enter(p->ctl->sloop);
  if (e) return e;
  ep__wait_peer w = {false, 0};
  e = ep_peer_stop(p, on_peer_stopped, &w);
  if (!e) e = ep__sloop_run(p->ctl->sloop, peer_done, &w, EP__SLOOP_FOREVER);
  return e == EP_ECLOSED && w.done ? 0 : e;
}

typedef struct {
  ep_ctl *c;
  size_t stopping;
} ep__wait_ctl;

static void on_linked_stopped(ep_peer *p, void *ud) {
  (void)p;
  ((ep__wait_ctl *)ud)->stopping--;
}

static bool ctl_stopped(void *ud) { return ((ep__wait_ctl *)ud)->stopping == 0; }

static bool ctl_empty(void *ud) {
  ep_ctl *c = ud;
  return c->npeers == 0 && !c->node_busy;
}

static void free_ctl(void *ud) {
  ep_ctl *c = ud;
  ep_free(c->mem, c);
}

void ep_ctl_free(ep_ctl *c) {
  if (!c) return;
  ep__sloop *s = c->sloop;
  if (!s) {
    ep__ctl_release(c);
    return;
  }
  if (ep__sloop_enter(s) != 0) {
    /* From a callback: everything closes from the loop, and the blocking
     * call in progress returns EP_ECLOSED once it has. */
    ep__ctl_release(c);
    ep__sloop_doom(s, free_ctl, c);
    return;
  }
  /* start_link's peers stop the way their shutdown mode says, together. */
  ep__wait_ctl w = {c, 0};
  for (ep_peer *p = c->peers; p; p = p->next_in_ctl)
    if (!p->freed && p->linked && p->phase != EP__PH_DOWN && p->phase != EP__PH_STOPPING &&
        ep_peer_stop(p, on_linked_stopped, &w) == 0)
      w.stopping++;
  if (ep__sloop_run(s, ctl_stopped, &w, EP__SLOOP_FOREVER) == EP_ECLOSED) return;
  ep__ctl_release(c);
  if (ep__sloop_run(s, ctl_empty, c, EP__SLOOP_FOREVER) == EP_ECLOSED) return;
  ep__sloop_free(s);
  ep_free(c->mem, c);
}
