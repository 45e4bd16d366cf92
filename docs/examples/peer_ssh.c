/* peer.xml's ssh example: a peer on another host over standard_io,
 *   peer:start_link(#{exec => {Ssh, ["another_host", "erl"]},
 *                     connection => standard_io})
 * Usage: peer_ssh [HOST]. Without HOST the same exec mechanism runs erl
 * locally through a shell wrapper, so the example works anywhere. */
#include <stdio.h>

#include "ep_error.h"
#include "ep_peer.h"
#include "ep_text.h"

int main(int argc, char **argv) {
  ep_ctl *ctl = ep_ctl_new(NULL);
  ep_peer_opts *o = ep_peer_opts_new();
  ep_peer_opts_set_connection_stdio(o);
  if (argc > 1) {
    const char *pre[] = {argv[1], "erl", NULL};
    ep_peer_opts_set_exec(o, "ssh", pre);
  } else {
    const char *pre[] = {"-c", "exec erl \"$@\"", "sh", NULL};
    ep_peer_opts_set_exec(o, "/bin/sh", pre);
  }
  ep_peer *peer;
  int rc = ep_peer_start_sync(ctl, o, true, &peer);
  if (rc) {
    fprintf(stderr, "start: %s %s\n", ep_strerror(rc), ep_ctl_last_start_reason(ctl));
    return 1;
  }
  ep_arena *a = ep_arena_new(NULL); /* the result's terms */
  ep_result r;
  if (ep_peer_call_sync(peer, ep_atom("inet"), ep_atom("gethostname"), ep_nil(), 5000, a, &r) == 0) {
    printf("remote host: %s\n", ep_print_str(a, r.value)); /* text in the same arena */
  }
  ep_arena_free(a);
  ep_peer_stop_sync(peer);
  ep_peer_free(peer);
  ep_peer_opts_free(o);
  ep_ctl_free(ctl);
  return 0;
}
