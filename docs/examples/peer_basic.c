/* peer.xml's basic, args, named and restart_node examples, over the
 * standard_io alternative connection (no distribution needed):
 *   - start a peer, call it, stop it;
 *   - start one with extra erl arguments;
 *   - start a named peer, stop it, start it again with the same name.
 * Build: cc peer_basic.c -I dist -I lib build/liberlpeer.a -luv -lcrypto -lz -lm */
#include <stdio.h>

#include "ep_error.h"
#include "ep_peer.h"
#include "ep_text.h"

static int check(int rc, const char *what) {
  if (rc) fprintf(stderr, "%s: %s\n", what, ep_strerror(rc));
  return rc;
}

int main(void) {
  ep_ctl *ctl = ep_ctl_new(NULL); /* blocking API: a private loop */
  ep_peer *peer;
  ep_result r;
  ep_arena *a = ep_arena_new(NULL); /* terms we build live here */

  /* basic: {ok, Peer, _Node} = peer:start_link(#{connection => standard_io}) */
  ep_peer_opts *o = ep_peer_opts_new();
  ep_peer_opts_set_connection_stdio(o);
  if (check(ep_peer_start_sync(ctl, o, true, &peer), "start")) return 1;
  printf("basic: %s\n", ep_peer_node(peer));
  ep_peer_stop_sync(peer);
  ep_peer_free(peer);

  /* args: extra arguments for the new node */
  ep_peer_opts_add_arg(o, "+S");
  ep_peer_opts_add_arg(o, "2");
  if (check(ep_peer_start_sync(ctl, o, true, &peer), "start with args")) return 1;
  if (ep_peer_call_sync(peer, ep_atom("erlang"), ep_atom("system_info"),
                        EP_LIST(a, ep_atom("schedulers")), 5000, a, &r) == 0) {
    printf("args: schedulers = %lld\n", (long long)r.value.v.i);
  }
  ep_peer_stop_sync(peer);
  ep_peer_free(peer);
  ep_peer_opts_free(o);

  /* restart_node: a named peer (distributed too), stopped and started again
   * under the same name */
  char name[64];
  ep_peer_random_name("restart_node", name, sizeof name);
  for (int round = 0; round < 2; round++) {
    o = ep_peer_opts_new();
    ep_peer_opts_set_connection_stdio(o);
    ep_peer_opts_set_name(o, name);
    if (round == 1) ep_peer_opts_add_arg(o, "+fnl");
    if (check(ep_peer_start_sync(ctl, o, true, &peer), "start named")) return 1;
    printf("restart_node: round %d: %s\n", round, ep_peer_node(peer));
    ep_peer_stop_sync(peer);
    ep_peer_free(peer);
    ep_peer_opts_free(o);
  }
  ep_arena_free(a);
  ep_ctl_free(ctl);
  return 0;
}
