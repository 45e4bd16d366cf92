/* erlpeer port - not built yet. */
#include <stdio.h>

#include "commands.h"

int ep_cmd_port(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "erlpeer: 'port' is not implemented yet\n");
  return 2;
}
