/* erlpeer call: M:F(Args) or Erlang expressions on a node, as erl_call does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_peer_util.h"
#include "commands.h"
#include "ep_error.h"
#include "ep_io.h"
#include "ep_text.h"
#include "tool_node.h"

static void help(void) {
  printf(
      "usage: erlpeer call [--cookie C] [--sname N | --name N] [--ipv6] [--timeout MS] [--net-ticktime S]\n"
      "                    [--net-setuptime S] [--ssl-dist-optfile FILE] NODE MOD FUN [ARGS]\n"
      "       erlpeer call [options] --eval 'Expressions.' NODE     (or -e)\n"
      "       erlpeer call [options] NODE --call 'M:F(A, ...)' [--call 'M:F(A, ...)' ...]\n"
      "\n"
      "Connects to NODE as a hidden node and calls MOD:FUN(ARGS...), where ARGS is\n"
      "an Erlang list in Erlang syntax (default []), or evaluates Expressions there\n"
      "(like erl_call -e). Prints the result as one Erlang term on stdout.\n"
      "Several --call steps (their arguments are Erlang terms, as ARGS, not\n"
      "expressions) go to NODE as one request and run one after the other in one\n"
      "process there; nothing is loaded on NODE (no erl_eval): a poll of many\n"
      "values in one round trip. One line per step on stdout, in order: its result\n"
      "as an Erlang term, or 'exception Class:Reason' ('badrpc Reason') for a step\n"
      "that raised, its stacktrace on stderr. --timeout bounds the whole request.\n"
      "NODE without @ means the local host. The cookie is read from\n"
      "~/.erlang.cookie unless --cookie is given (it is never passed to a command\n"
      "line by erlpeer itself). --sname/--name name this program's node (short or\n"
      "long names; default: the first of _erlpeer_c0 .. _erlpeer_c15 not in use on\n"
      "NODE, short, so that repeated calls add no atoms to NODE, as erl_call's\n"
      "c17). A node of the name given already connected to NODE makes the call\n"
      "fail (exit 2) rather than cut that node's connection. --timeout is in milliseconds\n"
      "(default, or 0: infinity; connecting then gives up after the setup time).\n"
      "--net-setuptime S bounds setting the connection up, handshake included\n"
      "(default 7, as OTP's net_setuptime).\n"
      "--ipv6 talks to nodes and EPMD over IPv6 (nodes run with -proto_dist inet6_tcp).\n"
      "--net-ticktime S is this program's net_ticktime in seconds (default 60): a\n"
      "connection silent for S seconds is lost (the call then fails with exit\n"
      "status 2); give NODE's value to match it.\n"
      "--ssl-dist-optfile FILE speaks TLS distribution (nodes run with -proto_dist\n"
      "inet_tls -ssl_dist_optfile FILE), configured from the same OTP file.\n"
      "Options also take the --opt=value form.\n"
      "\n"
      "exit status: 0 a result (with --call: every step returned); 1 an exception,\n"
      "             badrpc or timeout (with --call: of the whole request, nothing on\n"
      "             stdout), or Expressions that do not parse (printed on stderr);\n"
      "             2 no connection, or lost before the answer (the cause on stderr)\n"
      "             or bad usage (ARGS or a --call that do not parse included);\n"
      "             3 (--call) the request ran and at least one step raised.\n");
}

/* Prints the term followed by a newline on f. */
static void print_term(FILE *f, ep_term t) {
  ep_buf b;
  ep_buf_init(&b, NULL);
  if (ep_print(&b, t) == 0) fwrite(b.data, 1, b.len, f);
  else fputs("<unprintable>", f);
  fputc('\n', f);
  ep_buf_free(&b);
}

static void print_exception(const ep_result *r) {
  if (r->status == EP_EEXCEPTION) {
    fputs("erlpeer call: exception ", stderr);
    ep_buf b;
    ep_buf_init(&b, NULL);
    ep_print(&b, r->cls);
    ep_buf_append(&b, ":", 1);
    ep_print(&b, r->reason);
    fwrite(b.data, 1, b.len, stderr);
    fputc('\n', stderr);
    if (!ep_is_none(r->stack) && r->stack.type != EP_T_NIL) {
      b.len = 0;
      ep_print(&b, r->stack);
      fprintf(stderr, "  stacktrace: %.*s\n", (int)b.len, (const char *)b.data);
    }
    ep_buf_free(&b);
  } else if (r->status == EP_EBADRPC) {
    fputs("erlpeer call: badrpc ", stderr);
    print_term(stderr, r->reason);
  } else {
    fprintf(stderr, "erlpeer call: %s\n", ep_strerror(r->status));
  }
}

/* Expressions are evaluated on the node with its own scanner, parser and
 * evaluator: erl_scan:string/2, erl_parse:parse_exprs/1, erl_eval:exprs/2.
 * A scan or parse error is explained with the module's format_error/1 there. */
static int eval_remote(ep_node *n, const char *node, const char *text, uint64_t timeout, ep_arena *a,
                       ep_result *r) {
  ep_term args = EP_LIST(a, ep_string(a, text), EP_TUPLE(a, ep_int(1), ep_int(1)));
  int s = ep_rpc_call_sync(n, node, "erl_scan", "string", args, timeout, a, r);
  if (s) return s;
  ep_term v = r->value;
  ep_term where = ep_none(), mod = ep_none(), desc = ep_none();
  if (ep_is_record(v, "ok", 3)) {
    s = ep_rpc_call_sync(n, node, "erl_parse", "parse_exprs", EP_LIST(a, v.v.items[1]), timeout, a, r);
    if (s) return s;
    v = r->value;
    if (ep_is_record(v, "ok", 2)) {
      ep_term bindings = EP_LIST(a, v.v.items[1], ep_nil());
      s = ep_rpc_call_sync(n, node, "erl_eval", "exprs", bindings, timeout, a, r);
      if (s) return s;
      if (ep_is_record(r->value, "value", 3)) {
        r->value = r->value.v.items[1];
        return 0;
      }
      return r->status = EP_EBADRPC;
    }
    if (ep_is_record(v, "error", 2) && ep_is_tuple(v.v.items[1]) && v.v.items[1].n == 3) {
      where = v.v.items[1].v.items[0], mod = v.v.items[1].v.items[1], desc = v.v.items[1].v.items[2];
    }
  } else if (ep_is_record(v, "error", 3) && ep_is_tuple(v.v.items[1]) && v.v.items[1].n == 3) {
    where = v.v.items[1].v.items[0], mod = v.v.items[1].v.items[1], desc = v.v.items[1].v.items[2];
  }
  if (mod.type == EP_T_ATOM) {
    ep_result fr;
    if (ep_rpc_call_sync(n, node, mod.v.str, "format_error", EP_LIST(a, desc), timeout, a, &fr) == 0) {
      ep_buf mb;
      ep_buf_init(&mb, NULL);
      if (ep_chardata_utf8(fr.value, false, &mb) != 0 || ep_buf_put8(&mb, 0) != 0) {
        mb.len = 0;
        ep_buf_append(&mb, "syntax error", 13);
      }
      const char *msg = (const char *)mb.data;
      int64_t line = 0, col = 0;
      if (where.type == EP_T_TUPLE && where.n == 2) {
        ep_get_int64(where.v.items[0], &line);
        ep_get_int64(where.v.items[1], &col);
      } else {
        ep_get_int64(where, &line);
      }
      fprintf(stderr, "erlpeer call: parse error at line %lld, column %lld: %s\n", (long long)line,
              (long long)col, msg);
      ep_buf_free(&mb);
      r->status = EP_ESYNTAX;
      return EP_ESYNTAX;
    }
  }
  fputs("erlpeer call: cannot parse the expressions: ", stderr);
  print_term(stderr, v);
  r->status = EP_ESYNTAX;
  return EP_ESYNTAX;
}

/* Prints "Class:Reason" (or the badrpc reason) of a failed item on f. */
static void print_item_failure(FILE *f, const ep_result *r) {
  ep_buf b;
  ep_buf_init(&b, NULL);
  if (r->status == EP_EEXCEPTION) {
    ep_buf_append(&b, "exception ", 10);
    ep_print(&b, r->cls);
    ep_buf_append(&b, ":", 1);
    ep_print(&b, r->reason);
  } else {
    ep_buf_append(&b, "badrpc ", 7);
    ep_print(&b, r->reason);
  }
  fwrite(b.data, 1, b.len, f);
  fputc('\n', f);
  ep_buf_free(&b);
}

/* The --call steps as one ep_rpc_multi request: one line per step. */
static int call_multi(ep_node *n, const char *node, const ep_rpc_item *items, size_t count, uint64_t timeout,
                      ep_arena *ar) {
  ep_rpc_multi_result mr;
  int st = ep_rpc_multi_sync(n, node, items, count, timeout, ar, &mr);
  if (st == EP_EBADRPC || st == EP_ETIMEDOUT) {
    ep_result whole = {st, ep_none(), ep_none(), mr.reason, ep_none(), ar};
    print_exception(&whole);
    return 1;
  }
  if (st) {
    fprintf(stderr, "erlpeer call: %s: %s\n", node, ep_tool_conn_reason(n, st));
    return 2;
  }
  int code = 0;
  for (size_t i = 0; i < mr.n; i++) {
    const ep_result *r = &mr.items[i];
    if (r->status == 0) {
      print_term(stdout, r->value);
      continue;
    }
    code = 3;
    print_item_failure(stdout, r);
    if (r->status == EP_EEXCEPTION && !ep_is_none(r->stack) && r->stack.type != EP_T_NIL) {
      ep_buf b;
      ep_buf_init(&b, NULL);
      ep_print(&b, r->stack);
      fprintf(stderr, "erlpeer call: --call %zu (%s:%s) stacktrace: %.*s\n", i + 1, items[i].mod, items[i].fun,
              (int)b.len, (const char *)b.data);
      ep_buf_free(&b);
    }
  }
  return code;
}

int ep_cmd_call(int argc, char **argv) {
  ep_tool_node_args a = {.timeout_ms = EP_INFINITY};
  const char *eval = NULL, *pos[4] = {0};
  int npos = 0;
  const char **calls = NULL; /* the --call texts, in order */
  size_t ncalls = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help();
      return 0;
    }
    int r = ep_tool_node_opt(argc, argv, &i, &a);
    if (r < 0) return 2;
    if (r) continue;
    if (!strcmp(argv[i], "--eval") || !strcmp(argv[i], "-e")) {
      if (i + 1 >= argc) {
        fprintf(stderr, "erlpeer call: --eval needs expressions\n");
        return 2;
      }
      eval = argv[++i];
      continue;
    }
    if (!strncmp(argv[i], "--eval=", 7)) {
      eval = argv[i] + 7;
      continue;
    }
    if (!strcmp(argv[i], "--call") || !strncmp(argv[i], "--call=", 7)) {
      const char *text = argv[i][6] == '=' ? argv[i] + 7 : i + 1 < argc ? argv[++i] : NULL;
      if (!text) {
        fprintf(stderr, "erlpeer call: --call needs 'M:F(A, ...)'\n");
        free(calls);
        return 2;
      }
      if (!calls) calls = malloc((size_t)argc * sizeof *calls); /* never more steps than arguments */
      if (!calls) {
        fprintf(stderr, "erlpeer call: out of memory\n");
        return 2;
      }
      calls[ncalls++] = text;
      continue;
    }
    if ((argv[i][0] == '-' && argv[i][1] == '-') || npos == 4) {
      fprintf(stderr, "erlpeer call: unexpected argument '%s' (see --help)\n", argv[i]);
      free(calls);
      return 2;
    }
    pos[npos++] = argv[i];
  }
  if (ncalls && (eval || npos != 1)) {
    fprintf(stderr, "erlpeer call: usage: erlpeer call [options] NODE --call 'M:F(A)' ... (not with MOD FUN or "
                    "--eval; see --help)\n");
    free(calls);
    return 2;
  }
  if (!ncalls && (eval ? npos != 1 : (npos < 3))) {
    fprintf(stderr, "erlpeer call: usage: erlpeer call [options] NODE MOD FUN [ARGS] (see --help)\n");
    return 2;
  }
  ep_arena *ar = ep_arena_new(NULL);
  ep_rpc_item *items = ncalls ? calloc(ncalls, sizeof *items) : NULL;
  if (!ar || (ncalls && !items)) {
    fprintf(stderr, "erlpeer call: out of memory\n");
    ep_arena_free(ar);
    free(calls);
    return 2;
  }
  for (size_t k = 0; k < ncalls; k++) {
    ep_term m, f;
    int r = ep_tool_parse_call(ar, calls[k], &m, &f, &items[k].args);
    if (r) {
      fprintf(stderr, "erlpeer call: --call '%s': %s\n", calls[k],
              r == EP_ENOMEM ? "out of memory" : "not Mod:Fun(Arg, ...) with atoms Mod and Fun and Erlang terms");
      free(items);
      free(calls);
      ep_arena_free(ar);
      return 2;
    }
    items[k].mod = m.v.str;
    items[k].fun = f.v.str;
  }
  free(calls);
  ep_term args = ep_nil();
  if (!eval && npos == 4) {
    ep_text_error te = {0};
    int r = ep_parse_str(ar, pos[3], &args, &te);
    if (r || !ep_is_list(args) || ep_list_tail(args).type != EP_T_NIL) {
      if (r == EP_ESYNTAX || r == EP_EINCOMPLETE)
        fprintf(stderr, "erlpeer call: ARGS: syntax error at line %u, column %u: %s\n", te.line, te.column,
                te.message ? te.message : "incomplete term");
      else
        fprintf(stderr, "erlpeer call: ARGS must be an Erlang list, like '[1, foo, \"bar\"]'\n");
      ep_arena_free(ar);
      return 2;
    }
  }
  ep_node *n;
  bool started;
  const char *node = pos[0];
  int r = ep_tool_node_connect(&a, node, a.timeout_ms != EP_INFINITY ? a.timeout_ms : 30000, &n, &started);
  if (r) {
    if (started) fprintf(stderr, "erlpeer call: could not connect to %s: %s\n", node, ep_tool_last_reason(r));
    free(items);
    ep_arena_free(ar);
    return 2;
  }
  if (ncalls) {
    int code = call_multi(n, node, items, ncalls, a.timeout_ms, ar);
    fflush(stdout);
    ep_node_free(n);
    free(items);
    ep_arena_free(ar);
    return code;
  }
  ep_result res;
  int st = eval ? eval_remote(n, node, eval, a.timeout_ms, ar, &res)
                : ep_rpc_call_sync(n, node, pos[1], pos[2], args, a.timeout_ms, ar, &res);
  int code;
  if (st == 0) {
    print_term(stdout, res.value);
    code = 0;
  } else if (st == EP_ESYNTAX) {
    code = 1;
  } else if (st == EP_EEXCEPTION || st == EP_EBADRPC || st == EP_ETIMEDOUT) {
    print_exception(&res);
    code = 1;
  } else {
    fprintf(stderr, "erlpeer call: %s: %s\n", node, ep_tool_conn_reason(n, st));
    code = 2;
  }
  fflush(stdout);
  ep_node_free(n);
  ep_arena_free(ar);
  return code;
}
