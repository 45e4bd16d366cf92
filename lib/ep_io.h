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
 * binaries hold Latin-1 bytes, not UTF-8. Iterative: any nesting depth.
 * Returns 0, EP_EINVAL (not chardata), EP_ENOMEM. */
int ep_chardata_utf8(ep_term t, bool latin1, ep_buf *out);

#ifdef __cplusplus
}
#endif
#endif
