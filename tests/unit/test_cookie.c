/* The cookie file's text, checked as OTP's auth.erl check_cookie/2 does.
 * Each vector states what erl 25 does with a file of those bytes. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ep_checkrun.h"
#include "ep_cookie.h"
#include "ep_error.h"

typedef struct vec {
  const char *in;
  size_t len; /* 0: strlen(in) */
  int err;
  const char *cookie; /* expected when err == 0 */
  size_t err_pos;     /* expected offset of the bad byte for ECOOKIECHARS */
} vec;

static const vec vectors[] = {
    {"ABCDEFGHIJKLMNOPQRST", 0, 0, "ABCDEFGHIJKLMNOPQRST", 0},
    {"secret\n", 0, 0, "secret", 0},
    {"secret\r\n", 0, 0, "secret", 0},
    {"secret\n\n\r\n  \n", 0, 0, "secret", 0},
    /* trailing spaces belong to the cookie: erl keeps them */
    {"secret  \n", 0, 0, "secret  ", 0},
    {"secret  ", 0, 0, "secret  ", 0},
    {"  lead", 0, 0, "  lead", 0},
    {"with inner space", 0, 0, "with inner space", 0},
    {" !\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~", 0, 0, " !\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~", 0},
    {"   ", 0, 0, "   ", 0},
    /* refused: a second line, tabs, control bytes, NUL, non-ASCII */
    {"secret\nmore", 0, EP_ECOOKIECHARS, NULL, 7},
    {"secret\n\n x", 0, EP_ECOOKIECHARS, NULL, 9},
    {"sec\tret", 0, EP_ECOOKIECHARS, NULL, 3},
    {"secret\t", 0, EP_ECOOKIECHARS, NULL, 6},
    {"secret\n\t", 0, EP_ECOOKIECHARS, NULL, 7},
    {"sec\0ret", 7, EP_ECOOKIECHARS, NULL, 3},
    {"caf\xc3\xa9", 0, EP_ECOOKIECHARS, NULL, 3},
    {"\x7f", 0, EP_ECOOKIECHARS, NULL, 0},
    {"\nsecret", 0, EP_ECOOKIECHARS, NULL, 1},
    {"\x1b[0m", 0, EP_ECOOKIECHARS, NULL, 0},
    /* no cookie character at all: "Too short cookie string" */
    {"", 0, EP_ECOOKIESHORT, NULL, 0},
    {"\n", 0, EP_ECOOKIESHORT, NULL, 0},
    {"\r\n\r\n", 0, EP_ECOOKIESHORT, NULL, 0},
};

static size_t vlen(const vec *v) { return v->len ? v->len : strlen(v->in); }

START_TEST(table) {
  for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
    const vec *v = &vectors[i];
    size_t cl = 99, pos = 99;
    int r = ep_cookie_parse((const uint8_t *)v->in, vlen(v), &cl, &pos);
    ck_assert_msg(r == v->err, "vector %zu: got %s, want %s", i, ep_err_name(r), ep_err_name(v->err));
    if (!r) {
      ck_assert_uint_eq(cl, strlen(v->cookie));
      ck_assert(memcmp(v->in, v->cookie, cl) == 0);
    } else {
      ck_assert_uint_eq(cl, 0);
      if (r == EP_ECOOKIECHARS) ck_assert_msg(pos == v->err_pos, "vector %zu: pos %zu", i, pos);
    }
  }
}
END_TEST

/* The same answer whatever the pieces the file arrives in: every split
 * into two pieces, and one byte at a time. */
START_TEST(any_split) {
  for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
    const vec *v = &vectors[i];
    const uint8_t *in = (const uint8_t *)v->in;
    size_t n = vlen(v);
    for (size_t cut = 0; cut <= n; cut++) {
      ep_cookie_parser p;
      ep_cookie_parser_init(&p);
      int r = ep_cookie_parser_feed(&p, in, cut);
      if (!r) r = ep_cookie_parser_feed(&p, in + cut, n - cut);
      if (!r) r = ep_cookie_parser_finish(&p);
      ck_assert_int_eq(r, v->err);
      if (!r) ck_assert(p.len == strlen(v->cookie) && memcmp(p.cookie, v->cookie, p.len) == 0);
      if (r == EP_ECOOKIECHARS) {
        ck_assert_uint_eq(p.pos, v->err_pos);
        ck_assert_uint_eq(p.bad, in[v->err_pos]);
      }
    }
    ep_cookie_parser p;
    ep_cookie_parser_init(&p);
    int r = 0;
    for (size_t k = 0; k < n && !r; k++) r = ep_cookie_parser_feed(&p, in + k, 1);
    if (!r) r = ep_cookie_parser_finish(&p);
    ck_assert_int_eq(r, v->err);
  }
}
END_TEST

START_TEST(length_limit) {
  uint8_t buf[600];
  memset(buf, 'K', sizeof buf);
  size_t cl, pos;
  /* 255 characters is the most erl takes (an atom), with or without newline */
  ck_assert_int_eq(ep_cookie_parse(buf, EP_LIMIT_COOKIE_CHARS, &cl, &pos), 0);
  ck_assert_uint_eq(cl, 255);
  buf[255] = '\n';
  ck_assert_int_eq(ep_cookie_parse(buf, 256, &cl, &pos), 0);
  ck_assert_uint_eq(cl, 255);
  /* 256: refused, not cut */
  buf[255] = 'K';
  ck_assert_int_eq(ep_cookie_parse(buf, 256, &cl, &pos), EP_ECOOKIELONG);
  ck_assert_uint_eq(pos, 255);
  ck_assert_int_eq(ep_cookie_parse(buf, sizeof buf, &cl, &pos), EP_ECOOKIELONG);
  /* trailing spaces count: they are part of the cookie */
  memset(buf + 250, ' ', 10);
  ck_assert_int_eq(ep_cookie_parse(buf, 260, &cl, &pos), EP_ECOOKIELONG);
}
END_TEST

START_TEST(long_tail_is_bounded_and_fine) {
  /* a huge run of newlines after the cookie: accepted, nothing kept */
  ep_cookie_parser p;
  ep_cookie_parser_init(&p);
  ck_assert_int_eq(ep_cookie_parser_feed(&p, (const uint8_t *)"abc", 3), 0);
  uint8_t nl[4096];
  memset(nl, '\n', sizeof nl);
  for (int i = 0; i < 1000; i++) ck_assert_int_eq(ep_cookie_parser_feed(&p, nl, sizeof nl), 0);
  ck_assert_int_eq(ep_cookie_parser_finish(&p), 0);
  ck_assert_uint_eq(p.len, 3);
  ck_assert_uint_eq(p.pos, 3 + 1000u * sizeof nl);
}
END_TEST

START_TEST(errors_are_sticky_and_wipe_clears) {
  ep_cookie_parser p;
  ep_cookie_parser_init(&p);
  ck_assert_int_eq(ep_cookie_parser_feed(&p, (const uint8_t *)"ab\tc", 4), EP_ECOOKIECHARS);
  ck_assert_int_eq(ep_cookie_parser_feed(&p, (const uint8_t *)"x", 1), EP_ECOOKIECHARS);
  ck_assert_int_eq(ep_cookie_parser_finish(&p), EP_ECOOKIECHARS);
  ck_assert_uint_eq(p.bad, '\t');
  ep_cookie_parser_init(&p);
  ck_assert_int_eq(ep_cookie_parser_feed(&p, (const uint8_t *)"secret", 6), 0);
  ep_cookie_parser_wipe(&p);
  ck_assert_uint_eq(p.len, 0);
  for (size_t i = 0; i < sizeof p.cookie; i++) ck_assert_uint_eq(p.cookie[i], 0);
}
END_TEST

START_TEST(no_overread) {
  /* input placed right before a guard page: every vector, read in place */
  long pg = sysconf(_SC_PAGESIZE);
  uint8_t *m = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ck_assert(m != MAP_FAILED);
  ck_assert_int_eq(mprotect(m + pg, (size_t)pg, PROT_NONE), 0);
  for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
    size_t n = vlen(&vectors[i]);
    uint8_t *p = m + pg - n;
    memcpy(p, vectors[i].in, n);
    size_t cl;
    ck_assert_int_eq(ep_cookie_parse(p, n, &cl, NULL), vectors[i].err);
  }
  munmap(m, (size_t)pg * 2);
}
END_TEST

int main(void) {
  Suite *s = suite_create("cookie");
  TCase *tc = tcase_create("parse");
  tcase_add_test(tc, table);
  tcase_add_test(tc, any_split);
  tcase_add_test(tc, length_limit);
  tcase_add_test(tc, long_tail_is_bounded_and_fine);
  tcase_add_test(tc, errors_are_sticky_and_wipe_clears);
  tcase_add_test(tc, no_overread);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
