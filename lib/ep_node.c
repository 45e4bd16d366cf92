/* ep_node.c - the node: options, start (resolve, listen, register) and
 * close. Connections are lib/ep_conn.c's, their I/O lib/ep_conn_io.c's,
 * the built-in processes lib/ep_node_builtin.c's, the blocking calls
 * lib/ep_sync.c's (docs/architecture.md). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ep_cookie_file.h"
#include "ep_dflags.h"
#include "ep_epmd_uv.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_limits.h"
#include "ep_node_int.h"
#include "ep_tls_int.h"
#include "ep_uverr_int.h"
#include "ep_xport_int.h"

struct ep_node_opts {
  char *name;
  bool longnames, ipv6;
  char *cookie;
  unsigned ticktime;
  int epmd_port;
  ep_epmd_mode epmd_mode;
  int listen_port;
  ep_node_event_cb event_cb;
  void *event_ud;
  ep_node_notice_cb notice_cb;
  void *notice_ud;
  ep_node_output_cb output_cb;
  void *output_ud;
  const ep_mem *mem;
  bool client;
  uint64_t setuptime_ms;
  size_t send_queue_limit;
  uint32_t max_calls;
  /* The environment, read once when the options are made, never in the
   * middle of a start: ERL_EPMD_PORT (as erl reads it: a port number or
   * nothing; 70000 must not become 4464, nor "abc" the default) and
   * ERLPEER_DEBUG. */
  uint16_t env_epmd_port;
  int env_epmd_err;
  bool debug;
  /* TLS distribution: the contexts made from an optfile or explicit files
   * (shared with the nodes started from these options), and the words of
   * the last setter that failed. */
  ep__tls_conf *tls;
  char why[512];
};

/* --- options ----------------------------------------------------------------------- */

ep_node_opts *ep_node_opts_new(void) {
  ep_node_opts *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->ticktime = 60;
  o->epmd_mode = EP_EPMD_AUTO;
  o->env_epmd_err = ep_epmd_port_from_env(&o->env_epmd_port);
  const char *dbg = getenv("ERLPEER_DEBUG");
  o->debug = dbg && *dbg && strcmp(dbg, "0") != 0;
  return o;
}

void ep_node_opts_free(ep_node_opts *o) {
  if (!o) return;
  ep__tls_conf_unref(o->tls);
  free(o->name);
  if (o->cookie) {
    memset(o->cookie, 0, strlen(o->cookie));
    free(o->cookie);
  }
  free(o);
}

static bool valid_alive(const char *s, size_t n) {
  if (n == 0 || n > 255) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!(isalnum(c) || c == '_' || c == '-' || c == '.' || c >= 0x80)) return false;
  }
  return true;
}

int ep_node_opts_set_name(ep_node_opts *o, const char *name) {
  const char *at = strchr(name, '@');
  size_t alive = at ? (size_t)(at - name) : strlen(name);
  if (!valid_alive(name, alive) || (at && (!at[1] || strchr(at + 1, '@')))) return EP_EBADNAME;
  char *d = strdup(name);
  if (!d) return EP_ENOMEM;
  free(o->name);
  o->name = d;
  return 0;
}
int ep_node_opts_set_longnames(ep_node_opts *o, bool on) {
  if (!o) return EP_EINVAL;
  o->longnames = on;
  return 0;
}
int ep_node_opts_set_cookie(ep_node_opts *o, const char *cookie) {
  if (!cookie || !*cookie || strlen(cookie) > 255) return EP_EINVAL;
  char *d = strdup(cookie);
  if (!d) return EP_ENOMEM;
  free(o->cookie);
  o->cookie = d;
  return 0;
}
int ep_node_opts_set_ticktime(ep_node_opts *o, unsigned s) {
  if (!o) return EP_EINVAL;
  o->ticktime = s ? s : 1;
  return 0;
}
int ep_node_opts_set_epmd_port(ep_node_opts *o, int port) {
  if (!o) return EP_EINVAL;
  o->epmd_port = port;
  return 0;
}
int ep_node_opts_set_epmd_mode(ep_node_opts *o, ep_epmd_mode mode) {
  if (!o) return EP_EINVAL;
  o->epmd_mode = mode;
  return 0;
}
int ep_node_opts_set_ipv6(ep_node_opts *o, bool on) {
  if (!o) return EP_EINVAL;
  o->ipv6 = on;
  return 0;
}
int ep_node_opts_set_listen_port(ep_node_opts *o, int port) {
  if (!o) return EP_EINVAL;
  o->listen_port = port;
  return 0;
}
int ep_node_opts_set_event_cb(ep_node_opts *o, ep_node_event_cb cb, void *ud) {
  if (!o) return EP_EINVAL;
  o->event_cb = cb;
  o->event_ud = ud;
  return 0;
}
int ep_node_opts_set_output_cb(ep_node_opts *o, ep_node_output_cb cb, void *ud) {
  if (!o) return EP_EINVAL;
  o->output_cb = cb;
  o->output_ud = ud;
  return 0;
}
int ep_node_opts_set_mem(ep_node_opts *o, const ep_mem *mem) {
  if (!o) return EP_EINVAL;
  o->mem = mem;
  return 0;
}
int ep_node_opts_set_client(ep_node_opts *o, bool on) {
  if (!o) return EP_EINVAL;
  o->client = on;
  return 0;
}
int ep_node_opts_set_setuptime(ep_node_opts *o, uint64_t ms) {
  if (!o) return EP_EINVAL;
  o->setuptime_ms = ms;
  return 0;
}
int ep_node_opts_set_send_queue_limit(ep_node_opts *o, size_t bytes) {
  if (!o) return EP_EINVAL;
  o->send_queue_limit = bytes;
  return 0;
}
int ep_node_opts_set_max_calls(ep_node_opts *o, uint32_t calls) {
  if (!o) return EP_EINVAL;
  o->max_calls = calls;
  return 0;
}
void ep_node_get_stats(const ep_node *n, ep_node_stats *out) { *out = n->stats; }

/* --- for the peer controller and the blocking layer (ep_node_ctl_int.h) ---------------- */

void ep__node_set_sloop(ep_node *n, struct ep__sloop *s, bool own) {
  n->sloop = s;
  n->own_sloop = own;
}
struct ep__sloop *ep__node_sloop(const ep_node *n, bool *own) {
  if (own) *own = n->own_sloop;
  return n->sloop;
}
void ep__node_watch(ep_node *n, ep_node_event_cb cb, void *ud) {
  n->watch_cb = cb;
  n->watch_ud = ud;
}
void ep__node_naming(const ep_node *n, bool *longnames, bool *ipv6) {
  *longnames = n->longnames;
  *ipv6 = n->ipv6;
}
bool ep__node_serves_epmd(const ep_node *n) { return n->epmd_server != NULL; }
const uint8_t *ep__node_cookie(const ep_node *n, size_t *len, bool *explicit_) {
  *len = n->cookie_len;
  if (explicit_) *explicit_ = n->cookie_explicit;
  return n->cookie;
}
int ep_node_opts_set_notice_cb(ep_node_opts *o, ep_node_notice_cb cb, void *ud) {
  if (!o) return EP_EINVAL;
  o->notice_cb = cb;
  o->notice_ud = ud;
  return 0;
}
int ep_node_opts_set_ssl_dist_optfile(ep_node_opts *o, const char *path) {
  o->why[0] = 0;
  if (!path) {
    ep__tls_conf_unref(o->tls);
    o->tls = NULL;
    return 0;
  }
  ep__tls_conf *c;
  int r = ep__tls_conf_from_optfile(path, &c, o->why, sizeof o->why);
  if (r) return r;
  ep__tls_conf_unref(o->tls);
  o->tls = c;
  return 0;
}

int ep_node_opts_set_tls_files(ep_node_opts *o, const char *certfile, const char *keyfile, const char *cacertfile) {
  o->why[0] = 0;
  if (!certfile || !cacertfile) return EP_EINVAL;
  ep__tls_conf *c;
  int r = ep__tls_conf_from_files(certfile, keyfile, cacertfile, &c, o->why, sizeof o->why);
  if (r) return r;
  ep__tls_conf_unref(o->tls);
  o->tls = c;
  return 0;
}

bool ep_node_opts_tls(const ep_node_opts *o) { return o->tls != NULL; }

const char *ep_node_opts_error(const ep_node_opts *o) { return o->why; }

const char *ep_node_conn_error(const ep_node *n) { return n->conn_why; }

const ep_mem *ep__node_opts_mem(const ep_node_opts *o) { return o->mem ? o->mem : ep_mem_default(); }

/* --- small helpers ------------------------------------------------------------------- */

uint64_t ep__now(ep_node *n) { return uv_now(n->loop); }

char *ep__mem_strdup(const ep_mem *m, const char *s) {
  size_t l = strlen(s);
  char *d = ep_malloc(m, l + 1);
  if (d) memcpy(d, s, l + 1);
  return d;
}

/* From the kernel's CSPRNG (getrandom), or an error: a handshake challenge
 * that could be guessed lets a recorded digest be replayed, so there is no
 * weaker fallback. */
int ep__random32(uint32_t *v) {
  return uv_random(NULL, NULL, v, sizeof *v, 0, NULL) == 0 ? 0 : EP_ESYS;
}

/* The cookie file as erl reads it (lib/ep_cookie_file.c): the reason a bad
 * file is refused is for the caller to ask, ep_cookie_file_read again. */
static int read_cookie(uint8_t *out, size_t cap, size_t *len) {
  return ep_cookie_file_read(out, cap, len, NULL, 0);
}

/* This host's name for a node name: 0 with out set, 1 when it still needs
 * the resolver (a long name on a host without a domain: see
 * canonical_host), or an error. */
static int local_host(bool longnames, char *out, size_t cap) {
  size_t sz = cap;
  if (uv_os_gethostname(out, &sz) != 0) return EP_ESYS;
  if (!longnames) {
    char *dot = strchr(out, '.');
    if (dot) *dot = 0;
    return 0;
  }
  return strchr(out, '.') ? 0 : 1;
}

/* A long name needs a fully qualified host: the resolver's canonical name,
 * as inet_db takes. No domain (common in containers and CI, where erl
 * -name without a host fails with "Can't set long node name"): a BEAM with
 * long names refuses to dial a dotless host ("System running to use fully
 * qualified hostnames"), so take the host's own address, as `-name x@IP`
 * does, and failing that the loopback address of the family: peers on this
 * machine can still reach us. */
static void canonical_host(const struct addrinfo *res, bool ipv6, char *out, size_t cap) {
  if (res && res->ai_canonname && strchr(res->ai_canonname, '.')) {
    snprintf(out, cap, "%s", res->ai_canonname);
    return;
  }
  char ip[64] = {0};
  if (res) {
    if (res->ai_family == AF_INET6)
      uv_ip6_name((struct sockaddr_in6 *)res->ai_addr, ip, sizeof ip);
    else
      uv_ip4_name((struct sockaddr_in *)res->ai_addr, ip, sizeof ip);
  }
  snprintf(out, cap, "%s", ip[0] ? ip : ipv6 ? "::1" : "127.0.0.1");
}

int ep__full_name(ep_node *n, const char *peer, char *out, size_t cap) {
  const char *at = strchr(peer, '@');
  int w = at ? snprintf(out, cap, "%s", peer) : snprintf(out, cap, "%s@%s", peer, n->host);
  if (w < 0 || (size_t)w >= cap) return EP_EBADNAME;
  at = strchr(out, '@');
  if (!valid_alive(out, (size_t)(at - out)) || !at[1] || strchr(at + 1, '@')) return EP_EBADNAME;
  return 0;
}

const char *ep__node_of(ep_term t) {
  switch (t.type) {
    case EP_T_PID:
      return t.v.pid.node;
    case EP_T_REF:
      return t.v.ref.node;
    case EP_T_PORT:
      return t.v.port.node;
    default:
      return NULL;
  }
}

/* --- start and close ----------------------------------------------------------------------------- */

static void finish_start(ep_node *n, int status) {
  if (n->started != 0) return;
  n->started = status ? status : 1;
  ep__kick(n); /* reported from a timer, with no EPMD or a failure */
  if (n->start_cb) n->start_cb(n, status, n->start_ud);
}

static void on_registered(ep_node *n, int status, uint32_t creation) {
  if (status) {
    finish_start(n, status);
    return;
  }
  n->creation = creation;
  finish_start(n, 0);
}


static void on_node_handle_closed(uv_handle_t *h);

static void on_start_failed(uv_timer_t *t) {
  ep_node *n = t->data;
  finish_start(n, n->start_error);
  /* Kept open for this by a close begun before; a close begun by the start
   * callback itself has closed it already. */
  if (n->closing && !uv_is_closing((uv_handle_t *)t)) uv_close((uv_handle_t *)t, on_node_handle_closed);
}

static void node_release(ep_node *n);

/* Frees a node that never touched the loop: its processes are still there
 * (they end in begin_close otherwise), no close callback is set. */
static void node_release_early(ep_node *n) {
  for (size_t i = 0; i < n->procs.cap; i++)
    if (ep__map_live(&n->procs, i)) {
      ep_proc *p = n->procs.slots[i].val;
      ep_free(n->mem, p->name);
      ep_free(n->mem, p);
    }
  node_release(n);
}

/* The node's names, once its host is known; then its processes. */
static int set_names(ep_node *n, const char *alive, const char *host) {
  char name[800];
  if (alive) snprintf(name, sizeof name, "%s@%s", alive, host);
  else snprintf(name, sizeof name, "erlpeer-%ld@%s", (long)getpid(), host);
  if (!(n->host = ep__mem_strdup(n->mem, host)) || !(n->name = ep__mem_strdup(n->mem, name))) return EP_ENOMEM;
  return ep__node_make_procs(n);
}

/* Listens (unless a client), then registers in EPMD as the mode says. */
static int begin_listen(ep_node *n) {
  if (n->client) return ep__epmd_register(n, on_registered); /* EP_EPMD_NONE: reported from the loop */
  uv_tcp_init(n->loop, &n->listener);
  n->listener.data = n;
  n->listener_open = true;
  n->open_handles++;
  struct sockaddr_storage sa;
  if (n->ipv6) uv_ip6_addr("::", n->listen_port, (struct sockaddr_in6 *)&sa);
  else uv_ip4_addr("0.0.0.0", n->listen_port, (struct sockaddr_in *)&sa);
  int r = uv_tcp_bind(&n->listener, (struct sockaddr *)&sa, 0);
  if (!r) r = uv_listen((uv_stream_t *)&n->listener, 128, ep__node_on_connection);
  if (r) return ep_err_from_errno(r);
  int len = sizeof sa;
  uv_tcp_getsockname(&n->listener, (struct sockaddr *)&sa, &len);
  n->listen_port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                  : ((struct sockaddr_in *)&sa)->sin_port);
  return ep__epmd_register(n, on_registered);
}

static void on_host_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res) {
  ep_node *n = g->data;
  n->open_handles--;
  n->resolving = false;
  char host[512];
  canonical_host(status == 0 ? res : NULL, n->ipv6, host, sizeof host);
  if (res) uv_freeaddrinfo(res);
  if (n->closing) {
    finish_start(n, EP_ECANCELED);
    return;
  }
  int r = set_names(n, n->alive[0] ? n->alive : NULL, host);
  if (!r) r = begin_listen(n);
  if (r) finish_start(n, r);
}

int ep_node_start(uv_loop_t *loop, const ep_node_opts *o, ep_node_start_cb cb, void *ud, ep_node **out) {
  return ep__node_start(loop, o, false, cb, ud, out);
}

int ep__node_start(uv_loop_t *loop, const ep_node_opts *o, bool serve_epmd, ep_node_start_cb cb, void *ud,
                   ep_node **out) {
  const ep_mem *mem = o->mem ? o->mem : ep_mem_default();
  ep_node *n = ep_malloc(mem, sizeof *n);
  if (!n) return EP_ENOMEM;
  memset(n, 0, sizeof *n);
  n->mem = mem;
  n->loop = loop;
  n->longnames = o->longnames;
  n->ipv6 = o->ipv6;
  n->ticktime = o->ticktime ? o->ticktime : 60;
  n->client = o->client;
  n->epmd_mode = o->client ? EP_EPMD_NONE : o->epmd_mode;
  if (serve_epmd && n->epmd_mode == EP_EPMD_AUTO) n->epmd_mode = EP_EPMD_AUTO_SERVE;
  n->notice_cb = o->notice_cb;
  n->notice_ud = o->notice_ud;
  n->listen_port = o->listen_port;
  n->event_cb = o->event_cb;
  n->event_ud = o->event_ud;
  n->output_cb = o->output_cb;
  n->output_ud = o->output_ud;
  n->start_cb = cb;
  n->start_ud = ud;
  n->debug = o->debug;
  n->setuptime_ms = o->setuptime_ms ? o->setuptime_ms : EP_LIMIT_HANDSHAKE_MS;
  n->tls = ep__tls_conf_ref(o->tls);
  n->send_queue_limit = o->send_queue_limit ? o->send_queue_limit : EP_LIMIT_SEND_QUEUE;
  n->max_calls = o->max_calls ? o->max_calls : EP_LIMIT_CALLS_IN_FLIGHT;
  n->next_id = 1;
  int r = o->epmd_port ? (o->epmd_port > 0 && o->epmd_port <= 65535 ? 0 : EP_EINVAL) : o->env_epmd_err;
  n->epmd_port = o->epmd_port ? o->epmd_port : o->env_epmd_port;
  ep__map_init(&n->procs, mem);
  ep__map_init(&n->peers_seen, mem);
  ep__map_init(&n->names, mem);
  ep__map_init(&n->rpcs, mem);
  uint32_t salt = 0, ref0 = 0;
  if (!r) r = ep__random32(&salt);
  if (!r) r = ep__random32(&ref0);
  n->ref_salt = salt;
  n->next_ref = ref0 & 0xffff;
  if (!r && !(n->scratch = ep_arena_new(mem))) r = EP_ENOMEM;
  if (!r) {
    if (o->cookie) {
      n->cookie_len = strlen(o->cookie);
      memcpy(n->cookie, o->cookie, n->cookie_len);
      n->cookie_explicit = true;
    } else {
      r = read_cookie(n->cookie, sizeof n->cookie, &n->cookie_len);
    }
  }
  /* The host: from the name, or this host's (no resolver for short names,
   * uv_getaddrinfo on the loop for a long name without a domain). */
  char host[512] = {0};
  bool resolve = false;
  const char *at = o->name ? strchr(o->name, '@') : NULL;
  if (!r) {
    if (at) {
      snprintf(host, sizeof host, "%s", at + 1);
      snprintf(n->alive, sizeof n->alive, "%.*s", (int)(at - o->name), o->name);
    } else {
      if (o->name) snprintf(n->alive, sizeof n->alive, "%s", o->name);
      int lh = local_host(o->longnames, host, sizeof host);
      if (lh < 0) r = lh;
      resolve = lh == 1;
    }
  }
  if (!r && !resolve) r = set_names(n, n->alive[0] ? n->alive : NULL, host);
  if (r) {
    /* Nothing is registered with the loop yet: undo synchronously. */
    node_release_early(n);
    return r;
  }
  uv_timer_init(loop, &n->start_timer);
  n->start_timer.data = n;
  n->open_handles++;
  uv_prepare_init(loop, &n->flusher);
  n->flusher.data = n;
  n->open_handles++;
  uv_idle_init(loop, &n->releaser);
  n->releaser.data = n;
  n->open_handles++;
  ep__timers_init(&n->tm, loop, n->mem);
  n->open_handles++; /* one for both of its handles */
  if (resolve) {
    struct addrinfo hints = {0};
    hints.ai_flags = AI_CANONNAME;
    hints.ai_family = o->ipv6 ? AF_INET6 : AF_INET;
    n->resolver.data = n;
    r = uv_getaddrinfo(loop, &n->resolver, on_host_resolved, host, NULL, &hints);
    if (r) {
      r = ep__err_from_uv(r);
    } else {
      n->open_handles++;
      n->resolving = true;
    }
  } else {
    r = begin_listen(n);
  }
  if (r) {
    /* Handles exist now: the failure is reported from the loop. */
    n->start_error = r;
    uv_timer_start(&n->start_timer, on_start_failed, 0, 0);
  }
  *out = n;
  return 0;
}

const char *ep_node_name(const ep_node *n) { return n->name ? n->name : ""; }
uint32_t ep_node_creation(const ep_node *n) { return n->creation; }
uv_loop_t *ep_node_loop(const ep_node *n) { return n->loop; }
int ep_node_port(const ep_node *n) { return n->listen_port; }

static void on_node_handle_closed(uv_handle_t *h) {
  ep_node *n = h->data;
  n->open_handles--;
}

static void on_node_timers_closed(void *ud) { ((ep_node *)ud)->open_handles--; }

static void node_release(ep_node *n) {
  /* No lent send should be left (sends are refused once closing); should
   * one be, its done still runs exactly once. */
  ep__node_run_releases(n, true);
  ep__map_free(&n->procs);
  ep__map_free(&n->peers_seen);
  ep__map_free(&n->names);
  ep__map_free(&n->rpcs);
  ep_arena_free(n->scratch);
  ep__tls_conf_unref(n->tls);
  ep_free(n->mem, n->name);
  ep_free(n->mem, n->host);
  memset(n->cookie, 0, sizeof n->cookie);
  ep_node_close_cb cb = n->close_cb;
  void *ud = n->close_ud;
  ep_free(n->mem, n);
  if (cb) cb(n, ud); /* n is gone: the callback may only compare the pointer */
}

static void close_check(uv_prepare_t *p);

/* Ends processes (their links and monitors fire on the other nodes, written
 * before the sockets close), then closes everything. */
static void begin_close(ep_node *n) {
  n->closing = true;
  if (n->resolving) uv_cancel((uv_req_t *)&n->resolver); /* its callback reports EP_ECANCELED */
  ep__rpc_close_all(n);
  /* Exit every process: the frames go into the connections' output. */
  for (size_t i = 0; i < n->procs.cap; i++) {
    if (!ep__map_live(&n->procs, i)) continue;
    ep_proc *p = n->procs.slots[i].val;
    ep_proc_exit(p, ep_atom("shutdown"));
  }
  ep__epmd_close(n);
  if (n->listener_open) {
    n->listener_open = false;
    uv_close((uv_handle_t *)&n->listener, on_node_handle_closed);
  }
  if (n->started == 0 && uv_is_active((uv_handle_t *)&n->start_timer)) {
    /* The start was to be reported from the loop (a failure, or no EPMD
     * to register with): it still is, exactly once, with the failure or
     * EP_ECANCELED; the timer closes once it has. (A registration in
     * progress reports EP_ECANCELED through ep__epmd_close.) */
    if (!n->start_error) n->start_error = EP_ECANCELED;
    uv_timer_start(&n->start_timer, on_start_failed, 0, 0);
  } else {
    uv_close((uv_handle_t *)&n->start_timer, on_node_handle_closed);
  }
  ep__node_flush_all(n);
  ep__node_run_releases(n, true);
  uv_close((uv_handle_t *)&n->flusher, on_node_handle_closed);
  uv_close((uv_handle_t *)&n->releaser, on_node_handle_closed);
  ep__timers_close(&n->tm, on_node_timers_closed, n); /* the calls were failed above */
  /* Connections close once their output has been written. */
  for (ep__conn *c = n->conns, *next; c; c = next) {
    ep__conn_hold(c); /* as flush_all */
    if (!(c->state == EP__C_UP && (c->writing || c->out.len))) ep__conn_fail(c, EP_ECLOSED);
    next = c->next;
    ep__conn_unhold(c);
  }
}

static bool all_closed(ep_node *n) {
  for (ep__conn *c = n->conns; c; c = c->next)
    if (c->state != EP__C_CLOSING) {
      if (!c->writing && !c->out.len) ep__conn_fail(c, EP_ECLOSED);
    }
  return n->conns == NULL && n->open_handles == 0;
}

static void on_closer_closed(uv_handle_t *h) {
  ep_node *n = h->data;
  if (--n->closer_open == 0) node_release(n);
}

/* Before each poll while closing. Everything the close waits for (a write
 * done, a handle closed, a lookup ended, the deadline) is a loop event that
 * comes before the next poll, so checking here is enough and the loop
 * blocks between events: no idle handle, no spin while a slow peer takes
 * the last frames. */
static void close_check(uv_prepare_t *p) {
  ep_node *n = p->data;
  if (!all_closed(n)) return;
  uv_prepare_stop(p);
  uv_timer_stop(&n->close_timer);
  n->closer_open = 2;
  uv_close((uv_handle_t *)&n->closer, on_closer_closed);
  uv_close((uv_handle_t *)&n->close_timer, on_closer_closed);
}

/* Connections still flushing their goodbyes are cut. */
static void on_close_deadline(uv_timer_t *t) {
  ep_node *n = t->data;
  for (ep__conn *c = n->conns, *next; c; c = next) {
    ep__conn_hold(c); /* as flush_all */
    ep__conn_fail(c, EP_ECLOSED);
    next = c->next;
    ep__conn_unhold(c);
  }
}

void ep_node_close(ep_node *n, ep_node_close_cb cb, void *ud) {
  n->close_cb = cb; /* a second close only changes who is told */
  n->close_ud = ud;
  if (n->closing) return;
  begin_close(n);
  /* begin_close closed handles: the loop's next poll does not block, and
   * the closer's first check comes right before it. */
  uv_prepare_init(n->loop, &n->closer);
  n->closer.data = n;
  uv_prepare_start(&n->closer, close_check);
  uv_timer_init(n->loop, &n->close_timer);
  n->close_timer.data = n;
  uv_timer_start(&n->close_timer, on_close_deadline, 2000, 0); /* at most 2 s to flush goodbyes */
}

