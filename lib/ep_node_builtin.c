/* ep_node_builtin.c - the processes every node has: net_kernel (answers
 * net_adm:ping), the group leader of our remote calls (the I/O server,
 * lib/ep_ioserver.c) and rex (gets the replies to our calls). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ep_cookie_file.h"
#include "ep_dflags.h"
#include "ep_epmd_uv.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_limits.h"
#include "ep_node_int.h"
#include "ep_uverr_int.h"
#include "ep_xport_int.h"

/* --- processes made at start --------------------------------------------------------------- */

/* The node's own process, registered as net_kernel: net_adm:ping(Node)
 * connects and then gen:call({net_kernel, Node}, {is_auth, Self}), and
 * says pang unless it hears yes. Other calls are answered no. */
static void net_proc_cb(ep_proc *p, const ep_msg *m, void *ud) {
  (void)ud;
  ep_term from, req;
  if (m->kind != EP_MSG_SEND || !ep__gen_call(m->msg, &from, &req)) return;
  ep__gen_reply(ep_proc_node(p), p, from, ep_atom(ep_is_record(req, "is_auth", 2) ? "yes" : "no"), m->arena);
}

static void gl_proc_cb(ep_proc *p, const ep_msg *m, void *ud) {
  (void)ud;
  ep_node *n = ep_proc_node(p);
  if (m->kind == EP_MSG_SEND) ep__io_request(n, p, m->msg, n->output_cb, n->output_ud);
}

/* Registered as rex. It gets the replies to our calls (lib/ep_rpc.c), and
 * answers calls made to us the way rex answers a call of a function that
 * does not exist, since we run no Erlang code: an erpc:execute_call(Ref, M,
 * F, A) is answered as erpc would, {Ref, error, undef, [{M, F, A, []}]};
 * any other call {badrpc, {'EXIT', {undef, [{M, F, A, []}]}}}. So an erlpeer
 * calling another erlpeer (or an Erlang node calling rpc:call through rex)
 * gets an error at once instead of waiting out its timeout. */
static void rex_proc_cb(ep_proc *p, const ep_msg *m, void *ud) {
  (void)ud;
  ep_node *n = ep_proc_node(p);
  if (m->kind != EP_MSG_SEND || ep__rpc_on_reply(n, m->msg, m->arena)) return;
  ep_term from, req;
  if (!ep__gen_call(m->msg, &from, &req) || !ep_is_record(req, "call", 5)) return;
  ep_arena *a = m->arena;
  ep_term mod = req.v.items[1], fun = req.v.items[2], args = req.v.items[3], why;
  if (ep_atom_eq(mod, "erpc") && ep_atom_eq(fun, "execute_call") && ep_list_len(args) == 4) {
    ep_term mfa = EP_TUPLE(a, ep_list_at(args, 1), ep_list_at(args, 2), ep_list_at(args, 3), ep_nil());
    why = EP_TUPLE(a, ep_list_at(args, 0), ep_atom("error"), ep_atom("undef"), EP_LIST(a, mfa));
  } else {
    why = EP_TUPLE(a, ep_atom("undef"), EP_LIST(a, EP_TUPLE(a, mod, fun, args, ep_nil())));
  }
  ep__gen_reply(n, p, from, EP_TUPLE(a, ep_atom("badrpc"), EP_TUPLE(a, ep_atom("EXIT"), why)), a);
}

int ep__node_make_procs(ep_node *n) {
  int r = ep_proc_new(n, "net_kernel", net_proc_cb, NULL, &n->net);
  if (!r) r = ep_proc_new(n, NULL, gl_proc_cb, NULL, &n->gl);
  if (!r) r = ep_proc_new(n, "rex", rex_proc_cb, NULL, &n->rex);
  return r;
}

