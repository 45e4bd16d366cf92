/* ep_node_epmd.c - what the node needs of EPMD: find a node's port
 * (PORT_PLEASE2) and publish ourselves (ALIVE2, held for the node's life).
 *
 *   PORT_PLEASE2_REQ  Len:16 122 Name
 *   PORT2_RESP        119 Result:8 [Port:16 Type:8 Proto:8 High:16 Low:16
 *                     NLen:16 Name ELen:16 Extra]   (then epmd closes)
 *   ALIVE2_REQ        Len:16 120 Port:16 Type:8 Proto:8 High:16 Low:16
 *                     NLen:16 Name ELen:16 Extra
 *   ALIVE2_X_RESP     118 Result:8 Creation:32   (ALIVE2_RESP 121: Creation:16)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_error.h"
#include "ep_node_int.h"

void ep__conn_dial(ep__conn *c, const struct sockaddr *addr);

typedef struct ep__epmd_req {
  ep_node *node;
  ep__conn *conn;     /* lookup: the connection waiting for the port */
  bool is_register;
  ep__lookup_cb lookup_cb;
  ep__register_cb register_cb;
  uv_getaddrinfo_t gai;
  bool gai_active;
  uv_tcp_t tcp;
  bool tcp_open;
  uv_connect_t creq;
  uv_write_t wreq;
  uint8_t req[600];
  size_t req_len;
  uint8_t resp[1024];
  size_t resp_len;
  struct sockaddr_storage addr;
  bool done; /* the callback has fired */
  bool canceled;
  bool closing;
} ep__epmd_req;

static void req_closed(uv_handle_t *h) {
  ep__epmd_req *r = h->data;
  r->node->open_handles--;
  free(r);
}

static void req_close(ep__epmd_req *r) {
  if (r->closing) return;
  r->closing = true;
  if (r->tcp_open) {
    r->tcp_open = false;
    uv_close((uv_handle_t *)&r->tcp, req_closed);
  } else if (!r->gai_active) {
    r->node->open_handles--;
    free(r);
  }
}

static void lookup_done(ep__epmd_req *r, int status, int port) {
  if (r->done) return;
  r->done = true;
  ep__conn *c = r->conn;
  if (c && !r->canceled) {
    c->epmd_req = NULL;
    if (status) {
      r->lookup_cb(c, status, 0);
    } else {
      struct sockaddr_storage a = r->addr;
      if (a.ss_family == AF_INET6) ((struct sockaddr_in6 *)&a)->sin6_port = htons((uint16_t)port);
      else ((struct sockaddr_in *)&a)->sin_port = htons((uint16_t)port);
      ep__conn_dial(c, (struct sockaddr *)&a);
    }
  }
}

static void register_done(ep__epmd_req *r, int status, uint32_t creation) {
  if (r->done) return;
  r->done = true;
  if (status) r->node->epmd_reg = NULL;
  r->register_cb(r->node, status, creation);
}

static void fail(ep__epmd_req *r, int err) {
  if (r->is_register) register_done(r, err, 0);
  else lookup_done(r, err, 0);
  req_close(r);
}

static void on_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  ep__epmd_req *r = h->data;
  (void)s;
  b->base = (char *)r->resp + r->resp_len;
  b->len = sizeof r->resp - r->resp_len;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  ep__epmd_req *r = st->data;
  (void)b;
  if (n > 0) r->resp_len += (size_t)n;
  if (r->is_register) {
    if (r->resp_len >= 2 && r->resp[0] != 118 && r->resp[0] != 121) {
      fail(r, EP_EEPMDREPLY);
      return;
    }
    if (r->resp_len >= 2 && r->resp[1] != 0 && !r->done) {
      fail(r, EP_ENAMETAKEN);
      return;
    }
    size_t need = r->resp[0] == 118 ? 6 : 4;
    if (!r->done && r->resp_len >= need) {
      uint32_t cr = r->resp[0] == 118 ? ep_get32(r->resp + 2) : ep_get16(r->resp + 2);
      register_done(r, 0, cr);
    }
    if (n < 0) {
      /* EPMD went away: the registration is gone with it. */
      if (!r->done) fail(r, EP_EEPMDREPLY);
      else {
        r->node->epmd_reg = NULL;
        req_close(r);
      }
    }
    return;
  }
  if (r->resp_len >= 2 && r->resp[0] != 119) {
    fail(r, EP_EEPMDREPLY);
    return;
  }
  if (r->resp_len >= 2 && r->resp[1] != 0) {
    fail(r, EP_ENOTREG);
    return;
  }
  if (r->resp_len >= 4) {
    lookup_done(r, 0, ep_get16(r->resp + 2));
    req_close(r);
    return;
  }
  if (n < 0) fail(r, r->resp_len ? EP_EEPMDREPLY : EP_ENOTREG);
}

static void on_written(uv_write_t *w, int status) {
  ep__epmd_req *r = w->data;
  if (status < 0 && !r->done) fail(r, EP_ENOEPMD);
}

static void on_connect(uv_connect_t *cr, int status) {
  ep__epmd_req *r = cr->data;
  if (r->closing) return; /* its close is under way */
  if (status < 0) {
    fail(r, EP_ENOEPMD);
    return;
  }
  uv_buf_t b = uv_buf_init((char *)r->req, (unsigned)r->req_len);
  r->wreq.data = r;
  if (uv_write(&r->wreq, (uv_stream_t *)&r->tcp, &b, 1, on_written) ||
      uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read))
    fail(r, EP_ENOEPMD);
}

static void start_connect(ep__epmd_req *r) {
  struct sockaddr_storage a = r->addr;
  if (a.ss_family == AF_INET6) ((struct sockaddr_in6 *)&a)->sin6_port = htons((uint16_t)r->node->epmd_port);
  else ((struct sockaddr_in *)&a)->sin_port = htons((uint16_t)r->node->epmd_port);
  uv_tcp_init(r->node->loop, &r->tcp);
  r->tcp.data = r;
  r->tcp_open = true;
  r->creq.data = r;
  if (uv_tcp_connect(&r->creq, &r->tcp, (struct sockaddr *)&a, on_connect)) fail(r, EP_ENOEPMD);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res) {
  ep__epmd_req *r = g->data;
  r->gai_active = false;
  if (r->closing) { /* closed while resolving: finish freeing it */
    if (res) uv_freeaddrinfo(res);
    r->node->open_handles--;
    free(r);
    return;
  }
  if (r->canceled || status < 0 || !res) {
    if (res) uv_freeaddrinfo(res);
    if (r->canceled) {
      req_close(r);
      return;
    }
    fail(r, EP_ENOHOST);
    return;
  }
  memcpy(&r->addr, res->ai_addr, res->ai_addrlen);
  uv_freeaddrinfo(res);
  start_connect(r);
}

static ep__epmd_req *req_new(ep_node *n) {
  ep__epmd_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->node = n;
  r->gai.data = r;
  n->open_handles++;
  return r;
}

int ep__epmd_lookup(ep_node *n, ep__conn *c, const char *host, const char *name, ep__lookup_cb cb) {
  size_t nl = strlen(name);
  if (nl == 0 || nl > 255) return EP_EBADNAME;
  ep__epmd_req *r = req_new(n);
  if (!r) return EP_ENOMEM;
  r->conn = c;
  r->lookup_cb = cb;
  ep_put16(r->req, (uint16_t)(nl + 1));
  r->req[2] = 122;
  memcpy(r->req + 3, name, nl);
  r->req_len = nl + 3;
  struct addrinfo hints = {0};
  hints.ai_family = n->ipv6 ? AF_INET6 : AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  /* IPv6: a host known only by an IPv4 address (a short host name in
   * /etc/hosts) is dialled as ::ffff:a.b.c.d, which a dual-stack inet6_tcp
   * listener accepts, as OTP's inet6_tcp does. */
  if (n->ipv6) hints.ai_flags = AI_V4MAPPED;
  r->gai_active = true;
  int e = uv_getaddrinfo(n->loop, &r->gai, on_resolved, host, NULL, &hints);
  if (e) {
    r->gai_active = false;
    n->open_handles--;
    free(r);
    return EP_ENOHOST;
  }
  c->epmd_req = r;
  return 0;
}

void ep__epmd_lookup_cancel(ep__conn *c) {
  ep__epmd_req *r = c->epmd_req;
  if (!r) return;
  c->epmd_req = NULL;
  r->canceled = true;
  r->conn = NULL;
  r->done = true;
  if (r->gai_active) {
    r->closing = true; /* on_resolved frees it */
    uv_cancel((uv_req_t *)&r->gai);
  } else {
    req_close(r);
  }
}

static void on_register_none(uv_timer_t *t) {
  ep_node *n = t->data;
  /* Not registered: a random creation (never 0..3, which mean "old"). */
  uint32_t v = 0;
  uv_random(NULL, NULL, &v, sizeof v, 0, NULL);
  n->register_cb(n, 0, v | 4);
}

int ep__epmd_register(ep_node *n, ep__register_cb cb) {
  if (n->epmd_mode == EP_EPMD_NONE) {
    /* Report from the loop, never from inside ep_node_start. */
    n->register_cb = cb;
    uv_timer_start(&n->start_timer, on_register_none, 0, 0);
    return 0;
  }
  const char *at = strchr(n->name, '@');
  size_t nl = (size_t)(at - n->name);
  ep__epmd_req *r = req_new(n);
  if (!r) return EP_ENOMEM;
  r->is_register = true;
  r->register_cb = cb;
  uint8_t *p = r->req + 2;
  *p++ = 120;
  ep_put16(p, (uint16_t)n->listen_port), p += 2;
  *p++ = 72; /* hidden */
  *p++ = 0;  /* tcp/ip */
  ep_put16(p, 6), p += 2;
  ep_put16(p, 6), p += 2;
  ep_put16(p, (uint16_t)nl), p += 2;
  memcpy(p, n->name, nl), p += nl;
  ep_put16(p, 0), p += 2;
  r->req_len = (size_t)(p - r->req);
  ep_put16(r->req, (uint16_t)(r->req_len - 2));
  r->addr.ss_family = n->ipv6 ? AF_INET6 : AF_INET;
  if (n->ipv6) uv_ip6_addr("::1", 0, (struct sockaddr_in6 *)&r->addr);
  else uv_ip4_addr("127.0.0.1", 0, (struct sockaddr_in *)&r->addr);
  n->epmd_reg = r;
  start_connect(r);
  return 0;
}

void ep__epmd_close(ep_node *n) {
  ep__epmd_req *r = n->epmd_reg;
  n->epmd_reg = NULL;
  if (r) {
    r->done = true;
    req_close(r);
  }
}
