/* ep_text.h - Erlang term syntax: parse literal terms, print terms.
 *
 * The parser reads terms as written in Erlang source: atoms (quoted and
 * unquoted), integers including bignums and Base#Digits, $c characters,
 * floats, "strings" with escapes, <<"binaries">> and <<1,2,3>>, tuples, lists
 * including [H|T], maps #{K => V}. The printer writes text that erl parses
 * back to an =:= term for every kind with a literal syntax, and the usual
 * <0.1.0>-style forms for pids, ports, refs and funs.
 */
#ifndef EP_TEXT_H
#define EP_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "ep_mem.h"
#include "ep_term.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a syntax error was found: 1-based line and column, and a message
 * (static storage). */
typedef struct ep_text_error {
  unsigned line;
  unsigned column;
  const char *message;
} ep_text_error;

/* Parses one term from text[*pos .. len). The term may end with a '.'
 * (consumed) or at the end of the input. Leading white space and %-comments
 * are skipped. Returns 0 and advances *pos; EP_ESYNTAX (with *err filled when
 * err is not NULL) on a syntax error; EP_EINCOMPLETE when the text ends
 * inside a term; EP_ENOMEM. */
int ep_parse(ep_arena *a, const char *text, size_t len, size_t *pos, ep_term *out,
             ep_text_error *err);

/* Parses exactly one term (an optional final '.' allowed) from a
 * NUL-terminated string; anything after it is a syntax error. */
int ep_parse_str(ep_arena *a, const char *text, ep_term *out, ep_text_error *err);

/* Skips white space and comments from *pos; returns 1 when input remains,
 * 0 at the end. */
int ep_parse_more(const char *text, size_t len, size_t *pos);

/* Appends the printed form of t to out (no trailing '.' or newline).
 * Returns 0, EP_ENOMEM, or EP_EINVAL for EP_T_NONE. */
int ep_print(ep_buf *out, ep_term t);

/* Printed form in a NUL-terminated arena string; NULL on failure. */
const char *ep_print_str(ep_arena *a, ep_term t);

#ifdef __cplusplus
}
#endif
#endif
