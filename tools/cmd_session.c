/* erlpeer session - control many peers with one command per line on stdin.
 *
 * stdin is read by a thread that hands complete lines to the loop through a
 * uv_async (stdin may be a file, a pipe or a terminal; only a thread reads
 * all three the same way). Each line is read into a command by
 * ep_scmd_parse (tool_session.c, no I/O: unit-tested and fuzzed). Commands
 * run one at a time, in order; output and down notices are written whenever
 * they happen, each as one line. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cmd_peer_util.h"
#include "commands.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_peer.h"
#include "ep_text.h"
#include "tool_node.h"
#include "tool_session.h"

static const char help[] =
    "usage: erlpeer session [--origin NAME@HOST] [--net-ticktime S] [--ssl-dist-optfile FILE | --tls]\n"
    "\n"
    "Reads one command per line on stdin, each an Erlang term ending in '.',\n"
    "and answers each with one Erlang term per line on stdout, in order:\n"
    "\n"
    "  {start, Id, #{...}}            -> {ok, Id, Node} | {error, Id, Reason}\n"
    "      keys: name, host, longnames, connection (dist | 0 | Port |\n"
    "      {IP, Port} | standard_io), exec (Prog | {Prog, [Arg]}), args\n"
    "      ([string()]), env ([{K, V}]), wait_boot (ms | infinity | false),\n"
    "      shutdown (close | halt | {halt, T} | T | infinity), peer_down\n"
    "      (stop | continue | crash), detached (true | false)\n"
    "  {call, Id, M, F, Args}          -> {ok, Id, Result} | {error, Id, {Class, Reason}}\n"
    "  {call, Id, M, F, Args, TimeoutMs | infinity}    (default 5000 ms)\n"
    "  {cast, Id, M, F, Args}          -> {ok, Id}\n"
    "  {send, Id, To, Msg}             -> {ok, Id}\n"
    "  {state, Id}                     -> {state, Id, booting | running | {down, Reason}}\n"
    "  {stop, Id}                      -> {stopped, Id}\n"
    "\n"
    "At any time: {output, Id, <<\"text\">>} for what a peer prints,\n"
    "{message, Id, To, Msg} for a message a peer sends to the controller, and\n"
    "{down, Id, Reason} when a peer goes down on its own.\n"
    "Start errors: already_started, {boot_failed, R} (R: {exit_status, N},\n"
    "...), timeout (wait_boot passed), accept_timeout (a tcp peer never\n"
    "connected), {error, 'EP_...'}; a detached tcp peer behind an exec wrapper\n"
    "that timed out also gets a line on stderr: a container (podman run --rm)\n"
    "ends with its first process, the launcher that erl -detached exits at\n"
    "once, and takes the peer with it (use detached => false); any command on an unknown Id gets\n"
    "{error, Id, no_such_peer}; a call, cast or send that cannot complete\n"
    "gets {error, Id, {exit, timeout | noconnection | peer_crashed |\n"
    "not_running}}.\n"
    "A malformed line gets {error, badarg, Description} and the session goes on.\n"
    "End of input stops every peer with its shutdown mode, then exits.\n"
    "\n"
    "Without a name the peer is not distributed; with a name the default\n"
    "connection is dist (this program then runs a hidden node the peer dials).\n"
    "--ssl-dist-optfile FILE: every dist peer runs -proto_dist inet_tls\n"
    "-ssl_dist_optfile FILE and this program's node speaks TLS from the same OTP\n"
    "file (short names); --tls: the same with a throwaway CA and a certificate\n"
    "of its own for this program's node and for each dist peer, in a private\n"
    "0700 folder, removed when the session ends.\n"
    "\n"
    "options:\n"
    "  --origin NAME@HOST  this program's node name, for dist peers on other\n"
    "                      hosts to dial back (HOST: how they reach this\n"
    "                      machine); long names when HOST has a dot, so dist\n"
    "                      peers then need longnames => true\n"
    "  --net-ticktime S    net_ticktime of this program's node in seconds\n"
    "                      (default 60); give peers the same in args:\n"
    "                      [\"-kernel\", \"net_ticktime\", \"S\"]\n"
    "Either starts this program's node at once, with that name and mode\n"
    "(short names without --origin), and dist peers in the other naming mode\n"
    "fail to start; without them it starts when the first dist peer needs it,\n"
    "in that peer's mode.\n"
    "\n"
    "exit status: 0 once input ended and every peer stopped; 2 bad usage or\n"
    "             out of memory.\n";

typedef struct line {
  struct line *next;
  char *text;
} line;

typedef struct entry {
  struct entry *next;
  ep_arena *arena; /* owns id */
  ep_term id;
  ep_peer *peer;
  int stopping;
} entry;

typedef struct session {
  ep_ctl *ctl;
  uv_loop_t *loop;
  uv_async_t async;
  pthread_mutex_t mu;
  line *head, *tail;
  int eof;      /* reader reached end of input */
  int busy;     /* a command is in flight */
  int finishing;
  int pending_stops;
  entry *peers;
  const char *tls_file; /* TLS distribution for every dist peer */
  ep_tls_throwaway *tls_tmp; /* --tls: a certificate of its own for each */
} session;

/* A start command's peer is distributed: connection dist, or a name and
 * no connection. */
static bool starts_dist(const ep_scmd *c) {
  bool named = false;
  for (size_t i = 0; i < c->nopts; i++) {
    ep_sopt_key k = c->opts[i].key;
    if (k == EP_SOPT_CONN_DIST) return true;
    if (k == EP_SOPT_CONN_STDIO || k == EP_SOPT_CONN_TCP) return false;
    if (k == EP_SOPT_NAME) named = true;
  }
  return named;
}

static void emit(ep_term t) {
  ep_buf b;
  ep_buf_init(&b, NULL);
  if (ep_print(&b, t) == 0) {
    fwrite(b.data, 1, b.len, stdout);
    fputs(".\n", stdout);
    fflush(stdout);
  }
  ep_buf_free(&b);
}

static void emit_badarg(const char *why) {
  ep_arena *a = ep_arena_new(NULL);
  emit(EP_TUPLE(a, ep_atom("error"), ep_atom("badarg"), ep_binary_str(a, why)));
  ep_arena_free(a);
}

static entry *find(session *s, ep_term id) {
  for (entry *e = s->peers; e; e = e->next)
    if (ep_term_eq(e->id, id)) return e;
  return NULL;
}

static entry *find_peer(session *s, ep_peer *p) {
  for (entry *e = s->peers; e; e = e->next)
    if (e->peer == p) return e;
  return NULL;
}

static void remove_entry(session *s, entry *x) {
  for (entry **pp = &s->peers; *pp; pp = &(*pp)->next)
    if (*pp == x) {
      *pp = x->next;
      break;
    }
  ep_arena_free(x->arena);
  free(x);
}

static void process_next(session *s);

/* The next command runs from the loop, never inside a peer callback. */
static void done(session *s) {
  s->busy = 0;
  uv_async_send(&s->async);
}

/* Reason term from a down reason text ("{exit_status,1}" parses; other
 * texts become atoms). */
static ep_term reason_term(ep_arena *a, const char *text) {
  ep_term t;
  if (text && *text && ep_parse_str(a, text, &t, NULL) == 0) return t;
  return ep_atom_copy(a, text ? text : "unknown", text ? strlen(text) : 7);
}

static ep_term err_reason(ep_arena *a, ep_peer *p, int err) {
  switch (err) {
    case EP_EBOOT:
      return EP_TUPLE(a, ep_atom("boot_failed"), reason_term(a, ep_peer_down_reason(p)));
    case EP_ETIMEDOUT:
      return ep_atom("timeout");
    case EP_ENOCONNECT:
      return ep_atom("accept_timeout");
    case EP_ENEEDNODE:
      return ep_atom("no_node"); /* only a controller on a caller's loop */
    default: {
      const char *n = ep_err_name(err);
      return EP_TUPLE(a, ep_atom("error"), ep_atom_copy(a, n, strlen(n)));
    }
  }
}

/* --- peer callbacks ---------------------------------------------------------------- */

static void on_output(ep_peer *p, const char *text, size_t len, void *ud) {
  session *s = ud;
  entry *e = find_peer(s, p);
  if (!e) return;
  ep_arena *a = ep_arena_new(NULL);
  emit(EP_TUPLE(a, ep_atom("output"), e->id, ep_binary(a, text, len)));
  ep_arena_free(a);
}

static void on_message(ep_peer *p, ep_term to, ep_term msg, void *ud) {
  session *s = ud;
  entry *e = find_peer(s, p);
  ep_arena *a = e ? ep_arena_new(NULL) : NULL;
  if (a) emit(EP_TUPLE(a, ep_atom("message"), e->id, to, msg));
  ep_arena_free(a);
}

static void on_state(ep_peer *p, ep_peer_state st, int err, void *ud) {
  session *s = ud;
  entry *e = find_peer(s, p);
  if (!e || st != EP_PEER_DOWN || e->stopping || err == EP_ECLOSED) return;
  /* a boot failure is answered by the start reply, not as {down, ...} */
  if (err == EP_EBOOT || err == EP_ETIMEDOUT || err == EP_ENOCONNECT || err == EP_ECANCELED) return;
  ep_arena *a = ep_arena_new(NULL);
  emit(EP_TUPLE(a, ep_atom("down"), e->id, reason_term(a, ep_peer_down_reason(p))));
  ep_arena_free(a);
}

static void on_started(ep_peer *p, int err, void *ud) {
  session *s = ud;
  entry *e = find_peer(s, p);
  ep_arena *a = ep_arena_new(NULL);
  if (err == 0) {
    const char *node = ep_peer_node(p);
    emit(EP_TUPLE(a, ep_atom("ok"), e->id,
                  node ? ep_atom_copy(a, node, strlen(node)) : ep_atom("undefined")));
  } else {
    emit(EP_TUPLE(a, ep_atom("error"), e->id, err_reason(a, p, err)));
    const char *hint = ep_tool_detached_hint(err, ep_peer_argv(p));
    if (hint) {
      ep_buf b;
      ep_buf_init(&b, NULL);
      ep_print(&b, e->id);
      fprintf(stderr, "erlpeer session: %.*s: %s\n", (int)b.len, (const char *)b.data, hint);
      ep_buf_free(&b);
    }
    ep_peer_free(p);
    remove_entry(s, e);
  }
  ep_arena_free(a);
  done(s);
}

typedef struct call_ctx {
  session *s;
  ep_arena *a;
  ep_term id;
} call_ctx;

static void on_call(ep_peer *p, const ep_result *r, void *ud) {
  call_ctx *c = ud;
  ep_arena *a = c->a;
  if (r->status == 0)
    emit(EP_TUPLE(a, ep_atom("ok"), c->id, r->value));
  else
    emit(EP_TUPLE(a, ep_atom("error"), c->id, ep_tool_failure_term(a, r)));
  session *s = c->s;
  ep_arena_free(c->a);
  free(c);
  done(s);
}

typedef struct stop_ctx {
  session *s;
  entry *e;
  int reply;
} stop_ctx;

static void finish_if_done(session *s);

static void on_stopped(ep_peer *p, void *ud) {
  stop_ctx *c = ud;
  session *s = c->s;
  if (c->reply) {
    ep_arena *a = ep_arena_new(NULL);
    emit(EP_TUPLE(a, ep_atom("stopped"), c->e->id));
    ep_arena_free(a);
  }
  ep_peer_free(p);
  remove_entry(s, c->e);
  int reply = c->reply;
  free(c);
  if (reply)
    done(s);
  else {
    s->pending_stops--;
    finish_if_done(s);
  }
}

/* --- commands ------------------------------------------------------------------------- */

/* tool_session.h writes infinity as UINT32_MAX. */
static uint64_t session_ms(int64_t v) { return v == UINT32_MAX ? EP_INFINITY : (uint64_t)v; }

/* Applies the options that parsed, in map order; the first refusal, or else
 * the option that did not parse, gives the report. */
static int apply_opts(const ep_scmd *c, ep_peer_opts *o, const char **why) {
  for (size_t i = 0; i < c->nopts; i++) {
    const ep_sopt *x = &c->opts[i];
    int rc = 0;
    switch (x->key) {
      case EP_SOPT_NAME:
        rc = ep_peer_opts_set_name(o, x->str);
        break;
      case EP_SOPT_HOST:
        rc = ep_peer_opts_set_host(o, x->str);
        break;
      case EP_SOPT_LONGNAMES:
        rc = ep_peer_opts_set_longnames(o, x->mode);
        break;
      case EP_SOPT_CONN_STDIO:
        rc = ep_peer_opts_set_connection_stdio(o);
        break;
      case EP_SOPT_CONN_DIST:
        rc = ep_peer_opts_set_connection_dist(o);
        break;
      case EP_SOPT_CONN_TCP:
        rc = ep_peer_opts_set_connection_tcp(o, x->str, (int)x->num);
        break;
      case EP_SOPT_EXEC:
        rc = ep_peer_opts_set_exec(o, x->str, x->list);
        break;
      case EP_SOPT_ARGS:
        for (size_t j = 0; j < x->n && !rc; j++) rc = ep_peer_opts_add_arg(o, x->list[j]);
        break;
      case EP_SOPT_ENV:
        for (size_t j = 0; j < x->n && !rc; j++) rc = ep_peer_opts_set_env(o, x->list[2 * j], x->list[2 * j + 1]);
        break;
      case EP_SOPT_WAIT_BOOT:
        rc = x->mode == EP_SWAIT_FALSE      ? ep_peer_opts_set_wait_boot(o, EP_PEER_WAIT_NONE)
             : x->mode == EP_SWAIT_INFINITY ? ep_peer_opts_set_wait_boot(o, EP_INFINITY)
             : x->num > 0                   ? ep_peer_opts_set_wait_boot(o, (uint64_t)x->num)
                                            : EP_EINVAL;
        break;
      case EP_SOPT_SHUTDOWN: /* num is UINT32_MAX for infinity */
        rc = ep_peer_opts_set_shutdown(o, x->mode == EP_SSHUT_CLOSE  ? EP_PEER_SHUTDOWN_CLOSE
                                          : x->mode == EP_SSHUT_HALT ? EP_PEER_SHUTDOWN_HALT
                                                                     : EP_PEER_SHUTDOWN_STOP,
                                       session_ms(x->num));
        break;
      case EP_SOPT_PEER_DOWN:
        rc = ep_peer_opts_set_peer_down(o, x->mode == EP_SDOWN_STOP       ? EP_PEER_DOWN_STOP
                                           : x->mode == EP_SDOWN_CONTINUE ? EP_PEER_DOWN_CONTINUE
                                                                          : EP_PEER_DOWN_CRASH);
        break;
      case EP_SOPT_DETACHED:
        rc = ep_peer_opts_set_detached(o, x->mode);
        break;
    }
    if (rc) {
      *why = x->why;
      return rc;
    }
  }
  if (c->late_why) {
    *why = c->late_why;
    return EP_EINVAL;
  }
  return 0;
}

static void cmd_start(session *s, ep_arena *a, const ep_scmd *c) {
  ep_term id = c->id;
  if (find(s, id)) {
    emit(EP_TUPLE(a, ep_atom("error"), id, ep_atom("already_started")));
    done(s);
    return;
  }
  ep_peer_opts *o = ep_peer_opts_new();
  const char *why = "bad start option";
  int rc = apply_opts(c, o, &why);
  if (!rc && s->tls_file && starts_dist(c))
    rc = s->tls_tmp ? ep_peer_opts_set_tls_throwaway(o, s->tls_tmp) : ep_peer_opts_set_ssl_dist_optfile(o, s->tls_file);
  if (rc) {
    ep_peer_opts_free(o);
    emit_badarg(why);
    done(s);
    return;
  }
  ep_peer_opts_set_output(o, on_output, s);
  ep_peer_opts_set_message(o, on_message, s);
  ep_peer_opts_set_state_cb(o, on_state, s);
  entry *e = calloc(1, sizeof *e);
  e->arena = ep_arena_new(NULL);
  e->id = ep_term_copy(e->arena, id);
  e->next = s->peers;
  s->peers = e;
  rc = ep_peer_start(s->ctl, o, true, &e->peer, on_started, s);
  ep_peer_opts_free(o);
  if (rc) {
    emit(EP_TUPLE(a, ep_atom("error"), id, err_reason(a, NULL, rc)));
    remove_entry(s, e);
    done(s);
  }
}

/* A command read by ep_scmd_parse (not SKIP or SYNTAX), with s->busy set. */
static void handle(session *s, ep_arena *a, const ep_scmd *c) {
  if (c->kind == EP_SCMD_BADARG) {
    emit_badarg(c->why);
    done(s);
    return;
  }
  if (c->kind == EP_SCMD_START) {
    cmd_start(s, a, c);
    return;
  }
  ep_term id = c->id;
  entry *e = find(s, id);
  if (!e) {
    emit(EP_TUPLE(a, ep_atom("error"), id, ep_atom("no_such_peer")));
    done(s);
    return;
  }
  ep_peer *p = e->peer;
  int rc = 0;
  if (c->kind == EP_SCMD_CALL) {
    if (c->late_why) {
      emit_badarg(c->late_why);
      done(s);
      return;
    }
    uint64_t ms = c->timeout_ms < 0 ? EP_PEER_DEFAULT_CALL_MS : session_ms(c->timeout_ms);
    call_ctx *cc = calloc(1, sizeof *cc);
    cc->s = s;
    cc->a = ep_arena_new(NULL);
    cc->id = ep_term_copy(cc->a, id);
    rc = ep_peer_call(p, c->args[0], c->args[1], c->args[2], ms, on_call, cc);
    if (rc) {
      ep_result r = {rc, ep_none(), ep_none(), ep_none(), ep_none(), NULL};
      emit(EP_TUPLE(a, ep_atom("error"), id, ep_tool_failure_term(a, &r)));
      ep_arena_free(cc->a);
      free(cc);
      done(s);
    }
    return;
  }
  if (c->kind == EP_SCMD_CAST || c->kind == EP_SCMD_SEND) {
    rc = c->kind == EP_SCMD_CAST ? ep_peer_cast(p, c->args[0], c->args[1], c->args[2])
                                 : ep_peer_send(p, c->args[0], c->args[1]);
    if (rc == EP_EINVAL)
      emit_badarg("cast wants a list of arguments; send wants a pid or an atom");
    else if (rc) {
      ep_result r = {rc, ep_none(), ep_none(), ep_none(), ep_none(), NULL};
      emit(EP_TUPLE(a, ep_atom("error"), id, ep_tool_failure_term(a, &r)));
    } else
      emit(EP_TUPLE(a, ep_atom("ok"), id));
    done(s);
    return;
  }
  if (c->kind == EP_SCMD_STATE) {
    ep_peer_state st = ep_peer_get_state(p);
    ep_term v = st == EP_PEER_BOOTING   ? ep_atom("booting")
                : st == EP_PEER_RUNNING ? ep_atom("running")
                                        : EP_TUPLE(a, ep_atom("down"),
                                                   reason_term(a, ep_peer_down_reason(p)));
    emit(EP_TUPLE(a, ep_atom("state"), id, v));
    done(s);
    return;
  }
  /* stop */
  stop_ctx *sc = calloc(1, sizeof *sc);
  sc->s = s;
  sc->e = e;
  sc->reply = 1;
  e->stopping = 1;
  if (ep_peer_stop(p, on_stopped, sc)) {
    free(sc);
    emit(EP_TUPLE(a, ep_atom("stopped"), id));
    ep_peer_free(p);
    remove_entry(s, e);
    done(s);
  }
}

static void finish_if_done(session *s) {
  if (s->finishing && s->pending_stops == 0) {
    uv_close((uv_handle_t *)&s->async, NULL);
    /* The controller's hidden node (dist peers) keeps the loop alive:
     * stop it here; ep_ctl_free closes the node. */
    uv_stop(s->loop);
  }
}

static void finish(session *s) {
  s->finishing = 1;
  entry *e = s->peers;
  while (e) {
    entry *n = e->next;
    stop_ctx *c = calloc(1, sizeof *c);
    c->s = s;
    c->e = e;
    e->stopping = 1;
    if (ep_peer_stop(e->peer, on_stopped, c) == 0)
      s->pending_stops++;
    else {
      free(c);
      ep_peer_free(e->peer);
      remove_entry(s, e);
    }
    e = n;
  }
  finish_if_done(s);
}

static void process_next(session *s) {
  while (!s->busy && !s->finishing) {
    pthread_mutex_lock(&s->mu);
    line *l = s->head;
    if (l) {
      s->head = l->next;
      if (!s->head) s->tail = NULL;
    }
    int eof = s->eof;
    pthread_mutex_unlock(&s->mu);
    if (!l) {
      if (eof) finish(s);
      return;
    }
    ep_arena *a = ep_arena_new(NULL);
    ep_scmd c;
    ep_scmd_parse(a, l->text, strlen(l->text), &c);
    if (c.kind == EP_SCMD_SYNTAX) {
      emit_badarg(c.why);
    } else if (c.kind != EP_SCMD_SKIP) { /* SKIP: a blank line or a comment */
      s->busy = 1;
      handle(s, a, &c);
    }
    ep_arena_free(a);
    free(l->text);
    free(l);
  }
}

static void on_async(uv_async_t *h) { process_next(h->data); }

static void *reader(void *arg) {
  session *s = arg;
  char *buf = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&buf, &cap, stdin)) >= 0) {
    line *l = malloc(sizeof *l);
    l->text = strndup(buf, (size_t)n);
    l->next = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->tail)
      s->tail->next = l;
    else
      s->head = l;
    s->tail = l;
    pthread_mutex_unlock(&s->mu);
    uv_async_send(&s->async);
  }
  free(buf);
  pthread_mutex_lock(&s->mu);
  s->eof = 1;
  pthread_mutex_unlock(&s->mu);
  uv_async_send(&s->async);
  return NULL;
}

/* --origin and --net-ticktime: the controller's node, started now with
 * them (a default node would have neither). */
static int start_node(ep_ctl *ctl, const char *origin, bool longnames, unsigned ticktime, const char *tls_file) {
  ep_node_opts *no = ep_node_opts_new();
  int r = no ? 0 : EP_ENOMEM;
  if (!r && origin) r = ep_node_opts_set_name(no, origin);
  if (!r && tls_file && (r = ep_node_opts_set_ssl_dist_optfile(no, tls_file)))
    fprintf(stderr, "erlpeer session: %s\n", ep_node_opts_error(no));
  if (!r) {
    ep_node_opts_set_longnames(no, longnames);
    if (ticktime) ep_node_opts_set_ticktime(no, ticktime);
    ep_node_opts_set_notice_cb(no, ep_tool_notice, NULL);
    r = ep_ctl_start_node(ctl, no);
  }
  ep_node_opts_free(no);
  if (r) {
    char cwhy[600];
    const char *cw = ep_tool_cookie_reason(r, cwhy, sizeof cwhy);
    fprintf(stderr, "erlpeer session: cannot start this program's node%s%s: %s\n", origin ? " " : "",
            origin ? origin : "", cw ? cw : ep_strerror(r));
  }
  return r;
}

int ep_cmd_session(int argc, char **argv) {
  const char *origin = NULL;
  bool longnames = false;
  unsigned ticktime = 0;
  const char *tls_file = NULL;
  bool tls_throwaway = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(help, stdout);
      return 0;
    }
    if (!strcmp(a, "--origin") || !strcmp(a, "--net-ticktime")) {
      int bad = !v;
      if (v && a[2] == 'o') {
        origin = v;
        bad = ep_tool_parse_origin(v, &longnames) != 0;
      } else if (v) {
        bad = ep_tool_parse_ticktime(v, &ticktime) != 0;
      }
      if (bad) {
        fprintf(stderr, "erlpeer session: %s wants %s\n", a,
                a[2] == 'o' ? "NAME@HOST" : "whole seconds (1..86400)");
        return 2;
      }
      i++;
      continue;
    }
    if (!strcmp(a, "--ssl-dist-optfile") && i + 1 < argc) {
      tls_file = argv[++i];
      continue;
    }
    if (!strcmp(a, "--tls")) {
      tls_throwaway = true;
      continue;
    }
    fprintf(stderr, "erlpeer session: unknown option '%s' (see --help)\n", a);
    return 2;
  }
  session s;
  memset(&s, 0, sizeof s);
  ep_tls_throwaway *tls_tmp = NULL;
  if (tls_throwaway && !tls_file) {
    int r = ep_tls_throwaway_new(&tls_tmp);
    if (r) {
      fprintf(stderr, "erlpeer session: cannot make throwaway certificates: %s\n", ep_strerror(r));
      return 2;
    }
    tls_file = ep_tls_throwaway_optfile(tls_tmp);
  }
  s.tls_file = tls_file;
  s.tls_tmp = tls_tmp;
  s.ctl = ep_ctl_new(NULL);
  if (s.ctl) ep_ctl_set_notice_cb(s.ctl, ep_tool_notice, NULL);
  if (!s.ctl) {
    ep_tls_throwaway_free(tls_tmp);
    return 2;
  }
  /* The controller's node is started now when it is to have a name, a tick
   * time or TLS from the start (a default node, started by the first dist
   * peer, would have none of them). */
  if ((origin || ticktime || tls_file) && start_node(s.ctl, origin, longnames, ticktime, tls_file)) {
    ep_ctl_free(s.ctl);
    ep_tls_throwaway_free(tls_tmp);
    return 2;
  }
  s.loop = ep_ctl_loop(s.ctl);
  pthread_mutex_init(&s.mu, NULL);
  uv_async_init(s.loop, &s.async, on_async);
  s.async.data = &s;
  pthread_t th;
  pthread_create(&th, NULL, reader, &s);
  pthread_detach(th);
  uv_run(s.loop, UV_RUN_DEFAULT);
  ep_ctl_free(s.ctl);
  ep_tls_throwaway_free(tls_tmp); /* every peer has stopped */
  return 0;
}
