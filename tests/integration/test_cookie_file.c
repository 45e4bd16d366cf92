/* The cookie file against a real erl: every file erl refuses, our node
 * refuses too, naming the file and the reason; the files erl takes (spaces
 * kept, trailing line ends dropped, the XDG place, one we create) give the
 * cookie erl reads, proven by a ping; an explicit cookie ignores the file. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ep_checkrun.h"
#include "ep_cookie_file.h"
#include "ep_error.h"
#include "ep_node.h"
#include "ep_testenv.h"

static ep_testenv *env;
static char path[512];

static void setup(void) {
  env = ep_testenv_new();
  snprintf(path, sizeof path, "%s/.erlang.cookie", ep_testenv_home(env));
  unsetenv("XDG_CONFIG_HOME");
}
static void teardown(void) {
  ep_testenv_free(env);
  env = NULL;
}

static void write_file(const char *p, const void *data, size_t len, mode_t mode) {
  unlink(p);
  int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
  close(fd);
  ck_assert_int_eq(chmod(p, mode), 0);
}

static int start_node(const char *cookie, ep_node **out) {
  ep_node_opts *o = ep_node_opts_new();
  ep_node_opts_set_epmd_mode(o, EP_EPMD_NONE);
  if (cookie) ck_assert_int_eq(ep_node_opts_set_cookie(o, cookie), 0);
  int r = ep_node_start_sync(o, out);
  ep_node_opts_free(o);
  return r;
}

/* What a real erl makes of the current file: its exit status, and whether
 * its output holds want. */
static void erl_refuses(const char *want) {
  const char *argv[] = {"erl", "-sname", "judge", "-noshell", "-noinput", "-eval", "halt().", NULL};
  char *out = NULL, *err = NULL;
  int st = ep_testenv_run(argv, NULL, 0, &out, NULL, &err, 30000);
  ck_assert_msg(st != 0, "erl accepted the file");
  ck_assert_msg((out && strstr(out, want)) || (err && strstr(err, want)), "erl said: %s %s", out ? out : "",
                err ? err : "");
  free(out);
  free(err);
}

typedef struct bad {
  const char *text;
  size_t len; /* 0: strlen */
  mode_t mode;
  int err;
  const char *ours; /* in our reason */
  const char *erls; /* in erl's report */
} bad;

static const bad bads[] = {
    {"ABCDEF", 0, 0644, EP_ECOOKIEPERM, "must be accessible by owner only (its mode is 0644", "must be accessible by owner only"},
    {"ABCDEF", 0, 0440, EP_ECOOKIEPERM, "must be accessible by owner only (its mode is 0440", "must be accessible by owner only"},
    {"ABC\tDEF", 0, 0400, EP_ECOOKIECHARS, "byte 0x09 at offset 3", "Bad characters in cookie"},
    {"caf\xc3\xa9", 0, 0400, EP_ECOOKIECHARS, "byte 0xc3 at offset 3", "Bad characters in cookie"},
    {"ABC\nDEF\n", 0, 0400, EP_ECOOKIECHARS, "byte 0x44 at offset 4", "Bad characters in cookie"},
    {"\n", 0, 0400, EP_ECOOKIESHORT, "holds no cookie", "Too short cookie string"},
    /* 256 characters: erl's atom limit stops its kernel (system_limit) */
    {NULL, 256, 0400, EP_ECOOKIELONG, "longer than 255 characters", "system_limit"},
};

START_TEST(refused_as_erl_refuses) {
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  const bad *b = &bads[_i];
  char longc[256];
  memset(longc, 'K', sizeof longc);
  const char *text = b->text ? b->text : longc;
  write_file(path, text, b->len ? b->len : strlen(text), b->mode);
  ep_node *n = NULL;
  ck_assert_int_eq(start_node(NULL, &n), b->err);
  uint8_t c[300];
  size_t len = 0;
  char why[600];
  ck_assert_int_eq(ep_cookie_file_read(c, sizeof c, &len, why, sizeof why), b->err);
  ck_assert_msg(strstr(why, path) && strstr(why, b->ours), "reason: %s", why);
  erl_refuses(b->erls);
  /* an explicit cookie does not look at the file */
  ck_assert_int_eq(start_node("explicit", &n), 0);
  ep_node_free(n);
}
END_TEST

START_TEST(not_a_regular_file) {
  unlink(path);
  ck_assert_int_eq(mkdir(path, 0700), 0);
  ep_node *n = NULL;
  ck_assert_int_eq(start_node(NULL, &n), EP_ECOOKIETYPE);
  char why[600];
  uint8_t c[300];
  size_t len;
  ck_assert_int_eq(ep_cookie_file_read(c, sizeof c, &len, why, sizeof why), EP_ECOOKIETYPE);
  ck_assert_msg(strstr(why, path) && strstr(why, "directory"), "reason: %s", why);
  rmdir(path);
}
END_TEST

/* Our node and a real erl on the same file reach each other. */
static void ping_erl_with_file(void) {
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  char node[256];
  ck_assert_int_gt(ep_testenv_start_erl(env, "target", NULL, node, sizeof node), 0);
  ep_node *n = NULL;
  ck_assert_int_eq(start_node(NULL, &n), 0);
  ck_assert_int_eq(ep_node_ping_sync(n, node, 10000), 0);
  ep_node_free(n);
}

typedef struct good {
  const char *text;
  const char *cookie;
} good;

static const good goods[] = {
    /* trailing spaces belong to the cookie, as in erl (we used to strip them) */
    {"Trailing  \n", "Trailing  "},
    {"CRLF\r\n\r\n  \n", "CRLF"},
    {" !#$%&()*+,-./:;<=>?@[]^_`{|}~", " !#$%&()*+,-./:;<=>?@[]^_`{|}~"},
    {NULL, NULL}, /* 255 characters */
};

START_TEST(accepted_as_erl_accepts) {
  char longc[256];
  memset(longc, 'L', 255);
  longc[255] = 0;
  const good *g = &goods[_i];
  const char *text = g->text ? g->text : longc, *want = g->cookie ? g->cookie : longc;
  write_file(path, text, strlen(text), 0400);
  uint8_t c[300];
  size_t len = 0;
  char why[600];
  ck_assert_int_eq(ep_cookie_file_read(c, sizeof c, &len, why, sizeof why), 0);
  ck_assert_uint_eq(len, strlen(want));
  ck_assert(memcmp(c, want, len) == 0);
  ck_assert_str_eq(why, "");
  ping_erl_with_file();
}
END_TEST

START_TEST(missing_file_is_created_for_both) {
  unlink(path);
  ep_node *n = NULL;
  ck_assert_int_eq(start_node(NULL, &n), 0);
  ep_node_free(n);
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_uint_eq(st.st_mode & 07777, 0400);
  ck_assert_int_eq((int)st.st_size, 20);
  uint8_t c[300];
  size_t len = 0;
  ck_assert_int_eq(ep_cookie_file_read(c, sizeof c, &len, NULL, 0), 0);
  ck_assert_uint_eq(len, 20);
  for (size_t i = 0; i < len; i++) ck_assert(c[i] >= 'A' && c[i] <= 'Z');
  ping_erl_with_file();
}
END_TEST

START_TEST(xdg_place_when_home_has_none) {
  unlink(path);
  char dir[600], xdg[700];
  snprintf(dir, sizeof dir, "%s/cfg", ep_testenv_home(env));
  ck_assert_int_eq(mkdir(dir, 0700), 0);
  snprintf(xdg, sizeof xdg, "%s/erlang", dir);
  ck_assert_int_eq(mkdir(xdg, 0700), 0);
  strcat(xdg, "/.erlang.cookie");
  write_file(xdg, "FROMXDG\n", 8, 0400);
  setenv("XDG_CONFIG_HOME", dir, 1);
  uint8_t c[300];
  size_t len = 0;
  ck_assert_int_eq(ep_cookie_file_read(c, sizeof c, &len, NULL, 0), 0);
  ck_assert_uint_eq(len, 7);
  ck_assert(memcmp(c, "FROMXDG", 7) == 0);
  ck_assert_int_ne(access(path, F_OK), 0); /* nothing created in HOME */
  ping_erl_with_file();
  /* a bad XDG file is refused with its own path */
  chmod(xdg, 0604);
  char why[800];
  ck_assert_int_eq(ep_cookie_file_read(c, sizeof c, &len, why, sizeof why), EP_ECOOKIEPERM);
  ck_assert_msg(strstr(why, xdg) != NULL, "reason: %s", why);
}
END_TEST

START_TEST(no_home) {
  unsetenv("HOME");
  uint8_t c[300];
  size_t len;
  char why[600];
  ck_assert_int_eq(ep_cookie_file_read(c, sizeof c, &len, why, sizeof why), EP_ENOCOOKIE);
  ck_assert_msg(strstr(why, "HOME") != NULL, "reason: %s", why);
  setenv("HOME", ep_testenv_home(env), 1);
}
END_TEST

int main(void) {
  Suite *s = suite_create("cookie_file");
  TCase *tc = tcase_create("cookie_file");
  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, refused_as_erl_refuses, 0, (int)(sizeof bads / sizeof bads[0]));
  tcase_add_test(tc, not_a_regular_file);
  tcase_add_loop_test(tc, accepted_as_erl_accepts, 0, (int)(sizeof goods / sizeof goods[0]));
  tcase_add_test(tc, missing_file_is_created_for_both);
  tcase_add_test(tc, xdg_place_when_home_has_none);
  tcase_add_test(tc, no_home);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
