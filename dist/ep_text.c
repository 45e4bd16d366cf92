/* ep_text.c - Erlang term syntax: an iterative parser and printer.
 *
 * Parser: a scanner (one token at a time, straight from the UTF-8 text) and
 * a pushdown automaton whose stack lives on the heap: a frame per open
 * tuple, list or map, and one shared stack of finished values. Closing a
 * frame builds its term from the values above the frame's start. Nothing
 * recurses, so the nesting depth costs heap (bounded by EP_LIMIT_DEPTH), not
 * C stack. Binaries and `fun M:F/A` have no nested terms and are parsed
 * flat.
 *
 * Frame states (what the frame waits for next):
 *
 *   tuple  FIRST --value--> AFTER --','--> NEXT --value--> AFTER --'}'--> built
 *          FIRST --'}'--> built
 *   list   FIRST/NEXT --value--> AFTER; AFTER --','--> NEXT, --']'--> built,
 *          --'|'--> TAIL; TAIL --value--> AFTER_TAIL --']'--> built;
 *          TAIL --'['--> (a CONT frame that keeps adding to the same list,
 *          so [1|[2|[3]]] is built once, flat, in linear time)
 *   map    FIRST/NEXT --key--> KEY --'=>'--> VAL --value--> AFTER;
 *          AFTER --','--> NEXT, --'}'--> built
 *
 * Lists come out canonical: a literal tail list is merged into its parent
 * ([1|[2]] is [1,2], [1|"ab"] is [1,97,98]), so parsed terms compare =:= to
 * decoded ones with ep_term_eq.
 */
#include "ep_text.h"
#include "ep_cfloat_int.h"
#include "ep_utf8_int.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_error.h"
#include "ep_limits.h"

/* Integer literals in bases that are not powers of two convert in quadratic
 * time; 200,000 digits take ~0.1 s. Longer literals are refused (write them
 * in 16#...; the printer does beyond TEXT_BIG_DECIMAL_MAX). The limits are
 * in ep_limits.h's text section. */
#define TEXT_MAX_DIGITS EP_LIMIT_TEXT_DIGITS
/* Bignum magnitudes up to 32 KiB (~79,000 digits) print in decimal; larger
 * ones in 16#HEX, which is linear. */
#define TEXT_BIG_DECIMAL_MAX 32768u
/* Largest single integer segment in a binary, in bits (2 MiB), and largest
 * binary a literal may build: a few bytes of text must not allocate
 * gigabytes. */
#define TEXT_SEGMENT_BITS EP_LIMIT_TEXT_SEGMENT_BITS
#define TEXT_BINARY_BYTES EP_LIMIT_TEXT_SIZE

/* ======================================================================== */
/* UTF-8                                                                     */
/* ======================================================================== */

/* erl_scan's ?UNICODE: what \x{...} may name. */
static bool is_unicode(uint64_t c) {
  return c < 0xD800 || (c > 0xDFFF && c < 0xFFFE) || (c > 0xFFFF && c <= 0x10FFFF);
}

/* ======================================================================== */
/* Parser: scanner                                                           */
/* ======================================================================== */

enum {
  TK_EOF,
  TK_ATOM,
  TK_VAR,
  TK_INT, /* also $c */
  TK_FLOAT,
  TK_STRING, /* code points in p->cps */
  TK_FUN,
  TK_LBRACE,
  TK_RBRACE,
  TK_LBRACKET,
  TK_RBRACKET,
  TK_BAR,
  TK_COMMA,
  TK_HASH,
  TK_ARROW,
  TK_LTLT,
  TK_GTGT,
  TK_COLON,
  TK_SLASH,
  TK_MINUS,
  TK_PLUS,
  TK_DOT,
  TK_RESERVED /* a reserved word used as an atom */
};

typedef struct {
  int kind;
  size_t start, end;
  ep_term v; /* TK_ATOM, TK_INT, TK_FLOAT */
} token;

typedef struct {
  ep_arena *a;
  const ep_mem *mem;
  const uint8_t *s;
  size_t len, pos;
  bool more; /* EP_PARSE_MORE */
  size_t err_off;
  const char *err_msg;
  uint32_t *cps; /* code points of the last string token */
  size_t ncps, cpcap;
  uint8_t *scratch; /* atom text, number digits */
  size_t nscratch, scap;
  size_t seg_off; /* start of the binary segment being written */
  uint64_t bin_bytes; /* bytes of the term's binary literals built so far */
} parser;

static int fail(parser *p, size_t off, const char *msg) {
  p->err_off = off;
  p->err_msg = msg;
  return EP_ESYNTAX;
}

static int need_more(parser *p) {
  p->err_off = p->len;
  p->err_msg = "unexpected end of input";
  return EP_EINCOMPLETE;
}

static int nomem(parser *p, size_t off) {
  p->err_off = off;
  p->err_msg = "out of memory";
  return EP_ENOMEM;
}

static int grow(const ep_mem *m, void **arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap : 64;
  while (nc < need) {
    if (nc > SIZE_MAX / 2 / elem) return EP_ENOMEM;
    nc *= 2;
  }
  void *n = ep_realloc(m, *arr, nc * elem);
  if (!n) return EP_ENOMEM;
  *arr = n;
  *cap = nc;
  return 0;
}

static int push_cp(parser *p, uint32_t cp) {
  if (p->ncps == p->cpcap && grow(p->mem, (void **)&p->cps, &p->cpcap, p->ncps + 1, sizeof(uint32_t)))
    return nomem(p, p->pos);
  p->cps[p->ncps++] = cp;
  return 0;
}

static int push_scratch(parser *p, const uint8_t *b, size_t n) {
  if (p->nscratch + n > p->scap && grow(p->mem, (void **)&p->scratch, &p->scap, p->nscratch + n, 1))
    return nomem(p, p->pos);
  memcpy(p->scratch + p->nscratch, b, n);
  p->nscratch += n;
  return 0;
}

/* Index of the first byte at or after i that is not white space or inside a
 * %-comment. White space is erl_scan's: code points 0..32 and 128..160 (the
 * latter as UTF-8, C2 80..C2 A0). */
static size_t skip_from(const parser *p, size_t i) {
  for (;;) {
    while (i < p->len) {
      if (p->s[i] <= ' ') i++;
      else if (p->s[i] == 0xC2 && i + 1 < p->len && p->s[i + 1] >= 0x80 && p->s[i + 1] <= 0xA0) i += 2;
      else break;
    }
    if (i < p->len && p->s[i] == '%') {
      const uint8_t *nl = memchr(p->s + i, '\n', p->len - i);
      i = nl ? (size_t)(nl - p->s) + 1 : p->len;
      continue;
    }
    return i;
  }
}

static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static bool is_lower(uint8_t c) { return c >= 'a' && c <= 'z'; }
static bool is_upper(uint8_t c) { return c >= 'A' && c <= 'Z'; }

/* Length of a name character at i (ASCII letters, digits, _ and @, and the
 * Latin-1 letters U+00C0..U+00FF except x and / signs, which erl_scan
 * accepts unquoted); 0 when there is none. *partial is set when the text
 * ends inside a UTF-8 sequence. */
static size_t name_char(const parser *p, size_t i, bool *partial) {
  uint8_t c = p->s[i];
  if (is_lower(c) || is_upper(c) || is_digit(c) || c == '_' || c == '@') return 1;
  if (c == 0xC3) {
    if (i + 1 >= p->len) {
      *partial = true;
      return 0;
    }
    uint8_t d = p->s[i + 1];
    if (d >= 0x80 && d <= 0xBF && d != 0x97 && d != 0xB7) return 2;
  }
  return 0;
}

static const char *const reserved_words[] = {
    "after", "and",  "andalso", "band", "begin", "bnot", "bor",    "bsl",     "bsr", "bxor",
    "case",  "catch", "cond",   "div",  "end",   "fun",  "if",     "let",     "not", "of",
    "or",    "orelse", "receive", "rem", "try",  "when", "xor",    "maybe",   "else"};

/* Reserved words; maybe and else are keywords since OTP 27 (the maybe_expr
 * feature), so the printer quotes them too, and the parser takes them
 * unquoted as atoms, as OTP 25/26 do. */
static bool is_reserved(const uint8_t *s, size_t n, bool for_printer) {
  size_t count = sizeof reserved_words / sizeof reserved_words[0];
  if (!for_printer) count -= 2;
  for (size_t i = 0; i < count; i++)
    if (strlen(reserved_words[i]) == n && memcmp(reserved_words[i], s, n) == 0) return true;
  return false;
}

/* Scans one escape sequence; *i is just after the backslash. erl_scan's
 * rules: \b \d \e \f \n \r \s \t \v, \NNN (1..3 octal digits), \xHH,
 * \x{H...}, \^C (C band 31), any other character stands for itself. */
static int scan_escape(parser *p, size_t *i, uint32_t *cp) {
  size_t j = *i;
  if (j >= p->len) return need_more(p);
  uint8_t c = p->s[j];
  if (c >= '0' && c <= '7') {
    uint32_t v = 0;
    size_t k = 0;
    while (k < 3 && j < p->len && p->s[j] >= '0' && p->s[j] <= '7') v = v * 8 + (p->s[j++] - '0'), k++;
    if (k < 3 && j >= p->len && p->more) return need_more(p);
    *cp = v;
    *i = j;
    return 0;
  }
  if (c == 'x') {
    j++;
    if (j >= p->len) return need_more(p);
    if (p->s[j] == '{') {
      j++;
      uint64_t v = 0;
      size_t k = 0;
      for (;; j++, k++) {
        if (j >= p->len) return need_more(p);
        uint8_t h = p->s[j];
        int d = is_digit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
        if (d < 0) break;
        if (v <= 0x10FFFF) v = v * 16 + (uint64_t)d;
      }
      if (p->s[j] != '}' || k == 0 || !is_unicode(v)) return fail(p, *i - 1, "illegal \\x{...} escape");
      *cp = (uint32_t)v;
      *i = j + 1;
      return 0;
    }
    uint32_t v = 0;
    for (int k = 0; k < 2; k++, j++) {
      if (j >= p->len) return need_more(p);
      uint8_t h = p->s[j];
      int d = is_digit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
      if (d < 0) return fail(p, *i - 1, "illegal \\x escape: two hex digits or {...} expected");
      v = v * 16 + (uint32_t)d;
    }
    *cp = v;
    *i = j;
    return 0;
  }
  if (c == '^') {
    j++;
    uint32_t x;
    int l = ep__utf8_decode(p->s + j, p->len - j, &x);
    if (l < 0) return need_more(p);
    if (l == 0) return fail(p, j, "invalid UTF-8");
    *cp = x & 31;
    *i = j + (size_t)l;
    return 0;
  }
  uint32_t x;
  int l = ep__utf8_decode(p->s + j, p->len - j, &x);
  if (l < 0) return need_more(p);
  if (l == 0) return fail(p, j, "invalid UTF-8");
  switch (x) {
    case 'b': x = '\b'; break;
    case 'd': x = 127; break;
    case 'e': x = 27; break;
    case 'f': x = '\f'; break;
    case 'n': x = '\n'; break;
    case 'r': x = '\r'; break;
    case 's': x = ' '; break;
    case 't': x = '\t'; break;
    case 'v': x = '\v'; break;
    default: break;
  }
  *cp = x;
  *i = j + (size_t)l;
  return 0;
}

/* One character of a quoted string or atom at s[*i] (not the closing
 * quote): an escape sequence or one UTF-8 code point. */
static int quoted_char(parser *p, size_t *i, uint32_t *cp, const char *bad_utf8) {
  if (p->s[*i] == '\\') {
    (*i)++;
    return scan_escape(p, i, cp);
  }
  int l = ep__utf8_decode(p->s + *i, p->len - *i, cp);
  if (l < 0) return need_more(p);
  if (l == 0) return fail(p, *i, bad_utf8);
  *i += (size_t)l;
  return 0;
}

/* "..." with adjacent strings joined; code points into p->cps. */
static int scan_string(parser *p, token *t) {
  size_t i = p->pos;
  p->ncps = 0;
  for (;;) {
    i++; /* the opening quote */
    for (;;) {
      if (i >= p->len) return need_more(p);
      uint8_t c = p->s[i];
      uint32_t cp;
      if (c == '"') {
        i++;
        break;
      }
      int r = quoted_char(p, &i, &cp, "invalid UTF-8 in string");
      if (r) return r;
      r = push_cp(p, cp);
      if (r) return r;
    }
    size_t j = skip_from(p, i);
    if (j >= p->len && p->more) return need_more(p);
    if (j < p->len && p->s[j] == '"') {
      i = j;
      continue;
    }
    p->pos = i;
    t->kind = TK_STRING;
    t->end = i;
    return 0;
  }
}

/* 'quoted atom' */
static int scan_qatom(parser *p, token *t) {
  size_t i = p->pos + 1, chars = 0;
  p->nscratch = 0;
  for (;;) {
    if (i >= p->len) return need_more(p);
    uint8_t c = p->s[i];
    uint32_t cp;
    if (c == '\'') {
      i++;
      break;
    }
    int r = quoted_char(p, &i, &cp, "invalid UTF-8 in atom");
    if (r) return r;
    uint8_t u[4];
    r = push_scratch(p, u, ep__utf8_encode(cp, u));
    if (r) return r;
    chars++;
  }
  if (chars > EP_LIMIT_ATOM_CHARS) return fail(p, p->pos, "atom longer than 255 characters");
  t->v = ep_atom_copy(p->a, (const char *)p->scratch, p->nscratch);
  if (ep_is_none(t->v)) return nomem(p, p->pos);
  t->kind = TK_ATOM;
  p->pos = t->end = i;
  return 0;
}

static int digit_value(uint8_t c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return 99;
}

/* Scans digits of base from i: digits with single '_' between two digits.
 * Returns the end index, or (size_t)-1 for "need more" in MORE mode. */
static size_t scan_digits(const parser *p, size_t i, int base, size_t *ndigits) {
  size_t n = 0;
  for (;;) {
    if (i < p->len && digit_value(p->s[i]) < base) {
      i++, n++;
      continue;
    }
    if (n && i < p->len && p->s[i] == '_') {
      if (i + 1 >= p->len) {
        if (p->more) return (size_t)-1;
        break;
      }
      if (digit_value(p->s[i + 1]) < base) {
        i++;
        continue;
      }
    }
    break;
  }
  if (i >= p->len && p->more) return (size_t)-1;
  *ndigits = n;
  return i;
}

/* Digits (with '_' separators) in s[b..e) of base as an integer term. */
static int digits_to_int(parser *p, size_t b, size_t e, int base, size_t ndigits, ep_term *out) {
  const uint8_t *s = p->s;
  uint64_t u = 0;
  bool small = true;
  for (size_t i = b; i < e && small; i++) {
    if (s[i] == '_') continue;
    unsigned d = (unsigned)digit_value(s[i]);
    if (u > (UINT64_MAX - d) / (unsigned)base) small = false;
    else u = u * (unsigned)base + d;
  }
  if (small) {
    *out = u <= (uint64_t)INT64_MAX ? ep_int((int64_t)u) : ep_uint64(p->a, u);
    if (ep_is_none(*out)) return nomem(p, b);
    return 0;
  }
  int bits = 0;
  for (int k = 1; k <= 5; k++)
    if (base == 1 << k) bits = k;
  if (!bits && ndigits > TEXT_MAX_DIGITS)
    return fail(p, b, "integer literal longer than 200000 digits (write it in 16#...)");
  /* Magnitude bits needed: ndigits * log2(base) <= ndigits * 6. */
  double est = (double)ndigits * log2((double)base) / 8.0;
  if (est > (double)EP_LIMIT_BIGNUM_BYTES + 1) return fail(p, b, "integer literal larger than the bignum limit");
  size_t nlimbs = (size_t)(est / 4) + 2;
  uint32_t *limb = ep_malloc(p->mem, nlimbs * sizeof(uint32_t));
  if (!limb) return nomem(p, b);
  memset(limb, 0, nlimbs * sizeof(uint32_t));
  size_t used = 0; /* limbs in use */
  if (bits) {
    /* Power-of-two base: pack bits from the last digit, linear. */
    size_t bitpos = 0;
    for (size_t i = e; i > b; i--) {
      if (s[i - 1] == '_') continue;
      uint32_t d = (uint32_t)digit_value(s[i - 1]);
      for (int k = 0; k < bits; k++, bitpos++)
        if (d >> k & 1) limb[bitpos / 32] |= 1u << (bitpos % 32);
    }
    used = nlimbs;
  } else {
    /* Chunks of k digits: multiply-add base^k, quadratic but bounded. */
    uint32_t chunk_mul = 1, chunk = 0;
    unsigned k = 0, kmax = 0;
    for (uint64_t m = 1; m * (unsigned)base <= 0xFFFFFFFFu; m *= (unsigned)base) kmax++;
    for (size_t i = b; i <= e; i++) {
      bool flush = (i == e) ? k > 0 : false;
      if (i < e) {
        if (s[i] == '_') continue;
        chunk = chunk * (uint32_t)base + (uint32_t)digit_value(s[i]);
        chunk_mul *= (uint32_t)base;
        k++;
        flush = k == kmax;
      }
      if (!flush) continue;
      uint64_t carry = chunk;
      for (size_t j = 0; j < used; j++) {
        uint64_t v = (uint64_t)limb[j] * chunk_mul + carry;
        limb[j] = (uint32_t)v;
        carry = v >> 32;
      }
      if (carry) limb[used++] = (uint32_t)carry;
      chunk = 0, chunk_mul = 1, k = 0;
    }
  }
  while (used > 0 && limb[used - 1] == 0) used--;
  size_t nb = used * 4;
  uint8_t *le = (uint8_t *)limb; /* reuse in place: limb j -> bytes 4j..4j+3 */
  for (size_t j = 0; j < used; j++) {
    uint32_t v = limb[j];
    le[4 * j] = (uint8_t)v, le[4 * j + 1] = (uint8_t)(v >> 8), le[4 * j + 2] = (uint8_t)(v >> 16),
    le[4 * j + 3] = (uint8_t)(v >> 24);
  }
  while (nb > 0 && le[nb - 1] == 0) nb--;
  if (nb > EP_LIMIT_BIGNUM_BYTES) {
    ep_free(p->mem, limb);
    return fail(p, b, "integer literal larger than the bignum limit");
  }
  *out = ep_big(p->a, false, le, nb);
  ep_free(p->mem, limb);
  if (ep_is_none(*out)) return nomem(p, b);
  return 0;
}

static int scan_number(parser *p, token *t) {
  size_t b = p->pos, nd, nd2;
  size_t i = scan_digits(p, b, 10, &nd);
  if (i == (size_t)-1) return need_more(p);
  if (i < p->len && p->s[i] == '#') {
    /* Base#Digits */
    unsigned base = 0;
    for (size_t k = b; k < i; k++)
      if (p->s[k] != '_' && base < 1000) base = base * 10 + (unsigned)(p->s[k] - '0');
    if (base < 2 || base > 36) return fail(p, b, "base of Base#Digits must be 2..36");
    size_t j = scan_digits(p, i + 1, (int)base, &nd2);
    if (j == (size_t)-1) return need_more(p);
    if (nd2 == 0) {
      if (j >= p->len) return need_more(p);
      return fail(p, b, "digits expected after '#'");
    }
    int r = digits_to_int(p, i + 1, j, (int)base, nd2, &t->v);
    if (r) return r;
    t->kind = TK_INT;
    p->pos = t->end = j;
    return 0;
  }
  if (i < p->len && p->s[i] == '.' && (i + 1 < p->len ? is_digit(p->s[i + 1]) : p->more)) {
    if (i + 1 >= p->len) return need_more(p);
    size_t j = scan_digits(p, i + 1, 10, &nd2);
    if (j == (size_t)-1) return need_more(p);
    if (j < p->len && (p->s[j] == 'e' || p->s[j] == 'E')) {
      size_t k = j + 1;
      if (k < p->len && (p->s[k] == '+' || p->s[k] == '-')) k++;
      size_t m = scan_digits(p, k, 10, &nd2);
      if (m == (size_t)-1) return need_more(p);
      if (nd2 == 0) {
        if (k >= p->len) return need_more(p);
        return fail(p, b, "illegal float: digits expected after 'e'");
      }
      j = m;
    }
    p->nscratch = 0;
    for (size_t k = b; k < j; k++)
      if (p->s[k] != '_' && push_scratch(p, p->s + k, 1)) return EP_ENOMEM;
    if (push_scratch(p, (const uint8_t *)"", 1)) return EP_ENOMEM;
    /* '.' whatever the program's locale (Erlang syntax has no other) */
    errno = 0;
    double d = ep__strtod_c((const char *)p->scratch, NULL);
    if (errno == ENOMEM) return EP_ENOMEM;
    if (!isfinite(d)) return fail(p, b, "float out of range");
    t->v = ep_float(d);
    t->kind = TK_FLOAT;
    p->pos = t->end = j;
    return 0;
  }
  int r = digits_to_int(p, b, i, 10, nd, &t->v);
  if (r) return r;
  t->kind = TK_INT;
  p->pos = t->end = i;
  return 0;
}

/* The next token; TK_EOF at the end (never in MORE mode: EP_EINCOMPLETE). */
static int next(parser *p, token *t) {
  p->pos = skip_from(p, p->pos);
  t->start = p->pos;
  t->v = ep_none();
  if (p->pos >= p->len) {
    if (p->more) return need_more(p);
    t->kind = TK_EOF;
    t->end = p->pos;
    return 0;
  }
  const uint8_t *s = p->s;
  size_t i = p->pos;
  uint8_t c = s[i];
  int single = -1;
  switch (c) {
    case '{': single = TK_LBRACE; break;
    case '}': single = TK_RBRACE; break;
    case '[': single = TK_LBRACKET; break;
    case ']': single = TK_RBRACKET; break;
    case '|': single = TK_BAR; break;
    case ',': single = TK_COMMA; break;
    case '#': single = TK_HASH; break;
    case ':': single = TK_COLON; break;
    case '/': single = TK_SLASH; break;
    case '-': single = TK_MINUS; break;
    case '+': single = TK_PLUS; break;
    default: break;
  }
  if (single >= 0) {
    t->kind = single;
    p->pos = t->end = i + 1;
    return 0;
  }
  if (c == '=' || c == '<' || c == '>') {
    uint8_t want = c == '=' ? '>' : c;
    if (i + 1 >= p->len) return need_more(p); /* '<' is a prefix of '<<' */
    if (s[i + 1] != want) {
      if (c == '<' && (is_digit(s[i + 1]) || is_lower(s[i + 1])))
        return fail(p, i, "pids have no literal syntax (a <...> pid does not parse)");
      return fail(p, i, c == '=' ? "'=>' expected" : c == '<' ? "'<<' expected" : "'>>' expected");
    }
    t->kind = c == '=' ? TK_ARROW : c == '<' ? TK_LTLT : TK_GTGT;
    p->pos = t->end = i + 2;
    return 0;
  }
  if (c == '.') {
    if (i + 1 >= p->len) {
      if (p->more) return need_more(p);
    } else if (s[i + 1] > ' ' && s[i + 1] != '%') {
      return fail(p, i, "unexpected '.'");
    }
    t->kind = TK_DOT;
    p->pos = t->end = i + 1;
    return 0;
  }
  if (c == '"') {
    t->kind = TK_STRING;
    return scan_string(p, t);
  }
  if (c == '\'') return scan_qatom(p, t);
  if (is_digit(c)) return scan_number(p, t);
  if (c == '$') {
    uint32_t cp;
    size_t j = i + 1;
    if (j >= p->len) return need_more(p);
    if (s[j] == '\\') {
      j++;
      int r = scan_escape(p, &j, &cp);
      if (r) return r;
    } else {
      int l = ep__utf8_decode(s + j, p->len - j, &cp);
      if (l < 0) return need_more(p);
      if (l == 0) return fail(p, j, "invalid UTF-8");
      j += (size_t)l;
    }
    t->kind = TK_INT;
    t->v = ep_int(cp);
    p->pos = t->end = j;
    return 0;
  }
  bool partial = false;
  bool lower = is_lower(c) || (c == 0xC3 && i + 1 < p->len && s[i + 1] >= 0x9F && s[i + 1] <= 0xBF && s[i + 1] != 0xB7);
  bool upper = is_upper(c) || c == '_' || (c == 0xC3 && i + 1 < p->len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9E && s[i + 1] != 0x97);
  if (lower || upper) {
    size_t j = i, l;
    while (j < p->len && (l = name_char(p, j, &partial)) > 0) j += l;
    if ((j >= p->len || partial) && p->more) return need_more(p);
    t->end = p->pos = j;
    if (upper) {
      t->kind = TK_VAR;
      return 0;
    }
    if (j - i == 3 && memcmp(s + i, "fun", 3) == 0) {
      t->kind = TK_FUN;
      return 0;
    }
    if (is_reserved(s + i, j - i, false)) {
      t->kind = TK_RESERVED;
      return 0;
    }
    size_t chars = 0;
    for (size_t k = i; k < j; k++) chars += (s[k] & 0xC0) != 0x80;
    if (chars > EP_LIMIT_ATOM_CHARS) return fail(p, i, "atom longer than 255 characters");
    t->v = ep_atom_copy(p->a, (const char *)s + i, j - i);
    if (ep_is_none(t->v)) return nomem(p, i);
    t->kind = TK_ATOM;
    return 0;
  }
  if (c == 0xC3 && i + 1 >= p->len) return need_more(p);
  if (c >= 0x80) {
    uint32_t cp;
    int l = ep__utf8_decode(s + i, p->len - i, &cp);
    if (l < 0) return need_more(p);
    if (l == 0) return fail(p, i, "invalid UTF-8");
  }
  return fail(p, i, "unexpected character");
}

/* "expected X, found Y" messages need static storage: a small table. */
static int unexpected(parser *p, const token *t, const char *expected) {
  if (t->kind == TK_EOF) return need_more(p);
  static const char *const msgs[] = {
      "syntax error before end of input", "syntax error before an atom", "variables are not terms",
      "syntax error before an integer", "syntax error before a float", "syntax error before a string",
      "syntax error before 'fun'", "syntax error before '{'", "syntax error before '}'",
      "syntax error before '['", "syntax error before ']'", "syntax error before '|'",
      "syntax error before ','", "syntax error before '#'", "syntax error before '=>'",
      "syntax error before '<<'", "syntax error before '>>'", "syntax error before ':'",
      "syntax error before '/'", "syntax error before '-'", "syntax error before '+'",
      "syntax error before '.'", "reserved word used as an atom (quote it)"};
  if (expected) return fail(p, t->start, expected);
  return fail(p, t->start, msgs[t->kind]);
}

/* ======================================================================== */
/* Parser: binaries and funs (flat)                                          */
/* ======================================================================== */

typedef struct {
  uint8_t *d;
  size_t nbits, cap; /* cap in bytes */
} bitbuf;

static int bits_reserve(parser *p, bitbuf *b, uint64_t more_bits) {
  uint64_t need = ((uint64_t)b->nbits + more_bits + 7) / 8;
  if (need > TEXT_BINARY_BYTES) return fail(p, p->seg_off, "binary literal too large");
  /* All of a term's binaries together, too: a short literal can ask for a
   * lot (<<"abc":16#ffffff>>), and many of them would be unbounded. */
  if (p->bin_bytes + need > TEXT_BINARY_BYTES) return fail(p, p->seg_off, "binary literals too large (64 MiB in all)");
  if (need > b->cap) {
    size_t old = b->cap;
    if (grow(p->mem, (void **)&b->d, &b->cap, (size_t)need, 1)) return nomem(p, p->pos);
    memset(b->d + old, 0, b->cap - old);
  }
  return 0;
}

static void bits_put(bitbuf *b, unsigned bit) {
  if (bit) b->d[b->nbits / 8] |= (uint8_t)(0x80u >> (b->nbits % 8));
  b->nbits++;
}

/* count copies of one bit: whole bytes at once, so a wide field of sign
 * bits (<<-1:16777216>>) costs a memset, not millions of steps */
static void bits_fill(bitbuf *b, unsigned bit, uint64_t count) {
  while (count && b->nbits % 8) bits_put(b, bit), count--;
  size_t bytes = (size_t)(count / 8);
  if (bytes) memset(b->d + b->nbits / 8, bit ? 0xFF : 0, bytes); /* d may be NULL for <<0:0>> */
  b->nbits += bytes * 8;
  count -= (uint64_t)bytes * 8;
  while (count) bits_put(b, bit), count--;
}

static void bits_byte(bitbuf *b, uint8_t v) {
  if (b->nbits % 8 == 0) {
    b->d[b->nbits / 8] = v;
    b->nbits += 8;
  } else {
    for (int k = 7; k >= 0; k--) bits_put(b, v >> k & 1);
  }
}

/* Integer v (INT or BIG) as an nbits-wide field, two's complement. */
static int bits_int(parser *p, bitbuf *b, ep_term v, uint64_t nbits, bool little) {
  if (nbits > TEXT_SEGMENT_BITS) return fail(p, p->seg_off, "binary segment too large");
  if (little && nbits % 8) return fail(p, p->seg_off, "little-endian segments must be a whole number of bytes");
  int r = bits_reserve(p, b, nbits);
  if (r) return r;
  if (v.type == EP_T_INT && nbits == 8 && !little) {
    bits_byte(b, (uint8_t)v.v.i);
    return 0;
  }
  /* bit k of the value, k = 0 least significant */
  const uint8_t *mag = NULL;
  uint8_t *m1 = NULL;
  size_t n = 0;
  bool neg;
  uint8_t small[8];
  if (v.type == EP_T_INT) {
    uint64_t u = (uint64_t)v.v.i;
    for (int k = 0; k < 8; k++) small[k] = (uint8_t)(u >> (8 * k));
    mag = small, n = 8, neg = false; /* already two's complement over 64 bits */
    if (v.v.i < 0) {
      /* sign-extend beyond 64 bits: treat as two's complement directly */
    }
  } else {
    neg = v.aux != 0;
    n = v.n;
    if (neg) {
      /* ~(mag - 1) gives the two's complement bits */
      m1 = ep_malloc(p->mem, n ? n : 1);
      if (!m1) return nomem(p, p->pos);
      memcpy(m1, v.v.bytes, n);
      for (size_t k = 0; k < n; k++) {
        if (m1[k]--) break;
      }
      mag = m1;
    } else {
      mag = v.v.bytes;
    }
  }
  bool int_neg = v.type == EP_T_INT && v.v.i < 0;
#define BIT_AT(k)                                                                           \
  (v.type == EP_T_INT ? ((k) < 64 ? (unsigned)(small[(k) / 8] >> ((k) % 8) & 1) : (unsigned)int_neg) \
                      : ((k) / 8 < n ? (unsigned)((mag[(k) / 8] >> ((k) % 8) & 1) ^ neg) : (unsigned)neg))
  /* bits at and above vbits are all the sign bit */
  uint64_t vbits = v.type == EP_T_INT ? 64 : (uint64_t)n * 8;
  unsigned sign = v.type == EP_T_INT ? (unsigned)int_neg : (unsigned)neg;
  if (!little) {
    uint64_t k = nbits;
    if (k > vbits) bits_fill(b, sign, k - vbits), k = vbits;
    for (; k > 0; k--) bits_put(b, BIT_AT(k - 1));
  } else {
    uint64_t vbytes = vbits / 8 < nbits / 8 ? vbits / 8 : nbits / 8;
    for (uint64_t byte = 0; byte < vbytes; byte++)
      for (int bit = 7; bit >= 0; bit--) bits_put(b, BIT_AT(byte * 8 + (uint64_t)bit));
    bits_fill(b, sign, nbits - vbytes * 8);
  }
#undef BIT_AT
  ep_free(p->mem, m1);
  return 0;
}

enum { SEG_INT, SEG_FLOAT, SEG_UTF8, SEG_UTF16, SEG_UTF32, SEG_BINARY };

static int bits_utf(parser *p, bitbuf *b, int type, uint32_t cp, bool little, size_t off) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return fail(p, off, "not a Unicode code point");
  if (type == SEG_UTF8) {
    uint8_t u[4];
    size_t l = ep__utf8_encode(cp, u);
    int r = bits_reserve(p, b, l * 8);
    if (r) return r;
    for (size_t k = 0; k < l; k++) bits_byte(b, u[k]);
    return 0;
  }
  if (type == SEG_UTF32) return bits_int(p, b, ep_int(cp), 32, little);
  if (cp < 0x10000) return bits_int(p, b, ep_int(cp), 16, little);
  uint32_t c = cp - 0x10000;
  int r = bits_int(p, b, ep_int(0xD800 | (c >> 10)), 16, little);
  return r ? r : bits_int(p, b, ep_int(0xDC00 | (c & 0x3FF)), 16, little);
}

static int bits_float(parser *p, bitbuf *b, double d, uint64_t nbits, bool little, size_t off) {
  uint64_t u;
  if (nbits == 64) {
    memcpy(&u, &d, 8);
  } else if (nbits == 32) {
    float f = (float)d;
    if (!isfinite(f)) return fail(p, off, "float does not fit 32 bits");
    uint32_t w;
    memcpy(&w, &f, 4);
    u = w;
  } else {
    return fail(p, off, "float segments are 32 or 64 bits");
  }
  return bits_int(p, b, ep_int((int64_t)u), nbits, little);
}

/* After '<<': segments up to '>>'. Segment := Value [':' Size] ['/' Types],
 * Value := [-|+] integer | $c | float | "string", Types := Type ('-' Type)*,
 * Type := integer | float | binary | bytes | bitstring | bits | utf8 | utf16
 * | utf32 | signed | unsigned | big | little | unit:N. */
static int parse_binary(parser *p, ep_term *out) {
  bitbuf b = {0};
  token t;
  int r = next(p, &t);
  if (r) goto done;
  if (t.kind == TK_GTGT) goto build;
  for (;;) {
    size_t seg_off = p->seg_off = t.start;
    int vkind = t.kind;
    ep_term v = t.v;
    bool negate = false;
    if (vkind == TK_MINUS || vkind == TK_PLUS) {
      negate = vkind == TK_MINUS;
      if ((r = next(p, &t))) goto done;
      if (t.kind != TK_INT && t.kind != TK_FLOAT) {
        r = unexpected(p, &t, NULL);
        goto done;
      }
      vkind = t.kind, v = t.v;
    }
    if (vkind != TK_INT && vkind != TK_FLOAT && vkind != TK_STRING) {
      r = unexpected(p, &t, vkind == TK_GTGT ? NULL : "binary segment value must be a literal number or string");
      goto done;
    }
    if (negate) {
      if (v.type == EP_T_FLOAT) v.v.f = -v.v.f;
      else if (v.type == EP_T_INT) v.v.i = -v.v.i;
      else v = ep_big(p->a, true, v.v.bytes, v.n);
      if (ep_is_none(v)) {
        r = nomem(p, seg_off);
        goto done;
      }
    }
    /* cps stay valid: no string token is scanned before the segment is
     * written (sizes and types are not strings). */
    if ((r = next(p, &t))) goto done;
    bool has_size = false;
    uint64_t size = 0, unit = 0;
    int type = SEG_INT; /* as in Erlang, also for a float value */
    bool little = false;
    if (t.kind == TK_COLON) {
      if ((r = next(p, &t))) goto done;
      if (t.kind != TK_INT || t.v.type != EP_T_INT) {
        r = unexpected(p, &t, "binary segment size must be a non-negative integer");
        goto done;
      }
      has_size = true;
      size = (uint64_t)t.v.v.i;
      if ((r = next(p, &t))) goto done;
    }
    if (t.kind == TK_SLASH) {
      for (;;) {
        if ((r = next(p, &t))) goto done;
        if (t.kind != TK_ATOM) {
          r = unexpected(p, &t, "binary type specifier expected");
          goto done;
        }
        const char *n = t.v.v.str;
        if (!strcmp(n, "integer")) type = SEG_INT;
        else if (!strcmp(n, "float")) type = SEG_FLOAT;
        else if (!strcmp(n, "utf8")) type = SEG_UTF8;
        else if (!strcmp(n, "utf16")) type = SEG_UTF16;
        else if (!strcmp(n, "utf32")) type = SEG_UTF32;
        else if (!strcmp(n, "binary") || !strcmp(n, "bytes") || !strcmp(n, "bitstring") || !strcmp(n, "bits"))
          type = SEG_BINARY;
        else if (!strcmp(n, "little")) little = true;
        else if (!strcmp(n, "big")) little = false;
        else if (!strcmp(n, "signed") || !strcmp(n, "unsigned")) {
        } else if (!strcmp(n, "unit")) {
          if ((r = next(p, &t))) goto done;
          if (t.kind != TK_COLON) {
            r = unexpected(p, &t, "':' expected after unit");
            goto done;
          }
          if ((r = next(p, &t))) goto done;
          if (t.kind != TK_INT || t.v.type != EP_T_INT || t.v.v.i < 1 || t.v.v.i > 256) {
            r = unexpected(p, &t, "unit must be 1..256");
            goto done;
          }
          unit = (uint64_t)t.v.v.i;
        } else {
          r = fail(p, t.start, "unknown binary type specifier");
          goto done;
        }
        if ((r = next(p, &t))) goto done;
        if (t.kind != TK_MINUS) break;
      }
    }
    if (type == SEG_BINARY) {
      r = fail(p, seg_off, "binary/bitstring segments need a binary value; write the bytes");
      goto done;
    }
    if (type >= SEG_UTF8 && (has_size || unit)) {
      r = fail(p, seg_off, "utf8/utf16/utf32 segments take no size or unit");
      goto done;
    }
    if (size > TEXT_SEGMENT_BITS || (unit && size * unit > TEXT_SEGMENT_BITS)) {
      r = fail(p, seg_off, "binary segment too large");
      goto done;
    }
    uint64_t nbits;
    if (type == SEG_FLOAT) nbits = has_size ? size * (unit ? unit : 1) : 64;
    else nbits = has_size ? size * (unit ? unit : 1) : 8 * (unit ? unit : 1);
    if (vkind == TK_STRING) {
      if (type == SEG_FLOAT) {
        r = fail(p, seg_off, "a string segment cannot be a float");
        goto done;
      }
      if (type == SEG_INT) {
        r = bits_reserve(p, &b, nbits * p->ncps);
        for (size_t k = 0; k < p->ncps && !r; k++) {
          if (nbits == 8 && !little) bits_byte(&b, (uint8_t)p->cps[k]);
          else r = bits_int(p, &b, ep_int(p->cps[k]), nbits, little);
        }
      } else {
        for (size_t k = 0; k < p->ncps && !r; k++) r = bits_utf(p, &b, type, p->cps[k], little, seg_off);
      }
    } else if (v.type == EP_T_FLOAT) {
      if (type != SEG_FLOAT) {
        r = fail(p, seg_off, "a float segment needs /float");
        goto done;
      }
      r = bits_float(p, &b, v.v.f, nbits, little, seg_off);
    } else if (type == SEG_FLOAT) {
      double d = v.type == EP_T_INT ? (double)v.v.i : HUGE_VAL;
      if (!isfinite(d)) {
        r = fail(p, seg_off, "integer too large for a float segment");
        goto done;
      }
      r = bits_float(p, &b, d, nbits, little, seg_off);
    } else if (type == SEG_INT) {
      r = bits_int(p, &b, v, nbits, little);
    } else {
      int64_t cp = v.type == EP_T_INT ? v.v.i : -1;
      if (cp < 0 || cp > 0x10FFFF) {
        r = fail(p, seg_off, "not a Unicode code point");
        goto done;
      }
      r = bits_utf(p, &b, type, (uint32_t)cp, little, seg_off);
    }
    if (r) goto done;
    if (t.kind == TK_GTGT) break;
    if (t.kind != TK_COMMA) {
      r = unexpected(p, &t, NULL);
      goto done;
    }
    if ((r = next(p, &t))) goto done;
  }
build:
  if (b.nbits % 8) *out = ep_bitstr(p->a, b.d, (b.nbits + 7) / 8, (unsigned)(b.nbits % 8));
  else *out = ep_binary(p->a, b.d, b.nbits / 8);
  if (ep_is_none(*out)) r = nomem(p, p->pos);
  p->bin_bytes += (b.nbits + 7) / 8;
done:
  ep_free(p->mem, b.d);
  return r;
}

/* Reserved words are atoms in the M and F of fun M:F/A: erl's own ~p
 * prints `fun m:and/1` unquoted, and nothing else could be meant. */
static void reserved_as_atom(parser *p, token *t) {
  if (t->kind != TK_RESERVED && t->kind != TK_FUN) return;
  t->v = ep_atom_copy(p->a, (const char *)p->s + t->start, t->end - t->start);
  if (!ep_is_none(t->v)) t->kind = TK_ATOM;
}

/* After 'fun': M:F/A. */
static int parse_export(parser *p, ep_term *out) {
  token m, f, t;
  int r;
  if ((r = next(p, &m))) return r;
  reserved_as_atom(p, &m);
  if (m.kind != TK_ATOM) return unexpected(p, &m, "fun M:F/A: module atom expected");
  if ((r = next(p, &t))) return r;
  if (t.kind != TK_COLON) return unexpected(p, &t, "fun M:F/A: ':' expected (only external funs are literals)");
  if ((r = next(p, &f))) return r;
  reserved_as_atom(p, &f);
  if (f.kind != TK_ATOM) return unexpected(p, &f, "fun M:F/A: function atom expected");
  if ((r = next(p, &t))) return r;
  if (t.kind != TK_SLASH) return unexpected(p, &t, "fun M:F/A: '/' expected");
  if ((r = next(p, &t))) return r;
  if (t.kind != TK_INT || t.v.type != EP_T_INT || t.v.v.i > 255)
    return unexpected(p, &t, "fun M:F/A: arity 0..255 expected");
  *out = ep_export_fun(p->a, m.v, f.v, (uint32_t)t.v.v.i);
  return ep_is_none(*out) ? nomem(p, m.start) : 0;
}

/* ======================================================================== */
/* Parser: the automaton                                                     */
/* ======================================================================== */

enum { F_TUPLE, F_LIST, F_CONT, F_MAP };
enum { S_FIRST, S_NEXT, S_AFTER, S_TAIL, S_AFTER_TAIL, S_KEY, S_VAL };

typedef struct {
  uint8_t kind, state, has_tail;
  size_t start; /* first value of this frame on the value stack */
} frame;

typedef struct {
  ep_term *v;
  size_t nv, vcap;
  frame *f;
  size_t nf, fcap;
} pstack;

static int push_value(parser *p, pstack *st, ep_term t, size_t off) {
  if (ep_is_none(t)) return nomem(p, off);
  if (st->nv == st->vcap && grow(p->mem, (void **)&st->v, &st->vcap, st->nv + 1, sizeof(ep_term)))
    return nomem(p, off);
  st->v[st->nv++] = t;
  return 0;
}

/* A list term from vals (n of them, the last one the tail when has_tail). */
static ep_term build_list(parser *p, ep_term *vals, size_t n, bool has_tail) {
  if (!has_tail) return ep_list(p->a, n, vals);
  ep_term tail = vals[n - 1];
  size_t k = n - 1;
  ptrdiff_t tl = ep_list_len(tail);
  if (tl <= 0) return ep_list_improper(p->a, k, vals, tail); /* [] or not a list */
  /* A string tail: merge (the tail is itself flat). */
  ep_term *it;
  ep_term t = ep_list_new(p->a, k + (size_t)tl, &it);
  if (ep_is_none(t)) return t;
  memcpy(it, vals, k * sizeof(ep_term));
  for (ptrdiff_t j = 0; j < tl; j++) it[k + (size_t)j] = ep_list_at(tail, (size_t)j);
  it[k + (size_t)tl] = ep_list_tail(tail);
  return t;
}

/* A structural hash consistent with ep_term_eq: a STRING and a LIST of the
 * same integers hash alike, and a map hashes as the sum of its pairs'
 * hashes, so pair order does not matter. Iterative (a heap stack), linear in
 * the size of the key, and it looks at everything, so hostile keys cannot
 * make the duplicate search below quadratic by colliding. */
static int term_hash(parser *p, const ep_term *t0, uint64_t *out) {
  typedef struct {
    const ep_term *items;
    size_t n, i;
    bool is_map;
    uint64_t saved, sum; /* maps: the hash outside, the sum of pair hashes */
  } hframe;
  const uint64_t seed = 1469598103934665603ull;
  hframe local[16], *stack = local;
  size_t depth = 0, cap = 16;
  uint64_t h = seed;
#define MIX(x) (h = (h ^ (uint64_t)(x)) * 1099511628211ull)
  stack[depth++] = (hframe){t0, 1, 0, false, 0, 0};
  while (depth) {
    hframe *f = &stack[depth - 1];
    if (f->i == f->n) {
      if (f->is_map) {
        if (f->n) f->sum += h;
        h = f->saved;
        MIX(f->sum);
      }
      depth--;
      continue;
    }
    if (f->is_map && f->i % 2 == 0) {
      if (f->i) f->sum += h;
      h = seed;
    }
    const ep_term *t = &f->items[f->i++];
    MIX(t->type == EP_T_STRING ? EP_T_LIST : t->type);
    hframe child = {NULL, 0, 0, false, 0, 0};
    switch (t->type) {
      case EP_T_INT:
        MIX(t->v.i);
        break;
      case EP_T_FLOAT: {
        uint64_t u;
        memcpy(&u, &t->v.f, 8);
        MIX(u);
        break;
      }
      case EP_T_ATOM:
      case EP_T_BIG:
      case EP_T_BINARY:
      case EP_T_BITSTR:
        MIX(t->n), MIX(t->aux);
        for (uint32_t i = 0; i < t->n; i++) MIX(t->v.bytes[i]);
        break;
      case EP_T_STRING:
        for (uint32_t i = 0; i < t->n; i++) MIX(EP_T_INT), MIX((int64_t)t->v.bytes[i]);
        MIX(EP_T_NIL);
        break;
      case EP_T_LIST:
        child.items = t->v.items, child.n = (size_t)t->n + 1;
        break;
      case EP_T_TUPLE:
        MIX(t->n);
        child.items = t->v.items, child.n = t->n;
        break;
      case EP_T_MAP:
        MIX(t->n);
        child.items = t->v.items, child.n = 2 * (size_t)t->n;
        child.is_map = true, child.saved = h;
        break;
      case EP_T_EXPORT:
        MIX(t->v.exp->arity);
        break;
      case EP_T_PID:
        MIX(t->v.pid.id), MIX(t->v.pid.serial);
        break;
      default:
        break;
    }
    if (!child.n) continue;
    if (depth == cap) {
      hframe *ns = ep_malloc(p->mem, 2 * cap * sizeof *ns);
      if (!ns) {
        if (stack != local) ep_free(p->mem, stack);
        return EP_ENOMEM;
      }
      memcpy(ns, stack, depth * sizeof *ns);
      if (stack != local) ep_free(p->mem, stack);
      stack = ns, cap *= 2;
    }
    stack[depth++] = child;
  }
#undef MIX
  if (stack != local) ep_free(p->mem, stack);
  *out = h;
  return 0;
}

typedef struct {
  uint64_t hash;
  size_t idx;
} keyref;

static int keyref_cmp(const void *x, const void *y) {
  const keyref *a = x, *b = y;
  if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
  return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* A map from pairs; a repeated key keeps its last value, as in Erlang.
 * Duplicates are found by sorting key hashes: O(n log n), not O(n^2). */
static int build_map(parser *p, ep_term *kv, size_t npairs, ep_term *out, size_t off) {
  if (npairs > 1) {
    keyref *r = ep_malloc(p->mem, npairs * sizeof *r);
    bool *drop = ep_malloc(p->mem, npairs);
    int err = (!r || !drop) ? EP_ENOMEM : 0;
    for (size_t i = 0; i < npairs && !err; i++) {
      r[i].idx = i, drop[i] = false;
      err = term_hash(p, &kv[2 * i], &r[i].hash);
    }
    if (err) {
      ep_free(p->mem, r);
      ep_free(p->mem, drop);
      return nomem(p, off);
    }
    qsort(r, npairs, sizeof *r, keyref_cmp);
    bool any = false;
    for (size_t i = 0; i < npairs; i++)
      for (size_t j = i + 1; j < npairs && r[j].hash == r[i].hash; j++)
        if (ep_term_eq(kv[2 * r[i].idx], kv[2 * r[j].idx])) {
          drop[r[i].idx] = true; /* a later one with the same key exists */
          any = true;
          break;
        }
    if (any) {
      size_t k = 0;
      for (size_t i = 0; i < npairs; i++)
        if (!drop[i]) kv[2 * k] = kv[2 * i], kv[2 * k + 1] = kv[2 * i + 1], k++;
      npairs = k;
    }
    ep_free(p->mem, r);
    ep_free(p->mem, drop);
  }
  *out = ep_map(p->a, npairs, kv);
  return ep_is_none(*out) ? nomem(p, off) : 0;
}

static int parse_term(parser *p, ep_term *out, unsigned flags) {
  pstack st = {0};
  token t;
  int r = 0;
  bool want_value = true;
  for (;;) {
    if (want_value) {
      if ((r = next(p, &t))) goto done;
      frame *top = st.nf ? &st.f[st.nf - 1] : NULL;
      if (top && top->state == S_FIRST &&
          ((t.kind == TK_RBRACE && (top->kind == F_TUPLE || top->kind == F_MAP)) ||
           (t.kind == TK_RBRACKET && (top->kind == F_LIST || top->kind == F_CONT))))
        goto close;
      ep_term v;
      switch (t.kind) {
        case TK_ATOM:
        case TK_INT:
        case TK_FLOAT:
          v = t.v;
          break;
        case TK_STRING:
          v = ep_none();
          {
            /* bytes only and short: the compact form, as STRING_EXT */
            bool bytes = p->ncps <= 65535;
            for (size_t k = 0; k < p->ncps && bytes; k++) bytes = p->cps[k] < 256;
            if (p->ncps == 0) {
              v = ep_nil();
            } else if (bytes) {
              uint8_t *d = ep_arena_alloc(p->a, p->ncps);
              if (d) {
                for (size_t k = 0; k < p->ncps; k++) d[k] = (uint8_t)p->cps[k];
                v.type = EP_T_STRING;
                v.n = (uint32_t)p->ncps;
                v.v.bytes = d;
              }
            } else {
              ep_term *it;
              v = ep_list_new(p->a, p->ncps, &it);
              if (!ep_is_none(v))
                for (size_t k = 0; k < p->ncps; k++) it[k] = ep_int(p->cps[k]);
            }
          }
          break;
        case TK_MINUS:
        case TK_PLUS: {
          token n;
          if ((r = next(p, &n))) goto done;
          if (n.kind != TK_INT && n.kind != TK_FLOAT) {
            r = unexpected(p, &n, "a number expected after unary minus or plus");
            goto done;
          }
          v = n.v;
          if (t.kind == TK_MINUS) {
            if (v.type == EP_T_FLOAT) v.v.f = -v.v.f;
            else if (v.type == EP_T_INT) v.v.i = -v.v.i;
            else v = ep_big(p->a, true, v.v.bytes, v.n);
          }
          break;
        }
        case TK_LTLT:
          if ((r = parse_binary(p, &v))) goto done;
          break;
        case TK_FUN:
          if ((r = parse_export(p, &v))) goto done;
          break;
        case TK_LBRACE:
        case TK_LBRACKET:
        case TK_HASH: {
          if (t.kind == TK_HASH) {
            token b;
            if ((r = next(p, &b))) goto done;
            if (b.kind != TK_LBRACE) {
              static const char *const opaque[] = {"Ref<", "Port<", "Fun<"};
              for (int k = 0; k < 3; k++)
                if (p->len - b.start >= strlen(opaque[k]) && !memcmp(p->s + b.start, opaque[k], strlen(opaque[k]))) {
                  r = fail(p, t.start, "refs, ports and local funs have no literal syntax");
                  goto done;
                }
              r = unexpected(p, &b, "'{' expected after '#' (records are not terms)");
              goto done;
            }
          }
          if (st.nf >= EP_LIMIT_DEPTH) {
            p->err_off = t.start;
            p->err_msg = "terms nest deeper than the depth limit (100000)";
            r = EP_EDEPTH;
            goto done;
          }
          /* decided before the frame stack may move */
          uint8_t kind = t.kind == TK_LBRACE ? F_TUPLE : t.kind == TK_HASH ? F_MAP : (top && top->state == S_TAIL) ? F_CONT : F_LIST;
          if (st.nf == st.fcap && grow(p->mem, (void **)&st.f, &st.fcap, st.nf + 1, sizeof(frame))) {
            r = nomem(p, t.start);
            goto done;
          }
          st.f[st.nf++] = (frame){kind, S_FIRST, 0, st.nv};
          continue;
        }
        default:
          r = unexpected(p, &t, NULL);
          goto done;
      }
      if ((r = push_value(p, &st, v, t.start))) goto done;
    value_done:
      if (!st.nf) break;
      {
        frame *f = &st.f[st.nf - 1];
        switch (f->state) {
          case S_FIRST:
          case S_NEXT:
            f->state = f->kind == F_MAP ? S_KEY : S_AFTER;
            break;
          case S_VAL:
            f->state = S_AFTER;
            break;
          case S_TAIL:
            f->has_tail = 1;
            f->state = S_AFTER_TAIL;
            break;
          default:
            break;
        }
      }
      want_value = false;
      continue;
    }
    /* after a value: a separator or a closer */
    if ((r = next(p, &t))) goto done;
    {
      frame *f = &st.f[st.nf - 1];
      switch (f->kind) {
        case F_TUPLE:
          if (t.kind == TK_COMMA) f->state = S_NEXT, want_value = true;
          else if (t.kind == TK_RBRACE) goto close;
          else r = unexpected(p, &t, NULL);
          break;
        case F_LIST:
        case F_CONT:
          if (f->state == S_AFTER_TAIL) {
            if (t.kind == TK_RBRACKET) goto close;
            r = unexpected(p, &t, "']' expected after the tail of a list");
          } else if (t.kind == TK_COMMA) {
            f->state = S_NEXT, want_value = true;
          } else if (t.kind == TK_BAR) {
            f->state = S_TAIL, want_value = true;
          } else if (t.kind == TK_RBRACKET) {
            goto close;
          } else {
            r = unexpected(p, &t, NULL);
          }
          break;
        case F_MAP:
          if (f->state == S_KEY) {
            if (t.kind == TK_ARROW) f->state = S_VAL, want_value = true;
            else r = unexpected(p, &t, "'=>' expected after a map key");
          } else if (t.kind == TK_COMMA) {
            f->state = S_NEXT, want_value = true;
          } else if (t.kind == TK_RBRACE) {
            goto close;
          } else {
            r = unexpected(p, &t, NULL);
          }
          break;
      }
      if (r) goto done;
      continue;
    }
  close : {
    frame f = st.f[--st.nf];
    ep_term *vals = st.v ? st.v + f.start : NULL; /* "{}" first: nothing pushed yet */
    size_t n = st.nv - f.start;
    ep_term v;
    switch (f.kind) {
      case F_TUPLE:
        v = ep_tuple(p->a, n, vals);
        break;
      case F_LIST:
        v = build_list(p, vals, n, f.has_tail);
        break;
      case F_CONT: {
        /* the values stay where they are: they belong to the outer list */
        frame *parent = &st.f[st.nf - 1];
        parent->has_tail = f.has_tail;
        parent->state = S_AFTER_TAIL;
        want_value = false;
        continue;
      }
      default:
        if ((r = build_map(p, vals, n / 2, &v, t.start))) goto done;
        break;
    }
    st.nv = f.start;
    if ((r = push_value(p, &st, v, t.start))) goto done;
    goto value_done;
  }
  }
  /* the term is complete: an optional (or required) end dot */
  {
    size_t end = p->pos, j = skip_from(p, p->pos);
    if (j >= p->len) {
      if (p->more || (flags & EP_PARSE_DOT)) {
        r = need_more(p);
        goto done;
      }
      p->pos = end;
    } else if (p->s[j] == '.') {
      p->pos = j;
      if ((r = next(p, &t))) goto done;
    } else if (flags & EP_PARSE_DOT) {
      r = fail(p, j, "'.' expected after the term");
      goto done;
    } else {
      p->pos = end;
    }
  }
  *out = st.v[0];
done:
  ep_free(p->mem, st.v);
  ep_free(p->mem, st.f);
  return r;
}

static void locate(const uint8_t *s, size_t off, ep_text_error *err) {
  unsigned line = 1, col = 1;
  for (size_t i = 0; i < off; i++) {
    if (s[i] == '\n') line++, col = 1;
    else if ((s[i] & 0xC0) != 0x80) col++;
  }
  err->line = line;
  err->column = col;
  err->offset = off;
}

int ep_parse_ex(ep_arena *a, const char *text, size_t len, size_t *pos, ep_term *out, ep_text_error *err,
                unsigned flags) {
  if (!a || !text || !pos || !out || *pos > len) return EP_EINVAL;
  parser p = {0};
  p.a = a;
  p.mem = ep_arena_mem(a);
  p.s = (const uint8_t *)text;
  p.len = len;
  p.pos = *pos;
  p.more = (flags & EP_PARSE_MORE) != 0;
  /* The limit is per term: the parser sees at most EP_LIMIT_TEXT_SIZE bytes
   * from *pos. When that window cuts the text, it runs in MORE mode, so
   * reaching the cut is "need more" (never a term cut short), which then
   * means the term is too big. */
  if (len - *pos > EP_LIMIT_TEXT_SIZE) {
    p.len = *pos + EP_LIMIT_TEXT_SIZE;
    p.more = true;
  }
  int r = parse_term(&p, out, flags);
  if (r == EP_EINCOMPLETE && p.len < len) {
    p.err_off = *pos;
    p.err_msg = "term text larger than the size limit (64 MiB)";
    r = EP_ETOOBIG;
  }
  ep_free(p.mem, p.cps);
  ep_free(p.mem, p.scratch);
  if (r == 0) {
    *pos = p.pos;
    return 0;
  }
  if (err) {
    locate(p.s, p.err_off, err);
    err->message = p.err_msg ? p.err_msg : ep_strerror(r);
  }
  return r;
}

int ep_parse(ep_arena *a, const char *text, size_t len, size_t *pos, ep_term *out, ep_text_error *err) {
  return ep_parse_ex(a, text, len, pos, out, err, 0);
}

int ep_parse_str(ep_arena *a, const char *text, ep_term *out, ep_text_error *err) {
  if (!text) return EP_EINVAL;
  size_t len = strlen(text), pos = 0;
  int r = ep_parse_ex(a, text, len, &pos, out, err, 0);
  if (r) return r;
  if (ep_parse_more(text, len, &pos)) {
    if (err) {
      locate((const uint8_t *)text, pos, err);
      err->message = "unexpected text after the term";
    }
    return EP_ESYNTAX;
  }
  return 0;
}

int ep_parse_more(const char *text, size_t len, size_t *pos) {
  parser p = {0};
  p.s = (const uint8_t *)text;
  p.len = len;
  *pos = skip_from(&p, *pos);
  return *pos < len;
}

/* ======================================================================== */
/* Printer                                                                   */
/* ======================================================================== */

static int put(ep_buf *b, const char *s, size_t n) { return ep_buf_append(b, s, n); }
static int puts_(ep_buf *b, const char *s) { return ep_buf_append(b, s, strlen(s)); }

static int put_u64(ep_buf *b, uint64_t u) {
  char tmp[24];
  size_t i = sizeof tmp;
  do {
    tmp[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  return put(b, tmp + i, sizeof tmp - i);
}

static int put_i64(ep_buf *b, int64_t v) {
  if (v < 0) {
    ep_buf_put8(b, '-');
    return put_u64(b, (uint64_t)0 - (uint64_t)v);
  }
  return put_u64(b, (uint64_t)v);
}

/* The escape erl_scan reads back for control characters in strings and
 * atoms; 0 when the character needs none. */
static char escape_letter(uint32_t c) {
  switch (c) {
    case '\n': return 'n';
    case '\r': return 'r';
    case '\t': return 't';
    case '\v': return 'v';
    case '\b': return 'b';
    case '\f': return 'f';
    case 27: return 'e';
    default: return 0;
  }
}

/* One character inside quotes (quote is ' or "). Printable characters are
 * written as UTF-8; the rest as \n-style or \x{H} escapes. */
static void put_char_quoted(ep_buf *b, uint32_t c, char quote) {
  uint8_t u[16];
  size_t n;
  if (c == (uint32_t)quote || c == '\\') {
    u[0] = '\\', u[1] = (uint8_t)c, n = 2;
  } else if (escape_letter(c)) {
    u[0] = '\\', u[1] = (uint8_t)escape_letter(c), n = 2;
  } else if (c < 0x20 || (c >= 0x7F && c < 0xA0) || !is_unicode(c)) {
    n = (size_t)snprintf((char *)u, sizeof u, "\\x{%X}", (unsigned)c);
  } else {
    n = ep__utf8_encode(c, u);
  }
  ep_buf_append(b, u, n);
}

static bool atom_needs_quotes(const uint8_t *s, size_t n) {
  if (n == 0 || !is_lower(s[0])) return true;
  for (size_t i = 1; i < n; i++)
    if (!(is_lower(s[i]) || is_upper(s[i]) || is_digit(s[i]) || s[i] == '_' || s[i] == '@')) return true;
  return is_reserved(s, n, true);
}

static void put_atom(ep_buf *b, const char *str, size_t n) {
  const uint8_t *s = (const uint8_t *)str;
  if (!atom_needs_quotes(s, n)) {
    ep_buf_append(b, s, n);
    return;
  }
  ep_buf_put8(b, '\'');
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    int l = ep__utf8_decode(s + i, n - i, &cp);
    if (l <= 0) {
      /* not UTF-8 (no decoder makes such atoms): keep the byte visible */
      cp = s[i], l = 1;
      char tmp[12];
      int k = snprintf(tmp, sizeof tmp, "\\x{%X}", (unsigned)cp);
      ep_buf_append(b, tmp, (size_t)k);
      i++;
      continue;
    }
    if (cp < 0x80 && cp >= 0x20 && cp != '\'' && cp != '\\' && cp != 0x7F) ep_buf_put8(b, (uint8_t)cp);
    else put_char_quoted(b, cp, '\'');
    i += (size_t)l;
  }
  ep_buf_put8(b, '\'');
}

/* io_lib:printable_unicode_list's notion of a printable character. */
static bool printable_unicode(int64_t c) {
  if (c >= 0x20 && c <= 0x7E) return true;
  if ((c >= 0xA0 && c < 0xD800) || (c > 0xDFFF && c < 0xFFFE) || (c > 0xFFFF && c <= 0x10FFFF)) return true;
  return c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\b' || c == '\f' || c == 27;
}

/* One table for the two per-byte questions the string writers ask, so a
 * large binary costs one load per byte (in every build, -O0 too: a 64 MiB
 * reply is formatted on the loop, between ticks). */
enum { BYTE_LATIN1 = 1, BYTE_PLAIN = 2 };
#define R4(c) c, c, c, c
#define R16(c) R4(c), R4(c), R4(c), R4(c)
static const uint8_t byte_class[256] = {
    /* 0x00-0x07 */ 0, 0, 0, 0, 0, 0, 0, 0,
    /* \b \t \n \v \f \r */ BYTE_LATIN1, BYTE_LATIN1, BYTE_LATIN1, BYTE_LATIN1, BYTE_LATIN1, BYTE_LATIN1, 0, 0,
    /* 0x10-0x1A */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* ESC */ BYTE_LATIN1, 0, 0, 0, 0,
    /* ' ' and '!' */ BYTE_LATIN1 | BYTE_PLAIN, BYTE_LATIN1 | BYTE_PLAIN,
    /* '"' */ BYTE_LATIN1,
    /* 0x23-0x5B */ R16(BYTE_LATIN1 | BYTE_PLAIN), R16(BYTE_LATIN1 | BYTE_PLAIN), R16(BYTE_LATIN1 | BYTE_PLAIN),
    R4(BYTE_LATIN1 | BYTE_PLAIN), R4(BYTE_LATIN1 | BYTE_PLAIN), BYTE_LATIN1 | BYTE_PLAIN,
    /* '\\' */ BYTE_LATIN1,
    /* 0x5D-0x7E */ R16(BYTE_LATIN1 | BYTE_PLAIN), R16(BYTE_LATIN1 | BYTE_PLAIN), BYTE_LATIN1 | BYTE_PLAIN,
    BYTE_LATIN1 | BYTE_PLAIN,
    /* DEL, 0x80-0x9F */ 0, R16(0), R16(0),
    /* 0xA0-0xFF */ R16(BYTE_LATIN1), R16(BYTE_LATIN1), R16(BYTE_LATIN1), R16(BYTE_LATIN1), R16(BYTE_LATIN1),
    R16(BYTE_LATIN1)};
#undef R16
#undef R4

static bool printable_latin1(uint8_t c) { return byte_class[c] & BYTE_LATIN1; }

static bool list_printable(const ep_term *t) {
  if (t->type == EP_T_STRING) {
    for (uint32_t i = 0; i < t->n; i++)
      if (!printable_latin1(t->v.bytes[i])) return false;
    return true;
  }
  if (t->v.items[t->n].type != EP_T_NIL) return false;
  for (uint32_t i = 0; i < t->n; i++) {
    const ep_term *e = &t->v.items[i];
    if (e->type != EP_T_INT || !printable_unicode(e->v.i)) return false;
  }
  return true;
}

/* Bytes that need no escape inside "...": printable ASCII except " and \. */
static bool plain_ascii(uint8_t c) { return byte_class[c] & BYTE_PLAIN; }

static void put_string_bytes(ep_buf *b, const uint8_t *s, size_t n, bool utf8) {
  if (ep_buf_reserve(b, n + 2)) return;
  b->data[b->len++] = '"';
  for (size_t i = 0; i < n;) {
    /* runs of plain ASCII go out with one copy */
    size_t j = i;
    while (j < n && plain_ascii(s[j])) j++;
    if (j > i) {
      ep_buf_append(b, s + i, j - i);
      i = j;
      continue;
    }
    uint32_t cp;
    if (utf8) {
      int l = ep__utf8_decode(s + i, n - i, &cp);
      i += l > 0 ? (size_t)l : 1;
    } else {
      cp = s[i++];
    }
    put_char_quoted(b, cp, '"');
  }
  ep_buf_put8(b, '"');
}

static void put_list_string(ep_buf *b, const ep_term *t) {
  if (t->type == EP_T_STRING) {
    put_string_bytes(b, t->v.bytes, t->n, false);
    return;
  }
  ep_buf_put8(b, '"');
  for (uint32_t i = 0; i < t->n; i++) {
    uint32_t c = (uint32_t)t->v.items[i].v.i;
    if (c < 0x80 && plain_ascii((uint8_t)c)) ep_buf_put8(b, (uint8_t)c);
    else put_char_quoted(b, c, '"');
  }
  ep_buf_put8(b, '"');
}

/* "0," .. "255," for numeric binaries */
static void put_bytes_numeric(ep_buf *b, const uint8_t *s, size_t n, bool trailing_comma) {
  if (n > (SIZE_MAX - b->len) / 4 || ep_buf_reserve(b, n * 4)) return;
  uint8_t *o = b->data + b->len;
  for (size_t i = 0; i < n; i++) {
    unsigned v = s[i];
    if (v >= 100) *o++ = (uint8_t)('0' + v / 100);
    if (v >= 10) *o++ = (uint8_t)('0' + v / 10 % 10);
    *o++ = (uint8_t)('0' + v % 10);
    if (i + 1 < n || trailing_comma) *o++ = ',';
  }
  b->len = (size_t)(o - b->data);
}

static void put_binary(ep_buf *b, const ep_term *t, bool numeric) {
  const uint8_t *s = t->v.bytes;
  size_t n = t->n, full = n;
  unsigned bits = 0;
  if (t->type == EP_T_BITSTR && t->aux >= 1 && t->aux <= 7 && n > 0) bits = t->aux, full = n - 1;
  puts_(b, "<<");
  if (bits) {
    put_bytes_numeric(b, s, full, true);
    put_u64(b, (uint64_t)(s[full] >> (8 - bits)));
    ep_buf_put8(b, ':');
    put_u64(b, bits);
  } else if (n > 0 && numeric) {
    put_bytes_numeric(b, s, n, false);
  } else if (n > 0) {
    /* one pass, branch-free within each 4 KiB stretch: the AND of the
     * bytes' classes and the OR of their values */
    unsigned all = BYTE_LATIN1 | BYTE_PLAIN, any = 0;
    for (size_t i = 0; i < n && (all & BYTE_LATIN1);) {
      size_t end = n - i > 4096 ? i + 4096 : n;
      for (; i < end; i++) all &= byte_class[s[i]], any |= s[i];
    }
    bool latin1 = all & BYTE_LATIN1, ascii = latin1 && any < 0x80, utf8 = true;
    if (all & BYTE_PLAIN) {
      /* nothing to escape: the common case, one copy */
      if (ep_buf_reserve(b, n + 2) == 0) {
        b->data[b->len++] = '"';
        ep_buf_append(b, s, n);
        b->data[b->len++] = '"';
      }
    } else if (ascii) {
      put_string_bytes(b, s, n, false);
    } else {
      for (size_t i = 0; i < n && utf8;) {
        uint32_t cp;
        int l = ep__utf8_decode(s + i, n - i, &cp);
        if (l <= 0 || !printable_unicode(cp)) utf8 = false;
        else i += (size_t)l;
      }
      if (utf8) {
        put_string_bytes(b, s, n, true);
        puts_(b, "/utf8");
      } else if (latin1) {
        put_string_bytes(b, s, n, false);
      } else {
        put_bytes_numeric(b, s, n, false);
      }
    }
  }
  puts_(b, ">>");
}

static const char hexdig[] = "0123456789ABCDEF";

static void put_big(ep_buf *b, const ep_term *t) {
  const uint8_t *m = t->v.bytes;
  size_t n = t->n;
  while (n > 0 && m[n - 1] == 0) n--;
  if (t->aux) ep_buf_put8(b, '-');
  if (n == 0) {
    ep_buf_put8(b, '0');
    return;
  }
  if (n > TEXT_BIG_DECIMAL_MAX) {
    /* linear: 16#HEX, most significant first */
    puts_(b, "16#");
    if (ep_buf_reserve(b, 2 * n)) return;
    size_t i = n;
    if ((m[i - 1] >> 4) == 0) b->data[b->len++] = (uint8_t)hexdig[m[--i] & 15];
    while (i > 0) {
      uint8_t v = m[--i];
      b->data[b->len++] = (uint8_t)hexdig[v >> 4];
      b->data[b->len++] = (uint8_t)hexdig[v & 15];
    }
    return;
  }
  /* decimal: divide a copy of the 32-bit limbs by 10^9 until zero */
  size_t nl = (n + 3) / 4;
  uint32_t *limb = ep_malloc(b->mem, nl * sizeof(uint32_t));
  size_t ndig = (size_t)((double)n * 2.41) + 10; /* 8*log10(2) digits per byte */
  char *digits = ep_malloc(b->mem, ndig);
  if (!limb || !digits) {
    ep_free(b->mem, limb);
    ep_free(b->mem, digits);
    b->err = EP_ENOMEM;
    return;
  }
  memset(limb, 0, nl * sizeof(uint32_t));
  for (size_t i = 0; i < n; i++) limb[i / 4] |= (uint32_t)m[i] << (8 * (i % 4));
  size_t k = ndig, used = nl;
  while (used > 0) {
    uint64_t rem = 0;
    for (size_t j = used; j > 0; j--) {
      uint64_t cur = (rem << 32) | limb[j - 1];
      limb[j - 1] = (uint32_t)(cur / 1000000000u);
      rem = cur % 1000000000u;
    }
    while (used > 0 && limb[used - 1] == 0) used--;
    for (int d = 0; d < 9 && (used > 0 || rem > 0); d++) {
      digits[--k] = (char)('0' + rem % 10);
      rem /= 10;
    }
  }
  ep_buf_append(b, digits + k, ndig - k);
  ep_free(b->mem, limb);
  ep_free(b->mem, digits);
}

/* The shortest decimal that reads back as exactly d, in Erlang syntax: a
 * digit on both sides of the point, the exponent as e-N / eN; between the
 * fixed and the exponent form the shorter wins, a tie goes to fixed, and
 * from 2^53 on the exponent form is used: byte for byte what erl's
 * float_to_list(F, [short]) and ~w print (100.0, 1.0e15, 1.23e-4,
 * 6.126734894067219e17; checked on 200,000 random doubles). */
static int put_float(ep_buf *b, double d) {
  if (!isfinite(d)) return EP_EINVAL;
  char tmp[EP__SHORTEST_E_SIZE];
  if (d == 0) return puts_(b, signbit(d) ? "-0.0" : "0.0");
  ep__shortest_e_c(tmp, d); /* with '.', whatever the program's locale */
  /* tmp: [-]D[.DDD]e(+|-)XX */
  char digs[24];
  size_t nd = 0;
  const char *q = tmp;
  bool neg = *q == '-';
  if (neg) q++;
  for (; *q && *q != 'e'; q++)
    if (*q != '.') digs[nd++] = *q;
  int exp10 = atoi(q + 1);
  while (nd > 1 && digs[nd - 1] == '0') nd--;
  /* value = 0.DIGS * 10^(exp10+1); point after (exp10+1) digits */
  int point = exp10 + 1;
  char fixed[400], sci[48];
  size_t fl = 0, sl = 0;
  if (point <= 0) {
    fixed[fl++] = '0', fixed[fl++] = '.';
    for (int z = 0; z < -point; z++) fixed[fl++] = '0';
    memcpy(fixed + fl, digs, nd), fl += nd;
  } else if ((size_t)point >= nd) {
    memcpy(fixed + fl, digs, nd), fl += nd;
    for (size_t z = nd; z < (size_t)point; z++) fixed[fl++] = '0';
    fixed[fl++] = '.', fixed[fl++] = '0';
  } else {
    memcpy(fixed + fl, digs, (size_t)point), fl += (size_t)point;
    fixed[fl++] = '.';
    memcpy(fixed + fl, digs + point, nd - (size_t)point), fl += nd - (size_t)point;
  }
  sci[sl++] = digs[0];
  sci[sl++] = '.';
  if (nd > 1) memcpy(sci + sl, digs + 1, nd - 1), sl += nd - 1;
  else sci[sl++] = '0';
  sl += (size_t)snprintf(sci + sl, sizeof sci - sl, "e%d", exp10);
  if (neg) ep_buf_put8(b, '-');
  /* erl: from 2^53 on always the exponent form (fixed digits there would
   * suggest a precision the double does not have) */
  bool use_fixed = fl <= sl && fabs(d) < 9007199254740992.0;
  return use_fixed ? put(b, fixed, fl) : put(b, sci, sl);
}

static void put_node(ep_buf *b, const char *node, uint32_t len) { ep_buf_append(b, node, len); }

/* A term with nothing inside to walk. Returns 0 or EP_EINVAL. */
static int put_scalar(ep_buf *b, const ep_term *t, unsigned flags) {
  switch (t->type) {
    case EP_T_INT:
      return put_i64(b, t->v.i);
    case EP_T_BIG:
      put_big(b, t);
      return 0;
    case EP_T_FLOAT:
      return put_float(b, t->v.f) == EP_EINVAL ? EP_EINVAL : 0;
    case EP_T_ATOM:
      put_atom(b, t->v.str, t->n);
      return 0;
    case EP_T_NIL:
      return puts_(b, "[]");
    case EP_T_BINARY:
    case EP_T_BITSTR:
      put_binary(b, t, (flags & EP_PRINT_NO_STRINGS) != 0);
      return 0;
    case EP_T_PID:
      ep_buf_put8(b, '<');
      put_node(b, t->v.pid.node, t->v.pid.node_len);
      ep_buf_put8(b, '.');
      put_u64(b, t->v.pid.id);
      ep_buf_put8(b, '.');
      put_u64(b, t->v.pid.serial);
      return ep_buf_put8(b, '>');
    case EP_T_PORT:
      puts_(b, "#Port<");
      put_node(b, t->v.port.node, t->v.port.node_len);
      ep_buf_put8(b, '.');
      put_u64(b, t->v.port.id);
      return ep_buf_put8(b, '>');
    case EP_T_REF:
      puts_(b, "#Ref<");
      put_node(b, t->v.ref.node, t->v.ref.node_len);
      for (uint32_t i = t->n; i > 0; i--) {
        ep_buf_put8(b, '.');
        put_u64(b, t->v.ref.ids[i - 1]);
      }
      return ep_buf_put8(b, '>');
    case EP_T_FUN: {
      const ep_fun *f = t->v.fun;
      puts_(b, "#Fun<");
      if (f->module.type == EP_T_ATOM) ep_buf_append(b, f->module.v.str, f->module.n);
      ep_buf_put8(b, '.');
      put_u64(b, f->index);
      ep_buf_put8(b, '.');
      if (f->old_uniq.type == EP_T_INT) put_i64(b, f->old_uniq.v.i);
      else if (f->old_uniq.type == EP_T_BIG) put_big(b, &f->old_uniq);
      return ep_buf_put8(b, '>');
    }
    case EP_T_EXPORT: {
      const ep_export *e = t->v.exp;
      if (e->module.type != EP_T_ATOM || e->function.type != EP_T_ATOM) return EP_EINVAL;
      puts_(b, "fun ");
      put_atom(b, e->module.v.str, e->module.n);
      ep_buf_put8(b, ':');
      put_atom(b, e->function.v.str, e->function.n);
      ep_buf_put8(b, '/');
      return put_u64(b, e->arity);
    }
    default:
      return EP_EINVAL;
  }
}

typedef struct {
  const ep_term *t;
  size_t i; /* children printed */
} pframe;

int ep_print(ep_buf *out, ep_term root) { return ep_print_ex(out, root, 0); }

int ep_print_ex(ep_buf *out, ep_term root, unsigned flags) {
  if (!out) return EP_EINVAL;
  bool strings = !(flags & EP_PRINT_NO_STRINGS);
  pframe local[32], *stack = local;
  size_t depth = 0, cap = 32;
  int r = 0;
  const ep_term *next_t = &root;
  for (;;) {
    if (next_t) {
      const ep_term *t = next_t;
      next_t = NULL;
      bool open = false;
      switch (t->type) {
        case EP_T_TUPLE:
          ep_buf_put8(out, '{');
          open = true;
          break;
        case EP_T_MAP:
          puts_(out, "#{");
          open = true;
          break;
        case EP_T_LIST:
          if (strings && list_printable(t)) put_list_string(out, t);
          else ep_buf_put8(out, '['), open = true;
          break;
        case EP_T_STRING:
          if (strings && list_printable(t)) {
            put_list_string(out, t);
          } else {
            ep_buf_put8(out, '[');
            put_bytes_numeric(out, t->v.bytes, t->n, false);
            ep_buf_put8(out, ']');
          }
          break;
        default:
          if ((r = put_scalar(out, t, flags))) goto done;
          break;
      }
      if (open) {
        if (depth == cap) {
          pframe *ns = ep_malloc(out->mem, 2 * cap * sizeof *ns);
          if (!ns) {
            r = EP_ENOMEM;
            goto done;
          }
          memcpy(ns, stack, depth * sizeof *ns);
          if (stack != local) ep_free(out->mem, stack);
          stack = ns, cap *= 2;
        }
        stack[depth++] = (pframe){t, 0};
      }
    }
    if (out->err) {
      r = out->err;
      goto done;
    }
    if (!depth) break;
    pframe *f = &stack[depth - 1];
    const ep_term *t = f->t;
    switch (t->type) {
      case EP_T_TUPLE:
        if (f->i == t->n) {
          ep_buf_put8(out, '}');
          depth--;
        } else {
          if (f->i) ep_buf_put8(out, ',');
          next_t = &t->v.items[f->i++];
        }
        break;
      case EP_T_MAP:
        if (f->i == 2 * (size_t)t->n) {
          ep_buf_put8(out, '}');
          depth--;
        } else {
          if (f->i) f->i % 2 ? puts_(out, " => ") : ep_buf_put8(out, ',');
          next_t = &t->v.items[f->i++];
        }
        break;
      default: /* EP_T_LIST */
        if (f->i < t->n) {
          if (f->i) ep_buf_put8(out, ',');
          next_t = &t->v.items[f->i++];
        } else if (f->i == t->n && t->v.items[t->n].type != EP_T_NIL) {
          ep_buf_put8(out, '|');
          next_t = &t->v.items[f->i++];
        } else {
          ep_buf_put8(out, ']');
          depth--;
        }
        break;
    }
  }
  r = out->err;
done:
  if (stack != local) ep_free(out->mem, stack);
  return r;
}

const char *ep_print_str(ep_arena *a, ep_term t) {
  ep_buf b;
  ep_buf_init(&b, ep_arena_mem(a));
  const char *s = NULL;
  if (ep_print(&b, t) == 0) s = ep_arena_dup(a, b.data ? (const char *)b.data : "", b.len);
  ep_buf_free(&b);
  return s;
}
