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

struct ep_tls_throwaway {
  char dir[512];
  char optfile[600];
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
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) != 0) host[0] = 0;
  char *dot = strchr(host, '.');
  /* the short name is what -sname nodes carry; the full one for -name */
  char san_host[256];
  snprintf(san_host, sizeof san_host, "%s", host);
  if (dot) *dot = 0;
  int r = ep__tls_throwaway_new(host[0] ? host : "localhost", san_host, t->dir, sizeof t->dir);
  if (r) {
    free(t);
    return r;
  }
  snprintf(t->optfile, sizeof t->optfile, "%s/ssl_dist.conf", t->dir);
  *out = t;
  return 0;
}

const char *ep_tls_throwaway_optfile(const ep_tls_throwaway *t) { return t ? t->optfile : NULL; }
const char *ep_tls_throwaway_dir(const ep_tls_throwaway *t) { return t ? t->dir : NULL; }

void ep_tls_throwaway_free(ep_tls_throwaway *t) {
  if (!t) return;
  ep__tls_throwaway_remove(t->dir);
  free(t);
}
