/* ep_peer_alt.c - the alternative control connections: TCP and standard_io.
 * Framing lives in dist/ep_alt.c; this file moves bytes with libuv. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_alt.h"
#include "ep_error.h"
#include "ep_peer_int.h"

/* --- writing ---------------------------------------------------------------------- */

static int write_now(ep_peer *p, uv_stream_t *s);

/* One write in flight at a time (p->tx_inflight), so its request lives in
 * the peer: a write never needs an allocation, and a frame queued while
 * memory is short still leaves. */
static void on_written(uv_write_t *req, int status) {
  ep_peer *p = req->data;
  ep_free(p->mem, p->tx_data);
  p->tx_data = NULL;
  uv_stream_t *s = req->handle;
  p->tx_inflight = false;
  /* a failed write shows up as a read error / EOF; on a closed stream the
   * gathered bytes have nowhere to go */
  if (status == 0 && p->tx.len && !uv_is_closing((uv_handle_t *)s)) write_now(p, s);
  else if (status) p->tx.len = 0;
}

static int write_now(ep_peer *p, uv_stream_t *s) {
  if (p->tx_inflight || p->tx.len == 0) return 0;
  size_t n;
  p->tx_req.data = p;
  p->tx_data = ep_buf_take(&p->tx, &n);
  uv_buf_t b = uv_buf_init((char *)p->tx_data, (unsigned)n);
  int rc = uv_write(&p->tx_req, s, &b, 1, on_written);
  if (rc) {
    ep_free(p->mem, p->tx_data);
    p->tx_data = NULL;
    return ep_err_from_errno(rc);
  }
  p->tx_inflight = true;
  return 0;
}

/* Runs right before the loop waits for I/O: everything queued during this
 * iteration (a burst of pipelined calls) leaves in one write, and nothing
 * waits longer than the current iteration (no added latency). */
static void on_prepare(uv_prepare_t *h) {
  ep_peer *p = h->data;
  uv_prepare_stop(h);
  if (p->tx_stream && !uv_is_closing((uv_handle_t *)p->tx_stream)) write_now(p, p->tx_stream);
}

int ep__peer_flush(ep_peer *p, uv_stream_t *s) {
  if (p->tx.err) {
    int e = p->tx.err;
    ep_buf_free(&p->tx);
    ep_buf_init(&p->tx, p->mem);
    return e;
  }
  p->tx_stream = s;
  if (!p->tx_inflight && !uv_is_active((uv_handle_t *)&p->tx_prep))
    uv_prepare_start(&p->tx_prep, on_prepare);
  return 0;
}

/* Frames t onto p->tx. A frame that could not be built (out of memory) is
 * taken back whole: the frames queued before it stay, and the buffer's
 * sticky error is cleared, so the next frame is not refused for it. */
static int frame_onto_tx(ep_peer *p, int (*encode)(ep_buf *, ep_term), ep_term t) {
  size_t before = p->tx.len;
  int rc = encode(&p->tx, t);
  if (rc) {
    p->tx.len = before;
    p->tx.err = 0;
  }
  return rc;
}

static ep_arena *scratch(ep_peer *p) {
  if (!p->tx_arena) p->tx_arena = ep_arena_new(p->mem);
  return p->tx_arena;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static __thread char scratch[65536];
  buf->base = scratch;
  buf->len = sizeof scratch;
}

/* --- TCP ---------------------------------------------------------------------------- */

static int tcp_send_term(ep_peer *p, ep_term t) {
  if (!p->sock_open || !p->connected) return EP_EPEERDOWN;
  int rc = frame_onto_tx(p, ep_alt_tcp_encode, t);
  if (p->tx_arena) ep_arena_reset(p->tx_arena);
  if (!rc) rc = ep__peer_flush(p, (uv_stream_t *)&p->sock);
  return rc;
}

static void tcp_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  ep_peer *p = s->data;
  if (nread < 0) {
    ep__peer_on_conn_lost(p, EP_EPEERDOWN, nread == UV_EOF ? "tcp_closed" : "tcp_error");
    return;
  }
  if (nread == 0) return;
  if (ep_buf_append(&p->rx, buf->base, (size_t)nread)) {
    ep__peer_on_conn_lost(p, EP_ENOMEM, "out_of_memory");
    return;
  }
  size_t pos = 0;
  while (p->sock_open) {
    const uint8_t *pl;
    size_t n;
    int rc = ep_alt_tcp_decode(p->rx.data, p->rx.len, &pos, &pl, &n, 0);
    if (rc == EP_EINCOMPLETE) break;
    if (rc) {
      ep__peer_on_conn_lost(p, rc == EP_ETOOBIG ? EP_ETOOBIG : EP_EALTFRAME, "garbled_frame");
      return;
    }
    ep__peer_on_frame(p, pl, n);
  }
  if (p->rx.len) ep_buf_consume(&p->rx, pos);
}

static void tcp_on_connection(uv_stream_t *server, int status) {
  ep_peer *p = server->data;
  if (status < 0 || p->connected || p->phase >= EP__PH_STOPPING) return;
  if (uv_tcp_init(p->loop, &p->sock)) return;
  p->sock.data = p;
  p->open_handles++;
  p->sock_open = true;
  if (uv_accept(server, (uv_stream_t *)&p->sock)) {
    p->sock_open = false;
    uv_close((uv_handle_t *)&p->sock, ep__peer_handle_closed);
    return;
  }
  uv_tcp_nodelay(&p->sock, 1);
  p->connected = true;
  /* One peer, one connection: the reference closes the listener after the
   * accept, so nobody else can take the peer's place. */
  p->listening = false;
  uv_close((uv_handle_t *)&p->listener, ep__peer_handle_closed);
  uv_read_start((uv_stream_t *)&p->sock, on_alloc, tcp_on_read);
  ep__peer_on_connected(p);
}

/* The local IPv4 addresses that are up, loopback first (the reference's
 * prefer_localhost), joined with commas. */
static int local_ips(char *out, size_t cap) {
  uv_interface_address_t *ifs;
  int n;
  out[0] = 0;
  if (uv_interface_addresses(&ifs, &n)) return EP_ESYS;
  size_t len = 0;
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < n; i++) {
      if (ifs[i].address.address4.sin_family != AF_INET) continue;
      char ip[64];
      uv_ip4_name(&ifs[i].address.address4, ip, sizeof ip);
      int loop = strncmp(ip, "127.", 4) == 0;
      if ((pass == 0) != loop) continue;
      size_t l = strlen(ip);
      if (len + l + 2 > cap) break;
      if (len) out[len++] = ',';
      memcpy(out + len, ip, l + 1);
      len += l;
    }
  }
  uv_free_interface_addresses(ifs, n);
  if (!len) snprintf(out, cap, "127.0.0.1");
  return 0;
}

static int tcp_prepare(ep_peer *p, ep__strv *argv) {
  struct sockaddr_storage ss;
  const char *ip = p->o.tcp_ip ? p->o.tcp_ip : "0.0.0.0";
  int rc;
  if (strchr(ip, ':'))
    rc = uv_ip6_addr(ip, p->o.tcp_port, (struct sockaddr_in6 *)&ss);
  else
    rc = uv_ip4_addr(ip, p->o.tcp_port, (struct sockaddr_in *)&ss);
  if (rc) return EP_EINVAL;
  if ((rc = uv_tcp_init(p->loop, &p->listener))) return ep_err_from_errno(rc);
  p->listener.data = p;
  p->open_handles++;
  p->listening = true;
  rc = uv_tcp_bind(&p->listener, (struct sockaddr *)&ss, 0);
  if (!rc) rc = uv_listen((uv_stream_t *)&p->listener, 4, tcp_on_connection);
  if (rc) return ep_err_from_errno(rc);
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  uv_tcp_getsockname(&p->listener, (struct sockaddr *)&bound, &blen);
  int port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                               : ((struct sockaddr_in *)&bound)->sin_port);
  char ips[1024], portstr[16];
  if (p->o.tcp_ip)
    snprintf(ips, sizeof ips, "%s", p->o.tcp_ip);
  else
    local_ips(ips, sizeof ips);
  snprintf(portstr, sizeof portstr, "%d", port);
  /* -detached -peer_detached: OTP 27+ only relays I/O and registers the
   * connection as `user` with -peer_detached; OTP 25 ignores it. -noinput is
   * what OTP 25 passes (implied by -detached anyway). */
  if (p->o.detached) {
    if (ep__strv_push(argv, "-detached") || ep__strv_push(argv, "-noinput") ||
        ep__strv_push(argv, "-peer_detached"))
      return EP_ENOMEM;
  }
  if (ep__strv_push(argv, "-user") || ep__strv_push(argv, "peer") ||
      ep__strv_push(argv, "-origin") || ep__strv_push(argv, ips) || ep__strv_push(argv, portstr))
    return EP_ENOMEM;
  return 0;
}

/* --- the control messages, the same for both connections -------------------------- */

static int stdio_send_term(ep_peer *p, ep_term t);

/* Builds a control term in the scratch arena and frames it for the
 * peer's connection. */
static int send_term(ep_peer *p, ep_term t) {
  return p->vt == &ep__peer_tcp_vt ? tcp_send_term(p, t) : stdio_send_term(p, t);
}

static int alt_call(ep_peer *p, uint64_t seq, ep_term m, ep_term f, ep_term args) {
  ep_arena *a = scratch(p);
  return a ? send_term(p, ep_alt_call(a, seq, m, f, args)) : EP_ENOMEM;
}

static int alt_cast(ep_peer *p, ep_term m, ep_term f, ep_term args) {
  ep_arena *a = scratch(p);
  return a ? send_term(p, ep_alt_cast(a, m, f, args)) : EP_ENOMEM;
}

static int alt_send(ep_peer *p, ep_term to, ep_term msg) {
  ep_arena *a = scratch(p);
  return a ? send_term(p, ep_alt_message(a, to, msg)) : EP_ENOMEM;
}

static int alt_io_reply(ep_peer *p, ep_term from, ep_term ref, ep_term reply) {
  ep_arena *a = scratch(p);
  return a ? send_term(p, ep_alt_io_reply(a, from, ref, reply)) : EP_ENOMEM;
}

static int tcp_spawned(ep_peer *p) { return 0; }

static void tcp_close(ep_peer *p) {
  if (p->listening) {
    p->listening = false;
    uv_close((uv_handle_t *)&p->listener, ep__peer_handle_closed);
  }
  if (p->sock_open) {
    p->sock_open = false;
    p->connected = false;
    uv_close((uv_handle_t *)&p->sock, ep__peer_handle_closed);
  }
}

static int tcp_is_open(ep_peer *p) { return p->sock_open && p->connected; }

static int tcp_close_handles(ep_peer *p) {
  tcp_close(p);
  return 0;
}

const ep__peer_conn_vt ep__peer_tcp_vt = {"tcp",    tcp_prepare,  tcp_spawned, alt_call,
                                          alt_cast, alt_send,     alt_io_reply, tcp_close,
                                          tcp_is_open, NULL,      tcp_close_handles};

/* --- standard_io ------------------------------------------------------------------------ */

static int stdio_send_term(ep_peer *p, ep_term t) {
  if (!p->in_open) return EP_EPEERDOWN;
  int rc = frame_onto_tx(p, ep_alt_stdio_encode, t);
  if (p->tx_arena) ep_arena_reset(p->tx_arena);
  if (!rc) rc = ep__peer_flush(p, (uv_stream_t *)&p->in);
  return rc;
}

static void flush_text(ep_peer *p) {
  if (p->text.len) {
    ep__peer_on_output(p, (const char *)p->text.data, p->text.len);
    p->text.len = 0;
  }
}

static void stdio_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  ep_peer *p = s->data;
  if (nread < 0) {
    flush_text(p);
    p->out_eof = true;
    if (p->out_open) {
      p->out_open = false;
      uv_close((uv_handle_t *)&p->out, ep__peer_handle_closed);
    }
    if (ep_alt_stdio_dec_partial(&p->sdec))
      ep__peer_on_conn_lost(p, EP_EALTFRAME, "truncated_frame");
    else
      ep__peer_on_conn_lost(p, EP_EPEERDOWN, "stdout_closed");
    return;
  }
  size_t pos = 0;
  const uint8_t *in = (const uint8_t *)buf->base;
  while (pos < (size_t)nread) {
    const uint8_t *pl;
    size_t n;
    /* bounded text per step: a chatty peer cannot grow the buffer forever */
    size_t end = (size_t)nread;
    if (end - pos > EP_LIMIT_ALT_TEXT_CHUNK) end = pos + EP_LIMIT_ALT_TEXT_CHUNK;
    int rc = ep_alt_stdio_decode(&p->sdec, in, end, &pos, &p->text, &pl, &n);
    if (rc == 0) {
      flush_text(p); /* text before the frame comes first */
      ep__peer_on_frame(p, pl, n);
      if (!p->out_open) return;
      continue;
    }
    flush_text(p);
    if (rc == EP_EINCOMPLETE) continue;
    ep__peer_on_conn_lost(p, rc, rc == EP_ECRC ? "crc_mismatch" : "garbled_frame");
    return;
  }
}

static void err_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  ep_peer *p = s->data;
  uv_pipe_t *pipe = (uv_pipe_t *)s;
  if (nread < 0) {
    bool *flag = pipe == &p->out_err ? &p->err_open : &p->std_open;
    if (*flag) {
      *flag = false;
      uv_close((uv_handle_t *)pipe, ep__peer_handle_closed);
    }
    return;
  }
  if (nread > 0) ep__peer_on_output(p, buf->base, (size_t)nread);
}

static int stdio_prepare(ep_peer *p, ep__strv *argv) {
  /* Attached, no -origin: the peer's io_server talks on fd 0/1. */
  if (ep__strv_push(argv, "-user") || ep__strv_push(argv, "peer")) return EP_ENOMEM;
  int rc = uv_pipe_init(p->loop, &p->in, 0);
  if (rc) return ep_err_from_errno(rc);
  p->in.data = p;
  p->open_handles++;
  p->in_open = true;
  rc = uv_pipe_init(p->loop, &p->out, 0);
  if (rc) return ep_err_from_errno(rc);
  p->out.data = p;
  p->open_handles++;
  p->out_open = true;
  ep_alt_stdio_dec_init(&p->sdec, p->mem, 0);
  return 0;
}

static int stdio_spawned(ep_peer *p) {
  int rc = uv_read_start((uv_stream_t *)&p->out, on_alloc, stdio_on_read);
  if (rc) return ep_err_from_errno(rc);
  /* the control connection is there from the start */
  p->connected = true;
  return 0;
}

/* Closing stdin is closing the connection: the peer's io_server sees eof
 * and halts. stdout stays open until the peer is gone so its last output
 * and its exit are seen. */
static void stdio_close(ep_peer *p) {
  p->connected = false;
  if (p->in_open) {
    p->in_open = false;
    uv_close((uv_handle_t *)&p->in, ep__peer_handle_closed);
  }
}

static int stdio_is_open(ep_peer *p) { return p->in_open && p->connected; }

static int stdio_close_handles(ep_peer *p) {
  stdio_close(p);
  if (p->out_open) {
    p->out_open = false;
    uv_close((uv_handle_t *)&p->out, ep__peer_handle_closed);
  }
  return 0;
}

const ep__peer_conn_vt ep__peer_stdio_vt = {
    "standard_io", stdio_prepare, stdio_spawned, alt_call,      alt_cast,
    alt_send,      alt_io_reply,  stdio_close,   stdio_is_open, NULL,
    stdio_close_handles};

/* stderr of standard_io / attached TCP peers: exported for ep_peer.c */
void ep__peer_err_read_start(ep_peer *p, uv_pipe_t *pipe);
void ep__peer_err_read_start(ep_peer *p, uv_pipe_t *pipe) {
  uv_read_start((uv_stream_t *)pipe, on_alloc, err_on_read);
}
