#include "tool_node.h"

#include <stdio.h>
#include <uv.h>
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
    a->setuptime_ms = (uint64_t)s * 1000;
    return 1;
  }
  if ((v = opt_value(argc, argv, i, "--net-ticktime"))) {
    if (ep_tool_parse_ticktime(v, &a->ticktime)) {
      fprintf(stderr, "erlpeer: --net-ticktime takes whole seconds (1..%u), not '%s'\n", EP_TOOL_MAX_TICKTIME, v);
      return -1;
    }
    return 1;
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
    a->timeout_ms = t ? t : EP_INFINITY; /* --timeout 0: infinity, as before */
    return 1;
  }
  return 0;
}

/* While a default name is being tried, the target's "that name is in
 * use" is expected (the next name follows) and not worth a line. */
static bool probing;

static void tool_notice(ep_node *n, ep_node_notice_kind kind, const char *text, void *ud) {
  if (kind == EP_NODE_NOTICE_NAME_IN_USE && probing) return;
  ep_tool_notice(n, kind, text, ud);
}

static int start_named(const ep_tool_node_args *a, const char *name, ep_node **out) {
  ep_node_opts *o = ep_node_opts_new();
  if (!o) return EP_ENOMEM;
  int r = 0;
  if (name) r = ep_node_opts_set_name(o, name);
  if (!r && a->cookie) r = ep_node_opts_set_cookie(o, a->cookie);
  ep_node_opts_set_longnames(o, a->longnames);
  ep_node_opts_set_ipv6(o, a->ipv6);
  if (a->ticktime) ep_node_opts_set_ticktime(o, a->ticktime);
  ep_node_opts_set_client(o, true); /* dials out only: no listener, no EPMD */
  ep_node_opts_set_setuptime(o, a->setuptime_ms);
  ep_node_opts_set_notice_cb(o, tool_notice, NULL);
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

int ep_tool_parse_ticktime(const char *s, unsigned *out) {
  unsigned long v = 0;
  if (!*s) return EP_EINVAL;
  for (; *s; s++)
    if (*s < '0' || *s > '9' || (v = v * 10 + (unsigned long)(*s - '0')) > EP_TOOL_MAX_TICKTIME) return EP_EINVAL;
  if (v == 0) return EP_EINVAL;
  *out = (unsigned)v;
  return 0;
}

int ep_tool_parse_origin(const char *s, bool *longnames) {
  const char *at = strchr(s, '@');
  if (!at || at == s || !at[1] || strchr(at + 1, '@')) return EP_EINVAL;
  *longnames = strchr(at + 1, '.') || strchr(at + 1, ':');
  return 0;
}

int ep_tool_node_start(const ep_tool_node_args *a, ep_node **out) { return start_named(a, a->name, out); }

/* The node's own one-line reason for a failed dial (TLS's, with OpenSSL's
 * words), kept for ep_tool_last_reason once the node is gone. */
static char last_reason[600];

static void keep_reason(ep_node *n, int err) {
  (void)err;
  const char *w = ep_node_conn_error(n);
  snprintf(last_reason, sizeof last_reason, "%s", w ? w : "");
}

const char *ep_tool_last_reason(int err) { return last_reason[0] ? last_reason : ep_tool_connect_reason(err); }

/* What the target answers when a node of the name we tried is connected to
 * it, or is connecting: "alive" (we answer false: EP_EALIVE), "nok" (two
 * handshakes of one name at once, the target's name the greater: EP_ENOK),
 * or a close (the other way round: net_kernel ends the older handshake for
 * the newer one, before its challenge, EP_ECONNRESET, or after, which looks
 * like a wrong cookie, EP_EAUTH). A wrong cookie gets one more try under
 * the next name, so the target logs a failed attempt twice, not 16 times. */
static bool name_busy(int err, int *auth_fails) {
  if (err == EP_EAUTH) return ++*auth_fails < 2;
  return err == EP_EALIVE || err == EP_ENOK || err == EP_ECONNRESET;
}

int ep_tool_node_connect(const ep_tool_node_args *a, const char *node, uint64_t timeout_ms, ep_node **out,
                         bool *started) {
  *out = NULL;
  *started = false;
  if (a->name) {
    ep_node *n;
    if (start_named(a, a->name, &n)) return EP_ESYS;
    *started = true;
    int r = ep_node_ping_sync(n, node, timeout_ms);
    if (r) {
      keep_reason(n, r);
      ep_node_free(n);
    } else {
      *out = n;
    }
    return r;
  }
  uint64_t t0 = uv_hrtime() / 1000000;
  int r = EP_EALIVE, auth_fails = 0;
  for (int k = 0; k < EP_TOOL_NAMES; k++) {
    uint64_t spent = uv_hrtime() / 1000000 - t0;
    if (k && timeout_ms != EP_INFINITY && spent >= timeout_ms) return EP_ETIMEDOUT;
    char name[32];
    snprintf(name, sizeof name, "_erlpeer_c%d", k);
    ep_node *n;
    if (start_named(a, name, &n)) return EP_ESYS;
    *started = true;
    probing = true;
    r = ep_node_ping_sync(n, node, timeout_ms == EP_INFINITY ? timeout_ms : timeout_ms - (k ? spent : 0));
    probing = false;
    if (!r) {
      *out = n;
      return 0;
    }
    keep_reason(n, r);
    ep_node_free(n);
    if (!name_busy(r, &auth_fails)) return r;
  }
  return EP_ENAMETAKEN;
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
    case EP_ENODEDOWN:
      return "the connection was lost (the node went down, or another node of this program's name took the "
             "connection over)";
    case EP_EALIVE:
      return "it already has a connection from a node of this program's name (--sname/--name): another program "
             "uses that name";
    case EP_ENAMETAKEN:
      return "all the default names _erlpeer_c0 .. _erlpeer_c15 are in use there (that many erlpeer calls at "
             "once?): give this program a name with --sname or --name";
    case EP_EISTLS:
      return "malformed handshake: the node may use TLS distribution (-proto_dist inet_tls): --ssl-dist-optfile FILE";
    case EP_EWRONGNODE:
      return "the node that answered is not the node dialled (short and long names mixed? --sname/--name)";
    default:
      return ep_strerror(err);
  }
}
