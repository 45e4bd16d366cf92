/* ep_epmd_uv.h - EPMD on libuv: an asynchronous client (port_please, names,
 * register), synchronous wrappers for plain programs, and an embedded
 * EPMD-compatible server.
 *
 * The wire format lives in epmd/ep_epmd.h (sans-I/O), the server's registry
 * and per-connection state machine in epmd/ep_epmd_registry.h; this module
 * only pumps bytes between sockets and those cores and arms the timers.
 *
 * The one rule (libuv's): when a function that takes a callback returns an
 * error, the callback is never called; when it returns 0, the callback is
 * called exactly once, later, from the loop (never from inside the call).
 *
 * Errors every client call can report through its callback:
 *   EP_ENOHOST      the host name does not resolve
 *   EP_ENOEPMD      nothing listens on the EPMD port (every address refused)
 *   EP_ENOTREG      port_please: the node is not registered
 *   EP_ENAMETAKEN   register: the name is already registered
 *   EP_EEPMDREFUSED EPMD closed the connection without answering
 *   EP_EEPMDREPLY   the reply is malformed or truncated
 *   EP_ETIMEDOUT    no complete reply within the timeout
 *   EP_ECANCELED    the request or registration was closed before it finished
 *   other system errors mapped by ep_err_from_errno (EP_EHOSTUNREACH, ...)
 */
#ifndef EP_EPMD_UV_H
#define EP_EPMD_UV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/* Only the loop type is needed: declared here rather than by including
 * uv.h, so a consumer's compiler options need not suit libuv's headers
 * (C11 allows this typedef to be repeated by uv.h). */
typedef struct uv_loop_s uv_loop_t;

#include "ep_epmd.h"
#include "ep_mem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default time a client call may take in total (resolve, connect, reply). */
#define EP_EPMD_CLIENT_TIMEOUT_MS 10000u

/* The EPMD port as erl finds it: ERL_EPMD_PORT from the environment when set
 * (erl passes it on as -epmd_port and fails to start when it is not a
 * number), else 4369. Returns 0, or EP_EINVAL when ERL_EPMD_PORT is set but is
 * not a decimal number in 1..65535 (*port is then left untouched). */
int ep_epmd_port_from_env(uint16_t *port);

/* Where and how a client call talks to EPMD: opaque, like ep_node_opts.
 * Every call that takes one copies what it needs before it returns (the
 * options may be freed then); NULL options take every default. */
typedef struct ep_epmd_client_opts ep_epmd_client_opts;
/* NULL when out of memory. */
ep_epmd_client_opts *ep_epmd_client_opts_new(void);
void ep_epmd_client_opts_free(ep_epmd_client_opts *o);
/* Host name (short or long) or IPv4/IPv6 literal, copied; NULL or ""
 * (default): "localhost". EP_EINVAL when longer than 255 bytes. */
int ep_epmd_client_opts_set_host(ep_epmd_client_opts *o, const char *host);
/* 0 (default): ep_epmd_port_from_env() (4369 if that fails). */
int ep_epmd_client_opts_set_port(ep_epmd_client_opts *o, uint16_t port);
/* The whole call's time (resolve, connect, reply): default
 * EP_EPMD_CLIENT_TIMEOUT_MS; EP_INFINITY (ep_node.h, UINT64_MAX): none;
 * 0 a deadline already due. */
int ep_epmd_client_opts_set_timeout(ep_epmd_client_opts *o, uint64_t ms);
/* NULL (default): libc. */
int ep_epmd_client_opts_set_mem(ep_epmd_client_opts *o, const ep_mem *mem);

/* A pending port_please or names call, for cancellation. It belongs to the
 * library and is freed once the callback has returned: do not use it after
 * the callback has been called. */
typedef struct ep_epmd_req ep_epmd_req;

/* Cancels a pending call: its callback is called with EP_ECANCELED (from the
 * loop, not from inside this call). Valid only until the callback has been
 * called (cancel, then let the loop deliver it). */
void ep_epmd_req_cancel(ep_epmd_req *req);

/* What PORT_PLEASE2 tells about a node. Borrowed by the callback. */
typedef struct ep_epmd_port_info {
  uint16_t port;      /* the node's distribution port */
  uint8_t node_type;  /* EP_EPMD_NODE_NORMAL (77) or EP_EPMD_NODE_HIDDEN (72) */
  uint8_t protocol;   /* 0 = TCP/IP */
  uint16_t high, low; /* distribution versions */
  const char *name;   /* NUL-terminated */
  const uint8_t *extra;
  size_t extra_len;
} ep_epmd_port_info;

/* status 0: info is valid during the call. Otherwise info is NULL. */
typedef void (*ep_epmd_port_cb)(int status, const ep_epmd_port_info *info, void *ud);

/* Asks the EPMD on opts->host for the port of node `name` (the part before
 * '@'). *req (may be NULL) receives a handle for ep_epmd_req_cancel.
 * Returns 0, or EP_EINVAL (NULL loop/cb), EP_EBADNAME (empty, longer than
 * 255 characters, or containing NUL or '@'), EP_ENOMEM, or a libuv error. */
int ep_epmd_port_please(uv_loop_t *loop, const ep_epmd_client_opts *opts, const char *name, ep_epmd_port_cb cb,
                        void *ud, ep_epmd_req **req);

/* One line of a NAMES reply. */
typedef struct ep_epmd_name {
  const char *name; /* NUL-terminated */
  uint16_t port;
} ep_epmd_name;

/* status 0: names[0..n) and epmd_port (the port EPMD says it listens on)
 * are valid during the call. */
typedef void (*ep_epmd_names_cb)(int status, const ep_epmd_name *names, size_t n, uint32_t epmd_port, void *ud);

/* Lists the nodes registered in the EPMD on opts->host. Same errors as
 * ep_epmd_port_please (without EP_EBADNAME). */
int ep_epmd_names(uv_loop_t *loop, const ep_epmd_client_opts *opts, ep_epmd_names_cb cb, void *ud, ep_epmd_req **req);

/* A registration: it lives as long as this handle (the TCP connection to
 * EPMD) stays open. */
typedef struct ep_epmd_reg ep_epmd_reg;

/* What to register: opaque. name (the node name without '@host') and port
 * (the node's distribution port) are required. */
typedef struct ep_epmd_register_opts ep_epmd_register_opts;
/* NULL when out of memory. */
ep_epmd_register_opts *ep_epmd_register_opts_new(void);
void ep_epmd_register_opts_free(ep_epmd_register_opts *o);
/* Copied; EP_EINVAL when longer than 255 bytes (ep_epmd_register checks
 * the rest: EP_EBADNAME). */
int ep_epmd_register_opts_set_name(ep_epmd_register_opts *o, const char *name);
int ep_epmd_register_opts_set_port(ep_epmd_register_opts *o, uint16_t port);
/* EP_EPMD_NODE_HIDDEN (default) or EP_EPMD_NODE_NORMAL. */
int ep_epmd_register_opts_set_node_type(ep_epmd_register_opts *o, uint8_t node_type);
/* Distribution versions: 0 (default) for 6. */
int ep_epmd_register_opts_set_versions(ep_epmd_register_opts *o, uint16_t high, uint16_t low);
/* Extra bytes (borrowed until ep_epmd_register returns). */
int ep_epmd_register_opts_set_extra(ep_epmd_register_opts *o, const uint8_t *extra, size_t len);
/* How to reach EPMD (copied; NULL: the defaults, the local EPMD). */
int ep_epmd_register_opts_set_client(ep_epmd_register_opts *o, const ep_epmd_client_opts *client);

/* Called once: status 0 and the creation EPMD assigned (the 32-bit one from
 * ALIVE2_X_RESP, or the 16-bit one from a legacy ALIVE2_RESP), or an error
 * (EP_ENAMETAKEN when the name is taken). After an error the registration is
 * dead; the handle must still be closed. */
typedef void (*ep_epmd_register_cb)(ep_epmd_reg *reg, int status, uint32_t creation, void *ud);

/* Called at most once, after a successful registration, when EPMD drops the
 * connection (EPMD stopped, or `epmd -stop`): the registration is gone. */
typedef void (*ep_epmd_lost_cb)(ep_epmd_reg *reg, int status, void *ud);

/* Registers opts->name with EPMD. *out receives the handle before this
 * returns (on success). Returns 0, or EP_EINVAL, EP_EBADNAME, EP_ENOMEM,
 * a libuv error; then no callback and no handle. lost may be NULL. */
int ep_epmd_register(uv_loop_t *loop, const ep_epmd_register_opts *opts, ep_epmd_register_cb cb,
                     ep_epmd_lost_cb lost, void *ud, ep_epmd_reg **out);

/* Unregisters (closes the connection) and frees the handle once libuv is
 * done with it. If the registration was still pending, its callback is
 * called with EP_ECANCELED first (from the loop). No callback runs after the
 * ones already promised. */
void ep_epmd_reg_close(ep_epmd_reg *reg);

/* --- synchronous wrappers: run a private loop until done -------------------- */

/* Copies the answer into *out. name and extra in *out point into storage
 * owned by out->... : free nothing; they stay valid until the next call from
 * the same thread. Returns 0 or an error as listed above. */
int ep_epmd_port_please_sync(const ep_epmd_client_opts *opts, const char *name, ep_epmd_port_info *out);

/* *names receives a malloc'd array (one allocation, strings included; free
 * with ep_epmd_names_free). Returns 0 or an error as listed above. */
int ep_epmd_names_sync(const ep_epmd_client_opts *opts, ep_epmd_name **names, size_t *n, uint32_t *epmd_port);
void ep_epmd_names_free(ep_epmd_name *names);

/* --- the embedded server ------------------------------------------------------------ */

typedef struct ep_epmd_server ep_epmd_server;

typedef enum ep_epmd_event_kind {
  EP_EPMD_EV_REGISTERED,   /* name, port, creation */
  EP_EPMD_EV_UNREGISTERED, /* name, port, creation: the connection closed */
  EP_EPMD_EV_REFUSED,      /* name: ALIVE2 refused (taken or invalid) */
  EP_EPMD_EV_CUT,          /* error: a client was cut off (garbage, timeout) */
  EP_EPMD_EV_KILLED        /* a KILL_REQ was accepted and answered "OK": the
                              owner should now close the server (the CLI exits) */
} ep_epmd_event_kind;

typedef struct ep_epmd_event {
  ep_epmd_event_kind kind;
  const char *name; /* NULL unless the kind says otherwise */
  uint16_t port;
  uint32_t creation;
  int error; /* EP_EV_CUT: why */
} ep_epmd_event;

/* Called from the loop, synchronously with the event. It may call
 * ep_epmd_server_close (the close then happens once the current request has
 * been handled). */
typedef void (*ep_epmd_log_cb)(const ep_epmd_event *ev, void *ud);

/* How the embedded server runs: opaque; NULL options take every default. */
typedef struct ep_epmd_server_opts ep_epmd_server_opts;
/* NULL when out of memory. */
ep_epmd_server_opts *ep_epmd_server_opts_new(void);
void ep_epmd_server_opts_free(ep_epmd_server_opts *o);
/* cb may be NULL (default: no log). */
int ep_epmd_server_opts_set_log(ep_epmd_server_opts *o, ep_epmd_log_cb cb, void *ud);
/* Milliseconds a client has to send a request: 0 (default)
 * EP_LIMIT_EPMD_IDLE_MS; EP_INFINITY: no limit. */
int ep_epmd_server_opts_set_idle(ep_epmd_server_opts *o, uint64_t ms);
/* 0 (default): EP_LIMIT_EPMD_CONNECTIONS. */
int ep_epmd_server_opts_set_max_connections(ep_epmd_server_opts *o, size_t n);
/* KILL_REQ: false (default) answers "NO" always (an embedded server is not
 * the caller's to kill); true answers like epmd: "OK" and stop listening
 * when no node is registered, else "NO". */
int ep_epmd_server_opts_set_allow_kill(ep_epmd_server_opts *o, bool on);
/* epmd's -relaxed_command_check: KILL even with live nodes, and STOP_REQ
 * (otherwise STOP is closed without a reply, as epmd does). */
int ep_epmd_server_opts_set_relaxed(ep_epmd_server_opts *o, bool on);
/* 0 (default): derived from the wall clock, as epmd does. */
int ep_epmd_server_opts_set_creation_seed(ep_epmd_server_opts *o, uint32_t seed);
/* NULL (default): libc. */
int ep_epmd_server_opts_set_mem(ep_epmd_server_opts *o, const ep_mem *mem);

/* Listens on address:port. address NULL = every interface (IPv4 and IPv6,
 * as epmd); otherwise a comma-separated list of IP literals, plus loopback
 * (as epmd -address). port 0 picks a free port (ep_epmd_server_port tells).
 * *out is set on success. Returns 0, or EP_EINVAL (bad address), EP_ENOMEM,
 * EP_EADDRINUSE, or another mapped system error. */
int ep_epmd_server_start(uv_loop_t *loop, const char *address, uint16_t port, const ep_epmd_server_opts *opts,
                         ep_epmd_server **out);

/* The port the server listens on. */
uint16_t ep_epmd_server_port(const ep_epmd_server *s);

/* Nodes registered right now. */
size_t ep_epmd_server_count(const ep_epmd_server *s);

/* Connections open right now (registrations and pending requests). */
size_t ep_epmd_server_connections(const ep_epmd_server *s);

/* Stops listening, closes every connection (ending every registration) and
 * frees the server once libuv is done; closed_cb (may be NULL) is called
 * then, from the loop. */
void ep_epmd_server_close(ep_epmd_server *s, void (*closed_cb)(void *ud), void *ud);

#ifdef __cplusplus
}
#endif
#endif
