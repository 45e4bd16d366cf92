/* ep_rpc_multi.c - several M:F(A) in one request, one worker, one reply.
 *
 * The batch is one ep_rpc_call (so one gen_server call to the target's rex,
 * one worker, one timeout, and the nodedown handling of every call) of
 *
 *   lists:zipwith(fun erlang:apply/2,
 *                 [fun rpc:call/4, ...],
 *                 [[Node, erpc, execute_call, [1, M1, F1, A1]], ...])
 *
 * where Node is the target itself. Only export funs of modules every node
 * has loaded (lists, erlang, rpc, erpc): nothing is loaded on the target,
 * and no erl_eval. Each item runs in the batch's own worker, in order:
 *  - erpc:execute_call(I, M, F, A) catches the item's exception and exits
 *    with {I, return, V}, {I, throw, R}, {I, exit, R}, {I, error, R, Stack}
 *    or {I, error, {erpc, R}}, its usual answer (see ep_rpc.c);
 *  - rpc:call/4 to the node itself is erpc:call's local case: it runs the
 *    function in the calling process (no spawn, no message), and its
 *    exit {exception, Reason} becomes the value
 *    {badrpc, {'EXIT', {I, Class, ...}}};
 * so the list that comes back holds, per item, exactly what rex sends for
 * a single call, classified by the same code (ep__rpc_classify). Checked
 * on OTP 25, 27 and 29 (tests/integration/test_rpc_multi.c). What ends the
 * worker itself (an item that kills it, a linked process dying) ends the
 * whole batch: rex's {badrpc, {'EXIT', Why}}. */
#include <string.h>

#include "ep_error.h"
#include "ep_node_int.h"

typedef struct {
  size_t n;
  ep_rpc_multi_cb cb;
  void *ud;
} ep__multi;

/* Item i's answer, {badrpc, {'EXIT', {I, Class, ...}}}, into *r. */
static void item_result(ep_term v, size_t i, ep_arena *a, ep_result *r) {
  memset(r, 0, sizeof *r);
  r->value = r->cls = r->reason = r->stack = ep_none();
  r->arena = a;
  if (ep_is_record(v, "badrpc", 2) && ep_is_record(v.v.items[1], "EXIT", 2)) {
    ep__rpc_classify(ep_int((int64_t)i + 1), v.v.items[1].v.items[1], r);
  } else {
    r->status = EP_EBADRPC;
    r->reason = v;
  }
}

static void on_batch(ep_node *n, const ep_result *r, void *ud) {
  ep__multi *m = ud;
  ep_rpc_multi_result mr = {r->status, r->reason, 0, NULL, r->arena};
  if (r->status == 0) {
    ep_term v = r->value;
    ep_result *items = NULL;
    if (ep_list_len(v) != (ptrdiff_t)m->n || ep_list_tail(v).type != EP_T_NIL) {
      mr.status = EP_EBADRPC; /* not what the batch returns */
      mr.reason = v;
    } else if (m->n && !(items = ep_arena_alloc(r->arena, m->n * sizeof *items))) {
      mr.status = EP_ENOMEM;
      mr.reason = ep_atom("enomem");
    } else {
      for (size_t i = 0; i < m->n; i++) item_result(ep_list_at(v, i), i, r->arena, &items[i]);
      mr.n = m->n;
      mr.items = items;
      mr.reason = ep_none();
    }
  } else if (r->status == EP_EEXCEPTION) {
    /* The batch itself raised: the target lacks what it uses (an erlpeer
     * node answers undef, for one). */
    mr.status = EP_EBADRPC;
    mr.reason = EP_TUPLE(r->arena, r->cls, r->reason, r->stack);
  }
  m->cb(n, &mr, m->ud);
  ep_free(n->mem, m);
}

int ep_rpc_multi(ep_node *n, const char *peer, const ep_rpc_item *items, size_t count, uint64_t timeout_ms,
                 ep_rpc_multi_cb cb, void *ud) {
  if (!cb || (count && !items) || count > INT32_MAX) return EP_EINVAL;
  for (size_t i = 0; i < count; i++)
    if (!items[i].mod || !items[i].fun || ep_list_len(items[i].args) < 0 ||
        ep_list_tail(items[i].args).type != EP_T_NIL)
      return EP_EINVAL;
  /* The node's own name as the target knows it: the handshake checks that
   * the node we reach is the one we name. */
  char full[EP__NODE_NAME_MAX];
  int r = ep__full_name(n, peer, full, sizeof full);
  if (r) return r;
  const ep_mem *mem = n->mem;
  ep__multi *m = ep_malloc(mem, sizeof *m);
  if (!m) return EP_ENOMEM;
  m->n = count;
  m->cb = cb;
  m->ud = ud;
  /* Not the node's scratch arena: ep_rpc_call resets it. */
  ep_arena *a = ep_arena_new(mem);
  if (!a) {
    ep_free(mem, m);
    return EP_ENOMEM;
  }
  ep_term funs = ep_nil(), calls = ep_nil();
  if (count) {
    ep_term *f, *c;
    funs = ep_list_new(a, count, &f);
    calls = ep_list_new(a, count, &c);
    ep_term call4 = ep_export_fun(a, ep_atom("rpc"), ep_atom("call"), 4);
    ep_term self = ep_atom(full);
    for (size_t i = 0; !ep_is_none(funs) && !ep_is_none(calls) && i < count; i++) {
      f[i] = call4;
      c[i] = EP_LIST(a, self, ep_atom("erpc"), ep_atom("execute_call"),
                     EP_LIST(a, ep_int((int64_t)i + 1), ep_atom(items[i].mod), ep_atom(items[i].fun), items[i].args));
    }
  }
  ep_term args = EP_LIST(a, ep_export_fun(a, ep_atom("erlang"), ep_atom("apply"), 2), funs, calls);
  /* Encoded (or copied into the connection's queue) before it returns. */
  r = ep_is_none(args) ? EP_ENOMEM : ep_rpc_call(n, full, "lists", "zipwith", args, timeout_ms, on_batch, m);
  ep_arena_free(a);
  if (r) ep_free(mem, m);
  return r;
}

