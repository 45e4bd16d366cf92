/* ep_conn.c - a distribution connection's lifecycle: found by node name
 * (only once it counts: ours, or authenticated), dialled, accepted, the
 * handshake driven through the sans-I/O core (dist/ep_handshake.c), up,
 * failed and closed. Bytes move in lib/ep_conn_io.c, over the transport
 * stack (lib/ep_xport_int.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ep_cookie_file.h"
#include "ep_dflags.h"
#include "ep_epmd_uv.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_limits.h"
#include "ep_log.h"
#include "ep_node_int.h"
#include "ep_tls_int.h"
#include "ep_uverr_int.h"
#include "ep_xport_int.h"

/* --- connections: lifecycle --------------------------------------------------------- */

/* The connection that stands for a node: ours being set up, or one that
 * is up. An accepted handshake counts only once the other side's digest is
 * verified (ep__conn_up): until then a client that knows no cookie but sends a
 * live peer's name reaches nothing of that peer's (OTP keeps such a
 * handshake up_pending beside the live connection). */
ep__conn *ep__conn_find(ep_node *n, const char *peer) {
  for (ep__conn *c = n->conns; c; c = c->next)
    if (c->counts && c->state != EP__C_CLOSING && strcmp(c->peer, peer) == 0) return c;
  return NULL;
}

/* An accepted handshake from peer, not yet authenticated, that the
 * simultaneous-connect rule let go on (see accept_decision). */
static ep__conn *pending_simultaneous(ep_node *n, const char *peer) {
  for (ep__conn *c = n->conns; c; c = c->next)
    if (!c->counts && c->simultaneous && c->peer && c->state == EP__C_HANDSHAKE && strcmp(c->peer, peer) == 0) return c;
  return NULL;
}

static void adopt(ep__conn *c, ep__conn *old);

static void conn_free(ep__conn *c) {
  ep_node *n = c->node;
  ep__conn **pp = &n->conns;
  while (*pp && *pp != c) pp = &(*pp)->next;
  if (*pp) *pp = c->next;
  ep_hs_free(c->hs);
  ep_dist_reader_free(c->rd);
  ep_dist_writer_free(c->aw);
  ep_buf_free(&c->in);
  ep_buf_free(&c->out);
  ep_buf_free(&c->wbuf);
  ep_arena_free(c->arena);
  ep_arena_free(c->pre_arena);
  ep_arena_free(c->tx);
  ep_free(n->mem, c->pre);
  ep_free(n->mem, c->peer);
  ep_free(n->mem, c);
  n->open_handles--;
}

/* A callback we run may block in a loop of its own (docs/node.md allows
 * it), in which the connection it came from can end and its handles close.
 * So a function of ours that runs callbacks and then goes on with a
 * connection holds it: it is freed when the last holder lets go. */
void ep__conn_hold(ep__conn *c) { c->hold++; }

void ep__conn_unhold(ep__conn *c) {
  if (--c->hold == 0 && c->free_later) conn_free(c);
}

static void conn_closed(ep__conn *c) {
  if (c->hold) c->free_later = true;
  else conn_free(c);
}

static void on_conn_handle_closed(uv_handle_t *h) {
  ep__conn *c = h->data;
  if (--c->pending_close == 0) conn_closed(c);
}

static void on_xport_closed(void *ud) {
  ep__conn *c = ud;
  if (--c->pending_close == 0) conn_closed(c);
}

static void conn_close_handles(ep__conn *c) {
  c->pending_close = 1; /* held until both handles are queued */
  if (c->xp) {
    c->pending_close++;
    ep__xport *x = c->xp;
    c->xp = NULL;
    ep__xport_close(x);
  }
  if (c->timer_open) {
    c->pending_close++;
    c->timer_open = false;
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
  }
  if (--c->pending_close == 0) conn_closed(c);
}

/* Ends a connection: everything waiting on it learns why, links and
 * monitors to its node fire, and the handles close. */
void ep__conn_fail(ep__conn *c, int err) {
  if (c->state == EP__C_CLOSING) return;
  ep_node *n = c->node;
  ep__kick(n); /* a deadline or a tick: waiters and calls learn it from a timer */
  if (!c->outgoing && !c->counts && err == EP_EAUTH) {
    /* As OTP's "Connection attempt from node X rejected. Invalid challenge
     * reply.": one line each, rate-limited (ep_log). */
    n->stats.auth_rejected++;
    char addr[64];
    ep__xport_peer(c->xp, addr, sizeof addr);
    ep_log("%s: connection from %s claiming to be %s rejected: authentication failed (cookie mismatch)", n->name,
           addr, c->peer ? c->peer : "?");
  } else if (n->debug) {
    ep_log("%s: connection %s %s (state %d): %s", n->name, c->outgoing ? "to" : "from", c->peer ? c->peer : "?",
           (int)c->state, ep_strerror(err));
  }
  if (!c->outgoing && !c->counts && n->stats.handshakes_pending) n->stats.handshakes_pending--;
  if (c->counts || c->outgoing) {
    /* the transport's own words for the cause (TLS: OpenSSL's reason) */
    const char *why = c->xp ? c->xp->why : NULL;
    snprintf(n->conn_why, sizeof n->conn_why, "%s", why ? why : "");
  }
  bool was_up = c->state == EP__C_UP;
  c->state = EP__C_CLOSING;
  c->error = err;
  ep__epmd_lookup_cancel(c);
  if (!was_up && c->counts) {
    /* Our attempt lost a simultaneous connect (the other side answered
     * nok): its handshake on the connection it dialled us with goes on,
     * and what waited here moves there. */
    ep__conn *sim = c->peer ? pending_simultaneous(n, c->peer) : NULL;
    if (sim) {
      sim->counts = true;
      if (n->stats.handshakes_pending) n->stats.handshakes_pending--;
      adopt(sim, c);
      return;
    }
  }
  ep__waiter *w = c->waiters;
  c->waiters = NULL;
  while (w) {
    ep__waiter *next = w->next;
    w->cb(n, c->peer, err ? err : EP_ENODEDOWN, w->ud);
    ep_free(n->mem, w);
    w = next;
  }
  /* Only a connection that stood for its node fails calls and fires
   * links, monitors and nodedown: a rejected stranger touches nothing. */
  if (c->peer && c->counts) {
    ep__rpc_nodedown(n, c->peer, was_up ? EP_ENODEDOWN : err);
    /* Links and monitors made while it was being set up fire too, as the
     * BEAM's do (noconnection), unless they ride on a live connection to
     * that node (an incoming attempt that failed beside it). */
    if (was_up || !ep__conn_find(n, c->peer)) ep__proc_nodedown(n, c->peer, err);
    if (was_up) {
      if (n->event_cb) n->event_cb(n, EP_NODE_DOWN, c->peer, err, n->event_ud);
      if (n->watch_cb) n->watch_cb(n, EP_NODE_DOWN, c->peer, err, n->watch_ud);
    }
  }
  conn_close_handles(c);
}

static ep__conn *conn_new(ep_node *n, const char *peer) {
  ep__conn *c = ep_malloc(n->mem, sizeof *c);
  if (!c) return NULL;
  memset(c, 0, sizeof *c);
  c->node = n;
  c->arena = ep_arena_new(n->mem);
  if (!c->arena || (peer && !(c->peer = ep__mem_strdup(n->mem, peer)))) {
    ep_arena_free(c->arena);
    ep_free(n->mem, c);
    return NULL;
  }
  ep_buf_init(&c->in, n->mem);
  ep_buf_init(&c->out, n->mem);
  ep_buf_init(&c->wbuf, n->mem);
  c->timer.data = c;
  uv_timer_init(n->loop, &c->timer);
  c->timer_open = true;
  c->next = n->conns;
  n->conns = c;
  n->open_handles++;
  return c;
}

/* --- handshake ------------------------------------------------------------------------------ */

static void hs_write_output(ep__conn *c) {
  const uint8_t *d;
  size_t l;
  ep_hs_output(c->hs, &d, &l);
  if (l) {
    ep_buf_append(&c->out, d, l);
    ep_hs_output_ack(c->hs, l);
    ep__conn_flush(c);
  }
}

/* The acceptor's choice once the initiator's name is known (dist_util /
 * net_kernel): a live connection to that node means "alive" (the initiator
 * says whether its old one is gone); an outgoing attempt of ours in progress
 * means a simultaneous connect, which the greater node name wins. */
static ep_hs_decision accept_decision(ep__conn *c, const char *peer) {
  ep_node *n = c->node;
  ep__conn *old = ep__conn_find(n, peer);
  if (!old) return EP_HS_OK;
  if (old->state == EP__C_UP) return EP_HS_ALIVE;
  if (strcmp(n->name, peer) > 0) return EP_HS_NOK;
  c->simultaneous = true;
  return EP_HS_OK_SIMULTANEOUS;
}

/* When an accepted connection replaces an outgoing attempt (simultaneous
 * connect) or a dead old connection, what was waiting on the old one moves
 * to the new one. */
static void adopt(ep__conn *c, ep__conn *old) {
  for (size_t i = 0; i < old->npre; i++) ep__conn_queue(c, &old->pre[i]);
  old->npre = 0;
  ep__waiter **tail = &c->waiters;
  while (*tail) tail = &(*tail)->next;
  *tail = old->waiters;
  old->waiters = NULL;
  if (old->state == EP__C_UP) {
    ep__conn_fail(old, EP_ENODEDOWN);
  } else if (old->state != EP__C_CLOSING) {
    old->state = EP__C_CLOSING;
    ep__epmd_lookup_cancel(old);
    conn_close_handles(old);
  } else {
    conn_close_handles(old); /* from ep__conn_fail, which left this to us */
  }
}

/* The client profile remembers the nodes it was connected to, for
 * alive_decision (a hash: a collision only means answering "true"). */
static void note_peer(ep__conn *c) {
  ep_node *n = c->node;
  if (n->client && c->peer) ep__map_put(&n->peers_seen, ep__hash_bytes(c->peer, strlen(c->peer)), n);
}

/* The initiator's answer when the peer says "alive": it counts a
 * connection from a node of our name. A full node answers true (the old
 * connection is its own, gone: replace it). A client-profile node answers
 * true only if it was connected to that peer before; otherwise the name is
 * another program's (two one-shot clients, or agents, given the same
 * name), and taking it would cut that program's connection: false, and the
 * dial fails with EP_EALIVE (the CLI then tries its next name). */
static ep_hs_decision alive_decision(ep__conn *c) {
  ep_node *n = c->node;
  if (!n->client) return EP_HS_ALIVE_TRUE;
  bool seen = c->peer && ep__map_get(&n->peers_seen, ep__hash_bytes(c->peer, strlen(c->peer)));
  if (n->notice_cb) {
    char text[700];
    snprintf(text, sizeof text,
             seen ? "%s has a connection from a node named %s though ours is gone: another node of this name "
                    "took it over, or %s has not yet seen ours close; taking the name back"
                  : "%s already has a connection from a node named %s: another program uses this name; not "
                    "connecting under it",
             c->peer ? c->peer : "the node", n->name, c->peer ? c->peer : "the node");
    n->notice_cb(n, EP_NODE_NOTICE_NAME_IN_USE, text, n->notice_ud);
  }
  return seen ? EP_HS_ALIVE_TRUE : EP_HS_ALIVE_FALSE;
}

void ep__conn_drive_handshake(ep__conn *c) {
  for (;;) {
    size_t used = 0;
    int r = ep_hs_recv(c->hs, c->in.data + c->in_off, c->in.len - c->in_off, &used);
    c->in_off += used;
    hs_write_output(c);
    ep_hs_status st = ep_hs_status_get(c->hs);
    if (r || st == EP_HS_FAILED) {
      int err = ep_hs_error(c->hs) ? ep_hs_error(c->hs) : r;
      /* A TLS record (handshake 0x16 or alert 0x15, version 3.x) where a
       * plain handshake message was due: the node runs inet_tls. */
      const uint8_t *b = c->in.data + c->in_off - used;
      if (err == EP_EHANDSHAKE && !c->node->tls && c->in.len - c->in_off + used >= 2 && (b[0] == 0x16 || b[0] == 0x15) &&
          b[1] == 0x03)
        err = EP_EISTLS;
      ep__conn_fail(c, err);
      return;
    }
    if (st == EP_HS_DECIDE) {
      const char *peer = ep_hs_peer_name(c->hs);
      ep_hs_decision d = c->outgoing ? alive_decision(c) : accept_decision(c, peer);
      if (!c->outgoing && (d == EP_HS_OK || d == EP_HS_OK_SIMULTANEOUS || d == EP_HS_ALIVE)) {
        /* Named for the log and the simultaneous rule only: it does not
         * count for that node before conn_up. */
        if (!c->peer && !(c->peer = ep__mem_strdup(c->node->mem, peer))) {
          ep__conn_fail(c, EP_ENOMEM);
          return;
        }
      }
      int dr = ep_hs_decide(c->hs, d);
      hs_write_output(c);
      if (dr) {
        /* e.g. a NAME_ME initiator: we give out no names, the core has
         * queued not_allowed and failed. */
        ep__conn_fail(c, ep_hs_error(c->hs) ? ep_hs_error(c->hs) : dr);
        return;
      }
      continue;
    }
    if (st == EP_HS_DONE) {
      note_peer(c);
      ep__conn_up(c);
      return;
    }
    if (used == 0) break;
  }
  if (c->in_off) {
    ep_buf_consume(&c->in, c->in_off);
    c->in_off = 0;
  }
}

void ep__conn_up(ep__conn *c) {
  ep_node *n = c->node;
  const char *peer = ep_hs_peer_name(c->hs);
  if (!c->peer) c->peer = ep__mem_strdup(n->mem, peer);
  if (!c->counts) {
    /* Authenticated: it now stands for its node, in place of the old
     * connection (the initiator said it was gone) or of our own attempt. */
    ep__conn *old = ep__conn_find(n, c->peer);
    c->counts = true;
    if (n->stats.handshakes_pending) n->stats.handshakes_pending--;
    if (old) adopt(c, old);
  }
  c->flags = ep_hs_flags(c->hs);
  int r = ep_dist_reader_new(n->mem, c->flags, NULL, &c->rd);
  if (!r && (c->flags & EP_DFLAG_DIST_HDR_ATOM_CACHE)) r = ep_dist_writer_new(n->mem, &c->aw);
  if (r) {
    ep__conn_fail(c, r);
    return;
  }
  c->state = EP__C_UP;
  c->last_read = c->last_write = ep__now(n);
  uint64_t q = (uint64_t)n->ticktime * 1000 / 4;
  uv_timer_start(&c->timer, ep__conn_on_tick, q ? q : 250, q ? q : 250);
  for (size_t i = 0; i < c->npre; i++) ep_dist_write_ctrl(&c->out, &c->pre[i], c->flags);
  c->npre = 0;
  ep__waiter *w = c->waiters;
  c->waiters = NULL;
  /* Up first, then the queued frames leave: a write that fails now is a
   * DOWN after the UP, seen in that order by everyone who heard of it. A
   * callback below that blocks in a loop of its own still gets them out:
   * the flusher runs before that loop polls. */
  if (c->out.len && !n->closing) uv_prepare_start(&n->flusher, ep__node_on_flush);
  if (n->event_cb) n->event_cb(n, EP_NODE_UP, c->peer, 0, n->event_ud);
  if (n->watch_cb) n->watch_cb(n, EP_NODE_UP, c->peer, 0, n->watch_ud);
  while (w) {
    ep__waiter *next = w->next;
    w->cb(n, c->peer, 0, w->ud);
    ep_free(n->mem, w);
    w = next;
  }
  if (c->state == EP__C_UP) ep__conn_flush(c);
  if (c->state == EP__C_UP) ep__conn_process_frames(c);
}

static int hs_start(ep__conn *c, ep_hs_role role) {
  ep_node *n = c->node;
  ep_hs_config cfg = {0};
  cfg.role = role;
  cfg.this_node = n->name;
  cfg.creation = n->creation;
  cfg.flags = EP_DFLAGS_NODE; /* we write through ep_dist_write_cached/_gather/_ctrl */
  cfg.required_flags = EP_DFLAGS_REQUIRED;
  cfg.cookie = n->cookie;
  cfg.cookie_len = n->cookie_len;
  cfg.expected_peer = role == EP_HS_INITIATOR ? c->peer : NULL;
  cfg.len_size = n->tls ? 4 : 2; /* inet_tls_dist: {packet,4} from the start */
  int r = ep__random32(&cfg.challenge);
  if (!r) r = ep_hs_new(n->mem, &cfg, &c->hs);
  if (r) return r;
  c->state = EP__C_HANDSHAKE;
  /* An outgoing attempt's deadline runs from its start (lookup and dial
   * included) and may be shorter than the limit, if a caller asked
   * (ep_node_connect): keep it. An accepted connection starts its own. */
  if (!uv_is_active((uv_handle_t *)&c->timer))
    uv_timer_start(&c->timer, ep__conn_on_hs_timeout, n->setuptime_ms, 0);
  r = ep__xport_read_start(c->xp);
  if (r) return r;
  hs_write_output(c);
  return 0;
}

/* --- outgoing ------------------------------------------------------------------------------- */

static void on_connected(void *ud, int status) {
  ep__conn *c = ud;
  if (c->state == EP__C_CLOSING) return;
  if (status < 0) {
    ep__conn_fail(c, status);
    return;
  }
  int r = hs_start(c, c->outgoing ? EP_HS_INITIATOR : EP_HS_ACCEPTOR);
  if (r) ep__conn_fail(c, r);
}

static const ep__xport_up conn_xport_up = {on_connected, ep__conn_on_alloc, ep__conn_on_read, ep__conn_on_written, on_xport_closed};

/* The connection's transport: TCP, and the filters above it the node is
 * configured for. */
static int conn_transport(ep__conn *c) {
  ep_node *n = c->node;
  ep__xport *x;
  int r = ep__xport_tcp_new(n->loop, n->mem, &x);
  if (r) return r;
  if (n->tls) {
    /* TLS above TCP (inet_tls_dist); the host of the node dialled is its
     * SNI and, verifying, the name its certificate must carry. */
    const char *at = c->outgoing && c->peer ? strchr(c->peer, '@') : NULL;
    ep__xport *t;
    r = ep__xport_tls_new(n->tls, !c->outgoing, at ? at + 1 : NULL, x, n->mem, &t);
    if (r) {
      ep__xport_close(x);
      return r;
    }
    x = t;
  }
  ep__xport_set_up(x, &conn_xport_up, c);
  c->xp = x;
  return 0;
}

static void on_lookup(ep__conn *c, int status, int port) {
  (void)port;
  if (c->state == EP__C_CLOSING) return;
  if (status) {
    ep__conn_fail(c, status);
  }
}

/* The EPMD adapter calls this with the address to dial (port included). */
void ep__conn_dial(ep__conn *c, const struct sockaddr *addr) {
  ep_node *n = c->node;
  (void)n;
  if (c->state == EP__C_CLOSING) return;
  int r = conn_transport(c);
  c->state = EP__C_CONNECTING;
  if (!r) r = ep__xport_connect(c->xp, addr);
  if (r) ep__conn_fail(c, r);
}

int ep__conn_get(ep_node *n, const char *peer_in, ep__conn **out) {
  /* The common case, a full name with a live connection: no copy. */
  ep__conn *c = strchr(peer_in, '@') ? ep__conn_find(n, peer_in) : NULL;
  if (c) {
    *out = c;
    return 0;
  }
  char peer[EP__NODE_NAME_MAX];
  int e = ep__full_name(n, peer_in, peer, sizeof peer);
  if (e) return e;
  const char *at = strchr(peer, '@');
  c = ep__conn_find(n, peer);
  if (c) {
    *out = c;
    return 0;
  }
  if (strcmp(peer, n->name) == 0) return EP_EINVAL; /* ourselves */
  c = conn_new(n, peer);
  if (!c) return EP_ENOMEM;
  c->outgoing = true;
  c->counts = true;
  c->state = EP__C_LOOKUP;
  uv_timer_start(&c->timer, ep__conn_on_hs_timeout, n->setuptime_ms, 0);
  char alive[256];
  snprintf(alive, sizeof alive, "%.*s", (int)(at - peer), peer);
  int r = ep__epmd_lookup(n, c, at + 1, alive, on_lookup);
  if (r) {
    c->state = EP__C_CLOSING;
    conn_close_handles(c);
    return r;
  }
  *out = c;
  return 0;
}

/* A connect callback for a connection that is already up still comes from
 * the loop, never from inside ep_node_connect. */
typedef struct {
  uv_timer_t timer;
  ep_node *node;
  char peer[EP__NODE_NAME_MAX];
  ep_node_connect_cb cb;
  void *ud;
} ep__deferred_connect;

static void on_deferred_closed(uv_handle_t *h) {
  ep__deferred_connect *d = h->data;
  d->node->open_handles--;
  ep_free(d->node->mem, d);
}

static void on_deferred_connect(uv_timer_t *t) {
  ep__deferred_connect *d = t->data;
  ep__kick(d->node);
  ep__conn *c = ep__conn_find(d->node, d->peer);
  d->cb(d->node, d->peer, c && c->state == EP__C_UP ? 0 : EP_ENODEDOWN, d->ud);
  uv_close((uv_handle_t *)t, on_deferred_closed);
}

int ep_node_connect(ep_node *n, const char *peer, uint64_t timeout_ms, ep_node_connect_cb cb, void *ud) {
  if (n->closing) return EP_ECLOSED;
  ep__conn *c;
  int r = ep__conn_get(n, peer, &c);
  if (r) return r;
  if (c->state == EP__C_UP) {
    ep__deferred_connect *d = ep_malloc(n->mem, sizeof *d);
    if (!d) return EP_ENOMEM;
    d->node = n;
    snprintf(d->peer, sizeof d->peer, "%s", c->peer);
    d->cb = cb;
    d->ud = ud;
    uv_timer_init(n->loop, &d->timer);
    d->timer.data = d;
    n->open_handles++;
    uv_timer_start(&d->timer, on_deferred_connect, 0, 0);
    return 0;
  }
  ep__waiter *w = ep_malloc(n->mem, sizeof *w);
  if (!w) return EP_ENOMEM;
  w->cb = cb;
  w->ud = ud;
  /* The attempt ends at the earliest deadline anyone asked for
   * (EP_LIMIT_HANDSHAKE_MS at most): it fails for all with EP_ETIMEDOUT. */
  if (timeout_ms != EP_INFINITY && timeout_ms < uv_timer_get_due_in(&c->timer))
    uv_timer_start(&c->timer, ep__conn_on_hs_timeout, timeout_ms, 0);
  w->next = c->waiters;
  c->waiters = w;
  return 0;
}

bool ep_node_is_connected(const ep_node *n, const char *peer) {
  char full[EP__NODE_NAME_MAX];
  if (ep__full_name((ep_node *)n, peer, full, sizeof full)) return false;
  ep__conn *c = ep__conn_find((ep_node *)n, full);
  return c && c->state == EP__C_UP;
}

size_t ep_node_queued(const ep_node *n, const char *peer) {
  char full[EP__NODE_NAME_MAX];
  if (ep__full_name((ep_node *)n, peer, full, sizeof full)) return 0;
  ep__conn *c = ep__conn_find((ep_node *)n, full);
  return c ? c->out.len + (!c->writing ? 0 : c->lent ? c->lent_left : c->wbuf.len) : 0;
}

int ep_node_disconnect(ep_node *n, const char *peer) {
  char full[EP__NODE_NAME_MAX];
  if (ep__full_name(n, peer, full, sizeof full)) return EP_EBADNAME;
  ep__conn *c = ep__conn_find(n, full);
  if (!c) return EP_ENOTCONN;
  ep__conn_fail(c, EP_ENODEDOWN);
  return 0;
}

/* --- incoming ---------------------------------------------------------------------------------- */

void ep__node_on_connection(uv_stream_t *server, int status) {
  ep_node *n = server->data;
  if (status < 0) {
    /* accept(2) failed (libuv already took and closed the client if we are
     * out of descriptors): nothing is pending. Say why. */
    n->stats.accept_failed++;
    ep_log("%s: cannot accept a connection: %s", n->name, ep_strerror(ep__err_from_uv(status)));
    return;
  }
  ep__conn *c = NULL;
  if (n->stats.handshakes_pending >= EP_LIMIT_PENDING_HANDSHAKES) n->stats.handshakes_refused++;
  else if (!n->closing) c = conn_new(n, NULL);
  int r = c ? conn_transport(c) : EP_ENOMEM;
  if (c && !r) n->stats.handshakes_pending++;
  if (r) {
    ep__xport_tcp_reject(n->loop, n->mem, server);
    if (c) {
      c->state = EP__C_CLOSING;
      conn_close_handles(c);
    }
    return;
  }
  /* on_connected (from inside the accept) starts the handshake */
  r = ep__xport_accept(c->xp, server);
  if (r) ep__conn_fail(c, r);
}

