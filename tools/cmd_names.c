/* erlpeer names - not built yet. */
#include <stdio.h>

#include "commands.h"

int ep_cmd_names(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "erlpeer: 'names' is not implemented yet\n");
  return 2;
}
