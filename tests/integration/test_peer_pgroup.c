/* Process groups of peers started through an exec wrapper, against real
 * erl: what the wrapper forked goes with it. A wrapper that outlives
 * wait_boot (`sleep 20 & ...; wait; exec erl "$@"`), and a wrapper that runs
 * erl without exec and is force-stopped, leave no process of their group
 * behind: kill(-pgid, 0) fails with ESRCH once the members' exits have been
 * seen (pidfds) and reaped (this process is their subreaper, so they cannot
 * stay zombies of an init that never reaps). Loops over the connections:
 * 0 standard_io, 1 TCP attached (detached = false), 2 TCP detached,
 * 3 distribution. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_peer.h"
#include "ep_testenv.h"
#include "ep_testpeer.h"

static const char *const kinds[] = {"standard_io", "tcp attached", "tcp detached", "dist"};

static ep_peer_opts *opts_kind(int kind, const char *script, uint64_t wait_ms) {
  ep_peer_opts *o = ep_peer_opts_new();
  ck_assert_ptr_nonnull(o);
  if (kind == 0) ck_assert_int_eq(ep_peer_opts_set_connection_stdio(o), 0);
  if (kind == 1 || kind == 2) ck_assert_int_eq(ep_peer_opts_set_connection_tcp(o, "127.0.0.1", 0), 0);
  if (kind == 1) ck_assert_int_eq(ep_peer_opts_set_detached(o, false), 0);
  if (kind == 3) {
    char name[96];
    ck_assert_int_eq(ep_peer_random_name("pg", name, sizeof name), 0);
    ck_assert_int_eq(ep_peer_opts_set_name(o, name), 0);
    ck_assert_int_eq(ep_peer_opts_set_connection_dist(o), 0);
  }
  const char *pre[] = {"-c", script, "wrapper", NULL};
  ck_assert_int_eq(ep_peer_opts_set_exec(o, "/bin/bash", pre), 0);
  ep_peer_opts_set_wait_boot(o, wait_ms);
  return o;
}

/* The members of process group pgid (zombies included): their pids in
 * out (at most cap), how many there are. */
static int group_members(pid_t pgid, pid_t *out, int cap) {
  DIR *d = opendir("/proc");
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 0) continue;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = 0;
    char *rp = strrchr(buf, ')'); /* after comm: state ppid pgrp */
    char st;
    long ppid, pgrp;
    if (!rp || sscanf(rp + 1, " %c %ld %ld", &st, &ppid, &pgrp) != 3) continue;
    if (pgrp == pgid && n < cap) out[n++] = (pid_t)pid;
  }
  closedir(d);
  return n;
}

/* Waits (pidfd events, bounded by ms) until no process of group pgid is
 * left, reaping the ones handed to us (a member whose parent died is ours:
 * subreaper); then kill(-pgid, 0) must say ESRCH. Returns 1 when so. A
 * member that exited but is someone else's unreaped child keeps the loop
 * going until its parent reaps it or ms pass. */
static int group_gone(pid_t pgid, int ms) {
  double end = now_ms() + ms;
  for (;;) {
    pid_t m[64];
    int n = group_members(pgid, m, 64);
    if (n == 0) return kill(-pgid, 0) == -1 && errno == ESRCH;
    int left = (int)(end - now_ms());
    if (left <= 0) return 0;
    int fd = (int)syscall(SYS_pidfd_open, m[0], 0);
    if (fd >= 0) {
      struct pollfd pf = {fd, POLLIN, 0};
      int r = poll(&pf, 1, left);
      close(fd);
      if (r != 1) return 0; /* still running at the deadline */
    }
    siginfo_t si;
    waitid(P_PID, (id_t)m[0], &si, WEXITED | WNOHANG);
  }
}

/* Reads "LEADER PGID OTHER" that the wrapper wrote (the file exists once
 * the wrapper is past its first line). */
static void read_ids(const char *file, long *leader, long *pgid, long *other) {
  FILE *f = fopen(file, "r");
  ck_assert_msg(f != NULL, "the wrapper never wrote %s", file);
  ck_assert_int_eq(fscanf(f, "%ld %ld %ld", leader, pgid, other), 3);
  fclose(f);
}

static ep_testenv *world(void) {
  ep_testenv *env = ep_testenv_new();
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
  return env;
}

/* The issue's case: a wrapper that sleeps past wait_boot before it execs
 * erl. The timeout kills the wrapper and the sleep it forked. */
START_TEST(boot_timeout_kills_the_wrappers_group) {
  ep_testenv *env = world();
  char file[400], script[2400];
  snprintf(file, sizeof file, "%s/ids", ep_testenv_home(env));
  snprintf(script, sizeof script,
           "read -r _ _ _ _ pg _ < /proc/$$/stat; sleep 20 & echo \"$$ $pg $!\" > %s.t && mv %s.t %s; "
           "wait $!; exec erl \"$@\"",
           file, file, file);
  ep_ctl *c = ep_ctl_new(NULL);
  ep_peer_opts *o = opts_kind(_i, script, 1000);
  ep_peer *p = NULL;
  double t0 = now_ms();
  ck_assert_int_eq(ep_peer_start_sync(c, o, true, &p), EP_ETIMEDOUT);
  ck_assert_double_lt(now_ms() - t0, 6000);
  long leader, pgid, sleeper;
  read_ids(file, &leader, &pgid, &sleeper);
  ck_assert_msg(pgid == leader, "%s: the wrapper %ld runs in group %ld, not its own", kinds[_i], leader, pgid);
  ck_assert_msg(group_gone((pid_t)pgid, 5000), "%s: group %ld still has processes (the sleep %ld?)", kinds[_i], pgid,
                sleeper);
  ck_assert_int_ne(kill((pid_t)sleeper, 0), 0);
  ep_peer_opts_free(o);
  ep_ctl_free(c);
  ep_testenv_free(env);
}
END_TEST

/* A wrapper that runs erl without exec, whose peer is stuck (SIGSTOP):
 * the stop's timeout kills the wrapper and the beam.smp under it. */
START_TEST(forced_stop_kills_the_grandchild_beam) {
  ep_testenv *env = world();
  char file[400], script[2400];
  snprintf(file, sizeof file, "%s/ids", ep_testenv_home(env));
  snprintf(script, sizeof script,
           "read -r _ _ _ _ pg _ < /proc/$$/stat; echo \"$$ $pg 0\" > %s.t && mv %s.t %s; erl \"$@\"; exit $?", file,
           file, file);
  ep_ctl *c = ep_ctl_new(NULL);
  int kind = _i == 2 ? 3 : _i; /* a detached TCP peer's beam leaves the wrapper by design: not here */
  ep_peer_opts *o = opts_kind(kind, script, 30000);
  ep_peer_opts_set_shutdown(o, EP_PEER_SHUTDOWN_HALT, 1000);
  ep_peer *p = NULL;
  ck_assert_int_eq(ep_peer_start_sync(c, o, true, &p), 0);
  long leader, pgid, unused;
  read_ids(file, &leader, &pgid, &unused);
  ck_assert_msg(pgid == leader, "%s: the wrapper %ld runs in group %ld, not its own", kinds[kind], leader, pgid);
  ep_arena *a = ep_arena_new(NULL);
  ep_result r;
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("os"), ep_atom("getpid"), ep_nil(), 5000, a, &r), 0);
  const char *s;
  size_t n;
  ck_assert_int_eq(ep_get_text(r.arena, r.value, &s, &n), 0);
  long beam = strtol(s, NULL, 10);
  ep_arena_free(a);
  ck_assert_int_ne(beam, leader); /* the beam is the wrapper's child, not the wrapper */
  ck_assert_int_eq(kill((pid_t)beam, SIGSTOP), 0);
  double t0 = now_ms();
  ck_assert_int_eq(ep_peer_stop_sync(p), 0);
  ck_assert_double_lt(now_ms() - t0, 5000);
  ck_assert_msg(group_gone((pid_t)pgid, 5000), "%s: group %ld still has processes (the beam %ld?)", kinds[kind], pgid,
                beam);
  ck_assert_int_ne(kill((pid_t)beam, 0), 0);
  ep_peer_free(p);
  ep_peer_opts_free(o);
  ep_ctl_free(c);
  ep_testenv_free(env);
}
END_TEST

/* Without a wrapper a TCP or standard_io peer is not moved: erl is our
 * child in our own group, as before. */
START_TEST(no_wrapper_no_new_group) {
  ep_testenv *env = world();
  ep_ctl *c = ep_ctl_new(NULL);
  ep_peer_opts *o = opts_for(_i);
  ep_peer *p = NULL;
  ck_assert_int_eq(ep_peer_start_sync(c, o, true, &p), 0);
  ep_arena *a = ep_arena_new(NULL);
  ep_result r;
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("os"), ep_atom("getpid"), ep_nil(), 5000, a, &r), 0);
  const char *s;
  size_t n;
  ck_assert_int_eq(ep_get_text(r.arena, r.value, &s, &n), 0);
  long beam = strtol(s, NULL, 10);
  ep_arena_free(a);
  if (_i == 0) ck_assert_int_eq(getpgid((pid_t)beam), getpgrp()); /* standard_io: our child, our group */
  ck_assert_int_eq(ep_peer_stop_sync(p), 0);
  ep_peer_free(p);
  ep_peer_opts_free(o);
  ep_ctl_free(c);
  ep_testenv_free(env);
}
END_TEST

int main(void) {
  Suite *s = suite_create("peer_pgroup");
  TCase *tc = tcase_create("pgroup");
  tcase_set_timeout(tc, 90);
  tcase_add_loop_test(tc, boot_timeout_kills_the_wrappers_group, 0, 4);
  tcase_add_loop_test(tc, forced_stop_kills_the_grandchild_beam, 0, 3);
  tcase_add_loop_test(tc, no_wrapper_no_new_group, 0, 1);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
