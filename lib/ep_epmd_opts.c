/* ep_epmd_opts.c - the EPMD client's, registration's and server's options
 * (opaque in ep_epmd_uv.h; the fields are in ep_epmd_int.h). */
#include <stdlib.h>
#include <string.h>

#include "ep_epmd_int.h"
#include "ep_error.h"
#include "ep_node.h"

void ep__epmd_client_opts_init(ep_epmd_client_opts *o) {
  memset(o, 0, sizeof *o);
  o->timeout_ms = EP_EPMD_CLIENT_TIMEOUT_MS;
}

static int copy_text(char *dst, size_t cap, const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n >= cap) return EP_EINVAL;
  if (n) memcpy(dst, s, n);
  dst[n] = 0;
  return 0;
}

/* --- client ----------------------------------------------------------------------------- */

ep_epmd_client_opts *ep_epmd_client_opts_new(void) {
  ep_epmd_client_opts *o = malloc(sizeof *o);
  if (o) ep__epmd_client_opts_init(o);
  return o;
}
void ep_epmd_client_opts_free(ep_epmd_client_opts *o) { free(o); }
int ep_epmd_client_opts_set_host(ep_epmd_client_opts *o, const char *host) {
  return o ? copy_text(o->host, sizeof o->host, host) : EP_EINVAL;
}
int ep_epmd_client_opts_set_port(ep_epmd_client_opts *o, uint16_t port) {
  if (!o) return EP_EINVAL;
  o->port = port;
  return 0;
}
int ep_epmd_client_opts_set_timeout(ep_epmd_client_opts *o, uint64_t ms) {
  if (!o) return EP_EINVAL;
  o->timeout_ms = ms;
  return 0;
}
int ep_epmd_client_opts_set_mem(ep_epmd_client_opts *o, const ep_mem *mem) {
  if (!o) return EP_EINVAL;
  o->mem = mem;
  return 0;
}

/* --- registration ------------------------------------------------------------------------ */

ep_epmd_register_opts *ep_epmd_register_opts_new(void) {
  ep_epmd_register_opts *o = calloc(1, sizeof *o);
  if (o) ep__epmd_client_opts_init(&o->client);
  return o;
}
void ep_epmd_register_opts_free(ep_epmd_register_opts *o) { free(o); }
int ep_epmd_register_opts_set_name(ep_epmd_register_opts *o, const char *name) {
  return o ? copy_text(o->name, sizeof o->name, name) : EP_EINVAL;
}
int ep_epmd_register_opts_set_port(ep_epmd_register_opts *o, uint16_t port) {
  if (!o) return EP_EINVAL;
  o->port = port;
  return 0;
}
int ep_epmd_register_opts_set_node_type(ep_epmd_register_opts *o, uint8_t node_type) {
  if (!o) return EP_EINVAL;
  o->node_type = node_type;
  return 0;
}
int ep_epmd_register_opts_set_versions(ep_epmd_register_opts *o, uint16_t high, uint16_t low) {
  if (!o) return EP_EINVAL;
  o->high = high;
  o->low = low;
  return 0;
}
int ep_epmd_register_opts_set_extra(ep_epmd_register_opts *o, const uint8_t *extra, size_t len) {
  if (!o || (len && !extra)) return EP_EINVAL;
  o->extra = extra;
  o->extra_len = len;
  return 0;
}
int ep_epmd_register_opts_set_client(ep_epmd_register_opts *o, const ep_epmd_client_opts *client) {
  if (!o) return EP_EINVAL;
  if (client) o->client = *client;
  else ep__epmd_client_opts_init(&o->client);
  return 0;
}

/* --- server ------------------------------------------------------------------------------ */

ep_epmd_server_opts *ep_epmd_server_opts_new(void) { return calloc(1, sizeof(ep_epmd_server_opts)); }
void ep_epmd_server_opts_free(ep_epmd_server_opts *o) { free(o); }
int ep_epmd_server_opts_set_log(ep_epmd_server_opts *o, ep_epmd_log_cb cb, void *ud) {
  if (!o) return EP_EINVAL;
  o->log = cb;
  o->log_ud = ud;
  return 0;
}
int ep_epmd_server_opts_set_idle(ep_epmd_server_opts *o, uint64_t ms) {
  if (!o) return EP_EINVAL;
  o->idle_ms = ms;
  return 0;
}
int ep_epmd_server_opts_set_max_connections(ep_epmd_server_opts *o, size_t n) {
  if (!o) return EP_EINVAL;
  o->max_connections = n;
  return 0;
}
int ep_epmd_server_opts_set_allow_kill(ep_epmd_server_opts *o, bool on) {
  if (!o) return EP_EINVAL;
  o->allow_kill = on;
  return 0;
}
int ep_epmd_server_opts_set_relaxed(ep_epmd_server_opts *o, bool on) {
  if (!o) return EP_EINVAL;
  o->relaxed = on;
  return 0;
}
int ep_epmd_server_opts_set_creation_seed(ep_epmd_server_opts *o, uint32_t seed) {
  if (!o) return EP_EINVAL;
  o->creation_seed = seed;
  return 0;
}
int ep_epmd_server_opts_set_mem(ep_epmd_server_opts *o, const ep_mem *mem) {
  if (!o) return EP_EINVAL;
  o->mem = mem;
  return 0;
}
