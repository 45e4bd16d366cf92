/* ep_epmd_registry.h - the embedded EPMD server's core, sans-I/O: the
 * registry of nodes and one state machine per client connection.
 *
 * The driver (lib/ep_epmd_server.c) accepts a connection, creates an
 * ep_epmd_conn, feeds it every byte read, writes what it says to write and
 * closes when it says so. The core never reads a clock or randomness: the
 * creation seed is passed in, idle timeouts are the driver's.
 *
 * Creation, as epmd assigns it: each name has a 32-bit counter. A name never
 * seen (or forgotten) starts at the seed passed in (epmd uses the wall clock)
 * and is bumped; a name registered again after it was released is bumped
 * again. Bumping adds 1 and skips 0..3 (reserved by the distribution for
 * "old" 2-bit creations). Clients speaking version 6 get the counter
 * (ALIVE2_X_RESP); older ones get counter % 3 + 1 (ALIVE2_RESP).
 */
#ifndef EP_EPMD_REGISTRY_H
#define EP_EPMD_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "ep_epmd.h"
#include "ep_mem.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ep_epmd_registry ep_epmd_registry;
typedef struct ep_epmd_conn ep_epmd_conn;

typedef enum ep_epmd_reg_event_kind {
  EP_EPMD_REG_ADDED,   /* a registration was made */
  EP_EPMD_REG_REMOVED, /* its connection ended */
  EP_EPMD_REG_REFUSED, /* ALIVE2 refused: the name is taken or invalid */
  EP_EPMD_REG_STOPPED  /* STOP_REQ removed it: the driver must close `owner` */
} ep_epmd_reg_event_kind;

/* Called synchronously from inside ep_epmd_conn_recv / ep_epmd_conn_free.
 * name is NUL-terminated and valid during the call. owner is the connection
 * holding the registration (its user pointer: ep_epmd_conn_user). */
typedef void (*ep_epmd_reg_event_cb)(ep_epmd_reg_event_kind kind, const char *name, uint16_t port,
                                     uint32_t creation, ep_epmd_conn *owner, void *ud);

typedef struct ep_epmd_registry_opts {
  const ep_mem *mem;      /* NULL = libc */
  uint32_t creation_seed; /* first counter of a new name, before bumping */
  uint16_t epmd_port;     /* what NAMES and DUMP replies announce */
  int allow_kill;         /* see ep_epmd_server_opts */
  int relaxed;            /* epmd's -relaxed_command_check */
  size_t max_old_names;   /* 0 = EP_LIMIT_EPMD_OLD_NAMES */
  size_t max_request;     /* 0 = EP_LIMIT_EPMD_REQUEST */
  ep_epmd_reg_event_cb event;
  void *event_ud;
} ep_epmd_registry_opts;

/* Returns NULL on allocation failure. Free with ep_epmd_registry_free after
 * every connection is freed. */
ep_epmd_registry *ep_epmd_registry_new(const ep_epmd_registry_opts *opts);
void ep_epmd_registry_free(ep_epmd_registry *r);

/* Registered nodes right now. */
size_t ep_epmd_registry_count(const ep_epmd_registry *r);

/* Looks a name up. 0 and *node (pointing into the registry; valid until the
 * registry changes) and *creation, or EP_ENOTREG. */
int ep_epmd_registry_lookup(const ep_epmd_registry *r, const uint8_t *name, size_t len, ep_epmd_node *node,
                            uint32_t *creation);

/* What the driver does after feeding bytes. */
typedef enum ep_epmd_action {
  EP_EPMD_READ = 0,    /* keep reading: the request is not complete */
  EP_EPMD_REPLY_CLOSE, /* write the output (possibly empty), then close */
  EP_EPMD_KEEP,        /* write the output, keep the connection open: it
                          holds a registration until it closes; any byte
                          that arrives later ends it (as epmd) */
  EP_EPMD_KILL         /* write the output ("OK"), close, then stop the
                          server: a KILL_REQ was accepted */
} ep_epmd_action;

/* Per-connection state machine:
 *
 *   READING --complete request--> ALIVE2 accepted -------> REGISTERED
 *      |                          other / refused -------> DONE (reply, close)
 *      |                          KILL accepted ---------> DONE (kill)
 *      +--bad length/code/name--> CUT (error, close now, no reply)
 *   REGISTERED --any byte--> CUT (registration ended, EP_EEPMDREQ)
 *   DONE --any byte--> ignored (the driver is closing)
 *
 * local_peer: the client connects from this host; ALIVE2, DUMP, KILL and
 * STOP from elsewhere are closed without a reply (as epmd).
 * user is the driver's pointer (returned by ep_epmd_conn_user).
 * Returns NULL on allocation failure. */
ep_epmd_conn *ep_epmd_conn_new(ep_epmd_registry *r, int local_peer, void *user);

/* Ends the connection: a registration it holds is removed (event REMOVED). */
void ep_epmd_conn_free(ep_epmd_conn *c);

void *ep_epmd_conn_user(const ep_epmd_conn *c);

/* Feeds len bytes. Returns an ep_epmd_action (>= 0) and appends the reply to
 * out; or a negative error: cut the client off now, write nothing
 * (EP_EEPMDLEN, EP_EEPMDCODE, EP_EEPMDREQ, EP_EEPMDNAME, EP_ENOMEM). The
 * state is sticky: after an error or a final action, more bytes return the
 * same. */
int ep_epmd_conn_recv(ep_epmd_conn *c, const uint8_t *buf, size_t len, ep_buf *out);

/* Non-zero while the connection holds a registration (no idle timeout). */
int ep_epmd_conn_registered(const ep_epmd_conn *c);

#ifdef __cplusplus
}
#endif
#endif
