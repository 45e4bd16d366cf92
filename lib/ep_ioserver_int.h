/* ep_ioserver_int.h - the one I/O server (group leader) of the runtime, for
 * the node and the peer controller alike (lib/ep_ioserver.c, over the
 * sans-I/O dist/ep_ioserv.h, which lists every request and its answer).
 * Internal. */
#ifndef EP_IOSERVER_INT_H
#define EP_IOSERVER_INT_H

#include <stddef.h>

#include "ep_mem.h"
#include "ep_node.h"
#include "ep_term.h"

/* Where the text a request prints goes: once per request, never empty. */
typedef void (*ep__io_out_fn)(const char *text, size_t len, void *ud);

/* Serves one Request of {io_request, From, ReplyAs, Request}: hands what it
 * prints to out (text gathered with mem), then returns the Reply for
 * {io_reply, ReplyAs, Reply}, built in a (it may point into request);
 * {error, enomem} when memory ran out (EP_T_NONE when even that did not fit
 * in a). Never asks anything of the node that sent the request. */
ep_term ep__io_serve(const ep_mem *mem, ep_arena *a, ep_term request, ep__io_out_fn out, void *ud);

/* The node's group leader: serves {io_request, From, ReplyAs, Request}
 * (anything else is ignored) and sends From the io_reply. out_cb NULL:
 * the text goes to stderr. */
void ep__io_request(ep_node *n, ep_proc *gl, ep_term msg, ep_node_output_cb out_cb, void *out_ud);

#endif
