/* ep_cookie.h - the text of a cookie file, checked as erl checks it.
 *
 * OTP's auth.erl (check_cookie/2) takes the whole file: the cookie is the
 * run of printable ASCII characters (space through '~') at its start,
 * spaces included, and whatever follows may only be newlines, carriage
 * returns and spaces. So "ABC \n" is the cookie "ABC " (the space is kept),
 * "ABC\n\n" is "ABC", and "ABC\nDEF", a tab, a NUL or any byte >= 0x80 is
 * refused as bad characters. A file with no cookie character at all is
 * refused ("Too short cookie string"), and so is a cookie over
 * EP_LIMIT_COOKIE_CHARS: erl would turn it into an atom and fail to start.
 *
 * Sans-I/O: the parser is fed the file's bytes in pieces of any size and
 * keeps at most the cookie itself (EP_LIMIT_COOKIE_CHARS bytes), however
 * long the file is.
 *
 * States (one pass, no going back):
 *
 *   COOKIE --printable--> COOKIE (byte kept; more than the limit: ECOOKIELONG)
 *   COOKIE --\n \r--> TAIL
 *   COOKIE --other--> error ECOOKIECHARS
 *   TAIL   --\n \r space--> TAIL
 *   TAIL   --other--> error ECOOKIECHARS
 *   end of input: no cookie byte kept -> ECOOKIESHORT, else done.
 *
 * Errors are sticky: once feed has failed, feed and finish return the same
 * error.
 */
#ifndef EP_COOKIE_H
#define EP_COOKIE_H

#include <stddef.h>
#include <stdint.h>

#include "ep_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ep_cookie_parser {
  uint8_t cookie[EP_LIMIT_COOKIE_CHARS];
  size_t len;    /* cookie bytes kept */
  uint64_t pos;  /* bytes consumed; on error, the offset of the bad byte */
  int in_tail;   /* past the cookie: only \n \r and space allowed */
  int err;       /* sticky error, 0 while fine */
  uint8_t bad;   /* the byte that caused EP_ECOOKIECHARS */
} ep_cookie_parser;

void ep_cookie_parser_init(ep_cookie_parser *p);

/* Consumes len bytes of the file. Returns 0, or EP_ECOOKIECHARS (p->pos is
 * the file offset of the bad byte, p->bad the byte) or EP_ECOOKIELONG. */
int ep_cookie_parser_feed(ep_cookie_parser *p, const uint8_t *buf, size_t len);

/* Ends the input: 0 with the cookie in p->cookie[0 .. p->len), or the
 * sticky error, or EP_ECOOKIESHORT when the file held no cookie. */
int ep_cookie_parser_finish(ep_cookie_parser *p);

/* Wipes the cookie bytes the parser holds. */
void ep_cookie_parser_wipe(ep_cookie_parser *p);

/* One-shot form over a whole file's bytes: 0 with the cookie's length in
 * *cookie_len (the cookie is buf[0 .. *cookie_len): always a prefix), or
 * one of the errors above, with *err_pos (may be NULL) the offset of the
 * offending byte. */
int ep_cookie_parse(const uint8_t *buf, size_t len, size_t *cookie_len, size_t *err_pos);

#ifdef __cplusplus
}
#endif
#endif
