/* io_lib:format in C. Expected strings were printed by OTP 25's
 * io_lib:format for the same format and arguments. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_iolib.h"
#include "ep_limits.h"
#include "ep_text.h"

static ep_arena *A;

/* Parses the format and the argument list from Erlang text, formats. */
static char *fmt(const char *format, const char *args, int *rc) {
  ep_term f = ep_string(A, format), av;
  ck_assert_int_eq(ep_parse_str(A, args, &av, NULL), 0);
  ep_buf b;
  ep_buf_init(&b, NULL);
  *rc = ep_iolib_format(&b, f, av);
  char *s = malloc(b.len + 1);
  memcpy(s, b.data ? (char *)b.data : "", b.len);
  s[b.len] = 0;
  ep_buf_free(&b);
  return s;
}

static const struct {
  const char *format, *args, *want;
} vectors[] = {
    {"~e", "[1.0]", "1.00000e+0"},
    {"~f", "[3.14159]", "3.141590"},
    {"~g", "[0.5]", "0.500000"},
    {"~g", "[123456789.0]", "1.23457e+8"},
    {"~g", "[1.0e-5]", "1.00000e-5"},
    {"~.3e", "[1234.5]", "1.23e+3"},
    {"~10.2f", "[3.14159]", "      3.14"},
    {"~-10.2f|", "[2.5]", "2.50      |"},
    {"~b", "[10]", "10"},
    {"~.16b", "[255]", "ff"},
    {"~.16B", "[255]", "FF"},
    {"~x", "[255, \"0x\"]", "0x255"},
    {"~X", "[-255, \"0x\"]", "-0x255"},
    {"~#", "[255]", "10#255"},
    {"~.16#", "[255]", "16#FF"},
    {"~c", "[97]", "a"},
    {"~5c", "[98]", "bbbbb"},
    {"~s", "[\"abc\"]", "abc"},
    {"~10s|", "[\"abc\"]", "       abc|"},
    {"~-10s|", "[\"abc\"]", "abc       |"},
    {"~.3s", "[\"abcdef\"]", "abc"},
    {"~w", "[{a,\"b\",<<1>>}]", "{a,[98],<<1>>}"},
    {"~p", "[\"str\"]", "\"str\""},
    {"~10w|", "[x]", "         x|"},
    {"~.2.0w", "[7]", "07"},
    {"~8.3.*f", "[48, 1.5]", "0001.500"},
    {"~e", "[0.0]", "0.00000e+0"},
    {"~e", "[-1.5e300]", "-1.50000e+300"},
    {"~g", "[1.0]", "1.00000"},
    {"~g", "[100000.0]", "1.00000e+5"},
    {"~s", "[[<<\"ab\">>, \"c\", 100]]", "abcd"},
    {"~s", "[abc]", "abc"},
    {"~i~w", "[a, b]", "b"},
    {"~3.16b", "[255]", " ff"},
    {"~*b|", "[5, 1]", "    1|"},
    {"~s", "[<<\"bin\">>]", "bin"},
    {"~.10e", "[1.0]", "1.000000000e+0"},
    {"~.2e", "[1.0]", "1.0e+0"},
    {"a~nb~~c", "[]", "a\nb~c"},
    {"~ts", "[<<\"caf\\303\\251\">>]", "caf\xc3\xa9"},
    {"~p ~p", "[1, [{a, b}]]", "1 [{a,b}]"},
    {"~b", "[123456789012345678901234567890]", "123456789012345678901234567890"},
    {"~.16b", "[-340282366920938463463374607431768211456]", "-100000000000000000000000000000000"},
    /* Latin-1 against Unicode, as OTP 25 prints them on a unicode device:
     * ~s reads a binary's bytes as Latin-1 characters, ~ts as UTF-8 (and
     * as Latin-1 when they are not UTF-8); ~c writes the low byte */
    {"~s", "[<<195,169>>]", "\xc3\x83\xc2\xa9"},
    {"~ts", "[<<195,169>>]", "\xc3\xa9"},
    {"~ts", "[<<233>>]", "\xc3\xa9"},
    {"~ts", "[[<<233>>, <<195,169>>]]", "\xc3\xa9\xc3\xa9"},
    {"~s", "[[233]]", "\xc3\xa9"},
    {"~c", "[8769]", "A"},
    {"~tc", "[8704]", "\xe2\x88\x80"},
    {"~x", "[255, pre]", "pre255"},
    /* atoms as io_lib writes them (OTP 25): Latin-1 name characters need no
     * quotes, ~p escapes what is over 255, controls are octal */
    {"~p", "['caf\\x{e9}']", "caf\xc3\xa9"},
    {"~p ~tp", "['\\x{3bb}', '\\x{3bb}']", "'\\x{3BB}' '\xce\xbb'"},
    {"~w", "['d\\x{7f}\\x{1}\\n']", "'d\\d\\001\\n'"},
    {"~w ~w ~w", "['receive', 'A', maybe]", "'receive' 'A' maybe"},
};

START_TEST(known_answers) {
  A = ep_arena_new(NULL);
  for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
    int rc;
    char *s = fmt(vectors[i].format, vectors[i].args, &rc);
    ck_assert_msg(rc == 0, "%s: rc %d", vectors[i].format, rc);
    ck_assert_msg(!strcmp(s, vectors[i].want), "%s: got [%s] want [%s]", vectors[i].format, s,
                  vectors[i].want);
    free(s);
  }
  ep_arena_free(A);
}
END_TEST

START_TEST(badarg_cases) {
  A = ep_arena_new(NULL);
  static const char *bad[][2] = {
      {"~p", "[]"},           /* too few */
      {"~p", "[1, 2]"},       /* too many */
      {"~d", "[1]"},          /* no such directive */
      {"~f", "[1]"},          /* integer for a float */
      {"~b", "[1.0]"},        /* float for an integer */
      {"~s", "[{a}]"},        /* not chardata */
      {"~", "[]"},            /* ends inside a directive */
      {"~.1b", "[1]"},        /* base 1 */
      {"~c", "[a]"},
      {"~a", "[a]"},          /* no such directive (it was an extension) */
      {"~s", "[[8704]]"},     /* ~s takes bytes: a code point over 255 */
      {"~s", "['\\x{2200}']"}, /* ... in an atom too */
      {"~s", "[[foo]]"},      /* an atom is text only on its own */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc;
    char *s = fmt(bad[i][0], bad[i][1], &rc);
    ck_assert_msg(rc == EP_EINVAL, "%s %s: rc %d", bad[i][0], bad[i][1], rc);
    ck_assert_str_eq(s, ""); /* output untouched */
    free(s);
  }
  ep_arena_free(A);
}
END_TEST

START_TEST(chardata) {
  A = ep_arena_new(NULL);
  ep_term t;
  ck_assert_int_eq(ep_parse_str(A, "[\"ab\", [99, [<<\"d\">>]], 8364 | <<\"!\">>]", &t, NULL), 0);
  ep_buf b;
  ep_buf_init(&b, NULL);
  ck_assert_int_eq(ep_iolib_chardata(&b, t), 0);
  ck_assert_uint_eq(b.len, 8);
  ck_assert_mem_eq(b.data, "abcd\xe2\x82\xac!", 8);
  b.len = 0;
  b.len = 0;
  uint8_t e9 = 0xE9;
  ck_assert_int_eq(ep_iolib_chardata_latin1(&b, EP_LIST(A, ep_binary(A, &e9, 1), ep_int(0xE9))), 0);
  ck_assert_uint_eq(b.len, 4);
  ck_assert_mem_eq(b.data, "\xc3\xa9\xc3\xa9", 4);
  b.len = 0;
  ck_assert_int_eq(ep_iolib_chardata(&b, EP_LIST(A, ep_int(0x110000))), EP_EINVAL);
  ck_assert_int_eq(ep_iolib_chardata(&b, EP_LIST(A, ep_atom("x"))), EP_EINVAL);
  ck_assert_int_eq(ep_iolib_chardata(&b, ep_atom("x")), EP_EINVAL); /* put_chars(foo) is badarg */
  ck_assert_int_eq(ep_iolib_chardata(&b, ep_int(65)), EP_EINVAL);
  ck_assert_int_eq(ep_iolib_chardata(&b, EP_LIST(A, ep_int(0xD800))), EP_EINVAL);
  ck_assert_int_eq(ep_iolib_chardata(&b, EP_LIST(A, ep_string(A, "ok"), ep_binary(A, &e9, 1))), EP_EINVAL);
  ck_assert_uint_eq(b.len, 0); /* output untouched by a failure */
  /* deep nesting is iterative, and bounded by EP_LIMIT_DEPTH */
  ep_term deep = ep_nil();
  for (int i = 0; i < 50000; i++) deep = EP_LIST(A, deep);
  ck_assert_int_eq(ep_iolib_chardata(&b, deep), 0);
  for (int i = 50000; i < (int)EP_LIMIT_DEPTH + 1; i++) deep = EP_LIST(A, deep);
  ck_assert_int_eq(ep_iolib_chardata(&b, EP_LIST(A, ep_int('x'), deep)), EP_EDEPTH);
  ck_assert_uint_eq(b.len, 0);
  ep_buf_free(&b);
  ep_arena_free(A);
}
END_TEST

/* ~p, ~tp and ~w of random nested terms, at various columns and line
 * lengths: {Format, Args, Output} as OTP 25's io_lib:format produced them
 * (tests/unit/test_iolib_vectors.txt, one term per line, printed with ~w). */
START_TEST(pretty_vectors_from_otp) {
  const char *src = getenv("EP_SOURCE_DIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/unit/test_iolib_vectors.txt", src ? src : ".");
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  static char line[1 << 16];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    ep_arena *a = ep_arena_new(NULL);
    ep_term t;
    ck_assert_int_eq(ep_parse_str(a, line, &t, NULL), 0);
    ep_buf got, want;
    ep_buf_init(&got, NULL);
    ep_buf_init(&want, NULL);
    ck_assert_int_eq(ep_iolib_format(&got, t.v.items[0], t.v.items[1]), 0);
    ck_assert_int_eq(ep_iolib_chardata(&want, t.v.items[2]), 0);
    ck_assert_msg(got.len == want.len && memcmp(got.data, want.data, got.len) == 0,
                  "vector %d:\nwant:\n%.*s\ngot:\n%.*s", n + 1, (int)want.len, (char *)want.data,
                  (int)got.len, (char *)got.data);
    ep_buf_free(&got);
    ep_buf_free(&want);
    ep_arena_free(a);
    n++;
  }
  fclose(f);
  ck_assert_int_gt(n, 100);
}
END_TEST

/* fuzz_iolib's slow unit (docs/fuzzing.md): ~p of a binary of about 1 MiB,
 * 8.7 s in the sanitized fuzz build. It is linear (about 0.15 s per MiB at
 * -O2): every byte is printed, in lines that fit the 80 columns. */
START_TEST(a_mebibyte_binary_pretty_printed) {
  enum { N = 1 << 20 };
  A = ep_arena_new(NULL);
  uint8_t *d = malloc(N);
  ck_assert_ptr_nonnull(d);
  for (size_t i = 0; i < N; i++) d[i] = (uint8_t)(i * 7);
  ep_buf b;
  ep_buf_init(&b, NULL);
  ck_assert_int_eq(ep_iolib_format(&b, ep_string(A, "~p"), EP_LIST(A, ep_binary(A, d, N))), 0);
  ck_assert_uint_gt(b.len, 3 * (size_t)N);
  ck_assert_int_eq(memcmp(b.data, "<<0,7,14,", 9), 0);
  ck_assert_int_eq(memcmp(b.data + b.len - 2, ">>", 2), 0);
  size_t commas = 0, col = 0, widest = 0;
  for (size_t i = 0; i < b.len; i++) {
    if (b.data[i] == ',') commas++;
    col = b.data[i] == '\n' ? 0 : col + 1;
    if (col > widest) widest = col;
  }
  ck_assert_uint_eq(commas, (size_t)N - 1);
  ck_assert_uint_le(widest, 80);
  ep_buf_free(&b);
  free(d);
  ep_arena_free(A);
}
END_TEST

int main(void) {
  Suite *s = suite_create("iolib");
  TCase *tc = tcase_create("format");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, known_answers);
  tcase_add_test(tc, badarg_cases);
  tcase_add_test(tc, chardata);
  tcase_add_test(tc, pretty_vectors_from_otp);
  tcase_add_test(tc, a_mebibyte_binary_pretty_printed);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
