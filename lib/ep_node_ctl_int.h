/* ep_node_ctl_int.h - what the peer controller (lib/ep_ctl_node.c,
 * lib/ep_peer_dist.c) and the blocking layer (lib/ep_sync.c) may know of
 * and do to a node, beside its public API: a small internal API, so that
 * the node's fields stay the node's (lib/ep_node_int.h is for the node's
 * own files). Internal, not installed. */
#ifndef EP_NODE_CTL_INT_H
#define EP_NODE_CTL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ep_node.h"

struct ep__sloop;

/* ep_node_start for a peer controller's node (serve_epmd: EP_EPMD_AUTO
 * becomes EP_EPMD_AUTO_SERVE, since its dist peers must find it). */
int ep__node_start(uv_loop_t *loop, const ep_node_opts *o, bool serve_epmd, ep_node_start_cb cb, void *ud,
                   ep_node **out);
const ep_mem *ep__node_opts_mem(const ep_node_opts *o);

/* The private loop the node's blocking calls run (own: the node frees it). */
void ep__node_set_sloop(ep_node *n, struct ep__sloop *s, bool own);
struct ep__sloop *ep__node_sloop(const ep_node *n, bool *own);

/* A second event callback beside the user's: the controller's. */
void ep__node_watch(ep_node *n, ep_node_event_cb cb, void *ud);
/* Long names, IPv6. */
void ep__node_naming(const ep_node *n, bool *longnames, bool *ipv6);
/* Serving EPMD in-process (then local peers must not start their own). */
bool ep__node_serves_epmd(const ep_node *n);
/* The cookie, and whether it was given rather than read from a file. */
const uint8_t *ep__node_cookie(const ep_node *n, size_t *len, bool *explicit_);

/* Remote calls and casts whose remote process gets gl as its group
 * leader (NULL: the node's), so a peer's output can be told apart. */
int ep__rpc_call_gl(ep_node *n, ep_proc *gl, const char *peer, const char *mod, const char *fun, ep_term args,
                    uint64_t timeout_ms, ep_rpc_cb cb, void *ud);
int ep__rpc_cast_gl(ep_node *n, ep_proc *gl, const char *peer, const char *mod, const char *fun, ep_term args);

/* msg is a gen:call request, {'$gen_call', From, Req} with From = {Pid,
 * Tag}: from and req are set. */
bool ep__gen_call(ep_term msg, ep_term *from, ep_term *req);
/* The one gen:call reply of the node's processes: {Tag, reply} from self
 * to the caller From (its alias when Tag is [alias | Ref]), built in a.
 * ep_node_send's result, EP_EINVAL (from is no {Pid, Tag}) or EP_ENOMEM. */
int ep__gen_reply(ep_node *n, ep_proc *self, ep_term from, ep_term reply, ep_arena *a);

#endif
