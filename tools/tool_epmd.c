#include "tool_epmd.h"

#include <stdio.h>

#include "ep_error.h"

int tool_number(const char *s, unsigned long max, unsigned long *out) {
  if (!s || !*s) return -1;
  unsigned long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (unsigned long)(*p - '0');
    if (v > max) return -1;
  }
  *out = v;
  return 0;
}

void tool_epmd_error(const char *cmd, const char *host, uint16_t port, int err) {
  const char *h = host ? host : "localhost";
  switch (err) {
    case EP_ENOEPMD:
      fprintf(stderr, "erlpeer %s: no EPMD listening on %s port %u\n", cmd, h, (unsigned)port);
      break;
    case EP_ENOHOST:
      fprintf(stderr, "erlpeer %s: host '%s' does not resolve\n", cmd, h);
      break;
    case EP_ETIMEDOUT:
      fprintf(stderr, "erlpeer %s: EPMD on %s port %u did not answer in time\n", cmd, h, (unsigned)port);
      break;
    default:
      fprintf(stderr, "erlpeer %s: EPMD on %s port %u: %s\n", cmd, h, (unsigned)port, ep_strerror(err));
  }
}
