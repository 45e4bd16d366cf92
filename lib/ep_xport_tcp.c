/* ep_xport_tcp.c - the bottom transport filter: a TCP socket. See
 * ep_xport_int.h for the verbs. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "ep_error.h"
#include "ep_uverr_int.h"
#include "ep_xport_int.h"

typedef struct tcp {
  ep__xport x;
  const ep_mem *mem;
  uv_tcp_t sock;
  uv_connect_t creq;
  uv_write_t wreq;
  bool closing;
} tcp;

static void on_closed(uv_handle_t *h) {
  tcp *t = h->data;
  const ep__xport_up *up = t->x.up;
  void *ud = t->x.up_ud;
  ep_free(t->mem, t);
  if (up && up->closed) up->closed(ud);
}

static void on_connect(uv_connect_t *req, int status) {
  tcp *t = req->data;
  t->x.up->connected(t->x.up_ud, status < 0 ? ep__err_from_uv(status) : 0);
}

static int tcp_connect(ep__xport *x, const struct sockaddr *addr) {
  tcp *t = (tcp *)x;
  t->creq.data = t;
  int r = uv_tcp_connect(&t->creq, &t->sock, addr, on_connect);
  return r ? ep__err_from_uv(r) : 0;
}

static int tcp_accept(ep__xport *x, uv_stream_t *server) {
  tcp *t = (tcp *)x;
  int r = uv_accept(server, (uv_stream_t *)&t->sock);
  if (r) return ep__err_from_uv(r);
  uv_tcp_nodelay(&t->sock, 1);
  x->up->connected(x->up_ud, 0); /* the last thing: the callback may close us */
  return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  tcp *t = h->data;
  t->x.up->alloc(t->x.up_ud, suggested, buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  tcp *t = s->data;
  (void)buf;
  if (n == 0) return;
  t->x.up->read(t->x.up_ud, n > 0 ? n : (n == UV_EOF ? EP_EEOF : ep__err_from_uv((int)n)));
}

static int tcp_read_start(ep__xport *x) {
  tcp *t = (tcp *)x;
  int r = uv_read_start((uv_stream_t *)&t->sock, on_alloc, on_read);
  return r ? ep__err_from_uv(r) : 0;
}

static int tcp_try_write(ep__xport *x, const uv_buf_t *bufs, unsigned n) {
  tcp *t = (tcp *)x;
  int w = uv_try_write((uv_stream_t *)&t->sock, bufs, n);
  if (w == UV_EAGAIN) return 0;
  return w < 0 ? ep__err_from_uv(w) : w;
}

static void on_write(uv_write_t *req, int status) {
  tcp *t = req->data;
  t->x.up->written(t->x.up_ud, status < 0 ? ep__err_from_uv(status) : 0);
}

static int tcp_write(ep__xport *x, const uv_buf_t *bufs, unsigned n) {
  tcp *t = (tcp *)x;
  t->wreq.data = t;
  int r = uv_write(&t->wreq, (uv_stream_t *)&t->sock, bufs, n, on_write);
  return r ? ep__err_from_uv(r) : 0;
}

static void tcp_close(ep__xport *x) {
  tcp *t = (tcp *)x;
  if (t->closing) return;
  t->closing = true;
  uv_close((uv_handle_t *)&t->sock, on_closed);
}

static void tcp_peer(ep__xport *x, char *out, size_t cap) {
  tcp *t = (tcp *)x;
  struct sockaddr_storage sa;
  int len = sizeof sa;
  char ip[64] = "?";
  int port = 0;
  if (uv_tcp_getpeername(&t->sock, (struct sockaddr *)&sa, &len) == 0) {
    if (sa.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
    } else {
      uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
    }
  }
  if (port == 0) snprintf(out, cap, "an address already gone");
  else snprintf(out, cap, sa.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip, port);
}

static const ep__xport_ops tcp_ops = {"tcp",         tcp_connect, tcp_accept, tcp_read_start, tcp_try_write,
                                      tcp_write,     tcp_close,   tcp_peer};

int ep__xport_tcp_new(uv_loop_t *loop, const ep_mem *mem, ep__xport **out) {
  tcp *t = ep_malloc(mem, sizeof *t);
  if (!t) return EP_ENOMEM;
  memset(t, 0, sizeof *t);
  t->mem = mem;
  t->x.ops = &tcp_ops;
  int r = uv_tcp_init(loop, &t->sock);
  if (r) {
    ep_free(mem, t);
    return ep__err_from_uv(r);
  }
  t->sock.data = t;
  uv_tcp_nodelay(&t->sock, 1);
  *out = &t->x;
  return 0;
}

static void on_rejected(uv_handle_t *h) { ep_free(h->data, h); }

void ep__xport_tcp_reject(uv_loop_t *loop, const ep_mem *mem, uv_stream_t *server) {
  uv_tcp_t *t = ep_malloc(mem, sizeof *t);
  if (!t) return; /* nothing more to be done: the listener waits for the next accept */
  uv_tcp_init(loop, t);
  t->data = (void *)mem;
  uv_accept(server, (uv_stream_t *)t);
  uv_close((uv_handle_t *)t, on_rejected);
}
