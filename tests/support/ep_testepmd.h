/* ep_testepmd.h - EPMD options for tests, written as the plain structs the
 * tests read best (designated fields, zero = default), turned into the
 * library's opaque options by t_c, t_r and t_s. What those return lives
 * until the test program exits (freed at exit), so a call site needs no
 * free of its own. Thread-safe. */
#ifndef EP_TESTEPMD_H
#define EP_TESTEPMD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "ep_epmd_uv.h"

typedef struct t_client {
  const char *host;    /* NULL: localhost */
  uint16_t port;       /* 0: ERL_EPMD_PORT, else 4369 */
  uint64_t timeout_ms; /* 0: the default */
  const ep_mem *mem;
} t_client;

typedef struct t_register {
  t_client client;
  const char *name;
  uint16_t port;
  uint8_t node_type;
  uint16_t high, low;
  const uint8_t *extra;
  size_t extra_len;
} t_register;

typedef struct t_server {
  ep_epmd_log_cb log;
  void *log_ud;
  uint32_t idle_ms;
  size_t max_connections;
  bool allow_kill;
  bool relaxed;
  uint32_t creation_seed;
  const ep_mem *mem;
} t_server;

enum { T_EPMD_POOL = 256 };
static struct {
  pthread_mutex_t mu;
  int n;
  bool hooked;
  void *p[T_EPMD_POOL];
  void (*f[T_EPMD_POOL])(void *);
} t_epmd_pool = {PTHREAD_MUTEX_INITIALIZER, 0, false, {0}, {0}};

static void t_epmd_free_all(void) {
  for (int i = 0; i < t_epmd_pool.n; i++) t_epmd_pool.f[i](t_epmd_pool.p[i]);
  t_epmd_pool.n = 0;
}

static void *t_epmd_keep(void *p, void (*f)(void *)) {
  if (!p) abort();
  pthread_mutex_lock(&t_epmd_pool.mu);
  if (!t_epmd_pool.hooked) atexit(t_epmd_free_all), t_epmd_pool.hooked = true;
  if (t_epmd_pool.n == T_EPMD_POOL) abort();
  t_epmd_pool.p[t_epmd_pool.n] = p;
  t_epmd_pool.f[t_epmd_pool.n++] = f;
  pthread_mutex_unlock(&t_epmd_pool.mu);
  return p;
}

static void t_free_client(void *p) { ep_epmd_client_opts_free(p); }
static void t_free_register(void *p) { ep_epmd_register_opts_free(p); }
static void t_free_server(void *p) { ep_epmd_server_opts_free(p); }

static void t_fill_client(ep_epmd_client_opts *o, const t_client *c) {
  if (ep_epmd_client_opts_set_host(o, c->host) || ep_epmd_client_opts_set_port(o, c->port) ||
      (c->timeout_ms && ep_epmd_client_opts_set_timeout(o, c->timeout_ms)) || ep_epmd_client_opts_set_mem(o, c->mem))
    abort();
}

__attribute__((unused)) static ep_epmd_client_opts *t_c(const t_client *c) {
  ep_epmd_client_opts *o = t_epmd_keep(ep_epmd_client_opts_new(), t_free_client);
  t_fill_client(o, c);
  return o;
}

__attribute__((unused)) static ep_epmd_register_opts *t_r(const t_register *r) {
  ep_epmd_register_opts *o = t_epmd_keep(ep_epmd_register_opts_new(), t_free_register);
  ep_epmd_client_opts *c = ep_epmd_client_opts_new();
  if (!c) abort();
  t_fill_client(c, &r->client);
  if (ep_epmd_register_opts_set_client(o, c) || ep_epmd_register_opts_set_name(o, r->name) ||
      ep_epmd_register_opts_set_port(o, r->port) || ep_epmd_register_opts_set_node_type(o, r->node_type) ||
      ep_epmd_register_opts_set_versions(o, r->high, r->low) || ep_epmd_register_opts_set_extra(o, r->extra, r->extra_len))
    abort();
  ep_epmd_client_opts_free(c);
  return o;
}

__attribute__((unused)) static ep_epmd_server_opts *t_s(const t_server *s) {
  ep_epmd_server_opts *o = t_epmd_keep(ep_epmd_server_opts_new(), t_free_server);
  if (ep_epmd_server_opts_set_log(o, s->log, s->log_ud) || ep_epmd_server_opts_set_idle(o, s->idle_ms) ||
      ep_epmd_server_opts_set_max_connections(o, s->max_connections) ||
      ep_epmd_server_opts_set_allow_kill(o, s->allow_kill) || ep_epmd_server_opts_set_relaxed(o, s->relaxed) ||
      ep_epmd_server_opts_set_creation_seed(o, s->creation_seed) || ep_epmd_server_opts_set_mem(o, s->mem))
    abort();
  return o;
}

#endif
