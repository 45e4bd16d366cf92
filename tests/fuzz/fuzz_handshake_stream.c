/* Either handshake role as a whole state machine, fed an arbitrary byte
 * stream cut into reads where the input says, with the caller's decisions
 * and output acknowledgements also taken from the input.
 *
 * Input: [mode] [decisions] [nsplit] [split x (nsplit % 16)] stream...
 *   mode bit 0: acceptor (else initiator); bit 1: NAME_ME initiator;
 *        bit 2: acknowledge output only at the end (it must stay bounded);
 *   decisions % 8: the ep_hs_decision given at EP_HS_DECIDE (when the
 *        moment refuses it, OK or ALIVE_TRUE, as a careful runtime would);
 *   split: the size of each read in turn (0 is an empty read); after the
 *        last one the rest of the stream is one read.
 * The configuration matches fuzz_handshake (same names, cookie and
 * challenge), so its seeds are valid streams here too.
 *
 * Invariants: no crash; DONE and FAILED are final (never both, never left;
 * reads after them take nothing); FAILED always has a documented error and
 * only FAILED has one; RUNNING takes every byte offered, DECIDE takes none
 * and comes at most once (a decision taken leaves it);
 * output is bounded, and so is the memory held (all freed at the end); DONE
 * needs the digest of our challenge in the stream (no way around the
 * cookie), the name we dialled (initiator) and the required flags. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ep_dflags.h"
#include "ep_error.h"
#include "ep_handshake.h"
#include "ep_limits.h"

#define CHECK(c) \
  do {           \
    if (!(c)) __builtin_trap(); \
  } while (0)

#define COOKIE "fuzzcookie"
#define CHALLENGE 1000u
#define MAX_OUTPUT 1024u                                  /* 4 short messages at most */
#define MAX_HELD (2 * EP_LIMIT_HANDSHAKE_MSG + 8192u)      /* a message, output, names */

/* A counting allocator: what the handshake holds, at most and at the end. */
typedef struct meter {
  size_t live, peak;
} meter;

static void *m_malloc(size_t n, void *ud) {
  meter *m = ud;
  size_t *p = malloc(n + 16);
  if (!p) return NULL;
  *p = n;
  m->live += n;
  if (m->live > m->peak) m->peak = m->live;
  return (char *)p + 16;
}

static void m_free(void *q, void *ud) {
  if (!q) return;
  meter *m = ud;
  size_t *p = (size_t *)((char *)q - 16);
  m->live -= *p;
  free(p);
}

static void *m_realloc(void *q, size_t n, void *ud) {
  if (!q) return m_malloc(n, ud);
  meter *m = ud;
  size_t *p = (size_t *)((char *)q - 16), old = *p;
  size_t *np = realloc(p, n + 16);
  if (!np) return NULL;
  *np = n;
  m->live = m->live - old + n;
  if (m->live > m->peak) m->peak = m->live;
  return (char *)np + 16;
}

static int known_error(int e) {
  return e == EP_EAUTH || e == EP_ENOTALLOWED || e == EP_ENOK || e == EP_EALIVE || e == EP_EWRONGNODE ||
         e == EP_EFLAGS || e == EP_EHANDSHAKE || e == EP_ENOMEM;
}

static int final(ep_hs_status s) { return s == EP_HS_DONE || s == EP_HS_FAILED; }

/* Status and error agree, and a final status stays. */
static ep_hs_status check_status(ep_handshake *hs, ep_hs_status before) {
  ep_hs_status st = ep_hs_status_get(hs);
  CHECK(st == EP_HS_RUNNING || st == EP_HS_DECIDE || st == EP_HS_DONE || st == EP_HS_FAILED);
  if (final(before)) CHECK(st == before);
  if (st == EP_HS_FAILED)
    CHECK(known_error(ep_hs_error(hs)));
  else
    CHECK(ep_hs_error(hs) == 0);
  return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  uint8_t mode = data[0], decisions = data[1];
  size_t nsplit = data[2] % 16;
  if (size < 3 + nsplit) return 0;
  const uint8_t *split = data + 3, *s = data + 3 + nsplit;
  size_t n = size - 3 - nsplit;
  int acceptor = mode & 1, late_ack = (mode >> 2) & 1;

  meter m = {0, 0};
  ep_mem mem = {m_malloc, m_realloc, m_free, &m};
  ep_hs_config c = {0};
  c.role = acceptor ? EP_HS_ACCEPTOR : EP_HS_INITIATOR;
  c.this_node = acceptor ? "peer@localhost" : "ctl@localhost";
  c.creation = 1;
  c.flags = EP_DFLAGS_OURS | ((mode & 2) && !acceptor ? EP_DFLAG_NAME_ME : 0);
  c.required_flags = EP_DFLAGS_REQUIRED;
  c.cookie = (const uint8_t *)COOKIE;
  c.cookie_len = sizeof COOKIE - 1;
  c.expected_peer = acceptor ? NULL : "peer@localhost";
  c.challenge = CHALLENGE;
  ep_handshake *hs;
  if (ep_hs_new(&mem, &c, &hs) != 0) return 0;

  size_t pos = 0, out_total = 0, k = 0;
  int decided = 0;
  ep_hs_status st = check_status(hs, EP_HS_RUNNING);
  for (int rounds = 0; rounds < 4096 && !final(st); rounds++) {
    if (st == EP_HS_DECIDE) {
      size_t used = 1;
      ep_hs_recv(hs, s + pos, n - pos, &used); /* waiting for us: takes nothing */
      CHECK(used == 0 && ep_hs_status_get(hs) == EP_HS_DECIDE);
      if (acceptor) (void)ep_hs_set_named(hs, "named@localhost", 5);
      CHECK(++decided == 1); /* one decision a handshake: the acceptor's, or the initiator's on alive */
      if (ep_hs_decide(hs, (ep_hs_decision)(decisions % 8)) != 0 && ep_hs_status_get(hs) == EP_HS_DECIDE)
        CHECK(ep_hs_decide(hs, acceptor ? EP_HS_OK : EP_HS_ALIVE_TRUE) == 0 ||
              ep_hs_status_get(hs) != EP_HS_DECIDE);
      st = check_status(hs, st);
      CHECK(st != EP_HS_DECIDE);
      continue;
    }
    size_t want = k < nsplit ? split[k++] : n - pos;
    if (want > n - pos) want = n - pos;
    if (want == 0 && k >= nsplit) break; /* stream exhausted while still running */
    size_t used = 0;
    ep_hs_recv(hs, s + pos, want, &used);
    CHECK(used <= want);
    pos += used;
    st = check_status(hs, st);
    if (st == EP_HS_RUNNING) CHECK(used == want);
    const uint8_t *o;
    size_t olen;
    ep_hs_output(hs, &o, &olen);
    CHECK(olen <= MAX_OUTPUT);
    if (olen && !late_ack) {
      /* acknowledge in two writes, the first as long as this read was */
      size_t first = want < olen ? want : olen;
      out_total += olen;
      ep_hs_output_ack(hs, first);
      ep_hs_output(hs, &o, &olen);
      ep_hs_output_ack(hs, olen);
    }
    CHECK(m.peak <= MAX_HELD);
  }
  if (final(st)) {
    /* a final state takes nothing more, refuses decisions, and stays */
    size_t used = 1;
    int err = ep_hs_error(hs);
    ep_hs_recv(hs, (const uint8_t *)"\0\1x", 3, &used);
    CHECK(used == 0);
    CHECK(ep_hs_decide(hs, EP_HS_OK) != 0 || ep_hs_status_get(hs) == st);
    CHECK(check_status(hs, st) == st && ep_hs_error(hs) == err);
  }
  const uint8_t *o;
  size_t olen;
  ep_hs_output(hs, &o, &olen);
  out_total += olen;
  CHECK(olen <= MAX_OUTPUT && out_total <= 4 * MAX_OUTPUT);
  if (st == EP_HS_DONE) {
    uint8_t dg[16];
    ep_hs_digest((const uint8_t *)COOKIE, sizeof COOKIE - 1, CHALLENGE, dg);
    CHECK(pos >= 16 && memmem(s, pos, dg, 16) != NULL);
    CHECK(ep_hs_peer_name(hs) != NULL);
    if (!acceptor) CHECK(strcmp(ep_hs_peer_name(hs), "peer@localhost") == 0);
    CHECK((ep_hs_flags(hs) & EP_DFLAGS_REQUIRED) == EP_DFLAGS_REQUIRED);
  }
  CHECK(m.peak <= MAX_HELD);
  ep_hs_free(hs);
  CHECK(m.live == 0);
  return 0;
}
