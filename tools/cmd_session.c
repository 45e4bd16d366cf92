/* erlpeer session - not built yet. */
#include <stdio.h>

#include "commands.h"

int ep_cmd_session(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "erlpeer: 'session' is not implemented yet\n");
  return 2;
}
