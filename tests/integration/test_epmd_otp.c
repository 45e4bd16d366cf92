/* Newer OTP releases against our EPMD server: OTP 27 (Debian trixie) and
 * OTP 29 (Debian sid) nodes, from the roots scripts/otp-roots.sh creates,
 * register in it and look themselves up through it, and their `epmd -names`
 * client lists from it. Skipped (passing) when the roots are not there or
 * we cannot chroot. */
#include <check.h>
#include <signal.h>

#include "ep_checkrun.h"
#include "ep_otproot.h"
#include "ep_testenv.h"
#include "test_epmd_util.h"

/* A node of that release (from its root, through chroot) registers in our
 * server, finds itself through it, and that release's `epmd -names` lists
 * from it. */
static void run_release(const char *release) {
  const ep_otp_release *rel = NULL;
  for (size_t i = 0; i < EP_OTP_NRELEASES; i++)
    if (!strcmp(ep_otp_releases[i].release, release)) rel = &ep_otp_releases[i];
  ck_assert_ptr_nonnull(rel);
  char root[512], why[1024];
  if (!ep_otproot_available(rel, root, sizeof root, why, sizeof why)) {
    fprintf(stderr, "test_epmd_otp: %s, skipped\n", why);
    return;
  }
  const char *suite = rel->suite, *want_release = rel->release;
  ep_testenv *env = ep_testenv_new();
  srv_thread t;
  ck_assert_int_eq(srv_start(&t, NULL, (uint16_t)ep_testenv_epmd_port(env), 0), 0);
  /* HOME (with the env's cookie) mirrored inside the root. */
  char home[256], bin[600];
  snprintf(home, sizeof home, "%s", ep_testenv_home(env));
  ck_assert_int_eq(ep_otproot_enter(env, root, bin, sizeof bin), 0);

  char name[64];
  snprintf(name, sizeof name, "otp_%s", suite);
  char eval[600];
  snprintf(eval, sizeof eval,
           "{port, P, 6} = erl_epmd:port_please(\"%s\", \"127.0.0.1\"),"
           "{ok, Names} = erl_epmd:names(\"127.0.0.1\"),"
           "{_, P} = lists:keyfind(\"%s\", 1, Names),"
           "io:format(\"~s\", [erlang:system_info(otp_release)]), halt().",
           name, name);
  const char *argv[] = {"chroot", root, "erl", "-sname", name, "-noshell", "-noinput", "-start_epmd", "false",
                        "-eval", eval, NULL};
  char *out = NULL, *err = NULL;
  int st = ep_testenv_run(argv, NULL, 0, &out, NULL, &err, 60000);
  ck_assert_msg(st == 0 && !strcmp(out, want_release), "OTP %s node: status %d, %s %s", want_release, st, out, err);
  free(out);
  free(err);
  char ev[128];
  snprintf(ev, sizeof ev, "registered %s", name);
  ck_assert_int_eq(srv_wait_event(&t, ev, 1000), 0);
  snprintf(ev, sizeof ev, "unregistered %s", name);
  ck_assert_int_eq(srv_wait_event(&t, ev, 5000), 0);

  /* That release's epmd client against our server. */
  char port[16];
  snprintf(port, sizeof port, "%d", ep_testenv_epmd_port(env));
  const char *names[] = {"chroot", root, "epmd", "-port", port, "-names", NULL};
  ck_assert_int_eq(ep_testenv_run(names, NULL, 0, &out, NULL, NULL, 10000), 0);
  ck_assert_ptr_nonnull(strstr(out, "up and running"));
  free(out);

  ep_testenv_free(env);
  ep_otproot_leave(root, home);
  ck_assert_int_eq(srv_stop(&t), 0);
}

START_TEST(otp27_node_uses_our_server) { run_release("27"); }
END_TEST

START_TEST(otp29_node_uses_our_server) { run_release("29"); }
END_TEST

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  Suite *s = suite_create("epmd_otp");
  TCase *tc = tcase_create("newer_otp");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, otp27_node_uses_our_server);
  tcase_add_test(tc, otp29_node_uses_our_server);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
