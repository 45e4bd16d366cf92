/* The EPMD decoders and the server's connection state machine on hostile
 * bytes. The first byte picks the target; the rest is the input.
 *  0: request decoder, 1: ALIVE2 reply, 2: PORT2 reply, 3: NAMES reply
 *  (head + lines, at EOF), 4: KILL/STOP replies, else: a registry with a
 *  registration in place, fed the input in chunks sized by the input itself
 *  (from a local and a remote peer). Checks: no crash, positions only move
 *  forward and stay in bounds, replies stay bounded. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ep_epmd.h"
#include "ep_epmd_registry.h"
#include "ep_error.h"
#include "ep_limits.h"

#define CHECK(c) \
  do {           \
    if (!(c)) __builtin_trap(); \
  } while (0)

static void fuzz_registry(const uint8_t *d, size_t n, int local) {
  ep_epmd_registry_opts o = {0};
  o.creation_seed = 7;
  o.allow_kill = 1;
  o.relaxed = local;
  o.max_old_names = 4;
  ep_epmd_registry *r = ep_epmd_registry_new(&o);
  if (!r) return;
  static const uint8_t held[] = {0x00, 0x10, 120, 0x04, 0xd2, 77, 0, 0x00, 0x06, 0x00,
                                 0x05, 0x00, 0x03, 'f',  'o',  'o', 0x00, 0x00};
  ep_buf out = EP_BUF_INIT;
  ep_epmd_conn *h = ep_epmd_conn_new(r, 1, NULL);
  CHECK(ep_epmd_conn_recv(h, held, sizeof held, &out) == EP_EPMD_KEEP);
  /* Several clients, one after the other, each fed a slice in chunks. */
  size_t i = 0;
  while (i < n) {
    ep_epmd_conn *c = ep_epmd_conn_new(r, local, NULL);
    if (!c) break;
    out.len = 0;
    int rc = EP_EPMD_READ;
    while (i < n && rc == EP_EPMD_READ) {
      size_t chunk = 1 + d[i] % 17;
      i++;
      if (chunk > n - i) chunk = n - i;
      rc = ep_epmd_conn_recv(c, d + i, chunk, &out);
      i += chunk;
    }
    CHECK(out.len <= 64 * 1024);
    ep_epmd_conn_free(c);
  }
  ep_epmd_conn_free(h);
  ep_buf_free(&out);
  ep_epmd_registry_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const uint8_t *d = data + 1;
  size_t n = size - 1, pos = 0;
  switch (data[0]) {
    case 0: {
      ep_epmd_request q;
      while (ep_epmd_decode_request(d, n, &pos, 0, &q) == 0) {
        CHECK(pos <= n);
        if (q.code == EP_EPMD_ALIVE2_REQ || q.code == EP_EPMD_PORT2_REQ || q.code == EP_EPMD_STOP_REQ)
          CHECK(q.node.name >= d && q.node.name + q.node.name_len <= d + n);
      }
      break;
    }
    case 1: {
      uint8_t r;
      uint32_t c;
      int x;
      while (ep_epmd_decode_alive2_resp(d, n, &pos, &r, &c, &x) == 0) CHECK(pos <= n);
      break;
    }
    case 2: {
      uint8_t r;
      ep_epmd_node node;
      while (ep_epmd_decode_port2_resp(d, n, &pos, &r, &node) == 0) {
        CHECK(pos <= n);
        if (r == 0) CHECK(node.extra + node.extra_len <= d + n);
      }
      break;
    }
    case 3: {
      uint32_t ep;
      if (ep_epmd_decode_names_head(d, n, &pos, &ep) != 0) break;
      const uint8_t *nm;
      size_t nl;
      uint16_t pt;
      for (int eof = 0; eof < 2; eof++) {
        size_t p = pos;
        while (ep_epmd_decode_names_line(d, n, &p, eof, &nm, &nl, &pt) == 0) CHECK(p <= n && nm + nl <= d + n);
      }
      break;
    }
    case 4: {
      int ok;
      size_t p = 0;
      while (ep_epmd_decode_kill_resp(d, n, &p, &ok) == 0) CHECK(p <= n);
      while (ep_epmd_decode_stop_resp(d, n, &pos, &ok) == 0) CHECK(pos <= n);
      break;
    }
    default:
      fuzz_registry(d, n, data[0] & 1);
  }
  return 0;
}
