/* ep_tls_certs_int.h - throwaway certificates (lib/ep_tls_certs.c): a CA
 * made on the spot and certificates from it. Internal, not installed; the
 * tests use it to make certificates that fail in given ways. */
#ifndef EP_TLS_CERTS_INT_H
#define EP_TLS_CERTS_INT_H

#include <stddef.h>

typedef struct ep__tls_ca ep__tls_ca;

/* A self-signed CA (P-256), valid from an hour ago for two days. */
int ep__tls_ca_new(const char *cn, ep__tls_ca **out);
void ep__tls_ca_free(ep__tls_ca *ca);
int ep__tls_ca_write(const ep__tls_ca *ca, const char *certpath);
/* A certificate for cn signed by ca, valid from now + from_s to now +
 * until_s (seconds, negative for the past: an expired one), with san an
 * OpenSSL subjectAltName value ("DNS:host,IP:127.0.0.1") or NULL; the key
 * goes to keypath with mode 0600. Returns 0, EP_ENOMEM, EP_EIO, EP_EPERM. */
int ep__tls_ca_issue(const ep__tls_ca *ca, const char *cn, const char *san, long from_s, long until_s,
                     const char *certpath, const char *keypath);

/* A private 0700 folder in $TMPDIR with a new CA (ca.pem), one certificate
 * and key for this host (node.pem, node.key: every local node of the set
 * uses them) and an OTP -ssl_dist_optfile for mutual TLS (ssl_dist.conf);
 * the folder's path into dir. */
int ep__tls_throwaway_new(const char *host, const char *fqdn, char *dir, size_t cap);
/* Removes the folder and what is in it. */
int ep__tls_throwaway_remove(const char *dir);

#endif
