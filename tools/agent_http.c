/* agent_http.c - GET /metrics, served by libmicrohttpd from the agent's loop.
 *
 * MHD runs without a thread of its own (MHD_USE_EPOLL, no internal
 * polling): it keeps its sockets in an epoll descriptor of its own, which
 * becomes readable whenever one of them has an event. The loop watches that
 * descriptor with uv_poll and calls MHD_run, which does only what is ready
 * and never waits; a timer armed from MHD_get_timeout after each run covers
 * MHD's own deadlines (idle connections). So no HTTP client can hold the
 * loop: a client that connects and sends nothing costs one idle socket
 * until AGENT_HTTP_IDLE_S, at most AGENT_HTTP_MAX_CONNECTIONS of them. The
 * page is rendered from what the last scrapes read, never waiting for a
 * node. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

struct agent_http {
  agent *ag;
  struct MHD_Daemon *d;
  uv_poll_t poll;
  uv_timer_t timer;
  int open_handles;
};

static const char not_found[] = "not found: the metrics are at /metrics\n";

static enum MHD_Result queue_text(struct MHD_Connection *c, unsigned status, void *data, size_t len,
                                  enum MHD_ResponseMemoryMode mode, const char *type) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, data, mode);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **req_cls) {
  agent_http *h = cls;
  (void)version, (void)upload, (void)req_cls;
  if (*upload_size) { /* a body we do not want: swallow it */
    *upload_size = 0;
    return MHD_YES;
  }
  if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
    return queue_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, (void *)"only GET\n", 9, MHD_RESPMEM_PERSISTENT,
                      "text/plain; charset=utf-8");
  if (strcmp(url, "/metrics"))
    return queue_text(c, MHD_HTTP_NOT_FOUND, (void *)not_found, sizeof not_found - 1, MHD_RESPMEM_PERSISTENT,
                      "text/plain; charset=utf-8");
  ep_buf b;
  ep_buf_init(&b, NULL);
  if (!agent_render_text(h->ag, &b)) {
    ep_buf_free(&b);
    return queue_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, (void *)"out of memory\n", 14, MHD_RESPMEM_PERSISTENT,
                      "text/plain; charset=utf-8");
  }
  size_t len;
  uint8_t *data = ep_buf_take(&b, &len); /* libc memory: MHD frees it */
  return queue_text(c, MHD_HTTP_OK, data, len, MHD_RESPMEM_MUST_FREE, "text/plain; version=0.0.4; charset=utf-8");
}

static void on_timer(uv_timer_t *t);

/* After every MHD_run: MHD's next deadline (0 when it has work left that
 * no descriptor will announce), or none. */
static void arm(agent_http *h) {
  MHD_UNSIGNED_LONG_LONG ms;
  if (MHD_get_timeout(h->d, &ms) == MHD_YES) uv_timer_start(&h->timer, on_timer, ms, 0);
  else uv_timer_stop(&h->timer);
}

static void on_timer(uv_timer_t *t) {
  agent_http *h = t->data;
  MHD_run(h->d);
  arm(h);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  agent_http *h = p->data;
  (void)status, (void)events;
  MHD_run(h->d);
  arm(h);
}

/* "ADDR:PORT", "[V6]:PORT", ":PORT" (every IPv4 interface); ADDR an IP
 * literal or localhost. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, bool *v6) {
  char host[128];
  const char *colon;
  if (s[0] == '[') {
    const char *end = strchr(s, ']');
    if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host) return -1;
    memcpy(host, s + 1, (size_t)(end - s - 1));
    host[end - s - 1] = 0;
    colon = end + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host) return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
  }
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (!colon[1] || *end || port < 0 || port > 65535) return -1;
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  if (!host[0]) strcpy(host, "0.0.0.0");
  if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    *v6 = false;
    return 0;
  }
  if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *v6 = true;
    return 0;
  }
  return -1;
}

int agent_http_start(agent *ag, char *bound, size_t cap) {
  struct sockaddr_storage ss;
  bool v6;
  if (parse_listen(ag->o.listen, &ss, &v6)) {
    agent_log(ag, "--listen %s: not ADDR:PORT with an IP address (or localhost)", ag->o.listen);
    return -1;
  }
  agent_http *h = calloc(1, sizeof *h);
  if (!h) return -1;
  h->ag = ag;
  unsigned flags = MHD_USE_EPOLL | (v6 ? MHD_USE_IPv6 : 0);
  h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                          MHD_OPTION_CONNECTION_LIMIT, (unsigned)AGENT_HTTP_MAX_CONNECTIONS,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)AGENT_HTTP_IDLE_S,
                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_LISTENING_ADDRESS_REUSE,
                          (unsigned)1, MHD_OPTION_END);
  if (!h->d) {
    agent_log(ag, "cannot listen on %s (in use? not an address of this host?)", ag->o.listen);
    free(h);
    return -1;
  }
  const union MHD_DaemonInfo *epfd = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
  const union MHD_DaemonInfo *port = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
  if (!epfd || uv_poll_init(ag->loop, &h->poll, epfd->epoll_fd) != 0) {
    agent_log(ag, "cannot watch the HTTP server's descriptor");
    MHD_stop_daemon(h->d);
    free(h);
    return -1;
  }
  uv_timer_init(ag->loop, &h->timer);
  h->poll.data = h->timer.data = h;
  h->open_handles = 2;
  uv_poll_start(&h->poll, UV_READABLE, on_poll);
  arm(h);
  ag->http = h;
  char addr[INET6_ADDRSTRLEN] = "?";
  if (v6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof addr);
  else inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr);
  snprintf(bound, cap, v6 ? "[%s]:%u" : "%s:%u", addr, port ? (unsigned)port->port : 0u);
  return 0;
}

static void on_closed(uv_handle_t *hd) {
  agent_http *h = hd->data;
  if (--h->open_handles == 0) free(h);
}

void agent_http_close(agent *ag) {
  agent_http *h = ag->http;
  if (!h) return;
  ag->http = NULL;
  /* the poll handle stops watching at once; then MHD may close its descriptor */
  uv_close((uv_handle_t *)&h->poll, on_closed);
  uv_close((uv_handle_t *)&h->timer, on_closed);
  MHD_stop_daemon(h->d);
}
