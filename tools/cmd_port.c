/* erlpeer port NAME[@HOST]: the distribution port of a node, from EPMD. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "tool_epmd.h"
#include "ep_epmd_uv.h"
#include "ep_error.h"

static void help(FILE *f) {
  fprintf(f,
          "usage: erlpeer port [--port P] [--timeout MS] [--verbose | -v] NAME[@HOST]\n"
          "\n"
          "Asks the EPMD on HOST (default: localhost) for the distribution port of\n"
          "node NAME and prints it. --verbose adds the node type, protocol and\n"
          "versions. The EPMD port is --port, else ERL_EPMD_PORT, else 4369.\n"
          "--timeout bounds the whole exchange, in milliseconds (default 10000, at\n"
          "most 3600000).\n"
          "Exit status: 0 on success, 1 when the node is not registered or EPMD\n"
          "cannot be asked, 2 on bad usage.\n");
}

int ep_cmd_port(int argc, char **argv) {
  uint16_t port = 0;
  unsigned long timeout = 0; /* 0: the default */
  const char *host = NULL, *node = NULL;
  int verbose = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      help(stdout);
      return 0;
    } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
      verbose = 1;
    } else if (!strcmp(a, "--port") || !strcmp(a, "--timeout")) {
      unsigned long v;
      if (i + 1 >= argc || tool_number(argv[i + 1], !strcmp(a, "--port") ? 65535 : 3600000, &v) != 0) {
        fprintf(stderr, "erlpeer port: %s needs a number\n", a);
        return 2;
      }
      if (!strcmp(a, "--port")) port = (uint16_t)v;
      else timeout = v;
      i++;
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "erlpeer port: unknown option '%s' (see --help)\n", a);
      return 2;
    } else if (!node) {
      node = a;
    } else {
      fprintf(stderr, "erlpeer port: too many arguments (see --help)\n");
      return 2;
    }
  }
  if (!node) {
    fprintf(stderr, "erlpeer port: which node? (usage: erlpeer port NAME[@HOST])\n");
    return 2;
  }
  if (!port && ep_epmd_port_from_env(&port) != 0) {
    fprintf(stderr, "erlpeer port: ERL_EPMD_PORT is not a port number\n");
    return 2;
  }
  char name[1100];
  snprintf(name, sizeof name, "%s", node);
  char *at = strchr(name, '@');
  if (at) {
    *at = 0;
    host = at + 1;
    if (!*host) {
      fprintf(stderr, "erlpeer port: empty host in '%s'\n", node);
      return 2;
    }
  }
  ep_epmd_client_opts *o = ep_epmd_client_opts_new();
  if (!o || ep_epmd_client_opts_set_host(o, host) || ep_epmd_client_opts_set_port(o, port) ||
      (timeout && ep_epmd_client_opts_set_timeout(o, timeout))) {
    ep_epmd_client_opts_free(o);
    fprintf(stderr, "erlpeer port: %s\n", o ? "host name too long" : "out of memory");
    return 2;
  }
  ep_epmd_port_info info;
  int rc = ep_epmd_port_please_sync(o, name, &info);
  ep_epmd_client_opts_free(o);
  if (rc == EP_EBADNAME) {
    fprintf(stderr, "erlpeer port: '%s' is not a valid node name\n", node);
    return 2;
  }
  if (rc == EP_ENOTREG) {
    fprintf(stderr, "erlpeer port: node '%s' is not registered in EPMD on %s port %u\n", name,
            host ? host : "localhost", (unsigned)port);
    return 1;
  }
  if (rc) {
    tool_epmd_error("port", host, port, rc);
    return 1;
  }
  if (verbose)
    printf("%u type %s protocol %u versions %u..%u\n", (unsigned)info.port,
           info.node_type == EP_EPMD_NODE_NORMAL ? "normal" : info.node_type == EP_EPMD_NODE_HIDDEN ? "hidden" : "other",
           (unsigned)info.protocol, (unsigned)info.low, (unsigned)info.high);
  else
    printf("%u\n", (unsigned)info.port);
  return fflush(stdout) == 0 ? 0 : 1;
}
