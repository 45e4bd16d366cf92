/* erlpeer call - not built yet. */
#include <stdio.h>

#include "commands.h"

int ep_cmd_call(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "erlpeer: 'call' is not implemented yet\n");
  return 2;
}
