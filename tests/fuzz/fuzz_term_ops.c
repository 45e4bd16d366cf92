/* Builds terms from fuzz input through the public constructors and checks
 * equality is reflexive: a smoke target until the decoders have their own. */
#include <stddef.h>
#include <stdint.h>

#include "ep_term.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term s = ep_string_n(a, (const char *)data, size);
  ep_term t = EP_TUPLE(a, s, ep_binary(a, data, size), ep_atom("x"));
  if (!ep_is_none(t) && !ep_term_eq(t, t)) __builtin_trap();
  ep_arena_free(a);
  return 0;
}
