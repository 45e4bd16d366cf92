/* ep_alt.h - the peer module's alternative control connections, sans I/O.
 *
 * OTP's peer module can drive a peer over a connection that is not the
 * Erlang distribution: a TCP socket the peer dials back, or the peer's own
 * standard input and output. Both carry the same terms (stdlib peer.erl):
 *
 *   origin -> peer   {call, Seq, M, F, A}      Seq: integer chosen by origin
 *                    {cast, M, F, A}
 *                    {message, To, Msg}        To: pid or registered name
 *                    {io_reply, From, Ref, Reply}
 *   peer -> origin   {io_request, From, Ref, Request}
 *                    {message, To, Msg}
 *                    {reply, Seq, Class, Result}
 *                        Class ok: Result is the value;
 *                        throw | error | exit: Result is {Reason, Stacktrace};
 *                        crash: Result is the exit reason of the call's process
 *                    {started, Node}           Node: nonode@nohost when not
 *                                              distributed
 *
 * This module frames and unframes those terms and builds/parses them. It
 * does no I/O: lib/ep_peer*.c moves the bytes.
 */
#ifndef EP_ALT_H
#define EP_ALT_H

#include <stddef.h>
#include <stdint.h>

#include "ep_limits.h"
#include "ep_mem.h"
#include "ep_term.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- TCP framing ------------------------------------------------------------
 *
 *   +----------------+-------------------------------+
 *   | Len:32 (BE)    | term_to_binary(Term), Len bytes|   ({packet, 4})
 *   +----------------+-------------------------------+
 */

/* Finds one frame at buf[*pos]: sets *payload and *plen to the Len bytes (borrowed
 * from buf) and advances *pos past the frame. max is the largest payload
 * accepted (0 = EP_LIMIT_ALT_FRAME).
 * Returns 0; EP_EINCOMPLETE when buf ends inside the frame (*pos unchanged);
 * EP_ETOOBIG when Len is over max; EP_EALTFRAME for a zero-length frame (a
 * term is never empty). */
int ep_alt_tcp_decode(const uint8_t *buf, size_t len, size_t *pos, const uint8_t **payload,
                      size_t *plen, size_t max);

/* Appends Len:32 and the ETF of t. 0, EP_ENOMEM, EP_EINVAL (t not
 * encodable), EP_ETOOBIG (over EP_LIMIT_ALT_FRAME). */
int ep_alt_tcp_encode(ep_buf *out, ep_term t);

/* --- standard_io framing ---------------------------------------------------
 *
 * The frame Size:32, ETF (Size bytes), CRC32:32 (zlib's CRC-32 of the ETF,
 * big-endian) is written one byte as two characters, high nibble first, each
 * nibble N as the byte 11NNNN11 (0xC3 | N << 2):
 *
 *   byte 0x0F  ->  0xC3 (11 0000 11)  0xFF (11 1111 11)
 *
 * On the peer's stdout every byte that is not of the form 11xxxx11 is
 * console text, even in the middle of a frame (the reference decodes the
 * same way; it also means console bytes 0xC3, 0xC7, ... 0xFF are taken as
 * nibbles, a documented limitation of the reference). */

/* Appends the encoded frame of an ETF payload (starting with 131). */
int ep_alt_stdio_encode_etf(ep_buf *out, const uint8_t *etf, size_t n);
/* Appends the encoded frame of term t. 0, EP_ENOMEM, EP_EINVAL, EP_ETOOBIG. */
int ep_alt_stdio_encode(ep_buf *out, ep_term t);

/* Incremental decoder for the peer's stdout. States (one nibble at a time):
 *
 *   SIZE (8 nibbles) --Size==0 or > max--> error (sticky)
 *        |
 *        v
 *   PAYLOAD (2*Size nibbles) -> CRC (8 nibbles) --mismatch--> EP_ECRC (sticky)
 *        ^                                          |
 *        +------------- frame returned <------------+
 *
 * Text bytes never change the state; they are appended to the text buffer. */
typedef struct ep_alt_stdio_dec {
  int state;      /* internal: 0 size, 1 payload, 2 crc */
  int err;        /* sticky fatal error, 0 when none */
  int half;       /* 1 when hi holds the high nibble of the next byte */
  uint8_t hi;     /* that high nibble */
  uint32_t count; /* bytes of the current field received */
  uint32_t size;  /* payload size (valid from state 1) */
  uint32_t crc;   /* received CRC bytes, accumulated */
  size_t max;     /* largest payload (0 = EP_LIMIT_ALT_FRAME) */
  ep_buf frame;   /* the payload being assembled */
} ep_alt_stdio_dec;

void ep_alt_stdio_dec_init(ep_alt_stdio_dec *d, const ep_mem *mem, size_t max);
void ep_alt_stdio_dec_free(ep_alt_stdio_dec *d);

/* Consumes bytes from buf[*pos .. len): console text is appended to text;
 * stops right after a complete frame and returns 0 with *payload and *plen set
 * to it (valid until the next call). Returns EP_EINCOMPLETE when every byte
 * was consumed without completing a frame (call again with more input);
 * EP_ECRC when a frame failed its CRC; EP_ETOOBIG when its size is over the
 * limit; EP_EALTFRAME for a zero size; EP_ENOMEM. Errors are sticky. A caller
 * that wants to bound the text it holds may pass len in chunks.
 * Memory: the frame buffer grows with the payload bytes that arrived (at most
 * twice them plus 4 KiB, never past Size), not with the Size a header claims;
 * a buffer over 64 KiB is released when the next frame starts. */
int ep_alt_stdio_decode(ep_alt_stdio_dec *d, const uint8_t *buf, size_t len, size_t *pos,
                        ep_buf *text, const uint8_t **payload, size_t *plen);

/* 1 when the decoder sits inside a frame (a nibble seen since the last
 * complete frame): at end of input that frame was truncated. */
int ep_alt_stdio_dec_partial(const ep_alt_stdio_dec *d);

/* CRC-32 as erlang:crc32/1 (zlib). */
uint32_t ep_alt_crc32(const uint8_t *p, size_t n);

/* --- messages ---------------------------------------------------------------- */

/* Each builds the term in a (EP_T_NONE when a is out of memory). */
ep_term ep_alt_call(ep_arena *a, uint64_t seq, ep_term m, ep_term f, ep_term args);
ep_term ep_alt_cast(ep_arena *a, ep_term m, ep_term f, ep_term args);
ep_term ep_alt_message(ep_arena *a, ep_term to, ep_term msg);
ep_term ep_alt_io_reply(ep_arena *a, ep_term from, ep_term ref, ep_term reply);

typedef enum ep_alt_kind {
  EP_ALT_IO_REQUEST = 1, /* from, ref, request */
  EP_ALT_MESSAGE,        /* to, msg */
  EP_ALT_REPLY,          /* seq, cls, result (+ reason, stack) */
  EP_ALT_STARTED,        /* node */
  /* origin -> peer, parsed by tests and fuzzers */
  EP_ALT_CALL,    /* seq, m, f, args */
  EP_ALT_CAST,    /* m, f, args */
  EP_ALT_IO_REPLY /* from, ref, reply */
} ep_alt_kind;

typedef enum ep_alt_class {
  EP_ALT_OK = 0,
  EP_ALT_THROW,
  EP_ALT_ERROR,
  EP_ALT_EXIT,
  EP_ALT_CRASH
} ep_alt_class;

typedef struct ep_alt_msg {
  ep_alt_kind kind;
  uint64_t seq;
  ep_alt_class cls;
  ep_term a, b, c; /* io_request: from, ref, request; message: to, msg;
                      reply: result (ok) or reason, stacktrace ([] for crash);
                      started: node; call/cast: m, f, args; io_reply: from, ref, reply */
  ep_term d;       /* io_reply: unused; call: unused */
} ep_alt_msg;

/* Classifies a decoded term. Terms borrowed, nothing allocated. Returns 0 or
 * EP_EALTFRAME when t is none of the messages above (or a reply of an unknown
 * class, a negative or non-integer Seq). */
int ep_alt_parse(ep_term t, ep_alt_msg *out);

/* "ok", "throw", ... for a class. */
const char *ep_alt_class_name(ep_alt_class c);

#ifdef __cplusplus
}
#endif
#endif
