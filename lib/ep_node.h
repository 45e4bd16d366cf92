/* ep_node.h - a hidden Erlang node in C, on libuv.
 *
 * An ep_node listens for distribution connections, publishes itself in EPMD
 * (starting an embedded EPMD when none answers, if allowed), dials other
 * nodes on demand, and hosts C-side processes: pids and registered names
 * whose messages, EXITs and DOWNs arrive at a callback. It calls functions
 * on other nodes (RPC), casts, and sends messages.
 *
 * Two ways to use it:
 *  - asynchronous, on your own uv_loop_t: ep_node_start(loop, ...) and the
 *    callback-taking calls; every callback runs on that loop, delivered by
 *    your own uv_run calls in any mode (UV_RUN_DEFAULT, or ONCE / NOWAIT
 *    loops of yours), without ep_node_run_until; an idle node lets
 *    UV_RUN_ONCE block (docs/node.md, "On your own loop");
 *  - blocking, for plain programs: ep_node_start_sync(...) gives a node with
 *    a private loop, and the *_sync calls run that loop until they are done.
 *
 * Rules (libuv's): if a call returns an error, its callback is never called;
 * otherwise the callback is called exactly once. Terms handed to callbacks
 * live in an arena that is reset when the callback returns: copy what you
 * keep (ep_term_copy).
 *
 * The cookie: by default ~/.erlang.cookie, read the way erl reads it and
 * created (mode 0400, 20 random capital letters) when missing. It is never
 * put on any command line.
 */
#ifndef EP_NODE_H
#define EP_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/* Only the loop type is needed: declared here rather than by including
 * uv.h, so a consumer's compiler options need not suit libuv's headers
 * (C11 allows this typedef to be repeated by uv.h). */
typedef struct uv_loop_s uv_loop_t;

#include "ep_mem.h"
#include "ep_term.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Timeouts, node and peer alike, are uint64_t milliseconds. EP_INFINITY is
 * a timeout that never fires; 0 is a deadline already due (a call made
 * with it is sent, then times out on the loop's next turn; a run or poll
 * does what is ready now). */
#define EP_INFINITY UINT64_MAX

#ifdef __cplusplus
#endif

typedef struct ep_node ep_node;
typedef struct ep_node_opts ep_node_opts;
typedef struct ep_proc ep_proc;

/* --- options ------------------------------------------------------------------------ */

/* A node serves EPMD only when others must find it and no EPMD answers:
 * serving takes over the host's EPMD port, the host's other nodes then
 * register with us, and lose their EPMD when we exit (docs/epmd.md). */
typedef enum ep_epmd_mode {
  EP_EPMD_AUTO,      /* register with the EPMD that answers; none: run unregistered (dial out only) */
  EP_EPMD_EXTERNAL,  /* an EPMD must answer (EP_ENOEPMD otherwise) */
  EP_EPMD_EMBEDDED,  /* always serve EPMD in-process on the EPMD port */
  EP_EPMD_NONE,      /* do not register (we can still dial nodes) */
  EP_EPMD_AUTO_SERVE /* the EPMD that answers, else serve one (a controller's node: its peers dial it) */
} ep_epmd_mode;

/* Things a node says, for its owner to pass on (the CLI prints them on
 * stderr): EPMD_SERVED once, NAME_IN_USE each time it happens. text is a
 * sentence for a person. The callback runs on the node's loop. */
typedef enum ep_node_notice_kind {
  EP_NODE_NOTICE_EPMD_SERVED, /* no EPMD answered: this node now serves EPMD on the host's port */
  /* A client-profile node dialled a node that already has a connection
   * from a node of our name (another program using the same name). Never
   * connected there before: we back off, the dial fails with EP_EALIVE.
   * Connected there before: that connection was ours and is gone, or
   * another node of our name has replaced it; we take the name back (as a
   * node reconnecting must), and the other node will lose its connection. */
  EP_NODE_NOTICE_NAME_IN_USE
} ep_node_notice_kind;
typedef void (*ep_node_notice_cb)(ep_node *node, ep_node_notice_kind kind, const char *text, void *ud);

typedef enum ep_node_event_kind { EP_NODE_UP, EP_NODE_DOWN } ep_node_event_kind;

typedef void (*ep_node_event_cb)(ep_node *node, ep_node_event_kind kind, const char *peer, int reason, void *ud);
/* Output from io requests that remote processes send to our group leader
 * (e.g. io:format in a function we called): already formatted text. */
typedef void (*ep_node_output_cb)(ep_node *node, const char *text, size_t len, void *ud);

ep_node_opts *ep_node_opts_new(void);
void ep_node_opts_free(ep_node_opts *o);
/* "name" or "name@host". Default: "erlpeer-<ospid>" with the local host.
 * EP_EBADNAME for an invalid name. */
int ep_node_opts_set_name(ep_node_opts *o, const char *name);
/* Long names (name@fqdn or name@ip) instead of short names. */
int ep_node_opts_set_longnames(ep_node_opts *o, bool on);
/* Explicit cookie instead of ~/.erlang.cookie. Copied. */
int ep_node_opts_set_cookie(ep_node_opts *o, const char *cookie);
/* net_ticktime in seconds (default 60; min 1). */
int ep_node_opts_set_ticktime(ep_node_opts *o, unsigned seconds);
/* EPMD port (default: ERL_EPMD_PORT, else 4369) and mode (default AUTO).
 * A port outside 1..65535, or an ERL_EPMD_PORT that is not one, makes
 * ep_node_start return EP_EINVAL. */
int ep_node_opts_set_epmd_port(ep_node_opts *o, int port);
int ep_node_opts_set_epmd_mode(ep_node_opts *o, ep_epmd_mode mode);
/* Use IPv6 (inet6_tcp) for distribution and EPMD. */
int ep_node_opts_set_ipv6(ep_node_opts *o, bool on);
/* Port to listen on (default 0: any free port). */
int ep_node_opts_set_listen_port(ep_node_opts *o, int port);
int ep_node_opts_set_event_cb(ep_node_opts *o, ep_node_event_cb cb, void *ud);
int ep_node_opts_set_notice_cb(ep_node_opts *o, ep_node_notice_cb cb, void *ud);
/* Default: written to stderr. */
int ep_node_opts_set_output_cb(ep_node_opts *o, ep_node_output_cb cb, void *ud);
int ep_node_opts_set_mem(ep_node_opts *o, const ep_mem *mem);
/* Milliseconds a connection may take to be set up, handshake included
 * (default EP_LIMIT_HANDSHAKE_MS, OTP's net_setuptime: 7 s); an accepted
 * client that has not authenticated by then is dropped. 0 keeps the
 * default; EP_INFINITY sets no limit (a client that never authenticates
 * then holds its slot of the pending handshakes for good). */
int ep_node_opts_set_setuptime(ep_node_opts *o, uint64_t ms);
/* Backpressure. Unsent bytes a connection may hold (default
 * EP_LIMIT_SEND_QUEUE, 1 GiB): once past it, as when the peer stops
 * reading, a send or call to that node fails with EP_EBACKPRESSURE until the
 * queue drains (ep_node_queued). The check is made before a message is
 * queued, so the queue may exceed the limit by one message. 0 keeps the
 * default. */
int ep_node_opts_set_send_queue_limit(ep_node_opts *o, size_t bytes);
/* Calls (ep_rpc_call, ep_rpc_multi: a batch counts as one) in flight to
 * one node at once (default EP_LIMIT_CALLS_IN_FLIGHT, 65536); a call past
 * it fails at once with EP_ETOOMANYCALLS, and goes through again once
 * answers (or timeouts) bring the count back under. 0 keeps the default. */
int ep_node_opts_set_max_calls(ep_node_opts *o, uint32_t calls);
/* The client profile, for a node that only dials out (a monitoring agent,
 * a one-shot call): no listening socket, no EPMD registration, never an
 * EPMD served (the mode is EP_EPMD_NONE whatever was set). Other nodes
 * cannot dial it; it dials them. */
int ep_node_opts_set_client(ep_node_opts *o, bool on);
/* TLS distribution, as OTP's -proto_dist inet_tls: every connection runs
 * TLS first, then the handshake (4-byte lengths) and frames inside it; EPMD
 * stays plain. From OTP's own -ssl_dist_optfile (the
 * [{server, Opts}, {client, Opts}] file the user's nodes use; docs/node.md
 * lists the options read) or from three PEM files (mutual TLS: verify_peer
 * and a client certificate required both ways). Certificates and keys are
 * loaded now. Returns 0, EP_ETLSOPT (an unsupported option, a bad value, a
 * file OpenSSL cannot use), EP_ENOENT / EP_EPERM (the optfile), EP_ENOMEM;
 * ep_node_opts_error then says which and why in one line. A key file
 * others can read is a warning on stderr. NULL path: plain TCP again. */
int ep_node_opts_set_ssl_dist_optfile(ep_node_opts *o, const char *path);
int ep_node_opts_set_tls_files(ep_node_opts *o, const char *certfile, const char *keyfile, const char *cacertfile);
/* Whether the options have TLS distribution set. */
bool ep_node_opts_tls(const ep_node_opts *o);
/* The words of the last setter that failed ("" when none). */
const char *ep_node_opts_error(const ep_node_opts *o);

/* --- lifecycle ------------------------------------------------------------------------- */

typedef void (*ep_node_start_cb)(ep_node *node, int status, void *ud);
typedef void (*ep_node_close_cb)(ep_node *node, void *ud);

/* Starts a node on loop: reads the cookie, listens, registers in EPMD.
 * *out is usable at once (calls queue until started); cb reports 0 or the
 * error (EP_ENOCOOKIE, EP_EBADNAME, EP_ENOEPMD, EP_ENAMETAKEN, ...;
 * EP_ECANCELED when the node is closed first), after which a failed node
 * must still be closed. From then until its close callback the node keeps
 * the loop alive (its listening socket, at least): uv_run(loop,
 * UV_RUN_DEFAULT) does not return before. Returns 0 or an error (then no
 * node and no callback). */
int ep_node_start(uv_loop_t *loop, const ep_node_opts *o, ep_node_start_cb cb, void *ud, ep_node **out);
/* Ends every C process (links and monitors fire on the other nodes), closes
 * every connection and the registration; cb once all handles are closed,
 * then the node is freed. Every callback still owed runs first (a start
 * not yet reported gets EP_ECANCELED, calls in flight EP_ECLOSED, lent
 * sends their done). Frames still queued get at most 2 s to leave. Keep
 * running the loop until cb: whatever of the node is still on the loop
 * then is already closing, so uv_run(loop, UV_RUN_DEFAULT) returns once
 * your own handles are closed, and uv_loop_close succeeds. Calling it again
 * while the close is under way only replaces the callback. */
void ep_node_close(ep_node *node, ep_node_close_cb cb, void *ud);

/* Blocking: a node with its own private loop. Returns 0 or the error. */
int ep_node_start_sync(const ep_node_opts *o, ep_node **out);
/* Blocking close of a node made by ep_node_start_sync; frees it. */
void ep_node_free(ep_node *node);

/* What the node refused or counted, for monitoring. */
typedef struct ep_node_stats {
  uint64_t handshakes_pending; /* accepted, not yet authenticated (now) */
  uint64_t handshakes_refused; /* accepted and closed at once: EP_LIMIT_PENDING_HANDSHAKES were pending */
  uint64_t auth_rejected;      /* accepted handshakes that failed authentication */
  uint64_t accept_failed;      /* accept(2) errors (out of descriptors, ...) */
} ep_node_stats;
void ep_node_get_stats(const ep_node *node, ep_node_stats *out);

/* "name@host" */
const char *ep_node_name(const ep_node *node);
uint32_t ep_node_creation(const ep_node *node);
uv_loop_t *ep_node_loop(const ep_node *node);
/* The port we listen on. */
int ep_node_port(const ep_node *node);

/* --- connections ------------------------------------------------------------------------- */

typedef void (*ep_node_connect_cb)(ep_node *node, const char *peer, int status, void *ud);
/* Connects to peer ("name@host", or "name" for the local host) unless
 * connected; cb with 0 or the reason: EP_ENOEPMD, EP_ENOTREG,
 * EP_ECONNREFUSED, EP_EAUTH, EP_ENOTALLOWED, EP_ETIMEDOUT, ...
 * timeout_ms bounds the attempt; it ends at the node's setup time
 * (ep_node_opts_set_setuptime) in any case, EP_INFINITY included. */
int ep_node_connect(ep_node *node, const char *peer, uint64_t timeout_ms, ep_node_connect_cb cb, void *ud);
bool ep_node_is_connected(const ep_node *node, const char *peer);
/* The last failed connection's cause in words, where its error code says
 * less (TLS: which certificate was rejected, with OpenSSL's reason); ""
 * when there is none. Valid until the next connection fails. */
const char *ep_node_conn_error(const ep_node *node);
/* Bytes queued for peer and not yet written to its socket, lent ones
 * (ep_node_send_lent) included (0 when not connected; messages sent before the
 * connection is up are counted once it is). Sends never block: a fast sender watches this and lets the
 * loop run (backpressure) instead of queueing without bound; past
 * the send queue limit (ep_node_opts_set_send_queue_limit) sends fail with
 * EP_EBACKPRESSURE. */
size_t ep_node_queued(const ep_node *node, const char *peer);
/* Drops the connection (links and monitors to it fire with noconnection). */
int ep_node_disconnect(ep_node *node, const char *peer);
/* Blocking: 0 (pong) or the reason (pang). timeout_ms as ep_node_connect. */
int ep_node_ping_sync(ep_node *node, const char *peer, uint64_t timeout_ms);

/* --- C processes --------------------------------------------------------------------------- */

typedef enum ep_msg_kind {
  EP_MSG_SEND, /* msg from `from` (EP_T_NONE when the sender is unknown) */
  EP_MSG_EXIT, /* a linked process ended: from, reason */
  EP_MSG_DOWN  /* a monitor fired: ref, from (pid or name), reason */
} ep_msg_kind;

typedef struct ep_msg {
  ep_msg_kind kind;
  ep_term from;
  ep_term to; /* our pid, registered name, or alias it was sent to */
  ep_term msg;
  ep_term reason;
  ep_term ref;
  ep_arena *arena; /* where the terms live; reset after the callback */
} ep_msg;

typedef void (*ep_proc_cb)(ep_proc *p, const ep_msg *m, void *ud);

/* A new C process with a fresh pid; registered under name when not NULL
 * (EP_ENAMETAKEN if taken). Messages, EXITs and DOWNs arrive at cb. */
int ep_proc_new(ep_node *node, const char *name, ep_proc_cb cb, void *ud, ep_proc **out);
/* Ends the process with reason (linked processes get EXIT, monitors DOWN);
 * frees it. */
void ep_proc_exit(ep_proc *p, ep_term reason);
ep_term ep_proc_pid(const ep_proc *p);
ep_node *ep_proc_node(const ep_proc *p);

/* Sends msg to a pid, or to {Name, Node} / a registered name on a node, or
 * to an alias (a reference). from may be NULL (the node's own pid).
 * Queued while the connection is set up; returns 0 or EP_EINVAL. msg is
 * not used after the call returns: on an idle connection its large
 * binaries are written to the socket from msg's memory, and whatever is not
 * written at once is copied (docs/distribution.md). The first frame of a
 * loop turn is written at once; later ones leave together when the loop
 * next runs, before it polls (on your own loop: your next uv_run call; on
 * a private one: any blocking call, ep_node_run_until, or ep_node_free),
 * see docs/node.md. */
int ep_node_send(ep_node *node, ep_proc *from, ep_term to, ep_term msg);

/* Called once the memory of a message given to ep_node_send_lent is no longer
 * needed. status: 0, or the error that ended the connection before the
 * message was written. */
typedef void (*ep_node_send_done_cb)(ep_node *node, int status, void *ud);

/* ep_node_send without copying large binaries even when the socket is full:
 * msg's binaries of 64 KiB and more are lent, as uv_write's buffers are,
 * and must stay valid and unchanged until done runs. done runs exactly
 * once, from the loop, never inside this call: when the message has been
 * written (or copied, when it had to wait behind other frames), or with
 * the error that ended the connection first. done may send the next
 * message (a sender streaming buffers): each loop turn runs only the done
 * callbacks queued before it began, so such a chain advances at most one
 * link per turn and reads, timers and other connections are served in
 * between. Returns 0 (done will run) or the errors of ep_node_send, and
 * EP_ENOMEM (done will not run). */
int ep_node_send_lent(ep_node *node, ep_proc *from, ep_term to, ep_term msg, ep_node_send_done_cb done, void *ud);
int ep_node_send_named(ep_node *node, ep_proc *from, const char *peer, const char *name, ep_term msg);
/* Links p and a remote pid. EP_ENODEDOWN when the connection is found
 * dead while the link is written (no EXIT will come: there is no link). */
int ep_proc_link(ep_proc *p, ep_term pid);
int ep_proc_unlink(ep_proc *p, ep_term pid);
/* Monitors a pid, or a registered name on peer ({Name, Node}); the ref is
 * written to *ref (in arena a). EP_ENODEDOWN as ep_proc_link: no DOWN will come. */
int ep_proc_monitor(ep_proc *p, ep_term target, ep_arena *a, ep_term *ref);
int ep_proc_demonitor(ep_proc *p, ep_term ref);
/* A fresh reference of this node. */
ep_term ep_node_make_ref(ep_node *node, ep_arena *a);

/* --- remote calls --------------------------------------------------------------------------- */

/* How a call ended: the one result type of the node's calls (ep_rpc_call,
 * ep_rpc_multi's items) and the peer controller's (ep_peer_call).
 * status 0: value holds the result. EP_EEXCEPTION: cls (error, exit or
 * throw; crash from a peer whose call process died) with reason and stack.
 * Any other status: the call did not complete; reason may say why (see
 * each call for its errors).
 *
 * One ownership rule: a result handed to a callback is the library's, with
 * every term in it, and is valid until the callback returns (ep_term_copy
 * what you keep); a blocking call copies the terms into the arena you pass
 * it. arena is the one they live in: in a callback the library's, lent
 * with the terms (NULL when there are none), never yours to free; after a
 * blocking call the one you passed. */
typedef struct ep_result {
  int status;
  ep_term value;
  ep_term cls;
  ep_term reason;
  ep_term stack;
  ep_arena *arena;
} ep_result;

/* Deprecated: ep_result (the node's calls used this name). */
typedef ep_result ep_rpc_result;

typedef void (*ep_rpc_cb)(ep_node *node, const ep_result *r, void *ud);

/* Calls M:F(Args) on peer (rex runs erpc:execute_call/4 in a worker of its
 * own: see docs/node.md). args is a proper list. Many calls may
 * be in flight on one connection; each cb fires exactly once. timeout_ms:
 * EP_INFINITY for none. Returns 0 (cb will fire), or an error and cb will not:
 * EP_ETOOMANYCALLS past the node's calls in flight to that peer
 * (ep_node_opts_set_max_calls), EP_EBACKPRESSURE when the connection's
 * send queue is full (ep_node_opts_set_send_queue_limit),
 * EP_ENODEDOWN when the connection is found dead while the request is
 * written. */
int ep_rpc_call(ep_node *node, const char *peer, const char *mod, const char *fun, ep_term args,
                uint64_t timeout_ms, ep_rpc_cb cb, void *ud);
/* Fire and forget. */
int ep_rpc_cast(ep_node *node, const char *peer, const char *mod, const char *fun, ep_term args);
/* Blocking call: fills *r with terms copied into a (the caller's arena).
 * Returns r->status, EP_ENOMEM when a could not hold the terms (EP_EINVAL
 * without a). */
int ep_rpc_call_sync(ep_node *node, const char *peer, const char *mod, const char *fun, ep_term args,
                     uint64_t timeout_ms, ep_arena *a, ep_result *r);

/* One M:F(Args) of a multi-call. args is a proper list. */
typedef struct ep_rpc_item {
  const char *mod;
  const char *fun;
  ep_term args;
} ep_rpc_item;

/* How a multi-call ended. status 0: the target ran the whole batch, and
 * items[i] is item i's ep_result (status 0 with value, EP_EEXCEPTION
 * with cls/reason/stack, or EP_EBADRPC when its answer was not one an item
 * gives), n of them in order. Otherwise the whole request failed and items
 * is NULL: EP_ETIMEDOUT, EP_ENODEDOWN (the connection went; the answers
 * are lost with it), EP_EBADRPC (the batch's worker was killed, e.g. by an
 * exit signal: reason {'EXIT', Why}; or the target could not run the
 * batch: reason {Class, Reason, Stack}, as error:undef from an erlpeer
 * node), EP_ENOMEM, EP_ECLOSED, or a connection error. */
typedef struct ep_rpc_multi_result {
  int status;
  ep_term reason; /* the whole request's failure (status != 0) */
  size_t n;
  const ep_result *items;
  ep_arena *arena;
} ep_rpc_multi_result;

typedef void (*ep_rpc_multi_cb)(ep_node *node, const ep_rpc_multi_result *r, void *ud);

/* Calls items[0..n-1] on peer in one request, one after the other in one
 * process of the target, and answers them in one reply: a poll of many
 * values costs one round trip and one worker (the reads do not count
 * calls of their own), and nothing is loaded on the target (no erl_eval:
 * the batch is lists:zipwith of export funs, see docs/node.md). An item's
 * exception ends only that item. timeout_ms (EP_INFINITY: none) bounds the whole
 * request; items still running then go on running on the target, as after
 * ep_rpc_call's timeout. Returns 0 (cb will fire once) or an error and cb
 * will not: EP_EINVAL (no cb, an item without mod/fun or whose args are
 * not a proper list), EP_EBADNAME, EP_ENODEDOWN as ep_rpc_call. */
int ep_rpc_multi(ep_node *node, const char *peer, const ep_rpc_item *items, size_t n, uint64_t timeout_ms,
                 ep_rpc_multi_cb cb, void *ud);
/* Blocking multi-call: fills *r with the items and terms copied into a
 * (the caller's arena). Returns r->status. */
int ep_rpc_multi_sync(ep_node *node, const char *peer, const ep_rpc_item *items, size_t n, uint64_t timeout_ms,
                      ep_arena *a, ep_rpc_multi_result *r);

/* Runs the node's private loop until cond(ud) is true or timeout_ms passes
 * (EP_INFINITY: no timeout; 0: what is ready now); for blocking programs waiting on their own events. (A
 * node on your own loop needs no such call: your uv_run delivers every
 * callback.) Returns 0 or EP_ETIMEDOUT. */
int ep_node_run_until(ep_node *node, bool (*cond)(void *ud), void *ud, uint64_t timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
