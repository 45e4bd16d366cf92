/* ep_ctl_node.c - the hidden node that the controller's dist peers dial.
 *
 * A controller on the caller's loop is given its node (ep_ctl_set_node). A
 * blocking controller starts a default one when its first dist peer needs
 * it, and restarts it in another naming mode (short/long names, IPv4/IPv6)
 * when a dist peer needs that mode and no other dist peer uses the node: a
 * BEAM with long names refuses to dial a short-name origin ("System running
 * to use fully qualified hostnames") and the reverse, and an inet6_tcp peer
 * cannot reach a node listening on IPv4 only. Both happen on the loop,
 * never inside ep_peer_start: the peers that wait are launched
 * (ep__peer_node_ready) once the node is up, or fail with its error.
 *
 *   NONE --need--> STARTING --up--> UP --other mode, unused--> CLOSING_OLD
 *                     |  ^  \__ENAMETAKEN: retry in 25 ms (40 times)    |
 *                     |  +-------------------------------------------------+
 *                     +--failed--> NONE (the waiting peers fail)
 */
#include <stdio.h>
#include <string.h>

#include "ep_error.h"
#include "ep_node_ctl_int.h"
#include "ep_peer_int.h"

#define RETRY_MS 25
#define RETRIES 40

static void on_node_event(ep_node *n, ep_node_event_kind k, const char *peer, int reason, void *ud) {
  (void)n;
  ep__peer_dist_node_event(ud, k, peer, reason);
}

static void adopt(ep_ctl *c, ep_node *n, bool own) {
  c->node = n;
  c->own_node = own;
  c->node_default = false;
  /* the node's blocking calls run the controller's loop */
  if (!ep__node_sloop(n, NULL)) ep__node_set_sloop(n, c->sloop, false);
  ep__node_watch(n, on_node_event, c);
}

int ep__ctl_adopt_node(ep_ctl *c, ep_node *n) {
  if (c->node || c->node_busy) return EP_ESTATE;
  adopt(c, n, true);
  return 0;
}

int ep_ctl_set_node(ep_ctl *c, ep_node *n) {
  if (!c || !n || ep_node_loop(n) != c->loop) return EP_EINVAL;
  if (c->node || c->node_busy) return EP_ESTATE;
  adopt(c, n, false);
  return 0;
}

ep_node *ep_ctl_node(const ep_ctl *c) { return c ? c->node : NULL; }

int ep_ctl_set_notice_cb(ep_ctl *c, ep_node_notice_cb cb, void *ud) {
  if (!c) return EP_EINVAL;
  c->notice_cb = cb;
  c->notice_ud = ud;
  return 0;
}

/* The peer's distribution family: IPv6 when its args say -proto_dist
 * inet6_tcp (or inet6_tls). */
static bool peer_ipv6(const ep_peer *p) {
  for (size_t i = 0; i + 1 < p->o.args.n; i++)
    if (!strcmp(p->o.args.v[i], "-proto_dist") && !strncmp(p->o.args.v[i + 1], "inet6_", 6)) return true;
  return false;
}

static bool dist_in_use(ep_ctl *c, const ep_peer *p) {
  for (ep_peer *q = c->peers; q; q = q->next_in_ctl)
    if (q != p && !q->freed && q->o.conn == EP_PEER_CONN_DIST && q->conn_state) return true;
  return false;
}

/* Every peer waiting for the node learns how its start went. A waiting
 * peer in another mode then asks again (and finds the node in use). */
static void node_ready(ep_ctl *c, int status) {
  c->node_busy = false;
  for (ep_peer *p = c->peers, *next; p; p = next) {
    next = p->next_in_ctl;
    if (!p->awaiting_node) continue;
    p->awaiting_node = false;
    ep__peer_node_ready(p, status);
  }
}

static int start_default(ep_ctl *c);

/* The retry timer carries its allocator: the controller may be gone by
 * the time it has closed. */
typedef struct {
  uv_timer_t t;
  const ep_mem *mem;
} retry_timer;

static void on_retry_closed(uv_handle_t *h) {
  retry_timer *rt = (retry_timer *)h;
  ep_free(rt->mem, rt);
}

static void on_retry(uv_timer_t *t) {
  ep_ctl *c = t->data;
  uv_close((uv_handle_t *)t, on_retry_closed);
  c->node_retry = NULL;
  int r = start_default(c);
  if (r) node_ready(c, r);
}

static void on_default_started(ep_node *n, int status, void *ud) {
  ep_ctl *c = ud;
  c->node_starting = NULL;
  if (status == 0) {
    adopt(c, n, true);
    c->node_default = true;
    node_ready(c, 0);
    return;
  }
  ep_node_close(n, NULL, NULL);
  /* Same default name as the node just closed: EPMD drops the old
   * registration when it sees that connection close, which may come a
   * moment after ours. */
  if (status == EP_ENAMETAKEN && c->node_tries < RETRIES && !c->freed) {
    retry_timer *rt = ep_malloc(c->mem, sizeof *rt);
    if (rt) {
      rt->mem = c->mem;
      uv_timer_t *t = &rt->t;
      uv_timer_init(c->loop, t);
      t->data = c;
      c->node_retry = t;
      uv_timer_start(t, on_retry, RETRY_MS, 0);
      return;
    }
  }
  node_ready(c, status);
}

static int start_default(ep_ctl *c) {
  ep_node_opts *o = ep_node_opts_new();
  if (!o) return EP_ENOMEM;
  ep_node_opts_set_longnames(o, c->want_longnames);
  ep_node_opts_set_ipv6(o, c->want_ipv6);
  ep_node_opts_set_notice_cb(o, c->notice_cb, c->notice_ud);
  ep_node_opts_set_mem(o, c->mem); /* the controller's allocator serves its node too */
  c->node_tries++;
  ep_node *n;
  int r = ep__node_start(c->loop, o, true, on_default_started, c, &n);
  ep_node_opts_free(o);
  if (!r) c->node_starting = n;
  return r;
}

static void on_old_closed(ep_node *n, void *ud) {
  (void)n;
  ep_ctl *c = ud;
  c->node_closing = NULL;
  int r = c->freed ? EP_ECANCELED : start_default(c);
  if (r) node_ready(c, r);
}

int ep__ctl_node_for(ep_ctl *c, ep_peer *p) {
  if (c->node_busy) {
    p->awaiting_node = true;
    return EP__NODE_PENDING;
  }
  bool v6 = peer_ipv6(p), longnames = false, ipv6 = false;
  ep_node *n = c->node;
  if (n) ep__node_naming(n, &longnames, &ipv6);
  if (n && longnames == p->o.longnames && (ipv6 || !v6)) return 0;
  if (n && (!c->node_default || !c->own_node || dist_in_use(c, p))) {
    /* ep_ctl_last_start_reason says which side is which */
    snprintf(c->last_reason, sizeof c->last_reason, "peer wants %s names%s, the controller's node %.60s has %s names%s",
             p->o.longnames ? "long" : "short", v6 ? " over IPv6" : "", ep_node_name(n), longnames ? "long" : "short",
             ipv6 ? " over IPv6" : "");
    return EP_EBADNAME;
  }
  if (!n && !c->sloop) return EP_ENEEDNODE;
  c->want_longnames = p->o.longnames;
  c->want_ipv6 = v6;
  c->node_tries = 0;
  if (n) {
    /* The default node in the other mode: closed, then started anew. */
    c->node = NULL;
    ep__node_watch(n, NULL, NULL);
    c->node_closing = n;
    ep_node_close(n, on_old_closed, c);
  } else {
    int r = start_default(c);
    if (r) return r;
  }
  c->node_busy = true;
  p->awaiting_node = true;
  return EP__NODE_PENDING;
}

void ep__ctl_node_abandon(ep_ctl *c) {
  if (c->node_retry) {
    uv_close((uv_handle_t *)c->node_retry, on_retry_closed);
    c->node_retry = NULL;
    node_ready(c, EP_ECANCELED);
  }
  if (c->node_starting) ep_node_close(c->node_starting, NULL, NULL); /* its start reports EP_ECANCELED */
  if (c->node) {
    ep__node_watch(c->node, NULL, NULL);
    if (c->own_node) ep_node_close(c->node, NULL, NULL);
    c->node = NULL;
  }
}
