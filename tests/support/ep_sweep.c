/* ep_sweep - kills every process a test run left behind.
 * ctest runs it after the integration tests (a FIXTURES_CLEANUP test), pass or
 * fail: it kills whatever carries EP_TEST_TAG=<EP_TEST_RUN>.*, which every
 * erl, epmd and peer started by a test inherits. It prints what it did and
 * fails when it had to kill something, because a test that leaks processes
 * is a broken test. It also removes the network namespaces named after the
 * run (<run>.*, tests/integration/hosts.sh) that a killed test left, and
 * kills whatever still runs in them. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ep_testenv.h"

/* Kills every process whose network namespace is the one at path. */
static int kill_in_netns(const char *path) {
  struct stat ns;
  if (stat(path, &ns) != 0) return 0;
  int n = 0;
  DIR *d = opendir("/proc");
  struct dirent *e;
  while (d && (e = readdir(d))) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 1 || pid == (long)getpid()) continue;
    char p[64];
    struct stat st;
    snprintf(p, sizeof p, "/proc/%ld/ns/net", pid);
    if (stat(p, &st) == 0 && st.st_ino == ns.st_ino && st.st_dev == ns.st_dev && kill((pid_t)pid, SIGKILL) == 0) n++;
  }
  if (d) closedir(d);
  return n;
}

/* As `ip netns pids NS | xargs kill -9; ip netns del NS` for each NS
 * starting with prefix. */
static int sweep_netns(const char *prefix, int *removed) {
  int n = 0;
  DIR *d = opendir("/run/netns");
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
    char path[512];
    snprintf(path, sizeof path, "/run/netns/%s", e->d_name);
    n += kill_in_netns(path);
    umount2(path, MNT_DETACH);
    if (unlink(path) == 0) ++*removed;
    printf("ep_sweep: removed network namespace %s\n", e->d_name);
  }
  if (d) closedir(d);
  return n;
}

int main(void) {
  const char *run = getenv("EP_TEST_RUN");
  if (!run || !*run) {
    printf("ep_sweep: EP_TEST_RUN not set, nothing to sweep\n");
    return 0;
  }
  char prefix[160];
  snprintf(prefix, sizeof prefix, "%s.", run);
  int n = ep_sweep_tag(prefix, 1), nets = 0;
  n += sweep_netns(prefix, &nets);
  ep_testenv_remove_run_dir();
  printf("ep_sweep: killed %d leftover process(es) of run %s\n", n, run);
  return n || nets ? 1 : 0;
}
