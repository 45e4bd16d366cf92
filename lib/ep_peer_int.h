/* ep_peer_int.h - inside the peer controller: the peer record and the
 * interface every control connection implements.
 *
 * lib/ep_peer.c is the connection-independent part (options, command line,
 * process, state machine, calls and their timeouts, I/O relay, shutdown
 * waits, blocking API). A control connection plugs in with ep__peer_conn_vt:
 * lib/ep_peer_alt.c implements TCP and standard_io; the distribution
 * connection (on the hidden node runtime) implements the same table.
 *
 * State machine of a peer (p->state, p->phase):
 *
 *   BOOTING --{started, Node}--> RUNNING --stop--> (STOPPING) --> DOWN
 *      |                            |
 *      +--exit/close/timeout-->  DOWN (boot failed)   +--lost--> DOWN (peer_down)
 */
#ifndef EP_PEER_INT_H
#define EP_PEER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "ep_alt.h"
#include "ep_deadline_int.h"
#include "ep_mem.h"
#include "ep_node.h"
#include "ep_peer.h"
#include "ep_term.h"

/* A NULL-terminated string vector; its strings and array come from mem
 * (NULL: libc, as in the options a user builds). */
typedef struct ep__strv {
  char **v;
  size_t n, cap;
  const ep_mem *mem;
} ep__strv;

int ep__strv_push(ep__strv *s, const char *str);
/* A copy of s from mem (NULL for s NULL, or on allocation failure). */
char *ep__peer_strdup(const ep_mem *mem, const char *s);
void ep__strv_free(ep__strv *s);

struct ep_peer_args {
  ep__strv v;
  int err;
};

struct ep_peer_opts {
  const ep_mem *mem; /* of the strings below: NULL (libc) in a user's options, the controller's in a peer's copy */
  char *name, *host;
  bool longnames;
  bool conn_set;
  ep_peer_conn conn;
  char *tcp_ip;
  int tcp_port;
  char *prog;
  ep__strv pre_args, args, env; /* env: "K=V" */
  uint64_t wait_boot; /* ms, EP_INFINITY or EP_PEER_WAIT_NONE */
  uint64_t accept_ms;   /* EP_INFINITY: no accept timeout */
  ep_peer_shutdown shutdown;
  uint64_t shutdown_ms; /* EP_INFINITY: wait for ever */
  ep_peer_down_mode peer_down;
  bool detached;
  ep_peer_args_fn post_fn;
  void *post_ud;
  ep_peer_output_cb output_cb;
  void *output_ud;
  ep_peer_message_cb message_cb;
  void *message_ud;
  ep_peer_state_cb state_cb;
  void *state_ud;
};

/* dst's strings come from mem. */
int ep__peer_opts_copy(ep_peer_opts *dst, const ep_peer_opts *src, const ep_mem *mem);
void ep__peer_opts_clear(ep_peer_opts *o);

typedef struct ep__call ep__call;
struct ep__call {
  ep__deadline dl; /* first: in the controller's ep__timers while it has a timeout */
  ep_peer *peer;
  ep__call *next, *prev;
  uint64_t seq;
  ep_peer_call_cb cb;
  void *ud;
  bool internal; /* the boot-time os:getpid() */
};

/* The control-connection interface. Every function gets the peer; errors
 * are ep_err codes. */
typedef struct ep__peer_conn_vt {
  const char *name;
  /* The peer runs in a session (and process group) of its own even without
   * an exec wrapper (the distribution's, as erl -detached would). */
  bool own_session;
  /* Before the spawn: set up what the peer will connect to and append the
   * start arguments (-user peer -origin ...) to argv. */
  int (*prepare)(ep_peer *p, ep__strv *argv);
  /* After a successful spawn (pipes are open; start reading). */
  int (*spawned)(ep_peer *p);
  /* Control messages. */
  int (*call)(ep_peer *p, uint64_t seq, ep_term m, ep_term f, ep_term args);
  int (*cast)(ep_peer *p, ep_term m, ep_term f, ep_term args);
  int (*send)(ep_peer *p, ep_term to, ep_term msg);
  int (*io_reply)(ep_peer *p, ep_term from, ep_term ref, ep_term reply);
  /* Drops the connection (idempotent). The peer halts when it notices. */
  void (*close)(ep_peer *p);
  /* 1 while the connection is up. */
  int (*is_open)(ep_peer *p);
  /* Optional: starts a shutdown the connection's own way (the distribution
   * calls erlang:halt() for HALT, init:stop() for STOP, disconnects for
   * CLOSE); then ep_peer.c waits as for the alternative connections (process
   * gone, connection closed, timeout -> kill). NULL: the alternative
   * connections' way (close; close; cast init:stop). */
  int (*shutdown)(ep_peer *p, ep_peer_shutdown mode);
  /* Closes the connection's libuv handles; calls ep__peer_handle_closed once
   * per handle it closes. Returns how many it closes. */
  int (*close_handles)(ep_peer *p);
  /* Optional: the peer's fd 0 and 1 (io[0], io[1]) when the connection is
   * its standard I/O; called between prepare and the spawn. */
  void (*stdio)(ep_peer *p, uv_stdio_container_t *io);
  /* Optional: frees the connection's state once every handle of the peer
   * has closed. */
  void (*release)(ep_peer *p);
} ep__peer_conn_vt;

extern const ep__peer_conn_vt ep__peer_tcp_vt;
extern const ep__peer_conn_vt ep__peer_stdio_vt;
extern const ep__peer_conn_vt ep__peer_dist_vt; /* lib/ep_peer_dist.c */

typedef enum ep__phase {
  EP__PH_BOOT = 0, /* spawned, waiting for {started, Node} */
  EP__PH_PID,      /* started; asking os:getpid() */
  EP__PH_RUN,
  EP__PH_STOPPING,
  EP__PH_DOWN
} ep__phase;

struct ep_ctl {
  uv_loop_t *loop;
  const ep_mem *mem; /* every allocation of the controller and its peers (never NULL) */
  struct ep__sloop *sloop; /* a blocking controller's private loop (lib/ep_sync.c); NULL: the caller's */
  bool freed;
  size_t npeers; /* peers still referencing this controller */
  ep_peer *peers;
  char last_reason[160]; /* of the last failed ep_peer_start_sync */
  /* lib/ep_ctl_node.c: the hidden node dist peers dial */
  ep_node *node;
  bool own_node;         /* started by the controller: closed with it */
  bool node_default;     /* started on its own, for its dist peers: may be restarted in another mode */
  bool node_busy;        /* a default node is being started or restarted: dist peers wait */
  ep_node *node_starting, *node_closing;
  uv_timer_t *node_retry;
  int node_tries;
  bool want_longnames, want_ipv6;
  ep_node_notice_cb notice_cb; /* handed to the default node */
  void *notice_ud;
  /* Its peers' call deadlines on one timer, and the kicker every timer of
   * its peers uses (lib/ep_deadline_int.h). Made with the first peer,
   * closed once the controller is freed and no peer is left. */
  ep__timers tm;
};

/* lib/ep_peer.c */
/* A controller on loop (sloop: the private loop it runs on, or NULL),
 * allocating from mem (NULL: libc). */
ep_ctl *ep__ctl_create(uv_loop_t *loop, struct ep__sloop *sloop, const ep_mem *mem);
/* The asynchronous part of ep_ctl_free: linked peers are freed, the
 * controller goes once no peer refers to it. */
void ep__ctl_release(ep_ctl *c);
/* A dist peer that waited for the node: launched now, or failed with
 * status (from the loop). */
void ep__peer_node_ready(ep_peer *p, int status);

/* lib/ep_ctl_node.c */
#define EP__NODE_PENDING 1
/* 0: c->node serves p now, in p's naming mode; EP__NODE_PENDING: p waits
 * (p->awaiting_node) and ep__peer_node_ready(p, status) runs from the loop
 * once the node is up or failed; else an error (EP_ENEEDNODE,
 * EP_EBADNAME with c->last_reason, ...). */
int ep__ctl_node_for(ep_ctl *c, ep_peer *p);
/* A node started for the controller by its blocking ep_ctl_start_node. */
int ep__ctl_adopt_node(ep_ctl *c, ep_node *n);
/* The controller goes: a start in progress is cancelled, its own node
 * closes (from the loop), a node it was given is let go. */
void ep__ctl_node_abandon(ep_ctl *c);

/* lib/ep_peer_dist.c */
/* reason: why a connection went down (EP_ENOMEM: it could not read a frame). */
void ep__peer_dist_node_event(ep_ctl *c, ep_node_event_kind k, const char *peer, int reason);

struct ep_peer {
  ep_ctl *ctl;
  const ep_mem *mem; /* the controller's */
  ep_peer *next_in_ctl, *prev_in_ctl;
  uv_loop_t *loop;
  ep_peer_opts o;
  const ep__peer_conn_vt *vt;
  void *conn_state; /* the connection's own state (the dist connection's) */
  bool linked, freed, crashed, start_cb_done;
  bool awaiting_node; /* a dist peer waiting for the controller's node (ep_ctl_node.c) */
  bool launched;      /* its command line is built and the process spawned */
  ep_peer_state state;
  ep__phase phase;
  int down_err;
  char down_reason[160];
  char *node;
  char token[64]; /* EP_PEER_TOKEN value: proves an OS pid is ours */
  char **argv;
  int exit_status;
  long os_pid;

  /* process */
  uv_process_t proc;
  bool proc_alive, proc_started;
  uv_pipe_t out_err; /* stderr (standard_io, attached TCP) */
  bool err_open;
  uv_pipe_t out_std; /* stdout of an attached TCP peer */
  bool std_open;
  /* Write end of an attached TCP peer's stdin pipe (-1: none). Never
   * written: held so the peer's terminal (OTP 27+ starts one, a shell
   * unless -noshell) waits for input instead of reading EOF, which halts
   * the node. Closed when the peer is reaped or stopped. */
  int stdin_wfd;

  /* pidfd of a detached peer's emulator, for waiting on its exit */
  int pidfd;
  uv_poll_t pidpoll;
  bool pidpoll_active, pid_gone;

  /* timers (the calls' deadlines are the controller's: ep_ctl.tm) */
  uv_timer_t t_boot, t_stop, t_defer;
  int open_handles;

  /* What the control connection reported (its own state is behind
   * conn_state): it connected; standard_io: the peer's stdout ended. */
  bool connected, out_eof;

  /* calls */
  uint64_t next_seq;
  ep__call *calls_head, *calls_tail;
  size_t ncalls;
  ep__call *cancelled; /* closed by a stop; their callbacks run from the loop */

  /* start / stop */
  ep_peer_start_cb start_cb;
  void *start_ud;
  ep_peer_stop_cb stop_cb;
  void *stop_ud;
  bool stop_pending_cb;
  bool defer_start_cb;
  int defer_start_err;
};

/* From a connection to the core. */
/* A decoded control message (started, reply, io_request, message) whose
 * terms live in a, an arena of the peer's allocator. The core keeps
 * nothing in a once it returns (callbacks borrow the terms): the connection
 * resets a and uses it again. */
void ep__peer_on_event(ep_peer *p, const ep_alt_msg *m, ep_arena *a);
void ep__peer_on_output(ep_peer *p, const char *text, size_t n);
void ep__peer_on_connected(ep_peer *p);
/* The connection was lost or is unusable (err: EP_EPEERDOWN for a plain
 * close, EP_ECRC/EP_EALTFRAME/EP_ETOOBIG for garbage), with a reason text. */
void ep__peer_on_conn_lost(ep_peer *p, int err, const char *reason);
void ep__peer_handle_closed(uv_handle_t *h);

/* Between the controller's files (lib/ep_peer.c: the controller, a peer's
 * lifecycle and shutdown; lib/ep_peer_opts.c: options and names;
 * lib/ep_peer_spawn.c: the command line, the process and its exit;
 * lib/ep_peer_call.c: control messages from the peer, and calls). */
void ep__peer_become_running(ep_peer *p);
void ep__peer_check_stop(ep_peer *p);
void ep__peer_close_stdin(ep_peer *p);
void ep__peer_free_call(ep_peer *p, ep__call *c);
void ep__peer_go_down(ep_peer *p, int err, const char *reason);
void ep__peer_kill_process(ep_peer *p);
void ep__peer_maybe_release(ep_peer *p);
void ep__peer_on_defer(uv_timer_t *t);
void ep__peer_on_stop_timeout(uv_timer_t *t);
bool ep__peer_own_group(const ep_peer *p);
void ep__peer_kick(ep_peer *p);

#endif
