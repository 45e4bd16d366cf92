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
 *   With NumRefs = 0 the AtomCache part is absent. Otherwise (only with
 *   DIST_HDR_ATOM_CACHE negotiated):
 *     Flags: NumRefs/2+1 bytes of half-bytes, ref i in half-byte i (low
 *       half first): NewEntry:1 SegmentIndex:3; the half-byte after the
 *       last ref: Unused:3 LongAtoms:1
 *     then per ref: InternalIndex:8, and for a new entry Length (16 bits
 *       with LongAtoms, else 8) and the atom's UTF-8 text.
 *   The ref's cache slot is SegmentIndex*256 + InternalIndex (2048 slots
 *   per direction of a connection); a new entry replaces the slot's atom
 *   first. ATOM_CACHE_REF (82) Index in Control or Payload is the Index-th
 *   ref. The 131 69 header's refs hold for the whole fragmented message.
 */
#include "ep_dist.h"

#include <string.h>

#include "ep_dflags.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_utf8_int.h"

#define PASS_THROUGH 112
#define DIST_HEADER 68
#define DIST_FRAG_HEADER 69
#define DIST_FRAG_CONT 70
#define AC_SLOTS 2048 /* ERTS_ATOM_CACHE_SIZE */
#define AC_MAX_REFS 255

typedef struct frag_seq {
  uint64_t seq_id;
  uint64_t next_frag; /* the FragId the next continuation must carry */
  uint8_t *data;
  size_t len, cap;
  ep_atom_ref *refs; /* the first fragment's atom refs, texts copied after them */
  size_t nrefs;
} frag_seq;

/* The atoms the other side put in this connection's cache. */
typedef struct in_cache {
  char *txt[AC_SLOTS];
  uint16_t len[AC_SLOTS];
} in_cache;

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
  in_cache *ac;        /* with DIST_HDR_ATOM_CACHE, made on first use */
  uint64_t refs_read;  /* atom cache refs in the headers read so far */
  ep_atom_ref refs[AC_MAX_REFS]; /* the frame being read: into ac */
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

int ep_dist_reader_set_limits(ep_dist_reader *r, size_t frame_size, size_t fragmented_size,
                              size_t sequences) {
  if (!r) return EP_EINVAL;
  r->frame_limit = frame_size ? frame_size : EP_LIMIT_FRAME_SIZE;
  r->frag_limit = fragmented_size ? fragmented_size : EP_LIMIT_FRAGMENTED_SIZE;
  r->seq_limit = sequences ? sequences : EP_LIMIT_FRAGMENT_SEQUENCES;
  return 0;
}

size_t ep_dist_reader_pending(const ep_dist_reader *r) { return r->nseqs; }

void ep_dist_reader_free(ep_dist_reader *r) {
  if (!r) return;
  if (r->ac)
    for (size_t i = 0; i < AC_SLOTS; i++) ep_free(r->mem, r->ac->txt[i]);
  ep_free(r->mem, r->ac);
  for (size_t i = 0; i < r->nseqs; i++) ep_free(r->mem, r->seqs[i].data), ep_free(r->mem, r->seqs[i].refs);
  ep_free(r->mem, r->seqs);
  ep_free(r->mem, r);
}

static const ep_limits *lim_of(const ep_dist_reader *r) { return r->has_lim ? &r->lim : NULL; }

/* Decodes Control [Payload] from body[0..n): with or without version
 * bytes. Any shortfall inside a complete frame is malformed, not "need
 * more". */
static int decode_terms(ep_dist_reader *r, ep_arena *a, const uint8_t *body, size_t n, bool with_version,
                        const ep_atom_ref *refs, size_t nrefs, ep_dist_msg *out) {
  size_t pos = 0;
  int rc;
  if (n == 0) return EP_EFRAME;
  rc = with_version ? ep_decode(a, body, n, &pos, &out->control, lim_of(r))
                    : ep_decode_body_refs(a, body, n, &pos, &out->control, lim_of(r), refs, nrefs);
  if (rc == EP_EINCOMPLETE) return EP_EFRAME;
  if (rc) return rc;
  out->payload = ep_none();
  if (pos < n) {
    rc = with_version ? ep_decode(a, body, n, &pos, &out->payload, lim_of(r))
                      : ep_decode_body_refs(a, body, n, &pos, &out->payload, lim_of(r), refs, nrefs);
    if (rc == EP_EINCOMPLETE) return EP_EFRAME;
    if (rc) return rc;
    if (pos != n) return EP_EFRAME; /* a third term or garbage */
  }
  out->kind = EP_DIST_MESSAGE;
  return 0;
}

/* Reads NumRefs [Flags Refs] at b[0..n), updating the cache: r->refs[0..
 * *nrefs) then point at the cached texts, *hlen is the header's size.
 * Malformed, or refs without the flag: EP_EFRAME; a text that is not
 * UTF-8 or longer than 255 characters: EP_EUTF8 / EP_EATOMLEN. A slot
 * named twice in one header is refused: the second could free the text
 * the first points at. */
static int read_refs(ep_dist_reader *r, const uint8_t *b, size_t n, size_t *hlen, size_t *nrefs) {
  if (n < 1) return EP_EFRAME;
  size_t nr = b[0];
  *nrefs = 0;
  *hlen = 1;
  if (nr == 0) return 0;
  if (!(r->flags & EP_DFLAG_DIST_HDR_ATOM_CACHE)) return EP_EFRAME;
  size_t fl = nr / 2 + 1;
  if (n < 1 + fl) return EP_EFRAME;
  const uint8_t *flags = b + 1;
  bool longa = (flags[nr / 2] >> ((nr & 1) * 4)) & 1;
  if (!r->ac) {
    r->ac = ep_malloc(r->mem, sizeof *r->ac);
    if (!r->ac) return EP_ENOMEM;
    memset(r->ac, 0, sizeof *r->ac);
  }
  uint8_t seen[AC_SLOTS / 8];
  memset(seen, 0, sizeof seen);
  size_t p = 1 + fl;
  for (size_t i = 0; i < nr; i++) {
    unsigned h = (flags[i / 2] >> ((i & 1) * 4)) & 0xF;
    if (p >= n) return EP_EFRAME;
    size_t slot = (size_t)(h & 7) << 8 | b[p++];
    if (seen[slot / 8] & (1u << (slot % 8))) return EP_EFRAME;
    seen[slot / 8] |= (uint8_t)(1u << (slot % 8));
    if (h & 8) {
      size_t len;
      if (longa) {
        if (n - p < 2) return EP_EFRAME;
        len = ep_get16(b + p), p += 2;
      } else {
        if (n - p < 1) return EP_EFRAME;
        len = b[p++];
      }
      if (n - p < len) return EP_EFRAME;
      ptrdiff_t chars = ep_utf8_count(b + p, len);
      if (chars < 0) return EP_EUTF8;
      if (chars > 255) return EP_EATOMLEN;
      char *t = ep_realloc(r->mem, r->ac->txt[slot], len + 1);
      if (!t) return EP_ENOMEM;
      memcpy(t, b + p, len);
      t[len] = 0;
      r->ac->txt[slot] = t;
      r->ac->len[slot] = (uint16_t)len;
      p += len;
    } else if (!r->ac->txt[slot]) {
      return EP_EFRAME; /* a slot never filled */
    }
    r->refs[i] = (ep_atom_ref){r->ac->txt[slot], r->ac->len[slot]};
  }
  *nrefs = nr;
  *hlen = p;
  r->refs_read += nr;
  return 0;
}

uint64_t ep_dist_reader_refs(const ep_dist_reader *r) { return r ? r->refs_read : 0; }

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
  ep_free(r->mem, r->seqs[i].refs);
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
  int rc = decode_terms(r, a, s->data, s->len, false, s->refs, s->nrefs, out);
  drop_seq(r, ix);
  return rc;
}

/* Copies refs[0..n) (texts included) into one block for a sequence. */
static ep_atom_ref *keep_refs(const ep_mem *mem, const ep_atom_ref *refs, size_t n) {
  size_t sz = n * sizeof *refs;
  for (size_t i = 0; i < n; i++) sz += refs[i].n + 1;
  ep_atom_ref *k = ep_malloc(mem, sz);
  if (!k) return NULL;
  char *t = (char *)(k + n);
  for (size_t i = 0; i < n; i++) {
    memcpy(t, refs[i].s, refs[i].n + 1);
    k[i] = (ep_atom_ref){t, refs[i].n};
    t += refs[i].n + 1;
  }
  return k;
}

/* 131 69 SeqId:64 FragId:64 NumRefs:8 [AtomCache] chunk */
static int on_frag_header(ep_dist_reader *r, ep_arena *a, const uint8_t *b, size_t n, ep_dist_msg *out) {
  if (!(r->flags & EP_DFLAG_FRAGMENTS) || n < 19) return EP_EFRAME;
  uint64_t seq = ep_get64(b + 2), frag = ep_get64(b + 10);
  if (frag == 0 || find_seq(r, seq, NULL)) return EP_EFRAGMENT;
  size_t hlen, nrefs;
  int rc = read_refs(r, b + 18, n - 18, &hlen, &nrefs);
  if (rc) return rc;
  const uint8_t *chunk = b + 18 + hlen;
  size_t clen = n - 18 - hlen;
  if (frag == 1) return decode_terms(r, a, chunk, clen, false, r->refs, nrefs, out);
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
  if (nrefs && !(s->refs = keep_refs(r->mem, r->refs, nrefs))) {
    r->nseqs--;
    return EP_ENOMEM;
  }
  s->nrefs = nrefs;
  rc = seq_append(r, s, chunk, clen);
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
    rc = decode_terms(r, a, b + 1, flen - 1, true, NULL, 0, out);
  } else if (b[0] == EP_ETF_VERSION && flen >= 2) {
    switch (b[1]) {
      case DIST_HEADER: {
        /* 131 68 NumRefs:8 [AtomCache] Control [Payload] */
        size_t hlen, nrefs;
        rc = read_refs(r, b + 2, flen - 2, &hlen, &nrefs);
        if (!rc) rc = decode_terms(r, a, b + 2 + hlen, flen - 2 - hlen, false, r->refs, nrefs, out);
        break;
      }
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

/* --- the atom cache, writing ------------------------------------------------------------ */

/* Which atoms a frame lists: found by a short walk of its terms (the first
 * WALK_BUDGET terms, WALK_DEPTH levels deep: the control message and the
 * top of the payload, where a call's or a message's atoms are), at most
 * AC_MAX_REFS of them, one per cache slot (an atom whose slot another atom
 * of the frame holds is written in full). Every other atom is written in
 * full too: a bounded walk, whatever the term. */
#define WALK_BUDGET 256
#define WALK_DEPTH 8

typedef struct out_ref {
  const char *s; /* the term's own text, valid during the write */
  uint16_t n, slot;
  char *copy;    /* a new entry's text for the cache, kept on success */
} out_ref;

struct ep_dist_writer {
  const ep_mem *mem;
  char *txt[AC_SLOTS];        /* what the other side holds in each slot */
  uint8_t len[AC_SLOTS];
  int16_t ref_of[AC_SLOTS];   /* the frame being written: slot -> ref, or -1 */
  out_ref refs[AC_MAX_REFS];
  size_t nrefs;
  uint64_t refs_written; /* in the frames written so far */
  /* The slots of recently seen texts, by address: a node's name in every
   * pid, and the literal atoms of a call, come from the same memory each
   * time, so they are hashed once. Only a hint (a stale entry gives a slot
   * that the text check of ref_of_atom does not confirm, and the atom is
   * written in full): never a wrong reference. */
  struct {
    const char *s;
    uint16_t n, slot;
  } memo[64];
};

int ep_dist_writer_new(const ep_mem *mem, ep_dist_writer **out) {
  ep_dist_writer *w = ep_malloc(mem, sizeof *w);
  *out = w;
  if (!w) return EP_ENOMEM;
  memset(w, 0, sizeof *w);
  w->mem = mem;
  memset(w->ref_of, 0xFF, sizeof w->ref_of); /* -1 */
  return 0;
}

void ep_dist_writer_free(ep_dist_writer *w) {
  if (!w) return;
  for (size_t i = 0; i < AC_SLOTS; i++) ep_free(w->mem, w->txt[i]);
  ep_free(w->mem, w);
}

/* FNV-1a: the slot of an atom, the same for every frame of the writer. */
static size_t ac_slot(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h % AC_SLOTS;
}

static size_t slot_of(ep_dist_writer *w, const char *s, size_t n) {
  size_t i = ((uintptr_t)s >> 3) % 64;
  if (w->memo[i].s != s || w->memo[i].n != n) {
    w->memo[i].s = s;
    w->memo[i].n = (uint16_t)n;
    w->memo[i].slot = (uint16_t)ac_slot(s, n);
  }
  return w->memo[i].slot;
}

static void note_atom(ep_dist_writer *w, const char *s, size_t n) {
  if (n == 0 || n > 255 || w->nrefs == AC_MAX_REFS) return; /* 255 bytes: no LongAtoms */
  size_t slot = slot_of(w, s, n);
  if (w->ref_of[slot] >= 0) return; /* this atom again, or another one's slot */
  w->ref_of[slot] = (int16_t)w->nrefs;
  w->refs[w->nrefs++] = (out_ref){s, (uint16_t)n, (uint16_t)slot, NULL};
}

static void collect(ep_dist_writer *w, const ep_term *t, int depth, size_t *budget) {
  if (*budget == 0) return;
  (*budget)--;
  size_t nk = 0;
  switch (t->type) {
    case EP_T_ATOM: note_atom(w, t->v.str, t->n); return;
    case EP_T_PID: note_atom(w, t->v.pid.node, t->v.pid.node_len); return;
    case EP_T_PORT: note_atom(w, t->v.port.node, t->v.port.node_len); return;
    case EP_T_REF: note_atom(w, t->v.ref.node, t->v.ref.node_len); return;
    case EP_T_TUPLE: nk = t->n; break;
    case EP_T_LIST: nk = (size_t)t->n + 1; break;
    case EP_T_MAP: nk = 2 * (size_t)t->n; break;
    default: return;
  }
  if (depth >= WALK_DEPTH || !t->v.items) return;
  for (size_t i = 0; i < nk && *budget; i++) collect(w, &t->v.items[i], depth + 1, budget);
}

static int ref_of_atom(const char *s, size_t n, void *ud) {
  ep_dist_writer *w = ud;
  if (n == 0 || n > 255) return -1;
  int k = w->ref_of[slot_of(w, s, n)];
  if (k < 0) return -1;
  const out_ref *o = &w->refs[k];
  return o->n == n && memcmp(o->s, s, n) == 0 ? k : -1;
}

/* Length:32 131 68 NumRefs Flags Refs Control [Payload]; see the top. */
static int write_cached(ep_dist_writer *w, ep_buf *out, ep_gather *g, ep_term control, ep_term payload) {
  ep_gather g0 = g ? *g : (ep_gather){0};
  ep_seg last0 = g && g->n ? g->segs[g->n - 1] : (ep_seg){0};
  size_t budget = WALK_BUDGET;
  collect(w, &control, 0, &budget);
  if (!ep_is_none(payload)) collect(w, &payload, 0, &budget);
  size_t nr = w->nrefs, start = out->len, fl = nr ? nr / 2 + 1 : 0;
  int rc = 0;
  for (size_t i = 0; i < nr && !rc; i++) {
    out_ref *o = &w->refs[i];
    bool held = w->txt[o->slot] && w->len[o->slot] == o->n && memcmp(w->txt[o->slot], o->s, o->n) == 0;
    if (!held && !(o->copy = ep_malloc(w->mem, o->n))) rc = EP_ENOMEM;
  }
  if (!rc) rc = ep_buf_put32(out, 0);
  uint8_t head[3] = {EP_ETF_VERSION, DIST_HEADER, (uint8_t)nr};
  if (!rc) rc = ep_buf_append(out, head, 3);
  if (!rc && fl) rc = ep_buf_reserve(out, fl);
  if (!rc && fl) {
    uint8_t *f = out->data + out->len;
    memset(f, 0, fl); /* the last half-byte: LongAtoms = 0 */
    for (size_t i = 0; i < nr; i++) {
      const out_ref *o = &w->refs[i];
      f[i / 2] |= (uint8_t)(((o->copy ? 8u : 0u) | (o->slot >> 8)) << ((i & 1) * 4));
    }
    out->len += fl;
  }
  for (size_t i = 0; i < nr && !rc; i++) {
    const out_ref *o = &w->refs[i];
    rc = ep_buf_put8(out, (uint8_t)(o->slot & 0xFF));
    if (!rc && o->copy) rc = ep_buf_put8(out, (uint8_t)o->n);
    if (!rc && o->copy) rc = ep_buf_append(out, o->s, o->n);
  }
  if (!rc) rc = ep_encode_body_refs(out, g, control, ref_of_atom, w);
  if (!rc && !ep_is_none(payload)) rc = ep_encode_body_refs(out, g, payload, ref_of_atom, w);
  size_t flen = out->len - start - 4 + (g ? g->ext_bytes - g0.ext_bytes : 0);
  if (!rc && flen > UINT32_MAX) rc = EP_EINVAL;
  if (!rc) ep_put32(out->data + start, (uint32_t)flen);
  /* The cache changes only with a frame that is written: the other side
   * learns new entries from it. */
  for (size_t i = 0; i < nr; i++) {
    out_ref *o = &w->refs[i];
    if (o->copy && !rc) {
      memcpy(o->copy, o->s, o->n);
      ep_free(w->mem, w->txt[o->slot]);
      w->txt[o->slot] = o->copy;
      w->len[o->slot] = (uint8_t)o->n;
    } else {
      ep_free(w->mem, o->copy);
    }
    o->copy = NULL;
    w->ref_of[o->slot] = -1;
  }
  if (!rc) w->refs_written += nr;
  w->nrefs = 0;
  if (rc) {
    if (out->len > start) out->len = start;
    if (g) {
      *g = g0; /* as write_frame */
      if (g->n) g->segs[g->n - 1] = last0;
    }
  }
  return rc;
}

uint64_t ep_dist_writer_refs(const ep_dist_writer *w) { return w ? w->refs_written : 0; }

int ep_dist_write_cached(ep_dist_writer *w, ep_buf *out, ep_gather *g, uint64_t flags, ep_term control,
                         ep_term payload) {
  if (!w || !(flags & EP_DFLAG_DIST_HDR_ATOM_CACHE)) return write_flags(out, g, flags, control, payload);
  if (!out || ep_is_none(control)) return EP_EINVAL;
  if (out->err) return out->err;
  return write_cached(w, out, g, control, payload);
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
