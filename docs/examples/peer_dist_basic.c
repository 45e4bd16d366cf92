/* peer.xml's basic, args, named and restart_node examples with the
 * distribution connection (the reference's default): the controller becomes
 * a hidden node (started on demand by the blocking API, registered in EPMD),
 * each peer dials it back, and calls are RPCs over the distribution.
 *   - basic: start a peer, call it, stop it;
 *   - args: extra erl arguments;
 *   - named: a peer with a given name;
 *   - restart_node: stop it, start it again under the same name.
 * Needs no epmd: the hidden node registers with the EPMD that answers, or
 * serves EPMD itself while it runs when none does.
 * Build: cc peer_dist_basic.c -I dist -I lib build/liberlpeer.a -luv -lcrypto -lz -lm */
#include <stdio.h>

#include "ep_error.h"
#include "ep_peer.h"

static int check(int rc, const char *what) {
  if (rc) fprintf(stderr, "%s: %s\n", what, ep_strerror(rc));
  return rc;
}

int main(void) {
  ep_ctl *ctl = ep_ctl_new(NULL); /* blocking API: a private loop */
  ep_peer *peer;
  ep_result r;
  ep_arena *a = ep_arena_new(NULL); /* terms we build live here */
  char name[64];

  /* basic: {ok, Peer, Node} = peer:start_link(#{name => peer:random_name()}) */
  ep_peer_opts *o = ep_peer_opts_new();
  ep_peer_random_name("basic", name, sizeof name);
  ep_peer_opts_set_name(o, name); /* a name and no connection: distribution */
  if (check(ep_peer_start_sync(ctl, o, true, &peer), "start")) return 1;
  if (ep_peer_call_sync(peer, ep_atom("erlang"), ep_atom("node"), ep_nil(), 5000, a, &r) == 0) {
    printf("basic: %s answers node() = %s (controller %s)\n", ep_peer_node(peer), r.value.v.str,
           ep_node_name(ep_ctl_node(ctl)));
  }
  ep_peer_stop_sync(peer);
  ep_peer_free(peer);
  ep_peer_opts_free(o);

  /* args: ?CT_PEER(["-emu_flavor", "smp"]) */
  o = ep_peer_opts_new();
  ep_peer_random_name("args", name, sizeof name);
  ep_peer_opts_set_name(o, name);
  ep_peer_opts_add_arg(o, "-emu_flavor");
  ep_peer_opts_add_arg(o, "smp");
  if (check(ep_peer_start_sync(ctl, o, true, &peer), "start with args")) return 1;
  if (ep_peer_call_sync(peer, ep_atom("erlang"), ep_atom("system_info"), EP_LIST(a, ep_atom("emu_flavor")), 5000, a,
                        &r) == 0) {
    printf("args: emu_flavor = %s\n", r.value.v.str);
  }
  ep_peer_stop_sync(peer);
  ep_peer_free(peer);
  ep_peer_opts_free(o);

  /* named + restart_node: the same name twice, with a stop in between */
  ep_peer_random_name("restart_node", name, sizeof name);
  for (int round = 0; round < 2; round++) {
    o = ep_peer_opts_new();
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
