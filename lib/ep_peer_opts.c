/* ep_peer_opts.c - a peer's start options (peer.xml's start_options) and
 * random names. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "ep_alt.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_ioserver_int.h"
#include "ep_peer_int.h"
#include "ep_text.h"

extern char **environ;
/* lib/ep_peer_alt.c: stderr (and an attached TCP peer's stdout) relayed as output. */
void ep__peer_err_read_start(ep_peer *p, uv_pipe_t *pipe);

/* --- small helpers ------------------------------------------------------------ */

char *ep__peer_strdup(const ep_mem *mem, const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = ep_malloc(mem, n);
  if (d) memcpy(d, s, n);
  return d;
}

int ep__strv_push(ep__strv *s, const char *str) {
  if (s->n + 2 > s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 8;
    char **v = ep_realloc(s->mem, s->v, cap * sizeof *v);
    if (!v) return EP_ENOMEM;
    s->v = v;
    s->cap = cap;
  }
  char *d = ep__peer_strdup(s->mem, str);
  if (!d) return EP_ENOMEM;
  s->v[s->n++] = d;
  s->v[s->n] = NULL;
  return 0;
}

void ep__strv_free(ep__strv *s) {
  const ep_mem *mem = s->mem;
  for (size_t i = 0; i < s->n; i++) ep_free(mem, s->v[i]);
  ep_free(mem, s->v);
  memset(s, 0, sizeof *s);
  s->mem = mem; /* empty, and ready for more from the same allocator */
}

static int strv_copy(ep__strv *d, const ep__strv *s, const ep_mem *mem) {
  memset(d, 0, sizeof *d);
  d->mem = mem;
  for (size_t i = 0; i < s->n; i++)
    if (ep__strv_push(d, s->v[i])) return EP_ENOMEM;
  return 0;
}

/* --- options --------------------------------------------------------------------- */

ep_peer_opts *ep_peer_opts_new(void) {
  ep_peer_opts *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->wait_boot = EP_PEER_DEFAULT_WAIT_MS;
  o->accept_ms = 60000;
  o->shutdown = EP_PEER_SHUTDOWN_HALT;
  o->shutdown_ms = 5000;
  o->detached = true;
  return o;
}

void ep__peer_opts_clear(ep_peer_opts *o) {
  ep_free(o->mem, o->name);
  ep_free(o->mem, o->host);
  ep_free(o->mem, o->tcp_ip);
  ep_free(o->mem, o->prog);
  o->name = o->host = o->tcp_ip = o->prog = NULL;
  ep__strv_free(&o->pre_args);
  ep__strv_free(&o->args);
  ep__strv_free(&o->env);
}

void ep_peer_opts_free(ep_peer_opts *o) {
  if (!o) return;
  ep__peer_opts_clear(o);
  free(o);
}

int ep__peer_opts_copy(ep_peer_opts *d, const ep_peer_opts *s, const ep_mem *mem) {
  *d = *s;
  d->mem = mem;
  d->name = NULL, d->host = NULL, d->tcp_ip = NULL, d->prog = NULL;
  memset(&d->pre_args, 0, sizeof d->pre_args);
  memset(&d->args, 0, sizeof d->args);
  memset(&d->env, 0, sizeof d->env);
  d->pre_args.mem = d->args.mem = d->env.mem = mem;
  if ((s->name && !(d->name = ep__peer_strdup(mem, s->name))) ||
      (s->host && !(d->host = ep__peer_strdup(mem, s->host))) ||
      (s->tcp_ip && !(d->tcp_ip = ep__peer_strdup(mem, s->tcp_ip))) ||
      (s->prog && !(d->prog = ep__peer_strdup(mem, s->prog))) || strv_copy(&d->pre_args, &s->pre_args, mem) ||
      strv_copy(&d->args, &s->args, mem) || strv_copy(&d->env, &s->env, mem)) {
    ep__peer_opts_clear(d);
    return EP_ENOMEM;
  }
  return 0;
}

static int set_str(const ep_mem *mem, char **dst, const char *s) {
  char *d = NULL;
  if (s && !(d = ep__peer_strdup(mem, s))) return EP_ENOMEM;
  ep_free(mem, *dst);
  *dst = d;
  return 0;
}

static int valid_name(const char *s) {
  if (!s || !*s || strlen(s) > 255) return 0;
  for (const char *c = s; *c; c++)
    if (*c == '@' || *c == ' ' || *c == '\n' || *c == '\t') return 0;
  return 1;
}

int ep_peer_opts_set_name(ep_peer_opts *o, const char *name) {
  if (!o || (name && !valid_name(name))) return EP_EINVAL;
  return set_str(o->mem, &o->name, name);
}

int ep_peer_opts_set_host(ep_peer_opts *o, const char *host) {
  if (!o || (host && (!*host || strchr(host, '@') || strlen(host) > 255))) return EP_EINVAL;
  return set_str(o->mem, &o->host, host);
}

int ep_peer_opts_set_longnames(ep_peer_opts *o, bool l) {
  if (!o) return EP_EINVAL;
  o->longnames = l;
  return 0;
}

int ep_peer_opts_set_connection_tcp(ep_peer_opts *o, const char *ip, int port) {
  if (!o || port < 0 || port > 65535) return EP_EINVAL;
  if (ip) {
    unsigned char tmp[16];
    if (inet_pton(AF_INET, ip, tmp) != 1 && inet_pton(AF_INET6, ip, tmp) != 1) return EP_EINVAL;
  }
  int rc = set_str(o->mem, &o->tcp_ip, ip);
  if (rc) return rc;
  o->conn = EP_PEER_CONN_TCP;
  o->conn_set = true;
  o->tcp_port = port;
  return 0;
}

int ep_peer_opts_set_connection_stdio(ep_peer_opts *o) {
  if (!o) return EP_EINVAL;
  o->conn = EP_PEER_CONN_STDIO;
  o->conn_set = true;
  return 0;
}

int ep_peer_opts_set_connection_dist(ep_peer_opts *o) {
  if (!o) return EP_EINVAL;
  o->conn = EP_PEER_CONN_DIST;
  o->conn_set = true;
  return 0;
}

int ep_peer_opts_set_exec(ep_peer_opts *o, const char *prog, const char *const *pre) {
  if (!o || !prog || !*prog) return EP_EINVAL;
  ep__strv v = {0};
  v.mem = o->mem;
  for (size_t i = 0; pre && pre[i]; i++)
    if (ep__strv_push(&v, pre[i])) {
      ep__strv_free(&v);
      return EP_ENOMEM;
    }
  int rc = set_str(o->mem, &o->prog, prog);
  if (rc) {
    ep__strv_free(&v);
    return rc;
  }
  ep__strv_free(&o->pre_args);
  o->pre_args = v;
  return 0;
}

int ep_peer_opts_add_arg(ep_peer_opts *o, const char *arg) {
  if (!o || !arg) return EP_EINVAL;
  return ep__strv_push(&o->args, arg);
}

int ep_peer_opts_set_env(ep_peer_opts *o, const char *k, const char *v) {
  if (!o || !k || !*k || strchr(k, '=') || !v) return EP_EINVAL;
  size_t kl = strlen(k);
  char *kv = ep_malloc(o->mem, kl + strlen(v) + 2);
  if (!kv) return EP_ENOMEM;
  sprintf(kv, "%s=%s", k, v);
  for (size_t i = 0; i < o->env.n; i++)
    if (!strncmp(o->env.v[i], k, kl) && o->env.v[i][kl] == '=') {
      ep_free(o->mem, o->env.v[i]);
      o->env.v[i] = kv;
      return 0;
    }
  int rc = ep__strv_push(&o->env, kv);
  ep_free(o->mem, kv);
  return rc;
}

int ep_peer_opts_set_wait_boot(ep_peer_opts *o, uint64_t ms) {
  if (!o || ms == 0)
    return EP_EINVAL;
  o->wait_boot = ms;
  return 0;
}

int ep_peer_opts_set_accept_timeout(ep_peer_opts *o, uint64_t ms) {
  if (!o || ms == 0) return EP_EINVAL;
  o->accept_ms = ms;
  return 0;
}

int ep_peer_opts_set_shutdown(ep_peer_opts *o, ep_peer_shutdown mode, uint64_t ms) {
  if (!o || mode > EP_PEER_SHUTDOWN_STOP) return EP_EINVAL;
  /* The reference's disconnect_timeout(): 1000..2^32-1 or infinity. */
  if (mode != EP_PEER_SHUTDOWN_CLOSE && (ms < 1000 || (ms > UINT32_MAX && ms != EP_INFINITY))) return EP_EINVAL;
  o->shutdown = mode;
  o->shutdown_ms = ms;
  return 0;
}

int ep_peer_opts_set_peer_down(ep_peer_opts *o, ep_peer_down_mode m) {
  if (!o || m > EP_PEER_DOWN_CRASH) return EP_EINVAL;
  o->peer_down = m;
  return 0;
}

int ep_peer_opts_set_detached(ep_peer_opts *o, bool d) {
  if (!o) return EP_EINVAL;
  o->detached = d;
  return 0;
}

int ep_peer_opts_set_post_process_args(ep_peer_opts *o, ep_peer_args_fn fn, void *ud) {
  if (!o) return EP_EINVAL;
  o->post_fn = fn;
  o->post_ud = ud;
  return 0;
}

int ep_peer_args_push(ep_peer_args *out, const char *arg) {
  if (!out || !arg) return EP_EINVAL;
  int rc = ep__strv_push(&out->v, arg);
  if (rc) out->err = rc;
  return rc;
}

int ep_peer_opts_set_output(ep_peer_opts *o, ep_peer_output_cb cb, void *ud) {
  if (!o) return EP_EINVAL;
  o->output_cb = cb;
  o->output_ud = ud;
  return 0;
}

int ep_peer_opts_set_message(ep_peer_opts *o, ep_peer_message_cb cb, void *ud) {
  if (!o) return EP_EINVAL;
  o->message_cb = cb;
  o->message_ud = ud;
  return 0;
}

int ep_peer_opts_set_state_cb(ep_peer_opts *o, ep_peer_state_cb cb, void *ud) {
  if (!o) return EP_EINVAL;
  o->state_cb = cb;
  o->state_ud = ud;
  return 0;
}

/* --- names ---------------------------------------------------------------------------- */

int ep_peer_random_name(const char *prefix, char *buf, size_t cap) {
  static atomic_uint_fast64_t counter;
  /* The reference uses erlang:unique_integer([positive]) and the OS pid: the
   * pid makes names unique across controllers, the counter within one. */
  uint64_t n = atomic_fetch_add(&counter, 1) + 1;
  int len = snprintf(buf, cap, "%s-%llu-%ld", prefix ? prefix : "peer", (unsigned long long)n,
                     (long)getpid());
  if (len < 0 || (size_t)len >= cap) return EP_ERANGE;
  return 0;
}

