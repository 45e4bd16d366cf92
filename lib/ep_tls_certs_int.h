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

/* A private 0700 folder in $TMPDIR with a new CA (ca.pem); the folder's
 * path into dir, the CA (for ep__tls_throwaway_node) into *ca. */
int ep__tls_throwaway_new(char *dir, size_t cap, ep__tls_ca **ca);
/* One node of the set: a certificate of its own from ca for cn (the names
 * of this host: host, fqdn, localhost, 127.0.0.1, ::1) in dir/STEM.pem, its
 * key in dir/STEM.key, and an OTP -ssl_dist_optfile for mutual TLS that
 * uses them (verify_peer both ways, fail_if_no_peer_cert) in
 * dir/STEM.conf, whose path goes to optfile. */
int ep__tls_throwaway_node(const ep__tls_ca *ca, const char *dir, const char *host, const char *fqdn,
                           const char *stem, const char *cn, char *optfile, size_t cap);
/* Removes the folder and what is in it. */
int ep__tls_throwaway_remove(const char *dir);

#endif
