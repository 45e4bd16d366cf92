/* ep_peer.h - start, control and stop Erlang peer nodes (OTP's peer module).
 *
 * A controller (ep_ctl) owns peers. Each peer (ep_peer) is a real `erl`
 * started with uv_spawn and driven over a control connection:
 *  - TCP (connection = Port | {IP, Port}): the controller listens, the peer
 *    is started detached with `-user peer -origin IPs PORT` and dials back;
 *  - standard_io: the peer is started attached, the control terms travel on
 *    its stdin/stdout (nibble-encoded, see dist/ep_alt.h), every other byte
 *    it writes is console output relayed to the output callback;
 *  - dist (Erlang distribution): the peer dials the controller's hidden
 *    node (ep_ctl_start_node, or ep_ctl_set_node on the caller's loop); without one there,
 *    starting such a peer fails with EP_ENEEDNODE.
 * Without a name the peer is not distributed at all (no EPMD, no cookie, no
 * node name for the controller); with a name it is distributed as well.
 *
 * Two ways to use it:
 *  - asynchronous, on the caller's libuv loop: ep_ctl_new(loop),
 *    ep_peer_start(..., cb), ep_peer_call(..., cb), ep_peer_stop(..., cb);
 *    the caller's own uv_run calls deliver every callback, in any mode
 *    (`while (!done) uv_run(loop, UV_RUN_ONCE)` returns once a callback
 *    set done, also one run from a timer), and an idle controller lets
 *    UV_RUN_ONCE block (docs/peer.md, "On your own loop");
 *  - blocking, for plain programs: ep_ctl_new(NULL) makes a private loop,
 *    and the *_sync functions run it until their operation completes.
 *
 * Rules: every function returns 0 or a negative ep_err. If a function
 * returns an error, its callback is never called; otherwise the callback is
 * called exactly once, from the loop (never from inside the function).
 * A peer goes booting -> running -> down (a boot failure goes booting ->
 * down). The options object is copied at start: free it whenever you like.
 */
#ifndef EP_PEER_H
#define EP_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/* Only the loop type is needed: declared here rather than by including
 * uv.h, so a consumer's compiler options need not suit libuv's headers
 * (C11 allows this typedef to be repeated by uv.h). */
typedef struct uv_loop_s uv_loop_t;

#include "ep_mem.h"
#include "ep_node.h"
#include "ep_term.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ep_ctl ep_ctl;
typedef struct ep_peer ep_peer;
typedef struct ep_peer_opts ep_peer_opts;
typedef struct ep_peer_args ep_peer_args;

typedef enum ep_peer_state { EP_PEER_BOOTING = 0, EP_PEER_RUNNING, EP_PEER_DOWN } ep_peer_state;

typedef enum ep_peer_conn {
  EP_PEER_CONN_DIST = 0, /* default when a name is given */
  EP_PEER_CONN_TCP,
  EP_PEER_CONN_STDIO
} ep_peer_conn;

/* What happens to the controller's handle when the peer goes down on its
 * own (peer.xml's peer_down): STOP (default) and CONTINUE both move it to
 * EP_PEER_DOWN and keep the first down reason; CRASH also marks it crashed:
 * the state callback gets EP_EPEERCRASH and every later call, cast or send
 * fails with EP_EPEERCRASH, so a C caller cannot miss it. */
typedef enum ep_peer_down_mode {
  EP_PEER_DOWN_STOP = 0,
  EP_PEER_DOWN_CONTINUE,
  EP_PEER_DOWN_CRASH
} ep_peer_down_mode;

/* How ep_peer_stop stops the peer (peer.xml's shutdown), on the
 * alternative connections as the reference does it:
 *  CLOSE: close the control connection and return (the peer halts when
 *    it sees the connection close);
 *  HALT (default, timeout 5000): close it and wait up to the timeout for
 *    the peer to exit, then kill it;
 *  STOP (integer T >= 1000 or infinity): send {cast, init, stop, []}, wait up
 *    to T for the peer to close the connection and exit, then close and kill. */
typedef enum ep_peer_shutdown {
  EP_PEER_SHUTDOWN_HALT = 0,
  EP_PEER_SHUTDOWN_CLOSE,
  EP_PEER_SHUTDOWN_STOP
} ep_peer_shutdown;

/* Deprecated: EP_INFINITY (ep_node.h), the one infinite timeout. */
#define EP_PEER_INFINITY EP_INFINITY
/* wait_boot, not a timeout: the start callback fires right after the
 * spawn (the reference's wait_boot => false). */
#define EP_PEER_WAIT_NONE (EP_INFINITY - 1)
/* Deprecated: EP_INFINITY (wait_boot: the start callback fires on boot,
 * with no timeout). */
#define EP_PEER_WAIT_ASYNC EP_INFINITY
#define EP_PEER_DEFAULT_WAIT_MS 15000 /* the reference's wait_boot */
#define EP_PEER_DEFAULT_CALL_MS 5000  /* the reference's call timeout */

/* --- options ------------------------------------------------------------------ */

/* NULL on allocation failure. Free with ep_peer_opts_free. */
ep_peer_opts *ep_peer_opts_new(void);
void ep_peer_opts_free(ep_peer_opts *o);

/* Every setter copies its strings. Errors: EP_ENOMEM, EP_EINVAL. */
int ep_peer_opts_set_name(ep_peer_opts *o, const char *name); /* part before '@' */
int ep_peer_opts_set_host(ep_peer_opts *o, const char *host);
int ep_peer_opts_set_longnames(ep_peer_opts *o, bool longnames);
/* ip NULL: listen on every local address and offer them all to the peer,
 * loopback first (as the reference); port 0: any free port. */
int ep_peer_opts_set_connection_tcp(ep_peer_opts *o, const char *ip, int port);
int ep_peer_opts_set_connection_stdio(ep_peer_opts *o);
int ep_peer_opts_set_connection_dist(ep_peer_opts *o);
/* The program to run instead of "erl" (looked up in PATH), and arguments
 * put before everything else: ("ssh", {"host", "erl", NULL}),
 * ("chroot", {"/roots/trixie", "erl", NULL}). pre_args may be NULL. */
int ep_peer_opts_set_exec(ep_peer_opts *o, const char *prog, const char *const *pre_args);
/* Appends one argument for erl (the reference's args). */
int ep_peer_opts_add_arg(ep_peer_opts *o, const char *arg);
/* A dist peer over TLS distribution: adds -proto_dist inet_tls
 * -ssl_dist_optfile FILE to its arguments. The controller's node must speak
 * TLS too: start it (ep_ctl_start_node) with options given the same file
 * (ep_node_opts_set_ssl_dist_optfile). EP_EINVAL for an empty path. */
int ep_peer_opts_set_ssl_dist_optfile(ep_peer_opts *o, const char *optfile);
/* TLS without setup: a private 0700 folder in $TMPDIR with a new CA and
 * a certificate, key and optfile of its own for the controller's node
 * (ep_tls_throwaway_optfile: give it to ep_node_opts_set_ssl_dist_optfile)
 * and for each peer (ep_tls_throwaway_add_peer, or in one step
 * ep_peer_opts_set_tls_throwaway). Every certificate names this host (its
 * short and full names, localhost, 127.0.0.1, ::1); each has its own key,
 * serial and CN ("erlpeer controller", "erlpeer peer N"). The optfiles are
 * for mutual TLS: verify_peer both ways, a client certificate required.
 * ep_tls_throwaway_free removes the folder: call it once the peers have
 * stopped (after ep_ctl_free). Returns 0, EP_ENOMEM, EP_ESYS, EP_EIO. */
typedef struct ep_tls_throwaway ep_tls_throwaway;
int ep_tls_throwaway_new(ep_tls_throwaway **out);
/* The controller's optfile. */
const char *ep_tls_throwaway_optfile(const ep_tls_throwaway *t);
const char *ep_tls_throwaway_dir(const ep_tls_throwaway *t);
/* A new certificate and key for one more peer and the optfile that uses
 * them, its path into *optfile (valid until ep_tls_throwaway_free). */
int ep_tls_throwaway_add_peer(ep_tls_throwaway *t, const char **optfile);
/* ep_tls_throwaway_add_peer, then ep_peer_opts_set_ssl_dist_optfile with
 * the new optfile. */
int ep_peer_opts_set_tls_throwaway(ep_peer_opts *o, ep_tls_throwaway *t);
void ep_tls_throwaway_free(ep_tls_throwaway *t);
/* Sets a variable in the environment of the program started locally. */
int ep_peer_opts_set_env(ep_peer_opts *o, const char *key, const char *value);
/* How long a start waits for the boot, in milliseconds (> 0); EP_INFINITY
 * for no timeout; or EP_PEER_WAIT_NONE. Default 15000. */
int ep_peer_opts_set_wait_boot(ep_peer_opts *o, uint64_t ms);
/* How long the controller waits for a TCP peer to connect back: default
 * 60000 (the reference's accept timeout); EP_ENOCONNECT after it. */
int ep_peer_opts_set_accept_timeout(ep_peer_opts *o, uint64_t ms);
/* CLOSE ignores timeout_ms; HALT and STOP want 1000..UINT32_MAX (the
 * reference's range) or EP_INFINITY. */
int ep_peer_opts_set_shutdown(ep_peer_opts *o, ep_peer_shutdown mode, uint64_t timeout_ms);
int ep_peer_opts_set_peer_down(ep_peer_opts *o, ep_peer_down_mode mode);
/* Default true. false with standard_io is EP_EINVAL at start. When false,
 * a TCP peer stays attached: its stdout and stderr are relayed as output. */
int ep_peer_opts_set_detached(ep_peer_opts *o, bool detached);

/* Post-processes the final argument vector (everything after the program,
 * pre-arguments included), like the reference's post_process_args: push the
 * arguments to use into out with ep_peer_args_push. A non-zero return fails
 * the start with that error. */
typedef int (*ep_peer_args_fn)(size_t argc, const char *const *argv, ep_peer_args *out, void *ud);
int ep_peer_opts_set_post_process_args(ep_peer_opts *o, ep_peer_args_fn fn, void *ud);
int ep_peer_args_push(ep_peer_args *out, const char *arg);

/* Relayed output: text the peer printed (io requests formatted as the peer
 * would have, console text on standard_io, stderr of an attached peer). The
 * text is not NUL-terminated and valid during the call only. Default: none
 * (output dropped). */
typedef void (*ep_peer_output_cb)(ep_peer *p, const char *text, size_t len, void *ud);
int ep_peer_opts_set_output(ep_peer_opts *o, ep_peer_output_cb cb, void *ud);

/* Messages a process on the peer sends to the controller over the
 * connection (`user ! {message, To, Msg}` on the peer, or any process in a
 * call: `group_leader() ! {message, To, Msg}`). The terms are lent for the
 * callback, as every callback's are (ep_term_copy what you keep). */
typedef void (*ep_peer_message_cb)(ep_peer *p, ep_term to, ep_term msg, void *ud);
int ep_peer_opts_set_message(ep_peer_opts *o, ep_peer_message_cb cb, void *ud);

/* Every state change: running (err 0), down (err = the down error:
 * EP_EPEERDOWN, EP_EBOOT, EP_ETIMEDOUT, EP_EPEERCRASH, EP_ECRC, ...). */
typedef void (*ep_peer_state_cb)(ep_peer *p, ep_peer_state st, int err, void *ud);
int ep_peer_opts_set_state_cb(ep_peer_opts *o, ep_peer_state_cb cb, void *ud);

/* --- controller ------------------------------------------------------------------ */

/* loop NULL: a private loop for the blocking API. NULL on allocation
 * failure. */
ep_ctl *ep_ctl_new(uv_loop_t *loop);
/* The same, with every allocation of the controller, its peers, their
 * calls and the arenas their results are lent in, and of the default node
 * a blocking controller starts, made from mem (NULL: libc). mem is
 * borrowed: it must outlive the controller. (ep_peer_call_sync copies
 * results into the caller's arena, with that arena's allocator.) */
ep_ctl *ep_ctl_new_with(uv_loop_t *loop, const ep_mem *mem);
/* Stops every peer started linked (each with its shutdown mode: blocking
 * with a private loop; with the caller's loop, the connections are closed,
 * which makes each peer halt, and memory is released as the loop runs).
 * With the caller's loop, unlinked peers stay up and keep working (free them
 * with ep_peer_free later); a private loop dies with the controller, so its
 * unlinked peers lose their connection too (and halt). */
void ep_ctl_free(ep_ctl *c);
uv_loop_t *ep_ctl_loop(ep_ctl *c);

/* The hidden node that peers with the distribution connection dial. A
 * blocking controller (ep_ctl_new(NULL)) starts a default one (a name
 * erlpeer-<ospid>, the cookie of ~/.erlang.cookie, EPMD as found) when its
 * first dist peer starts; ep_ctl_start_node starts it with options instead
 * (blocking controllers only; EP_ESTATE if it has one). A controller on the
 * caller's loop is given a started node on that loop with ep_ctl_set_node
 * (borrowed: it must outlive the controller). */
/* What the controller's default node says once (EP_NODE_NOTICE_EPMD_SERVED
 * when no EPMD answered and it serves one for its dist peers). Set before
 * the first dist peer starts. */
int ep_ctl_set_notice_cb(ep_ctl *c, ep_node_notice_cb cb, void *ud);
int ep_ctl_start_node(ep_ctl *c, const ep_node_opts *o);
int ep_ctl_set_node(ep_ctl *c, ep_node *n);
ep_node *ep_ctl_node(const ep_ctl *c);
/* Runs the private loop for up to timeout_ms (0: what is ready now;
 * EP_INFINITY: until the controller is freed) so output and message
 * callbacks fire in a blocking program. */
int ep_ctl_poll(ep_ctl *c, uint64_t timeout_ms);

/* "prefix-N-OSPID", unique among the controllers running on this host
 * (prefix NULL: "peer"). Writes at most cap bytes. EP_ERANGE when cap is
 * too small. */
int ep_peer_random_name(const char *prefix, char *buf, size_t cap);

/* --- asynchronous API ------------------------------------------------------------- */

/* err 0: the peer is running (or, with EP_PEER_WAIT_NONE, just spawned). */
typedef void (*ep_peer_start_cb)(ep_peer *p, int err, void *ud);

/* Starts a peer. *out is valid from return (state booting) until
 * ep_peer_free. link: the peer is stopped when the controller is freed.
 * Errors (cb not called, nothing left running): EP_EINVAL (bad options),
 * EP_ENEEDNODE (dist connection without a node), EP_ESPAWN (program not found), EP_ENOMEM,
 * socket errors. Later failures arrive in cb: EP_EBOOT (the peer exited
 * before booting; ep_peer_exit_status tells how), EP_ETIMEDOUT (wait_boot
 * passed; the peer is killed), EP_ENOCONNECT (a TCP peer never connected),
 * EP_ECRC / EP_EALTFRAME (garbled control data; the peer is killed). */
int ep_peer_start(ep_ctl *c, const ep_peer_opts *o, bool link, ep_peer **out,
                  ep_peer_start_cb cb, void *ud);

/* The outcome of a call: an ep_result (ep_node.h), which is valid until the
 * callback returns. status 0: value holds the result. EP_EEXCEPTION: cls
 * is throw | error | exit | crash, with reason and stack ([] for crash).
 * Any other status: the call did not complete (EP_ETIMEDOUT, EP_EPEERDOWN,
 * EP_EPEERCRASH, EP_ECLOSED; EP_ENOMEM when a reply could not be read for
 * lack of memory, which takes the peer down with that error). */
typedef void (*ep_peer_call_cb)(ep_peer *p, const ep_result *r, void *ud);

/* Deprecated: ep_result (the peer's results used this name, and the
 * callback owned them: now it borrows them, as the node's callbacks do). */
typedef ep_result ep_peer_result;

/* apply(M, F, Args) on the peer. The terms are encoded before return (the
 * caller's arena can go). timeout_ms: EP_INFINITY for none. Errors:
 * EP_ESTATE (not running), EP_EPEERDOWN, EP_EPEERCRASH, EP_EINVAL, EP_ENOMEM. */
int ep_peer_call(ep_peer *p, ep_term m, ep_term f, ep_term args, uint64_t timeout_ms,
                 ep_peer_call_cb cb, void *ud);
/* apply(M, F, Args) in a new process on the peer; no answer. */
int ep_peer_cast(ep_peer *p, ep_term m, ep_term f, ep_term args);
/* To ! Msg on the peer (To: pid or registered name). No delivery guarantee. */
int ep_peer_send(ep_peer *p, ep_term to, ep_term msg);

typedef void (*ep_peer_stop_cb)(ep_peer *p, void *ud);
/* Stops the peer with its shutdown mode; cb when done (the peer is down).
 * A start still booting is reported EP_ECANCELED and the calls in flight
 * EP_ECLOSED, from the loop, before cb. Stopping a peer that is already
 * down completes at once (cb still from the loop). EP_ESTATE when a stop
 * is already in progress. */
int ep_peer_stop(ep_peer *p, ep_peer_stop_cb cb, void *ud);

/* Releases the handle. A peer that is not down is closed (its connection
 * dropped, which makes it halt) first; memory goes as the loop runs. */
void ep_peer_free(ep_peer *p);

ep_peer_state ep_peer_get_state(const ep_peer *p);
/* The error that brought it down (0 while booting/running). */
int ep_peer_down_err(const ep_peer *p);
/* Human text of the down reason ("tcp_closed", "{exit_status,1}", ...). */
const char *ep_peer_down_reason(const ep_peer *p);
/* The peer's node name ("nonode@nohost" when not distributed), NULL before
 * it booted. */
const char *ep_peer_node(const ep_peer *p);
/* Exit status of the process we started (dist peers, standard_io, and TCP
 * with detached = false: the emulator is our child): 0..255, 128+signal
 * when killed, -1 while running or unknown (a detached TCP peer's launcher
 * exits at once). */
int ep_peer_exit_status(const ep_peer *p);
/* OS pid of the peer's emulator when known (checked to be the process we
 * started), else 0. */
long ep_peer_os_pid(const ep_peer *p);
/* The argument vector used (program first), NULL-terminated. */
const char *const *ep_peer_argv(const ep_peer *p);

/* --- blocking API (controller made with ep_ctl_new(NULL)) --------------------------- */

/* Start and wait for the outcome (whatever wait_boot says; with
 * EP_PEER_WAIT_NONE it returns after the spawn). On error *out is NULL and
 * nothing is left running. */
int ep_peer_start_sync(ep_ctl *c, const ep_peer_opts *o, bool link, ep_peer **out);
/* Why the last ep_peer_start_sync on this controller failed, as the down
 * reason text ("{exit_status,1}", "timeout", ...); "" when none. */
const char *ep_ctl_last_start_reason(const ep_ctl *c);
/* Fills *r with terms copied into a (the caller's arena), as
 * ep_rpc_call_sync does. Returns r->status: the call's, an error from
 * ep_peer_call, EP_ENOMEM when a could not hold the terms, EP_EINVAL
 * without a. */
int ep_peer_call_sync(ep_peer *p, ep_term m, ep_term f, ep_term args, uint64_t timeout_ms, ep_arena *a,
                      ep_result *r);
/* Stops with the shutdown mode and waits. */
int ep_peer_stop_sync(ep_peer *p);

#ifdef __cplusplus
}
#endif
#endif
