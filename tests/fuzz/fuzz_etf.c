/* ETF decoder fuzz target: any input must decode or fail cleanly, within
 * tight limits; whatever decodes must encode, decode again to an equal term,
 * re-encode to the same bytes, and survive copy and comparison. The input
 * is tried with the version byte (ep_decode) and as a bare body. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ep_error.h"
#include "ep_etf.h"

static void check_round_trip(ep_arena *a, ep_term t) {
  ep_buf b1 = EP_BUF_INIT, b2 = EP_BUF_INIT;
  if (ep_encode(&b1, t) != 0) __builtin_trap();
  if (b1.len != ep_encoded_size(t) + 1) __builtin_trap();
  ep_term u;
  size_t pos = 0;
  if (ep_decode(a, b1.data, b1.len, &pos, &u, NULL) != 0 || pos != b1.len) __builtin_trap();
  if (!ep_term_eq(t, u) || ep_term_cmp(t, u) != 0) __builtin_trap();
  if (ep_encode(&b2, u) != 0 || b2.len != b1.len || memcmp(b1.data, b2.data, b1.len) != 0) __builtin_trap();
  ep_term c = ep_term_copy(a, t);
  if (!ep_term_eq(c, t)) __builtin_trap();
  b2.len = 0;
  if (ep_encode_compressed(&b2, t, 1) != 0) __builtin_trap();
  pos = 0;
  if (ep_decode(a, b2.data, b2.len, &pos, &u, NULL) != 0 || !ep_term_eq(t, u)) __builtin_trap();
  ep_buf_free(&b1);
  ep_buf_free(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ep_limits lim = {0};
  lim.depth = 2000;
  lim.inflated_size = 1 << 20;
  lim.bignum_bytes = 4096;
  ep_arena *a = ep_arena_new(NULL);
  if (!a) return 0;
  ep_term t;
  size_t pos = 0;
  int r = ep_decode(a, data, size, &pos, &t, &lim);
  if (r == 0) {
    if (pos == 0 || pos > size) __builtin_trap();
    check_round_trip(a, t);
  } else if (r == EP_EINCOMPLETE && pos != 0) {
    __builtin_trap();
  }
  pos = 0;
  if (ep_decode_body(a, data, size, &pos, &t, &lim) == 0) check_round_trip(a, t);
  ep_arena_free(a);
  return 0;
}
