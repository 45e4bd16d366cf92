/* ep_utf8_int.h - UTF-8, once, for every module that reads or writes it
 * (atoms, strings, chardata, the printer, the formatter). Internal. */
#ifndef EP_UTF8_INT_H
#define EP_UTF8_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ep_utf8.h" /* ep_utf8_count, ep_utf8_put */

/* Decodes one code point from s[0..n): returns its length (1..4); 0 when
 * the bytes are not UTF-8 (bad lead or continuation byte, overlong form,
 * surrogate, past U+10FFFF); -1 when s ends inside a sequence that could
 * still be valid (n == 0 included). */
int ep__utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);

/* Encodes a valid code point (<= U+10FFFF, not a surrogate) into o[0..4);
 * returns its length. */
size_t ep__utf8_encode(uint32_t cp, uint8_t *o);

#endif
