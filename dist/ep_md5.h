/* ep_md5.h - MD5 (RFC 1321), for the distribution handshake's digest only.
 *
 * The handshake needs one 16-byte MD5 of cookie ++ challenge per connection.
 * Through OpenSSL's EVP interface that first loads OpenSSL's configuration
 * file and builds its provider and algorithm tables, on every process start:
 * most of a one-shot client's CPU (issue 13). This is the plain algorithm,
 * no state beyond the context, no allocation. Not for anything that needs
 * a secure hash: MD5 is what the Erlang distribution protocol uses.
 *
 * Also the two small things the handshake took from libcrypto beside it: a
 * constant-time compare and a wipe the compiler may not drop. */
#ifndef EP_MD5_H
#define EP_MD5_H

#include <stddef.h>
#include <stdint.h>

typedef struct ep_md5_ctx {
  uint32_t h[4];
  uint64_t len; /* bytes hashed so far */
  uint8_t buf[64];
  size_t fill; /* bytes of buf in use */
} ep_md5_ctx;

void ep_md5_init(ep_md5_ctx *c);
void ep_md5_update(ep_md5_ctx *c, const void *data, size_t n);
/* Writes the digest and wipes the context. */
void ep_md5_final(ep_md5_ctx *c, uint8_t out[16]);
/* MD5 of data[0..n-1] in one call. */
void ep_md5(const void *data, size_t n, uint8_t out[16]);

/* 0 when a[0..n-1] equals b[0..n-1]; the time taken depends on n only. */
int ep_memcmp_ct(const void *a, const void *b, size_t n);
/* Zeroes p[0..n-1] through a volatile pointer, so the stores stay even
 * when the memory is freed right after. */
void ep_wipe(void *p, size_t n);

#endif
