/* ep_limits.h - every limit that protects erlpeer against hostile input.
 *
 * Each is a default; decoders take an ep_limits (NULL = these defaults) so a
 * caller that trusts its peer may raise them. One line says why each value.
 */
#ifndef EP_LIMITS_H
#define EP_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- term codec ---------------------------------------------------------- */

/* Largest encoded term we decode: 1 GiB. Bigger than any message a peer
 * needs to send us (tests move 64 MiB), small enough to fail before the arena
 * eats the machine. */
#define EP_LIMIT_TERM_SIZE ((size_t)1 << 30)

/* Deepest nesting of tuples, lists, maps and funs: 100,000. The decoder keeps
 * its own heap stack, so this bounds memory, not the C stack; every other
 * walker (encoder, printer, comparison) is iterative too. The one chardata
 * flattener (ep_iolib_chardata, and ep_chardata_utf8 over it) obeys the same
 * rule: chardata nested deeper than this is EP_EDEPTH, whether it was decoded
 * or built in C. */
#define EP_LIMIT_DEPTH 100000u

/* Longest atom in characters: 255, the BEAM's own limit. The byte length is
 * checked against 4 * this (UTF-8). */
#define EP_LIMIT_ATOM_CHARS 255u

/* Largest bignum magnitude in bytes: 16 MiB. The BEAM's own maximum is about
 * 2^26 bits (8 MiB); more is not a number any node sends. */
#define EP_LIMIT_BIGNUM_BYTES ((size_t)16 << 20)

/* Largest inflated size of a compressed term (tag 80): 256 MiB. The
 * uncompressed size is a header field, checked before inflating, so a zip
 * bomb costs nothing. */
#define EP_LIMIT_INFLATED_SIZE ((size_t)256 << 20)

/* Longest cookie in characters: 255. erl makes an atom of the cookie file's
 * text, and an atom longer than this stops its kernel from starting. */
#define EP_LIMIT_COOKIE_CHARS 255u

/* --- text syntax ---------------------------------------------------------- */

/* Longest Erlang-syntax text of one term we parse: 64 MiB (also the most
 * bytes its binary literals may build, all of them together). */
#define EP_LIMIT_TEXT_SIZE ((size_t)64 << 20)

/* Most digits of an integer literal in a base that is not a power of two:
 * 200,000. That conversion is quadratic; 16#... has no such limit. */
#define EP_LIMIT_TEXT_DIGITS 200000u

/* Largest size of one binary segment (<<X:Size>>) in bits: 2^24. */
#define EP_LIMIT_TEXT_SEGMENT_BITS ((uint64_t)1 << 24)

/* Largest field width, precision or repeat count in an io_lib format
 * directive (~80p, ~*c, ~.*s): 1,000,000. Each sizes padding or repeated
 * characters, and a relayed format comes from the peer. */
#define EP_LIMIT_FORMAT_FIELD 1000000

/* --- I/O server (dist/ep_ioserv.h) ------------------------------------------- */

/* Deepest nesting of {requests, [...]} batches inside one io_request: 16.
 * io:requests/1 flattens its batches before sending, so one level is what
 * a node sends; the bound keeps a hostile batch from recursing on the C
 * stack. Deeper batches are answered {error, request}. */
#define EP_LIMIT_IO_REQUESTS_NESTING 16

/* --- EPMD ------------------------------------------------------------------ */

/* Largest EPMD request body (after the 2-byte length): an ALIVE2 header (13
 * bytes) with a name and extra data of 1020 bytes each (255 characters of
 * UTF-8, epmd's MAXSYMLEN). Anything longer is not a request epmd accepts. */
#define EP_LIMIT_EPMD_REQUEST 2053u

/* Milliseconds a client of our EPMD server may take from connect to a
 * complete request (registrations are exempt once made). erl sends its
 * request at once; epmd's own packet timeout is 60 s, we are stricter so a
 * crowd of silent clients cannot hold slots for long. */
#define EP_LIMIT_EPMD_IDLE_MS 5000u

/* Concurrent connections our EPMD server keeps before closing new ones at
 * once: each costs a socket and at most EP_LIMIT_EPMD_REQUEST bytes. */
#define EP_LIMIT_EPMD_CONNECTIONS 4096u

/* Unregistered names remembered to bump their creation on re-registration
 * (epmd keeps 1000 too); the oldest is forgotten first. */
#define EP_LIMIT_EPMD_OLD_NAMES 1000u

/* Longest NAMES reply our client reads: 4096 registrations of the longest
 * line. More is a hostile server. */
#define EP_LIMIT_EPMD_NAMES_REPLY ((size_t)4 << 20)

/* --- distribution ----------------------------------------------------------- */

/* Largest handshake message (2-byte framed): a node name of at most 255
 * characters (up to 1020 bytes of UTF-8) and 19 bytes of fixed fields;
 * anything past 2 KiB is not a handshake. Checked on the length header,
 * before any of the message is buffered. */
#define EP_LIMIT_HANDSHAKE_MSG 2048u

/* Milliseconds a connection may take to be set up (lookup, dial and the
 * whole handshake), by default: OTP's net_setuptime, 7 s. An idle or
 * slowloris client is dropped then. Per node: ep_node_opts_set_setuptime,
 * the CLI's --net-setuptime. */
#define EP_LIMIT_HANDSHAKE_MS 7000u

/* Accepted handshakes not yet authenticated, at once: past this a new
 * client is accepted and closed at once (and counted). Each costs a socket
 * and at most EP_LIMIT_HANDSHAKE_READ bytes of buffer. OTP has no such
 * limit; 64 is more than a node's whole cluster reconnecting at once. */
#define EP_LIMIT_PENDING_HANDSHAKES 64u

/* The read buffer of a connection not yet authenticated: a handshake
 * message is at most EP_LIMIT_HANDSHAKE_MSG bytes. (Once up, a
 * connection's buffer follows the frames that arrive.) */
#define EP_LIMIT_HANDSHAKE_READ 4096u

/* Largest distribution frame after authentication: 1 GiB, as the term. */
#define EP_LIMIT_FRAME_SIZE ((size_t)1 << 30)

/* Bytes held by all half-received fragmented messages of a connection
 * together (so memory stays bounded however many sequences are open), and
 * the most sequences open at once (the BEAM opens one per sending process
 * with a message over 64 KiB in flight). */
#define EP_LIMIT_FRAGMENTED_SIZE ((size_t)1 << 30)
#define EP_LIMIT_FRAGMENT_SEQUENCES 1024u

/* Unsent bytes queued per connection before senders get EP_EBACKPRESSURE
 * (a peer that stops reading must not grow our memory without bound): 1 GiB,
 * the largest frame, by default; ep_node_opts_set_send_queue_limit. */
#define EP_LIMIT_SEND_QUEUE ((size_t)1 << 30)

/* Calls (ep_rpc_call, ep_rpc_multi) in flight to one node before a new one
 * fails with EP_ETOOMANYCALLS: each holds a table slot and a deadline here
 * and a worker process there, so a caller that never waits cannot grow both
 * without bound; ep_node_opts_set_max_calls. */
#define EP_LIMIT_CALLS_IN_FLIGHT 65536u

/* Not a guard but a tuning value, kept with them: binaries of at least
 * 64 KiB in a message sent on an idle connection are written straight from
 * the sender's memory (writev) instead of being copied into the output
 * buffer; below that the copy costs less than the extra iovec entries. */
#define EP_SEND_GATHER_MIN ((size_t)64 << 10)

/* --- peer control ------------------------------------------------------------ */

/* Largest frame on a TCP or standard_io alternative connection. */
#define EP_LIMIT_ALT_FRAME ((size_t)256 << 20)

/* Console text a standard_io decoder hands back per call before it returns to
 * its caller: 64 KiB keeps a chatty peer from growing one buffer without end
 * between two frames. */
#define EP_LIMIT_ALT_TEXT_CHUNK ((size_t)64 << 10)

/* Calls outstanding on one peer: each holds a callback and a timer; 1 M is far
 * past any pipelined benchmark and bounds a runaway caller. */
#define EP_LIMIT_PEER_CALLS ((size_t)1 << 20)

/* Limits a decoder works under. Zero fields mean "the default above". */
typedef struct ep_limits {
  size_t term_size;
  size_t depth;
  size_t atom_chars;
  size_t bignum_bytes;
  size_t inflated_size;
} ep_limits;

#ifdef __cplusplus
}
#endif
#endif
