/* ep_xport_tls.c - the TLS transport filter (inet_tls_dist): OpenSSL over
 * two memory BIOs, above any filter (TCP in practice). See ep_xport_int.h
 * for the verbs.
 *
 *   above  --plaintext-->  SSL_write  --wbio-->  out/fly  --write-->  below
 *   above  <--alloc/read-- SSL_read   <--rbio--  rbuf     <--read---  below
 *
 * connect/accept run the TLS handshake on the filter below, then report
 * connected. Ciphertext waiting for the filter below lives in two buffers:
 * `fly` is being written (its memory belongs to below until written),
 * `out` collects what comes next. try_write encrypts what it takes at once
 * (so borrowed memory may go right after it returns) and says how much; it
 * takes nothing while a write of the layer above is in progress or more
 * than TLS_OUT_MAX of ciphertext waits. write encrypts at most TLS_OUT_MAX
 * ahead of the filter below, from the caller's buffers (valid until
 * written), and reports written when the last of its ciphertext is out.
 *
 * States: HANDSHAKE --done--> UP; any --close--> CLOSING (close_notify
 * best-effort, then below closes; closed() when it has).
 */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "ep_error.h"
#include "ep_tls_int.h"

#define TLS_OUT_MAX (256u * 1024) /* ciphertext we run ahead of the filter below */
#define TLS_RBUF 65536            /* one read from below */
#define TLS_WSEGS 32

typedef enum { T_DIAL, T_HANDSHAKE, T_UP, T_CLOSING } tls_state;

typedef struct tls {
  ep__xport x;
  const ep_mem *mem;
  ep__tls_conf *conf;
  SSL *ssl;
  BIO *rbio, *wbio; /* network -> SSL, SSL -> network */
  bool server;
  tls_state state;
  bool reported;      /* connected() was called */
  bool reading;       /* the layer above called read_start */
  bool got_bytes;     /* anything arrived from below */
  bool below_writing; /* fly is being written */
  ep_buf out, fly;
  size_t fly_off;
  /* the layer above's write in progress */
  bool up_writing;
  uv_buf_t w[TLS_WSEGS];
  unsigned wn, wi;
  size_t woff;
  int below_err; /* a failed below write, reported with the above write */
  uint8_t rbuf[TLS_RBUF];
  char why[600];
} tls;

static const ep__xport_up below_up;

/* --- errors ------------------------------------------------------------------- */

/* One line: what failed and OpenSSL's reason for it. */
static int tls_fail_reason(tls *t, const char *what) {
  char peer[80];
  ep__xport_peer(t->x.below, peer, sizeof peer);
  long vr = SSL_get_verify_result(t->ssl);
  unsigned long e = ERR_peek_last_error();
  char reason[200] = "";
  if (e) {
    const char *rs = ERR_reason_error_string(e);
    if (rs) snprintf(reason, sizeof reason, "%s", rs);
    else ERR_error_string_n(e, reason, sizeof reason);
  }
  ERR_clear_error();
  int err = EP_ETLS;
  if (vr != X509_V_OK) {
    snprintf(t->why, sizeof t->why, "TLS %s with %s: the %s's certificate was rejected: %s", what, peer,
             t->server ? "client" : "node", X509_verify_cert_error_string(vr));
  } else if (strstr(reason, "alert")) {
    const char *hint = "";
    if (strstr(reason, "unknown ca") || strstr(reason, "bad certificate"))
      hint = " (it does not trust our certificate's CA)";
    else if (strstr(reason, "certificate required") || (!t->server && strstr(reason, "handshake failure")))
      hint = " (it may require a client certificate: certfile in the client section)";
    else if (strstr(reason, "certificate expired")) hint = " (our certificate has expired)";
    snprintf(t->why, sizeof t->why, "TLS %s with %s: the %s refused it: %s%s", what, peer,
             t->server ? "client" : "node", reason, hint);
  } else if (t->server && strstr(reason, "peer did not return a certificate")) {
    snprintf(t->why, sizeof t->why, "TLS %s with %s: the client sent no certificate (fail_if_no_peer_cert): %s",
             what, peer, reason);
  } else if (strstr(reason, "wrong version number") || strstr(reason, "packet length too long") ||
             strstr(reason, "record layer failure") || strstr(reason, "http request")) {
    err = EP_ENOTTLS;
    snprintf(t->why, sizeof t->why, "TLS %s with %s: the other side does not speak TLS (%s): plain distribution?",
             what, peer, reason);
  } else {
    snprintf(t->why, sizeof t->why, "TLS %s with %s failed: %s", what, peer, reason[0] ? reason : "unknown reason");
  }
  t->x.why = t->why;
  return err;
}

/* --- ciphertext out ---------------------------------------------------------- */

static int drain_wbio(tls *t) {
  size_t p = BIO_ctrl_pending(t->wbio);
  if (!p) return 0;
  if (ep_buf_reserve(&t->out, p)) return EP_ENOMEM;
  int n = BIO_read(t->wbio, t->out.data + t->out.len, (int)p);
  if (n > 0) t->out.len += (size_t)n;
  return 0;
}

static size_t pending_out(const tls *t) { return t->out.len + (t->fly.len - t->fly_off); }

static void up_write_step(tls *t);

/* Starts writing `out` below unless a write is in flight. */
static int kick_below(tls *t) {
  if (t->below_writing || t->out.len == 0 || t->state == T_CLOSING) return 0;
  ep_buf tmp = t->fly;
  t->fly = t->out;
  t->out = tmp;
  t->out.len = 0;
  t->fly_off = 0;
  uv_buf_t b = uv_buf_init((char *)t->fly.data, (unsigned)t->fly.len);
  int r = ep__xport_write(t->x.below, &b, 1);
  if (r) return r;
  t->below_writing = true;
  return 0;
}

static void fail_up(tls *t, int err);

static void on_below_written(void *ud, int status) {
  tls *t = ud;
  t->below_writing = false;
  t->fly.len = 0;
  t->fly_off = 0;
  if (status < 0) {
    t->below_err = status;
    if (t->up_writing) {
      t->up_writing = false;
      t->x.up->written(t->x.up_ud, status);
    } else if (t->state != T_CLOSING) {
      fail_up(t, status);
    }
    return;
  }
  if (t->state == T_CLOSING) return;
  if (t->up_writing) up_write_step(t);
  else if (kick_below(t) < 0) fail_up(t, EP_EIO);
}

/* Encrypts up to n plaintext bytes of bufs; returns how many (or an error). */
static ssize_t encrypt(tls *t, const uv_buf_t *bufs, unsigned n, size_t limit) {
  size_t took = 0;
  for (unsigned i = 0; i < n && took < limit; i++) {
    size_t off = 0;
    while (off < bufs[i].len && took < limit) {
      size_t want = bufs[i].len - off;
      if (want > limit - took) want = limit - took;
      size_t done = 0;
      if (SSL_write_ex(t->ssl, bufs[i].base + off, want, &done) != 1 || done == 0) {
        ERR_clear_error();
        return EP_EIO;
      }
      off += done;
      took += done;
      if (drain_wbio(t)) return EP_ENOMEM;
    }
  }
  return (ssize_t)took;
}

static int tls_try_write(ep__xport *x, const uv_buf_t *bufs, unsigned n) {
  tls *t = (tls *)x;
  if (t->state != T_UP) return t->state == T_CLOSING ? EP_ECLOSED : EP_ENOTCONN;
  if (t->below_err) return t->below_err;
  if (t->up_writing || pending_out(t) >= TLS_OUT_MAX) return 0;
  ssize_t took = encrypt(t, bufs, n, TLS_OUT_MAX);
  if (took < 0) return (int)took;
  /* the ciphertext: straight to the filter below if it is idle, the rest
   * (and anything it would not take) by a write of our own */
  if (!t->below_writing && t->out.len) {
    uv_buf_t b = uv_buf_init((char *)t->out.data, (unsigned)t->out.len);
    int w = ep__xport_try_write(t->x.below, &b, 1);
    if (w < 0) return w;
    ep_buf_consume(&t->out, (size_t)w);
    int r = kick_below(t);
    if (r) return r;
  }
  return took > INT32_MAX ? INT32_MAX : (int)took;
}

/* Encrypts more of the above write as the filter below drains; written()
 * once all of it is out. */
static void up_write_step(tls *t) {
  while (t->wi < t->wn && pending_out(t) < TLS_OUT_MAX) {
    uv_buf_t b = uv_buf_init(t->w[t->wi].base + t->woff, (unsigned)(t->w[t->wi].len - t->woff));
    ssize_t took = encrypt(t, &b, 1, TLS_OUT_MAX - pending_out(t));
    if (took < 0) {
      t->up_writing = false;
      t->x.up->written(t->x.up_ud, (int)took);
      return;
    }
    t->woff += (size_t)took;
    if (t->woff == t->w[t->wi].len) t->wi++, t->woff = 0;
  }
  if (t->wi == t->wn && pending_out(t) == 0) {
    t->up_writing = false;
    t->x.up->written(t->x.up_ud, 0);
    return;
  }
  int r = kick_below(t);
  if (r) {
    t->up_writing = false;
    t->x.up->written(t->x.up_ud, r);
  }
}

static int tls_write(ep__xport *x, const uv_buf_t *bufs, unsigned n) {
  tls *t = (tls *)x;
  if (t->state != T_UP) return t->state == T_CLOSING ? EP_ECLOSED : EP_ENOTCONN;
  if (t->up_writing || n > TLS_WSEGS) return EP_EINVAL;
  if (t->below_err) return t->below_err;
  memcpy(t->w, bufs, n * sizeof *bufs);
  t->wn = n;
  t->wi = 0;
  t->woff = 0;
  while (t->wi < t->wn && t->w[t->wi].len == 0) t->wi++;
  t->up_writing = true;
  /* Encrypt ahead now; written() always comes from the loop: there is at
   * least the below write in flight, or we start one. */
  while (t->wi < t->wn && pending_out(t) < TLS_OUT_MAX) {
    uv_buf_t b = uv_buf_init(t->w[t->wi].base + t->woff, (unsigned)(t->w[t->wi].len - t->woff));
    ssize_t took = encrypt(t, &b, 1, TLS_OUT_MAX - pending_out(t));
    if (took < 0) {
      t->up_writing = false;
      return (int)took;
    }
    t->woff += (size_t)took;
    if (t->woff == t->w[t->wi].len) t->wi++, t->woff = 0;
  }
  int r = kick_below(t);
  if (r) {
    t->up_writing = false;
    return r;
  }
  if (!t->below_writing) {
    /* nothing to write at all (empty buffers): still report from the loop
     * through a below write of nothing is not possible; treat as done */
    t->up_writing = false;
    return EP_EINVAL;
  }
  return 0;
}

/* --- handshake and plaintext in ---------------------------------------------- */

static void fail_up(tls *t, int err) {
  if (!t->reported) {
    t->reported = true;
    t->x.up->connected(t->x.up_ud, err);
  } else if (t->reading) {
    t->x.up->read(t->x.up_ud, err);
  }
}

static void deliver(tls *t);

static void handshake_step(tls *t) {
  ERR_clear_error(); /* the queue is per thread: only this handshake's reasons */
  int r = SSL_do_handshake(t->ssl);
  int dr = drain_wbio(t);
  int kr = dr ? dr : kick_below(t);
  if (r == 1) {
    if (kr) {
      fail_up(t, kr);
      return;
    }
    t->state = T_UP;
    t->reported = true;
    t->x.up->connected(t->x.up_ud, 0); /* may close us */
    return;
  }
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ && !kr) return;
  int err = kr ? kr : tls_fail_reason(t, "handshake");
  /* the alert we queued (if any) is on its way: fail now */
  fail_up(t, err);
}

static void deliver(tls *t) {
  while (t->state == T_UP && t->reading) {
    uv_buf_t b = uv_buf_init(NULL, 0);
    t->x.up->alloc(t->x.up_ud, TLS_RBUF, &b);
    if (!b.base || b.len == 0) {
      t->x.up->read(t->x.up_ud, EP_ENOMEM);
      return;
    }
    size_t got = 0;
    ERR_clear_error();
    int r = SSL_read_ex(t->ssl, b.base, b.len, &got);
    /* post-handshake messages (TLS 1.3 tickets, key updates) may queue output */
    if (drain_wbio(t) == 0) (void)kick_below(t);
    if (r == 1) {
      t->x.up->read(t->x.up_ud, (ssize_t)got);
      continue;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return;
    if (e == SSL_ERROR_ZERO_RETURN) {
      t->x.up->read(t->x.up_ud, EP_EEOF);
      return;
    }
    int err = tls_fail_reason(t, "read");
    t->x.up->read(t->x.up_ud, err);
    return;
  }
}

static void on_below_alloc(void *ud, size_t suggested, uv_buf_t *buf) {
  tls *t = ud;
  (void)suggested;
  *buf = uv_buf_init((char *)t->rbuf, sizeof t->rbuf);
}

static void on_below_read(void *ud, ssize_t n) {
  tls *t = ud;
  if (t->state == T_CLOSING) return;
  if (n < 0) {
    if (t->state == T_UP) {
      /* what SSL still holds first, then the end */
      deliver(t);
      if (t->state == T_UP && t->reading) t->x.up->read(t->x.up_ud, n);
      return;
    }
    if (n == EP_EEOF || n == EP_ECONNRESET) {
      char peer[80];
      ep__xport_peer(t->x.below, peer, sizeof peer);
      snprintf(t->why, sizeof t->why,
               t->got_bytes ? "TLS handshake with %s: the other side closed the connection"
                            : "TLS handshake with %s: the other side closed the connection without a word: it may "
                              "not use TLS distribution, or refused us",
               peer);
      t->x.why = t->why;
      fail_up(t, t->got_bytes ? EP_ETLS : EP_ENOTTLS);
      return;
    }
    fail_up(t, (int)n);
    return;
  }
  if (!t->got_bytes) t->x.why = NULL;
  t->got_bytes = true;
  if (BIO_write(t->rbio, t->rbuf, (int)n) != (int)n) {
    fail_up(t, EP_ENOMEM);
    return;
  }
  if (t->state == T_HANDSHAKE) {
    handshake_step(t);
    /* the peer's first application bytes may have come with its Finished */
    if (t->state == T_UP && t->reading) deliver(t);
    return;
  }
  if (t->state == T_UP) deliver(t);
}

static void start_handshake(tls *t) {
  t->state = T_HANDSHAKE;
  if (!t->server) {
    /* what a timeout will mean, unless something comes back */
    char peer[80];
    ep__xport_peer(t->x.below, peer, sizeof peer);
    snprintf(t->why, sizeof t->why,
             "TLS handshake with %s: no answer: the node may not use TLS distribution (plain -proto_dist inet_tcp)",
             peer);
    t->x.why = t->why;
  }
  int r = ep__xport_read_start(t->x.below);
  if (r) {
    fail_up(t, r);
    return;
  }
  handshake_step(t); /* a client's ClientHello goes now */
}

static void on_below_connected(void *ud, int status) {
  tls *t = ud;
  if (t->state == T_CLOSING) {
    if (!t->reported) {
      t->reported = true;
      t->x.up->connected(t->x.up_ud, status < 0 ? status : EP_ECANCELED);
    }
    return;
  }
  if (status < 0) {
    fail_up(t, status);
    return;
  }
  start_handshake(t);
}

static void on_below_closed(void *ud) {
  tls *t = ud;
  const ep__xport_up *up = t->x.up;
  void *uud = t->x.up_ud;
  if (!t->reported && up && up->connected) {
    t->reported = true;
    up->connected(uud, EP_ECANCELED);
  }
  if (t->up_writing && up && up->written) {
    t->up_writing = false;
    up->written(uud, EP_ECANCELED);
  }
  SSL_free(t->ssl); /* frees both BIOs */
  ep__tls_conf_unref(t->conf);
  ep_buf_free(&t->out);
  ep_buf_free(&t->fly);
  ep_free(t->mem, t);
  if (up && up->closed) up->closed(uud);
}

static const ep__xport_up below_up = {on_below_connected, on_below_alloc, on_below_read, on_below_written,
                                      on_below_closed};

/* --- verbs ------------------------------------------------------------------------ */

static int tls_connect(ep__xport *x, const struct sockaddr *addr) {
  tls *t = (tls *)x;
  return ep__xport_connect(t->x.below, addr);
}

static int tls_accept(ep__xport *x, uv_stream_t *server) {
  tls *t = (tls *)x;
  /* TCP reports connected from inside its accept: our handler starts the
   * TLS handshake, and connected goes up once that is done. */
  return ep__xport_accept(t->x.below, server);
}

static int tls_read_start(ep__xport *x) {
  tls *t = (tls *)x;
  if (t->state != T_UP) return t->state == T_CLOSING ? EP_ECLOSED : EP_ENOTCONN;
  t->reading = true;
  /* bytes that came with the handshake's last flight */
  if (SSL_pending(t->ssl) || BIO_ctrl_pending(t->rbio)) deliver(t);
  return 0;
}

static void tls_close(ep__xport *x) {
  tls *t = (tls *)x;
  if (t->state == T_CLOSING) return;
  bool up = t->state == T_UP;
  t->state = T_CLOSING;
  if (up && !t->below_writing) {
    /* close_notify, best-effort: only if the filter below takes it now */
    SSL_shutdown(t->ssl);
    ERR_clear_error();
    t->out.len = 0;
    if (drain_wbio(t) == 0 && t->out.len) {
      uv_buf_t b = uv_buf_init((char *)t->out.data, (unsigned)t->out.len);
      (void)ep__xport_try_write(t->x.below, &b, 1);
    }
  }
  ep__xport_close(t->x.below);
}

static void tls_peer(ep__xport *x, char *out, size_t cap) { ep__xport_peer(((tls *)x)->x.below, out, cap); }

static const ep__xport_ops tls_ops = {"tls",     tls_connect, tls_accept, tls_read_start, tls_try_write,
                                      tls_write, tls_close,   tls_peer};

static bool is_ip(const char *h) {
  unsigned char b[16];
  return inet_pton(AF_INET, h, b) == 1 || inet_pton(AF_INET6, h, b) == 1;
}

int ep__xport_tls_new(ep__tls_conf *conf, bool server, const char *host, ep__xport *below, const ep_mem *mem,
                      ep__xport **out) {
  SSL_CTX *ctx = server ? conf->server : conf->client;
  if (!ctx) return EP_EINVAL;
  tls *t = ep_malloc(mem, sizeof *t);
  if (!t) return EP_ENOMEM;
  memset(t, 0, sizeof *t);
  t->mem = mem;
  t->server = server;
  t->x.ops = &tls_ops;
  t->x.below = below;
  ep_buf_init(&t->out, mem);
  ep_buf_init(&t->fly, mem);
  t->ssl = SSL_new(ctx);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->rbio || !t->wbio) {
    SSL_free(t->ssl);
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    ep_free(mem, t);
    ERR_clear_error();
    return EP_ENOMEM;
  }
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  SSL_set_mode(t->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (server) {
    SSL_set_accept_state(t->ssl);
  } else {
    SSL_set_connect_state(t->ssl);
    const char *name = conf->sni ? conf->sni : host;
    /* OTP's client sends the node's host as SNI (server_name_indication,
     * not for an address) and, verifying, checks the certificate against it. */
    if (name && !conf->sni_disable && !is_ip(name)) SSL_set_tlsext_host_name(t->ssl, name);
    if (name && conf->client_verify && !conf->sni_disable) {
      SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (is_ip(name)) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name);
      else SSL_set1_host(t->ssl, name);
    }
  }
  t->conf = ep__tls_conf_ref(conf);
  t->state = T_DIAL;
  ep__xport_set_up(below, &below_up, t);
  *out = &t->x;
  return 0;
}
