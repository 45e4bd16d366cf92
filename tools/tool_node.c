#include "tool_node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_cookie_file.h"
#include "ep_error.h"
#include "ep_limits.h"

static const char *opt_value(int argc, char **argv, int *i, const char *name) {
  size_t l = strlen(name);
  if (strncmp(argv[*i], name, l) != 0) return NULL;
  if (argv[*i][l] == '=') return argv[*i] + l + 1;
  if (argv[*i][l] != 0) return NULL;
  if (*i + 1 >= argc) {
    fprintf(stderr, "erlpeer: %s needs a value\n", name);
    return "";
  }
  return argv[++*i];
}

int ep_tool_node_opt(int argc, char **argv, int *i, ep_tool_node_args *a) {
  const char *v;
  if ((v = opt_value(argc, argv, i, "--cookie"))) {
    a->cookie = v;
    return *v ? 1 : -1;
  }
  if ((v = opt_value(argc, argv, i, "--sname"))) {
    a->name = v;
    a->longnames = false;
    return *v ? 1 : -1;
  }
  if ((v = opt_value(argc, argv, i, "--name"))) {
    a->name = v;
    a->longnames = true;
    return *v ? 1 : -1;
  }
  if (!strcmp(argv[*i], "--ipv6")) {
    a->ipv6 = true;
    return 1;
  }
  if ((v = opt_value(argc, argv, i, "--net-setuptime"))) {
    char *end;
    unsigned long s = strtoul(v, &end, 10);
    if (!*v || *end || s == 0 || s > 3600) {
      fprintf(stderr, "erlpeer: --net-setuptime takes seconds (1..3600), not '%s'\n", v);
      return -1;
    }
    a->setuptime_ms = (uint32_t)s * 1000;
    return 1;
  }
  if ((v = opt_value(argc, argv, i, "--ssl-dist-optfile"))) {
    a->ssl_dist_optfile = v;
    return *v ? 1 : -1;
  }
  if ((v = opt_value(argc, argv, i, "--timeout"))) {
    char *end;
    unsigned long long t = strtoull(v, &end, 10);
    if (!*v || *end) {
      fprintf(stderr, "erlpeer: --timeout takes milliseconds, not '%s'\n", v);
      return -1;
    }
    a->timeout_ms = t;
    return 1;
  }
  return 0;
}

int ep_tool_node_start(const ep_tool_node_args *a, ep_node **out) {
  ep_node_opts *o = ep_node_opts_new();
  if (!o) return EP_ENOMEM;
  int r = 0;
  if (a->name) r = ep_node_opts_set_name(o, a->name);
  if (!r && a->cookie) r = ep_node_opts_set_cookie(o, a->cookie);
  ep_node_opts_set_longnames(o, a->longnames);
  ep_node_opts_set_ipv6(o, a->ipv6);
  ep_node_opts_set_client(o, true); /* dials out only: no listener, no EPMD */
  ep_node_opts_set_setuptime(o, a->setuptime_ms);
  if (!r && a->ssl_dist_optfile && (r = ep_tool_node_tls(a, o))) {
    ep_node_opts_free(o);
    return r;
  }
  if (!r) r = ep_node_start_sync(o, out);
  ep_node_opts_free(o);
  if (r) {
    char why[600];
    const char *cw = ep_tool_cookie_reason(r, why, sizeof why);
    fprintf(stderr, "erlpeer: cannot start a node: %s\n", cw ? cw : ep_strerror(r));
  }
  return r;
}

const char *ep_tool_cookie_reason(int err, char *buf, size_t cap) {
  switch (err) {
    case EP_ENOCOOKIE:
    case EP_ECOOKIEPERM:
    case EP_ECOOKIECHARS:
    case EP_ECOOKIELONG:
    case EP_ECOOKIESHORT:
    case EP_ECOOKIETYPE:
      break;
    default:
      return NULL;
  }
  uint8_t c[EP_LIMIT_COOKIE_CHARS];
  size_t n = 0;
  int r = ep_cookie_file_read(c, sizeof c, &n, buf, cap);
  memset(c, 0, sizeof c);
  return r && cap && buf[0] ? buf : NULL;
}

void ep_tool_notice(ep_node *n, ep_node_notice_kind kind, const char *text, void *ud) {
  (void)n, (void)kind, (void)ud;
  fprintf(stderr, "erlpeer: %s\n", text);
}

int ep_tool_node_tls(const ep_tool_node_args *a, ep_node_opts *o) {
  if (!a->ssl_dist_optfile) return 0;
  int r = ep_node_opts_set_ssl_dist_optfile(o, a->ssl_dist_optfile);
  if (r) {
    const char *w = ep_node_opts_error(o);
    fprintf(stderr, "erlpeer: %s\n", w && *w ? w : ep_strerror(r));
  }
  return r;
}

const char *ep_tool_conn_reason(ep_node *n, int err) {
  const char *w = n ? ep_node_conn_error(n) : NULL;
  return w && *w ? w : ep_tool_connect_reason(err);
}

const char *ep_tool_connect_reason(int err) {
  switch (err) {
    case EP_ENOEPMD:
      return "no epmd is listening on that host (is the node running? ERL_EPMD_PORT?)";
    case EP_ENOTREG:
      return "the node is not registered in epmd (not running, or another name)";
    case EP_ECONNREFUSED:
      return "connection refused";
    case EP_EAUTH:
      return "authentication failed: the cookies differ";
    case EP_ETIMEDOUT:
      return "timed out";
    case EP_ENOTALLOWED:
      return "the node refused us (not_allowed)";
    case EP_ENOHOST:
      return "the host name does not resolve";
    case EP_EISTLS:
      return "malformed handshake: the node may use TLS distribution (-proto_dist inet_tls): --ssl-dist-optfile FILE";
    case EP_EWRONGNODE:
      return "the node that answered is not the node dialled (short and long names mixed? --sname/--name)";
    default:
      return ep_strerror(err);
  }
}
