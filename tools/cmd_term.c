/* erlpeer term - not built yet. */
#include <stdio.h>

#include "commands.h"

int ep_cmd_term(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "erlpeer: 'term' is not implemented yet\n");
  return 2;
}
