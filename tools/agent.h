/* agent.h - erlpeer agent: a Prometheus exporter that watches BEAM nodes
 * from outside, as a hidden node in the client profile, and loads nothing
 * on them (docs/agent.md).
 *
 * One libuv loop runs everything: the node (ep_node_start on that loop),
 * one interval timer, one retry timer per target, the EPMD listings of
 * --discover, and libmicrohttpd, whose epoll descriptor is watched with
 * uv_poll (agent_http.c). No call blocks: scrapes are ep_rpc_multi
 * requests, answered in callbacks.
 *
 * Files: cmd_agent.c (options, main), agent_target.c (connections,
 * backoff, scrapes, discovery), agent_metrics.c (what is asked of a node
 * and how it is exposed), agent_http.c (GET /metrics), agent_out.c
 * (stdout/stderr without blocking, the textfile). */
#ifndef EP_TOOLS_AGENT_H
#define EP_TOOLS_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ep_mem.h"
#include "ep_node.h"

#define AGENT_VERSION "0.1.0"
#define AGENT_DEFAULT_PORT 9477
#define AGENT_DEFAULT_INTERVAL_MS 15000u
#define AGENT_DEFAULT_NAME "erlpeer_agent"
/* Most peers listed per node (erlang_vm_dist_node_state), and their names' bytes. */
#define AGENT_MAX_PEERS 4096u
#define AGENT_MAX_PEERS_BYTES ((size_t)1 << 20)
/* Most targets one agent watches (command line and discovery together). */
#define AGENT_MAX_TARGETS 4096u
/* Reconnect backoff: the first retry after this, doubling up to the cap,
 * which is the interval (so a node back under its name is up again within
 * one interval) and at most AGENT_BACKOFF_CAP_MS. Each delay is drawn in
 * [delay/2, delay] (jitter), so targets that failed together spread out. */
#define AGENT_BACKOFF_FIRST_MS 100u
#define AGENT_BACKOFF_CAP_MS 30000u
/* --discover lists EPMD every this many intervals; a discovered node
 * missing from this many listings in a row is dropped (grace period). */
#define AGENT_DISCOVER_EVERY 10u
#define AGENT_DISCOVER_GRACE 2u
/* HTTP: simultaneous connections, and seconds a connection may stay idle
 * (a client that connects and never sends is cut after this). */
#define AGENT_HTTP_MAX_CONNECTIONS 64u
#define AGENT_HTTP_IDLE_S 10u
/* --json output waiting for a slow reader beyond this is dropped. */
#define AGENT_OUT_MAX_QUEUED ((size_t)4 << 20)
/* --top-processes (agent_top.c): at most this N; a node with more
 * processes than AGENT_TOP_MAX_PIDS is not scanned; process_info is asked
 * AGENT_TOP_BATCH pids per call, AGENT_TOP_WINDOW calls in flight; the
 * default time budget of a scan; bytes of a name label. */
#define AGENT_TOP_MAX 20u
#define AGENT_TOP_MAX_PIDS 262144u
#define AGENT_TOP_BATCH 1000u
#define AGENT_TOP_WINDOW 2u
#define AGENT_TOP_DEFAULT_BUDGET_MS 1000u
#define AGENT_TOP_NAME_MAX 128u

typedef enum agent_names { AGENT_NAMES_CURRENT, AGENT_NAMES_CLASSIC } agent_names;

/* --- metrics (agent_metrics.c) ------------------------------------------------- */

/* One value read from a node. The table in agent_metrics.c says which
 * family, labels and BEAM call each comes from. */
typedef enum agent_metric {
  AM_PROCESSES, AM_PROCESS_LIMIT, AM_PORTS, AM_PORT_LIMIT, AM_ATOMS, AM_ATOM_LIMIT,
  AM_ETS_TABLES, AM_ETS_LIMIT,
  AM_MEM_SYSTEM, AM_MEM_PROCESSES,
  AM_MEM_SYS_ATOM, AM_MEM_SYS_BINARY, AM_MEM_SYS_CODE, AM_MEM_SYS_ETS, AM_MEM_SYS_OTHER,
  AM_MEM_PROC_USED, AM_MEM_PROC_FREE, AM_MEM_ATOM_USED, AM_MEM_ATOM_FREE,
  AM_BYTES_OUT, AM_BYTES_IN, AM_CONTEXT_SWITCHES, AM_GCS, AM_WORDS_RECLAIMED, AM_BYTES_RECLAIMED,
  AM_REDUCTIONS, AM_RUN_QUEUES, AM_DIRTY_CPU_RUN_QUEUE, AM_DIRTY_IO_RUN_QUEUE,
  AM_RUNTIME_MS, AM_WALLCLOCK_MS,
  AM_SCHEDULERS, AM_SCHEDULERS_ONLINE, AM_DIRTY_CPU_SCHEDULERS, AM_DIRTY_CPU_SCHEDULERS_ONLINE,
  AM_DIRTY_IO_SCHEDULERS, AM_LOGICAL_PROCESSORS, AM_LOGICAL_PROCESSORS_AVAILABLE,
  AM_LOGICAL_PROCESSORS_ONLINE, AM_THREAD_POOL_SIZE, AM_WORDSIZE, AM_SMP_SUPPORT, AM_THREADS,
  AM_TIME_CORRECTION,
  AM_COUNT
} agent_metric;

/* What one scrape read: values[m] is valid when has[m]. */
typedef struct agent_sample {
  int64_t values[AM_COUNT];
  bool has[AM_COUNT];
  char otp_release[16]; /* "" until read */
  /* erlang:nodes(connected): the node's peers, NUL-separated (malloc'd) */
  char *peers;
  size_t peers_len;
  bool has_peers;
} agent_sample;
/* Frees what a sample holds (its peers). */
void agent_sample_clear(agent_sample *s);

/* Error kinds of erlpeer_scrape_errors_total{reason}. */
typedef enum agent_err {
  AE_AUTH, AE_TIMEOUT, AE_REFUSED, AE_NOT_REGISTERED, AE_NO_EPMD, AE_NO_HOST, AE_NOT_ALLOWED,
  AE_NODEDOWN, AE_BADRPC, AE_TLS, AE_OTHER, AE_COUNT
} agent_err;
/* Text output (agent_metrics.c): printf onto b (false when out of
 * memory), and a label value (or JSON string body) with backslash, quote
 * and newline escaped. */
bool agent_bprintf(ep_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void agent_escape(ep_buf *b, const char *s);
const char *agent_err_name(agent_err e);
agent_err agent_err_of(int status);

/* The request of a scrape, built once: the items that change (every
 * scrape) and those that do not while a node runs (limits, scheduler
 * counts, word size: asked once per connection, with its first scrape). */
typedef struct agent_items agent_items;
agent_items *agent_items_new(void);
void agent_items_free(agent_items *it);
/* items[0..*n) for a scrape; with_static adds the once-per-connection ones. */
const ep_rpc_item *agent_items_get(const agent_items *it, bool with_static, size_t *n);
/* Reads the answers of agent_items_get(it, with_static) into s (values of
 * items that raised are left out). */
void agent_items_read(const agent_items *it, bool with_static, const ep_rpc_multi_result *r, agent_sample *s);

/* --- the agent ---------------------------------------------------------------------- */

typedef struct agent agent;
typedef struct agent_target agent_target;

typedef enum agent_target_state { AT_DOWN, AT_CONNECTING, AT_UP } agent_target_state;

struct agent_target {
  agent *ag;
  char *name; /* "name@host" */
  agent_target_state state;
  bool scraping;      /* a request in flight */
  bool have;          /* the last scrape succeeded: sample is current */
  bool have_static;   /* the once-per-connection values are in sample */
  agent_sample sample;
  double duration_s; /* of the last successful scrape */
  uint64_t scrapes;  /* successful scrapes */
  uint64_t errors[AE_COUNT];
  int logged; /* what was logged last: 1 up, 0 nothing yet, -1-agent_err a failure */
  uint64_t backoff_ms;
  uint64_t started_ns;
  uv_timer_t retry;
  bool retry_open;
  unsigned pending; /* callbacks owed to us (connect, scrape) */
  /* discovery */
  int discover_host; /* -1: named on the command line */
  unsigned missing;  /* listings in a row without it */
  bool seen;         /* in the listing being read */
  bool in_round;     /* its scrape belongs to the current round */
  bool removed;
  struct agent_top *top; /* --top-processes: the scan and its last result */
};

typedef struct agent_opts {
  const char *listen; /* "ADDR:PORT" */
  uint64_t interval_ms;
  bool json;
  const char *textfile;
  agent_names names;
  const char **discover; /* hosts */
  size_t n_discover;
  const char **include, **exclude; /* globs for discovered names */
  size_t n_include, n_exclude;
  unsigned top_n;         /* --top-processes (0: off) */
  uint64_t top_budget_ms; /* --top-budget */
} agent_opts;

typedef struct agent_http agent_http;
typedef struct agent_out agent_out;

struct agent {
  uv_loop_t *loop;
  ep_node *node;
  agent_opts o;
  char host[256]; /* this node's host part: targets named without @host get it */
  agent_items *items;
  agent_target **targets;
  size_t n_targets, cap_targets;
  uv_timer_t tick;
  uint64_t ticks;
  unsigned round_pending; /* scrapes of the current round still in flight */
  bool round_open;
  struct agent_disc *disc; /* one per --discover host */
  int exit_code;
  uv_signal_t sigint, sigterm;
  agent_http *http;
  agent_out *out; /* stdout, for --json */
  agent_out *err; /* stderr, for the log */
  bool full_logged; /* AGENT_MAX_TARGETS reached, said once */
  bool started; /* the node is up: targets are dialled */
  bool stopping;
  int textfile_err; /* last errno of writing the textfile (logged once per change) */
};

/* agent_target.c */
agent_target *agent_target_add(agent *ag, const char *name, int discover_host);
void agent_target_remove(agent_target *t);
void agent_on_node_event(ep_node *n, ep_node_event_kind kind, const char *peer, int reason, void *ud);
void agent_tick(agent *ag);    /* one interval: scrape every target that is up */
void agent_discover(agent *ag); /* one EPMD listing per --discover host */
void agent_targets_start(agent *ag); /* the node is up: dial every target */
void agent_targets_close(agent *ag);
void agent_discover_cancel(agent *ag); /* pending listings end (ECANCELED) */
/* The round of scrapes begun by agent_tick is over: outputs are written. */
void agent_round_done(agent *ag);

/* agent_metrics.c: the exposition of every target, in the text format
 * (0.0.4) into *b; false when out of memory. */
bool agent_render_text(const agent *ag, ep_buf *b);
/* One JSON object (one line) for target t. */
bool agent_render_json(const agent *ag, const agent_target *t, uint64_t time_ms, ep_buf *b);

/* agent_top.c: the top-N processes of a target (--top-processes). After
 * a successful scrape: true when a scan runs, and agent_scrape_done(t) is
 * called once it ends; false when there is none to run. */
bool agent_top_start(agent_target *t);
void agent_top_free(agent_target *t);
void agent_top_forget(agent_target *t); /* a failed scrape: the last scan is not shown */
void agent_top_render_text(const agent *ag, ep_buf *b);
void agent_top_render_json(const agent_target *t, ep_buf *b); /* ,"top_processes":{...} */
/* agent_target.c: t's scrape is over (its round's outputs may follow). */
void agent_scrape_done(agent_target *t);

/* agent_http.c: listens on ag->o.listen; prints the bound address. */
int agent_http_start(agent *ag, char *bound, size_t cap);
void agent_http_close(agent *ag);

/* agent_out.c */
agent_out *agent_out_new(uv_loop_t *loop, int fd);
/* Queues len bytes (copied) for the descriptor. may_drop: a log line,
 * dropped (and counted) when the descriptor would block; otherwise queued
 * up to AGENT_OUT_MAX_QUEUED, then dropped and counted. Never blocks. */
void agent_out_write(agent_out *o, const char *buf, size_t len, bool may_drop);
void agent_out_close(agent_out *o);
/* printf-like log line on the agent's stderr ("<UTC time> erlpeer agent: ...\n"). */
void agent_log(agent *ag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes data to path atomically (path.tmp.PID, then rename). 0 or -errno. */
int agent_write_file_atomic(const char *path, const void *data, size_t len);

uint64_t agent_now_ms(const agent *ag);

#endif
