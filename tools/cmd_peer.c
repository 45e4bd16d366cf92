/* erlpeer peer - start one peer node, run calls and evals on it, stop it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "ep_error.h"
#include "ep_peer.h"
#include "ep_text.h"
#include "cmd_peer_util.h"
#include "tool_node.h"

static const char help[] =
    "usage: erlpeer peer [OPTIONS] [-- ERL_ARGS...]\n"
    "\n"
    "Starts one Erlang peer node (a real `erl`), runs the --call and --eval\n"
    "steps in the order given, prints each result as one Erlang term per line\n"
    "on stdout, then stops the peer. What the peer prints is relayed to stderr.\n"
    "\n"
    "options:\n"
    "  --name N            node name (part before @); without it the peer is\n"
    "                      not distributed (no EPMD, no cookie)\n"
    "  --host H            host part of the node name (needs --name)\n"
    "  --longnames         -name instead of -sname (with dist, this program's\n"
    "                      node uses long names too)\n"
    "  --connection C      control connection: dist (default with --name: this\n"
    "                      program becomes a hidden node the peer dials), tcp\n"
    "                      (listen on every local IPv4 address, any port),\n"
    "                      tcp:PORT, tcp:IP:PORT, stdio (default without --name)\n"
    "  --origin NAME@HOST  this program's own node name (dist only), so a peer\n"
    "                      on another host can dial back: HOST must be an\n"
    "                      address or name the peer reaches this machine by.\n"
    "                      A HOST with a dot (FQDN, IPv4 address) needs\n"
    "                      --longnames. Default: erlpeer-<ospid>@this host\n"
    "  --net-ticktime S    net_ticktime of this program's node in seconds\n"
    "                      (dist only; default 60): a peer silent for S s is\n"
    "                      down. Give the peer the same: -- -kernel net_ticktime S\n"
    "  --exec PROG         run PROG instead of erl (e.g. ssh, chroot, env)\n"
    "  --exec-arg A        argument put before everything else (repeatable),\n"
    "                      e.g. --exec chroot --exec-arg /roots/trixie --exec-arg erl\n"
    "  --detached BOOL     true (default) | false: a tcp peer started attached\n"
    "                      (no erl -detached) stays our child, its stdout and\n"
    "                      stderr relayed; needed inside a container, which\n"
    "                      ends with its first process (podman run --rm)\n"
    "  --env K=V           environment variable for the started program (repeatable)\n"
    "  --wait-boot MS      boot timeout in milliseconds (default 15000)\n"
    "  --peer-down M       stop | continue | crash (default stop)\n"
    "  --shutdown S        close | halt | halt:MS | halt:infinity | MS | infinity\n"
    "                      (default halt, i.e. halt:5000); MS >= 1000\n"
    "  --cookie C          cookie for this program's node and the peer, never put\n"
    "                      on a command line: a dist peer reads it from a private\n"
    "                      HOME made for it (with --exec or --env HOME=... it\n"
    "                      reads its own); other peers get it set over the\n"
    "                      control connection once they run\n"
    "  --ssl-dist-optfile FILE  TLS distribution (dist only): the peer runs with\n"
    "                      -proto_dist inet_tls -ssl_dist_optfile FILE and this\n"
    "                      program's node speaks TLS from the same OTP file\n"
    "  --tls               the same without setup: a throwaway CA and a certificate\n"
    "                      of its own for this program's node and for the peer,\n"
    "                      in a private 0700 folder, removed when the peer stops\n"
    "  --call 'M:F(A, ...)' call M:F with the given arguments (Erlang terms)\n"
    "  --eval 'Exprs.'     evaluate expressions on the peer (erl_scan, erl_parse\n"
    "                      and erl_eval run there); prints the value\n"
    "  --timeout MS        timeout of each call (default 5000)\n"
    "  -h, --help          this text\n"
    "\n"
    "Arguments after -- go to erl as they are (with dist, -proto_dist\n"
    "inet6_tcp there puts this program's node on IPv6 too).\n"
    "\n"
    "exit status: 0 every step returned a value; 1 a step raised or timed out,\n"
    "or a --call did not parse (the cause is printed on stderr; later steps\n"
    "are skipped); 2 bad usage, or the peer could not be started.\n"
    "\n"
    "example:\n"
    "  erlpeer peer --connection stdio --call 'erlang:node()'   # nonode@nohost\n";

static void on_output(ep_peer *p, const char *text, size_t len, void *ud) {
  (void)p;
  (void)ud;
  fwrite(text, 1, len, stderr);
  fflush(stderr);
}

typedef struct step {
  int is_eval;
  const char *text;
} step;

int ep_cmd_peer(int argc, char **argv) {
  ep_peer_opts *o = ep_peer_opts_new();
  step *steps = calloc((size_t)argc + 1, sizeof *steps);
  size_t nsteps = 0;
  const char *exec_prog = NULL;
  const char **exec_args = calloc((size_t)argc + 1, sizeof *exec_args);
  size_t nexec = 0;
  const char *conn = NULL, *cookie = NULL, *name = NULL, *origin = NULL, *tls_file = NULL;
  bool longnames = false, ipv6 = false, origin_long = false, detached = true, tls_throwaway = false;
  unsigned ticktime = 0;
  ep_tls_throwaway *tls_tmp = NULL;
  uint32_t timeout = EP_PEER_DEFAULT_CALL_MS;
  int rc = 0, status = 0;
  if (!o || !steps || !exec_args) {
    fprintf(stderr, "erlpeer peer: out of memory\n");
    return 2;
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV                                                  \
  do {                                                         \
    if (!v) {                                                  \
      fprintf(stderr, "erlpeer peer: %s needs a value\n", a); \
      status = 2;                                              \
      goto out;                                                \
    }                                                          \
    i++;                                                       \
  } while (0)
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(help, stdout);
      goto out;
    } else if (!strcmp(a, "--")) {
      for (i++; i < argc; i++) {
        if (!strncmp(argv[i], "inet6_", 6) && i > 0 && !strcmp(argv[i - 1], "-proto_dist")) ipv6 = true;
        rc = rc ? rc : ep_peer_opts_add_arg(o, argv[i]);
      }
      break;
    } else if (!strcmp(a, "--name")) {
      NEEDV;
      name = v;
      rc = ep_peer_opts_set_name(o, v);
    } else if (!strcmp(a, "--host")) {
      NEEDV;
      rc = ep_peer_opts_set_host(o, v);
    } else if (!strcmp(a, "--longnames")) {
      longnames = true;
      rc = ep_peer_opts_set_longnames(o, true);
    } else if (!strcmp(a, "--connection")) {
      NEEDV;
      conn = v;
    } else if (!strcmp(a, "--origin")) {
      NEEDV;
      origin = v;
      rc = ep_tool_parse_origin(v, &origin_long);
    } else if (!strcmp(a, "--net-ticktime")) {
      NEEDV;
      rc = ep_tool_parse_ticktime(v, &ticktime);
    } else if (!strcmp(a, "--exec")) {
      NEEDV;
      exec_prog = v;
    } else if (!strcmp(a, "--exec-arg")) {
      NEEDV;
      exec_args[nexec++] = v;
    } else if (!strcmp(a, "--detached")) {
      NEEDV;
      rc = !strcmp(v, "true") || !strcmp(v, "false") ? 0 : EP_EINVAL;
      detached = !strcmp(v, "true");
      if (!rc) rc = ep_peer_opts_set_detached(o, detached);
    } else if (!strcmp(a, "--env")) {
      NEEDV;
      const char *eq = strchr(v, '=');
      if (!eq) {
        fprintf(stderr, "erlpeer peer: --env wants K=V, got '%s'\n", v);
        status = 2;
        goto out;
      }
      char *k = strndup(v, (size_t)(eq - v));
      rc = k ? ep_peer_opts_set_env(o, k, eq + 1) : EP_ENOMEM;
      free(k);
    } else if (!strcmp(a, "--wait-boot")) {
      NEEDV;
      uint32_t ms;
      rc = ep_tool_parse_ms(v, &ms);
      if (!rc) rc = ep_peer_opts_set_wait_boot(o, ms);
    } else if (!strcmp(a, "--peer-down")) {
      NEEDV;
      rc = !strcmp(v, "stop")       ? ep_peer_opts_set_peer_down(o, EP_PEER_DOWN_STOP)
           : !strcmp(v, "continue") ? ep_peer_opts_set_peer_down(o, EP_PEER_DOWN_CONTINUE)
           : !strcmp(v, "crash")    ? ep_peer_opts_set_peer_down(o, EP_PEER_DOWN_CRASH)
                                    : EP_EINVAL;
    } else if (!strcmp(a, "--shutdown")) {
      NEEDV;
      rc = ep_tool_parse_shutdown(o, v);
    } else if (!strcmp(a, "--cookie")) {
      NEEDV;
      cookie = v;
    } else if (!strcmp(a, "--ssl-dist-optfile")) {
      NEEDV;
      tls_file = v;
    } else if (!strcmp(a, "--tls")) {
      tls_throwaway = true;
    } else if (!strcmp(a, "--call") || !strcmp(a, "--eval")) {
      NEEDV;
      steps[nsteps].is_eval = !strcmp(a, "--eval");
      steps[nsteps++].text = v;
    } else if (!strcmp(a, "--timeout")) {
      NEEDV;
      rc = ep_tool_parse_ms(v, &timeout);
    } else {
      fprintf(stderr, "erlpeer peer: unknown option '%s' (see --help)\n", a);
      status = 2;
      goto out;
    }
    if (rc) {
      fprintf(stderr, "erlpeer peer: bad value for %s: %s\n", a, ep_strerror(rc));
      status = 2;
      goto out;
    }
  }
  if (exec_prog) rc = ep_peer_opts_set_exec(o, exec_prog, exec_args);
  if (!rc) {
    if (!conn) conn = name ? "dist" : "stdio";
    rc = ep_tool_parse_connection(o, conn);
    if (rc) {
      fprintf(stderr, "erlpeer peer: bad --connection '%s' (dist, tcp, tcp:IP:PORT, stdio)\n", conn);
      status = 2;
      goto out;
    }
  }
  if ((origin || ticktime) && strcmp(conn, "dist")) {
    fprintf(stderr, "erlpeer peer: %s names this program's node, which only --connection dist uses\n",
            origin ? "--origin" : "--net-ticktime");
    status = 2;
    goto out;
  }
  if (origin && origin_long && !longnames) {
    /* erl's short names have no dots: our node and the peer would refuse
     * each other ("System running to use fully qualified hostnames"). */
    fprintf(stderr, "erlpeer peer: --origin %s has a long name (a dot in the host): add --longnames\n", origin);
    status = 2;
    goto out;
  }
  if ((tls_file || tls_throwaway) && strcmp(conn, "dist")) {
    fprintf(stderr, "erlpeer peer: --tls and --ssl-dist-optfile are for --connection dist\n");
    status = 2;
    goto out;
  }
  if (tls_throwaway && !tls_file) {
    rc = ep_tls_throwaway_new(&tls_tmp);
    if (rc) {
      fprintf(stderr, "erlpeer peer: cannot make throwaway certificates: %s\n", ep_strerror(rc));
      status = 2;
      goto out;
    }
    tls_file = ep_tls_throwaway_optfile(tls_tmp); /* the controller's own */
  }
  rc = tls_tmp ? ep_peer_opts_set_tls_throwaway(o, tls_tmp) /* the peer's own */
       : tls_file ? ep_peer_opts_set_ssl_dist_optfile(o, tls_file)
                  : 0;
  if (rc) {
    fprintf(stderr, "erlpeer peer: --ssl-dist-optfile: %s\n", ep_strerror(rc));
    status = 2;
    goto out;
  }
  /* With --connection dist the library hands the peer the cookie through a
   * private HOME (lib/ep_peer_dist.c): nothing to do here. */
  ep_peer_opts_set_output(o, on_output, NULL);

  ep_ctl *ctl = ep_ctl_new(NULL);
  ep_peer *p = NULL;
  if (!ctl) {
    fprintf(stderr, "erlpeer peer: out of memory\n");
    status = 2;
    goto out;
  }
  if (!strcmp(conn, "dist")) {
    /* Our node follows the peer's naming mode (and its address family:
     * -proto_dist inet6_tcp among the erl arguments) and uses its cookie. */
    ep_node_opts *no = ep_node_opts_new();
    int nr = no ? 0 : EP_ENOMEM;
    if (!nr && cookie) nr = ep_node_opts_set_cookie(no, cookie);
    if (!nr && origin) nr = ep_node_opts_set_name(no, origin);
    if (!nr && ticktime) ep_node_opts_set_ticktime(no, ticktime);
    if (!nr) ep_node_opts_set_longnames(no, longnames);
    if (!nr) ep_node_opts_set_ipv6(no, ipv6);
    if (!nr) ep_node_opts_set_notice_cb(no, ep_tool_notice, NULL);
    if (!nr && tls_file && (nr = ep_node_opts_set_ssl_dist_optfile(no, tls_file)))
      fprintf(stderr, "erlpeer peer: %s\n", ep_node_opts_error(no));
    if (!nr) nr = ep_ctl_start_node(ctl, no);
    ep_node_opts_free(no);
    if (nr) {
      char cwhy[600];
      const char *cw = ep_tool_cookie_reason(nr, cwhy, sizeof cwhy);
      fprintf(stderr, "erlpeer peer: cannot start this program's node: %s\n", cw ? cw : ep_strerror(nr));
      ep_ctl_free(ctl);
      status = 2;
      goto out;
    }
  }
  rc = ep_peer_start_sync(ctl, o, true, &p);
  if (rc) {
    const char *why = ep_ctl_last_start_reason(ctl);
    char cwhy[600];
    const char *cw = ep_tool_cookie_reason(rc, cwhy, sizeof cwhy);
    /* The command line is gone with the failed start: what the hint
     * looks at (program, -detached) is known from the options. */
    const char *hargv[] = {exec_prog ? exec_prog : "erl", detached && !strncmp(conn, "tcp", 3) ? "-detached" : "",
                           NULL};
    const char *hint = ep_tool_detached_hint(rc, hargv);
    if (cw)
      fprintf(stderr, "erlpeer peer: cannot start the peer: %s\n", cw);
    else if (hint)
      fprintf(stderr, "erlpeer peer: cannot start the peer: %s (%s)\n", ep_strerror(rc), hint);
    else
      fprintf(stderr, "erlpeer peer: cannot start the peer: %s%s%s\n", ep_strerror(rc), why && *why ? " " : "",
              why ? why : "");
    ep_ctl_free(ctl);
    status = 2;
    goto out;
  }
  if (cookie && strcmp(conn, "dist")) {
    /* An alternative connection: set over it once the peer runs, never on
     * a command line (erlexec copies ERL_*FLAGS into the emulator's argv). */
    ep_arena *a = ep_arena_new(NULL);
    ep_result r;
    const char *node = ep_peer_node(p);
    int crc = ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("set_cookie"),
                                EP_LIST(a, ep_atom_copy(a, node, strlen(node)),
                                        ep_atom_copy(a, cookie, strlen(cookie))),
                                timeout, a, &r);
    if (crc) {
      ep_tool_print_failure(stderr, &r);
      status = 1;
    }
    ep_arena_free(a);
  }
  for (size_t i = 0; i < nsteps && status == 0; i++) {
    ep_arena *a = ep_arena_new(NULL);
    ep_result r;
    int crc = steps[i].is_eval ? ep_tool_eval(p, a, steps[i].text, timeout, &r)
                               : ep_tool_call_text(p, a, steps[i].text, timeout, &r);
    if (crc == EP_ESYNTAX) {
      fprintf(stderr, "erlpeer peer: cannot parse '%s' (want Mod:Fun(Arg, ...))\n", steps[i].text);
      status = 1;
    } else if (r.status == 0) {
      ep_buf b;
      ep_buf_init(&b, NULL);
      ep_print(&b, r.value);
      fwrite(b.data, 1, b.len, stdout);
      fputc('\n', stdout);
      fflush(stdout);
      ep_buf_free(&b);
    } else {
      ep_tool_print_failure(stderr, &r);
      status = 1;
    }
    ep_arena_free(a);
  }
  ep_peer_stop_sync(p);
  ep_peer_free(p);
  ep_ctl_free(ctl);
out:
  ep_tls_throwaway_free(tls_tmp); /* the peer has stopped: its certificates go */
  ep_peer_opts_free(o);
  free(steps);
  free(exec_args);
  return status;
}
