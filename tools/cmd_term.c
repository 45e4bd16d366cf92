/* erlpeer term - between the external term format and Erlang syntax.
 *
 *   erlpeer term decode [--hex]     ETF bytes on stdin -> "Term.\n" lines
 *   erlpeer term encode [--compressed[=LEVEL]] [--hex]
 *                                   "Term." texts on stdin -> ETF bytes
 *
 * Both read all of stdin first: the codec and the parser work on whole
 * buffers, and inputs here are files or pipes of bounded size. Output is
 * written term by term, so a malformed input still yields everything before
 * the fault.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_limits.h"
#include "ep_text.h"

static const char usage_text[] =
    "usage: erlpeer term decode [--hex]\n"
    "       erlpeer term encode [--compressed[=LEVEL]] [--hex]\n"
    "\n"
    "decode  reads one or more encoded terms (external term format, each\n"
    "        starting with byte 131, back to back) from standard input and\n"
    "        prints each as an Erlang term followed by '.' and a newline, so\n"
    "        file:consult/1 reads the output back.\n"
    "        --hex  the input is hex text (white space ignored), not raw bytes\n"
    "        On malformed input the terms decoded so far are printed, then the\n"
    "        error and its byte offset on standard error; exit status 1.\n"
    "\n"
    "encode  reads Erlang terms, each ending with '.', from standard input and\n"
    "        writes their encodings (term_to_binary) back to back.\n"
    "        --compressed[=LEVEL]  compress as term_to_binary(T, [{compressed,\n"
    "                              LEVEL}]) does; LEVEL 0..9, default 6\n"
    "        --hex  write each encoding as hex text on a line of its own\n"
    "        A syntax error names its line and column; exit status 1.\n"
    "\n"
    "Terms use Erlang syntax: atoms, integers (also 16#FF, $c), floats,\n"
    "\"strings\", <<\"binaries\">>, <<1,2:3>>, tuples, lists, maps #{K => V},\n"
    "fun M:F/A. Pids, ports, refs and funs print as <node@host.ID.SERIAL>,\n"
    "#Port<node@host.ID>, #Ref<node@host.W2.W1.W0>, #Fun<Module.Index.Uniq>\n"
    "(no literal syntax: these do not encode back). See docs/text-syntax.md.\n"
    "Bad usage (unknown action or option) exits with status 2.\n"
    "\n"
    "examples:\n"
    "  echo '{call, lists, seq, [1, 10]}.' | erlpeer term encode --hex\n"
    "  erl -noshell -eval 'file:write(standard_io, term_to_binary(#{a => 1})), halt().' \\\n"
    "    | erlpeer term decode\n";

/* All of stdin into b. 0 or an error code. */
static int read_all(FILE *f, ep_buf *b) {
  for (;;) {
    if (ep_buf_reserve(b, 65536)) return EP_ENOMEM;
    size_t n = fread(b->data + b->len, 1, b->cap - b->len, f);
    b->len += n;
    if (n == 0) return ferror(f) ? EP_EIO : 0;
  }
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Hex text (white space ignored) to bytes, in place. Returns 0, or -1 with
 * *bad = offset of the offending character in the text. */
static int unhex(ep_buf *b, size_t *bad) {
  size_t o = 0;
  int hi = -1;
  size_t hi_at = 0;
  for (size_t i = 0; i < b->len; i++) {
    int c = b->data[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') continue;
    int v = hexval(c);
    if (v < 0) {
      *bad = i;
      return -1;
    }
    if (hi < 0) {
      hi = v, hi_at = i;
    } else {
      b->data[o++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  if (hi >= 0) {
    *bad = hi_at;
    return -1;
  }
  b->len = o;
  return 0;
}

static int cmd_decode(bool hex) {
  ep_buf in = EP_BUF_INIT, out = EP_BUF_INIT;
  int status = 0;
  if (read_all(stdin, &in)) {
    fprintf(stderr, "erlpeer: term decode: cannot read standard input\n");
    ep_buf_free(&in);
    return 1;
  }
  size_t bad;
  if (hex && unhex(&in, &bad)) {
    fprintf(stderr,
            "erlpeer: term decode: invalid hex input at character offset %zu (hex digits in pairs expected)\n",
            bad);
    ep_buf_free(&in);
    return 1;
  }
  ep_arena *a = ep_arena_new(NULL);
  if (!a) {
    ep_tool_error("term decode", EP_ENOMEM);
    ep_buf_free(&in);
    return 1;
  }
  size_t pos = 0;
  while (pos < in.len) {
    ep_term t;
    size_t start = pos;
    int r = ep_decode(a, in.data, in.len, &pos, &t, NULL);
    if (r == EP_EINCOMPLETE) {
      fflush(stdout);
      fprintf(stderr,
              "erlpeer: term decode: truncated term: the input ends inside the term that starts at byte "
              "offset %zu (%zu bytes in all)\n",
              start, in.len);
      status = 1;
      break;
    }
    if (r) {
      fflush(stdout);
      fprintf(stderr, "erlpeer: term decode: %s (%s) at byte offset %zu\n", ep_strerror(r), ep_err_name(r), pos);
      status = 1;
      break;
    }
    out.len = 0;
    r = ep_print(&out, t);
    if (!r) r = ep_buf_append(&out, ".\n", 2);
    if (r) {
      fflush(stdout);
      fprintf(stderr, "erlpeer: term decode: cannot print the term at byte offset %zu: %s\n", start,
              ep_strerror(r));
      status = 1;
      break;
    }
    if (fwrite(out.data, 1, out.len, stdout) != out.len) {
      fprintf(stderr, "erlpeer: term decode: cannot write standard output\n");
      status = 1;
      break;
    }
    ep_arena_reset(a);
  }
  if (fflush(stdout)) status = 1;
  ep_arena_free(a);
  ep_buf_free(&in);
  ep_buf_free(&out);
  return status;
}

static int cmd_encode(int level, bool hex) {
  ep_buf in = EP_BUF_INIT, out = EP_BUF_INIT;
  int status = 0;
  if (read_all(stdin, &in)) {
    fprintf(stderr, "erlpeer: term encode: cannot read standard input\n");
    ep_buf_free(&in);
    return 1;
  }
  ep_arena *a = ep_arena_new(NULL);
  if (!a) {
    ep_tool_error("term encode", EP_ENOMEM);
    ep_buf_free(&in);
    return 1;
  }
  const char *text = in.data ? (const char *)in.data : "";
  size_t pos = 0;
  while (ep_parse_more(text, in.len, &pos)) {
    ep_term t;
    ep_text_error e = {0};
    int r = ep_parse_ex(a, text, in.len, &pos, &t, &e, EP_PARSE_DOT);
    if (r) {
      fflush(stdout);
      if (r == EP_ESYNTAX || r == EP_EINCOMPLETE || r == EP_EDEPTH || r == EP_ETOOBIG)
        fprintf(stderr, "erlpeer: term encode: line %u, column %u: %s%s\n", e.line, e.column, e.message,
                r == EP_EINCOMPLETE ? " (each term ends with '.')" : "");
      else
        ep_tool_error("term encode", r);
      status = 1;
      break;
    }
    out.len = 0;
    r = level >= -1 ? ep_encode_compressed(&out, t, level) : ep_encode(&out, t);
    if (r) {
      fflush(stdout);
      fprintf(stderr, "erlpeer: term encode: cannot encode the term ending at line %u: %s\n", e.line,
              ep_strerror(r));
      status = 1;
      break;
    }
    size_t wrote;
    if (hex) {
      static const char digits[] = "0123456789abcdef";
      char line[4096];
      size_t k = 0;
      wrote = out.len;
      for (size_t i = 0; i < out.len; i++) {
        line[k++] = digits[out.data[i] >> 4];
        line[k++] = digits[out.data[i] & 15];
        if (k >= sizeof line - 2) {
          if (fwrite(line, 1, k, stdout) != k) wrote = 0;
          k = 0;
        }
      }
      line[k++] = '\n';
      if (fwrite(line, 1, k, stdout) != k) wrote = 0;
    } else {
      wrote = fwrite(out.data, 1, out.len, stdout);
    }
    if (wrote != out.len) {
      fprintf(stderr, "erlpeer: term encode: cannot write standard output\n");
      status = 1;
      break;
    }
    ep_arena_reset(a);
  }
  if (fflush(stdout)) status = 1;
  ep_arena_free(a);
  ep_buf_free(&in);
  ep_buf_free(&out);
  return status;
}

int ep_cmd_term(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    fputs(usage_text, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  bool decode = !strcmp(argv[1], "decode"), encode = !strcmp(argv[1], "encode");
  if (!decode && !encode) {
    fprintf(stderr, "erlpeer: term: unknown action '%s' (decode or encode)\n\n", argv[1]);
    fputs(usage_text, stderr);
    return 2;
  }
  bool hex = false;
  int level = -2; /* not compressed */
  for (int i = 2; i < argc; i++) {
    const char *o = argv[i];
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      fputs(usage_text, stdout);
      return 0;
    } else if (!strcmp(o, "--hex")) {
      hex = true;
    } else if (encode && !strcmp(o, "--compressed")) {
      level = 6;
    } else if (encode && !strncmp(o, "--compressed=", 13)) {
      char *end;
      long l = strtol(o + 13, &end, 10);
      if (!o[13] || *end || l < 0 || l > 9) {
        fprintf(stderr, "erlpeer: term encode: compression level must be 0..9, not '%s'\n", o + 13);
        return 2;
      }
      level = (int)l;
    } else {
      fprintf(stderr, "erlpeer: term %s: unknown option '%s'\n\n", argv[1], o);
      fputs(usage_text, stderr);
      return 2;
    }
  }
  return decode ? cmd_decode(hex) : cmd_encode(level, hex);
}
