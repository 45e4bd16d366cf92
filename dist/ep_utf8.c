#include "ep_utf8_int.h"

#include "ep_error.h"

int ep__utf8_decode(const uint8_t *s, size_t n, uint32_t *cp) {
  if (n == 0) return -1;
  uint8_t c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int len;
  uint32_t v, min;
  if ((c & 0xE0) == 0xC0) {
    len = 2, v = c & 0x1Fu, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, v = c & 0x0Fu, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, v = c & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  for (int i = 1; i < len; i++) {
    if ((size_t)i >= n) return -1;
    if ((s[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3Fu);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

size_t ep__utf8_encode(uint32_t cp, uint8_t *o) {
  if (cp < 0x80) {
    o[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (uint8_t)(0xC0 | (cp >> 6));
    o[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (uint8_t)(0xE0 | (cp >> 12));
    o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (uint8_t)(0xF0 | (cp >> 18));
  o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (uint8_t)(0x80 | (cp & 0x3F));
  return 4;
}

ptrdiff_t ep_utf8_count(const uint8_t *s, size_t n) {
  ptrdiff_t count = 0;
  for (size_t i = 0; i < n; count++) {
    if (s[i] < 0x80) { /* the common case: ASCII */
      i++;
      continue;
    }
    uint32_t cp;
    int l = ep__utf8_decode(s + i, n - i, &cp);
    if (l <= 0) return -1;
    i += (size_t)l;
  }
  return count;
}

int ep_utf8_put(ep_buf *b, int64_t cp) {
  if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return EP_EINVAL;
  uint8_t o[4];
  return ep_buf_append(b, o, ep__utf8_encode((uint32_t)cp, o));
}
