/* tool_node.h - the node options shared by the commands that act as a
 * hidden node (ping, call), and the one-line explanation of failures. */
#ifndef EP_TOOL_NODE_H
#define EP_TOOL_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ep_node.h"

typedef struct ep_tool_node_args {
  const char *cookie;
  const char *name;
  bool longnames;
  bool ipv6;
  uint64_t timeout_ms;
  uint64_t setuptime_ms; /* --net-setuptime S (0: the default, 7 s) */
  unsigned ticktime;     /* --net-ticktime S (0: the node's default, 60 s) */
  const char *ssl_dist_optfile; /* --ssl-dist-optfile FILE: TLS distribution */
} ep_tool_node_args;

/* Consumes a node option at argv[*i] (--cookie C, --sname N, --name N,
 * --timeout MS, --ipv6, --net-setuptime S, --net-ticktime S,
 * --ssl-dist-optfile FILE, and the --opt=value forms). Returns 1 when consumed, 0 when
 * argv[*i] is not a node option, -1 on a bad value (message printed). */
int ep_tool_node_opt(int argc, char **argv, int *i, ep_tool_node_args *a);

/* Starts a hidden node (not registered in EPMD: a one-shot client needs no
 * incoming connections). Prints the reason and returns the error. */
int ep_tool_node_start(const ep_tool_node_args *a, ep_node **out);

/* --net-ticktime: whole seconds, 1..EP_TOOL_MAX_TICKTIME (erl's net_ticktime
 * is a positive integer too). 0 or EP_EINVAL. */
#define EP_TOOL_MAX_TICKTIME 86400u
int ep_tool_parse_ticktime(const char *s, unsigned *out);

/* --origin NAME@HOST: both parts present. Long names when HOST has a dot or
 * a colon (an FQDN or an IP address: erl's short names have neither).
 * 0 or EP_EINVAL. */
int ep_tool_parse_origin(const char *s, bool *longnames);

/* For an error of reading the cookie file (EP_ENOCOOKIE, EP_ECOOKIE*):
 * the file and what is wrong with it, read again into buf; NULL for any
 * other error. */
const char *ep_tool_cookie_reason(int err, char *buf, size_t cap);

/* The default names of a client: a fixed set, so that calls repeated for
 * days add at most EP_TOOL_NAMES atoms to the target's atom table (every
 * node name becomes an atom there, never collected), as erl_call's c17. */
#define EP_TOOL_NAMES 16

/* Starts this program's node and connects it to node, within timeout_ms.
 * With --sname/--name, under that name. Without, under the first of
 * _erlpeer_c0 .. _erlpeer_c15 that node does not see in use (another
 * erlpeer call connected at the same time): a fresh node per name tried
 * (lib/ep_node.c answers "alive" with false for a client that never was
 * connected there). 0 with *out connected; otherwise the error (EP_ENAMETAKEN
 * when every default name was in use), no node, and *started false when
 * this program's node could not start (the reason already printed). */
int ep_tool_node_connect(const ep_tool_node_args *a, const char *node, uint64_t timeout_ms, ep_node **out,
                         bool *started);

/* A node's notice, on stderr. */
void ep_tool_notice(ep_node *n, ep_node_notice_kind kind, const char *text, void *ud);
/* The cause of a failed connection, one a person can act on. */
const char *ep_tool_connect_reason(int err);
/* After ep_tool_node_connect failed: the node's own one-line reason for its
 * last dial (the transport's, TLS's with OpenSSL's words), else
 * ep_tool_connect_reason(err) itself (the same pointer). */
const char *ep_tool_last_reason(int err);
/* The same, with the node's own words for the cause when it has them (a
 * TLS failure: the certificate and OpenSSL's reason). */
const char *ep_tool_conn_reason(ep_node *n, int err);
/* Sets --ssl-dist-optfile on o when given; prints why and returns the error. */
int ep_tool_node_tls(const ep_tool_node_args *a, ep_node_opts *o);

#endif
