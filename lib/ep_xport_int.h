/* ep_xport_int.h - a distribution connection's transport: a small stack of
 * filters with the same verbs (the shape of curl's connection filters,
 * lib/cfilters.h). TCP is the bottom filter; TLS (inet_tls_dist) goes
 * above it. The connection (lib/ep_conn*.c: the handshake and the dist
 * framing) talks to the top filter only, and never knows which filters
 * are below. Internal, not installed.
 *
 * Verbs, each answered by a filter or passed to the one below:
 *   connect(addr)    dial; connected(status) once the whole stack is up
 *                    (TLS: after its handshake)
 *   accept(server)   take a socket the listener has; connected(status)
 *                    likewise (TCP: at once, from inside accept)
 *   read_start()     then alloc(suggested, &buf) and read(n) into that
 *                    buffer: n > 0 bytes, or an ep_err code (EP_EEOF at
 *                    the end); plain bytes, whatever the filters did
 *   try_write(bufs)  synchronous, never blocks: the bytes taken (0 when
 *                    none could be), or an ep_err code
 *   write(bufs)      asynchronous: written(status) once every byte is out;
 *                    one write at a time; bufs' memory stays valid until
 *                    then
 *   close()          closed() once every handle of the stack has closed;
 *                    a connect or write still in flight reports first
 *                    (EP_ECANCELED), as libuv's requests do
 * Errors are ep_err codes, mapped from libuv's where the syscall happens.
 */
#ifndef EP_XPORT_INT_H
#define EP_XPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#include "ep_mem.h"

typedef struct ep__xport ep__xport;

/* The layer above: a filter's own handlers, or the connection's. */
typedef struct ep__xport_up {
  void (*connected)(void *ud, int status);
  void (*alloc)(void *ud, size_t suggested, uv_buf_t *buf);
  void (*read)(void *ud, ssize_t n);
  void (*written)(void *ud, int status);
  void (*closed)(void *ud);
} ep__xport_up;

typedef struct ep__xport_ops {
  const char *name;
  int (*connect)(ep__xport *x, const struct sockaddr *addr);
  int (*accept)(ep__xport *x, uv_stream_t *server);
  int (*read_start)(ep__xport *x);
  int (*try_write)(ep__xport *x, const uv_buf_t *bufs, unsigned n);
  int (*write)(ep__xport *x, const uv_buf_t *bufs, unsigned n);
  void (*close)(ep__xport *x);
  /* The remote address as text, for logs ("?" when unknown). */
  void (*peer)(ep__xport *x, char *out, size_t cap);
} ep__xport_ops;

struct ep__xport {
  const ep__xport_ops *ops;
  ep__xport *below; /* NULL: the bottom (TCP) */
  const ep__xport_up *up;
  void *up_ud;
  /* A filter's own words for its last failure (TLS: OpenSSL's reason),
   * beside the ep_err code it reported; NULL when it has none. */
  const char *why;
};

/* The bottom of every stack: a TCP socket on loop (TCP_NODELAY). */
int ep__xport_tcp_new(uv_loop_t *loop, const ep_mem *mem, ep__xport **out);
/* Accepts the connection pending on server and closes it: libuv stops
 * watching a listener whose callback accepts nothing (until it does), so
 * a client we cannot take must still be taken, or the listener goes deaf. */
void ep__xport_tcp_reject(uv_loop_t *loop, const ep_mem *mem, uv_stream_t *server);

static inline void ep__xport_set_up(ep__xport *x, const ep__xport_up *up, void *ud) {
  x->up = up;
  x->up_ud = ud;
}
static inline int ep__xport_connect(ep__xport *x, const struct sockaddr *a) { return x->ops->connect(x, a); }
static inline int ep__xport_accept(ep__xport *x, uv_stream_t *server) { return x->ops->accept(x, server); }
static inline int ep__xport_read_start(ep__xport *x) { return x->ops->read_start(x); }
static inline int ep__xport_try_write(ep__xport *x, const uv_buf_t *b, unsigned n) {
  return x->ops->try_write(x, b, n);
}
static inline int ep__xport_write(ep__xport *x, const uv_buf_t *b, unsigned n) { return x->ops->write(x, b, n); }
static inline void ep__xport_close(ep__xport *x) { x->ops->close(x); }
static inline void ep__xport_peer(ep__xport *x, char *out, size_t cap) {
  if (x) x->ops->peer(x, out, cap);
  else if (cap) out[0] = '?', out[cap > 1] = 0;
}

#endif
