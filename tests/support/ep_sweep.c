/* ep_sweep - kills every process a test run left behind.
 * ctest runs it after the integration tests (a FIXTURES_CLEANUP test), pass or
 * fail: it kills whatever carries EP_TEST_TAG=<EP_TEST_RUN>.*, which every
 * erl, epmd and peer started by a test inherits. It prints what it did and
 * fails when it had to kill something, because a test that leaks processes
 * is a broken test. */
#include <stdio.h>
#include <stdlib.h>

#include "ep_testenv.h"

int main(void) {
  const char *run = getenv("EP_TEST_RUN");
  if (!run || !*run) {
    printf("ep_sweep: EP_TEST_RUN not set, nothing to sweep\n");
    return 0;
  }
  char prefix[160];
  snprintf(prefix, sizeof prefix, "%s.", run);
  int n = ep_sweep_tag(prefix, 1);
  ep_testenv_remove_run_dir();
  printf("ep_sweep: killed %d leftover process(es) of run %s\n", n, run);
  return n ? 1 : 0;
}
