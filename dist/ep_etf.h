/* ep_etf.h - the external term format (term_to_binary / binary_to_term).
 *
 * Decoding is iterative (a heap stack bounded by the depth limit), checks
 * every length against what arrived and against ep_limits before using it,
 * and tells "need more bytes" (EP_EINCOMPLETE) apart from malformed input.
 * Encoding produces what the BEAM's term_to_binary(T, [{minor_version, 2}])
 * produces for the same term, byte for byte (lists of bytes become
 * STRING_EXT, integers take the smallest tag, UTF-8 atom tags,
 * NEW_FLOAT_EXT, NEWER_REFERENCE_EXT, NEW_PID_EXT, V4_PORT_EXT only when
 * the port number needs more than 28 bits, as OTP 25 does; maps in stored
 * order). Checked against a live OTP 25 in tests/integration/test_etf_beam.c.
 * Design notes and known differences from the BEAM: docs/terms.md.
 */
#ifndef EP_ETF_H
#define EP_ETF_H

#include <stddef.h>
#include <stdint.h>

#include "ep_limits.h"
#include "ep_mem.h"
#include "ep_term.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EP_ETF_VERSION 131

/* Decodes one term starting with the version byte 131 (possibly a
 * compressed term, 131 80 ...) at buf[*pos], from the len bytes of buf.
 * Everything the term points at is allocated in a (the input is not
 * borrowed). lim may be NULL (the defaults of ep_limits.h).
 * Returns 0 and advances *pos past the term (bytes after it are left for
 * the caller: a caller that wants exactly one term checks *pos == len);
 * EP_EINCOMPLETE when buf ends inside the term (*pos unchanged; every proper
 * prefix of a valid term gives this); otherwise, with *pos set to the offset
 * of the offending byte (for errors inside a compressed term: of its size
 * field):
 *   (a compressed term declaring more than about 1032 bytes per compressed
 *   byte, deflate's ceiling, also reads as EP_EINCOMPLETE: it cannot be
 *   complete yet);
 *   EP_EVERSION (no 131), EP_EBADTAG, EP_ELOCAL (LOCAL_EXT), EP_EDEPTH,
 *   EP_ETOOBIG (term_size), EP_EATOMLEN, EP_EBIGNUM, EP_EINFLATE (declared
 *   uncompressed size over the limit, refused before inflating), EP_EZLIB
 *   (corrupt stream, or it inflates to a size other than declared),
 *   EP_EUTF8, EP_EATOMTYPE (an atom was required: node names, fun and
 *   export fields), EP_EBADFLOAT (NaN, infinity, bad FLOAT_EXT text),
 *   EP_EBITS, EP_EBADTERM (other inconsistencies: a fun's size field, a
 *   reference length outside 1..5, junk inside a compressed body),
 *   EP_ENOMEM, EP_EINVAL (NULL arguments, *pos > len).
 * On error *out is unspecified and whatever was allocated stays in a. */
int ep_decode(ep_arena *a, const uint8_t *buf, size_t len, size_t *pos, ep_term *out,
              const ep_limits *lim);

/* The same without the version byte: a bare term body at buf[*pos]. */
int ep_decode_body(ep_arena *a, const uint8_t *buf, size_t len, size_t *pos, ep_term *out,
                   const ep_limits *lim);

/* Atom cache references (a distribution frame's header, see ep_dist.h):
 * ATOM_CACHE_REF (82) Index in a term stands for the Index-th atom the
 * frame's header lists. */
typedef struct ep_atom_ref {
  const char *s; /* UTF-8, checked by whoever built the list */
  uint32_t n;
} ep_atom_ref;

/* ep_decode_body, where ATOM_CACHE_REF Index means refs[Index]; an Index
 * past nrefs is EP_EBADTERM (EP_EBADTAG with no refs, as tag 82 is
 * everywhere else: it only means something inside a distribution frame). */
int ep_decode_body_refs(ep_arena *a, const uint8_t *buf, size_t len, size_t *pos, ep_term *out,
                        const ep_limits *lim, const ep_atom_ref *refs, size_t nrefs);

/* For ep_encode_body_refs: the index (0..254) under which the frame's
 * header lists the atom s[0..n), or -1 to write the atom in full. */
typedef int (*ep_atom_ref_fn)(const char *s, size_t n, void *ud);


/* Appends 131 and the encoding of t to out. Returns 0, EP_ENOMEM, or
 * EP_EINVAL when t (or something in it) is EP_T_NONE or not encodable (a
 * non-finite float, an atom over 65535 bytes, an export arity over 255, a
 * reference of 0 or more than 5 words, a fun with non-atom module). On error
 * out->len is unchanged. */
int ep_encode(ep_buf *out, ep_term t);

/* Appends the encoding without the version byte. */
int ep_encode_body(ep_buf *out, ep_term t);

/* Appends 131, 80, the uncompressed size and the zlib stream of the body at
 * the given level (0..9, -1 = zlib's default, 0 = not compressed), as
 * term_to_binary(T, [{compressed, Level}]) does. Like the BEAM, it falls
 * back to the plain form when the compressed one would be longer (on a tie
 * it stays compressed). EP_EINVAL for a level outside -1..9. */
int ep_encode_compressed(ep_buf *out, ep_term t, int level);

/* Exact size of ep_encode_body's output, or 0 when t is not encodable. */
size_t ep_encoded_size(ep_term t);

/* --- gathered encoding --------------------------------------------------------------
 *
 * The same bytes as ep_encode, except that the contents of large binaries
 * are not copied: they are described by reference, so that a writer can
 * hand them to writev straight from the term's memory. The result is an
 * ordered list of segments whose concatenation is exactly what the copying
 * encoder appends: ranges of the buffer (by offset, because the buffer may
 * move when it grows) and external ranges (pointers into the term).
 *
 *   out:   [..before..| hdr 131 104 2 ... 109 Len:32 | ... 77 Len:32 Bits | last | ...]
 *   segs:             {buf off,len}  {ext bin1}      {buf off,len}  {ext bits1} {buf ...}
 *
 * A BIT_BINARY's last byte is masked on the wire, so only its first n - 1
 * bytes are referenced; the masked byte is written into the buffer.
 */

/* One piece of a gathered encoding: ext == NULL: the len bytes at offset
 * off of the buffer the gather writes into; otherwise len bytes at ext
 * (off unused), memory of the term encoded, not copied. */
typedef struct ep_seg {
  const uint8_t *ext;
  size_t off;
  size_t len;
} ep_seg;

/* Set up with ep_gather_init; read n, segs and ext_bytes, do not write. */
typedef struct ep_gather {
  ep_seg *segs;     /* the caller's array of cap segments */
  size_t cap;
  size_t n;         /* segments in use */
  size_t min_ref;   /* binaries whose referenced part has at least this many bytes go by reference */
  size_t mark;      /* offset in the buffer up to which bytes are in segs */
  size_t ext_bytes; /* bytes referenced (not in the buffer) so far */
} ep_gather;

/* Starts a gather into out: the segments will describe the bytes appended
 * to out from now on (bytes already in out are not part of it), with the
 * binaries of at least min_ref bytes (min_ref 0 counts as 1) in between.
 * segs (cap entries) is owned by the caller and must outlive g. Nothing is
 * allocated. */
void ep_gather_init(ep_gather *g, ep_seg *segs, size_t cap, size_t min_ref, const ep_buf *out);

/* Appends 131 and t to out, gathered: afterwards the segments of g cover
 * everything appended to out since ep_gather_init (bytes the caller
 * appended to out between calls included), interleaved with references.
 * A reference costs up to two segments (one for the buffer bytes before
 * it, unless they extend the last segment), and one segment stays reserved
 * for the bytes after it: when they are not free, binaries are copied into
 * out as ep_encode does (so the output is right with any cap >= 1; only
 * the saving is lost). The references point into t: the segments are
 * valid while t's binaries live and out is not changed other than by
 * appending. Returns 0, or the errors of ep_encode, and EP_EINVAL when g
 * has cap 0 or out is not the buffer it was started on (out->len below its
 * mark); on error out->len and g are unchanged. */
int ep_encode_gather(ep_buf *out, ep_gather *g, ep_term t);
/* The same without the version byte. */
int ep_encode_body_gather(ep_buf *out, ep_gather *g, ep_term t);

/* ep_encode_body (g NULL) or ep_encode_body_gather, writing each atom fn
 * gives an index for (ep_atom_ref_fn above) as ATOM_CACHE_REF (fn NULL:
 * every atom in full). Same errors. */
int ep_encode_body_refs(ep_buf *out, ep_gather *g, ep_term t, ep_atom_ref_fn fn, void *ud);

#ifdef __cplusplus
}
#endif
#endif
