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
  uint32_t setuptime_ms; /* --net-setuptime S (0: the default, 7 s) */
  const char *ssl_dist_optfile; /* --ssl-dist-optfile FILE: TLS distribution */
} ep_tool_node_args;

/* Consumes a node option at argv[*i] (--cookie C, --sname N, --name N,
 * --timeout MS, --ipv6, --net-setuptime S, --ssl-dist-optfile FILE, and
 * the --opt=value forms). Returns 1 when consumed, 0 when
 * argv[*i] is not a node option, -1 on a bad value (message printed). */
int ep_tool_node_opt(int argc, char **argv, int *i, ep_tool_node_args *a);

/* Starts a hidden node (not registered in EPMD: a one-shot client needs no
 * incoming connections). Prints the reason and returns the error. */
int ep_tool_node_start(const ep_tool_node_args *a, ep_node **out);

/* For an error of reading the cookie file (EP_ENOCOOKIE, EP_ECOOKIE*):
 * the file and what is wrong with it, read again into buf; NULL for any
 * other error. */
const char *ep_tool_cookie_reason(int err, char *buf, size_t cap);

/* "could not connect to NODE: <cause>" with a cause a person can act on. */
/* A node's notice, on stderr. */
void ep_tool_notice(ep_node *n, ep_node_notice_kind kind, const char *text, void *ud);
const char *ep_tool_connect_reason(int err);
/* The same, with the node's own words for the cause when it has them (a
 * TLS failure: the certificate and OpenSSL's reason). */
const char *ep_tool_conn_reason(ep_node *n, int err);
/* Sets --ssl-dist-optfile on o when given; prints why and returns the error. */
int ep_tool_node_tls(const ep_tool_node_args *a, ep_node_opts *o);

#endif
