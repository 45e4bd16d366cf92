/* peer.xml's Docker example, reduced to what applies here: two named peers
 * started through an exec wrapper over standard_io (Docker would be
 * `docker run -h one -i IMAGE`; here a local shell wrapper), then, using the
 * alternative connection only, one peer is told to connect to the other and
 * each is asked whom it sees. The controller itself is not distributed.
 * Usage: peer_cluster [WRAPPER_PROGRAM WRAPPER_ARGS...] */
#include <stdio.h>
#include <string.h>

#include "ep_error.h"
#include "ep_peer.h"
#include "ep_text.h"

static ep_peer *start(ep_ctl *ctl, const char *prefix, int argc, char **argv) {
  ep_peer_opts *o = ep_peer_opts_new();
  char name[64];
  ep_peer_random_name(prefix, name, sizeof name);
  ep_peer_opts_set_name(o, name);
  ep_peer_opts_set_connection_stdio(o);
  if (argc > 1) {
    ep_peer_opts_set_exec(o, argv[1], (const char *const *)argv + 2);
  } else {
    const char *pre[] = {"-c", "exec erl \"$@\"", "sh", NULL};
    ep_peer_opts_set_exec(o, "/bin/sh", pre);
  }
  ep_peer *p = NULL;
  int rc = ep_peer_start_sync(ctl, o, true, &p);
  if (rc) fprintf(stderr, "start %s: %s %s\n", prefix, ep_strerror(rc), ep_ctl_last_start_reason(ctl));
  ep_peer_opts_free(o);
  return p;
}

static void show(const char *what, const ep_result *r) {
  ep_buf b;
  ep_buf_init(&b, NULL);
  ep_print(&b, r->status == 0 ? r->value : r->reason);
  printf("%s: %.*s\n", what, (int)b.len, (char *)b.data);
  ep_buf_free(&b);
}

int main(int argc, char **argv) {
  ep_ctl *ctl = ep_ctl_new(NULL);
  ep_peer *one = start(ctl, "one", argc, argv), *two = start(ctl, "two", argc, argv);
  if (!one || !two) return 1;
  ep_arena *a = ep_arena_new(NULL);
  ep_result r;
  const char *node2 = ep_peer_node(two);
  ep_peer_call_sync(one, ep_atom("net_kernel"), ep_atom("connect_node"),
                    EP_LIST(a, ep_atom_copy(a, node2, strlen(node2))), 5000, a, &r);
  show("connect_node", &r);
  ep_peer_call_sync(two, ep_atom("erlang"), ep_atom("nodes"), ep_nil(), 5000, a, &r);
  show("nodes seen by two", &r);
  ep_arena_free(a);
  ep_ctl_free(ctl); /* both were started linked: stopped here */
  return 0;
}
