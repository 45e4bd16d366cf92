/* ep_dist.c - distribution frames after the handshake: reading (ticks,
 * pass-through frames, dist-header frames, fragment reassembly) and writing
 * (ticks, pass-through or dist-header frames; we never fragment on send).
 *
 * What OTP puts on the wire (settled from erts' external.c,
 * erts_encode_ext_dist_header_setup/_finalize and erts_prepare_dist_ext):
 *
 *   Length:32 = 0                                       tick
 *
 *   Neither DIST_HDR_ATOM_CACHE nor FRAGMENTS negotiated:
 *   Length:32 | 112 | 131 Control | [131 Payload]        pass-through
 *
 *   DIST_HDR_ATOM_CACHE or FRAGMENTS negotiated (every message, fragmented
 *   or not; a 112 frame is then refused by the BEAM, which kills the link):
 *   Length:32 | 131 68 NumRefs:8 [AtomCache] | Control | [Payload]
 *   Length:32 | 131 69 SeqId:64 FragId:64 NumRefs:8 [AtomCache] | chunk
 *   Length:32 | 131 70 SeqId:64 FragId:64 | chunk
 *     Control and Payload here are term bodies WITHOUT the 131 version
 *     byte. A message of N fragments starts with FragId = N (69) and
 *     continues with N-1 .. 1 (70); the chunks concatenated are
 *     Control [Payload]. SeqId is the sending process (an Eterm of the
 *     sender), so sequences from different senders interleave.
 *   With NumRefs = 0 (we never negotiate the atom cache) the AtomCache part
 *   is absent; a frame with NumRefs > 0 is EP_EFRAME.
 */
#include "ep_dist.h"

#include <string.h>

#include "ep_dflags.h"
#include "ep_error.h"
#include "ep_etf.h"

#define PASS_THROUGH 112
#define DIST_HEADER 68
#define DIST_FRAG_HEADER 69
#define DIST_FRAG_CONT 70

typedef struct frag_seq {
  uint64_t seq_id;
  uint64_t next_frag; /* the FragId the next continuation must carry */
  uint8_t *data;
  size_t len, cap;
} frag_seq;

struct ep_dist_reader {
  const ep_mem *mem;
  uint64_t flags;
  ep_limits lim;
  bool has_lim;
  size_t frame_limit;
  size_t frag_limit;   /* total bytes held in all open sequences */
  size_t seq_limit;    /* open sequences */
  frag_seq *seqs;
  size_t nseqs, seqs_cap;
  size_t held;         /* sum of seqs[i].len */
};

int ep_dist_reader_new(const ep_mem *mem, uint64_t flags, const ep_limits *lim, ep_dist_reader **out) {
  *out = NULL;
  ep_dist_reader *r = ep_malloc(mem, sizeof *r);
  if (!r) return EP_ENOMEM;
  memset(r, 0, sizeof *r);
  r->mem = mem;
  r->flags = flags;
  if (lim) {
    r->lim = *lim;
    r->has_lim = true;
  }
  r->frame_limit = EP_LIMIT_FRAME_SIZE;
  r->frag_limit = EP_LIMIT_FRAGMENTED_SIZE;
  r->seq_limit = EP_LIMIT_FRAGMENT_SEQUENCES;
  *out = r;
  return 0;
}

void ep_dist_reader_set_limits(ep_dist_reader *r, size_t frame_size, size_t fragmented_size,
                               size_t sequences) {
  r->frame_limit = frame_size ? frame_size : EP_LIMIT_FRAME_SIZE;
  r->frag_limit = fragmented_size ? fragmented_size : EP_LIMIT_FRAGMENTED_SIZE;
  r->seq_limit = sequences ? sequences : EP_LIMIT_FRAGMENT_SEQUENCES;
}

size_t ep_dist_reader_pending(const ep_dist_reader *r) { return r->nseqs; }

void ep_dist_reader_free(ep_dist_reader *r) {
  if (!r) return;
  for (size_t i = 0; i < r->nseqs; i++) ep_free(r->mem, r->seqs[i].data);
  ep_free(r->mem, r->seqs);
  ep_free(r->mem, r);
}

static const ep_limits *lim_of(const ep_dist_reader *r) { return r->has_lim ? &r->lim : NULL; }

/* Decodes Control [Payload] from body[0..n): with or without version
 * bytes. Any shortfall inside a complete frame is malformed, not "need
 * more". */
static int decode_terms(ep_dist_reader *r, ep_arena *a, const uint8_t *body, size_t n, bool with_version,
                        ep_dist_msg *out) {
  size_t pos = 0;
  int rc;
  if (n == 0) return EP_EFRAME;
  rc = with_version ? ep_decode(a, body, n, &pos, &out->control, lim_of(r))
                    : ep_decode_body(a, body, n, &pos, &out->control, lim_of(r));
  if (rc == EP_EINCOMPLETE) return EP_EFRAME;
  if (rc) return rc;
  out->payload = ep_none();
  if (pos < n) {
    rc = with_version ? ep_decode(a, body, n, &pos, &out->payload, lim_of(r))
                      : ep_decode_body(a, body, n, &pos, &out->payload, lim_of(r));
    if (rc == EP_EINCOMPLETE) return EP_EFRAME;
    if (rc) return rc;
    if (pos != n) return EP_EFRAME; /* a third term or garbage */
  }
  out->kind = EP_DIST_MESSAGE;
  return 0;
}

static frag_seq *find_seq(ep_dist_reader *r, uint64_t id, size_t *ix) {
  for (size_t i = 0; i < r->nseqs; i++)
    if (r->seqs[i].seq_id == id) {
      if (ix) *ix = i;
      return &r->seqs[i];
    }
  return NULL;
}

static void drop_seq(ep_dist_reader *r, size_t i) {
  r->held -= r->seqs[i].len;
  ep_free(r->mem, r->seqs[i].data);
  r->seqs[i] = r->seqs[--r->nseqs];
}

static int seq_append(ep_dist_reader *r, frag_seq *s, const uint8_t *p, size_t n) {
  if (n == 0) return 0; /* an empty fragment is legal and holds nothing */
  if (n > r->frag_limit - r->held) return EP_EFRAGMENT;
  if (s->len + n > s->cap) {
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < s->len + n) cap = cap > r->frag_limit / 2 ? s->len + n : cap * 2;
    uint8_t *d = ep_realloc(r->mem, s->data, cap);
    if (!d) return EP_ENOMEM;
    s->data = d;
    s->cap = cap;
  }
  memcpy(s->data + s->len, p, n);
  s->len += n;
  r->held += n;
  return 0;
}

/* A complete sequence: decode it and forget it. */
static int seq_finish(ep_dist_reader *r, ep_arena *a, size_t ix, ep_dist_msg *out) {
  frag_seq *s = &r->seqs[ix];
  int rc = decode_terms(r, a, s->data, s->len, false, out);
  drop_seq(r, ix);
  return rc;
}

/* 131 69 SeqId:64 FragId:64 NumRefs:8 chunk */
static int on_frag_header(ep_dist_reader *r, ep_arena *a, const uint8_t *b, size_t n, ep_dist_msg *out) {
  if (!(r->flags & EP_DFLAG_FRAGMENTS) || n < 19) return EP_EFRAME;
  if (b[18] != 0) return EP_EFRAME; /* atom cache refs: never negotiated */
  uint64_t seq = ep_get64(b + 2), frag = ep_get64(b + 10);
  if (frag == 0 || find_seq(r, seq, NULL)) return EP_EFRAGMENT;
  if (frag == 1) return decode_terms(r, a, b + 19, n - 19, false, out);
  if (r->nseqs >= r->seq_limit) return EP_EFRAGMENT;
  if (r->nseqs == r->seqs_cap) {
    size_t cap = r->seqs_cap ? r->seqs_cap * 2 : 4;
    frag_seq *ns = ep_realloc(r->mem, r->seqs, cap * sizeof *ns);
    if (!ns) return EP_ENOMEM;
    r->seqs = ns;
    r->seqs_cap = cap;
  }
  frag_seq *s = &r->seqs[r->nseqs++];
  memset(s, 0, sizeof *s);
  s->seq_id = seq;
  s->next_frag = frag - 1;
  int rc = seq_append(r, s, b + 19, n - 19);
  if (rc) {
    drop_seq(r, r->nseqs - 1);
    return rc;
  }
  out->kind = EP_DIST_NONE;
  return 0;
}

/* 131 70 SeqId:64 FragId:64 chunk */
static int on_frag_cont(ep_dist_reader *r, ep_arena *a, const uint8_t *b, size_t n, ep_dist_msg *out) {
  if (!(r->flags & EP_DFLAG_FRAGMENTS) || n < 18) return EP_EFRAME;
  uint64_t seq = ep_get64(b + 2), frag = ep_get64(b + 10);
  size_t ix;
  frag_seq *s = find_seq(r, seq, &ix);
  if (!s || frag != s->next_frag) return EP_EFRAGMENT;
  int rc = seq_append(r, s, b + 18, n - 18);
  if (rc) return rc;
  s->next_frag--;
  if (s->next_frag == 0) return seq_finish(r, a, ix, out);
  out->kind = EP_DIST_NONE;
  return 0;
}

int ep_dist_read(ep_dist_reader *r, ep_arena *a, const uint8_t *buf, size_t len, size_t *consumed,
                 size_t *need, ep_dist_msg *out) {
  *consumed = 0;
  out->kind = EP_DIST_NONE;
  out->control = ep_none();
  out->payload = ep_none();
  if (len < 4) {
    if (need) *need = 4;
    return EP_EINCOMPLETE;
  }
  size_t flen = ep_get32(buf);
  if (flen == 0) {
    *consumed = 4;
    out->kind = EP_DIST_TICK;
    return 0;
  }
  if (flen > r->frame_limit) return EP_EFRAME;
  if (len - 4 < flen) {
    if (need) *need = 4 + flen;
    return EP_EINCOMPLETE;
  }
  const uint8_t *b = buf + 4;
  int rc;
  if (b[0] == PASS_THROUGH) {
    /* 112 131 Control [131 Payload]. Accepted whatever was negotiated:
     * leniency costs nothing here. */
    rc = decode_terms(r, a, b + 1, flen - 1, true, out);
  } else if (b[0] == EP_ETF_VERSION && flen >= 2) {
    switch (b[1]) {
      case DIST_HEADER:
        /* 131 68 NumRefs:8 Control [Payload] */
        if (flen < 3 || b[2] != 0) {
          rc = EP_EFRAME;
          break;
        }
        rc = decode_terms(r, a, b + 3, flen - 3, false, out);
        break;
      case DIST_FRAG_HEADER: rc = on_frag_header(r, a, b, flen, out); break;
      case DIST_FRAG_CONT: rc = on_frag_cont(r, a, b, flen, out); break;
      default: rc = EP_EFRAME; break;
    }
  } else {
    rc = EP_EFRAME;
  }
  if (rc) {
    out->kind = EP_DIST_NONE;
    return rc;
  }
  *consumed = 4 + flen;
  return 0;
}

/* --- writing ------------------------------------------------------------------------- */

int ep_dist_write_tick(ep_buf *out) { return ep_buf_put32(out, 0); }

/* Appends Length:32 then `hdr` then the terms (with or without 131), and
 * patches the length; rolls back on failure. With g, the terms are
 * gathered (ep_encode_gather) and the length counts the referenced bytes
 * too. */
static int write_frame(ep_buf *out, ep_gather *g, const uint8_t *hdr, size_t hlen, bool with_version,
                       ep_term control, ep_term payload) {
  if (ep_is_none(control)) return EP_EINVAL;
  size_t start = out->len;
  ep_gather g0 = g ? *g : (ep_gather){0};
  ep_seg last0 = g && g->n ? g->segs[g->n - 1] : (ep_seg){0};
  int rc = ep_buf_put32(out, 0);
  if (!rc) rc = ep_buf_append(out, hdr, hlen);
  for (int i = 0; i < 2 && !rc; i++) {
    ep_term t = i ? payload : control;
    if (ep_is_none(t)) continue;
    if (g) rc = with_version ? ep_encode_gather(out, g, t) : ep_encode_body_gather(out, g, t);
    else rc = with_version ? ep_encode(out, t) : ep_encode_body(out, t);
  }
  size_t flen = out->len - start - 4 + (g ? g->ext_bytes - g0.ext_bytes : 0);
  if (!rc && flen > UINT32_MAX) rc = EP_EINVAL;
  if (rc) {
    if (out->len > start) out->len = start;
    if (g) {
      *g = g0;
      if (g->n) g->segs[g->n - 1] = last0;
    }
    return rc;
  }
  ep_put32(out->data + start, (uint32_t)flen);
  return 0;
}

static int write_flags(ep_buf *out, ep_gather *g, uint64_t flags, ep_term control, ep_term payload) {
  if (flags & (EP_DFLAG_FRAGMENTS | EP_DFLAG_DIST_HDR_ATOM_CACHE)) {
    static const uint8_t hdr[3] = {EP_ETF_VERSION, DIST_HEADER, 0};
    return write_frame(out, g, hdr, 3, false, control, payload);
  }
  static const uint8_t hdr[1] = {PASS_THROUGH};
  return write_frame(out, g, hdr, 1, true, control, payload);
}

int ep_dist_write_flags(ep_buf *out, uint64_t flags, ep_term control, ep_term payload) {
  return write_flags(out, NULL, flags, control, payload);
}

/* No header-using flag: the pass-through frame. */
int ep_dist_write(ep_buf *out, ep_term control, ep_term payload) {
  return write_flags(out, NULL, 0, control, payload);
}

int ep_dist_write_gather(ep_buf *out, ep_gather *g, uint64_t flags, ep_term control, ep_term payload) {
  if (!g) return EP_EINVAL;
  return write_flags(out, g, flags, control, payload);
}

int ep_dist_write_ctrl(ep_buf *out, const ep_ctrl *c, uint64_t flags) {
  ep_arena *a = ep_arena_new(out->mem);
  if (!a) return EP_ENOMEM;
  ep_term control, payload;
  int rc = ep_ctrl_build(a, c, flags, &control, &payload);
  if (!rc) rc = ep_dist_write_flags(out, flags, control, payload);
  ep_arena_free(a);
  return rc;
}
