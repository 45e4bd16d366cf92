/* erlpeer epmd - not built yet. */
#include <stdio.h>

#include "commands.h"

int ep_cmd_epmd(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "erlpeer: 'epmd' is not implemented yet\n");
  return 2;
}
