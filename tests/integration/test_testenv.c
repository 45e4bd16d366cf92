/* The test harness itself: a private epmd and erl start, are found, and are
 * gone after ep_testenv_free, detached ones included, and after a test
 * that failed before it (the guard). */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include "ep_checkrun.h"
#include "ep_testenv.h"

START_TEST(private_epmd_and_node_are_cleaned_up) {
  ep_testenv *env = ep_testenv_new();
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  char node[256];
  pid_t pid = ep_testenv_start_erl(env, "harness", NULL, node, sizeof node);
  ck_assert_int_gt(pid, 0);
  char want[300];
  snprintf(want, sizeof want, "harness@%s", ep_testenv_host());
  ck_assert_str_eq(node, want);
  /* The private epmd knows the node. */
  char port[16];
  snprintf(port, sizeof port, "%d", ep_testenv_epmd_port(env));
  const char *argv[] = {"epmd", "-port", port, "-names", NULL};
  char *out = NULL;
  ck_assert_int_eq(ep_testenv_run(argv, NULL, 0, &out, NULL, NULL, 5000), 0);
  ck_assert_ptr_nonnull(strstr(out, "name harness at port"));
  free(out);
  /* A detached node escapes the process tree but not the sweep. */
  const char *det[] = {"erl", "-sname", "detached", "-detached", NULL};
  ck_assert_int_eq(ep_testenv_run(det, NULL, 0, NULL, NULL, NULL, 10000), 0);
  char tag[160];
  snprintf(tag, sizeof tag, "%s", ep_testenv_tag(env));
  ep_testenv_free(env);
  ck_assert_int_eq(ep_sweep_tag(tag, 0), 0);
  ck_assert_int_ne(kill(pid, 0), 0);
}
END_TEST

START_TEST(run_captures_output_and_status) {
  char *out = NULL;
  ck_assert_int_eq(ep_testenv_erl_eval("io:format(\"~p\", [lists:seq(1,3)]), halt(3).", &out, NULL, 20000), 3);
  ck_assert_str_eq(out, "[1,2,3]");
  free(out);
  const char *cat[] = {"cat", NULL};
  size_t n = 0;
  ck_assert_int_eq(ep_testenv_run(cat, "abc", 3, &out, &n, NULL, 5000), 0);
  ck_assert_int_eq(n, 3);
  free(out);
  const char *sl[] = {"sleep", "10", NULL};
  ck_assert_int_eq(ep_testenv_run(sl, NULL, 0, NULL, NULL, NULL, 200), 128 + SIGKILL);
}
END_TEST

/* A test that fails or times out never reaches ep_testenv_free (Check
 * skips a checked teardown then): ep_sweep's removal of the run's folders
 * must take its HOME too. Under a run tag of its own, so that it removes
 * nothing of the tests running beside it. */
START_TEST(sweep_removes_a_home_left_behind) {
  char run[64];
  snprintf(run, sizeof run, "eprun-testenv%ld", (long)getpid());
  const char *was = getenv("EP_TEST_RUN");
  char saved[128] = "";
  if (was) snprintf(saved, sizeof saved, "%s", was);
  setenv("EP_TEST_RUN", run, 1);
  ep_testenv *env = ep_testenv_new();
  char home[256];
  snprintf(home, sizeof home, "%s", ep_testenv_home(env));
  ck_assert_int_eq(access(home, F_OK), 0);
  ep_testenv_remove_run_dir();
  ck_assert_int_ne(access(home, F_OK), 0);
  ep_testenv_free(env);
  if (was) setenv("EP_TEST_RUN", saved, 1);
  else unsetenv("EP_TEST_RUN");
}
END_TEST

/* A test that fails ends its process at its first failed assertion
 * (Check's fork mode: _exit, no teardown, so no ep_testenv_free): the
 * world's guard still kills what the test started, and removes its HOME,
 * as soon as the process is gone (not when ep_sweep runs after the suite).
 * The failed test is a child here, which starts a tagged `sleep 30`. */
START_TEST(guard_cleans_up_after_a_failed_test) {
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  struct {
    long pid;
    char home[256];
  } m = {0, ""};
  pid_t child = fork();
  ck_assert_int_ge(child, 0);
  if (child == 0) {
    close(fds[0]);
    ep_testenv *env = ep_testenv_new();
    const char *sl[] = {"sleep", "30", NULL};
    pid_t pid;
    if (posix_spawnp(&pid, "sleep", NULL, NULL, (char *const *)sl, environ) != 0) _exit(2);
    m.pid = pid;
    snprintf(m.home, sizeof m.home, "%s", ep_testenv_home(env));
    if (write(fds[1], &m, sizeof m) != (ssize_t)sizeof m) _exit(3);
    _exit(1); /* as a failed assertion does */
  }
  close(fds[1]);
  ck_assert_int_eq(read(fds[0], &m, sizeof m), (ssize_t)sizeof m);
  close(fds[0]);
  /* watch the HOME before the guard can remove it (ENOENT: it did) */
  int in = inotify_init1(IN_CLOEXEC);
  ck_assert_int_ge(in, 0);
  int wd = inotify_add_watch(in, m.home, IN_DELETE_SELF);
  ck_assert(wd >= 0 || errno == ENOENT);
  int status;
  ck_assert_int_eq(waitpid(child, &status, 0), child);
  ck_assert_int_eq(WEXITSTATUS(status), 1);
  ck_assert_msg(ep_testenv_wait_pid_gone(m.pid, 5000), "the failed test's sleep (pid %ld) outlived it", m.pid);
  if (wd >= 0) {
    struct pollfd pf = {in, POLLIN, 0};
    ck_assert_msg(poll(&pf, 1, 5000) == 1, "the failed test's HOME %s is still there", m.home);
  }
  close(in);
  ck_assert_int_ne(access(m.home, F_OK), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("testenv");
  TCase *tc = tcase_create("harness");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, private_epmd_and_node_are_cleaned_up);
  tcase_add_test(tc, run_captures_output_and_status);
  tcase_add_test(tc, sweep_removes_a_home_left_behind);
  tcase_add_test(tc, guard_cleans_up_after_a_failed_test);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
