/* ep_peer_alt.c - the alternative control connections: TCP and standard_io.
 * Framing lives in dist/ep_alt.c; this file moves bytes with libuv, keeps
 * its state behind p->conn_state, and hands the core decoded control
 * messages (ep__peer_on_event). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_alt.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_peer_int.h"

/* The connection's own state. Its handles' data is the peer: their close
 * callback is the core's ep__peer_handle_closed, and the state is freed
 * only once every handle of the peer has closed (alt_release). */
typedef struct ep__alt {
  bool tcp;
  uv_tcp_t listener;
  bool listening;
  uv_tcp_t sock;
  bool sock_open;
  uv_pipe_t in, out; /* standard_io: the peer's stdin, stdout */
  bool in_open, out_open;
  ep_buf rx;
  ep_alt_stdio_dec sdec;
  ep_buf text;
  ep_arena *rx_arena; /* the terms of the message being handed over */
  /* outgoing frames: written at once when no write is in flight, else
   * gathered and written together when it completes (fewer syscalls under
   * load, no added latency when idle) */
  ep_buf tx;
  bool tx_inflight;
  uv_write_t tx_req; /* the write in flight (one at a time) */
  uint8_t *tx_data;  /* its bytes, taken from tx */
  uv_prepare_t tx_prep; /* flushes tx once per loop iteration */
  bool prep_open;
  uv_stream_t *tx_stream;
  ep_arena *tx_arena; /* scratch for building control terms */
} ep__alt;

static ep__alt *A(ep_peer *p) { return p->conn_state; }

static int alt_state(ep_peer *p, bool tcp) {
  ep__alt *a = ep_malloc(p->mem, sizeof *a);
  if (!a) return EP_ENOMEM;
  memset(a, 0, sizeof *a);
  a->tcp = tcp;
  ep_buf_init(&a->rx, p->mem);
  ep_buf_init(&a->text, p->mem);
  ep_buf_init(&a->tx, p->mem);
  ep_alt_stdio_dec_init(&a->sdec, p->mem, 0);
  p->conn_state = a;
  uv_prepare_init(p->loop, &a->tx_prep);
  a->tx_prep.data = p;
  a->prep_open = true;
  p->open_handles++;
  return 0;
}

static void alt_release(ep_peer *p) {
  ep__alt *a = A(p);
  if (!a) return;
  ep_buf_free(&a->rx);
  ep_buf_free(&a->text);
  ep_alt_stdio_dec_free(&a->sdec);
  ep_arena_free(a->rx_arena);
  ep_arena_free(a->tx_arena);
  ep_buf_free(&a->tx);
  ep_free(p->mem, a->tx_data);
  ep_free(p->mem, a);
  p->conn_state = NULL;
}

/* A frame's payload: decoded into the connection's arena and handed to the
 * core as a control message. A term we do not know is skipped (the
 * reference would crash); garbage ends the connection. */
static void deliver(ep_peer *p, const uint8_t *etf, size_t n) {
  ep__alt *s = A(p);
  if (!s->rx_arena && !(s->rx_arena = ep_arena_new(p->mem))) {
    ep__peer_on_conn_lost(p, EP_ENOMEM, "out_of_memory");
    return;
  }
  ep_arena *a = s->rx_arena;
  ep_term t;
  size_t pos = 0;
  int rc = ep_decode(a, etf, n, &pos, &t, NULL);
  if (rc == EP_ENOMEM) {
    ep_arena_reset(a);
    ep__peer_on_conn_lost(p, EP_ENOMEM, "out_of_memory");
    return;
  }
  if (rc || pos != n) {
    ep_arena_reset(a);
    ep__peer_on_conn_lost(p, EP_EALTFRAME, "garbled_term");
    return;
  }
  ep_alt_msg m;
  if (ep_alt_parse(t, &m) == 0) ep__peer_on_event(p, &m, a);
  ep_arena_reset(a);
}

/* --- writing ---------------------------------------------------------------------- */

static int write_now(ep_peer *p, uv_stream_t *s);

/* One write in flight at a time (A(p)->tx_inflight), so its request lives in
 * the peer: a write never needs an allocation, and a frame queued while
 * memory is short still leaves. */
static void on_written(uv_write_t *req, int status) {
  ep_peer *p = req->data;
  ep_free(p->mem, A(p)->tx_data);
  A(p)->tx_data = NULL;
  uv_stream_t *s = req->handle;
  A(p)->tx_inflight = false;
  /* a failed write shows up as a read error / EOF; on a closed stream the
   * gathered bytes have nowhere to go */
  if (status == 0 && A(p)->tx.len && !uv_is_closing((uv_handle_t *)s)) write_now(p, s);
  else if (status) A(p)->tx.len = 0;
}

static int write_now(ep_peer *p, uv_stream_t *s) {
  if (A(p)->tx_inflight || A(p)->tx.len == 0) return 0;
  size_t n;
  A(p)->tx_req.data = p;
  A(p)->tx_data = ep_buf_take(&A(p)->tx, &n);
  uv_buf_t b = uv_buf_init((char *)A(p)->tx_data, (unsigned)n);
  int rc = uv_write(&A(p)->tx_req, s, &b, 1, on_written);
  if (rc) {
    ep_free(p->mem, A(p)->tx_data);
    A(p)->tx_data = NULL;
    return ep_err_from_errno(rc);
  }
  A(p)->tx_inflight = true;
  return 0;
}

/* Runs right before the loop waits for I/O: everything queued during this
 * iteration (a burst of pipelined calls) leaves in one write, and nothing
 * waits longer than the current iteration (no added latency). */
static void on_prepare(uv_prepare_t *h) {
  ep_peer *p = h->data;
  uv_prepare_stop(h);
  if (A(p)->tx_stream && !uv_is_closing((uv_handle_t *)A(p)->tx_stream)) write_now(p, A(p)->tx_stream);
}

static int flush(ep_peer *p, uv_stream_t *s) {
  if (A(p)->tx.err) {
    int e = A(p)->tx.err;
    ep_buf_free(&A(p)->tx);
    ep_buf_init(&A(p)->tx, p->mem);
    return e;
  }
  A(p)->tx_stream = s;
  if (!A(p)->tx_inflight && !uv_is_active((uv_handle_t *)&A(p)->tx_prep))
    uv_prepare_start(&A(p)->tx_prep, on_prepare);
  return 0;
}

/* Frames t onto A(p)->tx. A frame that could not be built (out of memory) is
 * taken back whole: the frames queued before it stay, and the buffer's
 * sticky error is cleared, so the next frame is not refused for it. */
static int frame_onto_tx(ep_peer *p, int (*encode)(ep_buf *, ep_term), ep_term t) {
  size_t before = A(p)->tx.len;
  int rc = encode(&A(p)->tx, t);
  if (rc) {
    A(p)->tx.len = before;
    A(p)->tx.err = 0;
  }
  return rc;
}

static ep_arena *scratch(ep_peer *p) {
  if (!A(p)->tx_arena) A(p)->tx_arena = ep_arena_new(p->mem);
  return A(p)->tx_arena;
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
  if (!A(p)->sock_open || !p->connected) return EP_EPEERDOWN;
  int rc = frame_onto_tx(p, ep_alt_tcp_encode, t);
  if (A(p)->tx_arena) ep_arena_reset(A(p)->tx_arena);
  if (!rc) rc = flush(p, (uv_stream_t *)&A(p)->sock);
  return rc;
}

static void tcp_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  ep_peer *p = s->data;
  if (nread < 0) {
    ep__peer_on_conn_lost(p, EP_EPEERDOWN, nread == UV_EOF ? "tcp_closed" : "tcp_error");
    return;
  }
  if (nread == 0) return;
  if (ep_buf_append(&A(p)->rx, buf->base, (size_t)nread)) {
    ep__peer_on_conn_lost(p, EP_ENOMEM, "out_of_memory");
    return;
  }
  size_t pos = 0;
  while (A(p)->sock_open) {
    const uint8_t *pl;
    size_t n;
    int rc = ep_alt_tcp_decode(A(p)->rx.data, A(p)->rx.len, &pos, &pl, &n, 0);
    if (rc == EP_EINCOMPLETE) break;
    if (rc) {
      ep__peer_on_conn_lost(p, rc == EP_ETOOBIG ? EP_ETOOBIG : EP_EALTFRAME, "garbled_frame");
      return;
    }
    deliver(p, pl, n);
  }
  if (A(p)->rx.len) ep_buf_consume(&A(p)->rx, pos);
}

static void tcp_on_connection(uv_stream_t *server, int status) {
  ep_peer *p = server->data;
  if (status < 0 || p->connected || p->phase >= EP__PH_STOPPING) return;
  if (uv_tcp_init(p->loop, &A(p)->sock)) return;
  A(p)->sock.data = p;
  p->open_handles++;
  A(p)->sock_open = true;
  if (uv_accept(server, (uv_stream_t *)&A(p)->sock)) {
    A(p)->sock_open = false;
    uv_close((uv_handle_t *)&A(p)->sock, ep__peer_handle_closed);
    return;
  }
  uv_tcp_nodelay(&A(p)->sock, 1);
  p->connected = true;
  /* One peer, one connection: the reference closes the listener after the
   * accept, so nobody else can take the peer's place. */
  A(p)->listening = false;
  uv_close((uv_handle_t *)&A(p)->listener, ep__peer_handle_closed);
  uv_read_start((uv_stream_t *)&A(p)->sock, on_alloc, tcp_on_read);
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
  if ((rc = alt_state(p, true))) return rc;
  if ((rc = uv_tcp_init(p->loop, &A(p)->listener))) return ep_err_from_errno(rc);
  A(p)->listener.data = p;
  p->open_handles++;
  A(p)->listening = true;
  rc = uv_tcp_bind(&A(p)->listener, (struct sockaddr *)&ss, 0);
  if (!rc) rc = uv_listen((uv_stream_t *)&A(p)->listener, 4, tcp_on_connection);
  if (rc) return ep_err_from_errno(rc);
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  uv_tcp_getsockname(&A(p)->listener, (struct sockaddr *)&bound, &blen);
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
  if (!A(p)) return EP_EPEERDOWN;
  return A(p)->tcp ? tcp_send_term(p, t) : stdio_send_term(p, t);
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

/* The handles every alternative connection has. */
static void close_prep(ep_peer *p) {
  if (A(p)->prep_open) {
    A(p)->prep_open = false;
    uv_close((uv_handle_t *)&A(p)->tx_prep, ep__peer_handle_closed);
  }
}

static void tcp_close(ep_peer *p) {
  if (!A(p)) return;
  if (A(p)->listening) {
    A(p)->listening = false;
    uv_close((uv_handle_t *)&A(p)->listener, ep__peer_handle_closed);
  }
  if (A(p)->sock_open) {
    A(p)->sock_open = false;
    p->connected = false;
    uv_close((uv_handle_t *)&A(p)->sock, ep__peer_handle_closed);
  }
}

static int tcp_is_open(ep_peer *p) { return A(p) && A(p)->sock_open && p->connected; }

static int tcp_close_handles(ep_peer *p) {
  if (!A(p)) return 0;
  tcp_close(p);
  close_prep(p);
  return 0;
}

const ep__peer_conn_vt ep__peer_tcp_vt = {
    .name = "tcp",
    .prepare = tcp_prepare,
    .spawned = tcp_spawned,
    .call = alt_call,
    .cast = alt_cast,
    .send = alt_send,
    .io_reply = alt_io_reply,
    .close = tcp_close,
    .is_open = tcp_is_open,
    .close_handles = tcp_close_handles,
    .release = alt_release,
};

/* --- standard_io ------------------------------------------------------------------------ */

static int stdio_send_term(ep_peer *p, ep_term t) {
  if (!A(p)->in_open) return EP_EPEERDOWN;
  int rc = frame_onto_tx(p, ep_alt_stdio_encode, t);
  if (A(p)->tx_arena) ep_arena_reset(A(p)->tx_arena);
  if (!rc) rc = flush(p, (uv_stream_t *)&A(p)->in);
  return rc;
}

static void flush_text(ep_peer *p) {
  if (A(p)->text.len) {
    ep__peer_on_output(p, (const char *)A(p)->text.data, A(p)->text.len);
    A(p)->text.len = 0;
  }
}

static void stdio_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  ep_peer *p = s->data;
  if (nread < 0) {
    flush_text(p);
    p->out_eof = true;
    if (A(p)->out_open) {
      A(p)->out_open = false;
      uv_close((uv_handle_t *)&A(p)->out, ep__peer_handle_closed);
    }
    if (ep_alt_stdio_dec_partial(&A(p)->sdec))
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
    int rc = ep_alt_stdio_decode(&A(p)->sdec, in, end, &pos, &A(p)->text, &pl, &n);
    if (rc == 0) {
      flush_text(p); /* text before the frame comes first */
      deliver(p, pl, n);
      if (!A(p)->out_open) return;
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
  int rc = alt_state(p, false);
  if (rc) return rc;
  rc = uv_pipe_init(p->loop, &A(p)->in, 0);
  if (rc) return ep_err_from_errno(rc);
  A(p)->in.data = p;
  p->open_handles++;
  A(p)->in_open = true;
  rc = uv_pipe_init(p->loop, &A(p)->out, 0);
  if (rc) return ep_err_from_errno(rc);
  A(p)->out.data = p;
  p->open_handles++;
  A(p)->out_open = true;
  return 0;
}

/* The peer's stdin and stdout are the connection. */
static void stdio_stdio(ep_peer *p, uv_stdio_container_t *io) {
  io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
  io[0].data.stream = (uv_stream_t *)&A(p)->in;
  io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  io[1].data.stream = (uv_stream_t *)&A(p)->out;
}

static int stdio_spawned(ep_peer *p) {
  int rc = uv_read_start((uv_stream_t *)&A(p)->out, on_alloc, stdio_on_read);
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
  if (!A(p)) return;
  if (A(p)->in_open) {
    A(p)->in_open = false;
    uv_close((uv_handle_t *)&A(p)->in, ep__peer_handle_closed);
  }
}

static int stdio_is_open(ep_peer *p) { return A(p) && A(p)->in_open && p->connected; }

static int stdio_close_handles(ep_peer *p) {
  if (!A(p)) return 0;
  stdio_close(p);
  close_prep(p);
  if (A(p)->out_open) {
    A(p)->out_open = false;
    uv_close((uv_handle_t *)&A(p)->out, ep__peer_handle_closed);
  }
  return 0;
}

const ep__peer_conn_vt ep__peer_stdio_vt = {
    .name = "standard_io",
    .prepare = stdio_prepare,
    .spawned = stdio_spawned,
    .call = alt_call,
    .cast = alt_cast,
    .send = alt_send,
    .io_reply = alt_io_reply,
    .close = stdio_close,
    .is_open = stdio_is_open,
    .close_handles = stdio_close_handles,
    .stdio = stdio_stdio,
    .release = alt_release,
};

/* stderr of standard_io / attached TCP peers: exported for ep_peer.c */
void ep__peer_err_read_start(ep_peer *p, uv_pipe_t *pipe);
void ep__peer_err_read_start(ep_peer *p, uv_pipe_t *pipe) {
  uv_read_start((uv_stream_t *)pipe, on_alloc, err_on_read);
}
