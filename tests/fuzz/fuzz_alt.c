/* Both alternative-connection decoders on arbitrary bytes: the first input
 * byte picks TCP or standard_io framing; the rest is fed in two chunks (the
 * split point from the second byte) so resumption is exercised. Every frame
 * found is decoded as a term and classified, as the controller does. */
#include <stddef.h>
#include <stdint.h>

#include "ep_alt.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_iolib.h"

static void on_frame(const uint8_t *p, size_t n) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term t;
  size_t pos = 0;
  if (ep_decode(a, p, n, &pos, &t, NULL) == 0) {
    ep_alt_msg m;
    ep_alt_parse(t, &m);
    /* whatever a peer sends may end up in ~p, ~w or ~tp of a relayed format */
    ep_buf b;
    ep_buf_init(&b, NULL);
    ep_iolib_format(&b, ep_atom("~p ~w ~tp ~30p"), EP_LIST(a, t, t, t, t));
    if (t.type == EP_T_TUPLE && t.n == 2) ep_iolib_format(&b, t.v.items[0], t.v.items[1]);
    ep_buf_free(&b);
  }
  ep_arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  int stdio = data[0] & 1;
  size_t split = data[1];
  data += 2;
  size -= 2;
  if (split > size) split = size;
  if (!stdio) {
    size_t pos = 0;
    for (;;) {
      const uint8_t *pl;
      size_t n;
      int rc = ep_alt_tcp_decode(data, size, &pos, &pl, &n, 1 << 20);
      if (rc) break;
      on_frame(pl, n);
    }
    return 0;
  }
  ep_alt_stdio_dec d;
  ep_buf text;
  ep_buf_init(&text, NULL);
  ep_alt_stdio_dec_init(&d, NULL, 1 << 20);
  size_t ends[2] = {split, size};
  size_t pos = 0;
  for (int k = 0; k < 2; k++) {
    for (;;) {
      const uint8_t *pl;
      size_t n;
      int rc = ep_alt_stdio_decode(&d, data, ends[k], &pos, &text, &pl, &n);
      /* memory follows the payload that arrived, not the Size claimed */
      if (d.frame.cap > ((size_t)64 << 10) && d.frame.cap > 2 * d.frame.len + 4096) __builtin_trap();
      if (rc == 0) {
        on_frame(pl, n);
        continue;
      }
      break;
    }
    if (d.err) break;
  }
  if (text.len > size) __builtin_trap(); /* text is never invented */
  ep_alt_stdio_dec_free(&d);
  ep_buf_free(&text);
  return 0;
}
