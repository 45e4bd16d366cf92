/* ep_utf8.h - the UTF-8 that layers above the term codec need: counting
 * the characters of a name (an EPMD node name is UTF-8, as an atom is) and
 * writing code points (chardata). Decoding and encoding one code point stay
 * internal to dist/, in ep_utf8_int.h. */
#ifndef EP_UTF8_H
#define EP_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "ep_mem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of code points in s[0..n), or -1 when it is not UTF-8: a bad lead
 * or continuation byte, an overlong form, a surrogate, a code point past
 * U+10FFFF, or a sequence cut off by the end. NUL bytes are code points. */
ptrdiff_t ep_utf8_count(const uint8_t *s, size_t n);

/* Appends the code point cp to b as UTF-8. Returns 0, EP_EINVAL (cp is
 * negative, a surrogate or past U+10FFFF; b is unchanged) or EP_ENOMEM (b's
 * sticky error). */
int ep_utf8_put(ep_buf *b, int64_t cp);

#ifdef __cplusplus
}
#endif
#endif
