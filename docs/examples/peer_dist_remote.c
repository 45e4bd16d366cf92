/* peer.xml's "start a peer on a different host" with the distribution
 * connection: exec => {"ssh", ["another_host", "erl"]}. Here the remote
 * shell is a stand-in that runs erl locally the way ssh would run it
 * elsewhere (`/bin/sh -c 'exec erl "$@"' sh ARGS...`); replace it with
 * {"ssh", {"another_host", "erl", NULL}} and a host both sides can resolve.
 * The peer dials the controller's hidden node back over the distribution.
 * Build: cc peer_dist_remote.c -I dist -I lib build/liberlpeer.a -luv -lcrypto -lz -lm */
#include <stdio.h>

#include "ep_error.h"
#include "ep_peer.h"

int main(void) {
  ep_ctl *ctl = ep_ctl_new(NULL);
  ep_peer_opts *o = ep_peer_opts_new();
  char name[64];
  ep_peer_random_name("remote", name, sizeof name);
  ep_peer_opts_set_name(o, name);
  const char *shell[] = {"-c", "exec erl \"$@\"", "sh", NULL}; /* the "ssh another_host erl" */
  ep_peer_opts_set_exec(o, "/bin/sh", shell);
  ep_peer *peer;
  int rc = ep_peer_start_sync(ctl, o, true, &peer);
  if (rc) {
    fprintf(stderr, "start: %s (%s)\n", ep_strerror(rc), ep_ctl_last_start_reason(ctl));
    return 1;
  }
  ep_arena *a = ep_arena_new(NULL); /* the result's terms */
  ep_result r;
  if (ep_peer_call_sync(peer, ep_atom("net_adm"), ep_atom("localhost"), ep_nil(), 5000, a, &r) == 0) {
    const char *host;
    ep_get_text(a, r.value, &host, NULL);
    printf("remote: %s runs on %s, started as:", ep_peer_node(peer), host);
    for (const char *const *v = ep_peer_argv(peer); *v; v++) printf(" %s", *v);
    printf("\n");
  }
  ep_arena_free(a);
  ep_peer_stop_sync(peer);
  ep_peer_free(peer);
  ep_peer_opts_free(o);
  ep_ctl_free(ctl);
  return 0;
}
