/* ep_etf.c - the external term format codec.
 *
 * Decoder: one loop with an explicit heap stack of "slots still to fill"
 * (never C recursion on input depth). A compound term allocates its element
 * array once, with the count from its header, writes itself into the slot it
 * was decoded for, and pushes a frame naming its element slots. Every length
 * is checked against the bytes that arrived (EP_EINCOMPLETE) and against the
 * limits before anything is allocated for it; a count of n elements needs at
 * least n more bytes, so memory stays proportional to the input.
 *
 * Encoder: one walk; each term's own bytes are sized first (own_size), the
 * buffer grown at most once for them, then written through a raw pointer:
 * no per-byte buffer calls. (A sizing pass plus one reserve measured slower:
 * it walks the term twice.)
 *
 * Tags (after the version byte 131), as the BEAM reads and writes them:
 *
 *   97  SMALL_INTEGER   u8
 *   98  INTEGER         i32
 *   110 SMALL_BIG       n:u8 sign:u8 digits[n] (little-endian)
 *   111 LARGE_BIG       n:u32 sign:u8 digits[n]
 *   70  NEW_FLOAT       IEEE 754 binary64, big-endian
 *   99  FLOAT           31 bytes of "%.20e" text, NUL padded (decode only)
 *   118 ATOM_UTF8       len:u16 utf8[len]
 *   119 SMALL_ATOM_UTF8 len:u8 utf8[len]
 *   100 ATOM            len:u16 latin1[len] (decode only)
 *   115 SMALL_ATOM      len:u8 latin1[len] (decode only)
 *   106 NIL
 *   107 STRING          len:u16 bytes[len]
 *   108 LIST            n:u32 elements[n] tail
 *   104 SMALL_TUPLE     n:u8 elements[n]
 *   105 LARGE_TUPLE     n:u32 elements[n]
 *   116 MAP             n:u32 (key value)[n]
 *   109 BINARY          len:u32 bytes[len]
 *   77  BIT_BINARY      len:u32 bits:u8 bytes[len] (bits used in the last byte)
 *   88  NEW_PID         node(atom) id:u32 serial:u32 creation:u32
 *   103 PID             node(atom) id:u32 serial:u32 creation:u8 (decode only)
 *   89  NEW_PORT        node(atom) id:u32 creation:u32
 *   120 V4_PORT         node(atom) id:u64 creation:u32
 *   102 PORT            node(atom) id:u32 creation:u8 (decode only)
 *   90  NEWER_REFERENCE n:u16 node(atom) creation:u32 ids[n]:u32
 *   114 NEW_REFERENCE   n:u16 node(atom) creation:u8 ids[n]:u32 (decode only)
 *   101 REFERENCE       node(atom) id:u32 creation:u8 (decode only)
 *   113 EXPORT          module(atom) function(atom) arity(SMALL_INTEGER)
 *   112 NEW_FUN         size:u32 arity:u8 uniq[16] index:u32 nfree:u32 module(atom)
 *                       old_index(int) old_uniq(int) pid free[nfree]
 *                       (size counts itself and everything after it)
 *   121 LOCAL           refused: only the encoding node can read it
 *   80  COMPRESSED      (right after 131) usize:u32 zlib-stream inflating to usize bytes
 */
#include "ep_etf.h"
#include "ep_cfloat_int.h"
#include "ep_utf8_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ep_error.h"

enum {
  TAG_NEW_FLOAT = 70,
  TAG_BIT_BINARY = 77,
  TAG_COMPRESSED = 80,
  TAG_ATOM_CACHE_REF = 82,
  TAG_NEW_PID = 88,
  TAG_NEW_PORT = 89,
  TAG_NEWER_REFERENCE = 90,
  TAG_SMALL_INTEGER = 97,
  TAG_INTEGER = 98,
  TAG_FLOAT = 99,
  TAG_ATOM = 100,
  TAG_REFERENCE = 101,
  TAG_PORT = 102,
  TAG_PID = 103,
  TAG_SMALL_TUPLE = 104,
  TAG_LARGE_TUPLE = 105,
  TAG_NIL = 106,
  TAG_STRING = 107,
  TAG_LIST = 108,
  TAG_BINARY = 109,
  TAG_SMALL_BIG = 110,
  TAG_LARGE_BIG = 111,
  TAG_NEW_FUN = 112,
  TAG_EXPORT = 113,
  TAG_NEW_REFERENCE = 114,
  TAG_SMALL_ATOM = 115,
  TAG_MAP = 116,
  TAG_ATOM_UTF8 = 118,
  TAG_SMALL_ATOM_UTF8 = 119,
  TAG_V4_PORT = 120,
  TAG_LOCAL = 121
};

/* OTP 25 writes a port as V4_PORT_EXT only when its number needs more than
 * 28 bits (checked against a live node: 0x0FFFFFFF -> NEW_PORT, 0x10000000
 * -> V4_PORT). */
#define EP__MAX_V3_PORT 0x0FFFFFFFu

/* Most bytes deflate can expand one input byte into (its format's ceiling is
 * about 1032:1); used to tell "the rest has not arrived" without allocating. */
#define EP__INFLATE_RATIO 1032u

/* ======================================================================= */
/* decoding                                                                 */
/* ======================================================================= */

typedef struct {
  ep_arena *a;
  const ep_mem *mem;
  const uint8_t *buf;
  size_t len;    /* bytes that arrived */
  size_t limend; /* start of the term + the size limit (saturated) */
  size_t depth, atom_chars, bignum_bytes, inflated;
  size_t errpos; /* offset of the offending byte */
  bool tail_lists; /* a list was seen in a list's tail: merge afterwards */
  uint8_t *slab;  /* small allocations are carved from arena slabs inline */
  size_t slab_left;
  const ep_atom_ref *refs; /* ATOM_CACHE_REF targets (distribution only) */
  size_t nrefs;
} dctx;

/* Small allocations (terms' arrays, atoms, short binaries) come from
 * EP__SLAB-byte slabs of the arena, bumped inline: most values then cost no
 * call at all. A decode wastes at most one slab's tail. The slab stays
 * under the arena's "large request" threshold (a quarter of its smallest
 * chunk), so slabs share chunks and survive ep_arena_reset. */
#define EP__SLAB 1024u

static void *dalloc_slow(dctx *c, size_t n) {
  if (n > EP__SLAB / 4) return ep_arena_alloc(c->a, n);
  uint8_t *s = ep_arena_alloc(c->a, EP__SLAB);
  if (!s) return NULL;
  c->slab = s + n;
  c->slab_left = EP__SLAB - n;
  return s;
}

static inline void *dalloc(dctx *c, size_t n) {
  n = n ? (n + 7) & ~(size_t)7 : 8; /* never NULL for an empty binary */
  if (n <= c->slab_left) {
    void *p = c->slab;
    c->slab += n;
    c->slab_left -= n;
    return p;
  }
  return dalloc_slow(c, n);
}

static inline char *ddup(dctx *c, const void *src, size_t n) {
  char *d = dalloc(c, n + 1);
  if (d) {
    memcpy(d, src, n);
    d[n] = 0;
  }
  return d;
}

/* 16 bytes: the stack is touched once per container. */
typedef struct {
  union {
    ep_term *slot; /* next slot to fill */
    size_t end;    /* DF_FUN_END: where the fun's free variables must end */
  } u;
  uint32_t left; /* slots left (a container with more is refused) */
  uint32_t kind; /* DF_PLAIN, DF_LIST (elements then tail), DF_FUN_END */
} dframe;
enum { DF_PLAIN, DF_LIST, DF_FUN_END };

/* n more bytes at pos: ETOOBIG past the size limit, EINCOMPLETE past the
 * bytes that arrived. The limit comes first so a hostile length fails at
 * once instead of waiting for bytes that will never be accepted. */
static inline int need(const dctx *c, size_t pos, size_t n) {
  if (n <= c->len - pos && n <= c->limend - pos) return 0;
  if (pos > c->limend || n > c->limend - pos) return EP_ETOOBIG;
  return EP_EINCOMPLETE;
}

/* Decodes an atom of any of the four atom tags at *pos into a NUL-terminated
 * UTF-8 copy in the arena. Not an atom tag: EP_EATOMTYPE. */
static int dec_atom_text(dctx *c, size_t *pos, const char **str, uint32_t *slen) {
  size_t p = *pos;
  int r = need(c, p, 1);
  if (r) return r;
  uint8_t tag = c->buf[p];
  size_t n, hdr;
  switch (tag) {
    case TAG_ATOM_CACHE_REF: {
      /* 82 Index:8: the Index-th atom of the distribution header, whose
       * text ep_dist checked (UTF-8, at most 255 characters). Copied: the
       * reader's cache may change before the term's arena is reset. */
      if ((r = need(c, p, 2))) return r;
      uint8_t ix = c->buf[p + 1];
      if (ix >= c->nrefs) { /* outside a frame that lists atoms: unknown */
        c->errpos = p;
        return c->nrefs ? EP_EBADTERM : EP_EBADTAG;
      }
      const ep_atom_ref *ar = &c->refs[ix];
      if (ar->n > c->atom_chars && ep_utf8_count((const uint8_t *)ar->s, ar->n) > (ptrdiff_t)c->atom_chars) {
        c->errpos = p; /* a lowered atom limit holds for cached atoms too */
        return EP_EATOMLEN;
      }
      char *d = ddup(c, ar->s, ar->n);
      if (!d) return EP_ENOMEM;
      *str = d;
      *slen = ar->n;
      *pos = p + 2;
      return 0;
    }
    case TAG_SMALL_ATOM_UTF8:
    case TAG_SMALL_ATOM:
      if ((r = need(c, p, 2))) return r;
      n = c->buf[p + 1], hdr = 2;
      break;
    case TAG_ATOM_UTF8:
    case TAG_ATOM:
      if ((r = need(c, p, 3))) return r;
      n = ep_get16(c->buf + p + 1), hdr = 3;
      break;
    default:
      c->errpos = p;
      return EP_EATOMTYPE;
  }
  bool utf8 = tag == TAG_SMALL_ATOM_UTF8 || tag == TAG_ATOM_UTF8;
  /* Byte length first (cheap, before waiting for the bytes): UTF-8 takes at
   * most 4 bytes per character, Latin-1 one. */
  if (n > (utf8 ? 4 * c->atom_chars : c->atom_chars)) {
    c->errpos = p;
    return EP_EATOMLEN;
  }
  if ((r = need(c, p, hdr + n))) return r;
  const uint8_t *s = c->buf + p + hdr;
  char *d;
  size_t dn = n;
  if (utf8) {
    /* ASCII is the common case: skip the decoder when no high bit is set. */
    size_t k = 0;
    while (k < n && s[k] < 0x80) k++;
    if (k == n && n > c->atom_chars) {
      c->errpos = p;
      return EP_EATOMLEN;
    }
    if (k < n) {
      ptrdiff_t chars = ep_utf8_count(s + k, n - k);
      if (chars < 0) {
        c->errpos = p;
        return EP_EUTF8;
      }
      if ((size_t)chars + k > c->atom_chars) {
        c->errpos = p;
        return EP_EATOMLEN;
      }
    }
    d = ddup(c, s, n);
    if (!d) return EP_ENOMEM;
  } else {
    size_t hi = 0;
    for (size_t k = 0; k < n; k++) hi += s[k] >> 7;
    dn = n + hi;
    d = dalloc(c, dn + 1);
    if (!d) return EP_ENOMEM;
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
      if (s[k] < 0x80) {
        d[o++] = (char)s[k];
      } else {
        d[o++] = (char)(0xC0 | (s[k] >> 6));
        d[o++] = (char)(0x80 | (s[k] & 0x3F));
      }
    }
    d[o] = 0;
  }
  *str = d;
  *slen = (uint32_t)dn;
  *pos = p + hdr + n;
  return 0;
}

static ep_term mk(uint8_t type) {
  ep_term t = {0};
  t.type = type;
  return t;
}

/* Terms are written field by field into their slot: building a local
 * ep_term and copying it whole made the CPU reload 16 bytes over a fresh
 * 1-byte store (a store-forwarding stall on every decoded value). */
static inline void set_hdr(ep_term *o, uint8_t type, uint32_t n) {
  o->type = type;
  o->aux = 0;
  o->reserved = 0;
  o->n = n;
}
static inline void set_int(ep_term *o, int64_t v) {
  set_hdr(o, EP_T_INT, 0);
  o->v.i = v;
}

/* Decodes one term that has no element slots (everything except tuples,
 * lists, maps and funs) at *pos. Returns 1 for a compound tag (the caller
 * handles it), 0 on success, or an error. */
static int dec_scalar(dctx *c, size_t *pos, ep_term *out) {
  size_t p = *pos;
  const uint8_t *b = c->buf;
  int r;
  if ((r = need(c, p, 1))) return r;
  c->errpos = p;
  switch (b[p]) {
    case TAG_SMALL_INTEGER:
      if ((r = need(c, p, 2))) return r;
      set_int(out, b[p + 1]);
      *pos = p + 2;
      return 0;
    case TAG_INTEGER:
      if ((r = need(c, p, 5))) return r;
      set_int(out, (int32_t)ep_get32(b + p + 1));
      *pos = p + 5;
      return 0;
    case TAG_SMALL_BIG:
    case TAG_LARGE_BIG: {
      size_t n, hdr;
      if (b[p] == TAG_SMALL_BIG) {
        if ((r = need(c, p, 3))) return r;
        n = b[p + 1], hdr = 2;
      } else {
        if ((r = need(c, p, 6))) return r;
        n = ep_get32(b + p + 1), hdr = 5;
      }
      if (n > c->bignum_bytes) return EP_EBIGNUM;
      if ((r = need(c, p, hdr + 1 + n))) return r;
      /* Any non-zero sign byte means negative, as the BEAM reads it. */
      *out = ep_big(c->a, b[p + hdr] != 0, b + p + hdr + 1, n);
      if (out->type == EP_T_NONE) return EP_ENOMEM;
      *pos = p + hdr + 1 + n;
      return 0;
    }
    case TAG_NEW_FLOAT: {
      if ((r = need(c, p, 9))) return r;
      uint64_t u = ep_get64(b + p + 1);
      double f;
      memcpy(&f, &u, sizeof f);
      if (!isfinite(f)) return EP_EBADFLOAT;
      set_hdr(out, EP_T_FLOAT, 0);
      out->v.f = f;
      *pos = p + 9;
      return 0;
    }
    case TAG_FLOAT: {
      if ((r = need(c, p, 32))) return r;
      char txt[32];
      memcpy(txt, b + p + 1, 31);
      txt[31] = 0;
      char *end;
      double f = ep__strtod_c(txt, &end); /* '.', never the program's locale */
      if (end == txt || !isfinite(f)) return EP_EBADFLOAT;
      while (*end == ' ') end++;
      if (*end) return EP_EBADFLOAT;
      set_hdr(out, EP_T_FLOAT, 0);
      out->v.f = f;
      *pos = p + 32;
      return 0;
    }
    case TAG_ATOM_UTF8:
    case TAG_SMALL_ATOM_UTF8:
    case TAG_ATOM:
    case TAG_SMALL_ATOM:
    case TAG_ATOM_CACHE_REF: {
      ep_term *t = out;
      set_hdr(out, EP_T_ATOM, 0);
      if ((r = dec_atom_text(c, pos, &t->v.str, &t->n))) return r;
      return 0;
    }
    case TAG_NIL:
      set_hdr(out, EP_T_NIL, 0);
      *pos = p + 1;
      return 0;
    case TAG_STRING: {
      if ((r = need(c, p, 3))) return r;
      size_t n = ep_get16(b + p + 1);
      if ((r = need(c, p, 3 + n))) return r;
      if (n == 0) {
        *out = ep_nil();
      } else {
        uint8_t *d = dalloc(c, n);
        if (!d) return EP_ENOMEM;
        memcpy(d, b + p + 3, n);
        ep_term *t = out;
      set_hdr(out, EP_T_STRING, 0);
        t->n = (uint32_t)n;
        t->v.bytes = d;
        }
      *pos = p + 3 + n;
      return 0;
    }
    case TAG_BINARY:
    case TAG_BIT_BINARY: {
      size_t hdr = b[p] == TAG_BINARY ? 5 : 6;
      if ((r = need(c, p, hdr))) return r;
      size_t n = ep_get32(b + p + 1);
      unsigned bits = 8;
      if (hdr == 6) {
        /* The BEAM's rule: bits is 0 exactly when the length is 0. */
        bits = b[p + 5];
        if (bits > 8 || (bits == 0) != (n == 0)) return EP_EBITS;
      }
      if ((r = need(c, p, hdr + n))) return r;
      uint8_t *d = dalloc(c, n);
      if (!d) return EP_ENOMEM;
      memcpy(d, b + p + hdr, n);
      ep_term *t = out;
      set_hdr(out, EP_T_BINARY, 0);
      t->n = (uint32_t)n;
      t->v.bytes = d;
      if (n && bits < 8) {
        t->type = EP_T_BITSTR;
        t->aux = (uint8_t)bits;
        d[n - 1] &= (uint8_t)(0xFFu << (8 - bits)); /* canonical: unused bits zero */
      }
      *pos = p + hdr + n;
      return 0;
    }
    case TAG_NEW_PID:
    case TAG_PID: {
      size_t q = p + 1;
      ep_term *t = out;
      set_hdr(out, EP_T_PID, 0);
      if ((r = dec_atom_text(c, &q, &t->v.pid.node, &t->v.pid.node_len))) return r;
      size_t cl = b[p] == TAG_NEW_PID ? 4 : 1;
      if ((r = need(c, q, 8 + cl))) return r;
      t->v.pid.id = ep_get32(b + q);
      t->v.pid.serial = ep_get32(b + q + 4);
      t->v.pid.creation = cl == 4 ? ep_get32(b + q + 8) : b[q + 8];
      *pos = q + 8 + cl;
      return 0;
    }
    case TAG_NEW_PORT:
    case TAG_V4_PORT:
    case TAG_PORT: {
      size_t q = p + 1;
      ep_term *t = out;
      set_hdr(out, EP_T_PORT, 0);
      if ((r = dec_atom_text(c, &q, &t->v.port.node, &t->v.port.node_len))) return r;
      size_t il = b[p] == TAG_V4_PORT ? 8 : 4, cl = b[p] == TAG_PORT ? 1 : 4;
      if ((r = need(c, q, il + cl))) return r;
      t->v.port.id = il == 8 ? ep_get64(b + q) : ep_get32(b + q);
      t->v.port.creation = cl == 4 ? ep_get32(b + q + il) : b[q + il];
      *pos = q + il + cl;
      return 0;
    }
    case TAG_NEWER_REFERENCE:
    case TAG_NEW_REFERENCE:
    case TAG_REFERENCE: {
      size_t q = p + 1, n = 1;
      if (b[p] != TAG_REFERENCE) {
        if ((r = need(c, p, 3))) return r;
        n = ep_get16(b + p + 1);
        if (n < 1 || n > 5) return EP_EBADTERM;
        q = p + 3;
      }
      ep_term *t = out;
      set_hdr(out, EP_T_REF, 0);
      if ((r = dec_atom_text(c, &q, &t->v.ref.node, &t->v.ref.node_len))) return r;
      size_t cl = b[p] == TAG_NEWER_REFERENCE ? 4 : 1;
      size_t idpos = b[p] == TAG_REFERENCE ? q : q + cl;
      if ((r = need(c, q, cl + 4 * n))) return r;
      uint32_t *ids = dalloc(c, n * sizeof(uint32_t));
      if (!ids) return EP_ENOMEM;
      for (size_t i = 0; i < n; i++) ids[i] = ep_get32(b + idpos + 4 * i);
      if (b[p] == TAG_REFERENCE)
        t->v.ref.creation = b[q + 4];
      else
        t->v.ref.creation = cl == 4 ? ep_get32(b + q) : b[q];
      t->n = (uint32_t)n;
      t->v.ref.ids = ids;
      *pos = q + cl + 4 * n;
      return 0;
    }
    case TAG_EXPORT: {
      size_t q = p + 1;
      ep_export *e = dalloc(c, sizeof *e);
      if (!e) return EP_ENOMEM;
      e->module = mk(EP_T_ATOM);
      e->function = mk(EP_T_ATOM);
      if ((r = dec_atom_text(c, &q, &e->module.v.str, &e->module.n))) return r;
      if ((r = dec_atom_text(c, &q, &e->function.v.str, &e->function.n))) return r;
      if ((r = need(c, q, 2))) return r;
      if (b[q] != TAG_SMALL_INTEGER) {
        c->errpos = q;
        return EP_EBADTERM;
      }
      e->arity = b[q + 1];
      ep_term *t = out;
      set_hdr(out, EP_T_EXPORT, 0);
      t->v.exp = e;
      *pos = q + 2;
      return 0;
    }
    case TAG_SMALL_TUPLE:
    case TAG_LARGE_TUPLE:
    case TAG_LIST:
    case TAG_MAP:
    case TAG_NEW_FUN:
      return 1;
    case TAG_LOCAL:
      return EP_ELOCAL;
    default:
      return EP_EBADTAG;
  }
}

/* Reads an integer field of a fun (old_index, old_uniq). */
static int dec_int_field(dctx *c, size_t *pos, ep_term *out) {
  size_t p = *pos;
  int r = dec_scalar(c, pos, out);
  if (r == 1 || (r == 0 && out->type != EP_T_INT && out->type != EP_T_BIG)) {
    c->errpos = p;
    return EP_EBADTERM;
  }
  return r;
}

static int dec_body(dctx *c, size_t *pos, ep_term *out);

/* 131 80 UncompressedSize:32 zlib-stream: inflates into a temporary buffer
 * and decodes the body from there. */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size) {
  if (size && items > SIZE_MAX / size) return Z_NULL;
  return ep_malloc((const ep_mem *)opaque, (size_t)items * size);
}
static void z_free(voidpf opaque, voidpf p) { ep_free((const ep_mem *)opaque, p); }

static int dec_compressed(dctx *c, size_t *pos, ep_term *out) {
  size_t p = *pos; /* at the 80 */
  int r = need(c, p, 5);
  if (r) return r;
  size_t usize = ep_get32(c->buf + p + 1);
  c->errpos = p + 1;
  if (usize > c->inflated) return EP_EINFLATE; /* the zip bomb dies here */
  if (usize == 0) return EP_EBADTERM;
  size_t zpos = p + 5, avail = c->len - zpos;
  if (avail > c->limend - zpos) avail = c->limend - zpos;
  /* Deflate cannot expand this many bytes into usize: the rest is yet to come. */
  if (avail < SIZE_MAX / EP__INFLATE_RATIO - 64 && usize > avail * EP__INFLATE_RATIO + 64)
    return avail < c->len - zpos ? EP_ETOOBIG : EP_EINCOMPLETE;
  uint8_t *ubuf = ep_malloc(c->mem, usize);
  if (!ubuf) return EP_ENOMEM;
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  zs.zalloc = z_alloc;
  zs.zfree = z_free;
  zs.opaque = (voidpf)c->mem;
  int zr = inflateInit(&zs);
  if (zr != Z_OK) {
    ep_free(c->mem, ubuf);
    return zr == Z_MEM_ERROR ? EP_ENOMEM : EP_EZLIB;
  }
  /* zlib counts in uInt: feed it in pieces so huge inputs are safe. */
  const uint8_t *in = c->buf + zpos;
  size_t in_left = avail, out_left = usize;
  zs.next_out = ubuf;
  for (;;) {
    uInt ci = in_left > 0x40000000u ? 0x40000000u : (uInt)in_left;
    uInt co = out_left > 0x40000000u ? 0x40000000u : (uInt)out_left;
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = ci;
    zs.avail_out = co;
    zr = inflate(&zs, Z_NO_FLUSH);
    in += ci - zs.avail_in;
    in_left -= ci - zs.avail_in;
    out_left -= co - zs.avail_out;
    if (zr == Z_STREAM_END) break;
    if (zr == Z_OK && (zs.avail_in == 0 || zs.avail_out == 0) && in_left && out_left) continue;
    if (zr == Z_MEM_ERROR) {
      r = EP_ENOMEM;
    } else if (zr == Z_OK || zr == Z_BUF_ERROR) {
      /* Out of input: incomplete. Out of room with input left: the stream
       * inflates to more than the header said. */
      r = in_left == 0 ? EP_EINCOMPLETE : EP_EZLIB;
    } else {
      r = EP_EZLIB;
    }
    inflateEnd(&zs);
    ep_free(c->mem, ubuf);
    return r;
  }
  inflateEnd(&zs);
  if (out_left != 0) {
    ep_free(c->mem, ubuf);
    return EP_EZLIB; /* inflated to less than the header said */
  }
  dctx sub = *c;
  sub.buf = ubuf;
  sub.len = usize;
  sub.limend = usize;
  size_t up = 0;
  r = dec_body(&sub, &up, out);
  ep_free(c->mem, ubuf);
  if (r == 0 && up != usize) r = EP_EBADTERM; /* junk inside the compressed body */
  if (r == EP_EINCOMPLETE || r == EP_ETOOBIG) r = EP_EBADTERM;
  if (r) return r;
  *pos = zpos + (avail - in_left);
  return 0;
}

#define DSTACK_LOCAL 256

/* [a | [b | T]] written as two LIST_EXT (or a STRING_EXT tail) is the list
 * [a, b | T]; the BEAM merges the segments when it decodes, and so do we,
 * in a pass that runs only when the decoder saw a list in a list's tail.
 * Each chain is merged once from its head (linear), iteratively. */
static int merge_list_tails(dctx *c, ep_term *root) {
  typedef struct {
    ep_term *items;
    size_t left;
  } mframe;
  mframe local[64], *st = local;
  size_t sp = 0, cap = 64;
  int r = 0;
  ep_term *cur = root;
  for (;;) {
    ep_term *kids = NULL;
    size_t nk = 0;
    switch (cur->type) {
      case EP_T_LIST: {
        ep_term t = cur->v.items[cur->n];
        if (t.type == EP_T_LIST || t.type == EP_T_STRING) {
          size_t m = cur->n;
          while (t.type == EP_T_LIST || t.type == EP_T_STRING) {
            m += t.n;
            t = t.type == EP_T_LIST ? t.v.items[t.n] : ep_nil();
          }
          if (m >= UINT32_MAX) {
            r = EP_ETOOBIG;
            goto out;
          }
          ep_term *it = dalloc(c, (m + 1) * sizeof(ep_term));
          if (!it) {
            r = EP_ENOMEM;
            goto out;
          }
          size_t k = cur->n;
          memcpy(it, cur->v.items, k * sizeof(ep_term));
          t = cur->v.items[cur->n];
          while (t.type == EP_T_LIST || t.type == EP_T_STRING) {
            if (t.type == EP_T_LIST) {
              memcpy(it + k, t.v.items, (size_t)t.n * sizeof(ep_term));
              k += t.n;
              t = t.v.items[t.n];
            } else {
              for (uint32_t i = 0; i < t.n; i++) set_int(&it[k++], t.v.bytes[i]);
              t = ep_nil();
            }
          }
          it[m] = t;
          cur->n = (uint32_t)m;
          cur->v.items = it;
        }
        kids = cur->v.items, nk = (size_t)cur->n + 1;
        break;
      }
      case EP_T_TUPLE:
        kids = cur->v.items, nk = cur->n;
        break;
      case EP_T_MAP:
        kids = cur->v.items, nk = 2 * (size_t)cur->n;
        break;
      case EP_T_FUN: /* decoded by us into the arena: ours to update */
        kids = (ep_term *)(uintptr_t)cur->v.fun->free_vars, nk = cur->v.fun->num_free;
        break;
      default:
        break;
    }
    if (nk) {
      if (sp == cap) {
        size_t ncap = cap * 2;
        mframe *ns = st == local ? ep_malloc(c->mem, ncap * sizeof *ns) : ep_realloc(c->mem, st, ncap * sizeof *ns);
        if (!ns) {
          r = EP_ENOMEM;
          goto out;
        }
        if (st == local) memcpy(ns, local, sizeof local);
        st = ns;
        cap = ncap;
      }
      st[sp].items = kids;
      st[sp].left = nk;
      sp++;
    }
    while (sp && st[sp - 1].left == 0) sp--;
    if (!sp) break;
    cur = st[sp - 1].items++;
    st[sp - 1].left--;
  }
out:
  if (st != local) ep_free(c->mem, st);
  return r;
}

static int dec_body(dctx *c, size_t *pos, ep_term *out) {
  dframe local[DSTACK_LOCAL], *stack = local;
  size_t sp = 0, cap = DSTACK_LOCAL;
  size_t p = *pos;
  const uint8_t *b = c->buf;
  /* bytes usable without a check: what arrived, capped by the size limit */
  const size_t end = c->len < c->limend ? c->len : c->limend;
  ep_term *slot = out;
  int r = 0;
  for (;;) {
    /* --- decode one term into *slot --- */
    size_t tpos = p;
    uint8_t type;
    size_t n, nslots, hdr, fun_end = 0;
    ep_term *items = NULL;
    /* The commonest tags inline; everything else through dec_scalar, which
     * also produces every error for short input. */
    if (p < end) {
      switch (b[p]) {
        case TAG_SMALL_INTEGER:
          if (end - p < 2) break;
          set_int(slot, b[p + 1]);
          p += 2;
          goto next;
        case TAG_INTEGER:
          if (end - p < 5) break;
          set_int(slot, (int32_t)ep_get32(b + p + 1));
          p += 5;
          goto next;
        case TAG_NIL:
          set_hdr(slot, EP_T_NIL, 0);
          p++;
          goto next;
        case TAG_NEW_FLOAT: {
          if (end - p < 9) break;
          uint64_t u = ep_get64(b + p + 1);
          double f;
          memcpy(&f, &u, sizeof f);
          if (!isfinite(f)) break; /* refused by dec_scalar */
          set_hdr(slot, EP_T_FLOAT, 0);
          slot->v.f = f;
          p += 9;
          goto next;
        }
        case TAG_SMALL_ATOM_UTF8: {
          if (end - p < 2) break;
          size_t an = b[p + 1];
          if (end - p - 2 < an || an > c->atom_chars) break;
          const uint8_t *s = b + p + 2;
          size_t k = 0;
          while (k < an && s[k] < 0x80) k++;
          if (k < an) break; /* non-ASCII: validated in dec_atom_text */
          char *d = dalloc(c, an + 1);
          if (!d) {
            r = EP_ENOMEM;
            goto fail;
          }
          memcpy(d, s, an);
          d[an] = 0;
          set_hdr(slot, EP_T_ATOM, (uint32_t)an);
          slot->v.str = d;
          p += 2 + an;
          goto next;
        }
        case TAG_BINARY: {
          if (end - p < 5) break;
          size_t bn = ep_get32(b + p + 1);
          if (end - p - 5 < bn) break;
          uint8_t *d = dalloc(c, bn);
          if (!d) {
            r = EP_ENOMEM;
            goto fail;
          }
          memcpy(d, b + p + 5, bn);
          set_hdr(slot, EP_T_BINARY, (uint32_t)bn);
          slot->v.bytes = d;
          p += 5 + bn;
          goto next;
        }
        case TAG_LIST:
        case TAG_SMALL_TUPLE: {
          /* the common containers, when nothing needs checking further */
          bool list = b[p] == TAG_LIST;
          size_t h = list ? 5 : 2;
          if (end - p < h || sp >= c->depth || sp == cap) goto compound;
          size_t cn = list ? ep_get32(b + p + 1) : b[p + 1];
          size_t ns = cn + list;
          if (cn == 0 || ns > end - p - h || ns > UINT32_MAX) goto compound;
          ep_term *it = dalloc(c, ns * sizeof(ep_term));
          if (!it) {
            r = EP_ENOMEM;
            goto fail;
          }
          set_hdr(slot, list ? EP_T_LIST : EP_T_TUPLE, (uint32_t)cn);
          slot->v.items = it;
          stack[sp].u.slot = it;
          stack[sp].left = (uint32_t)ns;
          stack[sp].kind = list ? DF_LIST : DF_PLAIN;
          sp++;
          p += h;
          goto next;
        }
        case TAG_LARGE_TUPLE:
        case TAG_MAP:
        case TAG_NEW_FUN:
          goto compound;
        default:
          break;
      }
    }
    r = dec_scalar(c, &p, slot);
    if (r < 0) goto fail;
    if (r == 0) goto next;
  compound:
    switch (b[tpos]) {
      case TAG_SMALL_TUPLE:
      case TAG_LARGE_TUPLE:
        hdr = b[tpos] == TAG_SMALL_TUPLE ? 2 : 5;
        if ((r = need(c, tpos, hdr))) goto fail;
        n = hdr == 2 ? b[tpos + 1] : ep_get32(b + tpos + 1);
        nslots = n;
        type = EP_T_TUPLE;
        break;
      case TAG_LIST:
        hdr = 5;
        if ((r = need(c, tpos, hdr))) goto fail;
        n = ep_get32(b + tpos + 1);
        nslots = n + 1; /* the tail */
        type = EP_T_LIST;
        break;
      case TAG_MAP:
        hdr = 5;
        if ((r = need(c, tpos, hdr))) goto fail;
        n = ep_get32(b + tpos + 1);
        nslots = 2 * n;
        type = EP_T_MAP;
        break;
      default: { /* TAG_NEW_FUN */
        if ((r = need(c, tpos, 5))) goto fail;
        size_t size = ep_get32(b + tpos + 1);
        if (size < 29) {
          c->errpos = tpos;
          r = EP_EBADTERM;
          goto fail;
        }
        if ((r = need(c, tpos, 1 + size))) goto fail;
        fun_end = tpos + 1 + size;
        ep_fun *f = dalloc(c, sizeof *f);
        if (!f) {
          r = EP_ENOMEM;
          goto fail;
        }
        f->arity = b[tpos + 5];
        memcpy(f->uniq, b + tpos + 6, 16);
        f->index = ep_get32(b + tpos + 22);
        n = ep_get32(b + tpos + 26);
        f->num_free = (uint32_t)n;
        size_t q = tpos + 30;
        f->module = mk(EP_T_ATOM);
        if ((r = dec_atom_text(c, &q, &f->module.v.str, &f->module.n))) goto fail;
        if ((r = dec_int_field(c, &q, &f->old_index))) goto fail;
        if ((r = dec_int_field(c, &q, &f->old_uniq))) goto fail;
        size_t pidpos = q;
        r = dec_scalar(c, &q, &f->pid);
        if (r == 1 || (r == 0 && f->pid.type != EP_T_PID)) {
          c->errpos = pidpos;
          r = EP_EBADTERM;
        }
        if (r) goto fail;
        if (q > fun_end || n > fun_end - q) { /* each free variable takes a byte at least */
          c->errpos = tpos;
          r = EP_EBADTERM;
          goto fail;
        }
        f->free_vars = NULL;
        if (n) {
          items = dalloc(c, n * sizeof(ep_term));
          if (!items) {
            r = EP_ENOMEM;
            goto fail;
          }
          f->free_vars = items;
        } else if (q != fun_end) {
          c->errpos = tpos;
          r = EP_EBADTERM;
          goto fail;
        }
        set_hdr(slot, EP_T_FUN, 0);
        slot->v.fun = f;
        p = q;
        nslots = n;
        type = EP_T_FUN;
        hdr = 0;
        break;
      }
    }
    if (type != EP_T_FUN) {
      p = tpos + hdr;
      /* Every element takes at least one byte (a map pair two): a count
       * larger than what is left is a lie or a prefix, and it must not
       * size an allocation. */
      size_t minbytes = type == EP_T_MAP ? 2 * n : type == EP_T_LIST ? n + 1 : n;
      if (minbytes > end - p && (r = need(c, p, minbytes))) {
        c->errpos = tpos;
        goto fail;
      }
      if (type == EP_T_LIST && n == 0) continue; /* [|Tail] is just Tail: same slot */
      if (nslots) {
        items = dalloc(c, nslots * sizeof(ep_term));
        if (!items) {
          r = EP_ENOMEM;
          goto fail;
        }
      }
      set_hdr(slot, type, (uint32_t)n);
      slot->v.items = items;
    }
    if (nslots) {
      if (nslots > UINT32_MAX) { /* more slots than an ep_term can count */
        c->errpos = tpos;
        r = EP_ETOOBIG;
        goto fail;
      }
      if (sp >= c->depth) {
        c->errpos = tpos;
        r = EP_EDEPTH;
        goto fail;
      }
      if (cap - sp < 2) { /* a fun takes two frames */
        size_t ncap = cap * 4;
        dframe *ns = stack == local ? ep_malloc(c->mem, ncap * sizeof *ns)
                                    : ep_realloc(c->mem, stack, ncap * sizeof *ns);
        if (!ns) {
          r = EP_ENOMEM;
          goto fail;
        }
        if (stack == local) memcpy(ns, local, sizeof local);
        stack = ns;
        cap = ncap;
      }
      if (fun_end) { /* checked when the free variables are done */
        stack[sp].u.end = fun_end;
        stack[sp].left = 0;
        stack[sp].kind = DF_FUN_END;
        sp++;
      }
      stack[sp].u.slot = items;
      stack[sp].left = (uint32_t)nslots;
      stack[sp].kind = type == EP_T_LIST ? DF_LIST : DF_PLAIN;
      sp++;
    }
  next:
    /* --- find the next slot to fill --- */
    for (;;) {
      if (sp == 0) goto done;
      dframe *f = &stack[sp - 1];
      if (f->left > 1) {
        slot = f->u.slot++;
        f->left--;
        break;
      }
      if (f->left) {
        slot = f->u.slot++;
        f->left--;
        /* The last slot of a proper list is its NIL tail: fill it here and
         * close the frame without a trip through the dispatch. */
        if (p < end && b[p] == TAG_NIL) {
          set_hdr(slot, EP_T_NIL, 0);
          p++;
          sp--;
          continue;
        }
        if (f->kind == DF_LIST && p < end && (b[p] == TAG_LIST || b[p] == TAG_STRING)) c->tail_lists = true;
        break;
      }
      if (f->kind == DF_FUN_END && p != f->u.end) {
        c->errpos = p;
        r = EP_EBADTERM;
        goto fail;
      }
      sp--;
    }
  }
done:
  if (stack != local) ep_free(c->mem, stack);
  if (c->tail_lists && (r = merge_list_tails(c, out))) return r;
  *pos = p;
  return 0;
fail:
  if (stack != local) ep_free(c->mem, stack);
  return r;
}

static void dctx_init(dctx *c, ep_arena *a, const uint8_t *buf, size_t len, size_t start,
                      const ep_limits *lim) {
  c->a = a;
  c->mem = ep_arena_mem(a);
  c->buf = buf;
  c->len = len;
  size_t ts = lim && lim->term_size ? lim->term_size : EP_LIMIT_TERM_SIZE;
  c->limend = ts > SIZE_MAX - start ? SIZE_MAX : start + ts;
  c->depth = lim && lim->depth ? lim->depth : EP_LIMIT_DEPTH;
  c->atom_chars = lim && lim->atom_chars ? lim->atom_chars : EP_LIMIT_ATOM_CHARS;
  if (c->atom_chars > 65535) c->atom_chars = 65535;
  c->bignum_bytes = lim && lim->bignum_bytes ? lim->bignum_bytes : EP_LIMIT_BIGNUM_BYTES;
  c->inflated = lim && lim->inflated_size ? lim->inflated_size : EP_LIMIT_INFLATED_SIZE;
  c->errpos = start;
  c->slab = NULL;
  c->slab_left = 0;
  c->tail_lists = false;
  c->refs = NULL;
  c->nrefs = 0;
}

static int finish(const dctx *c, int r, size_t *pos, size_t p, ep_term *out, ep_term t) {
  if (r == 0) {
    *out = t;
    *pos = p;
  } else if (r != EP_EINCOMPLETE) {
    *pos = c->errpos;
  }
  return r;
}

int ep_decode_body(ep_arena *a, const uint8_t *buf, size_t len, size_t *pos, ep_term *out,
                   const ep_limits *lim) {
  if (!a || (!buf && len) || !pos || !out || *pos > len) return EP_EINVAL;
  dctx c;
  dctx_init(&c, a, buf, len, *pos, lim);
  size_t p = *pos;
  ep_term t = {0};
  int r = dec_body(&c, &p, &t);
  return finish(&c, r, pos, p, out, t);
}

int ep_decode_body_refs(ep_arena *a, const uint8_t *buf, size_t len, size_t *pos, ep_term *out,
                        const ep_limits *lim, const ep_atom_ref *refs, size_t nrefs) {
  if (!a || (!buf && len) || !pos || !out || *pos > len || (nrefs && !refs)) return EP_EINVAL;
  dctx c;
  dctx_init(&c, a, buf, len, *pos, lim);
  c.refs = refs;
  c.nrefs = nrefs;
  size_t p = *pos;
  ep_term t = {0};
  int r = dec_body(&c, &p, &t);
  return finish(&c, r, pos, p, out, t);
}

int ep_decode(ep_arena *a, const uint8_t *buf, size_t len, size_t *pos, ep_term *out,
              const ep_limits *lim) {
  if (!a || (!buf && len) || !pos || !out || *pos > len) return EP_EINVAL;
  dctx c;
  dctx_init(&c, a, buf, len, *pos, lim);
  size_t p = *pos;
  int r = need(&c, p, 2);
  if (r == EP_EINCOMPLETE && len > p && buf[p] != EP_ETF_VERSION) r = EP_EVERSION;
  if (r) return finish(&c, r, pos, p, out, ep_none());
  if (buf[p] != EP_ETF_VERSION) return finish(&c, EP_EVERSION, pos, p, out, ep_none());
  p++;
  ep_term t = {0};
  if (buf[p] == TAG_COMPRESSED)
    r = dec_compressed(&c, &p, &t);
  else
    r = dec_body(&c, &p, &t);
  return finish(&c, r, pos, p, out, t);
}

/* ======================================================================= */
/* encoding                                                                 */
/* ======================================================================= */

typedef struct {
  const ep_term *items;
  size_t left;
  size_t patch; /* offset of a fun's size field (0: none), filled when its free variables are written */
  size_t ext;   /* gathered encoding: bytes referenced before the fun's free variables (they count in its size) */
} eframe;

/* A proper list of 1..65535 integers 0..255 goes out as STRING_EXT, as the
 * BEAM's is_external_string decides. */
static bool list_is_bytes(const ep_term *t) {
  if (t->n > 65535 || t->v.items[t->n].type != EP_T_NIL) return false;
  const ep_term *it = t->v.items;
  for (uint32_t i = 0; i < t->n; i++)
    if (it[i].type != EP_T_INT || (uint64_t)it[i].v.i > 255) return false;
  return true;
}

static size_t int_size(int64_t v) {
  if (v >= 0 && v <= 255) return 2;
  if (v >= INT32_MIN && v <= INT32_MAX) return 5;
  uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  size_t n = 0;
  while (m) n++, m >>= 8;
  return 3 + n;
}

/* Magnitude length without high zero bytes. */
static size_t big_len(const ep_term *t) {
  size_t n = t->n;
  while (n && t->v.bytes[n - 1] == 0) n--;
  return n;
}

/* A bignum that fits int64 (a hand-built, unnormalised EP_T_BIG) is
 * encoded as the integer it is. */
static bool big_as_int(const ep_term *t, int64_t *v) {
  size_t n = big_len(t);
  if (n > 8) return false;
  uint64_t u = 0;
  for (size_t i = n; i > 0; i--) u = (u << 8) | t->v.bytes[i - 1];
  if (!t->aux && u <= (uint64_t)INT64_MAX) {
    *v = (int64_t)u;
    return true;
  }
  if (t->aux && u <= (uint64_t)INT64_MAX + 1) {
    *v = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    return true;
  }
  return false;
}

static inline size_t atom_size(size_t n) { return n < 256 ? 2 + n : 3 + n; }

/* Size of t's own bytes (header and inline parts; elements are counted
 * when walked). 0 when t cannot be encoded. Sets *kids and *nkids for
 * compounds. */
static size_t own_size(const ep_term *t, const ep_term **kids, size_t *nkids) {
  *nkids = 0;
  switch (t->type) {
    case EP_T_INT:
      return int_size(t->v.i);
    case EP_T_BIG: {
      int64_t v;
      if (big_as_int(t, &v)) return int_size(v);
      size_t n = big_len(t);
      return n < 256 ? 3 + n : 6 + n;
    }
    case EP_T_FLOAT:
      return isfinite(t->v.f) ? 9 : 0;
    case EP_T_ATOM:
      return t->n <= 65535 ? atom_size(t->n) : 0;
    case EP_T_NIL:
      return 1;
    case EP_T_STRING:
      if (t->n == 0) return 1;
      return t->n <= 65535 ? 3 + (size_t)t->n : 5 + 2 * (size_t)t->n + 1;
    case EP_T_LIST:
      if (t->n == 0 || !t->v.items) return 0;
      if (list_is_bytes(t)) return 3 + (size_t)t->n;
      *kids = t->v.items;
      *nkids = (size_t)t->n + 1;
      return 5;
    case EP_T_TUPLE:
      if (t->n && !t->v.items) return 0;
      *kids = t->v.items;
      *nkids = t->n;
      return t->n < 256 ? 2 : 5;
    case EP_T_MAP:
      if (t->n && !t->v.items) return 0;
      *kids = t->v.items;
      *nkids = 2 * (size_t)t->n;
      return 5;
    case EP_T_BINARY:
      return 5 + (size_t)t->n;
    case EP_T_BITSTR:
      if (t->n == 0 || t->aux < 1 || t->aux > 8) return t->n == 0 ? 5 : 0;
      return t->aux == 8 ? 5 + (size_t)t->n : 6 + (size_t)t->n;
    case EP_T_PID:
      return t->v.pid.node_len <= 65535 ? 1 + atom_size(t->v.pid.node_len) + 12 : 0;
    case EP_T_PORT:
      if (t->v.port.node_len > 65535) return 0;
      return 1 + atom_size(t->v.port.node_len) + (t->v.port.id > EP__MAX_V3_PORT ? 12 : 8);
    case EP_T_REF:
      if (t->n < 1 || t->n > 5 || t->v.ref.node_len > 65535) return 0;
      return 3 + atom_size(t->v.ref.node_len) + 4 + 4 * (size_t)t->n;
    case EP_T_EXPORT: {
      const ep_export *e = t->v.exp;
      if (e->module.type != EP_T_ATOM || e->function.type != EP_T_ATOM || e->arity > 255 ||
          e->module.n > 65535 || e->function.n > 65535)
        return 0;
      return 1 + atom_size(e->module.n) + atom_size(e->function.n) + 2;
    }
    case EP_T_FUN: {
      const ep_fun *f = t->v.fun;
      if (f->module.type != EP_T_ATOM || f->module.n > 65535 || f->pid.type != EP_T_PID ||
          !ep_is_integer(f->old_index) || !ep_is_integer(f->old_uniq) || f->arity > 255 ||
          (f->num_free && !f->free_vars))
        return 0;
      const ep_term *dummy;
      size_t nd;
      size_t s = 30 + atom_size(f->module.n) + own_size(&f->old_index, &dummy, &nd) +
                 own_size(&f->old_uniq, &dummy, &nd) + own_size(&f->pid, &dummy, &nd);
      *kids = f->free_vars;
      *nkids = f->num_free;
      return s;
    }
    default:
      return 0;
  }
}

#define ESTACK_LOCAL 64

static int grow_estack(const ep_mem *m, eframe **stack, eframe *local, size_t *cap) {
  size_t ncap = *cap * 2;
  eframe *ns = *stack == local ? ep_malloc(m, ncap * sizeof *ns) : ep_realloc(m, *stack, ncap * sizeof *ns);
  if (!ns) return EP_ENOMEM;
  if (*stack == local) memcpy(ns, local, *cap * sizeof *ns);
  *stack = ns;
  *cap = ncap;
  return 0;
}

/* Sizing walk. 0, EP_EINVAL or EP_ENOMEM. */
static int body_size(const ep_mem *m, ep_term t, size_t *out) {
  eframe local[ESTACK_LOCAL], *stack = local;
  size_t sp = 0, cap = ESTACK_LOCAL, total = 0;
  const ep_term *cur = &t;
  int r = 0;
  for (;;) {
    const ep_term *kids;
    size_t nk;
    size_t s = own_size(cur, &kids, &nk);
    if (s == 0) {
      r = EP_EINVAL;
      break;
    }
    total += s;
    if (nk) {
      if (sp == cap && (r = grow_estack(m, &stack, local, &cap))) break;
      stack[sp++] = (eframe){kids, nk, 0, 0};
    }
    while (sp && stack[sp - 1].left == 0) sp--;
    if (!sp) break;
    cur = stack[sp - 1].items++;
    stack[sp - 1].left--;
  }
  if (stack != local) ep_free(m, stack);
  *out = total;
  return r;
}

/* Atom cache references while encoding (NULL: every atom in full). */
typedef struct {
  ep_atom_ref_fn fn;
  void *ud;
} aenc;

static inline uint8_t *put_atom(uint8_t *p, const char *s, size_t n, const aenc *ae) {
  if (ae) {
    int k = ae->fn(s, n, ae->ud);
    if (k >= 0 && k < 255) {
      *p++ = TAG_ATOM_CACHE_REF;
      *p++ = (uint8_t)k;
      return p;
    }
  }
  if (n < 256) {
    *p++ = TAG_SMALL_ATOM_UTF8;
    *p++ = (uint8_t)n;
  } else {
    *p++ = TAG_ATOM_UTF8;
    ep_put16(p, (uint16_t)n);
    p += 2;
  }
  memcpy(p, s, n);
  return p + n;
}

static uint8_t *put_int(uint8_t *p, int64_t v) {
  if (v >= 0 && v <= 255) {
    *p++ = TAG_SMALL_INTEGER;
    *p++ = (uint8_t)v;
    return p;
  }
  if (v >= INT32_MIN && v <= INT32_MAX) {
    *p++ = TAG_INTEGER;
    ep_put32(p, (uint32_t)(int32_t)v);
    return p + 4;
  }
  uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  uint8_t *np = p + 1;
  *p = TAG_SMALL_BIG;
  p += 2;
  *p++ = v < 0;
  uint8_t n = 0;
  while (m) {
    *p++ = (uint8_t)m;
    m >>= 8;
    n++;
  }
  *np = n;
  return p;
}

/* Writes t's own bytes (see own_size). Returns the end. *patch is set for a
 * fun (its size field). */
static uint8_t *put_own(uint8_t *p, const ep_term *t, bool as_string, uint8_t **patch, const aenc *ae) {
  switch (t->type) {
    case EP_T_INT:
      return put_int(p, t->v.i);
    case EP_T_BIG: {
      int64_t v;
      if (big_as_int(t, &v)) return put_int(p, v);
      size_t n = big_len(t);
      if (n < 256) {
        *p++ = TAG_SMALL_BIG;
        *p++ = (uint8_t)n;
      } else {
        *p++ = TAG_LARGE_BIG;
        ep_put32(p, (uint32_t)n);
        p += 4;
      }
      *p++ = t->aux ? 1 : 0;
      memcpy(p, t->v.bytes, n);
      return p + n;
    }
    case EP_T_FLOAT: {
      uint64_t u;
      memcpy(&u, &t->v.f, sizeof u);
      *p++ = TAG_NEW_FLOAT;
      ep_put64(p, u);
      return p + 8;
    }
    case EP_T_ATOM:
      return put_atom(p, t->v.str, t->n, ae);
    case EP_T_NIL:
      *p++ = TAG_NIL;
      return p;
    case EP_T_STRING:
      if (t->n == 0) {
        *p++ = TAG_NIL;
      } else if (t->n <= 65535) {
        *p++ = TAG_STRING;
        ep_put16(p, (uint16_t)t->n);
        memcpy(p + 2, t->v.bytes, t->n);
        p += 2 + t->n;
      } else { /* too long for STRING_EXT: a list of small integers */
        *p++ = TAG_LIST;
        ep_put32(p, t->n);
        p += 4;
        for (uint32_t i = 0; i < t->n; i++) {
          p[0] = TAG_SMALL_INTEGER;
          p[1] = t->v.bytes[i];
          p += 2;
        }
        *p++ = TAG_NIL;
      }
      return p;
    case EP_T_LIST:
      if (as_string) {
        *p++ = TAG_STRING;
        ep_put16(p, (uint16_t)t->n);
        p += 2;
        for (uint32_t i = 0; i < t->n; i++) *p++ = (uint8_t)t->v.items[i].v.i;
        return p;
      }
      *p++ = TAG_LIST;
      ep_put32(p, t->n);
      return p + 4;
    case EP_T_TUPLE:
      if (t->n < 256) {
        *p++ = TAG_SMALL_TUPLE;
        *p++ = (uint8_t)t->n;
        return p;
      }
      *p++ = TAG_LARGE_TUPLE;
      ep_put32(p, t->n);
      return p + 4;
    case EP_T_MAP:
      *p++ = TAG_MAP;
      ep_put32(p, t->n);
      return p + 4;
    case EP_T_BINARY:
    case EP_T_BITSTR:
      if (t->type == EP_T_BITSTR && t->n && t->aux != 8) {
        *p++ = TAG_BIT_BINARY;
        ep_put32(p, t->n);
        p[4] = t->aux;
        p += 5;
        memcpy(p, t->v.bytes, t->n);
        p[t->n - 1] &= (uint8_t)(0xFFu << (8 - t->aux));
        return p + t->n;
      }
      *p++ = TAG_BINARY;
      ep_put32(p, t->n);
      p += 4;
      if (t->n) memcpy(p, t->v.bytes, t->n);
      return p + t->n;
    case EP_T_PID:
      *p++ = TAG_NEW_PID;
      p = put_atom(p, t->v.pid.node, t->v.pid.node_len, ae);
      ep_put32(p, t->v.pid.id);
      ep_put32(p + 4, t->v.pid.serial);
      ep_put32(p + 8, t->v.pid.creation);
      return p + 12;
    case EP_T_PORT:
      if (t->v.port.id > EP__MAX_V3_PORT) {
        *p++ = TAG_V4_PORT;
        p = put_atom(p, t->v.port.node, t->v.port.node_len, ae);
        ep_put64(p, t->v.port.id);
        p += 8;
      } else {
        *p++ = TAG_NEW_PORT;
        p = put_atom(p, t->v.port.node, t->v.port.node_len, ae);
        ep_put32(p, (uint32_t)t->v.port.id);
        p += 4;
      }
      ep_put32(p, t->v.port.creation);
      return p + 4;
    case EP_T_REF:
      *p++ = TAG_NEWER_REFERENCE;
      ep_put16(p, (uint16_t)t->n);
      p = put_atom(p + 2, t->v.ref.node, t->v.ref.node_len, ae);
      ep_put32(p, t->v.ref.creation);
      p += 4;
      for (uint32_t i = 0; i < t->n; i++, p += 4) ep_put32(p, t->v.ref.ids[i]);
      return p;
    case EP_T_EXPORT: {
      const ep_export *e = t->v.exp;
      *p++ = TAG_EXPORT;
      p = put_atom(p, e->module.v.str, e->module.n, ae);
      p = put_atom(p, e->function.v.str, e->function.n, ae);
      *p++ = TAG_SMALL_INTEGER;
      *p++ = (uint8_t)e->arity;
      return p;
    }
    case EP_T_FUN: {
      const ep_fun *f = t->v.fun;
      uint8_t *dummy;
      *p++ = TAG_NEW_FUN;
      *patch = p;
      p += 4;
      *p++ = (uint8_t)f->arity;
      memcpy(p, f->uniq, 16);
      p += 16;
      ep_put32(p, f->index);
      ep_put32(p + 4, f->num_free);
      p = put_atom(p + 8, f->module.v.str, f->module.n, ae);
      p = put_own(p, &f->old_index, false, &dummy, ae);
      p = put_own(p, &f->old_uniq, false, &dummy, ae);
      return put_own(p, &f->pid, false, &dummy, ae);
    }
    default:
      return p;
  }
}

size_t ep_encoded_size(ep_term t) {
  size_t n = 0;
  return body_size(NULL, t, &n) ? 0 : n;
}

/* Puts out->data[g->mark, w) into g's segments: extends the last one when
 * it is the buffer range just before, else takes a new one. Only fails
 * when the caller broke the reservation rule (see ep_encode_gather). */
static int gather_close(ep_gather *g, size_t w) {
  if (w == g->mark) return 0;
  ep_seg *last = g->n ? &g->segs[g->n - 1] : NULL;
  if (last && !last->ext && last->off + last->len == g->mark) {
    last->len += w - g->mark;
  } else {
    if (g->n == g->cap) return EP_EINVAL;
    g->segs[g->n++] = (ep_seg){NULL, g->mark, w - g->mark};
  }
  g->mark = w;
  return 0;
}

/* Whether a reference fits: the buffer bytes before it (at least the
 * binary's header: a segment of their own unless they extend the last
 * one), the reference, and one segment kept for whatever follows, so that
 * the closing segment always fits. */
static bool gather_room(const ep_gather *g) {
  const ep_seg *last = g->n ? &g->segs[g->n - 1] : NULL;
  size_t need = last && !last->ext && last->off + last->len == g->mark ? 2 : 3;
  return g->cap - g->n >= need;
}

/* Appends (131 if ver) and the body in one walk: each term's own size is
 * known before it is written (own_size), so the buffer is grown at most
 * once per term and written through a raw pointer; a fun's size field is
 * patched by offset when its free variables are done. out->len moves only
 * on success. */
static int encode(ep_buf *out, ep_term t, bool ver, ep_gather *g, const aenc *ae) {
  if (!out) return EP_EINVAL;
  if (out->err) return out->err;
  if (g && (g->cap == 0 || !g->segs || out->len < g->mark)) return EP_EINVAL;
  eframe local[ESTACK_LOCAL], *stack = local;
  size_t sp = 0, cap = ESTACK_LOCAL;
  size_t w = out->len;
  int r = 0;
  ep_gather g0 = g ? *g : (ep_gather){0};
  ep_seg last0 = g && g->n ? g->segs[g->n - 1] : (ep_seg){0};
  if (ver) {
    if ((r = ep_buf_reserve(out, 1))) return r;
    out->data[w++] = EP_ETF_VERSION;
  }
  const ep_term *cur = &t;
  for (;;) {
    const ep_term *kids = NULL;
    size_t nk = 0, poff = 0;
    /* Fixed-size terms and container headers (at most 11 bytes) are
     * written straight away when 16 bytes are free; the rest is sized by
     * own_size first. */
    if (out->cap - w >= 16) {
      uint8_t *p = out->data + w;
      switch (cur->type) {
        case EP_T_INT:
          w = (size_t)(put_int(p, cur->v.i) - out->data);
          goto pushed;
        case EP_T_NIL:
          *p = TAG_NIL;
          w++;
          goto pushed;
        case EP_T_TUPLE:
          if (cur->n && !cur->v.items) break;
          kids = cur->v.items, nk = cur->n;
          if (cur->n < 256) {
            p[0] = TAG_SMALL_TUPLE;
            p[1] = (uint8_t)cur->n;
            w += 2;
          } else {
            p[0] = TAG_LARGE_TUPLE;
            ep_put32(p + 1, cur->n);
            w += 5;
          }
          goto kids;
        case EP_T_MAP:
          if (cur->n && !cur->v.items) break;
          kids = cur->v.items, nk = 2 * (size_t)cur->n;
          p[0] = TAG_MAP;
          ep_put32(p + 1, cur->n);
          w += 5;
          goto kids;
        case EP_T_LIST:
          if (cur->n == 0 || !cur->v.items || list_is_bytes(cur)) break;
          kids = cur->v.items, nk = (size_t)cur->n + 1;
          p[0] = TAG_LIST;
          ep_put32(p + 1, cur->n);
          w += 5;
          goto kids;
        default:
          break;
      }
    }
    size_t s = own_size(cur, &kids, &nk);
    if (s == 0) {
      r = EP_EINVAL;
      break;
    }
    if (g && (cur->type == EP_T_BINARY || cur->type == EP_T_BITSTR)) {
      /* Header into the buffer, the bytes by reference, and for a
       * BIT_BINARY its masked last byte into the buffer (as put_own). */
      bool bits = cur->type == EP_T_BITSTR && cur->n && cur->aux != 8;
      size_t refl = bits ? (size_t)cur->n - 1 : cur->n;
      size_t min = g->min_ref ? g->min_ref : 1;
      if (refl >= min && gather_room(g)) {
        if (out->cap - w < 7) {
          size_t keep = out->len;
          out->len = w;
          r = ep_buf_reserve(out, 7);
          out->len = keep;
          if (r) break;
        }
        uint8_t *p = out->data + w;
        p[0] = bits ? TAG_BIT_BINARY : TAG_BINARY;
        ep_put32(p + 1, cur->n);
        if (bits) p[5] = cur->aux;
        w += bits ? 6 : 5;
        if ((r = gather_close(g, w))) break;
        g->segs[g->n++] = (ep_seg){cur->v.bytes, 0, refl};
        g->ext_bytes += refl;
        if (bits) out->data[w++] = cur->v.bytes[refl] & (uint8_t)(0xFFu << (8 - cur->aux));
        goto pushed;
      }
    }
    if (out->cap - w < s) {
      size_t keep = out->len;
      out->len = w;
      r = ep_buf_reserve(out, s);
      out->len = keep;
      if (r) break;
    }
    uint8_t *patch = NULL;
    uint8_t *e = put_own(out->data + w, cur, cur->type == EP_T_LIST && nk == 0, &patch, ae);
    w = (size_t)(e - out->data);
    poff = patch ? (size_t)(patch - out->data) : 0;
    if (patch && nk == 0) ep_put32(patch, (uint32_t)(w - poff));
  kids:
    if (nk) {
      if (sp == cap && (r = grow_estack(out->mem, &stack, local, &cap))) break;
      stack[sp].items = kids;
      stack[sp].left = nk;
      stack[sp].patch = poff;
      stack[sp].ext = g ? g->ext_bytes : 0;
      sp++;
    }
  pushed:
    while (sp && stack[sp - 1].left == 0) {
      size_t po = stack[sp - 1].patch;
      if (po) ep_put32(out->data + po, (uint32_t)(w - po + (g ? g->ext_bytes - stack[sp - 1].ext : 0)));
      sp--;
    }
    if (!sp) break;
    cur = stack[sp - 1].items++;
    stack[sp - 1].left--;
  }
  if (stack != local) ep_free(out->mem, stack);
  if (r == 0 && g) r = gather_close(g, w);
  if (r == 0) {
    out->len = w;
  } else if (g) {
    *g = g0; /* a merge may have lengthened the last segment: put it back too */
    if (g->n) g->segs[g->n - 1] = last0;
  }
  return r;
}

int ep_encode_body_refs(ep_buf *out, ep_gather *g, ep_term t, ep_atom_ref_fn fn, void *ud) {
  aenc ae = {fn, ud};
  return encode(out, t, false, g, fn ? &ae : NULL);
}

int ep_encode(ep_buf *out, ep_term t) { return encode(out, t, true, NULL, NULL); }

int ep_encode_body(ep_buf *out, ep_term t) { return encode(out, t, false, NULL, NULL); }

void ep_gather_init(ep_gather *g, ep_seg *segs, size_t cap, size_t min_ref, const ep_buf *out) {
  *g = (ep_gather){segs, cap, 0, min_ref, out ? out->len : 0, 0};
}

int ep_encode_gather(ep_buf *out, ep_gather *g, ep_term t) {
  return g ? encode(out, t, true, g, NULL) : EP_EINVAL;
}

int ep_encode_body_gather(ep_buf *out, ep_gather *g, ep_term t) {
  return g ? encode(out, t, false, g, NULL) : EP_EINVAL;
}

int ep_encode_compressed(ep_buf *out, ep_term t, int level) {
  if (!out || level < -1 || level > 9) return EP_EINVAL;
  if (level == 0) return ep_encode(out, t); /* as {compressed, 0}: not compressed */
  ep_buf body;
  ep_buf_init(&body, out->mem);
  int r = ep_encode_body(&body, t);
  if (r) {
    ep_buf_free(&body);
    return r;
  }
  /* The BEAM gives zlib an output buffer of body - 5 bytes and falls back
   * to the plain form when the stream does not fit: so the compressed form
   * (6 + stream bytes) is used unless it would be longer than the plain one
   * (1 + body bytes); on a tie it is compressed. Checked against OTP 25:
   * 14 zeros stay plain, 15 zeros compress to the same length. */
  size_t zcap = body.len < 5 ? 0 : body.len - 5;
  if (body.len > 0xFFFFFFFFu || zcap > 0xFFFFFFFFu) zcap = 0; /* the size field is 32-bit */
  if ((r = ep_buf_reserve(out, 6 + (zcap > body.len ? zcap : body.len)))) {
    ep_buf_free(&body);
    return r;
  }
  int zr = Z_BUF_ERROR;
  size_t zlen = 0;
  if (zcap) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = z_alloc;
    zs.zfree = z_free;
    zs.opaque = (voidpf)(out->mem ? out->mem : ep_mem_default());
    zr = deflateInit(&zs, level);
    if (zr == Z_OK) {
      zs.next_in = body.data;
      zs.avail_in = (uInt)body.len;
      zs.next_out = out->data + out->len + 6;
      zs.avail_out = (uInt)zcap;
      zr = deflate(&zs, Z_FINISH);
      zlen = zs.total_out;
      deflateEnd(&zs);
    }
  }
  if (zr == Z_MEM_ERROR) {
    ep_buf_free(&body);
    return EP_ENOMEM;
  }
  uint8_t *p = out->data + out->len;
  p[0] = EP_ETF_VERSION;
  if (zr == Z_STREAM_END) {
    p[1] = TAG_COMPRESSED;
    ep_put32(p + 2, (uint32_t)body.len);
    out->len += 6 + zlen;
  } else {
    memcpy(p + 1, body.data, body.len);
    out->len += 1 + body.len;
  }
  ep_buf_free(&body);
  return 0;
}
