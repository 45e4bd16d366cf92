/* ep_cfloat_int.h - floats to and from text with '.' as the decimal point,
 * whatever locale the program that links erlpeer has set. Internal.
 *
 * strtod and printf's %e/%f/%g follow LC_NUMERIC: after
 * setlocale(LC_ALL, "") under de_DE.UTF-8 they write and expect "1,5".
 * Erlang syntax, FLOAT_EXT and io_lib always use '.', so ep_text, ep_etf
 * and ep_iolib convert floats only through these. How: see ep_cfloat.c.
 */
#ifndef EP_CFLOAT_INT_H
#define EP_CFLOAT_INT_H

#include <stddef.h>

/* strtod(s, end), reading '.' as the decimal point (and never the
 * locale's). errno as strtod sets it (ERANGE); in the rare fallback (see
 * ep_cfloat.c) a very long number may also give ENOMEM, returning 0 with
 * *end = s. */
double ep__strtod_c(const char *s, char **end);

/* snprintf(buf, size, "%.*e" / "%.*f" / "%.*g", prec, d) for conv 'e', 'f'
 * or 'g', with '.' as the decimal point. Returns the length of the text
 * written to buf (NUL-terminated), or -1 when conv is none of those or the
 * text did not fit in size bytes. */
int ep__fmt_double_c(char *buf, size_t size, char conv, int prec, double d);

/* The "%.*e" text of a finite d with the fewest significant digits (1..17)
 * that reads back as exactly d: "[-]D[.DDD]e(+|-)XX", NUL-terminated, at
 * most 24 characters. Returns its length. */
#define EP__SHORTEST_E_SIZE 32
int ep__shortest_e_c(char buf[EP__SHORTEST_E_SIZE], double d);

/* For tests only: on = 1 makes the functions above behave as if the "C"
 * locale object could not be created, so that the fallback path runs. */
void ep__cfloat_force_fallback(int on);

#endif
