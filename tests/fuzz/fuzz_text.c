/* The Erlang-syntax parser on arbitrary bytes: never crashes, and whatever
 * it accepts prints to a text that parses back to an equal term (which
 * prints to the very same text). Streaming mode is exercised on the same
 * input. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ep_error.h"
#include "ep_etf.h"
#include "ep_limits.h"
#include "ep_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ep_arena *a = ep_arena_new(NULL);
  const char *text = (const char *)data;
  for (unsigned flags = 0; flags < 4; flags++) {
    size_t pos = 0;
    while (pos < size) {
      ep_term t;
      ep_text_error e;
      size_t before = pos;
      int r = ep_parse_ex(a, text, size, &pos, &t, &e, flags);
      if (r) {
        if (pos != before || e.offset > size || !e.message) __builtin_trap();
        break;
      }
      if (pos <= before) __builtin_trap();
      /* The round trip holds for texts the parser takes: a term whose
       * printout is over EP_LIMIT_TEXT_SIZE (a short literal can build
       * megabytes, <<"abc":16#ffffff>>) reads back as EP_ETOOBIG. Above
       * 64 KiB encoded the printing is skipped: it is linear and tested in
       * tests/unit/test_text.c, and the sanitized build spent up to seconds
       * on one input (the campaign ran at 281 inputs/s with 1 MiB). */
      if (ep_encoded_size(t) > ((size_t)64 << 10)) continue;
      ep_buf b = EP_BUF_INIT;
      if (ep_print(&b, t) == 0) {
        ep_term back;
        size_t p2 = 0;
        int br = ep_parse(a, b.data ? (const char *)b.data : "", b.len, &p2, &back, NULL);
        if (br == EP_ETOOBIG && b.len > EP_LIMIT_TEXT_SIZE) {
          ep_buf_free(&b);
          continue;
        }
        if (br != 0) __builtin_trap();
        if (p2 != b.len || !ep_term_eq(t, back)) __builtin_trap();
        ep_buf b2 = EP_BUF_INIT;
        if (ep_print(&b2, back) != 0 || b2.len != b.len || memcmp(b.data, b2.data, b.len) != 0) __builtin_trap();
        ep_buf_free(&b2);
      }
      ep_buf_free(&b);
      /* the ~w-like form reads back to the same term too */
      ep_buf w = EP_BUF_INIT;
      if (ep_print_ex(&w, t, EP_PRINT_NO_STRINGS) == 0) {
        ep_term back;
        size_t p2 = 0;
        if (ep_parse(a, w.data ? (const char *)w.data : "", w.len, &p2, &back, NULL) != 0) __builtin_trap();
        if (!ep_term_eq(t, back)) __builtin_trap();
      }
      ep_buf_free(&w);
    }
  }
  ep_arena_free(a);
  return 0;
}
