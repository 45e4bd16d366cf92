/* ep_epmd_server.c - the embedded EPMD server on libuv (see ep_epmd_uv.h).
 *
 * The protocol lives in epmd/ep_epmd_registry.c; this file accepts, reads
 * into the per-connection state machine, writes its one reply, and closes.
 * A per-connection timer cuts off clients that have not sent a complete
 * request within idle_ms; registrations are exempt. One read buffer is
 * shared by every connection (the loop is single-threaded and each read is
 * consumed before the next), so an idle connection costs its handles and
 * its (bounded) request buffer only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "ep_epmd_registry.h"
#include "ep_epmd_int.h"
#include "ep_epmd_uv.h"
#include "ep_error.h"
#include "ep_limits.h"
#include "ep_uverr_int.h"

#define MAX_LISTENERS 8

typedef struct sconn {
  struct sconn *prev, *next;
  ep_epmd_server *srv;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t wr;
  ep_epmd_conn *core;
  ep_buf out;
  int handles; /* open handles (tcp, timer) */
  int write_pending;
  int closing;
  int kill_after; /* a KILL was accepted: report it once the reply is out */
} sconn;

struct ep_epmd_server {
  uv_loop_t *loop;
  const ep_mem *mem;
  ep_epmd_server_opts o;
  ep_epmd_registry *reg;
  uv_tcp_t listeners[MAX_LISTENERS];
  int nlisten;
  int handles; /* open listener handles */
  uint16_t port;
  sconn *conns;
  size_t nconns;
  int closing;
  int in_core;        /* inside the core: a log callback may run */
  int close_deferred; /* ep_epmd_server_close was called from one */
  void (*closed_cb)(void *);
  void *closed_ud;
  /* Turning a client away still takes a handle to accept it into. When
   * memory runs out this one is used; while it is closing, listeners with a
   * client waiting are marked in `waiting` (bit i: listeners[i]) and served
   * when it is free again. Not accepting is not an option: libuv stops
   * watching a listener until its pending connection is accepted. */
  uv_tcp_t spare;
  int spare_busy;
  unsigned waiting;
  char rbuf[4096];
};

static void log_ev(ep_epmd_server *s, ep_epmd_event_kind k, const char *name, uint16_t port, uint32_t creation,
                   int error) {
  if (!s->o.log) return;
  ep_epmd_event ev = {k, name, port, creation, error};
  s->o.log(&ev, s->o.log_ud);
}

static void maybe_free_server(ep_epmd_server *s) {
  if (!s->closing || s->handles || s->conns) return;
  ep_epmd_registry_free(s->reg);
  void (*cb)(void *) = s->closed_cb;
  void *ud = s->closed_ud;
  ep_free(s->mem, s);
  if (cb) cb(ud);
}

static void conn_handle_closed(uv_handle_t *h) {
  sconn *c = h->data;
  /* libuv runs a pending write's callback (UV_ECANCELED) before the close
   * callbacks, so nothing refers to c once both handles are closed. */
  if (--c->handles > 0) return;
  ep_epmd_server *s = c->srv;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->nconns--;
  ep_buf_free(&c->out);
  ep_free(s->mem, c);
  maybe_free_server(s);
}

/* Ends a connection: its registration (if any) ends now, the handles close,
 * memory goes when libuv is done with them. */
static void conn_close(sconn *c) {
  if (c->closing) return;
  c->closing = 1;
  if (c->core) {
    ep_epmd_conn *core = c->core;
    c->core = NULL;
    ep_epmd_conn_free(core); /* may log UNREGISTERED */
  }
  uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
  uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void on_conn_timer(uv_timer_t *t) {
  sconn *c = t->data;
  if (c->core && ep_epmd_conn_registered(c->core)) return;
  log_ev(c->srv, EP_EPMD_EV_CUT, NULL, 0, 0, EP_ETIMEDOUT);
  conn_close(c);
}

static void on_conn_written(uv_write_t *w, int status) {
  sconn *c = w->data;
  c->write_pending = 0;
  ep_epmd_server *s = c->srv;
  int kill = c->kill_after;
  c->kill_after = 0;
  if (c->closing) return;
  if (status || !c->core || !ep_epmd_conn_registered(c->core)) {
    conn_close(c);
  }
  if (kill && !s->closing) log_ev(s, EP_EPMD_EV_KILLED, NULL, 0, 0, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  sconn *c = h->data;
  (void)suggested;
  *buf = uv_buf_init(c->srv->rbuf, sizeof c->srv->rbuf);
}

static void on_conn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  sconn *c = st->data;
  if (c->closing || nread == 0) return;
  if (nread < 0) {
    /* EOF or error: a registration ends, a half-sent request is dropped. */
    conn_close(c);
    return;
  }
  if (c->write_pending) return; /* answered already; the close is on its way */
  ep_epmd_server *srv = c->srv;
  srv->in_core++;
  int rc = ep_epmd_conn_recv(c->core, (const uint8_t *)buf->base, (size_t)nread, &c->out);
  srv->in_core--;
  if (srv->close_deferred && !srv->in_core) {
    /* A log callback closed the server while the core was running. */
    srv->close_deferred = 0;
    ep_epmd_server_close(srv, srv->closed_cb, srv->closed_ud);
    return;
  }
  if (rc == EP_EPMD_READ) return;
  if (rc < 0) {
    log_ev(c->srv, EP_EPMD_EV_CUT, NULL, 0, 0, rc);
    conn_close(c);
    return;
  }
  if (rc == EP_EPMD_KEEP) uv_timer_stop(&c->timer);
  else uv_read_stop(st);
  if (rc == EP_EPMD_KILL) c->kill_after = 1;
  if (c->out.len == 0) {
    if (rc != EP_EPMD_KEEP) conn_close(c);
    return;
  }
  uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
  /* Replies are small: most go out at once, and a one-shot connection can
   * close right here instead of a loop iteration later. */
  int w = uv_try_write(st, &b, 1);
  if (w == (int)b.len) {
    if (rc == EP_EPMD_KEEP) return;
    ep_epmd_server *s = c->srv;
    conn_close(c);
    if (rc == EP_EPMD_KILL) log_ev(s, EP_EPMD_EV_KILLED, NULL, 0, 0, 0);
    return;
  }
  if (w > 0) {
    b.base += w;
    b.len -= (size_t)w;
  }
  c->wr.data = c;
  if (uv_write(&c->wr, st, &b, 1, on_conn_written) != 0) {
    conn_close(c);
    return;
  }
  c->write_pending = 1;
}

/* epmd's rule: a peer is local when it connects from a loopback address or
 * from one of this host's addresses (the one it connected to). */
static int is_local_peer(uv_tcp_t *t) {
  struct sockaddr_storage peer, self;
  int pl = sizeof peer, sl = sizeof self;
  if (uv_tcp_getpeername(t, (struct sockaddr *)&peer, &pl) != 0) return 0;
  if (peer.ss_family == AF_INET) {
    const struct sockaddr_in *p4 = (const struct sockaddr_in *)&peer;
    if ((ntohl(p4->sin_addr.s_addr) & 0xFF000000u) == 0x7F000000u) return 1;
  } else if (peer.ss_family == AF_INET6) {
    const struct sockaddr_in6 *p6 = (const struct sockaddr_in6 *)&peer;
    if (IN6_IS_ADDR_LOOPBACK(&p6->sin6_addr)) return 1;
    if (IN6_IS_ADDR_V4MAPPED(&p6->sin6_addr) && p6->sin6_addr.s6_addr[12] == 127) return 1;
  }
  if (uv_tcp_getsockname(t, (struct sockaddr *)&self, &sl) != 0 || self.ss_family != peer.ss_family) return 0;
  if (peer.ss_family == AF_INET)
    return ((const struct sockaddr_in *)&peer)->sin_addr.s_addr ==
           ((const struct sockaddr_in *)&self)->sin_addr.s_addr;
  return memcmp(&((const struct sockaddr_in6 *)&peer)->sin6_addr, &((const struct sockaddr_in6 *)&self)->sin6_addr,
                16) == 0;
}

static void on_connection(uv_stream_t *ls, int status);

static void reject_closed(uv_handle_t *h) {
  ep_epmd_server *s = h->data;
  s->handles--;
  if (h != (uv_handle_t *)&s->spare) {
    ep_free(s->mem, h);
  } else {
    s->spare_busy = 0;
    unsigned w = s->closing ? 0 : s->waiting;
    s->waiting = 0;
    for (int i = 0; i < s->nlisten; i++)
      if (w & (1u << i)) on_connection((uv_stream_t *)&s->listeners[i], 0);
  }
  maybe_free_server(s);
}

/* Accepts the pending client of ls and closes it at once, so it learns now
 * instead of waiting in the backlog; why goes to the log. */
static void reject(ep_epmd_server *s, uv_stream_t *ls, int why) {
  uv_tcp_t *t = ep_malloc(s->mem, sizeof *t);
  if (!t) {
    if (s->spare_busy) {
      s->waiting |= 1u << ((uv_tcp_t *)ls - s->listeners);
      return;
    }
    t = &s->spare;
    s->spare_busy = 1;
  }
  uv_tcp_init(s->loop, t); /* no socket yet: cannot fail */
  t->data = s;
  s->handles++;
  if (uv_accept(ls, (uv_stream_t *)t) == 0) log_ev(s, EP_EPMD_EV_CUT, NULL, 0, 0, why);
  uv_close((uv_handle_t *)t, reject_closed);
}

static void on_connection(uv_stream_t *ls, int status) {
  ep_epmd_server *s = ls->data;
  if (status || s->closing) return;
  if (s->nconns >= s->o.max_connections) {
    reject(s, ls, EP_EEPMDREFUSED);
    return;
  }
  sconn *c = ep_malloc(s->mem, sizeof *c);
  if (!c) {
    reject(s, ls, EP_ENOMEM);
    return;
  }
  memset(c, 0, sizeof *c);
  c->srv = s;
  ep_buf_init(&c->out, s->mem);
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->handles = 2;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
    return;
  }
  c->core = ep_epmd_conn_new(s->reg, is_local_peer(&c->tcp), c);
  int e = c->core ? uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_conn_read) : 0;
  if (!c->core || e) {
    log_ev(s, EP_EPMD_EV_CUT, NULL, 0, 0, c->core ? ep__err_from_uv(e) : EP_ENOMEM);
    conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, on_conn_timer, s->o.idle_ms, 0);
}

/* Registry events: log them; a STOP_REQ's victim is closed here. */
static void on_reg_event(ep_epmd_reg_event_kind k, const char *name, uint16_t port, uint32_t creation, ep_epmd_conn *owner, void *ud) {
  ep_epmd_server *s = ud;
  switch (k) {
    case EP_EPMD_REG_ADDED:
      log_ev(s, EP_EPMD_EV_REGISTERED, name, port, creation, 0);
      break;
    case EP_EPMD_REG_REMOVED:
      log_ev(s, EP_EPMD_EV_UNREGISTERED, name, port, creation, 0);
      break;
    case EP_EPMD_REG_REFUSED:
      log_ev(s, EP_EPMD_EV_REFUSED, name, 0, 0, EP_ENAMETAKEN);
      break;
    case EP_EPMD_REG_STOPPED: {
      log_ev(s, EP_EPMD_EV_UNREGISTERED, name, port, creation, 0);
      sconn *victim = owner ? ep_epmd_conn_user(owner) : NULL;
      if (victim) conn_close(victim);
      break;
    }
  }
}

static void listener_closed(uv_handle_t *h) {
  ep_epmd_server *s = h->data;
  s->handles--;
  maybe_free_server(s);
}

static int listen_on(ep_epmd_server *s, const struct sockaddr *sa, int required) {
  if (s->nlisten >= MAX_LISTENERS) return EP_EINVAL;
  uv_tcp_t *t = &s->listeners[s->nlisten];
  int e = uv_tcp_init(s->loop, t);
  if (e) return ep__err_from_uv(e);
  t->data = s;
  s->nlisten++;
  s->handles++;
  e = uv_tcp_bind(t, sa, sa->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
  if (!e) e = uv_listen((uv_stream_t *)t, 511, on_connection);
  if (e) {
    uv_close((uv_handle_t *)t, listener_closed);
    if (!required) return 0; /* e.g. no IPv6 on this host */
    return ep__err_from_uv(e);
  }
  if (s->port == 0) {
    struct sockaddr_storage ss;
    int l = sizeof ss;
    uv_tcp_getsockname(t, (struct sockaddr *)&ss, &l);
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
  }
  return 0;
}

static int parse_addr(const char *txt, uint16_t port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (uv_ip4_addr(txt, port, (struct sockaddr_in *)ss) == 0) return 0;
  if (uv_ip6_addr(txt, port, (struct sockaddr_in6 *)ss) == 0) return 0;
  return EP_EINVAL;
}

static int is_loopback(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) & 0xFF000000u) == 0x7F000000u;
  return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

int ep_epmd_server_start(uv_loop_t *loop, const char *address, uint16_t port, const ep_epmd_server_opts *opts,
                         ep_epmd_server **out) {
  if (!loop || !out) return EP_EINVAL;
  ep_epmd_server_opts o = {0};
  if (opts) o = *opts;
  if (!o.idle_ms) o.idle_ms = EP_LIMIT_EPMD_IDLE_MS;
  if (!o.max_connections) o.max_connections = EP_LIMIT_EPMD_CONNECTIONS;
  if (!o.creation_seed) o.creation_seed = (uint32_t)time(NULL);
  const ep_mem *mem = o.mem ? o.mem : ep_mem_default();

  /* Parse every address before touching the loop. */
  struct sockaddr_storage addrs[MAX_LISTENERS];
  int required[MAX_LISTENERS];
  int naddr = 0, have_loop4 = 0;
  if (!address || !*address) {
    parse_addr("0.0.0.0", port, &addrs[naddr]);
    required[naddr++] = 1;
    parse_addr("::", port, &addrs[naddr]);
    required[naddr++] = 0;
  } else {
    char tmp[512];
    if (strlen(address) >= sizeof tmp) return EP_EINVAL;
    snprintf(tmp, sizeof tmp, "%s", address);
    char *save = NULL;
    for (char *tok = strtok_r(tmp, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
      if (naddr >= MAX_LISTENERS - 1) return EP_EINVAL;
      if (parse_addr(tok, port, &addrs[naddr]) != 0) return EP_EINVAL;
      if (addrs[naddr].ss_family == AF_INET && is_loopback(&addrs[naddr])) have_loop4 = 1;
      required[naddr++] = 1;
    }
    if (naddr == 0) return EP_EINVAL;
    /* epmd -address always listens on loopback too: local nodes register
     * through 127.0.0.1. */
    if (!have_loop4) {
      parse_addr("127.0.0.1", port, &addrs[naddr]);
      required[naddr++] = 1;
    }
  }

  ep_epmd_server *s = ep_malloc(mem, sizeof *s);
  if (!s) return EP_ENOMEM;
  memset(s, 0, sizeof *s);
  s->loop = loop;
  s->mem = mem;
  s->o = o;
  s->port = port;
  int rc = 0;
  for (int i = 0; i < naddr && rc == 0; i++) {
    /* With port 0 the first listener picks the port; the rest follow it. */
    if (addrs[i].ss_family == AF_INET) ((struct sockaddr_in *)&addrs[i])->sin_port = htons(s->port);
    else ((struct sockaddr_in6 *)&addrs[i])->sin6_port = htons(s->port);
    rc = listen_on(s, (struct sockaddr *)&addrs[i], required[i]);
  }
  if (rc == 0) {
    ep_epmd_registry_opts ro = {0};
    ro.mem = mem;
    ro.creation_seed = o.creation_seed;
    ro.epmd_port = s->port;
    ro.allow_kill = o.allow_kill;
    ro.relaxed = o.relaxed;
    ro.event = on_reg_event;
    ro.event_ud = s;
    s->reg = ep_epmd_registry_new(&ro);
    if (!s->reg) rc = EP_ENOMEM;
  }
  if (rc) {
    /* Close what was opened; the memory goes from the close callbacks. */
    s->closing = 1;
    for (int i = 0; i < s->nlisten; i++)
      if (!uv_is_closing((uv_handle_t *)&s->listeners[i])) uv_close((uv_handle_t *)&s->listeners[i], listener_closed);
    maybe_free_server(s);
    return rc;
  }
  *out = s;
  return 0;
}

uint16_t ep_epmd_server_port(const ep_epmd_server *s) { return s->port; }
size_t ep_epmd_server_count(const ep_epmd_server *s) { return ep_epmd_registry_count(s->reg); }
size_t ep_epmd_server_connections(const ep_epmd_server *s) { return s->nconns; }

void ep_epmd_server_close(ep_epmd_server *s, void (*closed_cb)(void *), void *ud) {
  if (!s || s->closing) return;
  if (s->in_core) {
    /* Called from a log callback inside ep_epmd_conn_recv: freeing that
     * connection's core now would pull it from under the caller. */
    s->close_deferred = 1;
    s->closed_cb = closed_cb;
    s->closed_ud = ud;
    return;
  }
  s->closing = 1;
  s->closed_cb = closed_cb;
  s->closed_ud = ud;
  for (int i = 0; i < s->nlisten; i++)
    if (!uv_is_closing((uv_handle_t *)&s->listeners[i])) uv_close((uv_handle_t *)&s->listeners[i], listener_closed);
  for (sconn *c = s->conns; c; c = c->next) conn_close(c);
  maybe_free_server(s);
}
