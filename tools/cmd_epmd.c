/* erlpeer epmd: an EPMD-compatible server in the foreground. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "commands.h"
#include "ep_epmd_uv.h"
#include "ep_error.h"
#include "ep_log.h"

static void help(FILE *f) {
  fprintf(f,
          "usage: erlpeer epmd [--port P] [--address A[,A...]] [--relaxed-command-check]\n"
          "                    [--quiet | -q]\n"
          "\n"
          "Runs an EPMD-compatible server in the foreground until SIGINT or SIGTERM\n"
          "(or `epmd -kill` when no node is registered). Real erl nodes and the real\n"
          "epmd client use it unchanged. Registrations are logged on stderr.\n"
          "\n"
          "  --port P       listen on P (default: ERL_EPMD_PORT, else 4369; 0 = any)\n"
          "  --address A    listen on these IP addresses (and loopback), as epmd\n"
          "                 -address; default: every interface\n"
          "  --relaxed-command-check\n"
          "                 as epmd: allow `epmd -kill` with live nodes and `epmd -stop`\n"
          "  --quiet, -q    log nothing but errors\n"
          "\n"
          "Prints `listening on port P` on stdout once ready.\n"
          "Exit status: 0 after a clean stop, 1 when it cannot listen, 2 on bad usage.\n");
}

typedef struct run_state {
  uv_loop_t *loop;
  ep_epmd_server *srv;
  uv_signal_t sigint, sigterm;
  int quiet;
} run_state;

static void stop(run_state *st) {
  if (st->srv) {
    ep_epmd_server_close(st->srv, NULL, NULL);
    st->srv = NULL;
  }
  if (!uv_is_closing((uv_handle_t *)&st->sigint)) uv_close((uv_handle_t *)&st->sigint, NULL);
  if (!uv_is_closing((uv_handle_t *)&st->sigterm)) uv_close((uv_handle_t *)&st->sigterm, NULL);
}

static void on_signal(uv_signal_t *s, int signum) {
  run_state *st = s->data;
  if (!st->quiet) fprintf(stderr, "erlpeer epmd: %s received, stopping\n", signum == SIGINT ? "SIGINT" : "SIGTERM");
  stop(st);
}

static void on_log(const ep_epmd_event *ev, void *ud) {
  run_state *st = ud;
  switch (ev->kind) {
    case EP_EPMD_EV_REGISTERED:
      if (!st->quiet)
        fprintf(stderr, "erlpeer epmd: registered %s at port %u, creation %u\n", ev->name, (unsigned)ev->port,
                (unsigned)ev->creation);
      break;
    case EP_EPMD_EV_UNREGISTERED:
      if (!st->quiet)
        fprintf(stderr, "erlpeer epmd: unregistered %s (port %u)\n", ev->name, (unsigned)ev->port);
      break;
    case EP_EPMD_EV_REFUSED:
      if (!st->quiet) fprintf(stderr, "erlpeer epmd: refused registration of %s: name taken or invalid\n", ev->name);
      break;
    case EP_EPMD_EV_CUT:
      /* anyone can send garbage: rate-limited, never blocking (ep_log) */
      if (!st->quiet) ep_log("epmd: client cut off: %s", ep_strerror(ev->error));
      break;
    case EP_EPMD_EV_KILLED:
      if (!st->quiet) fprintf(stderr, "erlpeer epmd: killed by a KILL request, stopping\n");
      stop(st);
      break;
  }
}

int ep_cmd_epmd(int argc, char **argv) {
  const char *address = NULL;
  long port = -1;
  bool relaxed = false;
  run_state st;
  memset(&st, 0, sizeof st);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      help(stdout);
      return 0;
    } else if (!strcmp(a, "--port")) {
      char *end;
      if (i + 1 >= argc || !argv[i + 1][0] || (port = strtol(argv[i + 1], &end, 10), *end) || port < 0 ||
          port > 65535) {
        fprintf(stderr, "erlpeer epmd: --port needs a number 0..65535\n");
        return 2;
      }
      i++;
    } else if (!strcmp(a, "--address")) {
      if (i + 1 >= argc) {
        fprintf(stderr, "erlpeer epmd: --address needs a list of IP addresses\n");
        return 2;
      }
      address = argv[++i];
    } else if (!strcmp(a, "--relaxed-command-check")) {
      relaxed = true;
    } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
      st.quiet = 1;
    } else {
      fprintf(stderr, "erlpeer epmd: unknown argument '%s' (see --help)\n", a);
      return 2;
    }
  }
  if (port < 0) {
    uint16_t p;
    if (ep_epmd_port_from_env(&p) != 0) {
      fprintf(stderr, "erlpeer epmd: ERL_EPMD_PORT is not a port number\n");
      return 2;
    }
    port = p;
  }
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) {
    fprintf(stderr, "erlpeer epmd: cannot create an event loop\n");
    return 1;
  }
  st.loop = &loop;
  ep_epmd_server_opts *o = ep_epmd_server_opts_new();
  if (!o) {
    fprintf(stderr, "erlpeer epmd: out of memory\n");
    uv_loop_close(&loop);
    return 1;
  }
  ep_epmd_server_opts_set_log(o, on_log, &st);
  ep_epmd_server_opts_set_allow_kill(o, true);
  ep_epmd_server_opts_set_relaxed(o, relaxed);
  int rc = ep_epmd_server_start(&loop, address, (uint16_t)port, o, &st.srv);
  ep_epmd_server_opts_free(o);
  if (rc) {
    if (rc == EP_EADDRINUSE)
      fprintf(stderr, "erlpeer epmd: port %ld is in use (another EPMD running?)\n", port);
    else if (rc == EP_EINVAL && address)
      fprintf(stderr, "erlpeer epmd: '%s' is not a list of IP addresses\n", address);
    else
      fprintf(stderr, "erlpeer epmd: cannot listen on port %ld: %s\n", port, ep_strerror(rc));
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 1;
  }
  uv_signal_init(&loop, &st.sigint);
  uv_signal_init(&loop, &st.sigterm);
  st.sigint.data = st.sigterm.data = &st;
  uv_signal_start(&st.sigint, on_signal, SIGINT);
  uv_signal_start(&st.sigterm, on_signal, SIGTERM);
  printf("listening on port %u\n", (unsigned)ep_epmd_server_port(st.srv));
  fflush(stdout);
  uv_run(&loop, UV_RUN_DEFAULT);
  int crc = uv_loop_close(&loop);
  return crc == 0 ? 0 : 1;
}
