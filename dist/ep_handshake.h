/* ep_handshake.h - the distribution handshake (version 6), both sides,
 * sans-I/O: bytes in, bytes out, decisions asked of the caller.
 *
 * The caller (lib/ep_node.c) owns the socket and the clock: it feeds what it
 * reads to ep_hs_recv, writes what ep_hs_output returns and acknowledges it
 * with ep_hs_output_ack, enforces EP_LIMIT_HANDSHAKE_MS itself, and passes
 * in our random challenge. The state machine never blocks and resumes on any
 * split of the input.
 *
 * Initiator A (dials), acceptor B (listens):
 *   A->B  send_name   'N' Flags:64 Creation:32 NameLen:16 Name
 *   B->A  status      's' ok | ok_simultaneous | nok | not_allowed | alive
 *                     | "named:" NameLen:16 Name Creation:32
 *   A->B  (alive only) 's' "true" | "false"
 *   B->A  challenge   'N' Flags:64 Challenge:32 Creation:32 NameLen:16 Name
 *   A->B  reply       'r' ChallengeA:32 Digest(ChallengeB):16
 *   B->A  ack         'a' Digest(ChallengeA):16
 * each message preceded by a big-endian length: 2 bytes over plain TCP, 4
 * inside TLS (ep_hs_config.len_size; the messages are the same).
 * Digest = MD5(cookie ++ decimal text of the unsigned 32-bit challenge);
 * both sides check the other's digest, in constant time.
 */
#ifndef EP_HANDSHAKE_H
#define EP_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ep_mem.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ep_hs_role { EP_HS_INITIATOR, EP_HS_ACCEPTOR } ep_hs_role;

typedef enum ep_hs_status {
  EP_HS_RUNNING,   /* feed more bytes / write output */
  EP_HS_DECIDE,    /* the caller must call ep_hs_decide (see below) */
  EP_HS_DONE,      /* connected: flags, name, creation available; the
                      acceptor's ack is still in ep_hs_output: write it
                      before any frame */
  EP_HS_FAILED     /* ep_hs_error tells why; close the socket after
                      writing any pending output (e.g. a refusal status) */
} ep_hs_status;

/* Decisions. The acceptor decides after reading the initiator's name
 * (ep_hs_peer_name): OK to go on, or a refusal it sends as the status;
 * OK_SIMULTANEOUS when it keeps this connection in a simultaneous connect it
 * wins; NAMED to give a NAME_ME initiator the name set by ep_hs_set_named.
 * The initiator decides after reading status "alive": ALIVE_TRUE (the old
 * connection is gone, replace it) or ALIVE_FALSE (abort).
 *
 * How a runtime should decide as acceptor (what OTP's net_kernel does in
 * handle_info({accept_pending, ...})), by the state of its own connection to
 * the node named ep_hs_peer_name():
 *   - none:                    EP_HS_OK (EP_HS_NAMED for a NAME_ME initiator,
 *                              the peer flags have EP_DFLAG_NAME_ME)
 *   - our own dial to that node is still in its handshake (simultaneous
 *     connect): compare the two node names as byte strings (OTP compares the
 *     atoms, which for names is the same order): if ours is greater, our
 *     dial wins: EP_HS_NOK; else this one wins: abort our dial and answer
 *     EP_HS_OK_SIMULTANEOUS. Both sides apply the same rule, so exactly one
 *     connection survives.
 *   - connected already: EP_HS_ALIVE; if the initiator answers true (it lost
 *     the old connection without our noticing), drop the old connection
 *     before using this one (OTP kills the old controller before sending the
 *     ack); if false, the handshake fails with EP_EALIVE.
 *   - a second handshake from that node is already waiting on "alive":
 *     EP_HS_NOK.
 *   - node not allowed (policy): EP_HS_NOT_ALLOWED.
 * As initiator, on "alive": EP_HS_ALIVE_TRUE when this dial is still the
 * runtime's current attempt to reach that node (OTP's is_pending), else
 * EP_HS_ALIVE_FALSE. */
typedef enum ep_hs_decision {
  EP_HS_OK,
  EP_HS_OK_SIMULTANEOUS,
  EP_HS_NOK,
  EP_HS_NOT_ALLOWED,
  EP_HS_ALIVE,
  EP_HS_NAMED,
  EP_HS_ALIVE_TRUE,
  EP_HS_ALIVE_FALSE
} ep_hs_decision;

typedef struct ep_hs_config {
  ep_hs_role role;
  const char *this_node;   /* "name@host"; with EP_DFLAG_NAME_ME as initiator, the
                              host part only matters ("undefined@host" style) */
  uint32_t creation;       /* ours, from EPMD */
  uint64_t flags;          /* ours: normally EP_DFLAGS_OURS */
  uint64_t required_flags; /* refuse peers lacking these (EP_DFLAGS_REQUIRED) */
  const uint8_t *cookie;
  size_t cookie_len;
  const char *expected_peer; /* initiator: the node we dialled (its name must
                                come back in the challenge); NULL to skip */
  uint32_t challenge;        /* ours: random, from the caller */
  unsigned len_size;         /* bytes of each message's length header: 2 (0
                                means 2: inet_tcp_dist) or 4 (inet_tls_dist,
                                whose socket is {packet,4} from the start) */
} ep_hs_config;

typedef struct ep_handshake ep_handshake;

/* Copies what it needs from cfg (cookie and names included). The initiator's
 * first message is ready in ep_hs_output at once. mem may be NULL.
 * Returns 0, EP_ENOMEM, EP_EINVAL (bad names, empty cookie). */
int ep_hs_new(const ep_mem *mem, const ep_hs_config *cfg, ep_handshake **out);
void ep_hs_free(ep_handshake *hs);

/* Feeds bytes read from the socket; *consumed says how many were used (the
 * rest belongs to the connected phase once the status is DONE: the first
 * distribution frame may arrive in the same read as the ack). It also stops
 * at EP_HS_DECIDE: feed the unconsumed rest again after ep_hs_decide.
 * Returns 0 or the error that made the handshake fail (also in
 * ep_hs_error); after a failure, still write what ep_hs_output holds (a
 * refusal status) before closing. */
int ep_hs_recv(ep_handshake *hs, const uint8_t *buf, size_t len, size_t *consumed);

/* Bytes to write now (len 0 when none); they stay valid until the next call
 * on hs. ep_hs_output_ack(hs, n) says n of them were written. */
void ep_hs_output(ep_handshake *hs, const uint8_t **data, size_t *len);
void ep_hs_output_ack(ep_handshake *hs, size_t n);

/* EP_HS_DECIDE only; EP_EINVAL when the decision does not fit the moment
 * (the state is unchanged: decide again), with one exception that keeps a
 * careless runtime from spinning: for a NAME_ME initiator anything but
 * EP_HS_NAMED after ep_hs_set_named (or a refusal) queues "not_allowed",
 * fails the handshake with EP_ENOTALLOWED, and returns EP_EINVAL. */
int ep_hs_decide(ep_handshake *hs, ep_hs_decision d);
/* The name and creation to hand a NAME_ME initiator with EP_HS_NAMED. */
int ep_hs_set_named(ep_handshake *hs, const char *name, uint32_t creation);

ep_hs_status ep_hs_status_get(const ep_handshake *hs);
/* Why it failed: EP_EAUTH (digest mismatch), EP_ENOTALLOWED, EP_ENOK,
 * EP_EALIVE (aborted), EP_EWRONGNODE, EP_EFLAGS (lacks required flags),
 * EP_EHANDSHAKE (malformed, or a message past EP_LIMIT_HANDSHAKE_MSG),
 * EP_ENOMEM. 0 while not failed. An acceptor that refused (EP_HS_NOK,
 * EP_HS_NOT_ALLOWED) fails with the same code the initiator gets; one whose
 * "alive" was answered false, and an initiator that answered false, fail
 * with EP_EALIVE. An acceptor refusing a peer that lacks required flags
 * queues "not_allowed" and fails with EP_EFLAGS (as OTP does). */
int ep_hs_error(const ep_handshake *hs);

/* Known once the other side's name message arrived (acceptor) or its
 * challenge (initiator); NUL-terminated, owned by hs, NULL before.
 * Acceptor: a NAME_ME initiator's name is first its host only, and the
 * name given with EP_HS_NAMED once decided.
 * ep_hs_peer_flags: as sent, except that MANDATORY_25_DIGEST is expanded
 * into the OTP 25 mandatory flags it stands for (dist.hrl). */
const char *ep_hs_peer_name(const ep_handshake *hs);
uint64_t ep_hs_peer_flags(const ep_handshake *hs);
uint32_t ep_hs_peer_creation(const ep_handshake *hs);
/* Our name after a "named:" status (NAME_ME); else this_node. */
const char *ep_hs_this_name(const ep_handshake *hs);
uint32_t ep_hs_this_creation(const ep_handshake *hs);
/* Flags both sides have (the intersection), valid when DONE. */
uint64_t ep_hs_flags(const ep_handshake *hs);

/* MD5(cookie ++ decimal(challenge)) into out[16] (libcrypto's MD5, which
 * allocates nothing and loads no configuration). */
void ep_hs_digest(const uint8_t *cookie, size_t cookie_len, uint32_t challenge, uint8_t out[16]);

#ifdef __cplusplus
}
#endif
#endif
