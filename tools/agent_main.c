/* erlpeer-agent - `erlpeer agent` in a program of its own: the agent needs
 * libmicrohttpd (and, through Debian's build of it, GnuTLS and ten more
 * shared libraries), which a one-shot `erlpeer call` must not map and
 * relocate at every start (issue 13). `erlpeer agent ARGS` runs this
 * program, installed beside it. */
#include "commands.h"

int main(int argc, char **argv) { return ep_cmd_agent(argc, argv); }
