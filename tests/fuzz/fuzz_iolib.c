/* io_lib:format in C (ep_iolib_format) on a hostile format and arguments,
 * as a peer relays them in {put_chars, unicode, io_lib, format, [F, A]}.
 * Input: the format's bytes, a NUL, then the arguments as Erlang text (a
 * list; anything else is used as a one-element list). The format is tried
 * as a string (Latin-1 code points), as a binary and as a UTF-8 string
 * (~ts's view). Checks: no crash; the documented errors only; on error the
 * output is left as it was; what is written is UTF-8. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ep_error.h"
#include "ep_etf.h"
#include "ep_iolib.h"
#include "ep_text.h"
#include "ep_utf8.h"

#define CHECK(c) \
  do {           \
    if (!(c)) __builtin_trap(); \
  } while (0)

static void one(ep_term fmt, ep_term args) {
  ep_buf b;
  ep_buf_init(&b, NULL);
  ep_buf_append(&b, "x", 1); /* something already there must stay */
  int rc = ep_iolib_format(&b, fmt, args);
  CHECK(rc == 0 || rc == EP_EINVAL || rc == EP_ENOMEM || rc == EP_EDEPTH);
  if (rc) CHECK(b.len == 1);
  CHECK(ep_utf8_count(b.data, b.len) >= 0);
  ep_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t flen = nul ? (size_t)(nul - data) : size;
  const char *rest = nul ? (const char *)nul + 1 : "";
  size_t rlen = nul ? size - flen - 1 : 0;
  ep_arena *a = ep_arena_new(NULL);
  if (!a) return 0;
  ep_term args = ep_nil();
  size_t pos = 0;
  if (rlen && ep_parse(a, rest, rlen, &pos, &args, NULL) != 0) args = ep_nil();
  if (!ep_is_list(args)) args = EP_LIST(a, args);
  /* Arguments over 64 KiB encoded are left to the unit tests: formatting
   * is linear (tests/unit/test_iolib.c prints a 1 MiB binary), and the
   * sanitized build spent over 10 s on one (~p of <<-97515:9911104>>),
   * which libFuzzer reports as a timeout. */
  if (ep_encoded_size(args) > ((size_t)64 << 10)) {
    ep_arena_free(a);
    return 0;
  }
  ep_term *cs = ep_arena_alloc(a, (flen ? flen : 1) * sizeof *cs);
  if (cs) {
    for (size_t i = 0; i < flen; i++) cs[i] = ep_int(data[i]);
    one(ep_list(a, flen, cs), args);
  }
  one(ep_binary(a, data, flen), args);
  if (ep_utf8_count(data, flen) >= 0) {
    ep_term s;
    size_t p2 = 0;
    /* the same bytes as a UTF-8 chardata string, through the text parser */
    ep_buf q = EP_BUF_INIT;
    ep_buf_append(&q, "\"", 1);
    for (size_t i = 0; i < flen; i++) {
      if (data[i] == '"' || data[i] == '\\') ep_buf_append(&q, "\\", 1);
      ep_buf_append(&q, data + i, 1);
    }
    ep_buf_append(&q, "\"", 1);
    if (!q.err && ep_parse(a, (const char *)q.data, q.len, &p2, &s, NULL) == 0) one(s, args);
    ep_buf_free(&q);
  }
  ep_arena_free(a);
  return 0;
}
