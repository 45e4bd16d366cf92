/* ep_handshake.c - the distribution handshake, version 6, both roles.
 *
 * Sans-I/O: ep_hs_recv takes whatever bytes the socket gave, in any split;
 * replies accumulate in an output buffer the caller drains. Nothing here
 * blocks, reads a clock or draws random numbers (the challenge is passed in).
 *
 * Every handshake message is framed by a big-endian length, 2 bytes over
 * plain TCP (inet_tcp_dist's {packet,2}) and 4 inside TLS (inet_tls_dist
 * runs the whole handshake on a {packet,4} socket): ep_hs_config.len_size.
 *
 *   +-----------+----------------------------+
 *   | Len:16/32 | Len bytes of message        |   1 <= Len <= EP_LIMIT_HANDSHAKE_MSG
 *   +-----------+----------------------------+
 *
 * and the first byte of the message is its tag ('N', 's', 'r', 'a').
 */
#include "ep_handshake.h"

/* libcrypto's MD5 functions, not its EVP interface: EVP loads OpenSSL's
 * configuration and provider tables first, the largest part of a one-shot
 * client's start (issue 13); MD5_* compute the digest and nothing else.
 * They are deprecated in OpenSSL 3.0 for applications, not removed. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/md5.h>
#include <stdio.h>
#include <string.h>

#include "ep_dflags.h"
#include "ep_error.h"
#include "ep_limits.h"

/* The flags OTP 25+ lets the single MANDATORY_25_DIGEST flag stand for
 * (kernel's dist.hrl, MANDATORY_DFLAGS_25): an OTP 27+ node may send the
 * digest alone, so we expand it before checking or intersecting. */
#define EP__MANDATORY_DFLAGS_25                                                                  \
  (EP_DFLAG_EXTENDED_REFERENCES | EP_DFLAG_FUN_TAGS | EP_DFLAG_EXTENDED_PIDS_PORTS |           \
   EP_DFLAG_NEW_FUN_TAGS | EP_DFLAG_EXPORT_PTR_TAG | EP_DFLAG_BIT_BINARIES |                   \
   EP_DFLAG_NEW_FLOATS | EP_DFLAG_UTF8_ATOMS | EP_DFLAG_MAP_TAG | EP_DFLAG_BIG_CREATION |      \
   EP_DFLAG_HANDSHAKE_23)

/* Longest node name we accept (bytes). The BEAM limits atoms to 255
 * characters, up to 4 bytes each in UTF-8. */
#define EP__NAME_MAX 1020u

/* States. The transition table (I = initiator, A = acceptor; "out" is what
 * is queued for the caller to write):
 *
 *   state              event                          out               next
 *   -----------------  -----------------------------  ----------------  -----------------
 *   I_STATUS           (ep_hs_new)                    'N' name          I_STATUS
 *   I_STATUS           "sok" / "sok_simultaneous"                       I_CHALLENGE
 *   I_STATUS           "snamed:" (we sent NAME_ME)                      I_CHALLENGE
 *   I_STATUS           "snok"                                           FAILED ENOK
 *   I_STATUS           "snot_allowed"                                   FAILED ENOTALLOWED
 *   I_STATUS           "salive"                                         I_ALIVE (DECIDE)
 *   I_ALIVE            decide ALIVE_TRUE              "strue"           I_CHALLENGE
 *   I_ALIVE            decide ALIVE_FALSE             "sfalse"          FAILED EALIVE
 *   I_CHALLENGE        'N' challenge, name + flags ok 'r' reply         I_ACK
 *   I_CHALLENGE        wrong name / lacks flags                         FAILED EWRONGNODE/EFLAGS
 *   I_ACK              'a' digest ok                                    DONE
 *   I_ACK              'a' digest wrong                                 FAILED EAUTH
 *   A_NAME             'N' name, flags ok                               A_DECIDE (DECIDE)
 *   A_NAME             'N' name lacking flags         "snot_allowed"    FAILED EFLAGS
 *   A_DECIDE           OK / OK_SIMULTANEOUS / NAMED   status, 'N' chal. A_REPLY
 *   A_DECIDE           NOK / NOT_ALLOWED              status            FAILED ENOK/ENOTALLOWED
 *   A_DECIDE           NAME_ME peer, not NAMED        "snot_allowed"    FAILED ENOTALLOWED
 *   A_DECIDE           ALIVE                          "salive"          A_ALIVE
 *   A_ALIVE            "strue"                        'N' challenge     A_REPLY
 *   A_ALIVE            "sfalse"                                         FAILED EALIVE
 *   A_REPLY            'r' digest ok                  'a' ack           DONE
 *   A_REPLY            'r' digest wrong                                 FAILED EAUTH
 *   any reading state  bad length, bad tag, bad shape                   FAILED EHANDSHAKE
 */
typedef enum hs_state {
  HS_I_STATUS,
  HS_I_ALIVE,
  HS_I_CHALLENGE,
  HS_I_ACK,
  HS_A_NAME,
  HS_A_DECIDE,
  HS_A_ALIVE,
  HS_A_REPLY,
  HS_DONE,
  HS_FAILED
} hs_state;

struct ep_handshake {
  const ep_mem *mem;
  ep_hs_role role;
  hs_state state;
  int err;

  char *this_node;     /* ours; replaced by a "named:" status */
  char *named_name;    /* acceptor: what ep_hs_set_named gave */
  uint32_t named_creation;
  uint32_t this_creation;
  uint64_t this_flags;
  uint64_t required;
  uint8_t *cookie;
  size_t cookie_len;
  char *expected_peer;
  uint32_t challenge; /* ours */

  char *peer_name;
  uint64_t peer_flags; /* expanded (MANDATORY_25_DIGEST) */
  uint32_t peer_creation;
  uint32_t peer_challenge;

  /* input: the current message, its length header first */
  uint8_t hdr[4];
  size_t hdr_have;
  size_t len_size; /* 2 or 4: the length header of every message */
  size_t msg_len;
  size_t msg_have;
  uint8_t msg[EP_LIMIT_HANDSHAKE_MSG];

  ep_buf out;
  size_t out_off; /* bytes of out already acknowledged */
};

/* --- helpers ------------------------------------------------------------------------- */

void ep_hs_digest(const uint8_t *cookie, size_t cookie_len, uint32_t challenge, uint8_t out[16]) {
  char dec[16];
  int n = snprintf(dec, sizeof dec, "%lu", (unsigned long)challenge);
  MD5_CTX c;
  MD5_Init(&c);
  MD5_Update(&c, cookie, cookie_len);
  MD5_Update(&c, dec, (size_t)n);
  MD5_Final(out, &c);
  OPENSSL_cleanse(&c, sizeof c);
}

static char *dup_n(const ep_mem *m, const void *p, size_t n) {
  char *s = ep_malloc(m, n + 1);
  if (!s) return NULL;
  if (n) memcpy(s, p, n);
  s[n] = 0;
  return s;
}

static int fail(ep_handshake *hs, int err) {
  hs->state = HS_FAILED;
  hs->err = err;
  return err;
}

/* A node name "alive@host": exactly one '@', neither part empty, no NUL. */
static bool name_ok(const uint8_t *p, size_t n) {
  if (n == 0 || n > EP__NAME_MAX || memchr(p, 0, n)) return false;
  const uint8_t *at = memchr(p, '@', n);
  if (!at || at == p || at == p + n - 1) return false;
  return memchr(at + 1, '@', (size_t)(p + n - at - 1)) == NULL;
}

/* A bare host (what a NAME_ME initiator sends): non-empty, no '@', no NUL. */
static bool host_ok(const uint8_t *p, size_t n) {
  return n > 0 && n <= EP__NAME_MAX && !memchr(p, 0, n) && !memchr(p, '@', n);
}

static const char *host_of(const char *node) {
  const char *at = strchr(node, '@');
  return at ? at + 1 : node;
}

static uint64_t expand_flags(uint64_t f) {
  return (f & EP_DFLAG_MANDATORY_25_DIGEST) ? (f | EP__MANDATORY_DFLAGS_25) : f;
}

/* A message's length header, in the size the transport uses. */
static void put_len(ep_handshake *hs, size_t n) {
  if (hs->len_size == 4) ep_buf_put32(&hs->out, (uint32_t)n);
  else ep_buf_put16(&hs->out, (uint16_t)n);
}

/* Appends one framed message. */
static void put_msg(ep_handshake *hs, const void *p, size_t n) {
  put_len(hs, n);
  ep_buf_append(&hs->out, p, n);
}

static void put_status(ep_handshake *hs, const char *status) {
  size_t n = strlen(status);
  put_len(hs, n + 1);
  ep_buf_put8(&hs->out, 's');
  ep_buf_append(&hs->out, status, n);
}

/* send_name, initiator:
 *   'N' Flags:64 Creation:32 NameLen:16 Name
 * With NAME_ME the name is our host only and the creation 0 (the acceptor
 * hands both back in a "named:" status). */
static void put_name(ep_handshake *hs) {
  bool name_me = (hs->this_flags & EP_DFLAG_NAME_ME) != 0;
  const char *name = name_me ? host_of(hs->this_node) : hs->this_node;
  size_t n = strlen(name);
  put_len(hs, 15 + n);
  ep_buf_put8(&hs->out, 'N');
  ep_buf_put64(&hs->out, hs->this_flags);
  ep_buf_put32(&hs->out, name_me ? 0 : hs->this_creation);
  ep_buf_put16(&hs->out, (uint16_t)n);
  ep_buf_append(&hs->out, name, n);
}

/* send_challenge, acceptor:
 *   'N' Flags:64 Challenge:32 Creation:32 NameLen:16 Name */
static void put_challenge(ep_handshake *hs) {
  size_t n = strlen(hs->this_node);
  uint64_t flags = hs->this_flags;
  /* OTP echoes NAME_ME to a NAME_ME initiator (dist_util:publish_flag). */
  if (hs->peer_flags & EP_DFLAG_NAME_ME) flags |= EP_DFLAG_NAME_ME;
  put_len(hs, 19 + n);
  ep_buf_put8(&hs->out, 'N');
  ep_buf_put64(&hs->out, flags);
  ep_buf_put32(&hs->out, hs->challenge);
  ep_buf_put32(&hs->out, hs->this_creation);
  ep_buf_put16(&hs->out, (uint16_t)n);
  ep_buf_append(&hs->out, hs->this_node, n);
}

/* "snamed:" NameLen:16 Name Creation:32 */
static void put_named(ep_handshake *hs) {
  size_t n = strlen(hs->named_name);
  put_len(hs, 7 + 2 + n + 4);
  ep_buf_append(&hs->out, "snamed:", 7);
  ep_buf_put16(&hs->out, (uint16_t)n);
  ep_buf_append(&hs->out, hs->named_name, n);
  ep_buf_put32(&hs->out, hs->named_creation);
}

static bool is_status(const uint8_t *m, size_t n, const char *s) {
  size_t k = strlen(s);
  return n == k + 1 && m[0] == 's' && memcmp(m + 1, s, k) == 0;
}

/* --- message handlers (one complete message in hs->msg) ------------------------------ */

/* Initiator, status:
 *   's' "ok" | "ok_simultaneous" | "nok" | "not_allowed" | "alive"
 *   's' "named:" NameLen:16 Name Creation:32 [ignored trailing bytes] */
static int on_status(ep_handshake *hs, const uint8_t *m, size_t n) {
  bool name_me = (hs->this_flags & EP_DFLAG_NAME_ME) != 0;
  if (n >= 7 && memcmp(m, "snamed:", 7) == 0) {
    if (!name_me || n < 9) return fail(hs, EP_EHANDSHAKE);
    size_t nl = ep_get16(m + 7);
    if (n < 9 + nl + 4 || !name_ok(m + 9, nl)) return fail(hs, EP_EHANDSHAKE);
    /* The name must be on the host we asked for (OTP checks the same). */
    const char *host = host_of(hs->this_node);
    const uint8_t *at = memchr(m + 9, '@', nl);
    size_t hl = (size_t)(m + 9 + nl - (at + 1));
    if (hl != strlen(host) || memcmp(at + 1, host, hl) != 0) return fail(hs, EP_EHANDSHAKE);
    char *name = dup_n(hs->mem, m + 9, nl);
    if (!name) return fail(hs, EP_ENOMEM);
    ep_free(hs->mem, hs->this_node);
    hs->this_node = name;
    hs->this_creation = ep_get32(m + 9 + nl);
    hs->state = HS_I_CHALLENGE;
    return 0;
  }
  if (is_status(m, n, "not_allowed")) return fail(hs, EP_ENOTALLOWED);
  if (is_status(m, n, "nok")) return fail(hs, EP_ENOK);
  /* A NAME_ME initiator must be named; anything else is a protocol error. */
  if (name_me) return fail(hs, EP_EHANDSHAKE);
  if (is_status(m, n, "ok") || is_status(m, n, "ok_simultaneous")) {
    hs->state = HS_I_CHALLENGE;
    return 0;
  }
  if (is_status(m, n, "alive")) {
    hs->state = HS_I_ALIVE;
    return 0;
  }
  return fail(hs, EP_EHANDSHAKE);
}

/* Initiator, challenge:
 *   'N' Flags:64 Challenge:32 Creation:32 NameLen:16 Name [ignored trailing bytes] */
static int on_challenge(ep_handshake *hs, const uint8_t *m, size_t n) {
  if (n < 19 || m[0] != 'N') return fail(hs, EP_EHANDSHAKE);
  size_t nl = ep_get16(m + 17);
  if (n < 19 + nl || !name_ok(m + 19, nl)) return fail(hs, EP_EHANDSHAKE);
  hs->peer_name = dup_n(hs->mem, m + 19, nl);
  if (!hs->peer_name) return fail(hs, EP_ENOMEM);
  hs->peer_flags = expand_flags(ep_get64(m + 1));
  hs->peer_challenge = ep_get32(m + 9);
  hs->peer_creation = ep_get32(m + 13);
  if (hs->expected_peer && strcmp(hs->expected_peer, hs->peer_name) != 0)
    return fail(hs, EP_EWRONGNODE);
  if ((hs->peer_flags & hs->required) != hs->required) return fail(hs, EP_EFLAGS);
  /* 'r' ChallengeA:32 Digest:16 */
  uint8_t r[21];
  r[0] = 'r';
  ep_put32(r + 1, hs->challenge);
  ep_hs_digest(hs->cookie, hs->cookie_len, hs->peer_challenge, r + 5);
  put_msg(hs, r, sizeof r);
  hs->state = HS_I_ACK;
  return 0;
}

/* Initiator, ack: 'a' Digest:16 (exactly) */
static int on_ack(ep_handshake *hs, const uint8_t *m, size_t n) {
  if (n != 17 || m[0] != 'a') return fail(hs, EP_EHANDSHAKE);
  uint8_t want[16];
  ep_hs_digest(hs->cookie, hs->cookie_len, hs->challenge, want);
  if (CRYPTO_memcmp(want, m + 1, 16) != 0) return fail(hs, EP_EAUTH);
  hs->state = HS_DONE;
  return 0;
}

/* Acceptor, name:
 *   'N' Flags:64 Creation:32 NameLen:16 Name [ignored trailing bytes]
 * Name is "alive@host", or only the host when Flags has NAME_ME. */
static int on_name(ep_handshake *hs, const uint8_t *m, size_t n) {
  if (n < 15 || m[0] != 'N') return fail(hs, EP_EHANDSHAKE);
  uint64_t flags = ep_get64(m + 1);
  size_t nl = ep_get16(m + 13);
  if (n < 15 + nl) return fail(hs, EP_EHANDSHAKE);
  bool ok = (flags & EP_DFLAG_NAME_ME) ? host_ok(m + 15, nl) : name_ok(m + 15, nl);
  if (!ok) return fail(hs, EP_EHANDSHAKE);
  hs->peer_name = dup_n(hs->mem, m + 15, nl);
  if (!hs->peer_name) return fail(hs, EP_ENOMEM);
  hs->peer_flags = expand_flags(flags);
  hs->peer_creation = ep_get32(m + 9);
  if ((hs->peer_flags & hs->required) != hs->required) {
    /* As OTP does: tell the other side before closing. */
    put_status(hs, "not_allowed");
    return fail(hs, EP_EFLAGS);
  }
  hs->state = HS_A_DECIDE;
  return 0;
}

/* Acceptor, reply to the alive status: 's' "true" | "false" */
static int on_alive_reply(ep_handshake *hs, const uint8_t *m, size_t n) {
  if (is_status(m, n, "true")) {
    put_challenge(hs);
    hs->state = HS_A_REPLY;
    return 0;
  }
  if (is_status(m, n, "false")) return fail(hs, EP_EALIVE);
  return fail(hs, EP_EHANDSHAKE);
}

/* Acceptor, challenge reply: 'r' ChallengeB:32 Digest:16 (exactly) */
static int on_reply(ep_handshake *hs, const uint8_t *m, size_t n) {
  if (n != 21 || m[0] != 'r') return fail(hs, EP_EHANDSHAKE);
  uint8_t want[16];
  ep_hs_digest(hs->cookie, hs->cookie_len, hs->challenge, want);
  if (CRYPTO_memcmp(want, m + 5, 16) != 0) return fail(hs, EP_EAUTH);
  hs->peer_challenge = ep_get32(m + 1);
  uint8_t a[17];
  a[0] = 'a';
  ep_hs_digest(hs->cookie, hs->cookie_len, hs->peer_challenge, a + 1);
  put_msg(hs, a, sizeof a);
  hs->state = HS_DONE;
  return 0;
}

static int dispatch(ep_handshake *hs) {
  const uint8_t *m = hs->msg;
  size_t n = hs->msg_len;
  int rc;
  switch (hs->state) {
    case HS_I_STATUS: rc = on_status(hs, m, n); break;
    case HS_I_CHALLENGE: rc = on_challenge(hs, m, n); break;
    case HS_I_ACK: rc = on_ack(hs, m, n); break;
    case HS_A_NAME: rc = on_name(hs, m, n); break;
    case HS_A_ALIVE: rc = on_alive_reply(hs, m, n); break;
    case HS_A_REPLY: rc = on_reply(hs, m, n); break;
    default: rc = fail(hs, EP_EHANDSHAKE); break; /* not a reading state */
  }
  if (rc == 0 && hs->out.err) rc = fail(hs, EP_ENOMEM);
  return rc;
}

static bool reading(hs_state s) {
  return s == HS_I_STATUS || s == HS_I_CHALLENGE || s == HS_I_ACK || s == HS_A_NAME ||
         s == HS_A_ALIVE || s == HS_A_REPLY;
}

/* --- public API ---------------------------------------------------------------------- */

int ep_hs_new(const ep_mem *mem, const ep_hs_config *cfg, ep_handshake **out) {
  *out = NULL;
  if (!cfg || !cfg->this_node || !cfg->cookie || cfg->cookie_len == 0) return EP_EINVAL;
  if (cfg->role != EP_HS_INITIATOR && cfg->role != EP_HS_ACCEPTOR) return EP_EINVAL;
  size_t tl = strlen(cfg->this_node);
  bool name_me = cfg->role == EP_HS_INITIATOR && (cfg->flags & EP_DFLAG_NAME_ME);
  if (name_me ? !host_ok((const uint8_t *)host_of(cfg->this_node), strlen(host_of(cfg->this_node)))
              : !name_ok((const uint8_t *)cfg->this_node, tl))
    return EP_EINVAL;
  if (cfg->expected_peer && !name_ok((const uint8_t *)cfg->expected_peer, strlen(cfg->expected_peer)))
    return EP_EINVAL;
  ep_handshake *hs = ep_malloc(mem, sizeof *hs);
  if (!hs) return EP_ENOMEM;
  memset(hs, 0, sizeof *hs);
  hs->mem = mem;
  hs->role = cfg->role;
  hs->this_creation = cfg->creation;
  hs->this_flags = cfg->flags;
  hs->len_size = cfg->len_size == 4 ? 4 : 2;
  /* The acceptor only echoes NAME_ME to a NAME_ME initiator. */
  if (cfg->role == EP_HS_ACCEPTOR) hs->this_flags &= ~EP_DFLAG_NAME_ME;
  hs->required = cfg->required_flags;
  hs->challenge = cfg->challenge;
  hs->cookie_len = cfg->cookie_len;
  ep_buf_init(&hs->out, mem);
  hs->this_node = dup_n(mem, cfg->this_node, tl);
  hs->cookie = (uint8_t *)dup_n(mem, cfg->cookie, cfg->cookie_len);
  if (cfg->expected_peer) hs->expected_peer = dup_n(mem, cfg->expected_peer, strlen(cfg->expected_peer));
  if (!hs->this_node || !hs->cookie || (cfg->expected_peer && !hs->expected_peer)) {
    ep_hs_free(hs);
    return EP_ENOMEM;
  }
  if (cfg->role == EP_HS_INITIATOR) {
    put_name(hs);
    if (hs->out.err) {
      ep_hs_free(hs);
      return EP_ENOMEM;
    }
    hs->state = HS_I_STATUS;
  } else {
    hs->state = HS_A_NAME;
  }
  *out = hs;
  return 0;
}

void ep_hs_free(ep_handshake *hs) {
  if (!hs) return;
  const ep_mem *m = hs->mem;
  if (hs->cookie) OPENSSL_cleanse(hs->cookie, hs->cookie_len);
  ep_free(m, hs->cookie);
  ep_free(m, hs->this_node);
  ep_free(m, hs->named_name);
  ep_free(m, hs->expected_peer);
  ep_free(m, hs->peer_name);
  ep_buf_free(&hs->out);
  ep_free(m, hs);
}

int ep_hs_recv(ep_handshake *hs, const uint8_t *buf, size_t len, size_t *consumed) {
  size_t pos = 0;
  int rc = 0;
  /* Stop after any message that changes who must act: a decision, the end,
   * or a failure. Bytes after the ack belong to the connected phase. */
  while (pos < len && reading(hs->state)) {
    if (hs->hdr_have < hs->len_size) {
      hs->hdr[hs->hdr_have++] = buf[pos++];
      if (hs->hdr_have < hs->len_size) continue;
      hs->msg_len = hs->len_size == 4 ? ep_get32(hs->hdr) : ep_get16(hs->hdr);
      hs->msg_have = 0;
      if (hs->msg_len == 0 || hs->msg_len > EP_LIMIT_HANDSHAKE_MSG) {
        rc = fail(hs, EP_EHANDSHAKE);
        break;
      }
      continue;
    }
    size_t take = hs->msg_len - hs->msg_have;
    if (take > len - pos) take = len - pos;
    memcpy(hs->msg + hs->msg_have, buf + pos, take);
    hs->msg_have += take;
    pos += take;
    if (hs->msg_have < hs->msg_len) break;
    hs->hdr_have = 0;
    rc = dispatch(hs);
    if (rc) break;
  }
  if (consumed) *consumed = pos;
  if (!rc && hs->state == HS_FAILED) rc = hs->err;
  return rc;
}

void ep_hs_output(ep_handshake *hs, const uint8_t **data, size_t *len) {
  *data = hs->out.data ? hs->out.data + hs->out_off : NULL;
  *len = hs->out.len - hs->out_off;
}

void ep_hs_output_ack(ep_handshake *hs, size_t n) {
  size_t pending = hs->out.len - hs->out_off;
  if (n > pending) n = pending;
  hs->out_off += n;
  if (hs->out_off == hs->out.len) {
    hs->out.len = 0;
    hs->out_off = 0;
  }
}

int ep_hs_decide(ep_handshake *hs, ep_hs_decision d) {
  if (hs->state == HS_I_ALIVE) {
    if (d == EP_HS_ALIVE_TRUE) {
      put_status(hs, "true");
      hs->state = HS_I_CHALLENGE;
    } else if (d == EP_HS_ALIVE_FALSE) {
      put_status(hs, "false");
      fail(hs, EP_EALIVE);
    } else {
      return EP_EINVAL;
    }
    return hs->out.err ? fail(hs, EP_ENOMEM) : 0;
  }
  if (hs->state != HS_A_DECIDE) return EP_EINVAL;
  bool name_me = (hs->peer_flags & EP_DFLAG_NAME_ME) != 0;
  /* A NAME_ME initiator can only be named (or refused). Any other answer
   * for it would leave the machine waiting on a decision a runtime that
   * does not know about NAME_ME never makes, so it refuses the peer
   * instead ("not_allowed", EP_ENOTALLOWED) and says EP_EINVAL: the
   * handshake ends either way, even if the caller ignores the return. */
  if (name_me && (d == EP_HS_OK || d == EP_HS_OK_SIMULTANEOUS || d == EP_HS_ALIVE ||
                  (d == EP_HS_NAMED && !hs->named_name))) {
    put_status(hs, "not_allowed");
    fail(hs, EP_ENOTALLOWED);
    return EP_EINVAL;
  }
  switch (d) {
    case EP_HS_OK:
    case EP_HS_OK_SIMULTANEOUS:
      put_status(hs, d == EP_HS_OK ? "ok" : "ok_simultaneous");
      put_challenge(hs);
      hs->state = HS_A_REPLY;
      break;
    case EP_HS_NAMED: {
      if (!name_me) return EP_EINVAL; /* stays in DECIDE: decide again */
      char *name = dup_n(hs->mem, hs->named_name, strlen(hs->named_name));
      if (!name) return fail(hs, EP_ENOMEM);
      put_named(hs);
      put_challenge(hs);
      ep_free(hs->mem, hs->peer_name);
      hs->peer_name = name;
      hs->peer_creation = hs->named_creation;
      hs->state = HS_A_REPLY;
      break;
    }
    case EP_HS_NOK:
      put_status(hs, "nok");
      fail(hs, EP_ENOK);
      break;
    case EP_HS_NOT_ALLOWED:
      put_status(hs, "not_allowed");
      fail(hs, EP_ENOTALLOWED);
      break;
    case EP_HS_ALIVE:
      put_status(hs, "alive");
      hs->state = HS_A_ALIVE;
      break;
    default: return EP_EINVAL;
  }
  if (hs->out.err) return fail(hs, EP_ENOMEM);
  return 0;
}

int ep_hs_set_named(ep_handshake *hs, const char *name, uint32_t creation) {
  if (hs->role != EP_HS_ACCEPTOR || !name || !name_ok((const uint8_t *)name, strlen(name)))
    return EP_EINVAL;
  char *copy = dup_n(hs->mem, name, strlen(name));
  if (!copy) return EP_ENOMEM;
  ep_free(hs->mem, hs->named_name);
  hs->named_name = copy;
  hs->named_creation = creation;
  return 0;
}

ep_hs_status ep_hs_status_get(const ep_handshake *hs) {
  switch (hs->state) {
    case HS_I_ALIVE:
    case HS_A_DECIDE: return EP_HS_DECIDE;
    case HS_DONE: return EP_HS_DONE;
    case HS_FAILED: return EP_HS_FAILED;
    default: return EP_HS_RUNNING;
  }
}

int ep_hs_error(const ep_handshake *hs) { return hs->state == HS_FAILED ? hs->err : 0; }
const char *ep_hs_peer_name(const ep_handshake *hs) { return hs->peer_name; }
uint64_t ep_hs_peer_flags(const ep_handshake *hs) { return hs->peer_flags; }
uint32_t ep_hs_peer_creation(const ep_handshake *hs) { return hs->peer_creation; }
const char *ep_hs_this_name(const ep_handshake *hs) { return hs->this_node; }
uint32_t ep_hs_this_creation(const ep_handshake *hs) { return hs->this_creation; }
uint64_t ep_hs_flags(const ep_handshake *hs) {
  return hs->state == HS_DONE ? (expand_flags(hs->this_flags) & hs->peer_flags) : 0;
}
