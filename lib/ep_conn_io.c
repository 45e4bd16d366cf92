/* ep_conn_io.c - a connection's bytes: control messages framed by the
 * sans-I/O core (dist/ep_dist.c) and written in batches (frames are
 * appended to conn->out and written in one write when the previous one
 * has finished, so a burst of calls costs one syscall, not one each),
 * reads dispatched frame by frame, ticks, and the lent sends' releases. */
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
#include "ep_uverr_int.h"
#include "ep_xport_int.h"

/* --- writing -------------------------------------------------------------------------------- */


void ep__conn_on_written(void *ud, int status) {
  ep__conn *c = ud;
  c->writing = false;
  c->wbuf.len = 0;
  ep__release *rel = c->lent;
  if (rel) {
    /* From the loop, so the callback may send again at once. */
    c->lent = NULL;
    rel->cb(c->node, status, rel->ud);
    ep_free(c->node->mem, rel);
  }
  if (status < 0) {
    ep__conn_fail(c, status);
    return;
  }
  c->last_write = ep__now(c->node);
  ep__conn_flush(c);
}

void ep__conn_flush(ep__conn *c) {
  if (c->writing || !c->xp || c->out.len == 0) return;
  if (c->state != EP__C_UP && c->state != EP__C_HANDSHAKE) return;
  /* Loopback and LAN writes nearly always go through at once: try that
   * first. It costs one syscall and no request, callback or loop turn (a
   * uv_write that completes at once still reports it on the next turn and
   * re-arms epoll after it). */
  uv_buf_t all = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
  int w = ep__xport_try_write(c->xp, &all, 1);
  if (w >= 0 && (size_t)w == c->out.len) {
    c->out.len = 0;
    c->last_write = ep__now(c->node);
    return;
  }
  if (w < 0) {
    ep__conn_fail(c, w);
    return;
  }
  /* Swap: out becomes the buffer in flight, the old flight buffer collects
   * what comes next; the part already written is skipped, not moved. */
  ep_buf t = c->wbuf;
  c->wbuf = c->out;
  c->out = t;
  c->out.len = 0;
  uv_buf_t b = uv_buf_init((char *)c->wbuf.data + w, (unsigned)(c->wbuf.len - (size_t)w));
  int r = ep__xport_write(c->xp, &b, 1);
  if (r < 0) {
    ep__conn_fail(c, r);
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
void ep__node_flush_all(ep_node *n) {
  uv_prepare_stop(&n->flusher);
  for (ep__conn *c = n->conns, *next; c; c = next) {
    ep__conn_hold(c); /* a failed write runs callbacks: c->next is read after */
    ep__conn_flush(c);
    next = c->next;
    ep__conn_unhold(c);
  }
}

void ep__node_on_flush(uv_prepare_t *p) { ep__node_flush_all(p->data); }

/* Runs the done callbacks of lent messages that no longer need their
 * memory: those queued when the turn began, not the ones their callbacks
 * queue (a sender streaming from its done callback would otherwise run
 * its whole stream here, with no read, timer or other connection served
 * in between). With all set (closing: sends are refused, so no callback
 * can queue more), every one. */
void ep__node_run_releases(ep_node *n, bool all) {
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
  bool busy = n->releases || n->releasing;
  ep__node_run_releases(n, false);
  if (!busy && !n->releases) uv_idle_stop(h);
}

void ep__kick(ep_node *n) {
  if (!n->closing) ep__timers_kick(&n->tm);
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
int ep__conn_queue(ep__conn *c, const ep_ctrl *ctrl) {
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
  int w = ep__xport_try_write(c->xp, b, (unsigned)g->n);
  if (w < 0) {
    c->out.len = 0;
    ep__conn_fail(c, w);
    return w;
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
    int r = ep__xport_write(c->xp, rest, nr);
    if (r < 0) {
      c->wbuf.len = 0;
      ep__conn_fail(c, r);
      return r;
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
    int q = ep__conn_queue(c, ctrl);
    if (!q && rel) ep__release_later(c->node, rel);
    return q;
  }
  if (c->out.len > c->node->send_queue_limit) return EP_EBACKPRESSURE;
  size_t before = c->out.len;
  /* One arena per connection for building control tuples, reset after
   * each: a send costs no allocation once it has grown. */
  if (!c->tx && !(c->tx = ep_arena_new(c->node->mem))) return EP_ENOMEM;
  ep_term control, payload;
  /* On an idle connection, large binaries are not copied (see
   * conn_write_gathered); anything else is encoded into out as usual. */
  bool idle = before == 0 && !c->writing && c->xp;
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
  if (n->closing) ep__conn_flush(c); /* the flusher is gone once closing */
  else if (!deferring) ep__conn_flush(c), uv_prepare_start(&n->flusher, ep__node_on_flush);
  else if (!uv_is_active((uv_handle_t *)&n->flusher)) uv_prepare_start(&n->flusher, ep__node_on_flush);
  return 0;
}

/* --- reading -------------------------------------------------------------------------------- */

void ep__conn_on_alloc(void *ud, size_t suggested, uv_buf_t *buf) {
  ep__conn *c = ud;
  /* Room for what the frame being read still lacks, but growing by at
   * most the buffer's size per read: memory follows the bytes that
   * arrive, not a length header (up to EP_LIMIT_FRAME_SIZE) the peer may
   * never fill. Doubling keeps the copies of a large frame linear. */
  /* Small until authenticated: a stranger's handshake needs little. */
  size_t want = c->counts && c->state == EP__C_UP ? 65536 : EP_LIMIT_HANDSHAKE_READ;
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


void ep__conn_process_frames(ep__conn *c) {
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
      ep_log("%s: skipped a control message: %s", c->peer, ep_strerror(r));
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

void ep__conn_on_read(void *ud, ssize_t nread) {
  ep__conn *c = ud;
  ep__conn_hold(c); /* the messages' callbacks may run loops of their own */
  read_held(c, nread);
  ep__conn_unhold(c);
}

static void read_held(ep__conn *c, ssize_t nread) {
  if (nread < 0) {
    int err = nread == EP_EEOF ? EP_ENODEDOWN : (int)nread;
    /* OTP answers a wrong digest by closing the socket: a close once the
     * other side's name (and challenge) arrived is a cookie mismatch. */
    if (c->state == EP__C_HANDSHAKE) err = c->outgoing && ep_hs_peer_name(c->hs) ? EP_EAUTH : EP_ECONNRESET;
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
    ep__conn_drive_handshake(c);
    return;
  }
  ep_node *n = c->node;
  n->batch++;
  ep__conn_process_frames(c);
  if (--n->batch == 0) ep__node_flush_all(n);
}

/* --- ticks ----------------------------------------------------------------------------------- */

void ep__conn_on_tick(uv_timer_t *t) {
  ep__conn *c = t->data;
  if (c->state != EP__C_UP) return;
  uint64_t now = ep__now(c->node), T = (uint64_t)c->node->ticktime * 1000;
  if (now - c->last_read >= T) {
    ep__conn_fail(c, EP_ETICK);
    return;
  }
  if (now - c->last_write >= T / 4 && c->out.len == 0 && !c->writing) {
    ep_dist_write_tick(&c->out);
    ep__conn_flush(c);
  }
}

void ep__conn_on_hs_timeout(uv_timer_t *t) {
  ep__conn *c = t->data;
  if (c->state != EP__C_UP) ep__conn_fail(c, EP_ETIMEDOUT);
}

