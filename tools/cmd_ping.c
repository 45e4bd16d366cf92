/* erlpeer ping NODE: pong (exit 0) or pang (exit 1). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "ep_error.h"
#include "tool_node.h"

static void help(void) {
  printf(
      "usage: erlpeer ping [--cookie C] [--sname N | --name N] [--ipv6] [--timeout MS]\n"
      "                    [--net-ticktime S] [--net-setuptime S] [--ssl-dist-optfile FILE] NODE\n"
      "\n"
      "Connects to NODE as a hidden node and prints pong (exit 0) or pang\n"
      "(exit 1, with the reason on stderr). NODE without @ means the local host.\n"
      "The cookie is read from ~/.erlang.cookie unless --cookie is given.\n"
      "--sname/--name name this program's node (short or long names; default:\n"
      "the first of _erlpeer_c0 .. _erlpeer_c15 not in use on NODE, short, so that\n"
      "repeated pings add no atoms to NODE). --timeout is in milliseconds\n"
      "(default 10000).\n"
      "--net-setuptime S bounds setting the connection up (default 7 s).\n"
      "Options also take the --opt=value form.\n"
      "--ipv6 talks to the node and EPMD over IPv6 (-proto_dist inet6_tcp nodes).\n"
      "--ssl-dist-optfile FILE speaks TLS distribution (-proto_dist inet_tls nodes),\n"
      "configured from the node's own OTP -ssl_dist_optfile FILE.\n"
      "\n"
      "exit status: 0 pong; 1 pang; 2 bad usage, this program's node could\n"
      "             not start, or TLS failed (the cause on stderr).\n");
}

int ep_cmd_ping(int argc, char **argv) {
  ep_tool_node_args a = {0};
  a.timeout_ms = 10000;
  const char *node = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help();
      return 0;
    }
    int r = ep_tool_node_opt(argc, argv, &i, &a);
    if (r < 0) return 2;
    if (r) continue;
    if (argv[i][0] == '-' || node) {
      fprintf(stderr, "erlpeer ping: unexpected argument '%s' (see --help)\n", argv[i]);
      return 2;
    }
    node = argv[i];
  }
  if (!node) {
    fprintf(stderr, "erlpeer ping: which node? (see --help)\n");
    return 2;
  }
  ep_node *n;
  bool started;
  int r = ep_tool_node_connect(&a, node, a.timeout_ms, &n, &started);
  if (!started) return 2;
  if (r == 0) {
    ep_node_free(n);
    printf("pong\n");
    return 0;
  }
  printf("pang\n");
  const char *why = ep_tool_last_reason(r);
  fprintf(stderr, "erlpeer ping: %s: %s\n", node, why);
  /* a TLS failure (the transport's own words for it) is a configuration
   * error, not a node that is away */
  bool tls = r == EP_ETLS || r == EP_ENOTTLS || r == EP_EISTLS || why != ep_tool_connect_reason(r);
  return tls ? 2 : 1;
}
