/* ep_mem.h - injectable allocator, arenas and growable byte buffers.
 *
 * Ownership rules, used everywhere in erlpeer:
 *  - an ep_arena owns everything allocated in it; ep_arena_free releases it
 *    all at once (terms built or decoded in an arena die with it);
 *  - an ep_buf owns its data; ep_buf_free releases it, ep_buf_take hands the
 *    data to the caller (free it with the same ep_mem);
 *  - an allocator (ep_mem) is borrowed and must outlive what uses it.
 * Passing NULL for an ep_mem means the C library's malloc/realloc/free.
 */
#ifndef EP_MEM_H
#define EP_MEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ep_mem {
  void *(*malloc)(size_t size, void *ud);
  void *(*realloc)(void *ptr, size_t size, void *ud);
  void (*free)(void *ptr, void *ud);
  void *ud;
} ep_mem;

/* The libc allocator. */
const ep_mem *ep_mem_default(void);

void *ep_malloc(const ep_mem *m, size_t n);
void *ep_realloc(const ep_mem *m, void *p, size_t n);
void ep_free(const ep_mem *m, void *p);

/* --- arena: bump allocation in chunks, freed all at once --------------------- */

typedef struct ep_arena ep_arena;

/* Returns NULL on allocation failure. */
ep_arena *ep_arena_new(const ep_mem *mem);
void ep_arena_free(ep_arena *a);
/* Drops everything allocated but keeps the largest chunk for reuse. */
void ep_arena_reset(ep_arena *a);
/* 8-byte aligned; NULL on allocation failure (or n too large). */
void *ep_arena_alloc(ep_arena *a, size_t n);
/* Copy of n bytes, plus a terminating NUL byte; NULL on failure. */
void *ep_arena_dup(ep_arena *a, const void *p, size_t n);
/* Bytes handed out since the last reset. */
size_t ep_arena_used(const ep_arena *a);
const ep_mem *ep_arena_mem(const ep_arena *a);

/* --- growable byte buffer ------------------------------------------------------ */

typedef struct ep_buf {
  uint8_t *data;
  size_t len;
  size_t cap;
  const ep_mem *mem; /* NULL = libc */
  int err;           /* sticky: first allocation failure (EP_ENOMEM) */
} ep_buf;

#define EP_BUF_INIT {0, 0, 0, 0, 0}

void ep_buf_init(ep_buf *b, const ep_mem *mem);
void ep_buf_free(ep_buf *b);
/* Ensures room for n more bytes. 0 or EP_ENOMEM (sticky). */
int ep_buf_reserve(ep_buf *b, size_t n);
int ep_buf_append(ep_buf *b, const void *p, size_t n);
int ep_buf_put8(ep_buf *b, uint8_t v);
int ep_buf_put16(ep_buf *b, uint16_t v); /* big-endian */
int ep_buf_put32(ep_buf *b, uint32_t v); /* big-endian */
int ep_buf_put64(ep_buf *b, uint64_t v); /* big-endian */
/* Removes the first n bytes (n <= len). */
void ep_buf_consume(ep_buf *b, size_t n);
/* Hands the data to the caller, who frees it with b->mem; b becomes empty. */
uint8_t *ep_buf_take(ep_buf *b, size_t *len);

/* Big-endian loads and stores on raw bytes. */
static inline uint16_t ep_get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t ep_get32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t ep_get64(const uint8_t *p) {
  return ((uint64_t)ep_get32(p) << 32) | ep_get32(p + 4);
}
static inline void ep_put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void ep_put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static inline void ep_put64(uint8_t *p, uint64_t v) {
  ep_put32(p, (uint32_t)(v >> 32));
  ep_put32(p + 4, (uint32_t)v);
}

#ifdef __cplusplus
}
#endif
#endif
