/* ep_dist.h - the connected phase of a distribution connection, sans-I/O:
 * frames in and out, ticks, fragment reassembly, and control messages as a
 * typed struct.
 *
 * Frames after the handshake (plain TCP), as erts writes them (external.c):
 *   Length:32 = 0                                            tick
 *   Without DIST_HDR_ATOM_CACHE and FRAGMENTS negotiated:
 *     Length:32  112  131 ControlTerm  [131 PayloadTerm]      pass-through
 *   With FRAGMENTS (or the atom cache) negotiated, EVERY message:
 *     Length:32  131 68 NumRefs:8  Control [Payload]          whole message
 *     Length:32  131 69 SeqId:64 FragId:64 NumRefs:8  chunk  first fragment
 *     Length:32  131 70 SeqId:64 FragId:64  chunk            the others
 *   where Control and Payload are term bodies WITHOUT the 131 byte, FragId
 *   counts down from the number of fragments to 1, and the chunks
 *   concatenated form Control [Payload]. The BEAM refuses a 112 frame on a
 *   connection with FRAGMENTS negotiated (and kills it), so writers must
 *   know the flags: ep_dist_write_flags / ep_dist_write_ctrl do.
 *   We never negotiate the atom cache (docs/distribution.md says why), so
 *   NumRefs is always 0 here; a frame with NumRefs > 0 is EP_EFRAME.
 *   We never fragment on send.
 */
#ifndef EP_DIST_H
#define EP_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ep_etf.h"
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
 * into c. Returns 0, or EP_ECONTROL for an unknown op or a wrong shape:
 * wrong arity, a field of the wrong type, a payload where the op has none
 * or none where it needs one (a recoverable error: report it and skip the
 * message; c is then all EP_T_NONE). UNLINK_ID and UNLINK_ID_ACK keep
 * their own ops (with `id`). Terms in c point into control/payload. */
int ep_ctrl_parse(ep_term control, ep_term payload, ep_ctrl *c);

/* Builds the control tuple and payload for c, in arena a, using the
 * negotiated flags to choose the form:
 *   SEND with a `from` pid     -> SEND_SENDER when SEND_SENDER, else SEND
 *   EXIT, EXIT2, MONITOR_P_EXIT -> the PAYLOAD_ forms when EXIT_PAYLOAD
 *   UNLINK or UNLINK_ID        -> UNLINK_ID {35, id, ...} when UNLINK_ID,
 *                                 else UNLINK {4, ...}
 *   a `token` (not EP_T_NONE)  -> the _TT form where one exists
 * Returns 0, EP_ENOMEM, EP_EINVAL (op not sendable: NODE_LINK and the
 * wire-only codes; a field missing or of the wrong type; or an op the
 * flags do not allow: MONITOR_P/DEMONITOR_P/MONITOR_P_EXIT need
 * DIST_MONITOR (and DIST_MONITOR_NAME for a name), ALIAS_SEND needs ALIAS,
 * SPAWN_* need SPAWN, UNLINK_ID_ACK needs UNLINK_ID). */
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

/* flags: the negotiated set (131 69 / 131 70 fragments are accepted only
 * with EP_DFLAG_FRAGMENTS; 112 and 131 68 frames always). lim may be NULL
 * (defaults); it applies to the terms decoded. Returns 0 or EP_ENOMEM; free
 * with ep_dist_reader_free, which also drops half-received messages. */
int ep_dist_reader_new(const ep_mem *mem, uint64_t flags, const ep_limits *lim, ep_dist_reader **out);
void ep_dist_reader_free(ep_dist_reader *r);
/* Overrides the frame limits (0 = the default of ep_limits.h): largest
 * frame (EP_LIMIT_FRAME_SIZE), bytes held by all half-received fragmented
 * messages together (EP_LIMIT_FRAGMENTED_SIZE; so memory stays bounded
 * however many sequences are open), open sequences
 * (EP_LIMIT_FRAGMENT_SEQUENCES). Returns 0, or EP_EINVAL for no reader. */
int ep_dist_reader_set_limits(ep_dist_reader *r, size_t frame_size, size_t fragmented_size,
                              size_t sequences);
/* Fragmented messages begun and not yet complete. */
size_t ep_dist_reader_pending(const ep_dist_reader *r);

/* Reads at most one frame from buf. Returns 0 with *consumed > 0 and out
 * filled (kind EP_DIST_NONE for a fragment that did not complete its
 * message); EP_EINCOMPLETE (*consumed = 0) when the frame has not fully
 * arrived — then *need (if not NULL) is the total bytes that frame needs
 * (4 while the length itself is incomplete), so the caller can size its
 * buffer once; or a fatal error: EP_EFRAME (length past the limit, unknown
 * header, atom cache refs, terms that do not fill the frame exactly),
 * EP_EFRAGMENT (continuation of an unknown sequence, a fragment out of
 * order, a sequence id already open, too many open sequences, too many
 * bytes held), EP_ENOMEM, or a term decoding error (ep_etf.h). Terms go
 * into arena a. */
int ep_dist_read(ep_dist_reader *r, ep_arena *a, const uint8_t *buf, size_t len, size_t *consumed,
                 size_t *need, ep_dist_msg *out);

/* --- frames out ------------------------------------------------------------------ */

/* Appends a tick (4 zero bytes). */
int ep_dist_write_tick(ep_buf *out);
/* Appends one pass-through frame: length, 112, 131 control [, 131 payload].
 * payload may be EP_T_NONE. Returns 0, EP_ENOMEM, EP_EINVAL (control is
 * EP_T_NONE, a term is not encodable, or the frame passes 4 GiB); out is
 * unchanged on error.
 * ONLY for connections without FRAGMENTS and DIST_HDR_ATOM_CACHE: with
 * either, the BEAM drops the connection on a 112 frame. Prefer
 * ep_dist_write_flags. */
int ep_dist_write(ep_buf *out, ep_term control, ep_term payload);
/* The frame form the negotiated flags call for: pass-through, or
 * 131 68 0 Control [Payload] (bodies without 131) when FRAGMENTS or
 * DIST_HDR_ATOM_CACHE was negotiated. Never fragments. Errors as
 * ep_dist_write. */
int ep_dist_write_flags(ep_buf *out, uint64_t flags, ep_term control, ep_term payload);
/* ep_dist_write_flags, gathered (ep_etf.h): the frame's bytes go into out
 * except the contents of binaries of at least g->min_ref bytes, which g
 * describes by reference; g's segments, concatenated, are exactly the frame
 * ep_dist_write_flags would append (the length field counts the referenced
 * bytes). g comes from ep_gather_init on out (several frames may be
 * gathered in a row); when g runs short of segments the rest is copied.
 * The segments point into out (by offset) and into the terms' binaries:
 * send them before either changes. Errors as ep_dist_write, and
 * EP_EINVAL for a NULL or unusable g; out and g are unchanged on error. */
int ep_dist_write_gather(ep_buf *out, ep_gather *g, uint64_t flags, ep_term control, ep_term payload);
/* The sending half of a connection's atom cache (DIST_HDR_ATOM_CACHE):
 * which atom each of the 2048 slots holds on the other side. One per
 * connection and direction, from the handshake on; about 30 KiB plus the
 * cached texts. ep_dist_writer_new: 0 or EP_ENOMEM; free with
 * ep_dist_writer_free. */
typedef struct ep_dist_writer ep_dist_writer;
int ep_dist_writer_new(const ep_mem *mem, ep_dist_writer **out);
void ep_dist_writer_free(ep_dist_writer *w);
/* ep_dist_write_flags (g NULL) or ep_dist_write_gather (g), with the
 * atoms of the control message and of the top of the payload sent as atom
 * cache references when flags has DIST_HDR_ATOM_CACHE (w NULL or the flag
 * absent: exactly those two). Frames must reach the other side in the
 * order they were written: a frame may rely on a cache entry an earlier
 * one made. On error out, g and the cache are unchanged. */
int ep_dist_write_cached(ep_dist_writer *w, ep_buf *out, ep_gather *g, uint64_t flags, ep_term control,
                         ep_term payload);
/* Atom cache references written (by w) or read (by r) so far: how much
 * the cache is used. */
uint64_t ep_dist_writer_refs(const ep_dist_writer *w);
uint64_t ep_dist_reader_refs(const ep_dist_reader *r);
/* ep_ctrl_build + ep_dist_write_flags, with a scratch arena of its own
 * (allocated with out->mem). */
int ep_dist_write_ctrl(ep_buf *out, const ep_ctrl *c, uint64_t flags);

#ifdef __cplusplus
}
#endif
#endif
