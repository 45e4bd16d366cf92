/* ep_dflags.h - distribution capability flags, and the one set erlpeer sends.
 *
 * Every OTP major since 20 made some flag mandatory and broke a non-BEAM
 * client; the set below is the only place that decides what we advertise.
 * What each release requires (PROTOCOL-NOTES.md, checked against live nodes):
 *   OTP 25: EXTENDED_REFERENCES, FUN_TAGS, NEW_FUN_TAGS, EXTENDED_PIDS_PORTS,
 *           EXPORT_PTR_TAG, BIT_BINARIES, NEW_FLOATS, UTF8_ATOMS, MAP_TAG,
 *           BIG_CREATION, HANDSHAKE_23 (and MANDATORY_25_DIGEST, whose real
 *           value is 0x04000000, not the documented 1 bsl 36)
 *   OTP 26: adds V4_NC and UNLINK_ID
 *   OTP 27: requires MANDATORY_25_DIGEST
 * We never send PUBLISHED (we are hidden), never the atom cache flags (see
 * docs/distribution.md), by default not FRAGMENTS (below), and nothing we
 * do not implement (OTP 29's ALTACT_SIG and NATIVE_RECORDS).
 * Values checked against kernel-8.5.3/include/dist.hrl (OTP 25.2.3) and the
 * dist.hrl of OTP 27.3.4.1 and 29.1.2 (same values; 29 adds the last two).
 * tests/integration/test_interop.c (flags_every_release_accepts) checks
 * this set against each release's own erts_internal:get_dflags(): all it
 * makes mandatory is in EP_DFLAGS_OURS, and nothing negotiated falls outside
 * it (OTP 29 offers ALTACT_SIG and NATIVE_RECORDS; they are never taken).
 * The "1 bsl 36" the protocol document gives MANDATORY_25_DIGEST is
 * DFLAG_LOCAL_EXT, internal to the BEAM and never on the wire.
 */
#ifndef EP_DFLAGS_H
#define EP_DFLAGS_H

#include <stdint.h>

#define EP_DFLAG_PUBLISHED 0x1ULL
#define EP_DFLAG_ATOM_CACHE 0x2ULL
#define EP_DFLAG_EXTENDED_REFERENCES 0x4ULL
#define EP_DFLAG_DIST_MONITOR 0x8ULL
#define EP_DFLAG_FUN_TAGS 0x10ULL
#define EP_DFLAG_DIST_MONITOR_NAME 0x20ULL
#define EP_DFLAG_HIDDEN_ATOM_CACHE 0x40ULL
#define EP_DFLAG_NEW_FUN_TAGS 0x80ULL
#define EP_DFLAG_EXTENDED_PIDS_PORTS 0x100ULL
#define EP_DFLAG_EXPORT_PTR_TAG 0x200ULL
#define EP_DFLAG_BIT_BINARIES 0x400ULL
#define EP_DFLAG_NEW_FLOATS 0x800ULL
#define EP_DFLAG_UNICODE_IO 0x1000ULL
#define EP_DFLAG_DIST_HDR_ATOM_CACHE 0x2000ULL
#define EP_DFLAG_SMALL_ATOM_TAGS 0x4000ULL
#define EP_DFLAG_UTF8_ATOMS 0x10000ULL
#define EP_DFLAG_MAP_TAG 0x20000ULL
#define EP_DFLAG_BIG_CREATION 0x40000ULL
#define EP_DFLAG_SEND_SENDER 0x80000ULL
#define EP_DFLAG_BIG_SEQTRACE_LABELS 0x100000ULL
#define EP_DFLAG_EXIT_PAYLOAD 0x400000ULL
#define EP_DFLAG_FRAGMENTS 0x800000ULL
#define EP_DFLAG_HANDSHAKE_23 0x1000000ULL
#define EP_DFLAG_UNLINK_ID 0x2000000ULL
#define EP_DFLAG_MANDATORY_25_DIGEST 0x4000000ULL
#define EP_DFLAG_RESERVED 0xf8000000ULL
#define EP_DFLAG_SPAWN (1ULL << 32)
#define EP_DFLAG_NAME_ME (1ULL << 33)
#define EP_DFLAG_V4_NC (1ULL << 34)
#define EP_DFLAG_ALIAS (1ULL << 35)
#define EP_DFLAG_ALTACT_SIG (1ULL << 37)
#define EP_DFLAG_NATIVE_RECORDS (1ULL << 38)

/* What we require of the other side: the terms we decode and the handshake
 * we speak depend on these. */
#define EP_DFLAGS_REQUIRED                                                                      \
  (EP_DFLAG_EXTENDED_REFERENCES | EP_DFLAG_FUN_TAGS | EP_DFLAG_NEW_FUN_TAGS |                 \
   EP_DFLAG_EXTENDED_PIDS_PORTS | EP_DFLAG_EXPORT_PTR_TAG | EP_DFLAG_BIT_BINARIES |           \
   EP_DFLAG_NEW_FLOATS | EP_DFLAG_UTF8_ATOMS | EP_DFLAG_MAP_TAG | EP_DFLAG_BIG_CREATION |    \
   EP_DFLAG_HANDSHAKE_23)

/* What we advertise: the required set, what OTP 25-29 make mandatory, and
 * what a hidden controller uses.
 * Not FRAGMENTS: with it negotiated the BEAM puts a 131 68 dist header on
 * every frame and kills the connection on a plain 112 pass-through frame
 * from us, so every writer would have to know the flags; a hidden
 * controller gains nothing from it (OTP then sends a big message as one
 * frame, bounded by EP_LIMIT_FRAME_SIZE). ep_dist reads and writes the
 * FRAGMENTS form all the same: EP_DFLAGS_OURS_FRAGMENTS is the set for a
 * runtime that writes only through ep_dist_write_flags/ep_dist_write_ctrl. */
#define EP_DFLAGS_OURS                                                                          \
  (EP_DFLAGS_REQUIRED | EP_DFLAG_MANDATORY_25_DIGEST | EP_DFLAG_V4_NC | EP_DFLAG_UNLINK_ID | \
   EP_DFLAG_DIST_MONITOR | EP_DFLAG_DIST_MONITOR_NAME | EP_DFLAG_UNICODE_IO |                 \
   EP_DFLAG_SMALL_ATOM_TAGS | EP_DFLAG_SPAWN | EP_DFLAG_ALIAS | EP_DFLAG_SEND_SENDER |        \
   EP_DFLAG_EXIT_PAYLOAD | EP_DFLAG_BIG_SEQTRACE_LABELS)
#define EP_DFLAGS_OURS_FRAGMENTS (EP_DFLAGS_OURS | EP_DFLAG_FRAGMENTS)
/* The node runtime's set: it also keeps the atom cache of each connection
 * (ep_dist_reader both ways in, ep_dist_write_cached out), which spares
 * the BEAM an atom-table lookup per atom of every message. */
#define EP_DFLAGS_NODE (EP_DFLAGS_OURS_FRAGMENTS | EP_DFLAG_DIST_HDR_ATOM_CACHE)

#endif
