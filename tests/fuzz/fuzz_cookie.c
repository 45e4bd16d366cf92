/* The cookie file parser on arbitrary bytes: never crashes; the one-shot
 * and the streaming forms (fed in pieces whose sizes come from the input)
 * agree; an accepted cookie is a non-empty printable prefix of at most
 * EP_LIMIT_COOKIE_CHARS bytes followed only by \n, \r and spaces. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ep_cookie.h"
#include "ep_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t cl = 0, pos = 0;
  int r = ep_cookie_parse(data, size, &cl, &pos);
  if (r != 0 && r != EP_ECOOKIECHARS && r != EP_ECOOKIELONG && r != EP_ECOOKIESHORT) __builtin_trap();
  if (r == 0) {
    if (cl == 0 || cl > EP_LIMIT_COOKIE_CHARS || cl > size) __builtin_trap();
    for (size_t i = 0; i < cl; i++)
      if (data[i] < 0x20 || data[i] > 0x7e) __builtin_trap();
    for (size_t i = cl; i < size; i++)
      if (data[i] != '\n' && data[i] != '\r' && data[i] != ' ') __builtin_trap();
    if (cl < size && data[cl] == ' ') __builtin_trap(); /* a space would have been kept */
  } else if (r == EP_ECOOKIECHARS) {
    if (pos >= size) __builtin_trap();
  }
  /* streaming, in pieces of 1 + (first byte % 7) bytes */
  ep_cookie_parser p;
  ep_cookie_parser_init(&p);
  size_t step = size ? 1 + data[0] % 7 : 1, off = 0;
  int s = 0;
  while (off < size && !s) {
    size_t n = size - off < step ? size - off : step;
    s = ep_cookie_parser_feed(&p, data + off, n);
    off += n;
  }
  if (!s) s = ep_cookie_parser_finish(&p);
  if (s != r) __builtin_trap();
  if (!s && (p.len != cl || memcmp(p.cookie, data, cl) != 0)) __builtin_trap();
  if (s && p.pos != pos) __builtin_trap();
  return 0;
}
