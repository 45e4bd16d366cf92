/* ep_cookie_file.c - finding, creating and checking the cookie file; the
 * text itself is checked by dist/ep_cookie.c. Rules from OTP's auth.erl
 * (read_cookie/0,1, check_attributes/4, create_cookie/1). */
#include "ep_cookie_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "ep_cookie.h"
#include "ep_error.h"

#define NOT_FOUND 1 /* ENOENT: try the next place, as erl does */

typedef struct {
  char *buf;
  size_t cap;
} why_t;

static void why(why_t *w, const char *fmt, ...) {
  if (!w->buf || !w->cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->buf, w->cap, fmt, ap);
  va_end(ap);
}

static const char *type_name(mode_t m) {
  if (S_ISDIR(m)) return "directory";
  if (S_ISFIFO(m)) return "FIFO";
  if (S_ISCHR(m)) return "character device";
  if (S_ISBLK(m)) return "block device";
  if (S_ISSOCK(m)) return "socket";
  return "other";
}

/* One candidate path: NOT_FOUND, 0 with the cookie, or an error. */
static int read_one(const char *path, uint8_t *out, size_t cap, size_t *len, why_t *w) {
  /* O_NONBLOCK: a FIFO planted there must not block the open; fstat then
   * refuses it, so the type and mode checked are those of what was read. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return NOT_FOUND;
    why(w, "error when reading cookie file %s: %s", path, strerror(errno));
    return EP_ENOCOOKIE;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    why(w, "error when reading cookie file %s: %s", path, strerror(errno));
    close(fd);
    return EP_ENOCOOKIE;
  }
  if (!S_ISREG(st.st_mode)) {
    why(w, "cookie file %s is of type %s, not a regular file", path, type_name(st.st_mode));
    close(fd);
    return EP_ECOOKIETYPE;
  }
  if (st.st_mode & 077) {
    why(w, "cookie file %s must be accessible by owner only (its mode is %04o; chmod 400 %s)", path,
        (unsigned)(st.st_mode & 07777), path);
    close(fd);
    return EP_ECOOKIEPERM;
  }
  ep_cookie_parser p;
  ep_cookie_parser_init(&p);
  uint8_t chunk[512];
  int r = 0;
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      why(w, "error when reading cookie file %s: %s", path, strerror(errno));
      r = EP_ENOCOOKIE;
      break;
    }
    if (n == 0) {
      r = ep_cookie_parser_finish(&p);
      break;
    }
    if ((r = ep_cookie_parser_feed(&p, chunk, (size_t)n)) != 0) break;
  }
  close(fd);
  memset(chunk, 0, sizeof chunk);
  if (r == EP_ECOOKIECHARS)
    why(w, "bad characters in cookie file %s: byte 0x%02x at offset %llu (only one line of characters from space to '~' is allowed)",
        path, p.bad, (unsigned long long)p.pos);
  else if (r == EP_ECOOKIELONG)
    why(w, "cookie in %s is longer than %u characters", path, (unsigned)EP_LIMIT_COOKIE_CHARS);
  else if (r == EP_ECOOKIESHORT)
    why(w, "cookie file %s holds no cookie (too short cookie string)", path);
  if (!r && p.len > cap) {
    why(w, "cookie in %s does not fit the caller's buffer", path);
    r = EP_EINVAL;
  }
  if (!r) {
    memcpy(out, p.cookie, p.len);
    *len = p.len;
  }
  ep_cookie_parser_wipe(&p);
  return r;
}

/* 20 capital letters, uniformly: bytes of 234 and above are thrown away so
 * that each letter gets exactly 9 of the 234 values left. */
static int random_letters(char *out, size_t n, why_t *w, const char *path) {
  uint8_t rnd[64];
  size_t got = 0;
  for (int round = 0; got < n && round < 16; round++) {
    int e = uv_random(NULL, NULL, rnd, sizeof rnd, 0, NULL);
    if (e) {
      why(w, "cannot create cookie file %s: no randomness (%s)", path, uv_strerror(e));
      return EP_ENOCOOKIE;
    }
    for (size_t i = 0; i < sizeof rnd && got < n; i++)
      if (rnd[i] < 234) out[got++] = (char)('A' + rnd[i] % 26);
  }
  memset(rnd, 0, sizeof rnd);
  if (got < n) {
    why(w, "cannot create cookie file %s: the random source gave no usable bytes", path);
    return EP_ENOCOOKIE;
  }
  return 0;
}

/* Creates path exclusively (someone else creating it first is fine: it is
 * then read like any other). A half-written file is removed, so the next
 * start does not find an empty cookie. */
static int create_one(const char *path, why_t *w) {
  char c[20];
  int r = random_letters(c, sizeof c, w, path);
  if (r) return r;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
  if (fd < 0) {
    memset(c, 0, sizeof c);
    if (errno == EEXIST) return 0;
    why(w, "failed to create cookie file %s: %s", path, strerror(errno));
    return EP_ENOCOOKIE;
  }
  /* erl sets the mode after writing: 0400 whatever the umask */
  ssize_t k;
  do k = write(fd, c, sizeof c);
  while (k < 0 && errno == EINTR);
  int e = k == (ssize_t)sizeof c ? 0 : k < 0 ? errno : EIO;
  if (!e && fchmod(fd, 0400) != 0) e = errno;
  if (close(fd) != 0 && !e) e = errno;
  memset(c, 0, sizeof c);
  if (e) {
    unlink(path);
    why(w, "failed to write cookie file %s: %s", path, strerror(e));
    return EP_ENOCOOKIE;
  }
  return 0;
}

static bool join(char *out, size_t cap, const char *a, const char *b) {
  int n = snprintf(out, cap, "%s%s", a, b);
  return n >= 0 && (size_t)n < cap;
}

int ep_cookie_file_read(uint8_t *out, size_t cap, size_t *len, char *reason, size_t reason_cap) {
  why_t w = {reason, reason_cap};
  if (reason && reason_cap) reason[0] = 0;
  const char *home = getenv("HOME");
  const char *xdg = getenv("XDG_CONFIG_HOME");
  if (home && !*home) home = NULL;
  if (xdg && !*xdg) xdg = NULL;
  char home_path[4096] = "", xdg_path[4096] = "";
  if (home && !join(home_path, sizeof home_path, home, "/.erlang.cookie")) {
    why(&w, "no cookie file: HOME is too long");
    return EP_ENOCOOKIE;
  }
  if (xdg ? !join(xdg_path, sizeof xdg_path, xdg, "/erlang/.erlang.cookie")
          : home && !join(xdg_path, sizeof xdg_path, home, "/.config/erlang/.erlang.cookie")) {
    why(&w, "no cookie file: XDG_CONFIG_HOME or HOME is too long");
    return EP_ENOCOOKIE;
  }
  if (!home && !xdg) {
    why(&w, "no home for cookie file: HOME is not set");
    return EP_ENOCOOKIE;
  }
  /* $HOME/.erlang.cookie, else the XDG one, else create the first that
   * there is a home for (erl creates the XDG one only without a HOME). */
  int r;
  if (home && (r = read_one(home_path, out, cap, len, &w)) != NOT_FOUND) return r;
  if ((r = read_one(xdg_path, out, cap, len, &w)) != NOT_FOUND) return r;
  const char *make = home ? home_path : xdg_path;
  if ((r = create_one(make, &w)) != 0) return r;
  r = read_one(make, out, cap, len, &w);
  if (r == NOT_FOUND) {
    why(&w, "cookie file %s vanished right after it was created", make);
    r = EP_ENOCOOKIE;
  }
  return r;
}
