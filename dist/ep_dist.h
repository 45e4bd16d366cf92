/* ep_dist.h - the connected phase of a distribution connection, sans-I/O:
 * frames in and out, ticks, fragment reassembly, and control messages as a
 * typed struct.
 *
 * Frame (after the handshake, plain TCP):
 *   Length:32  (0 = tick)
 *   then either pass-through    112, 131 ControlTerm [, 131 PayloadTerm]
 *   or, with DFLAG_FRAGMENTS, a fragmented message:
 *       131 69 SequenceId:64 FragmentId:64 NumAtomCacheRefs(=0 here) ... first
 *       131 70 SequenceId:64 FragmentId:64 ...                           rest
 *     (FragmentId counts down to 1; the pieces concatenated form the
 *     ControlTerm [PayloadTerm]). We never negotiate the atom cache
 *     (docs/distribution.md says why), so no atom cache refs appear.
 */
#ifndef EP_DIST_H
#define EP_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ep_limits.h"
#include "ep_mem.h"
#include "ep_term.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- control message operations (the first element of the control tuple) --- */
typedef enum ep_ctrl_op {
  EP_CTRL_LINK = 1,
  EP_CTRL_SEND = 2,
  EP_CTRL_EXIT = 3,
  EP_CTRL_UNLINK = 4,
  EP_CTRL_NODE_LINK = 5,
  EP_CTRL_REG_SEND = 6,
  EP_CTRL_GROUP_LEADER = 7,
  EP_CTRL_EXIT2 = 8,
  EP_CTRL_SEND_TT = 12,
  EP_CTRL_EXIT_TT = 13,
  EP_CTRL_REG_SEND_TT = 16,
  EP_CTRL_EXIT2_TT = 18,
  EP_CTRL_MONITOR_P = 19,
  EP_CTRL_DEMONITOR_P = 20,
  EP_CTRL_MONITOR_P_EXIT = 21,
  EP_CTRL_SEND_SENDER = 22,
  EP_CTRL_SEND_SENDER_TT = 23,
  EP_CTRL_PAYLOAD_EXIT = 24,
  EP_CTRL_PAYLOAD_EXIT_TT = 25,
  EP_CTRL_PAYLOAD_EXIT2 = 26,
  EP_CTRL_PAYLOAD_EXIT2_TT = 27,
  EP_CTRL_PAYLOAD_MONITOR_P_EXIT = 28,
  EP_CTRL_SPAWN_REQUEST = 29,
  EP_CTRL_SPAWN_REQUEST_TT = 30,
  EP_CTRL_SPAWN_REPLY = 31,
  EP_CTRL_SPAWN_REPLY_TT = 32,
  EP_CTRL_ALIAS_SEND = 33,
  EP_CTRL_ALIAS_SEND_TT = 34,
  EP_CTRL_UNLINK_ID = 35,
  EP_CTRL_UNLINK_ID_ACK = 36
} ep_ctrl_op;

/* A control message with its payload, normalised: the *_TT forms arrive
 * with their trace token in `token` and the same op as the plain form; the
 * PAYLOAD_ forms arrive with the reason in `reason` and the plain op
 * (EP_CTRL_EXIT, EP_CTRL_EXIT2, EP_CTRL_MONITOR_P_EXIT); SEND_SENDER
 * arrives as EP_CTRL_SEND with `from` set. Fields an op does not use are
 * EP_T_NONE. Terms point into the arena the frame was decoded into.
 *
 *   op                 from      to           ref        other
 *   LINK, UNLINK       pid       pid
 *   UNLINK_ID(_ACK)    pid       pid                     id
 *   SEND               [pid]     pid                     msg
 *   REG_SEND           pid       atom (name)             msg
 *   ALIAS_SEND         pid       ref (alias)             msg
 *   EXIT, EXIT2        pid       pid                     reason
 *   MONITOR_P          pid       pid | atom   ref
 *   DEMONITOR_P        pid       pid | atom   ref
 *   MONITOR_P_EXIT     pid|atom  pid          ref        reason
 *   GROUP_LEADER       pid       pid
 *   SPAWN_REQUEST      pid       -            ref (ReqId) group_leader, mfa
 *                                                         {M,F,Arity}, opts, msg (args)
 *   SPAWN_REPLY        -         pid          ref (ReqId) spawn_flags, result
 */
typedef struct ep_ctrl {
  ep_ctrl_op op;
  ep_term from;
  ep_term to;
  ep_term ref;
  ep_term msg;
  ep_term reason;
  ep_term token;
  uint64_t id;
  ep_term group_leader;
  ep_term mfa;
  ep_term opts;
  uint32_t spawn_flags;
  ep_term result;
} ep_ctrl;

/* Parses a control tuple (and payload, EP_T_NONE if the frame had none)
 * into c. Returns 0, or EP_ECONTROL for an unknown op or a wrong shape
 * (a recoverable error: report it and skip the message). */
int ep_ctrl_parse(ep_term control, ep_term payload, ep_ctrl *c);

/* Builds the control tuple and payload for c, in arena a, using the
 * negotiated flags to choose the form (SEND_SENDER vs SEND, PAYLOAD_EXIT vs
 * EXIT, ...). Returns 0, EP_ENOMEM, EP_EINVAL (op not sendable, or not
 * supported by flags). */
int ep_ctrl_build(ep_arena *a, const ep_ctrl *c, uint64_t flags, ep_term *control, ep_term *payload);

/* --- frames in ------------------------------------------------------------------ */

typedef enum ep_dist_kind {
  EP_DIST_NONE,    /* a frame was used up without completing a message (a fragment) */
  EP_DIST_TICK,    /* a zero-length frame: the other side is alive */
  EP_DIST_MESSAGE  /* control (and payload) below */
} ep_dist_kind;

typedef struct ep_dist_msg {
  ep_dist_kind kind;
  ep_term control;
  ep_term payload; /* EP_T_NONE when the frame had none */
} ep_dist_msg;

typedef struct ep_dist_reader ep_dist_reader;

/* flags: the negotiated set. lim may be NULL (defaults). */
int ep_dist_reader_new(const ep_mem *mem, uint64_t flags, const ep_limits *lim, ep_dist_reader **out);
void ep_dist_reader_free(ep_dist_reader *r);

/* Reads at most one frame from buf. Returns 0 with *consumed > 0 and out
 * filled; EP_EINCOMPLETE (*consumed = 0) when the frame has not fully
 * arrived — then *need (if not NULL) is the total bytes that frame needs,
 * so the caller can size its buffer once; or a fatal error: EP_EFRAME
 * (bad length or header), EP_EFRAGMENT (reassembly limits), a term
 * decoding error. Terms go into arena a. */
int ep_dist_read(ep_dist_reader *r, ep_arena *a, const uint8_t *buf, size_t len, size_t *consumed,
                 size_t *need, ep_dist_msg *out);

/* --- frames out ------------------------------------------------------------------ */

/* Appends a tick (4 zero bytes). */
int ep_dist_write_tick(ep_buf *out);
/* Appends one pass-through frame: length, 112, 131 control [, 131 payload].
 * payload may be EP_T_NONE. Returns 0, EP_ENOMEM, EP_EINVAL. */
int ep_dist_write(ep_buf *out, ep_term control, ep_term payload);
/* ep_ctrl_build + ep_dist_write, with a scratch arena of its own. */
int ep_dist_write_ctrl(ep_buf *out, const ep_ctrl *c, uint64_t flags);

#ifdef __cplusplus
}
#endif
#endif
