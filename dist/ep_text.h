/* ep_text.h - Erlang term syntax: parse literal terms, print terms.
 *
 * The parser reads terms as written in Erlang source: atoms (quoted and
 * unquoted), integers including bignums and Base#Digits, $c characters,
 * floats, "strings" with escapes, <<"binaries">> and <<1,2,3>>, tuples, lists
 * including [H|T], maps #{K => V}, fun M:F/A. The printer writes text that
 * erl parses back to an =:= term for every kind with a literal syntax, and
 * erl's usual forms for pids, ports, refs and funs, with the node name in
 * place of erl's node index (<node@host.85.0>). docs/text-syntax.md has the
 * details.
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

/* Where a syntax error was found: 1-based line and column (columns count
 * Unicode characters, counted from the start of the whole text, not from
 * *pos), the byte offset, and a message (static storage). */
typedef struct ep_text_error {
  unsigned line;
  unsigned column;
  const char *message;
  size_t offset;
} ep_text_error;

/* Parses one term from text[*pos .. len). The term may end with a '.'
 * (consumed) or at the end of the input. Leading white space and %-comments
 * are skipped. The text is UTF-8. Returns 0 and advances *pos past the term
 * (and its '.'); on error *pos is unchanged and *err (when err is not NULL)
 * says where and why:
 *   EP_ESYNTAX      a syntax error (also invalid UTF-8, atoms over 255
 *                   characters, integer literals over the size limits);
 *   EP_EINCOMPLETE  the text ends inside a term (it is a proper prefix of a
 *                   valid text);
 *   EP_EDEPTH       tuples/lists/maps nest deeper than EP_LIMIT_DEPTH;
 *   EP_ETOOBIG      the term's text (from *pos to the end of its '.' and
 *                   the token after it) exceeds EP_LIMIT_TEXT_SIZE; the
 *                   limit is per term, a longer text of many terms is fine;
 *   EP_ENOMEM.
 * Everything the term points at is allocated in a. Never recurses: any
 * nesting is parsed with a heap stack. */
int ep_parse(ep_arena *a, const char *text, size_t len, size_t *pos, ep_term *out,
             ep_text_error *err);

/* Flags for ep_parse_ex. */
/* The term must end with a '.' followed by white space, a %-comment or the
 * end of the input (as in a file that file:consult reads). */
#define EP_PARSE_DOT 0x1u
/* The text may continue (streaming input): wherever more bytes could change
 * the result, the end of the input gives EP_EINCOMPLETE. With it a term is
 * only complete once the token after it has been seen, so "1." is
 * incomplete (it may become "1.5"), and "a.\n" is complete. */
#define EP_PARSE_MORE 0x2u

/* ep_parse with flags (0 behaves as ep_parse). */
int ep_parse_ex(ep_arena *a, const char *text, size_t len, size_t *pos, ep_term *out,
                ep_text_error *err, unsigned flags);

/* Parses exactly one term (an optional final '.' allowed) from a
 * NUL-terminated string; anything after it is a syntax error. */
int ep_parse_str(ep_arena *a, const char *text, ep_term *out, ep_text_error *err);

/* Skips white space and comments from *pos; returns 1 when input remains,
 * 0 at the end. */
int ep_parse_more(const char *text, size_t len, size_t *pos);

/* Appends the printed form of t to out (no trailing '.' or newline).
 * Every kind with a literal syntax prints as text that erl (and ep_parse)
 * reads back to an =:= term: atoms quoted only when needed (always when not
 * ASCII), printable lists as "strings", floats in their shortest exact form,
 * binaries as <<"text">>, <<"text"/utf8>> or <<1,2,3>>, bitstrings as
 * <<1,2:3>>, bignums in decimal (16#HEX beyond 32 KiB of magnitude, so
 * printing stays fast). Kinds without a literal syntax print as
 *   pid    <NODE.ID.SERIAL>          e.g. <a@host.85.0>
 *   port   #Port<NODE.ID>
 *   ref    #Ref<NODE.W2.W1.W0>       id words last to first, as erl does
 *   fun    #Fun<MODULE.INDEX.UNIQ>   UNIQ = old_uniq, as erl does
 * (NODE is the node name; a C node only ever sees remote pids). These do
 * not parse back. Iterative: any depth. Linear in the output size.
 * Returns 0, EP_ENOMEM, or EP_EINVAL for EP_T_NONE (anywhere in t) or a
 * float that is not finite (out may then hold a partial text). */
int ep_print(ep_buf *out, ep_term t);

/* Flags for ep_print_ex. */
/* Lists and binaries always as numbers ([97,98], <<97,98>>), never as
 * "strings" or <<"text">>: what erl's ~w writes for them. */
#define EP_PRINT_NO_STRINGS 0x1u

/* ep_print with flags (0 behaves as ep_print). Same errors. */
int ep_print_ex(ep_buf *out, ep_term t, unsigned flags);

/* Printed form in a NUL-terminated arena string; NULL on failure. */
const char *ep_print_str(ep_arena *a, ep_term t);

#ifdef __cplusplus
}
#endif
#endif
