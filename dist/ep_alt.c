/* ep_alt.c - framing and messages of the alternative control connections.
 * Wire layouts are in ep_alt.h, next to the API that reads and writes them. */
#include "ep_alt.h"

#include <string.h>
#include <zlib.h>

#include "ep_error.h"
#include "ep_etf.h"

uint32_t ep_alt_crc32(const uint8_t *p, size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
    c = crc32(c, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return (uint32_t)c;
}

/* --- TCP ------------------------------------------------------------------------ */

int ep_alt_tcp_decode(const uint8_t *buf, size_t len, size_t *pos, const uint8_t **payload,
                      size_t *plen, size_t max) {
  if (max == 0) max = EP_LIMIT_ALT_FRAME;
  size_t p = *pos;
  if (p > len || len - p < 4) return EP_EINCOMPLETE;
  uint32_t n = ep_get32(buf + p);
  /* Check the length against the limit before waiting for the bytes: a
   * hostile 4 GiB length must fail now, not after buffering. */
  if (n > max) return EP_ETOOBIG;
  if (n == 0) return EP_EALTFRAME;
  if (len - p - 4 < n) return EP_EINCOMPLETE;
  *payload = buf + p + 4;
  *plen = n;
  *pos = p + 4 + n;
  return 0;
}

int ep_alt_tcp_encode(ep_buf *out, ep_term t) {
  size_t start = out->len;
  int rc = ep_buf_put32(out, 0);
  if (rc) return rc;
  rc = ep_encode(out, t);
  if (rc) {
    out->len = start;
    return rc;
  }
  size_t n = out->len - start - 4;
  if (n > EP_LIMIT_ALT_FRAME) {
    out->len = start;
    return EP_ETOOBIG;
  }
  ep_put32(out->data + start, (uint32_t)n);
  return 0;
}

/* --- standard_io ------------------------------------------------------------------ */

static inline int is_nibble(uint8_t c) { return (c & 0xC3) == 0xC3; }
static inline uint8_t nib_char(unsigned n) { return (uint8_t)(0xC3 | ((n & 0xF) << 2)); }

static int put_nibbles(ep_buf *out, const uint8_t *p, size_t n) {
  int rc = ep_buf_reserve(out, 2 * n);
  if (rc) return rc;
  uint8_t *o = out->data + out->len;
  for (size_t i = 0; i < n; i++) {
    o[2 * i] = nib_char(p[i] >> 4);
    o[2 * i + 1] = nib_char(p[i]);
  }
  out->len += 2 * n;
  return 0;
}

int ep_alt_stdio_encode_etf(ep_buf *out, const uint8_t *etf, size_t n) {
  if (n == 0) return EP_EINVAL;
  if (n > EP_LIMIT_ALT_FRAME) return EP_ETOOBIG;
  uint8_t hdr[4];
  ep_put32(hdr, (uint32_t)n);
  uint8_t trl[4];
  ep_put32(trl, ep_alt_crc32(etf, n));
  size_t start = out->len;
  int rc = put_nibbles(out, hdr, 4);
  if (!rc) rc = put_nibbles(out, etf, n);
  if (!rc) rc = put_nibbles(out, trl, 4);
  if (rc) out->len = start;
  return rc;
}

int ep_alt_stdio_encode(ep_buf *out, ep_term t) {
  ep_buf tmp;
  ep_buf_init(&tmp, out->mem);
  int rc = ep_encode(&tmp, t);
  if (!rc) rc = ep_alt_stdio_encode_etf(out, tmp.data, tmp.len);
  ep_buf_free(&tmp);
  return rc;
}

enum { ST_SIZE = 0, ST_PAYLOAD = 1, ST_CRC = 2 };

/* The frame buffer's first block, and the largest one kept from one frame
 * to the next (a bigger one is released when the next frame starts, so one
 * large reply does not pin its memory for the life of the peer). */
#define FRAME_FIRST ((size_t)4 << 10)
#define FRAME_KEEP ((size_t)64 << 10)

void ep_alt_stdio_dec_init(ep_alt_stdio_dec *d, const ep_mem *mem, size_t max) {
  memset(d, 0, sizeof *d);
  d->max = max ? max : EP_LIMIT_ALT_FRAME;
  ep_buf_init(&d->frame, mem);
}

void ep_alt_stdio_dec_free(ep_alt_stdio_dec *d) { ep_buf_free(&d->frame); }

int ep_alt_stdio_dec_partial(const ep_alt_stdio_dec *d) {
  return d->state != ST_SIZE || d->count != 0 || d->half;
}

/* Makes room for one more payload byte. The Size field is only a claim:
 * the buffer doubles as bytes arrive and stops at Size, so what we hold is
 * at most twice what the peer actually sent (plus FRAME_FIRST), never the
 * limit on the strength of a 4-byte header. */
static int frame_grow(ep_alt_stdio_dec *d) {
  ep_buf *f = &d->frame;
  if (f->len < f->cap) return 0;
  size_t cap = f->cap ? 2 * f->cap : FRAME_FIRST;
  if (cap > d->size) cap = d->size;
  uint8_t *p = ep_realloc(f->mem, f->data, cap);
  if (!p) return EP_ENOMEM;
  f->data = p;
  f->cap = cap;
  return 0;
}

static void payload_done(ep_alt_stdio_dec *d) {
  d->state = ST_CRC;
  d->count = 0;
  d->crc = 0;
}

/* Takes one whole byte of the frame; returns 1 when the frame is complete,
 * 0 to go on, or an error. */
static int take_byte(ep_alt_stdio_dec *d, uint8_t b) {
  switch (d->state) {
    case ST_SIZE:
      d->size = (d->size << 8) | b;
      if (++d->count < 4) return 0;
      if (d->size == 0) return EP_EALTFRAME;
      if (d->size > d->max) return EP_ETOOBIG;
      if (d->frame.cap > FRAME_KEEP) ep_buf_free(&d->frame);
      d->frame.len = 0;
      d->state = ST_PAYLOAD;
      d->count = 0;
      return 0;
    case ST_PAYLOAD:
      if (frame_grow(d)) return EP_ENOMEM;
      d->frame.data[d->frame.len++] = b;
      if (d->frame.len == d->size) payload_done(d);
      return 0;
    default: /* ST_CRC */
      d->crc = (d->crc << 8) | b;
      if (++d->count < 4) return 0;
      if (d->crc != ep_alt_crc32(d->frame.data, d->frame.len)) return EP_ECRC;
      d->state = ST_SIZE;
      d->count = 0;
      d->size = 0;
      return 1;
  }
}

/* Payload fast path: whole nibble pairs straight into the frame buffer, as
 * many as it has room for. Stops at anything else (a text byte, a pair cut
 * by the end of input, a full buffer), which the byte-wise path takes.
 * Returns the bytes stored. (The payload is nibble-encoded, so there is no
 * run to memcpy; this only skips the per-character state dispatch.) */
static size_t payload_run(ep_alt_stdio_dec *d, const uint8_t *buf, size_t len, size_t *pos) {
  ep_buf *f = &d->frame;
  size_t i = *pos, k = f->cap - f->len, left = d->size - f->len, pairs = (len - i) / 2;
  if (k > left) k = left;
  if (k > pairs) k = pairs;
  uint8_t *o = f->data + f->len;
  size_t j = 0;
  while (j < k && is_nibble(buf[i]) && is_nibble(buf[i + 1])) {
    o[j++] = (uint8_t)((buf[i] << 2 & 0xF0) | (buf[i + 1] >> 2 & 0x0F));
    i += 2;
  }
  f->len += j;
  if (f->len == d->size) payload_done(d);
  *pos = i;
  return j;
}

int ep_alt_stdio_decode(ep_alt_stdio_dec *d, const uint8_t *buf, size_t len, size_t *pos,
                        ep_buf *text, const uint8_t **payload, size_t *plen) {
  if (d->err) return d->err;
  size_t i = *pos;
  while (i < len) {
    if (d->state == ST_PAYLOAD && !d->half && d->frame.len < d->frame.cap &&
        payload_run(d, buf, len, &i) > 0)
      continue;
    /* Runs of text are appended at once (the common case between frames). */
    if (!is_nibble(buf[i])) {
      size_t j = i + 1;
      while (j < len && !is_nibble(buf[j])) j++;
      if (text && ep_buf_append(text, buf + i, j - i)) {
        *pos = i;
        return d->err = EP_ENOMEM;
      }
      i = j;
      continue;
    }
    unsigned nib = (buf[i] >> 2) & 0xF;
    i++;
    if (!d->half) {
      d->hi = (uint8_t)nib;
      d->half = 1;
      continue;
    }
    d->half = 0;
    int r = take_byte(d, (uint8_t)((d->hi << 4) | nib));
    if (r < 0) {
      *pos = i;
      return d->err = r;
    }
    if (r == 1) {
      *pos = i;
      *payload = d->frame.data;
      *plen = d->frame.len;
      return 0;
    }
  }
  *pos = i;
  return EP_EINCOMPLETE;
}

/* --- messages ----------------------------------------------------------------------- */

ep_term ep_alt_call(ep_arena *a, uint64_t seq, ep_term m, ep_term f, ep_term args) {
  return EP_TUPLE(a, ep_atom("call"), ep_uint64(a, seq), m, f, args);
}

ep_term ep_alt_cast(ep_arena *a, ep_term m, ep_term f, ep_term args) {
  return EP_TUPLE(a, ep_atom("cast"), m, f, args);
}

ep_term ep_alt_message(ep_arena *a, ep_term to, ep_term msg) {
  return EP_TUPLE(a, ep_atom("message"), to, msg);
}

ep_term ep_alt_io_reply(ep_arena *a, ep_term from, ep_term ref, ep_term reply) {
  return EP_TUPLE(a, ep_atom("io_reply"), from, ref, reply);
}

static const char *const class_names[] = {"ok", "throw", "error", "exit", "crash"};

const char *ep_alt_class_name(ep_alt_class c) {
  return (unsigned)c < 5 ? class_names[c] : "unknown";
}

static int get_seq(ep_term t, uint64_t *out) {
  int64_t v;
  if (t.type != EP_T_INT) return EP_EALTFRAME; /* bignum seqs: we never send them */
  v = t.v.i;
  if (v < 0) return EP_EALTFRAME;
  *out = (uint64_t)v;
  return 0;
}

int ep_alt_parse(ep_term t, ep_alt_msg *m) {
  memset(m, 0, sizeof *m);
  if (t.type != EP_T_TUPLE || t.n == 0 || t.v.items[0].type != EP_T_ATOM) return EP_EALTFRAME;
  const ep_term *e = t.v.items;
  if (ep_is_record(t, "io_request", 4)) {
    m->kind = EP_ALT_IO_REQUEST;
    m->a = e[1], m->b = e[2], m->c = e[3];
    return 0;
  }
  if (ep_is_record(t, "message", 3)) {
    m->kind = EP_ALT_MESSAGE;
    m->a = e[1], m->b = e[2];
    return 0;
  }
  if (ep_is_record(t, "started", 2)) {
    m->kind = EP_ALT_STARTED;
    m->a = e[1];
    return e[1].type == EP_T_ATOM ? 0 : EP_EALTFRAME;
  }
  if (ep_is_record(t, "reply", 4)) {
    m->kind = EP_ALT_REPLY;
    if (get_seq(e[1], &m->seq)) return EP_EALTFRAME;
    int c = -1;
    for (int i = 0; i < 5; i++)
      if (ep_atom_eq(e[2], class_names[i])) c = i;
    if (c < 0) return EP_EALTFRAME;
    m->cls = (ep_alt_class)c;
    if (c == EP_ALT_OK) {
      m->a = e[3];
    } else if (c == EP_ALT_CRASH || !(e[3].type == EP_T_TUPLE && e[3].n == 2)) {
      /* crash carries the bare exit reason of the call's process */
      m->a = e[3];
      m->b = ep_nil();
    } else {
      m->a = e[3].v.items[0];
      m->b = e[3].v.items[1];
    }
    return 0;
  }
  if (ep_is_record(t, "call", 5)) {
    m->kind = EP_ALT_CALL;
    if (get_seq(e[1], &m->seq)) return EP_EALTFRAME;
    m->a = e[2], m->b = e[3], m->c = e[4];
    return 0;
  }
  if (ep_is_record(t, "cast", 4)) {
    m->kind = EP_ALT_CAST;
    m->a = e[1], m->b = e[2], m->c = e[3];
    return 0;
  }
  if (ep_is_record(t, "io_reply", 4)) {
    m->kind = EP_ALT_IO_REPLY;
    m->a = e[1], m->b = e[2], m->c = e[3];
    return 0;
  }
  return EP_EALTFRAME;
}
