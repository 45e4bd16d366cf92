/* Arbitrary bytes into both handshake roles. The first byte picks the role,
 * how the rest is cut into reads, and what the caller decides when asked;
 * the rest is what the other side "sent". Nothing may crash, leak, or read
 * past what it was given; after DONE the consumed count must stop short of
 * the input's end or reach it exactly.
 * Mode byte: bit 0 role (1 = acceptor), bits 1-3 read size, bits 4-6 the
 * decision (ep_hs_decision), bit 7 NAME_ME for the initiator.
 * Seeds (tests/fuzz/corpus/fuzz_handshake) are valid exchanges for the
 * cookie and challenges below, so the fuzzer starts from deep states. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ep_dflags.h"
#include "ep_error.h"
#include "ep_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t mode = data[0];
  data++, size--;
  ep_hs_config c = {0};
  c.role = (mode & 1) ? EP_HS_ACCEPTOR : EP_HS_INITIATOR;
  c.this_node = (mode & 1) ? "peer@localhost" : "ctl@localhost";
  c.creation = 1;
  c.flags = EP_DFLAGS_OURS | ((mode & 0x80) && !(mode & 1) ? EP_DFLAG_NAME_ME : 0);
  c.required_flags = EP_DFLAGS_REQUIRED;
  c.cookie = (const uint8_t *)"fuzzcookie";
  c.cookie_len = 10;
  c.expected_peer = (mode & 1) ? NULL : "peer@localhost";
  c.challenge = 1000;
  ep_handshake *hs;
  if (ep_hs_new(NULL, &c, &hs) != 0) return 0;
  size_t chunk = 1 + ((mode >> 1) & 7) * 3; /* 1, 4, 7, ... 22 bytes a read */
  size_t pos = 0;
  int decisions = 0;
  while (pos < size) {
    ep_hs_status st = ep_hs_status_get(hs);
    if (st == EP_HS_DECIDE) {
      if (++decisions > 4) break;
      if (c.role == EP_HS_ACCEPTOR) (void)ep_hs_set_named(hs, "named@localhost", 5);
      ep_hs_decision d = (ep_hs_decision)((mode >> 4) & 7);
      if (ep_hs_decide(hs, d) != 0 && ep_hs_decide(hs, c.role == EP_HS_ACCEPTOR ? EP_HS_OK : EP_HS_ALIVE_TRUE) != 0)
        break;
      continue;
    }
    if (st != EP_HS_RUNNING) break;
    size_t n = size - pos < chunk ? size - pos : chunk;
    size_t used = 0;
    ep_hs_recv(hs, data + pos, n, &used);
    if (used > n) __builtin_trap();
    pos += used;
    if (used < n && ep_hs_status_get(hs) == EP_HS_RUNNING) __builtin_trap(); /* must take all while running */
    const uint8_t *o;
    size_t olen;
    ep_hs_output(hs, &o, &olen);
    if (olen) ep_hs_output_ack(hs, olen);
    if (used == 0 && ep_hs_status_get(hs) == EP_HS_RUNNING) break;
  }
  if (ep_hs_status_get(hs) == EP_HS_DONE) {
    if (!ep_hs_peer_name(hs)) __builtin_trap();
    (void)ep_hs_flags(hs);
  }
  if (ep_hs_status_get(hs) == EP_HS_FAILED && ep_hs_error(hs) == 0) __builtin_trap();
  ep_hs_free(hs);
  return 0;
}
