/* ep_node_epmd.c - what the node needs of EPMD, on top of lib/ep_epmd_uv.h:
 * find a node (resolve its host, ask that host's EPMD for the port, dial)
 * and publish ourselves (ALIVE2, held for the node's life). In
 * EP_EPMD_AUTO_SERVE mode (a peer controller's node), when no EPMD answers,
 * the node serves EPMD itself (the embedded server) on the EPMD port and
 * registers there, so a host without Erlang's epmd daemon still works and
 * nothing is left behind; it says so once (the notice callback). In
 * EP_EPMD_AUTO mode it runs unregistered instead. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_epmd_int.h"
#include "ep_epmd_uv.h"
#include "ep_error.h"
#include "ep_log.h"
#include "ep_node_int.h"

void ep__conn_dial(ep__conn *c, const struct sockaddr *addr);

/* --- lookup: resolve, then PORT_PLEASE2 at that address ---------------------------- */

typedef struct ep__lookup {
  ep_node *node;
  ep__conn *conn; /* NULL once canceled */
  ep__lookup_cb cb;
  uv_getaddrinfo_t gai;
  ep_epmd_req *req;
  struct sockaddr_storage addr;
  char name[256];
} ep__lookup;

static void lookup_free(ep__lookup *l) {
  l->node->open_handles--;
  free(l);
}

static void on_port(int status, const ep_epmd_port_info *info, void *ud) {
  ep__lookup *l = ud;
  ep__conn *c = l->conn;
  l->req = NULL;
  if (c) {
    c->epmd_req = NULL;
    if (status) {
      l->cb(c, status, 0);
    } else {
      struct sockaddr_storage a = l->addr;
      if (a.ss_family == AF_INET6) ((struct sockaddr_in6 *)&a)->sin6_port = htons(info->port);
      else ((struct sockaddr_in *)&a)->sin_port = htons(info->port);
      ep__conn_dial(c, (struct sockaddr *)&a);
    }
  }
  lookup_free(l);
}

/* PORT_PLEASE2 at l->addr (resolved). 0, or an error (no callback then). */
static int ask_port(ep__lookup *l) {
  char ip[64];
  if (l->addr.ss_family == AF_INET6) uv_ip6_name((struct sockaddr_in6 *)&l->addr, ip, sizeof ip);
  else uv_ip4_name((struct sockaddr_in *)&l->addr, ip, sizeof ip);
  ep_epmd_client_opts o;
  ep__epmd_client_opts_init(&o);
  snprintf(o.host, sizeof o.host, "%s", ip);
  o.port = (uint16_t)l->node->epmd_port;
  o.mem = l->node->mem;
  return ep_epmd_port_please(l->node->loop, &o, l->name, on_port, l, &l->req);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res) {
  ep__lookup *l = g->data;
  ep__conn *c = l->conn;
  if (!c || status < 0 || !res) {
    if (res) uv_freeaddrinfo(res);
    if (c) {
      c->epmd_req = NULL;
      l->cb(c, status == UV_ECANCELED ? EP_ECANCELED : EP_ENOHOST, 0);
    }
    lookup_free(l);
    return;
  }
  memcpy(&l->addr, res->ai_addr, res->ai_addrlen);
  uv_freeaddrinfo(res);
  int r = ask_port(l);
  if (r) {
    c->epmd_req = NULL;
    l->cb(c, r, 0);
    lookup_free(l);
  }
}

/* The address of a host that needs no resolver: a numeric address of the
 * node's family (an IPv4 one as ::ffff:a.b.c.d for IPv6, as AI_V4MAPPED
 * gives), or this host itself (its own name, "localhost"), which is the
 * loopback: the host's EPMD always listens there (epmd adds the loopback to
 * any ERL_EPMD_ADDRESS) and a node's listener is on every interface unless
 * told otherwise. getaddrinfo would run on libuv's threadpool, four threads
 * started for one look-up of /etc/hosts (issue 13). */
static bool direct_address(const ep_node *n, const char *host, struct sockaddr_storage *sa) {
  memset(sa, 0, sizeof *sa);
  struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
  bool self = !strcmp(host, "localhost") || (n->host && !strcmp(host, n->host));
  if (n->ipv6) {
    s6->sin6_family = AF_INET6;
    if (self) return uv_inet_pton(AF_INET6, "::1", &s6->sin6_addr) == 0;
    if (uv_inet_pton(AF_INET6, host, &s6->sin6_addr) == 0) return true;
    uint8_t v4[4];
    if (uv_inet_pton(AF_INET, host, v4) != 0) return false;
    s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&s6->sin6_addr.s6_addr[12], v4, 4);
    return true;
  }
  s4->sin_family = AF_INET;
  return uv_inet_pton(AF_INET, self ? "127.0.0.1" : host, &s4->sin_addr) == 0;
}

int ep__epmd_lookup(ep_node *n, ep__conn *c, const char *host, const char *name, ep__lookup_cb cb) {
  size_t nl = strlen(name);
  if (nl == 0 || nl > 255) return EP_EBADNAME;
  ep__lookup *l = calloc(1, sizeof *l);
  if (!l) return EP_ENOMEM;
  l->node = n;
  l->conn = c;
  l->cb = cb;
  memcpy(l->name, name, nl + 1);
  l->gai.data = l;
  if (direct_address(n, host, &l->addr)) {
    int r = ask_port(l);
    if (r) {
      free(l);
      return r;
    }
    n->open_handles++;
    c->epmd_req = l;
    return 0;
  }
  struct addrinfo hints = {0};
  hints.ai_family = n->ipv6 ? AF_INET6 : AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  /* IPv6: a host known only by an IPv4 address (a short host name in
   * /etc/hosts) is dialled as ::ffff:a.b.c.d, which a dual-stack inet6_tcp
   * listener accepts, as OTP's inet6_tcp does. */
  if (n->ipv6) hints.ai_flags = AI_V4MAPPED;
  if (uv_getaddrinfo(n->loop, &l->gai, on_resolved, host, NULL, &hints) != 0) {
    free(l);
    return EP_ENOHOST;
  }
  n->open_handles++;
  c->epmd_req = l;
  return 0;
}

void ep__epmd_lookup_cancel(ep__conn *c) {
  ep__lookup *l = c->epmd_req;
  if (!l) return;
  c->epmd_req = NULL;
  l->conn = NULL; /* whatever finishes first frees it, telling nobody */
  if (l->req) ep_epmd_req_cancel(l->req);
  else uv_cancel((uv_req_t *)&l->gai);
}

/* --- registration (and the embedded server) -------------------------------------------- */

static int start_register(ep_node *n);

static void on_lost(ep_epmd_reg *reg, int status, void *ud) {
  ep_node *n = ud;
  (void)reg;
  if (n->debug) ep_log("%s: EPMD dropped our registration: %s", n->name, ep_strerror(status));
}

static void on_server_closed(void *ud) {
  ep_node *n = ud;
  n->open_handles--;
}

/* Serves EPMD in-process on the EPMD port, on every interface as epmd does
 * (peers on other hosts look us up there too). */
static int start_server(ep_node *n) {
  ep_epmd_server_opts so = {0};
  so.mem = n->mem;
  ep_epmd_server *s;
  int r = ep_epmd_server_start(n->loop, NULL, (uint16_t)n->epmd_port, &so, &s);
  if (r) return r;
  n->epmd_server = s;
  n->open_handles++;
  char text[200];
  snprintf(text, sizeof text,
           "no EPMD answered on port %d: serving EPMD in this process until it exits (the host's other nodes "
           "register with it meanwhile)",
           n->epmd_port);
  if (n->notice_cb) n->notice_cb(n, EP_NODE_NOTICE_EPMD_SERVED, text, n->notice_ud);
  else if (n->debug) ep_log("%s: %s", n->name, text);
  return 0;
}

static void on_registered(ep_epmd_reg *reg, int status, uint32_t creation, void *ud) {
  ep_node *n = ud;
  n->reg_pending = false;
  if (n->closing) {
    /* Closed while registering: ep__epmd_close closed the registration and
     * held the node open for this last callback (EP_ECANCELED), which
     * reports the start. */
    n->open_handles--;
    n->register_cb(n, status ? status : EP_ECANCELED, 0);
    return;
  }
  if (status == EP_ENOEPMD && n->epmd_mode == EP_EPMD_AUTO) {
    /* Nobody serves EPMD here, and nobody needs to find us: unregistered,
     * as EP_EPMD_NONE. */
    ep_epmd_reg_close(reg);
    n->epmd_reg = NULL;
    uint32_t v = 0;
    uv_random(NULL, NULL, &v, sizeof v, 0, NULL);
    n->register_cb(n, 0, v | 4);
    return;
  }
  if (status == EP_ENOEPMD && !n->epmd_server &&
      (n->epmd_mode == EP_EPMD_AUTO_SERVE || n->epmd_mode == EP_EPMD_EMBEDDED)) {
    /* Nobody serves EPMD here: we do. (If another one started meanwhile,
     * the port is taken and registering there is as good.) */
    ep_epmd_reg_close(reg);
    n->epmd_reg = NULL;
    int r = start_server(n);
    if (r && r != EP_EADDRINUSE) {
      n->register_cb(n, r, 0);
      return;
    }
    r = start_register(n);
    if (r) n->register_cb(n, r, 0);
    return;
  }
  if (status) {
    ep_epmd_reg_close(reg);
    n->epmd_reg = NULL;
  }
  n->register_cb(n, status, creation);
}

static int start_register(ep_node *n) {
  const char *at = strchr(n->name, '@');
  char alive[256];
  snprintf(alive, sizeof alive, "%.*s", (int)(at - n->name), n->name);
  ep_epmd_register_opts o = {0};
  ep__epmd_client_opts_init(&o.client);
  snprintf(o.client.host, sizeof o.client.host, "%s", n->ipv6 ? "::1" : "127.0.0.1");
  o.client.port = (uint16_t)n->epmd_port;
  o.client.mem = n->mem;
  snprintf(o.name, sizeof o.name, "%s", alive);
  o.port = (uint16_t)n->listen_port;
  o.node_type = EP_EPMD_NODE_HIDDEN;
  ep_epmd_reg *reg;
  int r = ep_epmd_register(n->loop, &o, on_registered, on_lost, n, &reg);
  if (r) return r;
  n->epmd_reg = reg;
  n->reg_pending = true;
  return 0;
}

static void on_register_none(uv_timer_t *t) {
  ep_node *n = t->data;
  /* Not registered: a random creation (never 0..3, which mean "old"). */
  uint32_t v = 0;
  uv_random(NULL, NULL, &v, sizeof v, 0, NULL);
  n->register_cb(n, 0, v | 4);
}

int ep__epmd_register(ep_node *n, ep__register_cb cb) {
  n->register_cb = cb;
  if (n->epmd_mode == EP_EPMD_NONE) {
    /* Report from the loop, never from inside ep_node_start. */
    uv_timer_start(&n->start_timer, on_register_none, 0, 0);
    return 0;
  }
  if (n->epmd_mode == EP_EPMD_EMBEDDED) {
    int r = start_server(n);
    if (r && r != EP_EADDRINUSE) return r;
  }
  return start_register(n);
}

void ep__epmd_close(ep_node *n) {
  if (n->epmd_reg) {
    /* A registration still in progress calls back once more (with
     * EP_ECANCELED, from the loop): the node must outlive that call. */
    if (n->reg_pending) n->open_handles++;
    ep_epmd_reg_close(n->epmd_reg);
    n->epmd_reg = NULL;
  }
  if (n->epmd_server) {
    ep_epmd_server_close(n->epmd_server, on_server_closed, n);
    n->epmd_server = NULL;
  }
}
