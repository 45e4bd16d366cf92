/* erlpeer - command line front end. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "ep_error.h"

static int run_agent(int argc, char **argv);

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *summary;
} commands[] = {
    {"term", ep_cmd_term, "decode or encode the external term format"},
    {"names", ep_cmd_names, "list the nodes registered in EPMD"},
    {"port", ep_cmd_port, "print the distribution port of a node"},
    {"epmd", ep_cmd_epmd, "run an EPMD-compatible server in the foreground"},
    {"ping", ep_cmd_ping, "connect to a node as a hidden node: pong or pang"},
    {"call", ep_cmd_call, "call functions (several in one request) or evaluate expressions on a node"},
    {"peer", ep_cmd_peer, "start a peer node, call it, stop it"},
    {"session", ep_cmd_session, "control many peers with commands on stdin"},
    {"agent", run_agent, "serve BEAM nodes' VM metrics to Prometheus, watching them from outside"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: erlpeer COMMAND [ARGS...]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\n'erlpeer COMMAND --help' describes each command; 'erlpeer --version'\n"
             "prints the version. No command, or an unknown one: exit status 2.\n");
}

/* `erlpeer agent`: erlpeer-agent, from this program's own directory (it is
 * built and installed beside it), else from PATH. */
static int run_agent(int argc, char **argv) {
  (void)argc;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 32);
  if (n > 0) {
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash) {
      strcpy(slash + 1, "erlpeer-agent");
      execv(self, argv);
    }
  }
  execvp("erlpeer-agent", argv);
  fprintf(stderr, "erlpeer: agent: cannot run erlpeer-agent (installed beside erlpeer): %s\n", strerror(errno));
  return 2;
}

void ep_tool_error(const char *what, int err) {
  fprintf(stderr, "erlpeer: %s: %s\n", what, ep_strerror(err));
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("erlpeer 0.1.0\n");
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "erlpeer: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
