/* ep_iolib.c - io_lib:format/2 for relayed peer output. See ep_iolib.h. */
#include "ep_iolib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_error.h"
#include "ep_limits.h"
#include "ep_text.h"

static int put_utf8(ep_buf *out, int64_t c) {
  uint8_t b[4];
  size_t n;
  if (c < 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return EP_EINVAL;
  if (c < 0x80) {
    b[0] = (uint8_t)c;
    n = 1;
  } else if (c < 0x800) {
    b[0] = (uint8_t)(0xC0 | (c >> 6));
    b[1] = (uint8_t)(0x80 | (c & 0x3F));
    n = 2;
  } else if (c < 0x10000) {
    b[0] = (uint8_t)(0xE0 | (c >> 12));
    b[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
    b[2] = (uint8_t)(0x80 | (c & 0x3F));
    n = 3;
  } else {
    b[0] = (uint8_t)(0xF0 | (c >> 18));
    b[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
    b[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
    b[3] = (uint8_t)(0x80 | (c & 0x3F));
    n = 4;
  }
  return ep_buf_append(out, b, n);
}

/* Iterative walk over deep chardata: a stack of (list, index) frames. */
typedef struct frame {
  ep_term list;
  size_t i, n;
} frame;

static int put_bin(ep_buf *out, const uint8_t *p, size_t n, int latin1) {
  if (!latin1) return ep_buf_append(out, p, n);
  for (size_t i = 0; i < n; i++)
    if (put_utf8(out, p[i])) return out->err ? out->err : EP_EINVAL;
  return 0;
}

static int chardata(ep_buf *out, ep_term t, int latin1);

int ep_iolib_chardata(ep_buf *out, ep_term t) { return chardata(out, t, 0); }
int ep_iolib_chardata_latin1(ep_buf *out, ep_term t) { return chardata(out, t, 1); }

static int chardata(ep_buf *out, ep_term t, int latin1) {
  size_t start = out->len;
  if (t.type == EP_T_BINARY) return put_bin(out, t.v.bytes, t.n, latin1);
  if (t.type == EP_T_ATOM) return ep_buf_append(out, t.v.str, t.n);
  if (t.type == EP_T_STRING) {
    for (size_t i = 0; i < t.n; i++)
      if (put_utf8(out, t.v.bytes[i])) return EP_ENOMEM;
    return 0;
  }
  if (!ep_is_list(t)) return EP_EINVAL;
  size_t cap = 16, depth = 0;
  frame *st = malloc(cap * sizeof *st);
  if (!st) return EP_ENOMEM;
  int rc = 0;
  st[depth++] = (frame){t, 0, (size_t)ep_list_len(t)};
  while (depth > 0 && rc == 0) {
    frame *f = &st[depth - 1];
    if (f->i == f->n) {
      ep_term tail = ep_list_tail(f->list);
      depth--;
      /* an improper tail may only be a binary (iolist rules) */
      if (tail.type == EP_T_BINARY)
        rc = put_bin(out, tail.v.bytes, tail.n, latin1);
      else if (tail.type != EP_T_NIL)
        rc = EP_EINVAL;
      continue;
    }
    ep_term e = ep_list_at(f->list, f->i++);
    switch (e.type) {
      case EP_T_INT:
        rc = put_utf8(out, e.v.i);
        break;
      case EP_T_BINARY:
        rc = put_bin(out, e.v.bytes, e.n, latin1);
        break;
      case EP_T_STRING:
        for (size_t i = 0; i < e.n && !rc; i++) rc = put_utf8(out, e.v.bytes[i]);
        break;
      case EP_T_NIL:
        break;
      case EP_T_LIST:
        if (depth >= EP_LIMIT_DEPTH) {
          rc = EP_EDEPTH;
          break;
        }
        if (depth == cap) {
          frame *ns = realloc(st, 2 * cap * sizeof *st);
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
  free(st);
  if (!rc && out->err) rc = out->err;
  if (rc) out->len = start;
  return rc;
}

/* --- the formatter ------------------------------------------------------------- */

typedef struct spec {
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
    if (put_utf8(out, ch)) return out->err ? out->err : EP_EINVAL;
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
  uint8_t *mag = malloc(t.n ? t.n : 1);
  if (!mag) return EP_ENOMEM;
  memcpy(mag, t.v.bytes, t.n);
  size_t len = t.n;
  ep_buf rev;
  ep_buf_init(&rev, NULL);
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
  free(mag);
  if (t.aux) ep_buf_put8(o, '-');
  for (size_t i = rev.len; i-- > 0;) ep_buf_put8(o, rev.data[i]);
  if (rev.len == 0) ep_buf_put8(o, '0');
  int rc = rev.err ? rev.err : o->err;
  ep_buf_free(&rev);
  return rc;
}

/* ~e with P significant digits: mantissa with P-1 decimals, exponent
 * without padding ("1.00000e+0"). */
static int fmt_e(ep_buf *o, double x, int p) {
  char b[400];
  if (p < 2) p = 2;
  if (p > 100) p = 100;
  snprintf(b, sizeof b, "%.*e", p - 1, x);
  char *e = strchr(b, 'e');
  if (!e) return ep_buf_append(o, b, strlen(b));
  int ex = atoi(e + 1);
  ep_buf_append(o, b, (size_t)(e - b));
  snprintf(b, sizeof b, "e%c%d", ex < 0 ? '-' : '+', abs(ex));
  return ep_buf_append(o, b, strlen(b));
}

static int fmt_float(ep_buf *o, char c, double x, int prec) {
  char b[400];
  if (c == 'f') {
    if (prec < 0) prec = 6;
    if (prec < 1) prec = 1;
    if (prec > 100) prec = 100;
    /* %f of 1e308 needs ~310 digits plus the decimals */
    int n = snprintf(NULL, 0, "%.*f", prec, x);
    char *big = malloc((size_t)n + 1);
    if (!big) return EP_ENOMEM;
    snprintf(big, (size_t)n + 1, "%.*f", prec, x);
    int rc = ep_buf_append(o, big, (size_t)n);
    free(big);
    return rc;
  }
  if (prec < 0) prec = 6;
  if (c == 'e') return fmt_e(o, x, prec);
  /* ~g: ~f when 0.1 =< |X| < 10^(P-1), with P significant digits; else ~e */
  if (prec < 2) prec = 2;
  double a = fabs(x);
  if (a >= 0.1 && a < pow(10.0, prec - 1)) {
    int e = (int)floor(log10(a));
    int dec = prec - 1 - e;
    if (dec < 1) dec = 1;
    snprintf(b, sizeof b, "%.*f", dec, x);
    return ep_buf_append(o, b, strlen(b));
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
      for (size_t i = 0; i < rep && !rc; i++) rc = put_utf8(&tmp, ch & (ch > 255 ? 0x1FFFFF : 0xFF));
      if (!rc) {
        spec s2 = *s;
        s2.prec = -1;
        rc = field(out, &s2, tmp.data, tmp.len, 0);
      }
      break;
    }
    case 's':
    case 'a':
      if ((rc = next_arg(av, &t))) break;
      if ((rc = ep_iolib_chardata(&tmp, t))) {
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
      if ((rc = ep_print(&tmp, t))) break;
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
        if (!ep_is_none(prefix)) rc = ep_iolib_chardata(&tmp, prefix);
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

/* Reads a number or '*' (an integer argument) at f[*i]; -1 when absent. */
static int num_or_star(const uint8_t *f, size_t n, size_t *i, args *av, int *out, int allow_neg) {
  *out = -1;
  if (*i < n && f[*i] == '*') {
    ep_term t;
    int64_t v;
    (*i)++;
    if (next_arg(av, &t) || ep_get_int64(t, &v)) return EP_EINVAL;
    if (v < 0 && !allow_neg) return EP_EINVAL;
    if (v > 1000000 || v < -1000000) return EP_EINVAL;
    *out = (int)v;
    return 0;
  }
  if (*i < n && f[*i] >= '0' && f[*i] <= '9') {
    long v = 0;
    while (*i < n && f[*i] >= '0' && f[*i] <= '9') {
      v = v * 10 + (f[*i] - '0');
      if (v > 1000000) return EP_EINVAL;
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
  int rc = ep_iolib_chardata(&fb, format);
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
    spec s = {-1, -1, ' ', 0, 0};
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
    while (i < n && (f[i] == 't' || f[i] == 'l' || f[i] == 'k')) i++; /* modifiers */
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
