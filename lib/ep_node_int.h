/* ep_node_int.h - the node runtime's internals, shared by lib/ep_node*.c,
 * lib/ep_rpc.c and lib/ep_io.c. Not installed. */
#ifndef EP_NODE_INT_H
#define EP_NODE_INT_H

#include <uv.h>

#include "ep_deadline_int.h"
#include "ep_node_ctl_int.h"
#include "ep_dist.h"
#include "ep_handshake.h"
#include "ep_io.h"
#include "ep_ioserver_int.h"
#include "ep_map_int.h"
#include "ep_node.h"

typedef struct ep__conn ep__conn;

/* Connection states:
 *
 *   LOOKUP --port--> CONNECTING --tcp--> HANDSHAKE --DONE--> UP --> CLOSING
 *      \________________\__________________\____error________________/
 *   (accepted sockets start in HANDSHAKE)
 */
typedef enum ep__conn_state {
  EP__C_LOOKUP,
  EP__C_CONNECTING,
  EP__C_HANDSHAKE,
  EP__C_UP,
  EP__C_CLOSING
} ep__conn_state;

typedef struct ep__waiter {
  struct ep__waiter *next;
  ep_node_connect_cb cb;
  void *ud;
} ep__waiter;

struct ep__conn {
  ep__conn *next; /* in node->conns */
  ep_node *node;
  char *peer; /* "name@host"; NULL for an accepted socket until its name arrives */
  ep__conn_state state;
  bool outgoing;
  /* It stands for its node (ep__conn_find): ours from the start, an
   * accepted one once authenticated, or once it takes over from our attempt
   * in a simultaneous connect. */
  bool counts;
  bool simultaneous; /* accepted with ok_simultaneous beside our own attempt */
  int error; /* why it is closing */
  struct ep__xport *xp; /* the transport stack's top (lib/ep_xport_int.h); NULL once closing */
  uv_timer_t timer; /* handshake deadline, then ticks */
  bool timer_open;
  void *epmd_req; /* lookup in flight */
  ep_handshake *hs;
  ep_dist_reader *rd;
  ep_dist_writer *aw; /* the atom cache we fill on the other side (NULL: not negotiated) */
  uint64_t flags;
  ep_buf in;
  size_t in_off; /* bytes of `in` already consumed */
  size_t in_need;
  ep_buf out;   /* frames waiting to be written */
  ep_buf wbuf;  /* frames being written */
  bool writing;
  uint64_t last_read, last_write;
  ep__waiter *waiters;
  /* Control messages sent before the handshake told us the flags: kept as
   * structs (terms copied into pre_arena) and encoded once it has. */
  ep_ctrl *pre;
  size_t npre, cappre;
  ep_arena *pre_arena;
  int pending_close; /* handles still to close */
  int hold;          /* frames of ours still using it (see conn_hold) */
  bool free_later;   /* closed while held: freed when the last lets go */
  ep_arena *arena;   /* terms of the message being dispatched */
  ep_arena *tx;      /* control tuples being encoded (reset after each) */
  struct ep__release *lent; /* the lent message being written, released by on_written */
  size_t lent_left;          /* its bytes still to write when the write began */
};

/* A pending ep_node_send_lent completion. */
typedef struct ep__release {
  struct ep__release *next;
  ep_node_send_done_cb cb;
  void *ud;
  int status;
} ep__release;

/* A remote process linked to, or monitoring, one of ours. */
typedef struct ep__rel {
  struct ep__rel *next;
  ep_term pid;  /* remote pid (copied into the proc's arena-less storage below) */
  ep_term ref;  /* monitors: the monitor reference; links: EP_T_NONE */
  ep_arena *arena;
} ep__rel;

struct ep_proc {
  ep_node *node;
  uint32_t id, serial;
  char *name;
  ep_proc_cb cb;
  void *ud;
  ep__rel *links;       /* remote pids linked to us */
  ep__rel *monitored_by;/* remote monitors on us */
  ep__rel *monitors;    /* our monitors on remote processes (ref, target) */
  bool exiting;
};

typedef struct ep__rpc ep__rpc;

struct ep_node {
  uv_loop_t *loop;
  /* The private loop its blocking calls run (lib/ep_sync.c): its own
   * (ep_node_start_sync), a blocking controller's, or NULL (the caller's
   * loop: no blocking calls). */
  struct ep__sloop *sloop;
  bool own_sloop;
  const ep_mem *mem;
  char *name; /* name@host; NULL while the host is being resolved */
  char *host;
  char alive[256]; /* the name part given ("" for the default) */
  uv_getaddrinfo_t resolver; /* a long name's host, at start */
  bool resolving;
  bool client;     /* the client profile: no listener, no EPMD */
  ep__map peers_seen; /* client profile: hash(peer) of every node we were connected to */
  uint64_t setuptime_ms; /* a connection's setup deadline (net_setuptime) */
  ep_node_stats stats;
  bool longnames, ipv6;
  uint8_t cookie[256];
  size_t cookie_len;
  bool cookie_explicit; /* given in the options, not read from ~/.erlang.cookie */
  uint32_t creation;
  unsigned ticktime;
  int epmd_port;
  ep_epmd_mode epmd_mode;
  int listen_port;
  ep_node_event_cb event_cb;
  void *event_ud;
  ep_node_notice_cb notice_cb;
  void *notice_ud;
  ep_node_event_cb watch_cb; /* the peer controller's, beside the user's */
  void *watch_ud;
  ep_node_output_cb output_cb;
  void *output_ud;
  ep_node_start_cb start_cb;
  void *start_ud;
  int started; /* 0 starting, 1 started, <0 failed */
  uv_tcp_t listener;
  bool listener_open;
  void *epmd_reg;    /* registration handle */
  bool reg_pending;  /* its callback is still owed (then a close waits for it) */
  void (*register_cb)(ep_node *n, int status, uint32_t creation);
  void *epmd_server; /* embedded EPMD, when we serve it */
  ep__conn *conns;
  ep__map procs;  /* key (serial << 32 | id) -> ep_proc */
  ep__map names;  /* key hash(name) -> ep_proc */
  ep__map rpcs;   /* key ref counter -> ep__rpc */
  struct ep__inflight *inflight; /* calls in flight per peer (lib/ep_rpc.c) */
  uint32_t max_calls;            /* per peer (EP_LIMIT_CALLS_IN_FLIGHT) */
  size_t send_queue_limit;       /* per connection (EP_LIMIT_SEND_QUEUE) */
  uint32_t next_id, next_serial;
  uint64_t next_ref;
  uint32_t ref_salt;
  ep_proc *net;   /* the node's own pid: sender when none is given */
  ep_proc *gl;    /* group leader for our remote calls: serves io requests */
  ep_proc *rex;   /* registered as rex: gets the replies to our calls */
  bool closing;
  bool debug; /* ERLPEER_DEBUG set: connection failures on stderr */
  ep_node_close_cb close_cb;
  uv_prepare_t closer;   /* finishes the close once every handle is gone */
  uv_timer_t close_timer; /* connections still flushing are cut then */
  int closer_open;        /* of those two, still closing */
  void *close_ud;
  int open_handles;
  uv_timer_t start_timer; /* reports a start failure from the loop */
  int start_error;
  ep_arena *scratch;
  int batch;           /* > 0 while a read is dispatched: sends wait for its end */
  uv_prepare_t flusher; /* writes what such sends left, should the loop poll first */
  /* The node's idle handle, active only while it has something to deliver
   * (never a spin when there is nothing): it runs the done callbacks of
   * lent messages already copied or written, those queued when the turn
   * began (a done that sends again waits for the next turn, after I/O and
   * timers). */
  uv_idle_t releaser;
  /* The deadlines of the node's remote calls, on one timer, and the
   * kicker (ep__kick): lib/ep_deadline_int.h. */
  ep__timers tm;
  ep__release *releases;  /* queued for the next turn */
  ep__release **releases_tail;
  ep__release *releasing; /* this turn's, being run */
  /* TLS distribution (lib/ep_tls_int.h): NULL for plain TCP. */
  struct ep__tls_conf *tls;
  /* The last failed connection's cause in words, beyond its code (a
   * filter's why: OpenSSL's reason); "" when none. */
  char conn_why[600];
};

/* ep_node.c */
ep__conn *ep__conn_find(ep_node *n, const char *peer);
/* The connection to peer, started if there is none (peer normalised). */
int ep__conn_get(ep_node *n, const char *peer, ep__conn **out);
/* Appends a control message to the connection's output (queued while the
 * connection is being set up). */
int ep__conn_send(ep__conn *c, const ep_ctrl *ctrl);
/* The same for ep_node_send_lent: on success rel is owned by the node and its
 * callback will run (after the write when the frame went out from the
 * caller's memory, else from the loop); on error it is the caller's. */
int ep__conn_send_lent(ep__conn *c, const ep_ctrl *ctrl, ep__release *rel);
/* rel's callback runs from the loop (the releaser, next turn), with
 * status 0. */
void ep__release_later(ep_node *n, ep__release *rel);
/* Called where the node may have run a user's callback before the loop
 * polls, from a timer in particular: libuv before 1.45 runs due timers
 * first thing in uv_run, then polls, so a caller's `while (!done)
 * uv_run(loop, UV_RUN_ONCE)` would stay blocked in poll, done already set,
 * until some unrelated event. The node's ep__timers_kick (the deadline
 * timer kicks by itself). */
void ep__kick(ep_node *n);
void ep__conn_fail(ep__conn *c, int err);
/* "name" -> "name@ourhost" into out; 0 or EP_EBADNAME (too long, or not
 * name@host). */
#define EP__NODE_NAME_MAX 600
int ep__full_name(ep_node *n, const char *peer, char *out, size_t cap);
/* The node part of a pid/ref/port as a C string in arena a. */
const char *ep__node_of(ep_term t);

/* ep_node_proc.c */
void ep__dispatch(ep__conn *c, const ep_ctrl *m);
void ep__proc_nodedown(ep_node *n, const char *peer, int reason);
ep_proc *ep__proc_by_pid(ep_node *n, ep_term pid);
bool ep__is_our_pid(ep_node *n, ep_term pid);

/* ep_rpc.c */
/* A message to our rex: true when it was {Ref, Reply} for one of our
 * calls (answered or late). a: the arena the message was decoded into
 * (lives through the callback). */
bool ep__rpc_on_reply(ep_node *n, ep_term msg, ep_arena *a);
void ep__rpc_nodedown(ep_node *n, const char *peer, int reason);
void ep__rpc_close_all(ep_node *n);
/* Classifies erpc:execute_call(Ref, ...)'s exit reason into r (whose
 * arena is set and status 0): what ep_rpc_multi does with each item. */
void ep__rpc_classify(ep_term ref, ep_term exit_reason, ep_result *r);

/* ep_ioserver.c: ep__io_request, the node's group leader (ep_ioserver_int.h) */

/* ep_node_epmd.c (adapter to lib/ep_epmd_uv.h) */
typedef void (*ep__lookup_cb)(ep__conn *c, int status, int port);
int ep__epmd_lookup(ep_node *n, ep__conn *c, const char *host, const char *name, ep__lookup_cb cb);
void ep__epmd_lookup_cancel(ep__conn *c);
typedef void (*ep__register_cb)(ep_node *n, int status, uint32_t creation);
int ep__epmd_register(ep_node *n, ep__register_cb cb);
void ep__epmd_close(ep_node *n);

uint64_t ep__now(ep_node *n);


/* Between the node's files (lib/ep_node.c: options, start, close;
 * lib/ep_conn.c: connection lifecycle and handshake driving;
 * lib/ep_conn_io.c: a connection's reads, writes and ticks;
 * lib/ep_node_builtin.c: the processes every node has). */
void ep__conn_flush(ep__conn *c);
void ep__conn_hold(ep__conn *c);
int ep__conn_queue(ep__conn *c, const ep_ctrl *ctrl);
void ep__conn_unhold(ep__conn *c);
void ep__conn_up(ep__conn *c);
void ep__conn_drive_handshake(ep__conn *c);
void ep__node_flush_all(ep_node *n);
int ep__node_make_procs(ep_node *n);
char *ep__mem_strdup(const ep_mem *m, const char *s);
void ep__conn_on_alloc(void *ud, size_t suggested, uv_buf_t *buf);
void ep__node_on_connection(uv_stream_t *server, int status);
void ep__node_on_flush(uv_prepare_t *p);
void ep__conn_on_hs_timeout(uv_timer_t *t);
void ep__conn_on_read(void *ud, ssize_t nread);
void ep__conn_on_tick(uv_timer_t *t);
void ep__conn_on_written(void *ud, int status);
void ep__conn_process_frames(ep__conn *c);
int ep__random32(uint32_t *v);
void ep__node_run_releases(ep_node *n, bool all);

#endif
