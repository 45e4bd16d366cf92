#include "ep_mem.h"

#include <stdlib.h>
#include <string.h>

#include "ep_error.h"

static void *libc_malloc(size_t n, void *ud) {
  (void)ud;
  return malloc(n);
}
static void *libc_realloc(void *p, size_t n, void *ud) {
  (void)ud;
  return realloc(p, n);
}
static void libc_free(void *p, void *ud) {
  (void)ud;
  free(p);
}
static const ep_mem libc_mem = {libc_malloc, libc_realloc, libc_free, NULL};

const ep_mem *ep_mem_default(void) { return &libc_mem; }

void *ep_malloc(const ep_mem *m, size_t n) {
  if (!m) m = &libc_mem;
  return m->malloc(n ? n : 1, m->ud);
}
void *ep_realloc(const ep_mem *m, void *p, size_t n) {
  if (!m) m = &libc_mem;
  return m->realloc(p, n ? n : 1, m->ud);
}
void ep_free(const ep_mem *m, void *p) {
  if (!p) return;
  if (!m) m = &libc_mem;
  m->free(p, m->ud);
}

/* --- arena ---------------------------------------------------------------------
 * A singly linked list of chunks, newest first. Small requests bump inside the
 * current chunk; a request larger than a quarter of the chunk size gets a chunk
 * of its own, linked behind the current one so the current chunk keeps being
 * filled. Chunk sizes double from 4 KiB up to 1 MiB. */

typedef struct ep__chunk {
  struct ep__chunk *next;
  size_t size; /* usable bytes after the header */
  size_t used;
  /* data follows, 16-aligned */
} ep__chunk;

#define EP__CHUNK_HDR ((sizeof(ep__chunk) + 15u) & ~(size_t)15u)
#define EP__CHUNK_MIN ((size_t)4096)
#define EP__CHUNK_MAX ((size_t)1 << 20)

struct ep_arena {
  const ep_mem *mem;
  ep__chunk *head;
  size_t next_size;
  size_t used;
};

ep_arena *ep_arena_new(const ep_mem *mem) {
  if (!mem) mem = &libc_mem;
  ep_arena *a = ep_malloc(mem, sizeof *a);
  if (!a) return NULL;
  a->mem = mem;
  a->head = NULL;
  a->next_size = EP__CHUNK_MIN;
  a->used = 0;
  return a;
}

static void free_chunks(const ep_mem *m, ep__chunk *c) {
  while (c) {
    ep__chunk *n = c->next;
    ep_free(m, c);
    c = n;
  }
}

void ep_arena_free(ep_arena *a) {
  if (!a) return;
  free_chunks(a->mem, a->head);
  ep_free(a->mem, a);
}

void ep_arena_reset(ep_arena *a) {
  ep__chunk *keep = NULL, *c = a->head;
  while (c) {
    ep__chunk *n = c->next;
    if (!keep || c->size > keep->size) {
      if (keep) ep_free(a->mem, keep);
      keep = c;
    } else {
      ep_free(a->mem, c);
    }
    c = n;
  }
  if (keep) {
    keep->next = NULL;
    keep->used = 0;
  }
  a->head = keep;
  a->used = 0;
}

static ep__chunk *new_chunk(ep_arena *a, size_t size) {
  if (size > SIZE_MAX - EP__CHUNK_HDR) return NULL;
  ep__chunk *c = ep_malloc(a->mem, EP__CHUNK_HDR + size);
  if (!c) return NULL;
  c->size = size;
  c->used = 0;
  return c;
}

void *ep_arena_alloc(ep_arena *a, size_t n) {
  if (n == 0) n = 1;
  if (n > SIZE_MAX - 15) return NULL;
  n = (n + 7u) & ~(size_t)7u;
  ep__chunk *c = a->head;
  if (c && c->size - c->used >= n) {
    void *p = (uint8_t *)c + EP__CHUNK_HDR + c->used;
    c->used += n;
    a->used += n;
    return p;
  }
  if (n > a->next_size / 4) {
    /* Large: a chunk of its own, behind the current one. */
    ep__chunk *big = new_chunk(a, n);
    if (!big) return NULL;
    big->used = n;
    if (c) {
      big->next = c->next;
      c->next = big;
    } else {
      big->next = NULL;
      a->head = big;
    }
    a->used += n;
    return (uint8_t *)big + EP__CHUNK_HDR;
  }
  ep__chunk *fresh = new_chunk(a, a->next_size);
  if (!fresh) return NULL;
  if (a->next_size < EP__CHUNK_MAX) a->next_size *= 2;
  fresh->next = c;
  a->head = fresh;
  fresh->used = n;
  a->used += n;
  return (uint8_t *)fresh + EP__CHUNK_HDR;
}

void *ep_arena_dup(ep_arena *a, const void *p, size_t n) {
  if (n == SIZE_MAX) return NULL;
  uint8_t *d = ep_arena_alloc(a, n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, p, n);
  d[n] = 0;
  return d;
}

size_t ep_arena_used(const ep_arena *a) { return a->used; }
const ep_mem *ep_arena_mem(const ep_arena *a) { return a->mem; }

/* --- buffer ---------------------------------------------------------------------- */

void ep_buf_init(ep_buf *b, const ep_mem *mem) {
  b->data = NULL;
  b->len = b->cap = 0;
  b->mem = mem;
  b->err = 0;
}

void ep_buf_free(ep_buf *b) {
  ep_free(b->mem, b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

int ep_buf_reserve(ep_buf *b, size_t n) {
  if (b->err) return b->err;
  if (b->cap - b->len >= n) return 0;
  if (n > SIZE_MAX / 2 - b->len) return b->err = EP_ENOMEM;
  size_t cap = b->cap ? b->cap : 64;
  while (cap - b->len < n) cap *= 2;
  uint8_t *d = ep_realloc(b->mem, b->data, cap);
  if (!d) return b->err = EP_ENOMEM;
  b->data = d;
  b->cap = cap;
  return 0;
}

int ep_buf_append(ep_buf *b, const void *p, size_t n) {
  int r = ep_buf_reserve(b, n);
  if (r) return r;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int ep_buf_put8(ep_buf *b, uint8_t v) {
  int r = ep_buf_reserve(b, 1);
  if (r) return r;
  b->data[b->len++] = v;
  return 0;
}
int ep_buf_put16(ep_buf *b, uint16_t v) {
  int r = ep_buf_reserve(b, 2);
  if (r) return r;
  ep_put16(b->data + b->len, v);
  b->len += 2;
  return 0;
}
int ep_buf_put32(ep_buf *b, uint32_t v) {
  int r = ep_buf_reserve(b, 4);
  if (r) return r;
  ep_put32(b->data + b->len, v);
  b->len += 4;
  return 0;
}
int ep_buf_put64(ep_buf *b, uint64_t v) {
  int r = ep_buf_reserve(b, 8);
  if (r) return r;
  ep_put64(b->data + b->len, v);
  b->len += 8;
  return 0;
}

void ep_buf_consume(ep_buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

uint8_t *ep_buf_take(ep_buf *b, size_t *len) {
  uint8_t *d = b->data;
  if (len) *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return d;
}
