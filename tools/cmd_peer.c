/* erlpeer peer - not built yet. */
#include <stdio.h>

#include "commands.h"

int ep_cmd_peer(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "erlpeer: 'peer' is not implemented yet\n");
  return 2;
}
