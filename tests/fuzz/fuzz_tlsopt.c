/* The -ssl_dist_optfile reader on arbitrary text: never crashes, every
 * error has a message, and what it accepts is a consistent set of options. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ep_error.h"
#include "ep_tlsopt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ep_tlsopt o;
  char why[256];
  int r = ep_tlsopt_parse(NULL, (const char *)data, size, &o, why, sizeof why);
  if (r == 0) {
    const ep_tls_side *s[2] = {&o.server, &o.client};
    for (int i = 0; i < 2; i++) {
      if (s[i]->verify < -1 || s[i]->verify > 1 || s[i]->depth > 100) __builtin_trap();
      if (s[i]->versions & ~(unsigned)(EP_TLS_V12 | EP_TLS_V13)) __builtin_trap();
      if (s[i]->certfile && !s[i]->certfile[0]) __builtin_trap();
    }
    ep_tlsopt_free(&o);
  } else if (!why[0]) {
    __builtin_trap();
  }
  return 0;
}
