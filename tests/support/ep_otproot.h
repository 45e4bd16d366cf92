/* ep_otproot.h - the OTP releases the integration tests run against.
 *
 * OTP 25 is the system's erl (Debian bookworm). OTP 27 and 29 come from
 * Debian trixie and sid roots that scripts/otp-roots.sh debootstraps into
 * $EP_ROOTS (default /var/cache/erlpeer/roots) and that run through
 * `chroot ROOT erl` - the exec option a user has for a peer of another
 * release (another installation, a container, ssh).
 *
 * A chroot'd erl sees the root's filesystem: its HOME (and so the
 * .erlang.cookie of the test's private world) must exist inside the root.
 * ep_otproot_enter mirrors the testenv's HOME into ROOT/HOME (the cookie is
 * copied, never put on a command line) and puts a wrapper `erl` (exec chroot
 * ROOT erl "$@") in a folder of the private HOME, for the helpers that start
 * "erl" from PATH; ep_otproot_leave removes the mirror. Mirrors left by a
 * crashed test (their HOME on the host is gone) are removed by the next
 * ep_otproot_enter. Processes in the chroot inherit EP_TEST_TAG, so the
 * testenv's sweep finds them as usual.
 *
 * Header-only (static inline functions, so a test may use only some of
 * them): the support library's build lists its sources by name.
 */
#ifndef EP_OTPROOT_H
#define EP_OTPROOT_H

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ep_testenv.h"

typedef struct ep_otp_release {
  const char *label;   /* "OTP 27" */
  const char *suite;   /* Debian suite, NULL for the system erl */
  const char *release; /* what erlang:system_info(otp_release) says */
} ep_otp_release;

/* Every release the suite covers, oldest first. */
static const ep_otp_release ep_otp_releases[] = {
    {"OTP 25", NULL, "25"}, {"OTP 27", "trixie", "27"}, {"OTP 29", "sid", "29"}};
#define EP_OTP_NRELEASES (sizeof ep_otp_releases / sizeof ep_otp_releases[0])

/* The root of a release ("" for the system erl) into root; false (with the
 * reason in why) when it cannot be used: not created, or not running as
 * root (chroot needs it). */
static inline bool ep_otproot_available(const ep_otp_release *r, char *root, size_t cap, char *why, size_t why_cap) {
  root[0] = 0;
  if (!r->suite) return true;
  const char *base = getenv("EP_ROOTS") && *getenv("EP_ROOTS") ? getenv("EP_ROOTS") : "/var/cache/erlpeer/roots";
  snprintf(root, cap, "%s/%s", base, r->suite);
  char erl[600];
  int w = snprintf(erl, sizeof erl, "%s/usr/bin/erl", root);
  if (w < 0 || (size_t)w >= sizeof erl || access(erl, X_OK) != 0) {
    w = snprintf(why, why_cap, "%s: root %s missing (scripts/otp-roots.sh creates it; needs network to the Debian mirror)",
             r->label, root);
    (void)w;
    return false;
  }
  if (geteuid() != 0) {
    w = snprintf(why, why_cap, "%s: chroot %s needs root", r->label, root);
    (void)w;
    return false;
  }
  return true;
}

static inline int ep_otproot__rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

/* Removes the entries of ROOT/dir named prefix* whose host counterpart
 * (dir/name) is gone. */
static inline void ep_otproot__sweep_dir(const char *root, const char *dir, const char *prefix) {
  char rdir[1024];
  snprintf(rdir, sizeof rdir, "%s%s", root, dir);
  DIR *d = opendir(rdir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (strncmp(de->d_name, prefix, strlen(prefix)) != 0) continue;
    char host_side[1024], root_side[2048];
    snprintf(host_side, sizeof host_side, "%s/%s", dir, de->d_name);
    snprintf(root_side, sizeof root_side, "%s/%s", rdir, de->d_name);
    if (access(host_side, F_OK) != 0) nftw(root_side, ep_otproot__rm, 16, FTW_DEPTH | FTW_PHYS);
  }
  closedir(d);
}

/* Removes the mirrors of HOMEs whose host side is gone: ROOT/<dir of
 * HOME>/ephome.*, and the mirrors of the run folders (eprun-*, which
 * ep_sweep removes on the host side; the shell tests' HOMEs live in them)
 * and of test_interop's scope folders (epinterop.*, in the run folder) of
 * earlier runs, beside HOME and one level up. */
static inline void ep_otproot__sweep_stale(const char *root, const char *home) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s", home);
  char *slash = strrchr(dir, '/');
  if (!slash) return;
  *slash = 0;
  ep_otproot__sweep_dir(root, dir, "ephome.");
  ep_otproot__sweep_dir(root, dir, "eprun-");
  ep_otproot__sweep_dir(root, dir, "epinterop.");
  if (!(slash = strrchr(dir, '/')) || slash == dir) return;
  *slash = 0;
  ep_otproot__sweep_dir(root, dir, "eprun-");
  ep_otproot__sweep_dir(root, dir, "epinterop."); /* in the run folder */
}

/* Makes the release usable by this test's world: mirrors HOME (with the
 * cookie) into the root and writes HOME/bin-SUITE/erl. The wrapper folder is
 * written into path_dir (put it first in PATH to make "erl" that release).
 * Returns 0, -1 on failure. Nothing to do for the system erl. */
static inline int ep_otproot_enter(ep_testenv *env, const char *root, char *path_dir, size_t cap) {
  path_dir[0] = 0;
  if (!root[0]) return 0;
  const char *home = ep_testenv_home(env);
  ep_otproot__sweep_stale(root, home);
  char rhome[1024], src[600], dst[1200], w[700];
  snprintf(rhome, sizeof rhome, "%s%s", root, home);
  /* the folders above HOME too (a TMPDIR of the caller's) */
  for (char *sl = strchr(rhome + strlen(root) + 1, '/'); sl; sl = strchr(sl + 1, '/')) {
    *sl = 0;
    mkdir(rhome, 0755);
    *sl = '/';
  }
  if (mkdir(rhome, 0700) != 0) return -1;
  snprintf(src, sizeof src, "%s/.erlang.cookie", home);
  snprintf(dst, sizeof dst, "%s/.erlang.cookie", rhome);
  char cookie[64] = {0};
  FILE *f = fopen(src, "r");
  if (!f) return -1;
  size_t n = fread(cookie, 1, sizeof cookie - 1, f);
  fclose(f);
  int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0400);
  if (fd < 0) return -1;
  ssize_t k = write(fd, cookie, n);
  close(fd);
  if (k != (ssize_t)n) return -1;
  const char *suite = strrchr(root, '/') ? strrchr(root, '/') + 1 : root;
  snprintf(path_dir, cap, "%s/bin-%s", home, suite);
  if (mkdir(path_dir, 0700) != 0) return -1;
  snprintf(w, sizeof w, "%s/erl", path_dir);
  f = fopen(w, "w");
  if (!f) return -1;
  fprintf(f, "#!/bin/sh\nexec chroot '%s' erl \"$@\"\n", root);
  fclose(f);
  chmod(w, 0700);
  return 0;
}

/* Removes the mirror of the HOME home from the root. Call it after
 * ep_testenv_free (with a copy of the HOME path): a chroot'd erl still
 * running could write into the mirror (a crash dump) while it is removed. */
static inline void ep_otproot_leave(const char *root, const char *home) {
  if (!root[0]) return;
  char rhome[1024];
  if ((size_t)snprintf(rhome, sizeof rhome, "%s%s", root, home) >= sizeof rhome) return;
  nftw(rhome, ep_otproot__rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* PATH with dir first (dir "" leaves the system PATH): for "erl" started
 * through ep_testenv_start_erl and friends. The base PATH is the one seen
 * at the first call. */
static inline void ep_otproot_use_path(const char *dir) {
  static char base[4096];
  if (!base[0]) snprintf(base, sizeof base, "%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
  if (!dir[0]) {
    setenv("PATH", base, 1);
    return;
  }
  char path[8192];
  snprintf(path, sizeof path, "%s:%s", dir, base);
  setenv("PATH", path, 1);
}

/* Whether this machine has IPv6 loopback (::1 can be bound). */
#include <netinet/in.h>
#include <sys/socket.h>
static inline bool ep_ipv6_loopback(void) {
  int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  struct sockaddr_in6 sa = {0};
  sa.sin6_family = AF_INET6;
  sa.sin6_addr = in6addr_loopback;
  bool ok = bind(s, (struct sockaddr *)&sa, sizeof sa) == 0;
  close(s);
  return ok;
}

#endif
