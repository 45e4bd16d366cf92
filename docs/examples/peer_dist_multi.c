/* peer.xml's multi_node example with the distribution connection, on the
 * caller's own libuv loop: a hidden node started on that loop, four peers
 * started at once with asynchronous boot notification (the reference's
 * wait_boot => {self(), tag}), their names collected as each boots, then all
 * stopped.
 * Build: cc peer_dist_multi.c -I dist -I lib build/liberlpeer.a -luv -lcrypto -lz -lm */
#include <stdio.h>
#include <uv.h>

#include <uv.h>

#include "ep_error.h"
#include "ep_peer.h"

enum { N = 4 };

typedef struct state {
  int node_done, node_status, booted, failed, stopped, closed;
} state;

static void node_started(ep_node *n, int status, void *ud) {
  state *s = ud;
  s->node_done = 1;
  s->node_status = status;
}

/* {tag, {started, Node, Peer}} */
static void started(ep_peer *p, int err, void *ud) {
  state *s = ud;
  if (err) {
    fprintf(stderr, "a peer failed to boot: %s\n", ep_strerror(err));
    s->failed++;
    return;
  }
  printf("multi_node: %s booted\n", ep_peer_node(p));
  s->booted++;
}

static void stopped(ep_peer *p, void *ud) { ((state *)ud)->stopped++; }
static void node_closed(ep_node *n, void *ud) { ((state *)ud)->closed = 1; }

int main(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  state s = {0};
  ep_node *node;
  ep_node_opts *no = ep_node_opts_new();
  if (ep_node_start(&loop, no, node_started, &s, &node)) return 1;
  ep_node_opts_free(no);
  while (!s.node_done) uv_run(&loop, UV_RUN_ONCE);
  if (s.node_status) {
    fprintf(stderr, "node: %s\n", ep_strerror(s.node_status));
    return 1;
  }
  ep_ctl *ctl = ep_ctl_new(&loop);
  ep_ctl_set_node(ctl, node);
  ep_peer *peers[N];
  for (int i = 0; i < N; i++) {
    ep_peer_opts *o = ep_peer_opts_new();
    char name[64];
    ep_peer_random_name("multi_node", name, sizeof name);
    ep_peer_opts_set_name(o, name);
    ep_peer_opts_set_wait_boot(o, EP_INFINITY);
    int rc = ep_peer_start(ctl, o, true, &peers[i], started, &s);
    ep_peer_opts_free(o);
    if (rc) {
      fprintf(stderr, "start: %s\n", ep_strerror(rc));
      return 1;
    }
  }
  while (s.booted + s.failed < N) uv_run(&loop, UV_RUN_ONCE);
  for (int i = 0; i < N; i++) ep_peer_stop(peers[i], stopped, &s);
  while (s.stopped < N) uv_run(&loop, UV_RUN_ONCE);
  for (int i = 0; i < N; i++) ep_peer_free(peers[i]);
  ep_ctl_free(ctl);
  ep_node_close(node, node_closed, &s);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return s.booted == N ? 0 : 1;
}
