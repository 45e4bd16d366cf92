/* Float text does not follow the program's locale.
 *
 * erlpeer is a library: the program linking it may call
 * setlocale(LC_ALL, "") and run where the decimal point is a comma. Erlang
 * syntax, FLOAT_EXT and io_lib's ~e/~f/~g always use '.', so every float
 * that goes through ep_text, ep_decode or ep_iolib must read and print the
 * same bytes under de_DE.UTF-8 as under C. The locale comes from
 * scripts/setup.sh; a machine without it fails here (on purpose: a skipped
 * test would prove nothing). The "fallback" case runs the same tests with
 * the helpers forced onto their path for a failed newlocale() (see
 * dist/ep_cfloat.c).
 */
#include <check.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_cfloat_int.h"
#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_failmem.h"
#include "ep_etf.h"
#include "ep_iolib.h"
#include "ep_text.h"

static const char *const de_names[] = {"de_DE.UTF-8", "de_DE.utf8"};

/* Switches the whole process to a comma-decimal locale, as a program that
 * calls setlocale(LC_ALL, "") with LANG=de_DE.UTF-8 would. */
static void comma_locale(void) {
  for (size_t i = 0; i < sizeof de_names / sizeof de_names[0]; i++) {
    if (setlocale(LC_ALL, de_names[i])) {
      ck_assert_str_eq(localeconv()->decimal_point, ",");
      return;
    }
  }
  ck_abort_msg("locale de_DE.UTF-8 is not installed: run scripts/setup.sh (as root) to generate it");
}

static locale_t new_de_locale(void) {
  for (size_t i = 0; i < sizeof de_names / sizeof de_names[0]; i++) {
    locale_t l = newlocale(LC_ALL_MASK, de_names[i], (locale_t)0);
    if (l) return l;
  }
  ck_abort_msg("locale de_DE.UTF-8 is not installed: run scripts/setup.sh (as root) to generate it");
  return (locale_t)0;
}

static uint64_t bits(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return u;
}

/* ep_print of t as a NUL-terminated string (caller frees). */
static char *print(ep_term t) {
  ep_buf b;
  ep_buf_init(&b, NULL);
  ck_assert_int_eq(ep_print(&b, t), 0);
  char *s = malloc(b.len + 1);
  ck_assert_ptr_nonnull(s);
  if (b.len) memcpy(s, b.data, b.len);
  s[b.len] = 0;
  ep_buf_free(&b);
  return s;
}

static double parse_float(ep_arena *a, const char *text) {
  ep_term t;
  ep_text_error err;
  int rc = ep_parse_str(a, text, &t, &err);
  ck_assert_msg(rc == 0, "%s: parse failed (%s)", text, ep_err_name(rc));
  ck_assert_msg(t.type == EP_T_FLOAT, "%s: parsed to type %d, not a float", text, (int)t.type);
  return t.v.f;
}

/* Doubles with the exact text erl prints for them (float_to_list(F,
 * [short]), ~w), including subnormals and the extremes. */
static const struct {
  double d;
  const char *s;
} vectors[] = {
    {1.5, "1.5"},
    {-0.0, "-0.0"},
    {0.0, "0.0"},
    {1.0e-300, "1.0e-300"},
    {3.141592653589793, "3.141592653589793"},
    {0.1, "0.1"},
    {-2.25e-7, "-2.25e-7"},
    {100.0, "100.0"},
    {1e15, "1.0e15"},
    {1.23e-4, "1.23e-4"},
    {0.30000000000000004, "0.30000000000000004"},
    {6.126734894067219e17, "6.126734894067219e17"},
    {9007199254740991.0, "9007199254740991.0"},
    {1.7976931348623157e308, "1.7976931348623157e308"},
    {2.2250738585072014e-308, "2.2250738585072014e-308"}, /* smallest normal */
    {2.225073858507201e-308, "2.225073858507201e-308"},   /* largest subnormal */
    {1e-310, "1.0e-310"},
    {5e-324, "5.0e-324"}, /* smallest subnormal */
    {-5e-324, "-5.0e-324"},
};

START_TEST(floats_print_with_a_point_in_a_comma_locale) {
  comma_locale();
  for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
    char *s = print(ep_float(vectors[i].d));
    ck_assert_msg(strcmp(s, vectors[i].s) == 0, "printed %s, want %s", s, vectors[i].s);
    free(s);
  }
  /* the locale of the program is left as it was */
  ck_assert_str_eq(localeconv()->decimal_point, ",");
}
END_TEST

START_TEST(floats_parse_with_a_point_in_a_comma_locale) {
  comma_locale();
  ep_arena *a = ep_arena_new(NULL);
  for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
    double d = parse_float(a, vectors[i].s);
    ck_assert_msg(bits(d) == bits(vectors[i].d), "%s parsed to bits %016" PRIx64 ", want %016" PRIx64, vectors[i].s, bits(d), bits(vectors[i].d));
  }
  /* more digits than a double holds, and exponents written in every way */
  ck_assert(bits(parse_float(a, "4.9406564584124654e-324")) == bits(0x1p-1074));
  ck_assert(bits(parse_float(a, "3.14159265358979323846264338327950288")) == bits(3.141592653589793));
  ck_assert(bits(parse_float(a, "1.0E+2")) == bits(100.0));
  /* a literal longer than any stack buffer a conversion might use */
  char lit[602] = "0.1";
  memset(lit + 3, '0', 597);
  lit[600] = '1';
  lit[601] = 0;
  ck_assert(bits(parse_float(a, lit)) == bits(0.1));
  ep_term t;
  ck_assert_int_eq(ep_parse_str(a, "{1.5,[2.25|0.125]}", &t, NULL), 0);
  ck_assert(bits(t.v.items[0].v.f) == bits(1.5));
  char *s = print(t);
  ck_assert_str_eq(s, "{1.5,[2.25|0.125]}");
  free(s);
  /* a comma is still a separator, never a decimal point */
  ck_assert_int_eq(ep_parse_str(a, "[1,5]", &t, NULL), 0);
  ck_assert_int_eq(ep_list_len(t), 2);
  ck_assert_int_ne(ep_parse_str(a, "1,5", &t, NULL), 0);
  ck_assert_str_eq(localeconv()->decimal_point, ",");
  ep_arena_free(a);
}
END_TEST

/* xorshift64*: a fixed, reproducible stream of bit patterns. */
static uint64_t next_bits(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1DULL;
}

static double random_double(uint64_t *s) {
  for (;;) {
    uint64_t u = next_bits(s);
    double d;
    memcpy(&d, &u, sizeof d);
    if (isfinite(d)) return d;
  }
}

/* Any double prints to the same bytes as in the C locale, and reads back
 * to the same bits. The C-locale text is made in the same process with a
 * thread locale of "C" (uselocale), the comma one under the global locale. */
START_TEST(random_doubles_print_as_in_c_and_round_trip) {
  comma_locale();
  locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
  ck_assert_ptr_nonnull(c);
  ep_arena *a = ep_arena_new(NULL);
  uint64_t seed = 0x9E3779B97F4A7C15ULL;
  for (int i = 0; i < 20000; i++) {
    double d = random_double(&seed);
    if (i % 4 == 1) d = ldexp(d, -1000); /* many subnormals and tiny ones */
    if (i % 4 == 2) d = (double)(int64_t)(next_bits(&seed) >> (i % 60)); /* integers */
    locale_t old = uselocale(c);
    char *want = print(ep_float(d));
    uselocale(old);
    char *got = print(ep_float(d));
    ck_assert_msg(strcmp(got, want) == 0, "bits %016" PRIx64 " printed %s, in C %s", bits(d), got, want);
    ck_assert_msg(!strchr(got, ','), "bits %016" PRIx64 " printed %s", bits(d), got);
    double back = parse_float(a, got);
    ck_assert_msg(bits(back) == bits(d), "%s read back as bits %016" PRIx64 ", want %016" PRIx64, got, bits(back), bits(d));
    free(want);
    free(got);
    if (i % 1000 == 0) ep_arena_reset(a);
  }
  ep_arena_free(a);
  freelocale(c);
}
END_TEST

/* A program may also switch one thread to its own locale (uselocale); it
 * must be in place again afterwards. */
START_TEST(a_thread_locale_is_honoured_and_restored) {
  locale_t de = new_de_locale();
  locale_t old = uselocale(de);
  ep_arena *a = ep_arena_new(NULL);
  char *s = print(ep_float(3.141592653589793));
  ck_assert_str_eq(s, "3.141592653589793");
  free(s);
  ck_assert(bits(parse_float(a, "2.5e-3")) == bits(2.5e-3));
  ck_assert_ptr_eq(uselocale((locale_t)0), de);
  ck_assert_str_eq(localeconv()->decimal_point, ",");
  uselocale(old);
  freelocale(de);
  ep_arena_free(a);
}
END_TEST

/* The old text form of floats: FLOAT_EXT, 31 bytes of "%.20e" text, NUL
 * padded. Erlang writes it with a point; a comma is not a float there. */
static int decode_float_ext(const char *text, double *out) {
  uint8_t buf[33];
  memset(buf, 0, sizeof buf);
  buf[0] = 131;
  buf[1] = 99;
  memcpy(buf + 2, text, strlen(text));
  ep_arena *a = ep_arena_new(NULL);
  size_t pos = 0;
  ep_term t;
  int rc = ep_decode(a, buf, 33, &pos, &t, NULL);
  if (rc == 0) {
    ck_assert_int_eq(t.type, EP_T_FLOAT);
    ck_assert_uint_eq(pos, 33);
    *out = t.v.f;
  }
  ep_arena_free(a);
  return rc;
}

START_TEST(float_ext_text_decodes_in_a_comma_locale) {
  comma_locale();
  static const struct {
    const char *text;
    double d;
  } v[] = {
      {"1.50000000000000000000e+00", 1.5},
      {"1.00000000000000005551e-01", 0.1},
      {"-0.00000000000000000000e+00", -0.0},
      {"3.14159265358979311600e+00", 3.141592653589793},
      {"4.94065645841246544177e-324", 5e-324},
      {"1.79769313486231570815e+308", 1.7976931348623157e308},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    double d = 0;
    int rc = decode_float_ext(v[i].text, &d);
    ck_assert_msg(rc == 0, "%s: %s", v[i].text, ep_err_name(rc));
    ck_assert_msg(bits(d) == bits(v[i].d), "%s decoded to bits %016" PRIx64 ", want %016" PRIx64, v[i].text, bits(d), bits(v[i].d));
  }
  double d;
  ck_assert_int_eq(decode_float_ext("1,50000000000000000000e+00", &d), EP_EBADFLOAT);
  ck_assert_int_eq(decode_float_ext("1", &d), 0);
  ck_assert(d == 1.0);
}
END_TEST

static char *iofmt(ep_arena *a, const char *format, const char *args) {
  ep_term av;
  ck_assert_int_eq(ep_parse_str(a, args, &av, NULL), 0);
  ep_buf b;
  ep_buf_init(&b, NULL);
  int rc = ep_iolib_format(&b, ep_string(a, format), av);
  ck_assert_msg(rc == 0, "%s %s: %s", format, args, ep_err_name(rc));
  char *s = malloc(b.len + 1);
  ck_assert_ptr_nonnull(s);
  if (b.len) memcpy(s, b.data, b.len);
  s[b.len] = 0;
  ep_buf_free(&b);
  return s;
}

/* Expected strings as OTP 25's io_lib:format prints them. */
START_TEST(iolib_float_directives_in_a_comma_locale) {
  comma_locale();
  static const struct {
    const char *format, *args, *want;
  } v[] = {
      {"~f", "[1.5]", "1.500000"},
      {"~e", "[1.5]", "1.50000e+0"},
      {"~g", "[0.5]", "0.500000"},
      {"~g", "[123456789.0]", "1.23457e+8"},
      {"~g", "[1.0e-5]", "1.00000e-5"},
      {"~.3e", "[1234.5]", "1.23e+3"},
      {"~e", "[-1.5e300]", "-1.50000e+300"},
      {"~10.2f|", "[3.14159]", "      3.14|"},
      {"~-10.2f|", "[2.5]", "2.50      |"},
      {"~.1f", "[-0.0]", "-0.0"},
      {"~.2f", "[1.0e20]", "100000000000000000000.00"},
      {"~w", "[[1.5,-2.25e-7]]", "[1.5,-2.25e-7]"},
      {"~p", "[{3.141592653589793,5.0e-324}]", "{3.141592653589793,5.0e-324}"},
  };
  ep_arena *a = ep_arena_new(NULL);
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char *s = iofmt(a, v[i].format, v[i].args);
    ck_assert_msg(strcmp(s, v[i].want) == 0, "%s %s gave \"%s\", want \"%s\"", v[i].format, v[i].args, s,
                  v[i].want);
    free(s);
  }
  /* the widest ~f there is: 309 integer digits, the point, 100 decimals */
  char *s = iofmt(a, "~.100f", "[1.7976931348623157e308]");
  ck_assert_uint_eq(strlen(s), 309 + 1 + 100);
  ck_assert(strncmp(s, "17976931348623157081", 20) == 0);
  ck_assert_int_eq(s[309], '.');
  ck_assert(strspn(s + 310, "0") == 100);
  free(s);
  ck_assert_str_eq(localeconv()->decimal_point, ",");
  ep_arena_free(a);
}
END_TEST

/* First use from many threads at once (each test runs in a fresh process,
 * so this is the first float any thread formats). */
static void *thread_main(void *arg) {
  uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ULL + 1;
  ep_arena *a = ep_arena_new(NULL);
  intptr_t bad = 0;
  for (int i = 0; i < 3000 && !bad; i++) {
    double d = random_double(&seed);
    ep_buf b;
    ep_buf_init(&b, NULL);
    if (ep_print(&b, ep_float(d)) || ep_buf_put8(&b, 0)) {
      bad = 1;
    } else {
      ep_term t;
      if (strchr((char *)b.data, ',') || ep_parse_str(a, (char *)b.data, &t, NULL) || t.type != EP_T_FLOAT ||
          bits(t.v.f) != bits(d))
        bad = 1;
    }
    ep_buf_free(&b);
    if (i % 500 == 0) ep_arena_reset(a);
  }
  ep_arena_free(a);
  return (void *)bad;
}

START_TEST(threads_print_and_parse_at_once) {
  comma_locale();
  pthread_t th[4];
  for (uintptr_t i = 0; i < 4; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, thread_main, (void *)(i + 1)), 0);
  for (int i = 0; i < 4; i++) {
    void *bad;
    ck_assert_int_eq(pthread_join(th[i], &bad), 0);
    ck_assert_msg(bad == NULL, "thread %d printed or read a float wrongly", i);
  }
}
END_TEST

/* The paths ep_iolib allocates on (deep chardata, bignums, ~tp of a
 * binary, pretty layout) use the caller's allocator and give EP_ENOMEM,
 * leaving nothing allocated, wherever an allocation fails. */
START_TEST(iolib_allocation_failure_is_reported) {
  comma_locale();
  ep_arena *a = ep_arena_new(NULL);
  ep_term av;
  ck_assert_int_eq(ep_parse_str(a,
                                "[[[[[[[[[[[[[[[[[[[[\"deep\"]]]]]]]]]]]]]]]]]]], 1.5, 2.5e-3, 12345678901234567890123,"
                                "<<\"h\\x{e9}llo\"/utf8>>, [1.5,2.5,{x,3.25}]]",
                                &av, NULL),
                   0);
  ep_term f = ep_string(a, "~s ~f ~g ~b ~tp ~w~n");
  ep_failmem fm;
  ep_failmem_init(&fm);
  char *want = NULL;
  {
    ep_buf b;
    ep_buf_init(&b, NULL);
    ck_assert_int_eq(ep_iolib_format(&b, f, av), 0);
    want = strndup((char *)b.data, b.len);
    ep_buf_free(&b);
  }
  ck_assert_str_eq(want, "deep 1.500000 2.50000e-3 12345678901234567890123 <<\"h\u00e9llo\"/utf8>> [1.5,2.5,{x,3.25}]\n");
  for (long i = 1; i < 10000; i++) {
    ep_failmem_fail_once(&fm, i);
    ep_buf b;
    ep_buf_init(&b, &fm.mem);
    int rc = ep_iolib_format(&b, f, av);
    if (!ep_failmem_failed(&fm)) {
      ck_assert_int_eq(rc, 0);
      ck_assert(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0);
      ep_buf_free(&b);
      break;
    }
    ck_assert_msg(rc == EP_ENOMEM, "allocation %ld failed: got %s", i, ep_err_name(rc));
    ep_buf_free(&b);
    ck_assert_int_eq(fm.live, 0);
  }
  ck_assert_int_eq(fm.live, 0);
  free(want);
  ep_arena_free(a);
}
END_TEST

static void force_fallback(void) { ep__cfloat_force_fallback(1); }

int main(void) {
  Suite *s = suite_create("locale");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, floats_print_with_a_point_in_a_comma_locale);
  tcase_add_test(tc, floats_parse_with_a_point_in_a_comma_locale);
  tcase_add_test(tc, random_doubles_print_as_in_c_and_round_trip);
  tcase_add_test(tc, a_thread_locale_is_honoured_and_restored);
  tcase_add_test(tc, float_ext_text_decodes_in_a_comma_locale);
  tcase_add_test(tc, iolib_float_directives_in_a_comma_locale);
  tcase_add_test(tc, threads_print_and_parse_at_once);
  tcase_add_test(tc, iolib_allocation_failure_is_reported);
  suite_add_tcase(s, tc);
  /* the same, as if newlocale() had failed: the radix is translated */
  TCase *fb = tcase_create("fallback");
  tcase_set_timeout(fb, 120);
  tcase_add_checked_fixture(fb, force_fallback, NULL);
  tcase_add_test(fb, floats_print_with_a_point_in_a_comma_locale);
  tcase_add_test(fb, floats_parse_with_a_point_in_a_comma_locale);
  tcase_add_test(fb, random_doubles_print_as_in_c_and_round_trip);
  tcase_add_test(fb, a_thread_locale_is_honoured_and_restored);
  tcase_add_test(fb, float_ext_text_decodes_in_a_comma_locale);
  tcase_add_test(fb, iolib_float_directives_in_a_comma_locale);
  tcase_add_test(fb, threads_print_and_parse_at_once);
  suite_add_tcase(s, fb);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
