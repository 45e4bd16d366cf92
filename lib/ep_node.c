/* ep_node.c - node lifecycle, connections, handshake driving, framing, ticks.
 *
 * The sans-I/O cores do the protocol (dist/ep_handshake.c, dist/ep_dist.c);
 * this file only moves bytes between them and libuv sockets, and keeps time.
 * Writes are batched: frames are appended to conn->out and written in one
 * uv_write when the previous write has finished, so a burst of calls costs
 * one syscall, not one each. */
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
#include "ep_node_int.h"
#include "ep_uverr_int.h"

struct ep_node_opts {
  char *name;
  bool longnames, ipv6;
  char *cookie;
  unsigned ticktime;
  int epmd_port;
  ep_epmd_mode epmd_mode;
  int listen_port;
  ep_node_event_cb event_cb;
  void *event_ud;
  ep_node_notice_cb notice_cb;
  void *notice_ud;
  ep_node_output_cb output_cb;
  void *output_ud;
  const ep_mem *mem;
  bool client;
  /* The environment, read once when the options are made, never in the
   * middle of a start: ERL_EPMD_PORT (as erl reads it: a port number or
   * nothing; 70000 must not become 4464, nor "abc" the default) and
   * ERLPEER_DEBUG. */
  uint16_t env_epmd_port;
  int env_epmd_err;
  bool debug;
};

/* --- options ----------------------------------------------------------------------- */

ep_node_opts *ep_node_opts_new(void) {
  ep_node_opts *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->ticktime = 60;
  o->epmd_mode = EP_EPMD_AUTO;
  o->env_epmd_err = ep_epmd_port_from_env(&o->env_epmd_port);
  const char *dbg = getenv("ERLPEER_DEBUG");
  o->debug = dbg && *dbg && strcmp(dbg, "0") != 0;
  return o;
}

void ep_node_opts_free(ep_node_opts *o) {
  if (!o) return;
  free(o->name);
  if (o->cookie) {
    memset(o->cookie, 0, strlen(o->cookie));
    free(o->cookie);
  }
  free(o);
}

static bool valid_alive(const char *s, size_t n) {
  if (n == 0 || n > 255) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!(isalnum(c) || c == '_' || c == '-' || c == '.' || c >= 0x80)) return false;
  }
  return true;
}

int ep_node_opts_set_name(ep_node_opts *o, const char *name) {
  const char *at = strchr(name, '@');
  size_t alive = at ? (size_t)(at - name) : strlen(name);
  if (!valid_alive(name, alive) || (at && (!at[1] || strchr(at + 1, '@')))) return EP_EBADNAME;
  char *d = strdup(name);
  if (!d) return EP_ENOMEM;
  free(o->name);
  o->name = d;
  return 0;
}
void ep_node_opts_set_longnames(ep_node_opts *o, bool on) { o->longnames = on; }
int ep_node_opts_set_cookie(ep_node_opts *o, const char *cookie) {
  if (!cookie || !*cookie || strlen(cookie) > 255) return EP_EINVAL;
  char *d = strdup(cookie);
  if (!d) return EP_ENOMEM;
  free(o->cookie);
  o->cookie = d;
  return 0;
}
void ep_node_opts_set_ticktime(ep_node_opts *o, unsigned s) { o->ticktime = s ? s : 1; }
void ep_node_opts_set_epmd_port(ep_node_opts *o, int port) { o->epmd_port = port; }
void ep_node_opts_set_epmd_mode(ep_node_opts *o, ep_epmd_mode mode) { o->epmd_mode = mode; }
void ep_node_opts_set_ipv6(ep_node_opts *o, bool on) { o->ipv6 = on; }
void ep_node_opts_set_listen_port(ep_node_opts *o, int port) { o->listen_port = port; }
void ep_node_opts_set_event_cb(ep_node_opts *o, ep_node_event_cb cb, void *ud) {
  o->event_cb = cb;
  o->event_ud = ud;
}
void ep_node_opts_set_output_cb(ep_node_opts *o, ep_node_output_cb cb, void *ud) {
  o->output_cb = cb;
  o->output_ud = ud;
}
void ep_node_opts_set_mem(ep_node_opts *o, const ep_mem *mem) { o->mem = mem; }
void ep_node_opts_set_client(ep_node_opts *o, bool on) { o->client = on; }
void ep_node_opts_set_notice_cb(ep_node_opts *o, ep_node_notice_cb cb, void *ud) {
  o->notice_cb = cb;
  o->notice_ud = ud;
}
const ep_mem *ep__node_opts_mem(const ep_node_opts *o) { return o->mem ? o->mem : ep_mem_default(); }

/* --- small helpers ------------------------------------------------------------------- */

uint64_t ep__now(ep_node *n) { return uv_now(n->loop); }

static char *mem_strdup(const ep_mem *m, const char *s) {
  size_t l = strlen(s);
  char *d = ep_malloc(m, l + 1);
  if (d) memcpy(d, s, l + 1);
  return d;
}

/* From the kernel's CSPRNG (getrandom), or an error: a handshake challenge
 * that could be guessed lets a recorded digest be replayed, so there is no
 * weaker fallback. */
static int random32(uint32_t *v) {
  return uv_random(NULL, NULL, v, sizeof *v, 0, NULL) == 0 ? 0 : EP_ESYS;
}

/* The cookie file as erl reads it (lib/ep_cookie_file.c): the reason a bad
 * file is refused is for the caller to ask, ep_cookie_file_read again. */
static int read_cookie(uint8_t *out, size_t cap, size_t *len) {
  return ep_cookie_file_read(out, cap, len, NULL, 0);
}

/* This host's name for a node name: 0 with out set, 1 when it still needs
 * the resolver (a long name on a host without a domain: see
 * canonical_host), or an error. */
static int local_host(bool longnames, char *out, size_t cap) {
  size_t sz = cap;
  if (uv_os_gethostname(out, &sz) != 0) return EP_ESYS;
  if (!longnames) {
    char *dot = strchr(out, '.');
    if (dot) *dot = 0;
    return 0;
  }
  return strchr(out, '.') ? 0 : 1;
}

/* A long name needs a fully qualified host: the resolver's canonical name,
 * as inet_db takes. No domain (common in containers and CI, where erl
 * -name without a host fails with "Can't set long node name"): a BEAM with
 * long names refuses to dial a dotless host ("System running to use fully
 * qualified hostnames"), so take the host's own address, as `-name x@IP`
 * does, and failing that the loopback address of the family: peers on this
 * machine can still reach us. */
static void canonical_host(const struct addrinfo *res, bool ipv6, char *out, size_t cap) {
  if (res && res->ai_canonname && strchr(res->ai_canonname, '.')) {
    snprintf(out, cap, "%s", res->ai_canonname);
    return;
  }
  char ip[64] = {0};
  if (res) {
    if (res->ai_family == AF_INET6)
      uv_ip6_name((struct sockaddr_in6 *)res->ai_addr, ip, sizeof ip);
    else
      uv_ip4_name((struct sockaddr_in *)res->ai_addr, ip, sizeof ip);
  }
  snprintf(out, cap, "%s", ip[0] ? ip : ipv6 ? "::1" : "127.0.0.1");
}

int ep__full_name(ep_node *n, const char *peer, char *out, size_t cap) {
  const char *at = strchr(peer, '@');
  int w = at ? snprintf(out, cap, "%s", peer) : snprintf(out, cap, "%s@%s", peer, n->host);
  if (w < 0 || (size_t)w >= cap) return EP_EBADNAME;
  at = strchr(out, '@');
  if (!valid_alive(out, (size_t)(at - out)) || !at[1] || strchr(at + 1, '@')) return EP_EBADNAME;
  return 0;
}

const char *ep__node_of(ep_term t) {
  switch (t.type) {
    case EP_T_PID:
      return t.v.pid.node;
    case EP_T_REF:
      return t.v.ref.node;
    case EP_T_PORT:
      return t.v.port.node;
    default:
      return NULL;
  }
}

/* --- connections: lifecycle --------------------------------------------------------- */

/* The connection that stands for a node: ours being set up, or one that
 * is up. An accepted handshake counts only once the other side's digest is
 * verified (conn_up): until then a client that knows no cookie but sends a
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
static void conn_hold(ep__conn *c) { c->hold++; }

static void conn_unhold(ep__conn *c) {
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

static void conn_close_handles(ep__conn *c) {
  c->pending_close = 1; /* held until both handles are queued */
  if (c->tcp_open) {
    c->pending_close++;
    c->tcp_open = false;
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
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
  if (n->debug)
    fprintf(stderr, "erlpeer[%s]: connection %s %s (state %d): %s\n", n->name, c->outgoing ? "to" : "from",
            c->peer ? c->peer : "?", (int)c->state, ep_strerror(err));
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
  if (!c->arena || (peer && !(c->peer = mem_strdup(n->mem, peer)))) {
    ep_arena_free(c->arena);
    ep_free(n->mem, c);
    return NULL;
  }
  ep_buf_init(&c->in, n->mem);
  ep_buf_init(&c->out, n->mem);
  ep_buf_init(&c->wbuf, n->mem);
  c->tcp.data = c;
  c->timer.data = c;
  uv_timer_init(n->loop, &c->timer);
  c->timer_open = true;
  c->next = n->conns;
  n->conns = c;
  n->open_handles++;
  return c;
}

/* --- writing -------------------------------------------------------------------------------- */

static void conn_flush(ep__conn *c);

static void on_written(uv_write_t *req, int status) {
  ep__conn *c = req->data;
  c->writing = false;
  c->wbuf.len = 0;
  ep__release *rel = c->lent;
  if (rel) {
    /* From the loop, so the callback may send again at once. */
    c->lent = NULL;
    rel->cb(c->node, status < 0 ? ep_err_from_errno(status) : 0, rel->ud);
    ep_free(c->node->mem, rel);
  }
  if (status < 0) {
    ep__conn_fail(c, ep_err_from_errno(status));
    return;
  }
  c->last_write = ep__now(c->node);
  conn_flush(c);
}

static void conn_flush(ep__conn *c) {
  if (c->writing || !c->tcp_open || c->out.len == 0) return;
  if (c->state != EP__C_UP && c->state != EP__C_HANDSHAKE) return;
  /* Loopback and LAN writes nearly always go through at once: try that
   * first. It costs one syscall and no request, callback or loop turn (a
   * uv_write that completes at once still reports it on the next turn and
   * re-arms epoll after it). */
  uv_buf_t all = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
  int w = uv_try_write((uv_stream_t *)&c->tcp, &all, 1);
  if (w >= 0 && (size_t)w == c->out.len) {
    c->out.len = 0;
    c->last_write = ep__now(c->node);
    return;
  }
  if (w < 0 && w != UV_EAGAIN) {
    ep__conn_fail(c, ep_err_from_errno(w));
    return;
  }
  if (w < 0) w = 0;
  /* Swap: out becomes the buffer in flight, the old flight buffer collects
   * what comes next; the part already written is skipped, not moved. */
  ep_buf t = c->wbuf;
  c->wbuf = c->out;
  c->out = t;
  c->out.len = 0;
  uv_buf_t b = uv_buf_init((char *)c->wbuf.data + w, (unsigned)(c->wbuf.len - (size_t)w));
  c->wreq.data = c;
  int r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written);
  if (r < 0) {
    ep__conn_fail(c, ep_err_from_errno(r));
    return;
  }
  c->writing = true;
}

/* Frames sent while a read is being dispatched (replies, the next calls)
 * wait until the whole read is: one write for all of them. Frames sent
 * after a write in the same loop turn wait for the flusher, a prepare
 * handle, which runs before the loop polls (also in a nested loop, should
 * a callback block). A prepare handle does not shorten the poll, and needs
 * not: it runs before every poll, so nothing it is there for is left
 * waiting while the loop blocks. */
static void flush_all(ep_node *n) {
  uv_prepare_stop(&n->flusher);
  for (ep__conn *c = n->conns, *next; c; c = next) {
    conn_hold(c); /* a failed write runs callbacks: c->next is read after */
    conn_flush(c);
    next = c->next;
    conn_unhold(c);
  }
}

static void on_flush_prepare(uv_prepare_t *p) { flush_all(p->data); }

/* Runs the done callbacks of lent messages that no longer need their
 * memory: those queued when the turn began, not the ones their callbacks
 * queue (a sender streaming from its done callback would otherwise run
 * its whole stream here, with no read, timer or other connection served
 * in between). With all set (closing: sends are refused, so no callback
 * can queue more), every one. */
static void run_releases(ep_node *n, bool all) {
  do {
    if (!n->releasing) {
      n->releasing = n->releases;
      n->releases = NULL;
      n->releases_tail = &n->releases;
    }
    while (n->releasing) {
      ep__release *r = n->releasing;
      n->releasing = r->next;
      r->cb(n, r->status, r->ud);
      ep_free(n->mem, r);
    }
  } while (all && n->releases);
}

/* Stays on for a turn that ran something (so that turn's poll does not
 * block, whatever the libuv version computes its poll timeout from), and
 * while callbacks queued more (the next turn polls without blocking, then
 * runs them); stops in the first turn with nothing to do. */
static void on_release_idle(uv_idle_t *h) {
  ep_node *n = h->data;
  bool busy = n->kicked || n->releases || n->releasing;
  n->kicked = false;
  run_releases(n, false);
  if (!busy && !n->releases) uv_idle_stop(h);
}

void ep__kick(ep_node *n) {
  n->kicked = true;
  if (!n->closing && !uv_is_active((uv_handle_t *)&n->releaser)) uv_idle_start(&n->releaser, on_release_idle);
}

void ep__release_later(ep_node *n, ep__release *rel) {
  rel->status = 0;
  rel->next = NULL;
  if (!n->releases) n->releases_tail = &n->releases;
  *n->releases_tail = rel;
  n->releases_tail = &rel->next;
  if (!n->closing && !uv_is_active((uv_handle_t *)&n->releaser)) uv_idle_start(&n->releaser, on_release_idle);
}

static ep_ctrl ctrl_copy(ep_arena *a, const ep_ctrl *c) {
  ep_ctrl d = *c;
  d.from = ep_term_copy(a, c->from);
  d.to = ep_term_copy(a, c->to);
  d.ref = ep_term_copy(a, c->ref);
  d.msg = ep_term_copy(a, c->msg);
  d.reason = ep_term_copy(a, c->reason);
  d.token = ep_term_copy(a, c->token);
  d.group_leader = ep_term_copy(a, c->group_leader);
  d.mfa = ep_term_copy(a, c->mfa);
  d.opts = ep_term_copy(a, c->opts);
  d.result = ep_term_copy(a, c->result);
  return d;
}

/* Before the handshake is done the negotiated flags (and so the frame form:
 * with FRAGMENTS every frame needs the 131 68 header) are unknown: keep the
 * message, encode it in conn_up. */
static int conn_queue(ep__conn *c, const ep_ctrl *ctrl) {
  ep_node *n = c->node;
  if (!c->pre_arena && !(c->pre_arena = ep_arena_new(n->mem))) return EP_ENOMEM;
  if (c->npre == c->cappre) {
    size_t cap = c->cappre ? c->cappre * 2 : 8;
    ep_ctrl *p = ep_realloc(n->mem, c->pre, cap * sizeof *p);
    if (!p) return EP_ENOMEM;
    c->pre = p;
    c->cappre = cap;
  }
  c->pre[c->npre++] = ctrl_copy(c->pre_arena, ctrl);
  return 0;
}

/* Segments for one gathered frame: up to 7 large binaries go by reference
 * (ep_encode_gather reserves 2 per reference and 1 for the tail); more are
 * copied. */
#define EP__SEND_SEGS 16

/* Writes a gathered frame (its buffer parts in c->out, nothing else queued
 * or in flight) with uv_try_write, straight from the sender's memory: the
 * referenced binaries are only valid during the send, which is fine because
 * uv_try_write is synchronous. What the socket did not take is copied into
 * c->out and written the normal way, unless the sender lent its memory
 * (rel): then the rest goes to uv_write from where it is, the frame's own
 * bytes moved to wbuf (which nothing touches while a write is in flight),
 * and on_written releases it. Returns 0, or the error that failed the
 * connection; *lent tells whether rel was taken. */
static int conn_write_gathered(ep__conn *c, const ep_gather *g, ep__release *rel, bool *lent) {
  uv_buf_t b[EP__SEND_SEGS];
  size_t total = 0;
  for (size_t i = 0; i < g->n; i++) {
    const ep_seg *s = &g->segs[i];
    b[i] = uv_buf_init((char *)(s->ext ? s->ext : c->out.data + s->off), (unsigned)s->len);
    total += s->len;
  }
  int w = uv_try_write((uv_stream_t *)&c->tcp, b, (unsigned)g->n);
  if (w == UV_EAGAIN) w = 0;
  if (w < 0) {
    c->out.len = 0;
    int e = ep_err_from_errno(w);
    ep__conn_fail(c, e);
    return e;
  }
  if (w > 0) c->last_write = ep__now(c->node);
  size_t skip = (size_t)w;
  if (rel && skip < total) {
    ep_buf t = c->wbuf;
    c->wbuf = c->out;
    c->out = t;
    c->out.len = 0;
    uv_buf_t rest[EP__SEND_SEGS];
    unsigned nr = 0;
    for (size_t i = 0; i < g->n; i++) {
      if (skip >= b[i].len) {
        skip -= b[i].len;
        continue;
      }
      char *base = g->segs[i].ext ? b[i].base : (char *)c->wbuf.data + g->segs[i].off;
      rest[nr++] = uv_buf_init(base + skip, (unsigned)(b[i].len - skip));
      skip = 0;
    }
    c->wreq.data = c;
    int r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, rest, nr, on_written);
    if (r < 0) {
      c->wbuf.len = 0;
      int e = ep_err_from_errno(r);
      ep__conn_fail(c, e);
      return e;
    }
    c->writing = true;
    c->lent = rel;
    c->lent_left = total - (size_t)w;
    *lent = true;
    return 0;
  }
  /* The rest goes into wbuf (idle: nothing is being written), which then
   * becomes out; the copy cannot fail half-way silently: the frame is
   * partly on the wire, so running out of memory ends the connection. */
  c->wbuf.len = 0;
  c->wbuf.err = 0;
  if (skip < total && ep_buf_reserve(&c->wbuf, total - skip)) {
    c->out.len = 0;
    ep__conn_fail(c, EP_ENOMEM);
    return EP_ENOMEM;
  }
  for (size_t i = 0; i < g->n && skip < total; i++) {
    if (skip >= b[i].len) {
      skip -= b[i].len;
      continue;
    }
    ep_buf_append(&c->wbuf, b[i].base + skip, b[i].len - skip);
    skip = 0;
  }
  ep_buf t = c->out;
  c->out = c->wbuf;
  c->wbuf = t;
  c->wbuf.len = 0;
  return 0;
}

int ep__conn_send(ep__conn *c, const ep_ctrl *ctrl) { return ep__conn_send_lent(c, ctrl, NULL); }

int ep__conn_send_lent(ep__conn *c, const ep_ctrl *ctrl, ep__release *rel) {
  if (c->state == EP__C_CLOSING) return EP_ENOTCONN;
  if (c->state != EP__C_UP) {
    /* Queued as a deep copy: the sender's memory is free at once. */
    int q = conn_queue(c, ctrl);
    if (!q && rel) ep__release_later(c->node, rel);
    return q;
  }
  if (c->out.len > EP_LIMIT_SEND_QUEUE) return EP_ENOMEM;
  size_t before = c->out.len;
  /* One arena per connection for building control tuples, reset after
   * each: a send costs no allocation once it has grown. */
  if (!c->tx && !(c->tx = ep_arena_new(c->node->mem))) return EP_ENOMEM;
  ep_term control, payload;
  /* On an idle connection, large binaries are not copied (see
   * conn_write_gathered); anything else is encoded into out as usual. */
  bool idle = before == 0 && !c->writing && c->tcp_open;
  ep_seg segs[EP__SEND_SEGS];
  ep_gather g;
  ep_gather_init(&g, segs, EP__SEND_SEGS, EP_SEND_GATHER_MIN, &c->out);
  int r = ep_ctrl_build(c->tx, ctrl, c->flags, &control, &payload);
  if (!r) r = ep_dist_write_cached(c->aw, &c->out, idle ? &g : NULL, c->flags, control, payload);
  bool lent = false;
  if (!r && idle && g.ext_bytes) {
    ep_arena_reset(c->tx);
    int e = conn_write_gathered(c, &g, rel, &lent);
    if (e) return e; /* the connection failed: part of the frame may be out */
  }
  ep_arena_reset(c->tx);
  if (r) {
    c->out.len = before;
    c->out.err = 0; /* a failed frame must not poison the connection */
    return r;
  }
  if (rel && !lent) ep__release_later(c->node, rel); /* copied, or written whole */
  /* The first frame of a loop turn is written at once (latency); later
   * ones, and those sent while a read is dispatched, wait for the flusher
   * (before the loop polls) or the read's end: one write for a burst. */
  ep_node *n = c->node;
  bool deferring = n->batch || uv_is_active((uv_handle_t *)&n->flusher);
  if (n->closing) conn_flush(c); /* the flusher is gone once closing */
  else if (!deferring) conn_flush(c), uv_prepare_start(&n->flusher, on_flush_prepare);
  else if (!uv_is_active((uv_handle_t *)&n->flusher)) uv_prepare_start(&n->flusher, on_flush_prepare);
  return 0;
}

/* --- reading -------------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  ep__conn *c = h->data;
  /* Room for what the frame being read still lacks, but growing by at
   * most the buffer's size per read: memory follows the bytes that
   * arrive, not a length header (up to EP_LIMIT_FRAME_SIZE) the peer may
   * never fill. Doubling keeps the copies of a large frame linear. */
  size_t want = 65536;
  if (c->in_need > c->in.len) {
    size_t lack = c->in_need - c->in.len, step = c->in.cap > want ? c->in.cap : want;
    if (lack > want) want = lack < step ? lack : step;
  }
  (void)suggested;
  if (ep_buf_reserve(&c->in, want) != 0) {
    buf->base = NULL;
    buf->len = 0;
    return;
  }
  buf->base = (char *)c->in.data + c->in.len;
  buf->len = c->in.cap - c->in.len;
}

static void conn_up(ep__conn *c);
static void drive_handshake(ep__conn *c);

static void process_frames(ep__conn *c) {
  while (c->state == EP__C_UP) {
    size_t used = 0, need = 0;
    ep_dist_msg m;
    ep_arena_reset(c->arena);
    int r = ep_dist_read(c->rd, c->arena, c->in.data + c->in_off, c->in.len - c->in_off, &used, &need, &m);
    if (r == EP_EINCOMPLETE) {
      c->in_need = need;
      break;
    }
    if (r) {
      ep__conn_fail(c, r);
      return;
    }
    c->in_off += used;
    c->in_need = 0;
    if (m.kind != EP_DIST_MESSAGE) continue;
    ep_ctrl ctrl;
    r = ep_ctrl_parse(m.control, m.payload, &ctrl);
    if (r) {
      /* Unknown or malformed control message: skip it, say so once. */
      fprintf(stderr, "erlpeer: %s: skipped a control message: %s\n", c->peer, ep_strerror(r));
      continue;
    }
    ep__dispatch(c, &ctrl);
  }
  if (c->in_off && c->state != EP__C_CLOSING) {
    ep_buf_consume(&c->in, c->in_off);
    c->in_off = 0;
  }
}

static void read_held(ep__conn *c, ssize_t nread);

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  ep__conn *c = s->data;
  (void)buf;
  conn_hold(c); /* the messages' callbacks may run loops of their own */
  read_held(c, nread);
  conn_unhold(c);
}

static void read_held(ep__conn *c, ssize_t nread) {
  if (nread < 0) {
    int err = nread == UV_EOF ? EP_ENODEDOWN : ep_err_from_errno((int)nread);
    /* OTP answers a wrong digest by closing the socket: a close once the
     * other side's name (and challenge) arrived is a cookie mismatch. */
    if (c->state == EP__C_HANDSHAKE) err = ep_hs_peer_name(c->hs) ? EP_EAUTH : EP_ECONNRESET;
    ep__conn_fail(c, err);
    return;
  }
  if (nread == 0) return;
  if (c->in.data == NULL) {
    ep__conn_fail(c, EP_ENOMEM);
    return;
  }
  c->in.len += (size_t)nread;
  c->last_read = ep__now(c->node);
  if (c->state == EP__C_HANDSHAKE) {
    drive_handshake(c);
    return;
  }
  ep_node *n = c->node;
  n->batch++;
  process_frames(c);
  if (--n->batch == 0) flush_all(n);
}

/* --- ticks ----------------------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t) {
  ep__conn *c = t->data;
  if (c->state != EP__C_UP) return;
  uint64_t now = ep__now(c->node), T = (uint64_t)c->node->ticktime * 1000;
  if (now - c->last_read >= T) {
    ep__conn_fail(c, EP_ETICK);
    return;
  }
  if (now - c->last_write >= T / 4 && c->out.len == 0 && !c->writing) {
    ep_dist_write_tick(&c->out);
    conn_flush(c);
  }
}

static void on_handshake_timeout(uv_timer_t *t) {
  ep__conn *c = t->data;
  if (c->state != EP__C_UP) ep__conn_fail(c, EP_ETIMEDOUT);
}

/* --- handshake ------------------------------------------------------------------------------ */

static void hs_write_output(ep__conn *c) {
  const uint8_t *d;
  size_t l;
  ep_hs_output(c->hs, &d, &l);
  if (l) {
    ep_buf_append(&c->out, d, l);
    ep_hs_output_ack(c->hs, l);
    conn_flush(c);
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
  for (size_t i = 0; i < old->npre; i++) conn_queue(c, &old->pre[i]);
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

static void drive_handshake(ep__conn *c) {
  for (;;) {
    size_t used = 0;
    int r = ep_hs_recv(c->hs, c->in.data + c->in_off, c->in.len - c->in_off, &used);
    c->in_off += used;
    hs_write_output(c);
    ep_hs_status st = ep_hs_status_get(c->hs);
    if (r || st == EP_HS_FAILED) {
      ep__conn_fail(c, ep_hs_error(c->hs) ? ep_hs_error(c->hs) : r);
      return;
    }
    if (st == EP_HS_DECIDE) {
      const char *peer = ep_hs_peer_name(c->hs);
      ep_hs_decision d = c->outgoing ? alive_decision(c) : accept_decision(c, peer);
      if (!c->outgoing && (d == EP_HS_OK || d == EP_HS_OK_SIMULTANEOUS || d == EP_HS_ALIVE)) {
        /* Named for the log and the simultaneous rule only: it does not
         * count for that node before conn_up. */
        if (!c->peer && !(c->peer = mem_strdup(c->node->mem, peer))) {
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
      conn_up(c);
      return;
    }
    if (used == 0) break;
  }
  if (c->in_off) {
    ep_buf_consume(&c->in, c->in_off);
    c->in_off = 0;
  }
}

static void conn_up(ep__conn *c) {
  ep_node *n = c->node;
  const char *peer = ep_hs_peer_name(c->hs);
  if (!c->peer) c->peer = mem_strdup(n->mem, peer);
  if (!c->counts) {
    /* Authenticated: it now stands for its node, in place of the old
     * connection (the initiator said it was gone) or of our own attempt. */
    ep__conn *old = ep__conn_find(n, c->peer);
    c->counts = true;
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
  uv_timer_start(&c->timer, on_tick, q ? q : 250, q ? q : 250);
  for (size_t i = 0; i < c->npre; i++) ep_dist_write_ctrl(&c->out, &c->pre[i], c->flags);
  c->npre = 0;
  ep__waiter *w = c->waiters;
  c->waiters = NULL;
  /* Up first, then the queued frames leave: a write that fails now is a
   * DOWN after the UP, seen in that order by everyone who heard of it. A
   * callback below that blocks in a loop of its own still gets them out:
   * the flusher runs before that loop polls. */
  if (c->out.len && !n->closing) uv_prepare_start(&n->flusher, on_flush_prepare);
  if (n->event_cb) n->event_cb(n, EP_NODE_UP, c->peer, 0, n->event_ud);
  if (n->watch_cb) n->watch_cb(n, EP_NODE_UP, c->peer, 0, n->watch_ud);
  while (w) {
    ep__waiter *next = w->next;
    w->cb(n, c->peer, 0, w->ud);
    ep_free(n->mem, w);
    w = next;
  }
  if (c->state == EP__C_UP) conn_flush(c);
  if (c->state == EP__C_UP) process_frames(c);
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
  int r = random32(&cfg.challenge);
  if (!r) r = ep_hs_new(n->mem, &cfg, &c->hs);
  if (r) return r;
  c->state = EP__C_HANDSHAKE;
  /* An outgoing attempt's deadline runs from its start (lookup and dial
   * included) and may be shorter than the limit, if a caller asked
   * (ep_node_connect): keep it. An accepted connection starts its own. */
  if (!uv_is_active((uv_handle_t *)&c->timer))
    uv_timer_start(&c->timer, on_handshake_timeout, EP_LIMIT_HANDSHAKE_MS, 0);
  r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (r) return ep_err_from_errno(r);
  hs_write_output(c);
  return 0;
}

/* --- outgoing ------------------------------------------------------------------------------- */

static void on_connected(uv_connect_t *req, int status) {
  ep__conn *c = req->data;
  if (c->state == EP__C_CLOSING) return;
  if (status < 0) {
    ep__conn_fail(c, ep_err_from_errno(status));
    return;
  }
  int r = hs_start(c, EP_HS_INITIATOR);
  if (r) ep__conn_fail(c, r);
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
  if (c->state == EP__C_CLOSING) return;
  uv_tcp_init(n->loop, &c->tcp);
  c->tcp.data = c;
  c->tcp_open = true;
  uv_tcp_nodelay(&c->tcp, 1);
  c->state = EP__C_CONNECTING;
  c->creq.data = c;
  int r = uv_tcp_connect(&c->creq, &c->tcp, addr, on_connected);
  if (r) ep__conn_fail(c, ep_err_from_errno(r));
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
  uv_timer_start(&c->timer, on_handshake_timeout, EP_LIMIT_HANDSHAKE_MS, 0);
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
  if (timeout_ms && timeout_ms < uv_timer_get_due_in(&c->timer))
    uv_timer_start(&c->timer, on_handshake_timeout, timeout_ms, 0);
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

static void on_connection(uv_stream_t *server, int status) {
  ep_node *n = server->data;
  if (status < 0 || n->closing) return;
  ep__conn *c = conn_new(n, NULL);
  if (!c) return;
  uv_tcp_init(n->loop, &c->tcp);
  c->tcp.data = c;
  c->tcp_open = true;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    c->state = EP__C_CLOSING;
    conn_close_handles(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  int r = hs_start(c, EP_HS_ACCEPTOR);
  if (r) ep__conn_fail(c, r);
}

/* --- start and close ----------------------------------------------------------------------------- */

static void finish_start(ep_node *n, int status) {
  if (n->started != 0) return;
  n->started = status ? status : 1;
  ep__kick(n); /* reported from a timer, with no EPMD or a failure */
  if (n->start_cb) n->start_cb(n, status, n->start_ud);
}

static void on_registered(ep_node *n, int status, uint32_t creation) {
  if (status) {
    finish_start(n, status);
    return;
  }
  n->creation = creation;
  finish_start(n, 0);
}

static int make_procs(ep_node *n);

static void on_node_handle_closed(uv_handle_t *h);

static void on_start_failed(uv_timer_t *t) {
  ep_node *n = t->data;
  finish_start(n, n->start_error);
  /* Kept open for this by a close begun before; a close begun by the start
   * callback itself has closed it already. */
  if (n->closing && !uv_is_closing((uv_handle_t *)t)) uv_close((uv_handle_t *)t, on_node_handle_closed);
}

static void node_release(ep_node *n);

/* Frees a node that never touched the loop: its processes are still there
 * (they end in begin_close otherwise), no close callback is set. */
static void node_release_early(ep_node *n) {
  for (size_t i = 0; i < n->procs.cap; i++)
    if (ep__map_live(&n->procs, i)) {
      ep_proc *p = n->procs.slots[i].val;
      ep_free(n->mem, p->name);
      ep_free(n->mem, p);
    }
  node_release(n);
}

/* The node's names, once its host is known; then its processes. */
static int set_names(ep_node *n, const char *alive, const char *host) {
  char name[800];
  if (alive) snprintf(name, sizeof name, "%s@%s", alive, host);
  else snprintf(name, sizeof name, "erlpeer-%ld@%s", (long)getpid(), host);
  if (!(n->host = mem_strdup(n->mem, host)) || !(n->name = mem_strdup(n->mem, name))) return EP_ENOMEM;
  return make_procs(n);
}

/* Listens (unless a client), then registers in EPMD as the mode says. */
static int begin_listen(ep_node *n) {
  if (n->client) return ep__epmd_register(n, on_registered); /* EP_EPMD_NONE: reported from the loop */
  uv_tcp_init(n->loop, &n->listener);
  n->listener.data = n;
  n->listener_open = true;
  n->open_handles++;
  struct sockaddr_storage sa;
  if (n->ipv6) uv_ip6_addr("::", n->listen_port, (struct sockaddr_in6 *)&sa);
  else uv_ip4_addr("0.0.0.0", n->listen_port, (struct sockaddr_in *)&sa);
  int r = uv_tcp_bind(&n->listener, (struct sockaddr *)&sa, 0);
  if (!r) r = uv_listen((uv_stream_t *)&n->listener, 128, on_connection);
  if (r) return ep_err_from_errno(r);
  int len = sizeof sa;
  uv_tcp_getsockname(&n->listener, (struct sockaddr *)&sa, &len);
  n->listen_port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                  : ((struct sockaddr_in *)&sa)->sin_port);
  return ep__epmd_register(n, on_registered);
}

static void on_host_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res) {
  ep_node *n = g->data;
  n->open_handles--;
  n->resolving = false;
  char host[512];
  canonical_host(status == 0 ? res : NULL, n->ipv6, host, sizeof host);
  if (res) uv_freeaddrinfo(res);
  if (n->closing) {
    finish_start(n, EP_ECANCELED);
    return;
  }
  int r = set_names(n, n->alive, host);
  if (!r) r = begin_listen(n);
  if (r) finish_start(n, r);
}

int ep_node_start(uv_loop_t *loop, const ep_node_opts *o, ep_node_start_cb cb, void *ud, ep_node **out) {
  return ep__node_start(loop, o, false, cb, ud, out);
}

int ep__node_start(uv_loop_t *loop, const ep_node_opts *o, bool serve_epmd, ep_node_start_cb cb, void *ud,
                   ep_node **out) {
  const ep_mem *mem = o->mem ? o->mem : ep_mem_default();
  ep_node *n = ep_malloc(mem, sizeof *n);
  if (!n) return EP_ENOMEM;
  memset(n, 0, sizeof *n);
  n->mem = mem;
  n->loop = loop;
  n->longnames = o->longnames;
  n->ipv6 = o->ipv6;
  n->ticktime = o->ticktime ? o->ticktime : 60;
  n->client = o->client;
  n->epmd_mode = o->client ? EP_EPMD_NONE : o->epmd_mode;
  if (serve_epmd && n->epmd_mode == EP_EPMD_AUTO) n->epmd_mode = EP_EPMD_AUTO_SERVE;
  n->notice_cb = o->notice_cb;
  n->notice_ud = o->notice_ud;
  n->listen_port = o->listen_port;
  n->event_cb = o->event_cb;
  n->event_ud = o->event_ud;
  n->output_cb = o->output_cb;
  n->output_ud = o->output_ud;
  n->start_cb = cb;
  n->start_ud = ud;
  n->debug = o->debug;
  n->next_id = 1;
  int r = o->epmd_port ? (o->epmd_port > 0 && o->epmd_port <= 65535 ? 0 : EP_EINVAL) : o->env_epmd_err;
  n->epmd_port = o->epmd_port ? o->epmd_port : o->env_epmd_port;
  ep__map_init(&n->procs, mem);
  ep__map_init(&n->peers_seen, mem);
  ep__map_init(&n->names, mem);
  ep__map_init(&n->rpcs, mem);
  uint32_t salt = 0, ref0 = 0;
  if (!r) r = random32(&salt);
  if (!r) r = random32(&ref0);
  n->ref_salt = salt;
  n->next_ref = ref0 & 0xffff;
  if (!r && !(n->scratch = ep_arena_new(mem))) r = EP_ENOMEM;
  if (!r) {
    if (o->cookie) {
      n->cookie_len = strlen(o->cookie);
      memcpy(n->cookie, o->cookie, n->cookie_len);
      n->cookie_explicit = true;
    } else {
      r = read_cookie(n->cookie, sizeof n->cookie, &n->cookie_len);
    }
  }
  /* The host: from the name, or this host's (no resolver for short names,
   * uv_getaddrinfo on the loop for a long name without a domain). */
  char host[512] = {0};
  bool resolve = false;
  const char *at = o->name ? strchr(o->name, '@') : NULL;
  if (!r) {
    if (at) {
      snprintf(host, sizeof host, "%s", at + 1);
      snprintf(n->alive, sizeof n->alive, "%.*s", (int)(at - o->name), o->name);
    } else {
      if (o->name) snprintf(n->alive, sizeof n->alive, "%s", o->name);
      int lh = local_host(o->longnames, host, sizeof host);
      if (lh < 0) r = lh;
      resolve = lh == 1;
    }
  }
  if (!r && !resolve) r = set_names(n, n->alive[0] ? n->alive : NULL, host);
  if (r) {
    /* Nothing is registered with the loop yet: undo synchronously. */
    node_release_early(n);
    return r;
  }
  uv_timer_init(loop, &n->start_timer);
  n->start_timer.data = n;
  n->open_handles++;
  uv_prepare_init(loop, &n->flusher);
  n->flusher.data = n;
  n->open_handles++;
  uv_idle_init(loop, &n->releaser);
  n->releaser.data = n;
  n->open_handles++;
  if (resolve) {
    struct addrinfo hints = {0};
    hints.ai_flags = AI_CANONNAME;
    hints.ai_family = o->ipv6 ? AF_INET6 : AF_INET;
    n->resolver.data = n;
    r = uv_getaddrinfo(loop, &n->resolver, on_host_resolved, host, NULL, &hints);
    if (r) {
      r = ep__err_from_uv(r);
    } else {
      n->open_handles++;
      n->resolving = true;
    }
  } else {
    r = begin_listen(n);
  }
  if (r) {
    /* Handles exist now: the failure is reported from the loop. */
    n->start_error = r;
    uv_timer_start(&n->start_timer, on_start_failed, 0, 0);
  }
  *out = n;
  return 0;
}

const char *ep_node_name(const ep_node *n) { return n->name ? n->name : ""; }
uint32_t ep_node_creation(const ep_node *n) { return n->creation; }
uv_loop_t *ep_node_loop(const ep_node *n) { return n->loop; }
int ep_node_port(const ep_node *n) { return n->listen_port; }

static void on_node_handle_closed(uv_handle_t *h) {
  ep_node *n = h->data;
  n->open_handles--;
}

static void node_release(ep_node *n) {
  /* No lent send should be left (sends are refused once closing); should
   * one be, its done still runs exactly once. */
  run_releases(n, true);
  ep__map_free(&n->procs);
  ep__map_free(&n->peers_seen);
  ep__map_free(&n->names);
  ep__map_free(&n->rpcs);
  ep_arena_free(n->scratch);
  ep_free(n->mem, n->name);
  ep_free(n->mem, n->host);
  memset(n->cookie, 0, sizeof n->cookie);
  ep_node_close_cb cb = n->close_cb;
  void *ud = n->close_ud;
  ep_free(n->mem, n);
  if (cb) cb(n, ud); /* n is gone: the callback may only compare the pointer */
}

static void close_check(uv_prepare_t *p);

/* Ends processes (their links and monitors fire on the other nodes, written
 * before the sockets close), then closes everything. */
static void begin_close(ep_node *n) {
  n->closing = true;
  if (n->resolving) uv_cancel((uv_req_t *)&n->resolver); /* its callback reports EP_ECANCELED */
  ep__rpc_close_all(n);
  /* Exit every process: the frames go into the connections' output. */
  for (size_t i = 0; i < n->procs.cap; i++) {
    if (!ep__map_live(&n->procs, i)) continue;
    ep_proc *p = n->procs.slots[i].val;
    ep_proc_exit(p, ep_atom("shutdown"));
  }
  ep__epmd_close(n);
  if (n->listener_open) {
    n->listener_open = false;
    uv_close((uv_handle_t *)&n->listener, on_node_handle_closed);
  }
  if (n->started == 0 && uv_is_active((uv_handle_t *)&n->start_timer)) {
    /* The start was to be reported from the loop (a failure, or no EPMD
     * to register with): it still is, exactly once, with the failure or
     * EP_ECANCELED; the timer closes once it has. (A registration in
     * progress reports EP_ECANCELED through ep__epmd_close.) */
    if (!n->start_error) n->start_error = EP_ECANCELED;
    uv_timer_start(&n->start_timer, on_start_failed, 0, 0);
  } else {
    uv_close((uv_handle_t *)&n->start_timer, on_node_handle_closed);
  }
  flush_all(n);
  run_releases(n, true);
  uv_close((uv_handle_t *)&n->flusher, on_node_handle_closed);
  uv_close((uv_handle_t *)&n->releaser, on_node_handle_closed);
  /* Connections close once their output has been written. */
  for (ep__conn *c = n->conns, *next; c; c = next) {
    conn_hold(c); /* as flush_all */
    if (!(c->state == EP__C_UP && (c->writing || c->out.len))) ep__conn_fail(c, EP_ECLOSED);
    next = c->next;
    conn_unhold(c);
  }
}

static bool all_closed(ep_node *n) {
  for (ep__conn *c = n->conns; c; c = c->next)
    if (c->state != EP__C_CLOSING) {
      if (!c->writing && !c->out.len) ep__conn_fail(c, EP_ECLOSED);
    }
  return n->conns == NULL && n->open_handles == 0;
}

static void on_closer_closed(uv_handle_t *h) {
  ep_node *n = h->data;
  if (--n->closer_open == 0) node_release(n);
}

/* Before each poll while closing. Everything the close waits for (a write
 * done, a handle closed, a lookup ended, the deadline) is a loop event that
 * comes before the next poll, so checking here is enough and the loop
 * blocks between events: no idle handle, no spin while a slow peer takes
 * the last frames. */
static void close_check(uv_prepare_t *p) {
  ep_node *n = p->data;
  if (!all_closed(n)) return;
  uv_prepare_stop(p);
  uv_timer_stop(&n->close_timer);
  n->closer_open = 2;
  uv_close((uv_handle_t *)&n->closer, on_closer_closed);
  uv_close((uv_handle_t *)&n->close_timer, on_closer_closed);
}

/* Connections still flushing their goodbyes are cut. */
static void on_close_deadline(uv_timer_t *t) {
  ep_node *n = t->data;
  for (ep__conn *c = n->conns, *next; c; c = next) {
    conn_hold(c); /* as flush_all */
    ep__conn_fail(c, EP_ECLOSED);
    next = c->next;
    conn_unhold(c);
  }
}

void ep_node_close(ep_node *n, ep_node_close_cb cb, void *ud) {
  n->close_cb = cb; /* a second close only changes who is told */
  n->close_ud = ud;
  if (n->closing) return;
  begin_close(n);
  /* begin_close closed handles: the loop's next poll does not block, and
   * the closer's first check comes right before it. */
  uv_prepare_init(n->loop, &n->closer);
  n->closer.data = n;
  uv_prepare_start(&n->closer, close_check);
  uv_timer_init(n->loop, &n->close_timer);
  n->close_timer.data = n;
  uv_timer_start(&n->close_timer, on_close_deadline, 2000, 0); /* at most 2 s to flush goodbyes */
}

/* --- processes made at start --------------------------------------------------------------- */

/* The node's own process, registered as net_kernel: net_adm:ping(Node)
 * connects and then gen:call({net_kernel, Node}, {is_auth, Self}), and
 * says pang unless it hears yes. Other calls are answered no. */
static void net_proc_cb(ep_proc *p, const ep_msg *m, void *ud) {
  (void)ud;
  ep_node *n = ep_proc_node(p);
  ep_term g = m->msg;
  if (m->kind != EP_MSG_SEND || !ep_is_record(g, "$gen_call", 3)) return;
  ep_term from = g.v.items[1];
  if (from.type != EP_T_TUPLE || from.n != 2) return;
  ep_term tag = from.v.items[1];
  bool auth = ep_is_record(g.v.items[2], "is_auth", 2);
  ep_term reply = EP_TUPLE(m->arena, tag, ep_atom(auth ? "yes" : "no"));
  /* A tag [alias | Ref] names an alias to answer to; a plain send to the
   * caller reaches it all the same. */
  ep_term to = from.v.items[0];
  if (tag.type == EP_T_LIST && tag.n == 1 && ep_atom_eq(tag.v.items[0], "alias") && tag.v.items[1].type == EP_T_REF)
    to = tag.v.items[1];
  ep_send(n, p, to, reply);
}

static void gl_proc_cb(ep_proc *p, const ep_msg *m, void *ud) {
  (void)ud;
  ep_node *n = ep_proc_node(p);
  if (m->kind == EP_MSG_SEND) ep__io_request(n, p, m->msg, n->output_cb, n->output_ud);
}

/* Registered as rex. It gets the replies to our calls (lib/ep_rpc.c), and
 * answers calls made to us the way rex answers a call of a function that
 * does not exist, since we run no Erlang code: an erpc:execute_call(Ref, M,
 * F, A) is answered as erpc would, {Ref, error, undef, [{M, F, A, []}]};
 * any other call {badrpc, {'EXIT', {undef, [{M, F, A, []}]}}}. So an erlpeer
 * calling another erlpeer (or an Erlang node calling rpc:call through rex)
 * gets an error at once instead of waiting out its timeout. */
static void rex_proc_cb(ep_proc *p, const ep_msg *m, void *ud) {
  (void)ud;
  ep_node *n = ep_proc_node(p);
  if (m->kind != EP_MSG_SEND || ep__rpc_on_reply(n, m->msg, m->arena)) return;
  ep_term g = m->msg;
  if (!ep_is_record(g, "$gen_call", 3)) return;
  ep_term from = g.v.items[1], req = g.v.items[2];
  if (from.type != EP_T_TUPLE || from.n != 2 || !ep_is_record(req, "call", 5)) return;
  ep_arena *a = m->arena;
  ep_term mod = req.v.items[1], fun = req.v.items[2], args = req.v.items[3], why;
  if (ep_atom_eq(mod, "erpc") && ep_atom_eq(fun, "execute_call") && ep_list_len(args) == 4) {
    ep_term mfa = EP_TUPLE(a, ep_list_at(args, 1), ep_list_at(args, 2), ep_list_at(args, 3), ep_nil());
    why = EP_TUPLE(a, ep_list_at(args, 0), ep_atom("error"), ep_atom("undef"), EP_LIST(a, mfa));
  } else {
    why = EP_TUPLE(a, ep_atom("undef"), EP_LIST(a, EP_TUPLE(a, mod, fun, args, ep_nil())));
  }
  ep_term reply = EP_TUPLE(a, from.v.items[1], EP_TUPLE(a, ep_atom("badrpc"), EP_TUPLE(a, ep_atom("EXIT"), why)));
  if (!ep_is_none(reply)) ep_send(n, p, from.v.items[0], reply);
}

static int make_procs(ep_node *n) {
  int r = ep_proc_new(n, "net_kernel", net_proc_cb, NULL, &n->net);
  if (!r) r = ep_proc_new(n, NULL, gl_proc_cb, NULL, &n->gl);
  if (!r) r = ep_proc_new(n, "rex", rex_proc_cb, NULL, &n->rex);
  return r;
}
