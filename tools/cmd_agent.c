/* erlpeer agent: a Prometheus exporter for BEAM nodes, attached from
 * outside as a hidden node (docs/agent.md). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "commands.h"
#include "ep_error.h"
#include "tool_node.h"

static void help(void) {
  printf(
      "usage: erlpeer agent [--listen ADDR:PORT] [--interval MS] [--json] [--textfile PATH]\n"
      "                     [--cookie C] [--sname N | --name N] [--ipv6]\n"
      "                     [--discover HOST]... [--include GLOB]... [--exclude GLOB]...\n"
      "                     [--names current|classic] [--ssl-dist-optfile FILE]\n"
      "                     [--top-processes N [--top-budget MS]] [NODE...]\n"
      "\n"
      "Watches BEAM nodes from outside and serves their VM metrics to Prometheus.\n"
      "It attaches to each NODE as a hidden node that dials out only (no listening\n"
      "socket, no EPMD registration) and loads nothing on it: each interval, one\n"
      "request per node runs a batch of erlang BIFs (memory, system_info, statistics)\n"
      "there. Metric names are prometheus.erl's VM collectors' (6.x), each series\n"
      "with node=\"name@host\"; see docs/agent.md for the list and the cost of each.\n"
      "\n"
      "  --listen ADDR:PORT  serve GET /metrics (Prometheus text format 0.0.4) there;\n"
      "                      default 127.0.0.1:%d. ADDR is an IP address, [IPv6],\n"
      "                      localhost, or empty (:PORT, every IPv4 interface); PORT 0\n"
      "                      picks a free port. The address in use is printed on\n"
      "                      stderr. --listen none serves no HTTP.\n"
      "  --interval MS       scrape every MS milliseconds (default %u, at least 50);\n"
      "                      each request times out after 9/10 of it.\n"
      "  --json              also print one JSON object per node per interval on stdout.\n"
      "  --top-processes N   also export each node's N (1 to %u) processes with the most\n"
      "                      memory and the N with the longest message queues\n"
      "                      (erlpeer_process_memory_bytes, erlpeer_process_message_queue_len,\n"
      "                      labels pid and name). Off by default: it costs the node one\n"
      "                      erlang:processes() and one process_info/2 per process per\n"
      "                      interval (docs/agent.md); not done on a node with more than\n"
      "                      %u processes.\n"
      "  --top-budget MS     stop a node's top-processes scan after MS milliseconds (default\n"
      "                      %u, at most 9/10 of the interval); a cut scan says\n"
      "                      erlpeer_top_processes_truncated 1.\n"
      "  --textfile PATH     also write the metrics to PATH each interval, for\n"
      "                      node_exporter's textfile collector (written to a temporary\n"
      "                      file, then renamed over PATH).\n"
      "  --cookie C          the nodes' cookie (default: ~/.erlang.cookie).\n"
      "  --sname N, --name N this agent's node name, short or long (default %s:\n"
      "                      one stable name, so the nodes gain no atom but this one).\n"
      "  --ipv6              talk to nodes and EPMD over IPv6.\n"
      "  --discover HOST     list HOST's EPMD every %u intervals and watch each node\n"
      "                      registered there (as name@HOST) that the globs let in; a\n"
      "                      node missing from %u listings in a row is dropped.\n"
      "  --include GLOB      with --discover: watch only names (the part before @)\n"
      "                      matching one of these globs (default: every name).\n"
      "  --exclude GLOB      with --discover: never names matching one of these.\n"
      "  --names current|classic\n"
      "                      current (default): prometheus.erl 6.x names, which promtool\n"
      "                      accepts; classic: the pre-6.0 names (erlang_vm_process_count,\n"
      "                      erlang_vm_memory_bytes_total, ...) for older dashboards.\n"
      "  --ssl-dist-optfile FILE\n"
      "                      TLS distribution (as -proto_dist inet_tls): talk to every\n"
      "                      node over TLS with the certificates and checks of OTP's\n"
      "                      own -ssl_dist_optfile FILE (its client part; the nodes'\n"
      "                      file works). EPMD stays plain. A handshake that fails\n"
      "                      (unknown CA, expired, no client certificate) counts in\n"
      "                      erlpeer_scrape_errors_total and is logged with OpenSSL's\n"
      "                      reason once per change.\n"
      "  NODE                a node to watch: name@host, or name for this host.\n"
      "\n"
      "A node that cannot be reached is retried with exponential backoff (from %u ms,\n"
      "doubling, with jitter, up to the interval and at most %u ms); while it is not\n"
      "up it exports only erlpeer_node_up 0 and erlpeer_scrape_errors_total{reason}.\n"
      "A change of a node's state is logged once on stderr, never once per retry.\n"
      "SIGINT or SIGTERM stops the agent. Options also take the --opt=value form.\n"
      "\n"
      "Security: the agent holds the cookie, and whoever holds a node's cookie can do\n"
      "anything on that node. Keep the cookie file private; /metrics has no\n"
      "authentication: keep --listen on 127.0.0.1 or a trusted network.\n"
      "\n"
      "exit status: 0 stopped by SIGINT or SIGTERM; 1 cannot listen on the --listen\n"
      "             address; 2 bad usage, or this program's node could not start\n"
      "             (no cookie, bad name).\n",
      AGENT_DEFAULT_PORT, AGENT_DEFAULT_INTERVAL_MS, AGENT_TOP_MAX, AGENT_TOP_MAX_PIDS, AGENT_TOP_DEFAULT_BUDGET_MS,
      AGENT_DEFAULT_NAME, AGENT_DISCOVER_EVERY,
      AGENT_DISCOVER_GRACE, AGENT_BACKOFF_FIRST_MS, AGENT_BACKOFF_CAP_MS);
}

static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *bad) {
  size_t l = strlen(name);
  if (strncmp(argv[*i], name, l) != 0) return NULL;
  if (argv[*i][l] == '=') return argv[*i] + l + 1;
  if (argv[*i][l] != 0) return NULL;
  if (*i + 1 >= argc) {
    fprintf(stderr, "erlpeer agent: %s needs a value\n", name);
    *bad = true;
    return "";
  }
  return argv[++*i];
}

static bool push(const char ***list, size_t *n, const char *v) {
  const char **l = realloc(*list, (*n + 1) * sizeof *l);
  if (!l) return false;
  l[(*n)++] = v;
  *list = l;
  return true;
}

/* --- the round's outputs ------------------------------------------------------------- */

void agent_round_done(agent *ag) {
  ag->round_open = false;
  if (ag->stopping) return;
  if (ag->o.json) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    ep_buf b;
    ep_buf_init(&b, NULL);
    for (size_t i = 0; i < ag->n_targets; i++) agent_render_json(ag, ag->targets[i], now, &b);
    if (!b.err) agent_out_write(ag->out, (const char *)b.data, b.len, false);
    ep_buf_free(&b);
  }
  if (ag->o.textfile) {
    ep_buf b;
    ep_buf_init(&b, NULL);
    int r = agent_render_text(ag, &b) ? agent_write_file_atomic(ag->o.textfile, b.data, b.len) : -ENOMEM;
    ep_buf_free(&b);
    if (r != ag->textfile_err) {
      if (r) agent_log(ag, "--textfile %s: cannot write: %s", ag->o.textfile, strerror(-r));
      else agent_log(ag, "--textfile %s: written again", ag->o.textfile);
      ag->textfile_err = r;
    }
  }
}

/* --- the loop ------------------------------------------------------------------------ */

static void on_tick(uv_timer_t *t) { agent_tick(t->data); }

static void on_node_closed(ep_node *n, void *ud) {
  agent *ag = ud;
  (void)n;
  ag->node = NULL;
  agent_out_close(ag->out);
  agent_out_close(ag->err);
  ag->out = ag->err = NULL;
}

static void agent_stop(agent *ag, int code) {
  if (ag->stopping) return;
  ag->stopping = true;
  ag->exit_code = code;
  uv_close((uv_handle_t *)&ag->tick, NULL);
  uv_close((uv_handle_t *)&ag->sigint, NULL);
  uv_close((uv_handle_t *)&ag->sigterm, NULL);
  agent_http_close(ag);
  agent_discover_cancel(ag);
  agent_targets_close(ag);
  if (ag->node) ep_node_close(ag->node, on_node_closed, ag);
  else on_node_closed(NULL, ag);
}

static void on_signal(uv_signal_t *s, int signum) {
  agent *ag = s->data;
  agent_log(ag, "stopping (signal %d)", signum);
  agent_stop(ag, 0);
}

static void on_started(ep_node *n, int status, void *ud) {
  agent *ag = ud;
  if (ag->stopping) return;
  if (status) {
    char why[600];
    const char *cw = ep_tool_cookie_reason(status, why, sizeof why);
    agent_log(ag, "cannot start a node: %s", cw ? cw : ep_strerror(status));
    agent_stop(ag, 2);
    return;
  }
  agent_log(ag, "node %s watching %zu node(s)%s, every %llu ms", ep_node_name(n), ag->n_targets,
            ag->o.n_discover ? " and discovering" : "", (unsigned long long)ag->o.interval_ms);
  ag->started = true;
  agent_targets_start(ag);
  uv_timer_start(&ag->tick, on_tick, ag->o.interval_ms, ag->o.interval_ms);
  if (ag->o.n_discover) agent_discover(ag);
}

int ep_cmd_agent(int argc, char **argv) {
  agent ag;
  memset(&ag, 0, sizeof ag);
  ag.o.listen = "127.0.0.1:9477";
  ag.o.interval_ms = AGENT_DEFAULT_INTERVAL_MS;
  ag.o.top_budget_ms = AGENT_TOP_DEFAULT_BUDGET_MS;
  ep_tool_node_args na = {0};
  na.name = AGENT_DEFAULT_NAME;
  const char **nodes = NULL;
  size_t n_nodes = 0;
  int rc = 2;
  for (int i = 1; i < argc; i++) {
    bool bad = false;
    const char *v;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help();
      rc = 0;
      goto out;
    }
    if ((v = opt_value(argc, argv, &i, "--listen", &bad))) {
      ag.o.listen = v;
    } else if ((v = opt_value(argc, argv, &i, "--interval", &bad))) {
      char *end;
      unsigned long long ms = strtoull(v, &end, 10);
      if (bad || !*v || *end || ms < 50 || ms > 86400000ull) {
        fprintf(stderr, "erlpeer agent: --interval takes milliseconds (50 to 86400000), not '%s'\n", v);
        goto out;
      }
      ag.o.interval_ms = ms;
    } else if (!strcmp(argv[i], "--json")) {
      ag.o.json = true;
    } else if (!strncmp(argv[i], "--top-", 6)) {
      bool top = !strncmp(argv[i], "--top-processes", 15);
      if (!(v = opt_value(argc, argv, &i, top ? "--top-processes" : "--top-budget", &bad))) {
        fprintf(stderr, "erlpeer agent: unexpected argument '%s' (see --help)\n", argv[i]);
        goto out;
      }
      char *end;
      unsigned long long x = strtoull(v, &end, 10);
      unsigned long long max = top ? AGENT_TOP_MAX : 60000;
      if (bad || !*v || *end || x < 1 || x > max) {
        fprintf(stderr, "erlpeer agent: %s takes %s (1 to %llu), not '%s'\n", top ? "--top-processes" : "--top-budget",
                top ? "a number of processes" : "milliseconds", max, v);
        goto out;
      }
      if (top) ag.o.top_n = (unsigned)x;
      else ag.o.top_budget_ms = x;
    } else if ((v = opt_value(argc, argv, &i, "--textfile", &bad))) {
      ag.o.textfile = v;
    } else if ((v = opt_value(argc, argv, &i, "--discover", &bad))) {
      if (!bad && !push(&ag.o.discover, &ag.o.n_discover, v)) goto out;
    } else if ((v = opt_value(argc, argv, &i, "--include", &bad))) {
      if (!bad && !push(&ag.o.include, &ag.o.n_include, v)) goto out;
    } else if ((v = opt_value(argc, argv, &i, "--exclude", &bad))) {
      if (!bad && !push(&ag.o.exclude, &ag.o.n_exclude, v)) goto out;
    } else if ((v = opt_value(argc, argv, &i, "--names", &bad))) {
      if (!strcmp(v, "current")) ag.o.names = AGENT_NAMES_CURRENT;
      else if (!strcmp(v, "classic")) ag.o.names = AGENT_NAMES_CLASSIC;
      else {
        fprintf(stderr, "erlpeer agent: --names is current or classic, not '%s'\n", v);
        goto out;
      }
    } else if (!strncmp(argv[i], "--timeout", 9)) {
      fprintf(stderr, "erlpeer agent: unexpected argument '%s' (the timeout follows --interval; see --help)\n",
              argv[i]);
      goto out;
    } else {
      int r = ep_tool_node_opt(argc, argv, &i, &na);
      if (r < 0) goto out;
      if (r == 0) {
        if (argv[i][0] == '-') {
          fprintf(stderr, "erlpeer agent: unexpected argument '%s' (see --help)\n", argv[i]);
          goto out;
        }
        if (!push(&nodes, &n_nodes, argv[i])) goto out;
      }
    }
    if (bad) goto out;
  }
  if (!n_nodes && !ag.o.n_discover) {
    fprintf(stderr, "erlpeer agent: which nodes? name them, or --discover HOST (see --help)\n");
    goto out;
  }
  if ((ag.o.n_include || ag.o.n_exclude) && !ag.o.n_discover) {
    fprintf(stderr, "erlpeer agent: --include and --exclude select discovered nodes: add --discover HOST\n");
    goto out;
  }

  signal(SIGPIPE, SIG_IGN); /* a client gone mid-answer, a closed stdout: errors, not death */
  srand((unsigned)(getpid() ^ time(NULL)));
  uv_loop_t loop;
  if (uv_loop_init(&loop)) goto out;
  ag.loop = &loop;
  ag.out = agent_out_new(&loop, 1);
  ag.err = agent_out_new(&loop, 2);
  ag.items = agent_items_new();
  uv_timer_init(&loop, &ag.tick);
  ag.tick.data = &ag;
  uv_signal_init(&loop, &ag.sigint);
  uv_signal_init(&loop, &ag.sigterm);
  ag.sigint.data = ag.sigterm.data = &ag;
  uv_signal_start(&ag.sigint, on_signal, SIGINT);
  uv_signal_start(&ag.sigterm, on_signal, SIGTERM);

  ep_node_opts *o = ep_node_opts_new();
  int r = o && ag.items ? 0 : EP_ENOMEM;
  if (!r) r = ep_node_opts_set_name(o, na.name);
  if (!r && na.cookie) r = ep_node_opts_set_cookie(o, na.cookie);
  if (o) {
    ep_node_opts_set_longnames(o, na.longnames);
    ep_node_opts_set_ipv6(o, na.ipv6);
    ep_node_opts_set_client(o, true); /* dials out only: no listener, no EPMD */
    ep_node_opts_set_event_cb(o, agent_on_node_event, &ag);
  }
  /* TLS distribution to every target: the optfile's client part (its
   * server part would be for nodes dialing in, which a client node has none
   * of). The reason of a bad file is printed by ep_tool_node_tls. */
  bool tls_bad = false;
  if (!r && na.ssl_dist_optfile) tls_bad = (r = ep_tool_node_tls(&na, o)) != 0;
  if (!r) r = ep_node_start(&loop, o, on_started, &ag, &ag.node);
  ep_node_opts_free(o);
  if (r) {
    if (!tls_bad) fprintf(stderr, "erlpeer agent: cannot start a node: %s\n", ep_strerror(r));
    ag.node = NULL;
    agent_stop(&ag, 2);
  } else {
    const char *at = strchr(ep_node_name(ag.node), '@');
    snprintf(ag.host, sizeof ag.host, "%s", at ? at + 1 : "localhost");
    for (size_t i = 0; i < n_nodes; i++) agent_target_add(&ag, nodes[i], -1);
    char bound[128];
    if (strcmp(ag.o.listen, "none") == 0) {
      /* no HTTP: --json or --textfile only */
    } else if (agent_http_start(&ag, bound, sizeof bound) == 0) {
      agent_log(&ag, "serving /metrics on http://%s/metrics", bound);
    } else {
      agent_stop(&ag, 1);
    }
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  rc = ag.exit_code;
  free(ag.disc);
  agent_items_free(ag.items);
  free(ag.targets);
  if (uv_loop_close(&loop) != 0) {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
out:
  free(nodes);
  free(ag.o.discover);
  free(ag.o.include);
  free(ag.o.exclude);
  return rc;
}
