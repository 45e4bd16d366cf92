/* ep_checkrun.h - runs a Check suite, for the main() of every test program
 * (unit and integration: both have tests/support on their include path).
 *
 * Header-only (static inline): the unit tests link erlpeer_core and Check,
 * nothing else.
 */
#ifndef EP_CHECKRUN_H
#define EP_CHECKRUN_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* Runs every test of s (in Check's fork mode, CK_FORK unless the
 * environment says otherwise), printing as `how` says (CK_NORMAL, or
 * CK_ENV to let CK_VERBOSITY decide), and frees the runner with the suite.
 * Returns how many tests failed. */
static inline int ep_check_run(Suite *s, enum print_output how) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, how);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed;
}

/* EP_ONLY=name in the environment runs that test alone (while debugging):
 * tcase_add_test / tcase_add_loop_test that skip every other test. */
#define EP_ADD(tc, t) \
  if (!getenv("EP_ONLY") || !strcmp(getenv("EP_ONLY"), #t)) tcase_add_test(tc, t)
#define EP_ADD_LOOP(tc, t, a, b) \
  if (!getenv("EP_ONLY") || !strcmp(getenv("EP_ONLY"), #t)) tcase_add_loop_test(tc, t, a, b)

#endif
