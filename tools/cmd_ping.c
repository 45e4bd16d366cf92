/* erlpeer ping - not built yet. */
#include <stdio.h>

#include "commands.h"

int ep_cmd_ping(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "erlpeer: 'ping' is not implemented yet\n");
  return 2;
}
