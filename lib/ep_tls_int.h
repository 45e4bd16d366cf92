/* ep_tls_int.h - TLS distribution (inet_tls_dist): the configuration a
 * node holds (two OpenSSL contexts, made from OTP's -ssl_dist_optfile or
 * from explicit files) and the transport filter that runs TLS over the
 * filter below it (lib/ep_xport_tls.c). Internal, not installed. */
#ifndef EP_TLS_INT_H
#define EP_TLS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "ep_mem.h"
#include "ep_xport_int.h"

#include <openssl/ssl.h>

/* Shared by the options and every node started from them (counted). */
typedef struct ep__tls_conf {
  int refs;
  SSL_CTX *server, *client;
  bool client_verify; /* the client verifies the peer: check its host name too */
  bool sni_disable;   /* {server_name_indication, disable} */
  char *sni;          /* {server_name_indication, Host}: instead of the node's host */
} ep__tls_conf;

/* Reads an -ssl_dist_optfile and builds both sides' contexts (certificates
 * and keys are loaded now, so a bad file is an error here, not at the
 * first connection). A key file others can read gets a warning (ep_log).
 * Returns 0, EP_ETLSOPT (why says which option or file and OpenSSL's
 * reason), EP_ENOENT / EP_EPERM (the file itself), EP_ENOMEM. */
int ep__tls_conf_from_optfile(const char *path, ep__tls_conf **out, char *why, size_t cap);

/* Mutual TLS from three PEM files (both sides: this certificate and key,
 * peers verified against cacertfile, a client certificate required). */
int ep__tls_conf_from_files(const char *certfile, const char *keyfile, const char *cacertfile, ep__tls_conf **out,
                            char *why, size_t cap);

ep__tls_conf *ep__tls_conf_ref(ep__tls_conf *c);
void ep__tls_conf_unref(ep__tls_conf *c);

/* A TLS filter above below (which it takes: closing it closes below).
 * host: a client's peer host, for SNI and, with verify_peer, the name its
 * certificate must carry (as OTP's client checks server_name_indication);
 * NULL for an accepted connection. */
int ep__xport_tls_new(ep__tls_conf *conf, bool server, const char *host, ep__xport *below, const ep_mem *mem,
                      ep__xport **out);

#endif
