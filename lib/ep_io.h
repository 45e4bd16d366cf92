/* ep_io.h - text from Erlang's I/O world. */
#ifndef EP_IO_H
#define EP_IO_H

#include <stdbool.h>

#include "ep_mem.h"
#include "ep_term.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Appends chardata (nested lists of code points and binaries, as io
 * functions and format_error/1 return it) to out as UTF-8. latin1: the
 * binaries hold Latin-1 bytes, not UTF-8. Iterative; nesting is bounded by
 * EP_LIMIT_DEPTH (ep_limits.h), as for every term walker. Returns 0,
 * EP_EINVAL (not chardata: an atom or other term, a code point out of
 * range, a binary that is not UTF-8 when latin1 is false), EP_EDEPTH,
 * EP_ENOMEM; on error out is left as it was. The same flattener as the
 * I/O server's (dist/ep_iolib.h, ep_iolib_chardata). */
int ep_chardata_utf8(ep_term t, bool latin1, ep_buf *out);

#ifdef __cplusplus
}
#endif
#endif
