/* ep_epmd_client.c - the EPMD client on libuv (see ep_epmd_uv.h).
 *
 * One ep_epmd_req per call: resolve (uv_getaddrinfo) -> connect to each
 * address in turn until one accepts -> write the request -> read the reply
 * into the sans-I/O decoders of epmd/ep_epmd.c. One timer bounds the whole
 * call; the same timer, armed at 0, delivers cancellations from the loop.
 * A registration is the same machine that, once answered, keeps its socket
 * open and only watches for EOF.
 */
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "ep_epmd_int.h"
#include "ep_epmd_uv.h"
#include "ep_sync_int.h"
#include "ep_error.h"
#include "ep_limits.h"
#include "ep_uverr_int.h"

typedef enum req_kind { K_PORT, K_NAMES, K_REG } req_kind;

/* Transitions: RESOLVING -> CONNECTING (per address) -> WAITING (written,
 * reading the reply) -> DONE; a registration goes WAITING -> REGISTERED
 * (watching for EOF) -> DONE. Any state -> DONE on timeout/cancel/error. */
typedef enum req_state { S_RESOLVING, S_CONNECTING, S_WAITING, S_REGISTERED, S_DONE } req_state;

struct ep_epmd_req {
  req_kind kind;
  req_state state;
  uv_loop_t *loop;
  const ep_mem *mem;
  uv_getaddrinfo_t gai;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_connect_t conn;
  uv_write_t wr;
  struct addrinfo *ai, *ai_next;
  int gai_pending, tcp_open, timer_open, connect_pending, write_pending;
  int cb_done;       /* the completion callback has been called */
  int user_closed;   /* reg: ep_epmd_reg_close was called */
  int pending_error; /* delivered by the 0-timer (cancel) */
  int last_error;    /* of the last connect attempt */
  int all_refused;
  uint16_t port;
  uint64_t timeout_ms; /* EP_INFINITY: never (libuv clamps it) */
  ep_buf out, in;
  char portstr[8];
  char *host;
  char name[EP_EPMD_NAME_BYTES + 1];
  char rbuf[4096];
  ep_epmd_port_cb port_cb;
  ep_epmd_names_cb names_cb;
  ep_epmd_register_cb reg_cb;
  ep_epmd_lost_cb lost_cb;
  void *ud;
};

/* Registrations share the machine; the distinct type keeps the API honest. */
struct ep_epmd_reg {
  struct ep_epmd_req r;
};

int ep_epmd_port_from_env(uint16_t *port) {
  const char *s = getenv("ERL_EPMD_PORT");
  if (!s || !*s) {
    *port = EP_EPMD_PORT_DEFAULT;
    return 0;
  }
  unsigned long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9' || v > 65535) return EP_EINVAL;
    v = v * 10 + (unsigned long)(*p - '0');
  }
  if (v == 0 || v > 65535) return EP_EINVAL;
  *port = (uint16_t)v;
  return 0;
}

static void maybe_free(ep_epmd_req *r) {
  if (r->gai_pending || r->tcp_open || r->timer_open || r->connect_pending || r->write_pending) return;
  if (!r->cb_done) return;
  if (r->kind == K_REG && !r->user_closed) return;
  if (r->ai) uv_freeaddrinfo(r->ai);
  ep_buf_free(&r->out);
  ep_buf_free(&r->in);
  ep_free(r->mem, r->host);
  ep_free(r->mem, r);
}

static void on_tcp_closed(uv_handle_t *h) {
  ep_epmd_req *r = h->data;
  r->tcp_open = 0;
  maybe_free(r);
}
static void on_timer_closed(uv_handle_t *h) {
  ep_epmd_req *r = h->data;
  r->timer_open = 0;
  maybe_free(r);
}

static void close_tcp(ep_epmd_req *r) {
  if (r->tcp_open && !uv_is_closing((uv_handle_t *)&r->tcp)) uv_close((uv_handle_t *)&r->tcp, on_tcp_closed);
}

/* Releases everything still running; memory goes in maybe_free. */
static void teardown(ep_epmd_req *r) {
  r->state = S_DONE;
  if (r->gai_pending) uv_cancel((uv_req_t *)&r->gai);
  close_tcp(r);
  if (r->timer_open && !uv_is_closing((uv_handle_t *)&r->timer)) uv_close((uv_handle_t *)&r->timer, on_timer_closed);
  maybe_free(r);
}

/* Calls the completion callback exactly once. */
static void complete(ep_epmd_req *r, int status, const void *a, size_t n, uint32_t v) {
  if (r->cb_done) return;
  r->cb_done = 1;
  switch (r->kind) {
    case K_PORT:
      r->port_cb(status, status ? NULL : a, r->ud);
      break;
    case K_NAMES:
      r->names_cb(status, status ? NULL : a, status ? 0 : n, status ? 0 : v, r->ud);
      break;
    case K_REG:
      /* Closed by the user before the answer: the answer is moot. */
      if (r->user_closed) status = EP_ECANCELED;
      r->reg_cb((ep_epmd_reg *)r, status, status ? 0 : v, r->ud);
      break;
  }
}

static void fail(ep_epmd_req *r, int status) {
  complete(r, status, NULL, 0, 0);
  teardown(r);
}

static void on_timer(uv_timer_t *t) {
  ep_epmd_req *r = t->data;
  fail(r, r->pending_error ? r->pending_error : EP_ETIMEDOUT);
}

static void try_connect(ep_epmd_req *r);
static void on_tcp_closed_retry(uv_handle_t *h);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  ep_epmd_req *r = h->data;
  (void)suggested;
  *buf = uv_buf_init(r->rbuf, sizeof r->rbuf);
}

/* The outcome of a fixed-size reply (PORT2_RESP, ALIVE2_X_RESP), from its
 * decoder's return rc and, when that is 0, the result byte: EP_EINCOMPLETE
 * to wait for more bytes, 0 when the request succeeded, else the call's
 * error (`refused` for a nonzero result; an epmd that closes without a
 * byte refused the request). */
static int reply_outcome(int rc, size_t n, int eof, const uint8_t *result, int refused) {
  if (rc == EP_EINCOMPLETE) return !eof ? EP_EINCOMPLETE : n == 0 ? EP_EEPMDREFUSED : EP_EEPMDREPLY;
  if (rc) return EP_EEPMDREPLY;
  return *result ? refused : 0;
}

/* Decodes what has arrived; completes the call once it can. */
static void process(ep_epmd_req *r, int eof) {
  size_t pos = 0;
  const uint8_t *b = r->in.data;
  size_t n = r->in.len;
  switch (r->kind) {
    case K_PORT: {
      uint8_t result;
      ep_epmd_node node;
      int e = reply_outcome(ep_epmd_decode_port2_resp(b, n, &pos, &result, &node), n, eof, &result, EP_ENOTREG);
      if (e == EP_EINCOMPLETE) return;
      if (e) {
        fail(r, e);
        return;
      }
      char name[EP_EPMD_NAME_BYTES + 1];
      memcpy(name, node.name, node.name_len);
      name[node.name_len] = 0;
      ep_epmd_port_info info = {node.port, node.node_type, node.protocol, node.high, node.low,
                                name,      node.extra,     node.extra_len};
      complete(r, 0, &info, 0, 0);
      teardown(r);
      return;
    }
    case K_NAMES: {
      if (!eof) return; /* the reply ends at close */
      uint32_t eport;
      if (ep_epmd_decode_names_head(b, n, &pos, &eport) != 0) {
        fail(r, n == 0 ? EP_EEPMDREFUSED : EP_EEPMDREPLY);
        return;
      }
      /* Count, then build one array (strings included). */
      size_t count = 0, bytes = 0, p2 = pos;
      while (p2 < n) {
        const uint8_t *nm;
        size_t nl;
        uint16_t pt;
        if (ep_epmd_decode_names_line(b, n, &p2, 1, &nm, &nl, &pt) != 0) {
          fail(r, EP_EEPMDREPLY);
          return;
        }
        count++;
        bytes += nl + 1;
      }
      ep_epmd_name *arr = ep_malloc(r->mem, count * sizeof *arr + bytes + 1);
      if (!arr) {
        fail(r, EP_ENOMEM);
        return;
      }
      char *sp = (char *)(arr + count);
      for (size_t i = 0; i < count; i++) {
        const uint8_t *nm;
        size_t nl;
        uint16_t pt;
        ep_epmd_decode_names_line(b, n, &pos, 1, &nm, &nl, &pt);
        memcpy(sp, nm, nl);
        sp[nl] = 0;
        arr[i].name = sp;
        arr[i].port = pt;
        sp += nl + 1;
      }
      complete(r, 0, arr, count, eport);
      ep_free(r->mem, arr);
      teardown(r);
      return;
    }
    case K_REG: {
      if (r->state == S_REGISTERED) return;
      uint8_t result;
      uint32_t creation;
      int e = reply_outcome(ep_epmd_decode_alive2_resp(b, n, &pos, &result, &creation, NULL), n, eof, &result,
                            EP_ENAMETAKEN);
      if (e == EP_EINCOMPLETE) return;
      if (e) {
        fail(r, e);
        return;
      }
      r->state = S_REGISTERED;
      uv_timer_stop(&r->timer);
      ep_buf_free(&r->in);
      complete(r, 0, NULL, 0, creation);
      return;
    }
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  ep_epmd_req *r = s->data;
  (void)buf;
  if (r->state == S_DONE) return;
  if (r->state == S_REGISTERED) {
    /* Any event on a registration's socket but data means it is gone;
     * data is unexpected from epmd and ignored. */
    if (nread >= 0) return;
    uv_read_stop(s);
    close_tcp(r);
    r->state = S_DONE;
    if (r->lost_cb && !r->user_closed) r->lost_cb((ep_epmd_reg *)r, ep__err_from_uv((int)nread), r->ud);
    return;
  }
  if (nread == 0) return;
  if (nread < 0) {
    if (nread == UV_EOF) process(r, 1);
    else fail(r, ep__err_from_uv((int)nread));
    return;
  }
  size_t limit = r->kind == K_NAMES ? EP_LIMIT_EPMD_NAMES_REPLY : 4096;
  if (r->in.len + (size_t)nread > limit) {
    fail(r, EP_EEPMDREPLY);
    return;
  }
  if (ep_buf_append(&r->in, r->rbuf, (size_t)nread) != 0) {
    fail(r, EP_ENOMEM);
    return;
  }
  process(r, 0);
}

static void on_written(uv_write_t *w, int status) {
  ep_epmd_req *r = w->data;
  r->write_pending = 0;
  if (status && r->state != S_DONE) fail(r, ep__err_from_uv(status));
  else maybe_free(r);
}

static void on_connected(uv_connect_t *c, int status) {
  ep_epmd_req *r = c->data;
  r->connect_pending = 0;
  if (r->state == S_DONE) {
    maybe_free(r);
    return;
  }
  if (status) {
    r->last_error = status;
    if (status != UV_ECONNREFUSED) r->all_refused = 0;
    uv_close((uv_handle_t *)&r->tcp, on_tcp_closed_retry);
    return;
  }
  r->state = S_WAITING;
  uv_buf_t b = uv_buf_init((char *)r->out.data, (unsigned)r->out.len);
  r->wr.data = r;
  int e = uv_write(&r->wr, (uv_stream_t *)&r->tcp, &b, 1, on_written);
  if (e) {
    fail(r, ep__err_from_uv(e));
    return;
  }
  r->write_pending = 1;
  e = uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read);
  if (e) fail(r, ep__err_from_uv(e));
}

/* Connects to the next resolved address; when none is left, reports
 * ENOEPMD if every one refused, else the last error. */
static void try_connect(ep_epmd_req *r) {
  for (;;) {
    struct addrinfo *a = r->ai_next;
    if (!a) {
      fail(r, r->all_refused ? EP_ENOEPMD : ep__err_from_uv(r->last_error));
      return;
    }
    r->ai_next = a->ai_next;
    if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
    int e = uv_tcp_init(r->loop, &r->tcp);
    if (e) {
      fail(r, ep__err_from_uv(e));
      return;
    }
    r->tcp.data = r;
    r->tcp_open = 1;
    r->conn.data = r;
    e = uv_tcp_connect(&r->conn, &r->tcp, a->ai_addr, on_connected);
    if (e) {
      r->last_error = e;
      if (e != UV_ECONNREFUSED) r->all_refused = 0;
      uv_close((uv_handle_t *)&r->tcp, on_tcp_closed_retry);
      return;
    }
    r->connect_pending = 1;
    r->state = S_CONNECTING;
    return;
  }
}

static void on_tcp_closed_retry(uv_handle_t *h) {
  ep_epmd_req *r = h->data;
  r->tcp_open = 0;
  if (r->state == S_DONE) maybe_free(r);
  else try_connect(r);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *ai) {
  ep_epmd_req *r = g->data;
  r->gai_pending = 0;
  if (r->state == S_DONE) {
    if (ai) uv_freeaddrinfo(ai);
    maybe_free(r);
    return;
  }
  if (status) {
    fail(r, status == UV_EAI_CANCELED ? EP_ECANCELED : EP_ENOHOST);
    return;
  }
  r->ai = r->ai_next = ai;
  r->all_refused = 1;
  r->last_error = UV_ECONNREFUSED;
  try_connect(r);
}

static int valid_client_name(const char *name) {
  if (!name) return 0;
  size_t n = strlen(name);
  return ep_epmd_name_valid((const uint8_t *)name, n) && !memchr(name, '@', n);
}

static bool numeric_host(const char *host) {
  uint8_t a[16];
  return uv_inet_pton(AF_INET, host, a) == 0 || uv_inet_pton(AF_INET6, host, a) == 0;
}

/* Allocates and starts a call; on error nothing is left behind. */
static int start(uv_loop_t *loop, const ep_epmd_client_opts *o, req_kind kind, const char *name, ep_epmd_req **out,
                 int (*encode)(ep_buf *, const void *), const void *enc_arg) {
  ep_epmd_client_opts opts;
  if (o) opts = *o;
  else ep__epmd_client_opts_init(&opts);
  const ep_mem *mem = opts.mem ? opts.mem : ep_mem_default();
  ep_epmd_req *r = ep_malloc(mem, sizeof(struct ep_epmd_reg));
  if (!r) return EP_ENOMEM;
  memset(r, 0, sizeof *r);
  r->kind = kind;
  r->loop = loop;
  r->mem = mem;
  ep_buf_init(&r->out, mem);
  ep_buf_init(&r->in, mem);
  if (name) snprintf(r->name, sizeof r->name, "%s", name);
  r->port = opts.port;
  if (!r->port && ep_epmd_port_from_env(&r->port) != 0) r->port = EP_EPMD_PORT_DEFAULT;
  r->timeout_ms = opts.timeout_ms;
  const char *host = *opts.host ? opts.host : "localhost";
  size_t hl = strlen(host);
  r->host = ep_malloc(mem, hl + 1);
  int rc = r->host ? encode(&r->out, enc_arg) : EP_ENOMEM;
  if (rc) {
    ep_buf_free(&r->out);
    ep_free(mem, r->host);
    ep_free(mem, r);
    return rc;
  }
  memcpy(r->host, host, hl + 1);
  snprintf(r->portstr, sizeof r->portstr, "%u", (unsigned)r->port);
  uv_timer_init(loop, &r->timer);
  r->timer.data = r;
  r->timer_open = 1;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  r->gai.data = r;
  if (numeric_host(r->host)) {
    /* A numeric address (the node's own EPMD is 127.0.0.1) needs no
     * resolver: parsed here, where uv_getaddrinfo would start libuv's
     * threadpool, four threads, for it (issue 13). Connecting from here
     * calls nothing back: a failed connect is reported from the loop. */
    struct addrinfo *ai = NULL;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(r->host, r->portstr, &hints, &ai) == 0 && ai) {
      uv_timer_start(&r->timer, on_timer, r->timeout_ms, 0);
      *out = r;
      r->ai = r->ai_next = ai;
      r->all_refused = 1;
      r->last_error = UV_ECONNREFUSED;
      try_connect(r);
      return 0;
    }
    if (ai) freeaddrinfo(ai);
    hints.ai_flags = 0;
  }
  int e = uv_getaddrinfo(loop, &r->gai, on_resolved, r->host, r->portstr, &hints);
  if (e) {
    /* Nothing is pending but the timer: close it and free from its callback
     * without calling any user callback. */
    r->cb_done = 1;
    r->user_closed = 1;
    teardown(r);
    return ep__err_from_uv(e);
  }
  r->gai_pending = 1;
  uv_timer_start(&r->timer, on_timer, r->timeout_ms, 0);
  *out = r;
  return 0;
}

static int enc_port(ep_buf *b, const void *a) {
  const char *name = a;
  return ep_epmd_encode_port2_req(b, name, strlen(name));
}
static int enc_names(ep_buf *b, const void *a) {
  (void)a;
  return ep_epmd_encode_names_req(b);
}
static int enc_alive(ep_buf *b, const void *a) { return ep_epmd_encode_alive2_req(b, a); }

int ep_epmd_port_please(uv_loop_t *loop, const ep_epmd_client_opts *opts, const char *name, ep_epmd_port_cb cb,
                        void *ud, ep_epmd_req **req) {
  if (!loop || !cb) return EP_EINVAL;
  if (!valid_client_name(name)) return EP_EBADNAME;
  ep_epmd_req *r = NULL;
  int rc = start(loop, opts, K_PORT, name, &r, enc_port, name);
  if (rc) return rc;
  r->port_cb = cb;
  r->ud = ud;
  if (req) *req = r;
  return 0;
}

int ep_epmd_names(uv_loop_t *loop, const ep_epmd_client_opts *opts, ep_epmd_names_cb cb, void *ud, ep_epmd_req **req) {
  if (!loop || !cb) return EP_EINVAL;
  ep_epmd_req *r = NULL;
  int rc = start(loop, opts, K_NAMES, NULL, &r, enc_names, NULL);
  if (rc) return rc;
  r->names_cb = cb;
  r->ud = ud;
  if (req) *req = r;
  return 0;
}

void ep_epmd_req_cancel(ep_epmd_req *r) {
  if (!r || r->cb_done || r->state == S_DONE || r->pending_error) return;
  r->pending_error = EP_ECANCELED;
  uv_timer_start(&r->timer, on_timer, 0, 0);
}

int ep_epmd_register(uv_loop_t *loop, const ep_epmd_register_opts *o, ep_epmd_register_cb cb, ep_epmd_lost_cb lost,
                     void *ud, ep_epmd_reg **out) {
  if (!loop || !o || !cb || !out || o->port == 0) return EP_EINVAL;
  if (!valid_client_name(o->name)) return EP_EBADNAME;
  if (o->extra_len > EP_EPMD_EXTRA_BYTES) return EP_EINVAL;
  ep_epmd_node n = {0};
  n.port = o->port;
  n.node_type = o->node_type ? o->node_type : EP_EPMD_NODE_HIDDEN;
  n.protocol = EP_EPMD_PROTO_TCP;
  n.high = o->high ? o->high : EP_EPMD_DIST_VERSION;
  n.low = o->low ? o->low : EP_EPMD_DIST_VERSION;
  n.name = (const uint8_t *)o->name;
  n.name_len = strlen(o->name);
  n.extra = o->extra;
  n.extra_len = o->extra_len;
  ep_epmd_req *r = NULL;
  int rc = start(loop, &o->client, K_REG, o->name, &r, enc_alive, &n);
  if (rc) return rc;
  r->reg_cb = cb;
  r->lost_cb = lost;
  r->ud = ud;
  *out = (ep_epmd_reg *)r;
  return 0;
}

void ep_epmd_reg_close(ep_epmd_reg *reg) {
  if (!reg) return;
  ep_epmd_req *r = &reg->r;
  if (r->user_closed) return;
  r->user_closed = 1;
  if (!r->cb_done && r->state != S_DONE) {
    /* The callback is still owed: deliver EP_ECANCELED from the loop. */
    r->pending_error = EP_ECANCELED;
    uv_timer_start(&r->timer, on_timer, 0, 0);
    return;
  }
  teardown(r);
}

/* --- synchronous wrappers -------------------------------------------------------------- */

typedef struct sync_port {
  int status, done;
  ep_epmd_port_info *out;
} sync_port;

static _Thread_local char sync_name[EP_EPMD_NAME_BYTES + 1];
static _Thread_local uint8_t sync_extra[EP_EPMD_EXTRA_BYTES];

static void sync_port_cb(int status, const ep_epmd_port_info *info, void *ud) {
  sync_port *s = ud;
  s->status = status;
  s->done = 1;
  if (status) return;
  *s->out = *info;
  snprintf(sync_name, sizeof sync_name, "%s", info->name);
  size_t el = info->extra_len < sizeof sync_extra ? info->extra_len : sizeof sync_extra;
  if (el) memcpy(sync_extra, info->extra, el);
  s->out->name = sync_name;
  s->out->extra = sync_extra;
  s->out->extra_len = el;
}

/* A fresh loop for each one-shot call: never one a caller runs. */
static int run_private(uv_loop_t *loop) { return ep__sloop_drain(loop); }

int ep_epmd_port_please_sync(const ep_epmd_client_opts *opts, const char *name, ep_epmd_port_info *out) {
  if (!out) return EP_EINVAL;
  uv_loop_t loop;
  int e = uv_loop_init(&loop);
  if (e) return ep__err_from_uv(e);
  sync_port s = {0, 0, out};
  int rc = ep_epmd_port_please(&loop, opts, name, sync_port_cb, &s, NULL);
  run_private(&loop);
  return rc ? rc : s.status;
}

typedef struct sync_names {
  int status;
  const ep_mem *mem;
  ep_epmd_name *names;
  size_t n;
  uint32_t eport;
} sync_names;

static void sync_names_cb(int status, const ep_epmd_name *names, size_t n, uint32_t eport, void *ud) {
  sync_names *s = ud;
  s->status = status;
  if (status) return;
  size_t bytes = 0;
  for (size_t i = 0; i < n; i++) bytes += strlen(names[i].name) + 1;
  ep_epmd_name *arr = malloc(n * sizeof *arr + bytes + 1);
  if (!arr) {
    s->status = EP_ENOMEM;
    return;
  }
  char *sp = (char *)(arr + n);
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(names[i].name);
    memcpy(sp, names[i].name, l + 1);
    arr[i].name = sp;
    arr[i].port = names[i].port;
    sp += l + 1;
  }
  s->names = arr;
  s->n = n;
  s->eport = eport;
}

int ep_epmd_names_sync(const ep_epmd_client_opts *opts, ep_epmd_name **names, size_t *n, uint32_t *epmd_port) {
  if (!names || !n) return EP_EINVAL;
  uv_loop_t loop;
  int e = uv_loop_init(&loop);
  if (e) return ep__err_from_uv(e);
  sync_names s = {0};
  int rc = ep_epmd_names(&loop, opts, sync_names_cb, &s, NULL);
  run_private(&loop);
  if (rc) return rc;
  if (s.status) return s.status;
  *names = s.names;
  *n = s.n;
  if (epmd_port) *epmd_port = s.eport;
  return 0;
}

void ep_epmd_names_free(ep_epmd_name *names) { free(names); }
