/* ep_peer_tls.c - peers over TLS distribution: the peer's own arguments
 * (-proto_dist inet_tls -ssl_dist_optfile FILE), and the throwaway set of
 * certificates for peers that need no setup (lib/ep_tls_certs.c). Public
 * API only: the peer runtime does not know TLS, it passes arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ep_error.h"
#include "ep_node.h"
#include "ep_peer.h"
#include "ep_tls_certs_int.h"

/* One optfile per node of the set; the paths stay where they are until
 * ep_tls_throwaway_free, as the callers keep pointers to them. */
typedef struct tls_node {
  struct tls_node *next;
  char optfile[600];
} tls_node;

struct ep_tls_throwaway {
  ep__tls_ca *ca; /* kept to sign one more peer's certificate */
  char host[256], fqdn[256];
  char dir[512];
  char optfile[600]; /* the controller's */
  unsigned npeers;
  tls_node *peers;
};

int ep_peer_opts_set_ssl_dist_optfile(ep_peer_opts *o, const char *optfile) {
  if (!optfile || !*optfile) return EP_EINVAL;
  int r = ep_peer_opts_add_arg(o, "-proto_dist");
  if (!r) r = ep_peer_opts_add_arg(o, "inet_tls");
  if (!r) r = ep_peer_opts_add_arg(o, "-ssl_dist_optfile");
  if (!r) r = ep_peer_opts_add_arg(o, optfile);
  return r;
}

int ep_tls_throwaway_new(ep_tls_throwaway **out) {
  ep_tls_throwaway *t = calloc(1, sizeof *t);
  if (!t) return EP_ENOMEM;
  if (gethostname(t->host, sizeof t->host - 1) != 0) t->host[0] = 0;
  /* the short name is what -sname nodes carry; the full one for -name */
  snprintf(t->fqdn, sizeof t->fqdn, "%s", t->host);
  char *dot = strchr(t->host, '.');
  if (dot) *dot = 0;
  if (!t->host[0]) snprintf(t->host, sizeof t->host, "localhost");
  int r = ep__tls_throwaway_new(t->dir, sizeof t->dir, &t->ca);
  if (r) {
    free(t);
    return r;
  }
  r = ep__tls_throwaway_node(t->ca, t->dir, t->host, t->fqdn, "controller", "erlpeer controller", t->optfile,
                             sizeof t->optfile);
  if (r) {
    ep_tls_throwaway_free(t);
    return r;
  }
  *out = t;
  return 0;
}

int ep_tls_throwaway_add_peer(ep_tls_throwaway *t, const char **optfile) {
  if (!t || !optfile) return EP_EINVAL;
  tls_node *n = calloc(1, sizeof *n);
  if (!n) return EP_ENOMEM;
  char stem[32], cn[64];
  unsigned k = ++t->npeers;
  snprintf(stem, sizeof stem, "peer%u", k);
  snprintf(cn, sizeof cn, "erlpeer peer %u", k);
  int r = ep__tls_throwaway_node(t->ca, t->dir, t->host, t->fqdn, stem, cn, n->optfile, sizeof n->optfile);
  if (r) {
    free(n);
    return r;
  }
  n->next = t->peers;
  t->peers = n;
  *optfile = n->optfile;
  return 0;
}

int ep_peer_opts_set_tls_throwaway(ep_peer_opts *o, ep_tls_throwaway *t) {
  const char *f;
  int r = ep_tls_throwaway_add_peer(t, &f);
  return r ? r : ep_peer_opts_set_ssl_dist_optfile(o, f);
}

const char *ep_tls_throwaway_optfile(const ep_tls_throwaway *t) { return t ? t->optfile : NULL; }
const char *ep_tls_throwaway_dir(const ep_tls_throwaway *t) { return t ? t->dir : NULL; }

void ep_tls_throwaway_free(ep_tls_throwaway *t) {
  if (!t) return;
  ep__tls_throwaway_remove(t->dir);
  ep__tls_ca_free(t->ca);
  while (t->peers) {
    tls_node *n = t->peers;
    t->peers = n->next;
    free(n);
  }
  free(t);
}
