/* peer.xml's multi_node example: start 4 peers concurrently without waiting
 * (wait_boot => {self(), tag}), collect their start notifications, stop them.
 * Asynchronous API on the caller's libuv loop, TCP alternative connection. */
#include <stdio.h>
#include <uv.h>

#include "ep_error.h"
#include "ep_peer.h"

enum { N = 4 };
static int started, failed, stopped;

static void on_started(ep_peer *p, int err, void *ud) {
  if (err) {
    fprintf(stderr, "peer %d: %s\n", (int)(long)ud, ep_strerror(err));
    failed++;
  } else {
    printf("peer %d started: %s\n", (int)(long)ud, ep_peer_node(p));
    started++;
  }
}

static void on_stopped(ep_peer *p, void *ud) { stopped++; }

int main(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  ep_ctl *ctl = ep_ctl_new(&loop);
  ep_peer_opts *o = ep_peer_opts_new();
  ep_peer_opts_set_connection_tcp(o, "127.0.0.1", 0);
  ep_peer_opts_set_wait_boot(o, EP_INFINITY);
  ep_peer *peers[N];
  for (long i = 0; i < N; i++)
    if (ep_peer_start(ctl, o, true, &peers[i], on_started, (void *)i)) return 1;
  ep_peer_opts_free(o);
  while (started + failed < N) uv_run(&loop, UV_RUN_ONCE);
  for (int i = 0; i < N; i++) ep_peer_stop(peers[i], on_stopped, NULL);
  while (stopped < N) uv_run(&loop, UV_RUN_ONCE);
  for (int i = 0; i < N; i++) ep_peer_free(peers[i]);
  ep_ctl_free(ctl);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return failed ? 1 : 0;
}
