/* peer.xml's post_process_args example:
 *   peer:start(#{name => peer:random_name(),
 *                exec => {os:find_executable("bash"), ["-c", "erl"]},
 *                post_process_args =>
 *                    fun(["-c" | Args]) -> ["-c", lists:flatten(lists:join($\s, Args))] end})
 * bash -c wants the whole erl command line as one argument. (Without a
 * name here: an alternative connection, so no distribution is needed.) */
#include <stdio.h>
#include <string.h>

#include "ep_error.h"
#include "ep_peer.h"

static int join_after_c(size_t argc, const char *const *argv, ep_peer_args *out, void *ud) {
  char line[4096] = "";
  ep_peer_args_push(out, argv[0]); /* "-c" */
  for (size_t i = 1; i < argc; i++) {
    if (i > 1) strncat(line, " ", sizeof line - strlen(line) - 1);
    strncat(line, argv[i], sizeof line - strlen(line) - 1);
  }
  return ep_peer_args_push(out, line);
}

int main(void) {
  ep_ctl *ctl = ep_ctl_new(NULL);
  ep_peer_opts *o = ep_peer_opts_new();
  const char *pre[] = {"-c", "erl", NULL};
  ep_peer_opts_set_exec(o, "bash", pre);
  ep_peer_opts_set_connection_stdio(o);
  ep_peer_opts_set_post_process_args(o, join_after_c, NULL);
  ep_peer *peer;
  int rc = ep_peer_start_sync(ctl, o, false, &peer);
  if (rc) {
    fprintf(stderr, "start: %s\n", ep_strerror(rc));
    return 1;
  }
  const char *const *av = ep_peer_argv(peer);
  printf("argv: %s %s '%s'\n", av[0], av[1], av[2]);
  ep_peer_stop_sync(peer);
  ep_peer_free(peer);
  ep_peer_opts_free(o);
  ep_ctl_free(ctl);
  return 0;
}
