/* Arbitrary bytes as the connected-phase stream: every frame read with
 * ep_dist_read (the node's flags, FRAGMENTS and DIST_HDR_ATOM_CACHE, so
 * atom cache refs in 131 68 / 131 69 headers and ATOM_CACHE_REF in terms
 * are read against a cache that lives across frames; small limits so the
 * limit paths are reached), every message through ep_ctrl_parse, and every parsed message
 * built back with ep_ctrl_build. The first byte picks how the stream is
 * cut into reads (incomplete frames are retried with more bytes, as a
 * runtime would). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ep_dflags.h"
#include "ep_dist.h"
#include "ep_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t step = 1 + data[0] % 16;
  data++, size--;
  ep_dist_reader *r;
  if (ep_dist_reader_new(NULL, EP_DFLAGS_NODE, NULL, &r) != 0) return 0;
  ep_dist_reader_set_limits(r, 1 << 20, 1 << 20, 16);
  ep_arena *a = ep_arena_new(NULL);
  ep_dist_writer *w;
  ep_dist_reader *r2;
  if (ep_dist_writer_new(NULL, &w) != 0 || ep_dist_reader_new(NULL, EP_DFLAGS_NODE, NULL, &r2) != 0)
    __builtin_trap();
  size_t pos = 0, avail = step < size ? step : size;
  while (pos < size) {
    ep_dist_msg m;
    size_t used = 0, need = 0;
    int rc = ep_dist_read(r, a, data + pos, avail - pos, &used, &need, &m);
    if (rc == EP_EINCOMPLETE) {
      if (used != 0 || need <= avail - pos) __builtin_trap();
      if (avail == size) break;
      avail = avail + step < size ? avail + step : size;
      continue;
    }
    if (rc != 0) break;
    if (used == 0 || used > avail - pos) __builtin_trap();
    pos += used;
    if (avail < pos) avail = pos;
    if (m.kind == EP_DIST_MESSAGE) {
      ep_buf b = EP_BUF_INIT;
      if (ep_dist_write_cached(w, &b, NULL, EP_DFLAGS_NODE, m.control, m.payload) == 0) {
        ep_dist_msg m2;
        size_t used2 = 0, need2;
        if (ep_dist_read(r2, a, b.data, b.len, &used2, &need2, &m2) != 0 || used2 != b.len ||
            m2.kind != EP_DIST_MESSAGE || !ep_term_eq(m.control, m2.control) ||
            ep_is_none(m.payload) != ep_is_none(m2.payload) ||
            (!ep_is_none(m.payload) && !ep_term_eq(m.payload, m2.payload)))
          __builtin_trap();
      }
      ep_buf_free(&b);
      ep_ctrl c;
      if (ep_ctrl_parse(m.control, m.payload, &c) == 0) {
        ep_term ctl, pl;
        (void)ep_ctrl_build(a, &c, EP_DFLAGS_OURS, &ctl, &pl);
      }
    }
    ep_arena_reset(a);
  }
  ep_arena_free(a);
  ep_dist_reader_free(r);
  ep_dist_reader_free(r2);
  ep_dist_writer_free(w);
  return 0;
}
