/* ep_iolib.c - io_lib:format/2 for relayed peer output. See ep_iolib.h. */
#include "ep_iolib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_cfloat_int.h"
#include "ep_error.h"
#include "ep_limits.h"
#include "ep_text.h"
#include "ep_utf8_int.h"

/* How a chardata walk reads its leaves. Lists hold code points in every
 * mode; what differs is the binaries and the largest code point:
 *   CD_UNICODE  binaries are UTF-8 (unicode:characters_to_binary/1)
 *   CD_LATIN1   binaries are Latin-1 bytes (characters_to_binary(_, latin1))
 *   CD_TS       ~ts: a binary that is not UTF-8 is taken as Latin-1, as
 *               io_lib_format's cdata_to_chars/1 does
 *   CD_S        ~s without t: an iolist of bytes (io_lib_format's
 *               iolist_to_chars/1): code points above 255 are badarg */
enum { CD_UNICODE, CD_LATIN1, CD_TS, CD_S };

/* Iterative walk over deep chardata: a stack of (list, index) frames. */
typedef struct frame {
  ep_term list;
  size_t i, n;
} frame;

static int put_bin(ep_buf *out, const uint8_t *p, size_t n, int mode) {
  if (mode == CD_UNICODE || mode == CD_TS) {
    if (ep_utf8_count(p, n) >= 0) return ep_buf_append(out, p, n);
    if (mode == CD_UNICODE) return EP_EINVAL; /* not UTF-8: not chardata */
  }
  for (size_t i = 0; i < n; i++)
    if (ep_utf8_put(out, p[i])) return out->err ? out->err : EP_EINVAL;
  return 0;
}

static int put_cp(ep_buf *out, int64_t cp, int mode) {
  if (mode == CD_S && (cp < 0 || cp > 255)) return EP_EINVAL;
  return ep_utf8_put(out, cp);
}

static int chardata(ep_buf *out, ep_term t, int mode);

/* An atom's text for ~s (and a format given as an atom): without t every
 * character must be Latin-1 (iolist_to_chars(atom_to_list(A))). */
static int atom_text(ep_buf *out, ep_term t, int unicode) {
  const uint8_t *p = (const uint8_t *)t.v.str;
  for (size_t i = 0; !unicode && i < t.n;) {
    uint32_t cp;
    int l = ep__utf8_decode(p + i, t.n - i, &cp);
    if (l <= 0 || cp > 255) return EP_EINVAL;
    i += (size_t)l;
  }
  return ep_buf_append(out, p, t.n);
}

int ep_iolib_chardata(ep_buf *out, ep_term t) { return chardata(out, t, CD_UNICODE); }
int ep_iolib_chardata_latin1(ep_buf *out, ep_term t) { return chardata(out, t, CD_LATIN1); }

/* The one chardata flattener (lib/ep_ioserver.c's ep_chardata_utf8 is this
 * too): iterative, nesting bounded by EP_LIMIT_DEPTH (ep_limits.h), out
 * untouched on error. */
static int chardata(ep_buf *out, ep_term t, int mode) {
  size_t start = out->len;
  int rc = 0;
  if (t.type == EP_T_BINARY) {
    rc = put_bin(out, t.v.bytes, t.n, mode);
    if (rc) out->len = start;
    return rc;
  }
  if (t.type == EP_T_STRING) {
    for (size_t i = 0; i < t.n; i++)
      if (ep_utf8_put(out, t.v.bytes[i])) return EP_ENOMEM;
    return 0;
  }
  if (!ep_is_list(t)) return EP_EINVAL;
  size_t cap = 16, depth = 0;
  frame *st = ep_malloc(out->mem, cap * sizeof *st);
  if (!st) return EP_ENOMEM;
  st[depth++] = (frame){t, 0, (size_t)ep_list_len(t)};
  while (depth > 0 && rc == 0) {
    frame *f = &st[depth - 1];
    if (f->i == f->n) {
      ep_term tail = ep_list_tail(f->list);
      depth--;
      /* an improper tail may only be a binary (iolist rules) */
      if (tail.type == EP_T_BINARY)
        rc = put_bin(out, tail.v.bytes, tail.n, mode);
      else if (tail.type != EP_T_NIL)
        rc = EP_EINVAL;
      continue;
    }
    ep_term e = ep_list_at(f->list, f->i++);
    switch (e.type) {
      case EP_T_INT:
        rc = put_cp(out, e.v.i, mode);
        break;
      case EP_T_BINARY:
        rc = put_bin(out, e.v.bytes, e.n, mode);
        break;
      case EP_T_STRING:
        for (size_t i = 0; i < e.n && !rc; i++) rc = ep_utf8_put(out, e.v.bytes[i]);
        break;
      case EP_T_NIL:
        break;
      case EP_T_LIST:
        if (depth >= EP_LIMIT_DEPTH) {
          rc = EP_EDEPTH;
          break;
        }
        if (depth == cap) {
          frame *ns = ep_realloc(out->mem, st, 2 * cap * sizeof *st);
          if (!ns) {
            rc = EP_ENOMEM;
            break;
          }
          st = ns;
          cap *= 2;
        }
        st[depth++] = (frame){e, 0, (size_t)ep_list_len(e)};
        break;
      default:
        rc = EP_EINVAL;
    }
  }
  ep_free(out->mem, st);
  if (!rc && out->err) rc = out->err;
  if (rc) out->len = start;
  return rc;
}

/* --- the formatter ------------------------------------------------------------- */

typedef struct spec {
  long col;      /* column of the output where this directive starts (0-based) */
  int unicode;   /* t modifier */
  int width;     /* -1: none */
  int prec;      /* -1: none */
  int pad;       /* code point */
  int left;      /* '-' given */
  char control;
} spec;

typedef struct args {
  ep_term list;
  size_t i, n;
} args;

static int next_arg(args *a, ep_term *out) {
  if (a->i >= a->n) return EP_EINVAL;
  *out = ep_list_at(a->list, a->i++);
  return 0;
}

static size_t utf8_len(const uint8_t *p, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    if ((p[i] & 0xC0) != 0x80) c++;
  return c;
}

/* Byte offset of the first k code points. */
static size_t utf8_prefix(const uint8_t *p, size_t n, size_t k) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) {
      if (c == k) return i;
      c++;
    }
  }
  return n;
}

static int pad_n(ep_buf *out, int ch, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (ep_utf8_put(out, ch)) return out->err ? out->err : EP_EINVAL;
  return 0;
}

/* Writes text (UTF-8, len bytes) adjusted in a field: truncated to prec
 * characters when prec >= 0, padded to width. */
static int field(ep_buf *out, const spec *s, const uint8_t *text, size_t len, int truncate_to_width) {
  size_t chars = utf8_len(text, len);
  long lim = s->prec >= 0 ? s->prec : (truncate_to_width ? s->width : -1);
  if (lim >= 0 && chars > (size_t)lim) {
    len = utf8_prefix(text, len, (size_t)lim);
    chars = (size_t)lim;
  }
  size_t w = s->width >= 0 ? (size_t)s->width : chars;
  size_t padding = w > chars ? w - chars : 0;
  int rc = 0;
  if (!s->left) rc = pad_n(out, s->pad, padding);
  if (!rc) rc = ep_buf_append(out, text, len);
  if (!rc && s->left) rc = pad_n(out, s->pad, padding);
  return rc;
}

/* io_lib_format's term/5: a printed term in a field; with no width the
 * precision is the width; a term longer than the field becomes stars. */
static int term_field(ep_buf *out, const spec *s, const uint8_t *text, size_t len) {
  int width = s->width >= 0 ? s->width : s->prec;
  if (width < 0) return ep_buf_append(out, text, len);
  size_t chars = utf8_len(text, len);
  size_t lim = (size_t)width;
  if (s->prec >= 0 && (size_t)s->prec < lim) lim = (size_t)s->prec;
  if (chars > lim) {
    int rc = 0;
    spec s2 = *s;
    if (!s2.left) rc = pad_n(out, s->pad, (size_t)width - lim);
    if (!rc) rc = pad_n(out, '*', lim);
    if (!rc && s2.left) rc = pad_n(out, s->pad, (size_t)width - lim);
    return rc;
  }
  spec s2 = *s;
  s2.width = width;
  s2.prec = -1;
  return field(out, &s2, text, len, 0);
}

/* Digits of an integer term in base 2..36; negative sign first. */
static int int_text(ep_buf *o, ep_term t, int base, int upper) {
  const char *dig = upper ? "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" : "0123456789abcdefghijklmnopqrstuvwxyz";
  char tmp[72];
  size_t n = 0;
  if (t.type == EP_T_INT) {
    uint64_t u = t.v.i < 0 ? (uint64_t)0 - (uint64_t)t.v.i : (uint64_t)t.v.i;
    do {
      tmp[n++] = dig[u % (unsigned)base];
      u /= (unsigned)base;
    } while (u);
    if (t.v.i < 0) ep_buf_put8(o, '-');
    while (n) ep_buf_put8(o, (uint8_t)tmp[--n]);
    return o->err;
  }
  if (t.type != EP_T_BIG) return EP_EINVAL;
  /* Repeated division of the little-endian magnitude by the base. */
  uint8_t *mag = ep_malloc(o->mem, t.n ? t.n : 1);
  if (!mag) return EP_ENOMEM;
  memcpy(mag, t.v.bytes, t.n);
  size_t len = t.n;
  ep_buf rev;
  ep_buf_init(&rev, o->mem);
  while (len > 0) {
    unsigned rem = 0;
    for (size_t i = len; i-- > 0;) {
      unsigned cur = (rem << 8) | mag[i];
      mag[i] = (uint8_t)(cur / (unsigned)base);
      rem = cur % (unsigned)base;
    }
    ep_buf_put8(&rev, (uint8_t)dig[rem]);
    while (len > 0 && mag[len - 1] == 0) len--;
  }
  ep_free(o->mem, mag);
  if (t.aux) ep_buf_put8(o, '-');
  for (size_t i = rev.len; i-- > 0;) ep_buf_put8(o, rev.data[i]);
  if (rev.len == 0) ep_buf_put8(o, '0');
  int rc = rev.err ? rev.err : o->err;
  ep_buf_free(&rev);
  return rc;
}

/* The float directives print with '.' whatever the program's locale (as
 * io_lib does): through ep__fmt_double_c, never snprintf's %e/%f/%g.
 * Precision is capped (as before: ~e/~f at 100, ~g at 400) so that
 * FLOAT_TEXT holds any of them: the widest ~f, ~.100f of -1.8e308, is a
 * sign, 309 digits, '.' and 100 decimals; ~g's fixed form has P digits. */
#define FLOAT_TEXT 512
#define FLOAT_PREC_MAX 100
#define FLOAT_G_PREC_MAX 400

/* ~e with P significant digits: mantissa with P-1 decimals, exponent
 * without padding ("1.00000e+0"). */
static int fmt_e(ep_buf *o, double x, int p) {
  char b[FLOAT_TEXT];
  if (p < 2) p = 2;
  if (p > FLOAT_PREC_MAX) p = FLOAT_PREC_MAX;
  int n = ep__fmt_double_c(b, sizeof b, 'e', p - 1, x);
  if (n < 0) return EP_EINVAL;
  char *e = strchr(b, 'e');
  if (!e) return ep_buf_append(o, b, (size_t)n);
  int ex = atoi(e + 1);
  ep_buf_append(o, b, (size_t)(e - b));
  n = snprintf(b, sizeof b, "e%c%d", ex < 0 ? '-' : '+', abs(ex)); /* an int: no locale in it */
  return ep_buf_append(o, b, (size_t)n);
}

/* x with dec decimals; the callers bound dec so that it fits. */
static int fmt_f(ep_buf *o, double x, int dec) {
  char b[FLOAT_TEXT];
  int n = ep__fmt_double_c(b, sizeof b, 'f', dec, x);
  if (n < 0) return EP_EINVAL;
  return ep_buf_append(o, b, (size_t)n);
}

static int fmt_float(ep_buf *o, char c, double x, int prec) {
  if (prec < 0) prec = 6;
  if (c == 'f') {
    if (prec < 1) prec = 1;
    if (prec > FLOAT_PREC_MAX) prec = FLOAT_PREC_MAX;
    return fmt_f(o, x, prec);
  }
  if (c == 'e') return fmt_e(o, x, prec);
  /* ~g: ~f when 0.1 =< |X| < 10^(P-1), with P significant digits; else ~e */
  if (prec < 2) prec = 2;
  if (prec > FLOAT_G_PREC_MAX) prec = FLOAT_G_PREC_MAX;
  double a = fabs(x);
  if (a >= 0.1 && a < pow(10.0, prec - 1)) {
    int e = (int)floor(log10(a));
    int dec = prec - 1 - e;
    return fmt_f(o, x, dec < 1 ? 1 : dec);
  }
  return fmt_e(o, x, prec);
}

static int get_float(ep_term t, double *x) {
  if (t.type == EP_T_FLOAT) {
    *x = t.v.f;
    return 0;
  }
  return EP_EINVAL; /* io_lib:format("~f", [1]) is badarg too */
}

static int pretty(ep_buf *out, ep_term t, long col, long ll, int w_mode, int unicode);

static int one(ep_buf *out, spec *s, args *av) {
  ep_term t;
  ep_buf tmp;
  int rc = 0;
  ep_buf_init(&tmp, out->mem);
  switch (s->control) {
    case '~':
      rc = field(out, s, (const uint8_t *)"~", 1, 0);
      break;
    case 'n':
      rc = ep_buf_put8(out, '\n');
      break;
    case 'i':
      rc = next_arg(av, &t);
      break;
    case 'c': {
      int64_t ch;
      if ((rc = next_arg(av, &t)) || (rc = ep_get_int64(t, &ch))) break;
      size_t rep = s->prec >= 0 ? (size_t)s->prec : (s->width >= 0 ? (size_t)s->width : 1);
      if (rep > EP_LIMIT_TEXT_SIZE) {
        rc = EP_EINVAL;
        break;
      }
      /* io_lib_format: ~tc writes the code point, ~c its low byte */
      for (size_t i = 0; i < rep && !rc; i++) rc = ep_utf8_put(&tmp, s->unicode ? ch : ch & 0xFF);
      if (!rc) {
        spec s2 = *s;
        s2.prec = -1;
        rc = field(out, &s2, tmp.data, tmp.len, 0);
      }
      break;
    }
    case 's':
      if ((rc = next_arg(av, &t))) break;
      /* an atom prints as its text; otherwise ~ts takes chardata, ~s an
       * iolist of bytes (a UTF-8 binary prints as its Latin-1 bytes) */
      if (t.type == EP_T_ATOM)
        rc = atom_text(&tmp, t, s->unicode);
      else
        rc = chardata(&tmp, t, s->unicode ? CD_TS : CD_S);
      if (rc) {
        if (rc != EP_ENOMEM) rc = EP_EINVAL;
        break;
      }
      rc = field(out, s, tmp.data, tmp.len, 1);
      break;
    case 'w':
    case 'p':
    case 'W':
    case 'P': {
      if ((rc = next_arg(av, &t))) break;
      if (s->control == 'W' || s->control == 'P') {
        ep_term depth;
        if ((rc = next_arg(av, &depth))) break;
        if (!ep_is_integer(depth)) {
          rc = EP_EINVAL;
          break;
        }
      }
      if (s->control == 'p' || s->control == 'P') {
        /* io_lib_format:print/10: the field width is the line length, the
         * precision the start column (default: the current one) */
        long ll = s->width >= 0 ? s->width : 80;
        long col = s->prec >= 0 ? s->prec : s->col + 1;
        rc = pretty(out, t, col, ll, 0, s->unicode);
        break;
      }
      if ((rc = pretty(&tmp, t, 1, 0, 1, s->unicode))) break;
      rc = term_field(out, s, tmp.data, tmp.len);
      break;
    }
    case 'b':
    case 'B':
    case 'x':
    case 'X':
    case '#':
    case '+': {
      int base = s->prec >= 0 ? s->prec : 10;
      if (base < 2 || base > 36) {
        rc = EP_EINVAL;
        break;
      }
      ep_term prefix = ep_none();
      if ((rc = next_arg(av, &t))) break;
      if (!ep_is_integer(t)) {
        rc = EP_EINVAL;
        break;
      }
      if ((s->control == 'x' || s->control == 'X') && (rc = next_arg(av, &prefix))) break;
      int upper = s->control == 'B' || s->control == 'X' || s->control == '#';
      ep_buf digits;
      ep_buf_init(&digits, out->mem);
      rc = int_text(&digits, t, base, upper);
      if (!rc) {
        const uint8_t *d = digits.data;
        size_t dn = digits.len;
        int neg = dn > 0 && d[0] == '-';
        if (neg) ep_buf_put8(&tmp, '-'), d++, dn--;
        if (!ep_is_none(prefix))
          rc = prefix.type == EP_T_ATOM ? atom_text(&tmp, prefix, 1) : ep_iolib_chardata(&tmp, prefix);
        if (s->control == '#' || s->control == '+') {
          char pb[8];
          snprintf(pb, sizeof pb, "%d#", base);
          ep_buf_append(&tmp, pb, strlen(pb));
        }
        ep_buf_append(&tmp, d, dn);
        if (!rc) rc = tmp.err;
      }
      ep_buf_free(&digits);
      if (!rc) {
        spec s2 = *s;
        s2.prec = -1; /* the precision was the base */
        rc = term_field(out, &s2, tmp.data, tmp.len);
      }
      break;
    }
    case 'e':
    case 'f':
    case 'g': {
      double x;
      if ((rc = next_arg(av, &t)) || (rc = get_float(t, &x))) break;
      if ((rc = fmt_float(&tmp, s->control, x, s->prec))) break;
      spec s2 = *s;
      s2.prec = -1;
      if (s2.width >= 0 && tmp.len > (size_t)s2.width) {
        /* the BEAM fills a too-narrow float field with '*' */
        ep_buf_free(&tmp);
        ep_buf_init(&tmp, out->mem);
        rc = pad_n(out, '*', (size_t)s2.width);
        break;
      }
      rc = field(out, &s2, tmp.data, tmp.len, 0);
      break;
    }
    default:
      rc = EP_EINVAL;
  }
  if (!rc && tmp.err) rc = tmp.err;
  ep_buf_free(&tmp);
  return rc;
}

/* --- ~p: io_lib_pretty's layout ------------------------------------------------
 *
 * A port of OTP's io_lib_pretty for what ~p prints without records: a tree
 * of printed lengths is built first (pn), then laid out within the line
 * length (80, or ~Np's field width) from the current column, exactly as
 * pp/8, pp_list, pp_tail, pp_tag_tuple, pp_map, pp_binary and the
 * indentation probe cind/7 do. Atomic parts (atoms, numbers, strings,
 * printable binaries, pids, ...) are printed by ep_print. Nesting deeper
 * than PP_DEPTH is printed flat (it bounds the C stack). */

#define PP_DEPTH 200

enum { PN_ATM, PN_BIN, PN_LIST, PN_TUPLE, PN_MAP, PN_PAIR };

typedef struct pn pn;
struct pn {
  int kind;
  int tagged;       /* tuple: first element an atom, size > 1 */
  long len;         /* characters when written on one line */
  const uint8_t *s; /* PN_ATM, PN_BIN: the text */
  size_t slen;
  pn **el;          /* elements; for PN_PAIR el[0] key, el[1] value */
  size_t n;
  pn *tail;         /* improper list tail */
};

typedef struct pctx {
  ep_arena *a;
  ep_buf *o;
  long ll, m;
  int fail;    /* cind: no_good */
  int w_mode;  /* ~w: lists stay lists, binaries stay bytes */
  int unicode; /* the t modifier: binaries may print as "..."/utf8 */
} pctx;

static pn *pn_new(pctx *c, int kind) {
  pn *x = ep_arena_alloc(c->a, sizeof *x);
  if (x) {
    memset(x, 0, sizeof *x);
    x->kind = kind;
  }
  return x;
}

/* A leaf holding b's text (the caller frees b). */
static pn *pn_from_buf(pctx *c, ep_buf *b, int kind) {
  pn *x = pn_new(c, kind);
  if (!x || b->err) return NULL;
  x->s = ep_arena_dup(c->a, b->data ? b->data : (const uint8_t *)"", b->len);
  x->slen = b->len;
  x->len = (long)utf8_len(b->data, b->len);
  return x->s ? x : NULL;
}

static pn *pn_text(pctx *c, ep_term t, int kind) {
  ep_buf b;
  ep_buf_init(&b, c->o->mem);
  pn *x = ep_print(&b, t) == 0 ? pn_from_buf(c, &b, kind) : NULL;
  ep_buf_free(&b);
  return x;
}


/* io_lib:printable_latin1_list/1 for one character (the default
 * printable_range is latin1, for ~p and ~tp alike) */
static int printable_ch(int64_t ch) {
  return (ch >= 32 && ch <= 126) || (ch >= 160 && ch <= 255) || ch == '\n' || ch == '\r' ||
         ch == '\t' || ch == '\v' || ch == '\b' || ch == '\f' || ch == 27;
}

/* io_lib:write_string/2 with $": escapes, other characters as UTF-8 */
static void put_str_ch(ep_buf *b, int64_t ch) {
  const char *esc = NULL;
  switch (ch) {
    case '"': esc = "\\\""; break;
    case '\\': esc = "\\\\"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    case '\t': esc = "\\t"; break;
    case '\v': esc = "\\v"; break;
    case '\b': esc = "\\b"; break;
    case '\f': esc = "\\f"; break;
    case 27: esc = "\\e"; break;
    default: break;
  }
  if (esc)
    ep_buf_append(b, esc, strlen(esc));
  else
    ep_utf8_put(b, ch);
}

/* io_lib:write_atom/1 (~tp, ~tw) and write_atom_as_latin1/1 (~p, ~w): quoted
 * unless it starts with a lowercase Latin-1 letter and holds only Latin-1
 * name characters and is no reserved word (OTP 25's set: maybe and else
 * are keywords only where the maybe_expr feature is on); inside quotes the
 * characters of io_lib's string_char/4 (control characters as \n-style or
 * octal escapes, above 255 \x{H} without t). */
static int iolib_name_char(uint32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 0xDF && c <= 0xFF && c != 0xF7) || (c >= 'A' && c <= 'Z') ||
         (c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= '0' && c <= '9') || c == '_' || c == '@';
}

static int iolib_reserved(const char *s, size_t n) {
  static const char *const words[] = {"after", "begin", "case", "try", "cond", "catch", "andalso", "orelse",
                                      "end", "fun", "if", "let", "of", "receive", "when", "bnot", "not", "div",
                                      "rem", "band", "and", "bor", "bxor", "bsl", "bsr", "or", "xor"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strlen(words[i]) == n && !memcmp(words[i], s, n)) return 1;
  return 0;
}

static void put_atom_char(ep_buf *b, uint32_t c, int unicode) {
  char tmp[16];
  if (c == '\'' || c == '\\') {
    tmp[0] = '\\', tmp[1] = (char)c;
    ep_buf_append(b, tmp, 2);
  } else if (c >= ' ' && c <= '~') {
    ep_buf_put8(b, (uint8_t)c);
  } else if (c >= 0xA0 && (unicode || c <= 0xFF)) {
    ep_utf8_put(b, c);
  } else if (c >= 0xA0) {
    ep_buf_append(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "\\x{%X}", (unsigned)c));
  } else {
    const char *esc = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '\v' ? "\\v"
                    : c == '\b' ? "\\b" : c == '\f' ? "\\f" : c == 27 ? "\\e" : c == 127 ? "\\d" : NULL;
    if (esc)
      ep_buf_append(b, esc, 2);
    else
      ep_buf_append(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "\\%o%o%o", c >> 6, (c >> 3) & 7, c & 7));
  }
}

static pn *atom_node(pctx *c, ep_term t) {
  const uint8_t *s = (const uint8_t *)t.v.str;
  size_t n = t.n;
  uint32_t cps_local[64], *cps = cps_local;
  if (n > 64 && !(cps = ep_malloc(c->o->mem, n * sizeof *cps))) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; k++) {
    int l = ep__utf8_decode(s + i, n - i, &cps[k]);
    if (l <= 0) { /* not UTF-8: no decoder makes such atoms */
      if (cps != cps_local) ep_free(c->o->mem, cps);
      return pn_text(c, t, PN_ATM);
    }
    i += (size_t)l;
  }
  int quote = k == 0 || !((cps[0] >= 'a' && cps[0] <= 'z') || (cps[0] >= 0xDF && cps[0] <= 0xFF && cps[0] != 0xF7));
  for (size_t i = 1; !quote && i < k; i++) quote = !iolib_name_char(cps[i]);
  if (!quote) quote = iolib_reserved(t.v.str, n);
  ep_buf b;
  ep_buf_init(&b, c->o->mem);
  if (!quote) {
    ep_buf_append(&b, s, n);
  } else {
    ep_buf_put8(&b, '\'');
    for (size_t i = 0; i < k; i++) put_atom_char(&b, cps[i], c->unicode);
    ep_buf_put8(&b, '\'');
  }
  if (cps != cps_local) ep_free(c->o->mem, cps);
  pn *x = pn_from_buf(c, &b, PN_ATM);
  ep_buf_free(&b);
  return x;
}

/* A proper non-empty list of printable characters, as ~p shows it. */
static pn *maybe_string(pctx *c, ep_term t) {
  ptrdiff_t n = ep_list_len(t);
  if (c->w_mode || n <= 0 || ep_list_tail(t).type != EP_T_NIL) return NULL;
  for (ptrdiff_t i = 0; i < n; i++) {
    ep_term e = ep_list_at(t, (size_t)i);
    if (e.type != EP_T_INT || !printable_ch(e.v.i)) return NULL;
  }
  ep_buf b;
  ep_buf_init(&b, c->o->mem);
  ep_buf_put8(&b, '"');
  for (ptrdiff_t i = 0; i < n; i++) put_str_ch(&b, ep_list_at(t, (size_t)i).v.i);
  ep_buf_put8(&b, '"');
  pn *x = pn_from_buf(c, &b, PN_ATM);
  ep_buf_free(&b);
  return x;
}

/* Decodes UTF-8; returns the number of code points or -1 when invalid. */
static long utf8_decode(const uint8_t *p, size_t n, int64_t *out) {
  long k = 0;
  for (size_t i = 0; i < n; k++) {
    uint32_t cp;
    int l = ep__utf8_decode(p + i, n - i, &cp);
    if (l <= 0) return -1;
    if (out) out[k] = cp;
    i += (size_t)l;
  }
  return k;
}

/* A binary as io_lib_pretty prints it: <<"text">> when every byte is a
 * printable Latin-1 character (with ~tp: "text"/utf8 first, when it is
 * UTF-8 of printable characters), else <<B1,B2,...>> (always with ~w). */
static pn *binary_node(pctx *c, ep_term t) {
  ep_buf b;
  ep_buf_init(&b, c->o->mem);
  int kind = PN_ATM;
  const uint8_t *d = t.v.bytes;
  size_t n = t.n;
  int done = 0;
  if (n == 0) {
    ep_buf_append(&b, "<<>>", 4);
    done = 1;
  }
  if (!done && !c->w_mode && c->unicode) {
    int64_t *cp = n <= SIZE_MAX / sizeof *cp ? ep_malloc(c->o->mem, n * sizeof *cp) : NULL;
    if (!cp) {
      ep_buf_free(&b);
      return NULL; /* EP_ENOMEM, not a silently different layout */
    }
    long k = utf8_decode(d, n, cp);
    int ok = k > 0, multi = 0;
    for (long i = 0; ok && i < k; i++) {
      if (!printable_ch(cp[i])) ok = 0;
      if (cp[i] > 127) multi = 1;
    }
    if (ok) {
      ep_buf_append(&b, "<<\"", 3);
      for (long i = 0; i < k; i++) put_str_ch(&b, cp[i]);
      ep_buf_append(&b, multi ? "\"/utf8>>" : "\">>", multi ? 8 : 3);
      done = 1;
    } else if (k > 0) {
      done = 2; /* valid UTF-8 but not printable: bytes, no Latin-1 retry */
    }
    ep_free(c->o->mem, cp);
  }
  if (done == 2) done = 0;
  else if (!done && !c->w_mode) {
    int ok = 1;
    for (size_t i = 0; ok && i < n; i++) ok = printable_ch(d[i]);
    if (ok) {
      ep_buf_append(&b, "<<\"", 3);
      for (size_t i = 0; i < n; i++) put_str_ch(&b, d[i]);
      ep_buf_append(&b, "\">>", 3);
      done = 1;
    }
  }
  if (!done) {
    char num[8];
    ep_buf_append(&b, "<<", 2);
    for (size_t i = 0; i < n; i++) {
      snprintf(num, sizeof num, i ? ",%u" : "%u", d[i]);
      ep_buf_append(&b, num, strlen(num));
    }
    ep_buf_append(&b, ">>", 2);
    kind = PN_BIN;
  }
  pn *x = pn_from_buf(c, &b, kind);
  ep_buf_free(&b);
  return x;
}

static pn *build(pctx *c, ep_term t, int depth) {
  if (depth > PP_DEPTH) return pn_text(c, t, PN_ATM);
  switch (t.type) {
    case EP_T_LIST:
    case EP_T_STRING: {
      pn *str = maybe_string(c, t);
      if (str) return str;
      size_t n = (size_t)ep_list_len(t);
      pn *x = pn_new(c, PN_LIST);
      if (!x) return NULL;
      x->el = ep_arena_alloc(c->a, n * sizeof *x->el);
      if (!x->el) return NULL;
      x->n = n;
      x->len = 2;
      for (size_t i = 0; i < n; i++) {
        if (!(x->el[i] = build(c, ep_list_at(t, i), depth + 1))) return NULL;
        x->len += x->el[i]->len + (i ? 1 : 0);
      }
      ep_term tail = ep_list_tail(t);
      if (tail.type != EP_T_NIL) {
        if (!(x->tail = build(c, tail, depth + 1))) return NULL;
        x->len += 1 + x->tail->len;
      }
      return x;
    }
    case EP_T_TUPLE: {
      if (t.n == 0) return pn_text(c, t, PN_ATM);
      pn *x = pn_new(c, PN_TUPLE);
      if (!x) return NULL;
      x->tagged = t.v.items[0].type == EP_T_ATOM && t.n > 1;
      x->el = ep_arena_alloc(c->a, t.n * sizeof *x->el);
      if (!x->el) return NULL;
      x->n = t.n;
      x->len = 2;
      for (size_t i = 0; i < t.n; i++) {
        if (!(x->el[i] = build(c, t.v.items[i], depth + 1))) return NULL;
        x->len += x->el[i]->len + (i ? 1 : 0);
      }
      return x;
    }
    case EP_T_MAP: {
      if (t.n == 0) return pn_text(c, t, PN_ATM);
      pn *x = pn_new(c, PN_MAP);
      if (!x) return NULL;
      x->el = ep_arena_alloc(c->a, t.n * sizeof *x->el);
      if (!x->el) return NULL;
      x->n = t.n;
      x->len = 3;
      for (size_t i = 0; i < t.n; i++) {
        pn *pr = pn_new(c, PN_PAIR);
        if (!pr) return NULL;
        pr->el = ep_arena_alloc(c->a, 2 * sizeof *pr->el);
        if (!pr->el) return NULL;
        pr->n = 2;
        if (!(pr->el[0] = build(c, t.v.items[2 * i], depth + 1)) ||
            !(pr->el[1] = build(c, t.v.items[2 * i + 1], depth + 1)))
          return NULL;
        pr->len = pr->el[0]->len + 4 + pr->el[1]->len;
        x->el[i] = pr;
        x->len += pr->len + (i ? 1 : 0);
      }
      return x;
    }
    case EP_T_BINARY:
      return binary_node(c, t); /* <<"text">> is atomic; <<1,2,3>> breaks at commas */
    case EP_T_ATOM:
      return atom_node(c, t);
    default:
      return pn_text(c, t, PN_ATM);
  }
}

#define ATM(e) ((e)->kind == PN_ATM)
#define ATM_PAIR(p) (ATM((p)->el[0]) && ATM((p)->el[1]))

static void put_s(pctx *c, const char *s) { ep_buf_append(c->o, s, strlen(s)); }
static void spaces(pctx *c, long n) {
  for (long i = 0; i < n; i++) ep_buf_put8(c->o, ' ');
}
static void nl(pctx *c, long ind) {
  ep_buf_put8(c->o, '\n');
  spaces(c, ind);
}

static void wr(pctx *c, const pn *e) {
  switch (e->kind) {
    case PN_ATM:
    case PN_BIN:
      ep_buf_append(c->o, e->s, e->slen);
      return;
    case PN_PAIR:
      wr(c, e->el[0]);
      put_s(c, " => ");
      wr(c, e->el[1]);
      return;
    default: {
      put_s(c, e->kind == PN_LIST ? "[" : e->kind == PN_TUPLE ? "{" : "#{");
      for (size_t i = 0; i < e->n; i++) {
        if (i) ep_buf_put8(c->o, ',');
        wr(c, e->el[i]);
      }
      if (e->tail) {
        ep_buf_put8(c->o, '|');
        wr(c, e->tail);
      }
      put_s(c, e->kind == PN_LIST ? "]" : "}");
    }
  }
}

/* last_depth(Es, LD): 0 when more elements follow, else LD + 1 */
static long last_depth(size_t rest, long ld) { return rest ? 0 : ld + 1; }

static void pp(pctx *c, const pn *e, long col, long tind, long ind, long ld, long w);

static long pp_element(pctx *c, const pn *e, long col, long tind, long ind, long ld, long w) {
  if (e->len < c->ll - col - ld && e->len + w + ld <= c->m && ATM(e)) {
    wr(c, e);
    return e->len;
  }
  pp(c, e, col, tind, ind, ld, w);
  return c->ll; /* force nl */
}

static int fits_tail(pctx *c, const pn *e, long col, long ld1, long w) {
  long elen = 1 + e->len;
  if (!ATM(e)) return 0;
  if (ld1 == 0) return elen + 1 < c->ll - col && w + elen + 1 <= c->m;
  return elen < c->ll - col - ld1 && w + elen + ld1 <= c->m;
}

/* pp_tail over els[0..n) then the improper tail (if any) */
static void pp_tail(pctx *c, pn *const *els, size_t n, const pn *tail, long col0, long col, long tind,
                    long ind, long ld, char sep, long w) {
  for (size_t i = 0; i < n; i++) {
    const pn *e = els[i];
    /* what follows E is a cons only when another element does (an improper
     * tail is not) */
    long ld1 = (i + 1 < n) ? 0 : ld + 1;
    if (fits_tail(c, e, col, ld1, w)) {
      ep_buf_put8(c->o, ',');
      wr(c, e);
      col += 1 + e->len;
      w += 1 + e->len;
    } else {
      ep_buf_put8(c->o, ',');
      nl(c, ind);
      long we = pp_element(c, e, col0, tind, ind, ld1, 0);
      col = col0 + we;
      w = we;
    }
  }
  if (tail) {
    if (tail->len + 1 < c->ll - col - (ld + 1) && tail->len + 1 + w + (ld + 1) <= c->m && ATM(tail)) {
      ep_buf_put8(c->o, (uint8_t)sep);
      wr(c, tail);
    } else {
      ep_buf_put8(c->o, (uint8_t)sep);
      nl(c, ind);
      pp(c, tail, col0, tind, ind, ld + 1, 0);
    }
  }
}

static void pp_list(pctx *c, pn *const *els, size_t n, const pn *tail, long col0, long tind, long ind,
                    long ld, char sep, long w) {
  if (n == 0) return;
  long lde = (n > 1) ? 0 : ld + 1; /* [E] or [E | Tail]: E is last */
  long we = pp_element(c, els[0], col0, tind, ind, lde, w);
  pp_tail(c, els + 1, n - 1, tail, col0, col0 + we, tind, ind, ld, sep, w + we);
}

static void pp_tag_tuple(pctx *c, const pn *t, long col, long tind, long ind, long ld, long w) {
  const pn *tag = t->el[0];
  long tlen = tag->len, tagind = tlen + 2, tcol = col + tagind;
  if (tind > 0 && tagind > tind) {
    long col1 = col + tind;
    wr(c, tag);
    pp_tail(c, t->el + 1, t->n - 1, NULL, col1, tcol, tind, ind + tind, ld, ',', w + tlen);
  } else {
    wr(c, tag);
    ep_buf_put8(c->o, ',');
    pp_list(c, t->el + 1, t->n - 1, NULL, tcol, tind, ind + tagind, ld, ',', w + tlen + 1);
  }
}

static long map_value_indent(long tind) { return tind > 0 ? tind : 4; }

static long pp_pair(pctx *c, const pn *p, long col, long tind, long ind, long ld, long w) {
  if (p->len < c->ll - col - ld && p->len + w + ld <= c->m) {
    wr(c, p);
    return ATM_PAIR(p) ? p->len : c->ll;
  }
  long i = map_value_indent(tind);
  pp(c, p->el[0], col, tind, ind, ld, w);
  put_s(c, " =>");
  nl(c, ind + i);
  pp(c, p->el[1], col + i, tind, ind + i, ld, 0);
  return c->ll;
}

static void pp_map(pctx *c, const pn *m, long col, long tind, long ind, long ld, long w) {
  long pw = pp_pair(c, m->el[0], col, tind, ind, last_depth(m->n - 1, ld), w);
  long ccol = col + pw;
  w = pw;
  for (size_t i = 1; i < m->n; i++) {
    const pn *p = m->el[i];
    long ld1 = last_depth(m->n - 1 - i, ld), elen = 1 + p->len;
    int fit = ATM_PAIR(p) && (ld1 == 0 ? (elen + 1 < c->ll - ccol && w + elen + 1 <= c->m)
                                        : (elen < c->ll - ccol - ld1 && w + elen + ld1 <= c->m));
    if (fit) {
      ep_buf_put8(c->o, ',');
      wr(c, p);
      ccol += elen;
      w += elen;
    } else {
      ep_buf_put8(c->o, ',');
      nl(c, ind);
      pw = pp_pair(c, p, col, tind, ind, ld1, 0);
      ccol = col + pw;
      w = pw;
    }
  }
}

/* <<1,2,...>> broken at commas so that no line passes N characters */
static void pp_binary(pctx *c, const pn *b, long col, long ind, long ld, long w) {
  long n0 = c->ll - col < c->m - 4 - w ? c->ll - col : c->m - 4 - w;
  n0 -= ld;
  if (n0 < 8) n0 = 8;
  long n = n0;
  const uint8_t *s = b->s + 2, *end = b->s + b->slen - 2;
  put_s(c, "<<");
  while (s < end) {
    const uint8_t *comma = memchr(s, ',', (size_t)(end - s));
    if (comma) {
      long len = (long)(comma - s) + 1;
      if (n - len < 0) {
        nl(c, ind);
        n = n0 - len;
      } else {
        n -= len;
      }
      ep_buf_append(c->o, s, (size_t)(comma - s) + 1);
      s = comma + 1;
    } else {
      if ((long)(end - s) > n) nl(c, ind);
      ep_buf_append(c->o, s, (size_t)(end - s));
      s = end;
    }
  }
  put_s(c, ">>");
}

static void pp(pctx *c, const pn *e, long col, long tind, long ind, long ld, long w) {
  if (e->len < c->ll - col - ld && e->len + w + ld <= c->m) {
    wr(c, e);
    return;
  }
  switch (e->kind) {
    case PN_LIST:
      ep_buf_put8(c->o, '[');
      pp_list(c, e->el, e->n, e->tail, col + 1, tind, ind + 1, ld, '|', w + 1);
      ep_buf_put8(c->o, ']');
      return;
    case PN_TUPLE:
      ep_buf_put8(c->o, '{');
      if (e->tagged)
        pp_tag_tuple(c, e, col, tind, ind, ld, w + 1);
      else
        pp_list(c, e->el, e->n, NULL, col + 1, tind, ind + 1, ld, ',', w + 1);
      ep_buf_put8(c->o, '}');
      return;
    case PN_MAP:
      put_s(c, "#{");
      pp_map(c, e, col + 2, tind, ind + 2, ld, w + 1);
      ep_buf_put8(c->o, '}');
      return;
    case PN_BIN:
      pp_binary(c, e, col + 2, ind + 2, ld, w);
      return;
    default:
      wr(c, e);
  }
}

/* cind/7: does indentation tind keep tagged tuples within the line? */
static void cind(pctx *c, const pn *e, long col, long ind, long ld, long w);

static long cind_element(pctx *c, const pn *e, long col, long ind, long ld, long w) {
  if (e->len < c->ll - col - ld && e->len + w + ld <= c->m && ATM(e)) return e->len;
  cind(c, e, col, ind, ld, w);
  return c->ll;
}

static void cind_tail(pctx *c, pn *const *els, size_t n, const pn *tail, long col0, long col, long ind,
                      long ld, long w) {
  for (size_t i = 0; i < n && !c->fail; i++) {
    const pn *e = els[i];
    long ld1 = (i + 1 < n) ? 0 : ld + 1;
    if (fits_tail(c, e, col, ld1, w)) {
      col += 1 + e->len;
      w += 1 + e->len;
    } else {
      long we = cind_element(c, e, col0, ind, ld1, 0);
      col = col0 + we;
      w = we;
    }
  }
  if (tail && !c->fail) {
    if (!(tail->len + 1 < c->ll - col - (ld + 1) && tail->len + 1 + w + (ld + 1) <= c->m && ATM(tail)))
      cind(c, tail, col, ind, ld + 1, 0);
  }
}

static void cind_list(pctx *c, pn *const *els, size_t n, const pn *tail, long col0, long ind, long ld,
                      long w) {
  if (n == 0) return;
  long we = cind_element(c, els[0], col0, ind, n > 1 ? 0 : ld + 1, w);
  cind_tail(c, els + 1, n - 1, tail, col0, col0 + we, ind, ld, w + we);
}

static void cind(pctx *c, const pn *e, long col, long ind, long ld, long w) {
  if (c->fail) return;
  if (e->len < c->ll - col - ld && e->len + w + ld <= c->m) return;
  switch (e->kind) {
    case PN_LIST:
      cind_list(c, e->el, e->n, e->tail, col + 1, ind, ld, w + 1);
      return;
    case PN_TUPLE:
      if (!e->tagged) {
        cind_list(c, e->el, e->n, NULL, col + 1, ind, ld, w + 1);
        return;
      } else {
        long tlen = e->el[0]->len, tagind = tlen + 2, tcol = col + tagind;
        w += 1;
        if (ind > 0 && tagind > ind) {
          long col1 = col + ind;
          if (c->m + col1 <= c->ll || col1 <= c->ll / 2)
            cind_tail(c, e->el + 1, e->n - 1, NULL, col1, tcol, ind, ld, w + tlen);
          else
            c->fail = 1;
        } else if (c->m + tcol < c->ll || tcol < c->ll / 2) {
          cind_list(c, e->el + 1, e->n - 1, NULL, tcol, ind, ld, w + tlen + 1);
        } else {
          c->fail = 1;
        }
        return;
      }
    case PN_MAP: {
      col += 2;
      w += 2;
      long ccol = col;
      for (size_t i = 0; i < e->n && !c->fail; i++) {
        const pn *p = e->el[i];
        long ld1 = last_depth(e->n - 1 - i, ld), elen = 1 + p->len, pw;
        if (i > 0 && ATM_PAIR(p) &&
            (ld1 == 0 ? (elen + 1 < c->ll - ccol && w + elen + 1 <= c->m)
                      : (elen < c->ll - ccol - ld1 && w + elen + ld1 <= c->m))) {
          ccol += elen;
          w += elen;
          continue;
        }
        long pcol = col, pwid = i == 0 ? w : 0;
        if (p->len < c->ll - pcol - ld1 && p->len + pwid + ld1 <= c->m) {
          pw = ATM_PAIR(p) ? p->len : c->ll;
        } else {
          cind(c, p->el[0], pcol, ind, ld1, pwid);
          cind(c, p->el[1], pcol + map_value_indent(ind), ind, ld1, 0);
          pw = c->ll;
        }
        ccol = col + pw;
        w = i == 0 ? w + pw : pw;
      }
      return;
    }
    default:
      return;
  }
}

/* ~p of t at column col (1-based) within line length ll; with w_mode, ~w
 * (one line, no strings). */
static int pretty(ep_buf *out, ep_term t, long col, long ll, int w_mode, int unicode) {
  pctx c = {ep_arena_new(out->mem), out, ll, 0, 0, w_mode, unicode};
  if (!c.a) return EP_ENOMEM;
  pn *root = build(&c, t, 0);
  if (!root) {
    ep_arena_free(c.a);
    return EP_ENOMEM;
  }
  if (col < 1) col = 1;
  c.m = root->len;
  if (w_mode || ll == 0 || root->len < ll - col) {
    wr(&c, root);
  } else {
    long tind = 1;
    static const long tries[] = {-1, 4};
    for (int i = 0; i < 2; i++) {
      c.fail = 0;
      cind(&c, root, col, tries[i], 0, 0);
      if (!c.fail) {
        tind = tries[i];
        break;
      }
    }
    pp(&c, root, col, tind, col - 1, 0, 0);
  }
  ep_arena_free(c.a);
  return out->err;
}

/* Reads a number or '*' (an integer argument) at f[*i]; -1 when absent. */
static int num_or_star(const uint8_t *f, size_t n, size_t *i, args *av, int *out, int allow_neg) {
  *out = -1;
  if (*i < n && f[*i] == '*') {
    ep_term t;
    int64_t v;
    (*i)++;
    if (next_arg(av, &t) || ep_get_int64(t, &v)) return EP_EINVAL;
    if (v < 0 && !allow_neg) return EP_EINVAL;
    if (v > EP_LIMIT_FORMAT_FIELD || v < -EP_LIMIT_FORMAT_FIELD) return EP_EINVAL;
    *out = (int)v;
    return 0;
  }
  if (*i < n && f[*i] >= '0' && f[*i] <= '9') {
    long v = 0;
    while (*i < n && f[*i] >= '0' && f[*i] <= '9') {
      v = v * 10 + (f[*i] - '0');
      if (v > EP_LIMIT_FORMAT_FIELD) return EP_EINVAL;
      (*i)++;
    }
    *out = (int)v;
  }
  return 0;
}

int ep_iolib_format(ep_buf *out, ep_term format, ep_term arglist) {
  ep_buf fb;
  size_t start = out->len;
  ep_buf_init(&fb, out->mem);
  /* io_lib_format:scan/2: an atom is its text, a binary its bytes as
   * Latin-1 characters (binary_to_list/1), a list its characters */
  int rc = format.type == EP_T_ATOM     ? atom_text(&fb, format, 1)
           : format.type == EP_T_BINARY ? chardata(&fb, format, CD_LATIN1)
                                        : ep_iolib_chardata(&fb, format);
  if (rc) {
    ep_buf_free(&fb);
    return rc == EP_ENOMEM ? rc : EP_EINVAL;
  }
  ptrdiff_t nargs = ep_list_len(arglist);
  if (nargs < 0 || ep_list_tail(arglist).type != EP_T_NIL) {
    ep_buf_free(&fb);
    return EP_EINVAL;
  }
  args av = {arglist, 0, (size_t)nargs};
  const uint8_t *f = fb.data;
  size_t n = fb.len, i = 0;
  while (i < n && !rc) {
    size_t j = i;
    while (j < n && f[j] != '~') j++;
    if (j > i) rc = ep_buf_append(out, f + i, j - i);
    i = j;
    if (i >= n || rc) break;
    i++; /* '~' */
    spec s = {0, 0, -1, -1, ' ', 0, 0};
    /* io_lib_format's indentation: characters since the last newline this
     * format wrote (tabs to the next multiple of 8) */
    for (size_t k = start; k < out->len; k++) {
      uint8_t ch = out->data[k];
      if (ch == '\n')
        s.col = 0;
      else if (ch == '\t')
        s.col = ((s.col + 8) / 8) * 8;
      else if ((ch & 0xC0) != 0x80)
        s.col++;
    }
    if (i < n && f[i] == '-') {
      s.left = 1;
      i++;
    }
    if ((rc = num_or_star(f, n, &i, &av, &s.width, 1))) break;
    if (s.width < -1 || (s.width < 0 && s.width != -1)) {
      s.left = 1;
      s.width = -s.width;
    }
    if (i < n && f[i] == '.') {
      i++;
      if ((rc = num_or_star(f, n, &i, &av, &s.prec, 0))) break;
      if (i < n && f[i] == '.') {
        i++;
        if (i < n && f[i] == '*') {
          ep_term t;
          int64_t v;
          i++;
          if ((rc = next_arg(&av, &t)) || (rc = ep_get_int64(t, &v))) break;
          s.pad = (int)v;
        } else if (i < n) {
          s.pad = f[i++];
        }
      }
    }
    while (i < n && (f[i] == 't' || f[i] == 'l' || f[i] == 'k')) { /* modifiers */
      if (f[i] == 't') s.unicode = 1;
      i++;
    }
    if (i >= n) {
      rc = EP_EINVAL;
      break;
    }
    s.control = (char)f[i++];
    rc = one(out, &s, &av);
  }
  if (!rc && av.i != av.n) rc = EP_EINVAL; /* io_lib:format("~p", [1, 2]) is badarg */
  if (!rc && out->err) rc = out->err;
  if (rc) {
    out->len = start;
    if (rc != EP_ENOMEM) rc = EP_EINVAL;
  }
  ep_buf_free(&fb);
  return rc;
}
