/* ep_cfloat.c - float text in the "C" numeric locale. See ep_cfloat_int.h.
 *
 * Design. The conversions stay libc's strtod and snprintf (exact and
 * correctly rounded; writing our own would be a large risk for no gain);
 * only the locale they see changes:
 *  - One locale object with LC_NUMERIC = "C" (newlocale(LC_NUMERIC_MASK,
 *    "C", 0), POSIX 2008) is made on first use and kept for the life of the
 *    process. It is published with a compare-and-swap instead of
 *    pthread_once/call_once: threads racing on first use each make one,
 *    one wins and the others free theirs, and - unlike a once-flag - a
 *    failed newlocale (out of memory) is simply tried again next time.
 *  - Each call switches only the calling thread to it with uselocale() and
 *    back to whatever the thread had (the global locale or its own
 *    uselocale one). That is thread-local and a pointer swap in glibc: no
 *    lock, no effect on other threads, and setlocale() elsewhere in the
 *    program is not disturbed. Loops (ep__shortest_e_c) switch once, not
 *    per conversion. A single strtod uses strtod_l on glibc instead, which
 *    takes the locale as an argument (the switch cost 6-8% of parsing a
 *    list of floats); strtod_l is not POSIX and there is no snprintf_l, so
 *    elsewhere uselocale serves both.
 *  - Fallback, when no such object exists (newlocale failed: the "C"
 *    locale always exists, so only for lack of memory): convert under the
 *    thread's current locale and translate its radix, nl_langinfo(RADIXCHAR)
 *    (a string, possibly several bytes): printed text gets '.' back in
 *    place of the one radix %e/%f/%g write (they never group digits);
 *    text to read is copied with '.' turned into the radix, the copy
 *    stopping where the C locale would stop (at anything that cannot be in
 *    a number, the locale's own radix included, so "1,5" still reads as 1
 *    as in C). Nothing is done when the radix already is ".". Like any use
 *    of the global locale it assumes no other thread calls setlocale()
 *    meanwhile (POSIX does not make setlocale thread-safe anyway).
 * No I/O, clock or randomness here; the locale is only read.
 */
#include "ep_cfloat_int.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic(locale_t) c_numeric_loc;
static atomic_int force_fallback;

void ep__cfloat_force_fallback(int on) { atomic_store(&force_fallback, on); }

/* The shared LC_NUMERIC=C locale object, or (locale_t)0 for the fallback. */
static locale_t c_numeric(void) {
  if (atomic_load_explicit(&force_fallback, memory_order_relaxed)) return (locale_t)0;
  locale_t l = atomic_load_explicit(&c_numeric_loc, memory_order_acquire);
  if (l) return l;
  locale_t fresh = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
  if (!fresh) return (locale_t)0;
  locale_t expect = (locale_t)0;
  if (atomic_compare_exchange_strong_explicit(&c_numeric_loc, &expect, fresh, memory_order_acq_rel,
                                              memory_order_acquire))
    return fresh;
  freelocale(fresh); /* another thread won; use its object */
  return expect;
}

/* The radix of the thread's current locale when it is not ".", else NULL. */
static const char *foreign_radix(void) {
  const char *dp = nl_langinfo(RADIXCHAR);
  if (!dp || !*dp || (dp[0] == '.' && !dp[1])) return NULL;
  return dp;
}

/* Fallback for printed text: the locale's radix back to '.'. */
static int fix_radix(char *s) {
  const char *dp = foreign_radix();
  char *p = dp ? strstr(s, dp) : NULL;
  if (p) {
    size_t dl = strlen(dp);
    *p = '.';
    memmove(p + 1, p + dl, strlen(p + dl) + 1);
  }
  return (int)strlen(s);
}

/* What strtod may consume in the C locale: white space, signs, the point,
 * digits and letters (exponents, hex floats, inf, nan). ASCII only, so the
 * program's LC_CTYPE does not matter. */
static int c_number_char(char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '.' ||
         ch == '+' || ch == '-' || ch == ' ' || (ch >= '\t' && ch <= '\r');
}

static double strtod_fallback(const char *s, char **end) {
  const char *dp = foreign_radix();
  if (!dp) return strtod(s, end);
  size_t dl = strlen(dp), n = 0, dots = 0;
  for (; s[n] && c_number_char(s[n]); n++) dots += s[n] == '.';
  char local[128], *copy = local;
  size_t need = n + dots * (dl - 1) + 1;
  if (need > sizeof local && !(copy = malloc(need))) {
    if (end) *end = (char *)s;
    errno = ENOMEM;
    return 0;
  }
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '.')
      memcpy(copy + j, dp, dl), j += dl;
    else
      copy[j++] = s[i];
  }
  copy[j] = 0;
  char *ce;
  double d = strtod(copy, &ce);
  if (end) { /* map the end in the copy back to s */
    size_t ci = (size_t)(ce - copy), i = 0;
    for (j = 0; j < ci; i++) j += s[i] == '.' ? dl : 1;
    *end = (char *)s + i;
  }
  if (copy != local) {
    int e = errno;
    free(copy);
    errno = e;
  }
  return d;
}

double ep__strtod_c(const char *s, char **end) {
  locale_t c = c_numeric();
  if (!c) return strtod_fallback(s, end);
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
  return strtod_l(s, end, c); /* glibc's strtod is this with the thread's locale */
#else
  locale_t old = uselocale(c);
  double d = strtod(s, end);
  int e = errno;
  uselocale(old);
  errno = e;
  return d;
#endif
}

int ep__fmt_double_c(char *buf, size_t size, char conv, int prec, double d) {
  if (conv != 'e' && conv != 'f' && conv != 'g') return -1;
  locale_t c = c_numeric(), old = (locale_t)0;
  if (c) old = uselocale(c);
  /* literal formats, so the compiler checks each */
  int n = conv == 'e' ? snprintf(buf, size, "%.*e", prec, d)
          : conv == 'f' ? snprintf(buf, size, "%.*f", prec, d)
                        : snprintf(buf, size, "%.*g", prec, d);
  if (c) uselocale(old);
  if (n < 0 || (size_t)n >= size) return -1;
  return c ? n : fix_radix(buf);
}

int ep__shortest_e_c(char buf[EP__SHORTEST_E_SIZE], double d) {
  locale_t c = c_numeric(), old = (locale_t)0;
  if (c) old = uselocale(c);
  /* Round-tripping is monotonic in the number of digits (17 always does),
   * so a binary search finds the fewest in 4-5 conversions, not up to 17.
   * In the fallback both directions use the same (foreign) radix, so the
   * search is just as exact; the radix is fixed once at the end. */
  int lo = 1, hi = 17;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    snprintf(buf, EP__SHORTEST_E_SIZE, "%.*e", mid - 1, d);
    if (strtod(buf, NULL) == d)
      hi = mid;
    else
      lo = mid + 1;
  }
  int n = snprintf(buf, EP__SHORTEST_E_SIZE, "%.*e", lo - 1, d);
  if (c) uselocale(old);
  return c ? n : fix_radix(buf);
}
