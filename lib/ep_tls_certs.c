/* ep_tls_certs.c - throwaway certificates for TLS distribution without
 * setup (erlpeer peer --tls): a CA made on the spot, a certificate from it
 * for the controller and for each peer, P-256 keys, in a private 0700
 * folder removed when the peers stop. Also what the tests use to make
 * certificates that fail in given ways (another CA, expired). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ep_error.h"
#include "ep_tls_certs_int.h"

struct ep__tls_ca {
  EVP_PKEY *key;
  X509 *cert;
};

static EVP_PKEY *new_key(void) { return EVP_EC_gen("P-256"); }

static int set_serial(X509 *x) {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) return -1;
  b[0] &= 0x7f;
  BIGNUM *bn = BN_bin2bn(b, sizeof b, NULL);
  int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
  BN_free(bn);
  return ok ? 0 : -1;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (!ex) return -1;
  int ok = X509_add_ext(cert, ex, -1);
  X509_EXTENSION_free(ex);
  return ok ? 0 : -1;
}

static X509 *new_cert(EVP_PKEY *key, const char *cn, long from_s, long until_s) {
  X509 *x = X509_new();
  if (!x) return NULL;
  X509_NAME *name = X509_get_subject_name(x);
  if (X509_set_version(x, 2) != 1 || set_serial(x) ||
      !X509_gmtime_adj(X509_getm_notBefore(x), from_s) || !X509_gmtime_adj(X509_getm_notAfter(x), until_s) ||
      X509_set_pubkey(x, key) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) != 1) {
    X509_free(x);
    return NULL;
  }
  return x;
}

int ep__tls_ca_new(const char *cn, ep__tls_ca **out) {
  ep__tls_ca *ca = calloc(1, sizeof *ca);
  if (!ca) return EP_ENOMEM;
  ca->key = new_key();
  ca->cert = ca->key ? new_cert(ca->key, cn, -3600, 86400L * 2) : NULL;
  if (!ca->cert || X509_set_issuer_name(ca->cert, X509_get_subject_name(ca->cert)) != 1 ||
      add_ext(ca->cert, ca->cert, NID_basic_constraints, "critical,CA:TRUE") ||
      add_ext(ca->cert, ca->cert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
      add_ext(ca->cert, ca->cert, NID_subject_key_identifier, "hash") ||
      X509_sign(ca->cert, ca->key, EVP_sha256()) == 0) {
    ep__tls_ca_free(ca);
    ERR_clear_error();
    return EP_ENOMEM;
  }
  *out = ca;
  return 0;
}

void ep__tls_ca_free(ep__tls_ca *ca) {
  if (!ca) return;
  X509_free(ca->cert);
  EVP_PKEY_free(ca->key);
  free(ca);
}

static int write_pem(const char *path, int mode, X509 *cert, EVP_PKEY *key) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return errno == EACCES ? EP_EPERM : errno == ENOENT ? EP_ENOENT : EP_ESYS;
  FILE *f = fdopen(fd, "w");
  if (!f) {
    close(fd);
    return EP_ENOMEM;
  }
  int ok = cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
  if (fclose(f) != 0) ok = 0;
  ERR_clear_error();
  return ok ? 0 : EP_EIO;
}

int ep__tls_ca_write(const ep__tls_ca *ca, const char *certpath) { return write_pem(certpath, 0644, ca->cert, NULL); }

int ep__tls_ca_issue(const ep__tls_ca *ca, const char *cn, const char *san, long from_s, long until_s,
                     const char *certpath, const char *keypath) {
  EVP_PKEY *key = new_key();
  X509 *x = key ? new_cert(key, cn, from_s, until_s) : NULL;
  int r = EP_ENOMEM;
  if (x && X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) == 1 &&
      !add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE") &&
      !add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature,keyAgreement") &&
      !add_ext(x, ca->cert, NID_ext_key_usage, "serverAuth,clientAuth") &&
      !add_ext(x, ca->cert, NID_authority_key_identifier, "keyid:always") &&
      (!san || !add_ext(x, ca->cert, NID_subject_alt_name, san)) && X509_sign(x, ca->key, EVP_sha256()) != 0) {
    r = write_pem(certpath, 0644, x, NULL);
    if (!r) r = write_pem(keypath, 0600, NULL, key);
  }
  ERR_clear_error();
  X509_free(x);
  EVP_PKEY_free(key);
  return r;
}

/* --- the throwaway folder ------------------------------------------------------ */

int ep__tls_throwaway_new(char *dir, size_t cap, ep__tls_ca **out) {
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp) tmp = "/tmp";
  if (snprintf(dir, cap, "%s/erlpeer-tls.XXXXXX", tmp) >= (int)cap) return EP_EINVAL;
  if (!mkdtemp(dir)) return EP_ESYS; /* mkdtemp makes it 0700 */
  ep__tls_ca *ca;
  int r = ep__tls_ca_new("erlpeer throwaway CA", &ca);
  if (r) {
    rmdir(dir);
    return r;
  }
  char p[4200];
  snprintf(p, sizeof p, "%s/ca.pem", dir);
  r = ep__tls_ca_write(ca, p);
  if (r) {
    ep__tls_ca_free(ca);
    ep__tls_throwaway_remove(dir);
    return r;
  }
  *out = ca;
  return 0;
}

int ep__tls_throwaway_node(const ep__tls_ca *ca, const char *dir, const char *host, const char *fqdn,
                           const char *stem, const char *cn, char *optfile, size_t cap) {
  char p[4200], k[4200], san[600];
  /* Every node of the set is local: the names OTP's clients check are this
   * host's, the same in each certificate; the CN (and the serial) tell the
   * nodes apart. */
  if (!host || !*host) host = "localhost";
  if (fqdn && *fqdn && strcmp(fqdn, host))
    snprintf(san, sizeof san, "DNS:%s,DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1", host, fqdn);
  else snprintf(san, sizeof san, "DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1", host);
  if (snprintf(p, sizeof p, "%s/%s.pem", dir, stem) >= (int)sizeof p ||
      snprintf(k, sizeof k, "%s/%s.key", dir, stem) >= (int)sizeof k ||
      snprintf(optfile, cap, "%s/%s.conf", dir, stem) >= (int)cap)
    return EP_EINVAL;
  int r = ep__tls_ca_issue(ca, cn, san, -3600, 86400L * 2, p, k);
  if (r) return r;
  FILE *f = fopen(optfile, "w");
  if (!f) return EP_ESYS;
  for (int side = 0; side < 2; side++)
    fprintf(f,
            "%s{%s, [{certfile, \"%s\"}, {keyfile, \"%s\"}, {cacertfile, \"%s/ca.pem\"},\n"
            "          {verify, verify_peer}%s]}%s\n",
            side ? " " : "[", side ? "client" : "server", p, k, dir, side ? "" : ", {fail_if_no_peer_cert, true}",
            side ? "]." : ",");
  if (fclose(f) != 0) return EP_EIO;
  return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

int ep__tls_throwaway_remove(const char *dir) {
  if (!dir || !*dir) return 0;
  return nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : EP_ESYS;
}
