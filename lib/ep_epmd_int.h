/* ep_epmd_int.h - the EPMD options behind ep_epmd_uv.h's opaque types, for
 * lib/ (ep_epmd_opts.c makes them; the client, the server and the node read
 * them). Internal, not installed. */
#ifndef EP_EPMD_INT_H
#define EP_EPMD_INT_H

#include "ep_epmd_uv.h"

/* Where and how a client call talks to EPMD (ep__epmd_client_opts_init
 * sets the defaults). */
struct ep_epmd_client_opts {
  char host[256];      /* "" = "localhost" */
  uint16_t port;       /* 0 = ep_epmd_port_from_env() (4369 if that fails) */
  uint64_t timeout_ms; /* default EP_EPMD_CLIENT_TIMEOUT_MS; EP_INFINITY: none */
  const ep_mem *mem;   /* NULL = libc */
};

struct ep_epmd_register_opts {
  ep_epmd_client_opts client; /* host "" = the local EPMD (localhost) */
  char name[256];             /* the node name without '@host' */
  uint16_t port;              /* the node's distribution port (required) */
  uint8_t node_type;          /* 0 = EP_EPMD_NODE_HIDDEN; or NORMAL */
  uint16_t high, low;         /* 0 = 6 and 6 */
  const uint8_t *extra;
  size_t extra_len;
};

struct ep_epmd_server_opts {
  ep_epmd_log_cb log; /* may be NULL */
  void *log_ud;
  uint64_t idle_ms;       /* 0 = EP_LIMIT_EPMD_IDLE_MS: time to send a request */
  size_t max_connections; /* 0 = EP_LIMIT_EPMD_CONNECTIONS */
  /* KILL_REQ: 0 (default) answers "NO" always (an embedded server is not
   * the caller's to kill); 1 answers like epmd: "OK" and stop listening when
   * no node is registered, else "NO". */
  int allow_kill;
  /* epmd's -relaxed_command_check: KILL even with live nodes, and STOP_REQ
   * (otherwise STOP is closed without a reply, as epmd does). */
  int relaxed;
  uint32_t creation_seed; /* 0 = derived from the wall clock, as epmd does */
  const ep_mem *mem;      /* NULL = libc */
};

/* The defaults, for options made on the stack inside lib/. */
void ep__epmd_client_opts_init(ep_epmd_client_opts *o);

#endif
