/* A dist peer started with an explicit cookie reads it from a private HOME
 * made for it: that directory is gone as soon as the peer has booted, so a
 * controller killed afterwards leaves no cookie on disk (issue 16). Real
 * erl, the world's EPMD, TMPDIR pointed at a directory of the test's. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_peerfix.h"

static int homes_in(const char *dir) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (!strncmp(e->d_name, "erlpeer-home.", 13)) n++;
  closedir(d);
  return n;
}

START_TEST(private_home_goes_once_booted) {
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s/tmp", ep_testenv_home(PF.env));
  ck_assert_int_eq(mkdir(tmp, 0700), 0);
  ck_assert_int_eq(setenv("TMPDIR", tmp, 1), 0);
  ep_node_opts *no = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_cookie(no, "not-the-file-cookie"), 0);
  ep_node_opts_set_epmd_mode(no, EP_EPMD_EXTERNAL);
  ck_assert_int_eq(ep_ctl_start_node(PF.ctl, no), 0);
  ep_node_opts_free(no);
  ep_peer *p = pf_start(pf_dist_opts("home"));
  /* Up, so it had the cookie; its private HOME is gone already. */
  ck_assert_int_eq(homes_in(tmp), 0);
  ep_result r;
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("get_cookie"), ep_nil(), 10000, PF.a, &r), 0);
  ck_assert(ep_atom_eq(r.value, "not-the-file-cookie"));
  pf_stop(p);
  unsetenv("TMPDIR");
}
END_TEST

int main(void) {
  Suite *s = suite_create("peer home");
  TCase *tc = tcase_create("real erl");
  tcase_add_checked_fixture(tc, pf_setup_epmd, pf_teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, private_home_goes_once_booted);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
