/* ep_tls_conf.c - a node's TLS distribution configuration: OTP's
 * -ssl_dist_optfile (read by dist/ep_tlsopt.c) turned into two OpenSSL
 * contexts, one for connections we accept and one for those we dial. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ep_error.h"
#include "ep_log.h"
#include "ep_tls_int.h"
#include "ep_tlsopt.h"

#define EP__OPTFILE_MAX (1u << 20) /* an options file is a few hundred bytes */

static int say(char *why, size_t cap, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int say(char *why, size_t cap, int err, const char *fmt, ...) {
  if (why && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
  }
  return err;
}

/* OpenSSL's reason for the last failure, for one line. */
static const char *ossl_reason(char *buf, size_t cap) {
  unsigned long e = ERR_peek_last_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  if (r) snprintf(buf, cap, "%s", r);
  else if (e) ERR_error_string_n(e, buf, cap);
  else snprintf(buf, cap, "unknown reason");
  ERR_clear_error();
  return buf;
}

/* A private key others can read is a key others have: say so (OTP does not
 * check, ssh does). Once per file and start. */
static void check_key_mode(const char *side, const char *keyfile) {
  struct stat st;
  if (stat(keyfile, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH)))
    ep_log("warning: %s keyfile %s is readable by others (mode %03o): chmod 600 it", side, keyfile,
           (unsigned)(st.st_mode & 0777));
}

/* The password of an encrypted key, from the options only: OpenSSL's
 * default would prompt on the terminal, which a node must never do. */
static int password_cb(char *buf, int size, int rwflag, void *ud) {
  (void)rwflag;
  const char *pw = ud;
  if (!pw || size <= 0) return 0;
  size_t n = strlen(pw);
  if (n > (size_t)size) n = (size_t)size;
  memcpy(buf, pw, n);
  return (int)n;
}

/* Whether a PEM file holds an encrypted key (its header says so). */
static bool pem_encrypted(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return false;
  char line[256];
  bool enc = false;
  for (int i = 0; i < 64 && !enc && fgets(line, sizeof line, f); i++) enc = strstr(line, "ENCRYPTED") != NULL;
  fclose(f);
  return enc;
}

static SSL_CTX *make_ctx(const ep_tls_side *s, bool server, bool *verify_out, char *why, size_t cap) {
  const char *side = server ? "server" : "client";
  char rs[200];
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!ctx) {
    say(why, cap, EP_ENOMEM, "out of memory");
    return NULL;
  }
  /* inet_tls_dist forces ['tlsv1.2'] when versions are not given */
  unsigned v = s->versions ? s->versions : EP_TLS_V12;
  SSL_CTX_set_min_proto_version(ctx, (v & EP_TLS_V12) ? TLS1_2_VERSION : TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, (v & EP_TLS_V13) ? TLS1_3_VERSION : TLS1_2_VERSION);
  /* Distribution never renegotiates; secure_renegotiate false lets a client
   * reach servers without RFC 5746, as OTP's option does. */
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | (s->secure_renegotiate == 0 ? SSL_OP_LEGACY_SERVER_CONNECT : 0));
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (s->ciphers && SSL_CTX_set_cipher_list(ctx, s->ciphers) != 1) {
    say(why, cap, EP_ETLSOPT, "%s option ciphers \"%s\": %s", side, s->ciphers, ossl_reason(rs, sizeof rs));
    goto fail;
  }
  if (s->ciphersuites && SSL_CTX_set_ciphersuites(ctx, s->ciphersuites) != 1) {
    say(why, cap, EP_ETLSOPT, "%s option ciphers \"%s\": %s", side, s->ciphersuites, ossl_reason(rs, sizeof rs));
    goto fail;
  }
  if (s->certfile) {
    if (SSL_CTX_use_certificate_chain_file(ctx, s->certfile) != 1) {
      say(why, cap, EP_ETLSOPT, "%s certfile %s: %s", side, s->certfile, ossl_reason(rs, sizeof rs));
      goto fail;
    }
    /* OTP: the key may sit in the certfile, keyfile then left out */
    const char *kf = s->keyfile ? s->keyfile : s->certfile;
    SSL_CTX_set_default_passwd_cb(ctx, password_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)s->password);
    int ok = SSL_CTX_use_PrivateKey_file(ctx, kf, SSL_FILETYPE_PEM);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    if (ok != 1) {
      ossl_reason(rs, sizeof rs);
      if (strstr(rs, "mismatch"))
        say(why, cap, EP_ETLSOPT, "%s keyfile %s does not match certfile %s: %s", side, kf, s->certfile, rs);
      else
        say(why, cap, EP_ETLSOPT, "%s keyfile %s: %s%s", side, kf, rs,
            !s->password && pem_encrypted(kf) ? " (an encrypted key: it needs password)"
            : s->password && pem_encrypted(kf) ? " (wrong password?)" : "");
      goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      say(why, cap, EP_ETLSOPT, "%s keyfile %s does not match certfile %s: %s", side, kf, s->certfile,
          ossl_reason(rs, sizeof rs));
      goto fail;
    }
    check_key_mode(side, kf);
  } else if (s->keyfile) {
    say(why, cap, EP_ETLSOPT, "%s option keyfile without certfile", side);
    goto fail;
  }
  if (s->cacertfile) {
    if (SSL_CTX_load_verify_locations(ctx, s->cacertfile, NULL) != 1) {
      say(why, cap, EP_ETLSOPT, "%s cacertfile %s: %s", side, s->cacertfile, ossl_reason(rs, sizeof rs));
      goto fail;
    }
    if (server) {
      STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(s->cacertfile);
      if (names) SSL_CTX_set_client_CA_list(ctx, names);
      ERR_clear_error();
    }
  }
  /* verify: a server verifies only when told (OTP's default verify_none);
   * a client when told, or by default when it was given a CA to verify
   * against (OTP 26+ verifies by default, and needs one). */
  bool verify = s->verify == 1 || (!server && s->verify == -1 && s->cacertfile);
  int mode = SSL_VERIFY_NONE;
  if (verify) {
    mode = SSL_VERIFY_PEER;
    if (server && s->fail_if_no_peer_cert == 1) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    if (!s->cacertfile) SSL_CTX_set_default_verify_paths(ctx);
  }
  SSL_CTX_set_verify(ctx, mode, NULL);
  if (s->depth >= 0) SSL_CTX_set_verify_depth(ctx, s->depth);
  *verify_out = verify;
  return ctx;
fail:
  SSL_CTX_free(ctx);
  return NULL;
}

static int conf_from_opts(const ep_tlsopt *o, ep__tls_conf **out, char *why, size_t cap) {
  ep__tls_conf *c = calloc(1, sizeof *c);
  if (!c) return say(why, cap, EP_ENOMEM, "out of memory");
  c->refs = 1;
  bool sv = false, cv = false;
  int r = 0;
  /* Without a certificate we cannot serve TLS: such a node dials only. */
  if (o->server.certfile && !(c->server = make_ctx(&o->server, true, &sv, why, cap))) r = EP_ETLSOPT;
  if (!r && !(c->client = make_ctx(&o->client, false, &cv, why, cap))) r = EP_ETLSOPT;
  c->client_verify = cv;
  c->sni_disable = o->client.sni_disable == 1;
  if (!r && o->client.sni && !(c->sni = strdup(o->client.sni))) r = say(why, cap, EP_ENOMEM, "out of memory");
  if (r) {
    ep__tls_conf_unref(c);
    return r;
  }
  *out = c;
  return 0;
}

int ep__tls_conf_from_optfile(const char *path, ep__tls_conf **out, char *why, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return say(why, cap, e == ENOENT ? EP_ENOENT : e == EACCES ? EP_EPERM : EP_ESYS, "ssl_dist_optfile %s: %s", path,
               strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)EP__OPTFILE_MAX) {
    close(fd);
    return say(why, cap, EP_ETLSOPT, "ssl_dist_optfile %s: not a regular file of at most 1 MiB", path);
  }
  size_t n = (size_t)st.st_size, got = 0;
  char *text = malloc(n + 1);
  if (!text) {
    close(fd);
    return say(why, cap, EP_ENOMEM, "out of memory");
  }
  while (got < n) {
    ssize_t k = read(fd, text + got, n - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += (size_t)k;
  }
  close(fd);
  ep_tlsopt o;
  char w[256];
  int r = ep_tlsopt_parse(NULL, text, got, &o, w, sizeof w);
  free(text);
  if (r) return say(why, cap, r == EP_ENOMEM ? r : EP_ETLSOPT, "ssl_dist_optfile %s: %s", path, w);
  char w2[400];
  r = conf_from_opts(&o, out, w2, sizeof w2);
  ep_tlsopt_free(&o);
  if (r) return say(why, cap, r, "ssl_dist_optfile %s: %s", path, w2);
  return 0;
}

int ep__tls_conf_from_files(const char *certfile, const char *keyfile, const char *cacertfile, ep__tls_conf **out,
                            char *why, size_t cap) {
  ep_tlsopt o;
  memset(&o, 0, sizeof o);
  ep_tls_side *sides[2] = {&o.server, &o.client};
  for (int i = 0; i < 2; i++) {
    ep_tls_side *s = sides[i];
    s->present = true;
    s->certfile = certfile;
    s->keyfile = keyfile;
    s->cacertfile = cacertfile;
    s->verify = 1;
    s->fail_if_no_peer_cert = i == 0 ? 1 : -1;
    s->depth = -1;
    s->secure_renegotiate = -1;
  }
  return conf_from_opts(&o, out, why, cap);
}

ep__tls_conf *ep__tls_conf_ref(ep__tls_conf *c) {
  if (c) __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
  return c;
}

void ep__tls_conf_unref(ep__tls_conf *c) {
  /* options and the nodes made from them may live on different threads */
  if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
  SSL_CTX_free(c->server);
  SSL_CTX_free(c->client);
  free(c->sni);
  free(c);
}
