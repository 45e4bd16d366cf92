/* erlpeer names [HOST]: the nodes registered in EPMD, in `epmd -names` lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "tool_epmd.h"
#include "ep_epmd_uv.h"
#include "ep_error.h"

static void help(FILE *f) {
  fprintf(f,
          "usage: erlpeer names [--port P] [--timeout MS] [HOST]\n"
          "\n"
          "Lists the nodes registered in the EPMD on HOST (default: localhost), one\n"
          "line per node as `epmd -names` prints them: name NAME at port PORT.\n"
          "The EPMD port is --port, else ERL_EPMD_PORT, else 4369. --timeout bounds\n"
          "the whole exchange, in milliseconds (default 10000, at most 3600000).\n"
          "Exit status: 0 on success, 1 when EPMD cannot be asked, 2 on bad usage.\n");
}

int ep_cmd_names(int argc, char **argv) {
  uint16_t port = 0;
  unsigned long timeout = 0; /* 0: the default */
  const char *host = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      help(stdout);
      return 0;
    } else if (!strcmp(a, "--port") || !strcmp(a, "--timeout")) {
      unsigned long v;
      if (i + 1 >= argc || tool_number(argv[i + 1], !strcmp(a, "--port") ? 65535 : 3600000, &v) != 0) {
        fprintf(stderr, "erlpeer names: %s needs a number\n", a);
        return 2;
      }
      if (!strcmp(a, "--port")) port = (uint16_t)v;
      else timeout = v;
      i++;
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "erlpeer names: unknown option '%s' (see --help)\n", a);
      return 2;
    } else if (!host) {
      host = a;
    } else {
      fprintf(stderr, "erlpeer names: too many arguments (see --help)\n");
      return 2;
    }
  }
  if (!port && ep_epmd_port_from_env(&port) != 0) {
    fprintf(stderr, "erlpeer names: ERL_EPMD_PORT is not a port number\n");
    return 2;
  }
  ep_epmd_client_opts *o = ep_epmd_client_opts_new();
  if (!o || ep_epmd_client_opts_set_host(o, host) || ep_epmd_client_opts_set_port(o, port) ||
      (timeout && ep_epmd_client_opts_set_timeout(o, timeout))) {
    ep_epmd_client_opts_free(o);
    fprintf(stderr, "erlpeer names: %s\n", o ? "host name too long" : "out of memory");
    return 2;
  }
  ep_epmd_name *names = NULL;
  size_t n = 0;
  int rc = ep_epmd_names_sync(o, &names, &n, NULL);
  ep_epmd_client_opts_free(o);
  if (rc) {
    tool_epmd_error("names", host, port, rc);
    return 1;
  }
  for (size_t i = 0; i < n; i++) printf("name %s at port %u\n", names[i].name, (unsigned)names[i].port);
  ep_epmd_names_free(names);
  return fflush(stdout) == 0 ? 0 : 1;
}
