/* ep_ioserver.c - the one I/O server (group leader) of the runtime.
 *
 * The node's group leader (for the remote calls it makes) and the peer
 * controller (for what its peers print, over every control connection)
 * both serve Erlang's I/O protocol here, on dist/ep_ioserv: the request is
 * answered at once, formatted locally with dist/ep_iolib, its text handed
 * to an output callback. Nothing is asked of the node that sent it (the
 * node's group leader used to format through an RPC of io_lib:format back
 * to the sender, with a 10 s timeout; see docs/CHANGES.md). */
#include "ep_ioserver_int.h"

#include <stdio.h>

#include "ep_error.h"
#include "ep_iolib.h"
#include "ep_ioserv.h"
#include "ep_node_int.h"

int ep_chardata_utf8(ep_term t, bool latin1, ep_buf *out) {
  return latin1 ? ep_iolib_chardata_latin1(out, t) : ep_iolib_chardata(out, t);
}

ep_term ep__io_serve(const ep_mem *mem, ep_arena *a, ep_term request, ep__io_out_fn out, void *ud) {
  ep_buf text;
  ep_buf_init(&text, mem);
  ep_term reply;
  int rc = ep_ioserv_serve(&text, a, request, &reply);
  if (text.len && out) out((const char *)text.data, text.len, ud);
  ep_buf_free(&text);
  if (rc) reply = EP_TUPLE(a, ep_atom("error"), ep_atom("enomem"));
  return reply;
}

/* Without an output callback the node's group leader writes to stderr
 * (stdout is the caller's: erlpeer call prints results there). */
typedef struct {
  ep_node *n;
  ep_node_output_cb cb;
  void *ud;
} node_out;

static void to_node_output(const char *text, size_t len, void *ud) {
  node_out *o = ud;
  if (o->cb) {
    o->cb(o->n, text, len, o->ud);
  } else {
    fwrite(text, 1, len, stderr);
    fflush(stderr);
  }
}

void ep__io_request(ep_node *n, ep_proc *gl, ep_term msg, ep_node_output_cb cb, void *ud) {
  ep_term from, reply_as, req;
  if (ep_ioserv_parse(msg, &from, &reply_as, &req)) return;
  ep_arena *a = ep_arena_new(n->mem);
  if (!a) return;
  node_out o = {n, cb, ud};
  ep_term reply = ep__io_serve(n->mem, a, req, to_node_output, &o);
  ep_term m = ep_is_none(reply) ? reply : ep_ioserv_reply(a, reply_as, reply);
  if (!ep_is_none(m)) ep_node_send(n, gl, from, m);
  ep_arena_free(a);
}
