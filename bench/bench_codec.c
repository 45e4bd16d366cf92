/* bench_codec: term codec throughput, side by side in one run.
 *
 *   ours  - ep_encode into a reused ep_buf; ep_decode into an arena
 *           (ep_arena_reset between iterations) plus a walk that visits
 *           every value of the decoded term.
 *   ei    - erl_interface: ei_x_encode_* into a reused ei_x_buff; decode =
 *           walking the whole term with ei_decode_* into values (atoms into
 *           a char buffer, binaries into a scratch buffer).
 *   BEAM  - term_to_binary(T, [{minor_version, 2}]) / binary_to_term(B) on
 *           the same terms, in a compiled module run by `erl -noshell`
 *           started from here (its output is parsed).
 *   memcpy of the same bytes, for the 1 MiB binary.
 *
 * Workloads: (a) a 1000-element list of {atom, integer, float, 32-byte
 * binary}; (b) a 1000-key map of binaries to integers; (c) a 1 MiB binary;
 * (d) lists nested 1000 deep. Each figure is the median of 5 runs of at
 * least 0.2 CPU-seconds each (the codecs take turns run by run); rates are
 * per CPU-second. MB/s counts the encoded bytes of each codec's own
 * encoding (10^6 bytes); terms/s counts whole terms.
 *
 * Usage: bench_codec [runs]   (default 5)
 *
 * A codec that fails on these terms, or a BEAM side that prints no figures,
 * ends the bench: the reason on stderr, exit status 2.
 */
#include <ei.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ep_bench.h"
#include "ep_error.h"
#include "ep_etf.h"

#define RUN_SECONDS 0.2
#define NW 4

static int runs = 5;
static volatile uint64_t sink;

/* Iterations per CPU-second (this process's, not wall time: the machine
 * is shared, and a run that is descheduled half the time would otherwise
 * count as half as fast; the BEAM side uses statistics(runtime) with a
 * single scheduler) of one run of at least RUN_SECONDS. */
static double run_once(void (*fn)(void *), void *ctx) {
  long n = 0;
  double t0 = epb_cpu_s(), el;
  do {
    fn(ctx);
    n++;
    el = epb_cpu_s() - t0;
  } while (el < RUN_SECONDS);
  return (double)n / el;
}

typedef struct {
  void (*fn)(void *);
  void *ctx;
  double *out;
} job;

/* The machine is shared: the jobs of one workload take turns run by run,
 * so each sees the same background load, and each gets the median of its
 * runs. */
static void measure_all(job *jobs, int njobs) {
  double rates[8][64];
  for (int r = 0; r < runs; r++)
    for (int j = 0; j < njobs; j++) rates[j][r] = run_once(jobs[j].fn, jobs[j].ctx);
  for (int j = 0; j < njobs; j++) *jobs[j].out = epb_median(rates[j], runs);
}

/* --- the workloads -------------------------------------------------------------- */

static const char *atoms[10] = {"key0", "key1", "key2", "key3", "key4", "key5", "key6", "key7", "key8", "key9"};
#define BIN_MB (1u << 20)
static uint8_t *mib;

static void item_bin(int i, uint8_t out[32]) {
  for (int k = 0; k < 32; k++) out[k] = (uint8_t)((i + k) & 255);
}

static ep_term build(ep_arena *a, int w) {
  switch (w) {
    case 0: {
      ep_term *it;
      ep_term l = ep_list_new(a, 1000, &it);
      for (int i = 0; i < 1000; i++) {
        uint8_t b[32];
        item_bin(i, b);
        it[i] = EP_TUPLE(a, ep_atom(atoms[i % 10]), ep_int((int64_t)i * 1000003), ep_float(i * 0.5 + 0.25),
                         ep_binary(a, b, 32));
      }
      return l;
    }
    case 1: {
      ep_term *kv;
      ep_term m = ep_map_new(a, 1000, &kv);
      for (int i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof k, "key-%04d", i);
        kv[2 * i] = ep_binary(a, k, 8);
        kv[2 * i + 1] = ep_int(i);
      }
      return m;
    }
    case 2:
      return ep_binary(a, mib, BIN_MB);
    default: {
      ep_term t = ep_nil();
      for (int i = 0; i < 1000; i++) t = EP_LIST(a, t);
      return t;
    }
  }
}

static void ei_build(ei_x_buff *x, int w) {
  x->index = 0;
  ei_x_encode_version(x);
  switch (w) {
    case 0:
      ei_x_encode_list_header(x, 1000);
      for (int i = 0; i < 1000; i++) {
        uint8_t b[32];
        item_bin(i, b);
        ei_x_encode_tuple_header(x, 4);
        ei_x_encode_atom(x, atoms[i % 10]);
        ei_x_encode_long(x, (long)i * 1000003);
        ei_x_encode_double(x, i * 0.5 + 0.25);
        ei_x_encode_binary(x, b, 32);
      }
      ei_x_encode_empty_list(x);
      break;
    case 1:
      ei_x_encode_map_header(x, 1000);
      for (int i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof k, "key-%04d", i);
        ei_x_encode_binary(x, k, 8);
        ei_x_encode_long(x, i);
      }
      break;
    case 2:
      ei_x_encode_binary(x, mib, BIN_MB);
      break;
    default:
      for (int i = 0; i < 1000; i++) ei_x_encode_list_header(x, 1);
      ei_x_encode_empty_list(x);
      for (int i = 0; i < 1000; i++) ei_x_encode_empty_list(x);
      break;
  }
}

/* --- ours ------------------------------------------------------------------------ */

typedef struct {
  ep_term term;
  ep_buf buf;       /* encode target */
  uint8_t *enc;     /* our encoding, for decode */
  size_t enc_len;
  ep_arena *arena;  /* decode target */
  ep_term *stack;   /* visit stack */
  size_t stack_cap;
} ours_ctx;

static void ours_encode(void *p) {
  ours_ctx *c = p;
  c->buf.len = 0;
  int st = ep_encode(&c->buf, c->term);
  if (st) epb_fail("ep_encode: %s", ep_strerror(st));
  sink += c->buf.len;
}

/* Visits every value (integers, floats, atom and binary lengths and first
 * bytes) through an explicit stack of (array, count) frames. */
typedef struct {
  const ep_term *items;
  size_t left;
} vframe;

static uint64_t visit(ours_ctx *c, const ep_term *root) {
  uint64_t acc = 0;
  size_t sp = 0;
  vframe *st = (vframe *)c->stack;
  size_t cap = c->stack_cap * sizeof(ep_term) / sizeof(vframe);
  st[sp++] = (vframe){root, 1};
  while (sp) {
    vframe *f = &st[sp - 1];
    if (!f->left) {
      sp--;
      continue;
    }
    const ep_term *x = f->items++;
    f->left--;
  again:
    switch (x->type) {
      case EP_T_INT:
        acc += (uint64_t)x->v.i;
        break;
      case EP_T_FLOAT:
        acc += (uint64_t)(int64_t)x->v.f;
        break;
      case EP_T_ATOM:
        acc += x->n + (uint8_t)x->v.str[0];
        break;
      case EP_T_BINARY:
        acc += x->n + (x->n ? x->v.bytes[0] : 0);
        break;
      case EP_T_NIL:
        acc++;
        break;
      case EP_T_TUPLE:
      case EP_T_LIST:
      case EP_T_MAP: {
        size_t n = x->type == EP_T_TUPLE ? x->n : x->type == EP_T_LIST ? (size_t)x->n + 1 : 2 * (size_t)x->n;
        /* a proper list's NIL tail is visited here, without a stack trip */
        if (x->type == EP_T_LIST && x->v.items[x->n].type == EP_T_NIL) acc++, n--;
        if (n == 1) { /* a single child is visited in place */
          x = x->v.items;
          goto again;
        }
        if (sp == cap) {
          c->stack_cap *= 2;
          c->stack = realloc(c->stack, c->stack_cap * sizeof *c->stack);
          if (!c->stack) epb_fail("out of memory");
          st = (vframe *)c->stack;
          cap = c->stack_cap * sizeof(ep_term) / sizeof(vframe);
        }
        st[sp++] = (vframe){x->v.items, n};
        break;
      }
      default:
        acc += x->type;
        break;
    }
  }
  return acc;
}

static void ours_decode(void *p) {
  ours_ctx *c = p;
  ep_arena_reset(c->arena);
  ep_term t;
  size_t pos = 0;
  int st = ep_decode(c->arena, c->enc, c->enc_len, &pos, &t, NULL);
  if (st) epb_fail("ep_decode: %s", ep_strerror(st));
  sink += visit(c, &t);
}

/* --- ei -------------------------------------------------------------------------- */

typedef struct {
  int w;
  ei_x_buff x;
  char *enc;
  int enc_len;
  uint8_t *scratch;
} ei_ctx;

static void ei_encode(void *p) {
  ei_ctx *c = p;
  ei_build(&c->x, c->w);
  sink += (uint64_t)c->x.index;
}

/* ETF is prefix order: "terms still to visit" is one counter. */
static void ei_decode(void *p) {
  ei_ctx *c = p;
  const char *b = c->enc;
  int idx = 0, ver, type, size;
  uint64_t acc = 0;
  if (ei_decode_version(b, &idx, &ver)) epb_fail("ei_decode_version failed");
  long todo = 1;
  char atom[MAXATOMLEN_UTF8];
  while (todo--) {
    if (ei_get_type(b, &idx, &type, &size)) epb_fail("ei failed to decode its own encoding at byte %d", idx);
    switch (type) {
      case ERL_SMALL_INTEGER_EXT:
      case ERL_INTEGER_EXT:
      case ERL_SMALL_BIG_EXT: {
        long v;
        if (ei_decode_long(b, &idx, &v)) epb_fail("ei failed to decode its own encoding at byte %d", idx);
        acc += (uint64_t)v;
        break;
      }
      case NEW_FLOAT_EXT:
      case ERL_FLOAT_EXT: {
        double d;
        if (ei_decode_double(b, &idx, &d)) epb_fail("ei failed to decode its own encoding at byte %d", idx);
        acc += (uint64_t)(int64_t)d;
        break;
      }
      case ERL_ATOM_EXT:
      case ERL_SMALL_ATOM_EXT:
      case ERL_ATOM_UTF8_EXT:
      case ERL_SMALL_ATOM_UTF8_EXT:
        if (ei_decode_atom(b, &idx, atom)) epb_fail("ei failed to decode its own encoding at byte %d", idx);
        acc += (uint64_t)size + (uint8_t)atom[0];
        break;
      case ERL_BINARY_EXT: {
        long n;
        if (ei_decode_binary(b, &idx, c->scratch, &n)) epb_fail("ei failed to decode its own encoding at byte %d", idx);
        acc += (uint64_t)n + (n ? c->scratch[0] : 0);
        break;
      }
      case ERL_SMALL_TUPLE_EXT:
      case ERL_LARGE_TUPLE_EXT: {
        int ar;
        if (ei_decode_tuple_header(b, &idx, &ar)) epb_fail("ei failed to decode its own encoding at byte %d", idx);
        todo += ar;
        break;
      }
      case ERL_LIST_EXT:
      case ERL_NIL_EXT: {
        int ar;
        if (ei_decode_list_header(b, &idx, &ar)) epb_fail("ei failed to decode its own encoding at byte %d", idx);
        if (ar) todo += ar + 1;
        else acc++;
        break;
      }
      case ERL_MAP_EXT: {
        int ar;
        if (ei_decode_map_header(b, &idx, &ar)) epb_fail("ei failed to decode its own encoding at byte %d", idx);
        todo += 2L * ar;
        break;
      }
      default:
        if (ei_skip_term(b, &idx)) epb_fail("ei failed to decode its own encoding at byte %d", idx);
        break;
    }
  }
  sink += acc;
}

/* --- memcpy ------------------------------------------------------------------------ */

static uint8_t *copy_dst;
static void do_memcpy(void *p) {
  memcpy(copy_dst, p, BIN_MB);
  sink += copy_dst[BIN_MB - 1];
}

/* --- the BEAM ------------------------------------------------------------------------ */

static const char *beam_src =
    "-module(bench_codec_beam).\n"
    "-export([run/1]).\n"
    "term(0) -> [{list_to_atom(\"key\" ++ integer_to_list(I rem 10)), I * 1000003, I * 0.5 + 0.25,\n"
    "             list_to_binary([(I + K) band 255 || K <- lists:seq(0, 31)])} || I <- lists:seq(0, 999)];\n"
    "term(1) -> maps:from_list([{iolist_to_binary(io_lib:format(\"key-~4..0B\", [I])), I} || I <- lists:seq(0, "
    "999)]);\n"
    "term(2) -> list_to_binary([I band 255 || I <- lists:seq(0, 1048575)]);\n"
    "term(3) -> lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, 1000)).\n"
    "cpu_ms() -> {T, _} = statistics(runtime), T.\n"
    "rate(F) -> T0 = cpu_ms(), loop(F, T0, 0).\n"
    "loop(F, T0, N) -> F(), E = cpu_ms() - T0,\n"
    "  if E >= 200 -> (N + 1) * 1.0e3 / E; true -> loop(F, T0, N + 1) end.\n"
    "median(F, Runs) -> lists:nth(Runs div 2 + 1, lists:sort([rate(F) || _ <- lists:seq(1, Runs)])).\n"
    "run(Runs) -> [begin T = term(W), B = term_to_binary(T, [{minor_version, 2}]),\n"
    "  E = median(fun() -> term_to_binary(T, [{minor_version, 2}]) end, Runs),\n"
    "  D = median(fun() -> binary_to_term(B) end, Runs),\n"
    "  io:format(\"beam ~w ~w ~.3f ~.3f~n\", [W, byte_size(B), E, D]) end || W <- [0, 1, 2, 3]], ok.\n";

struct beam_figs {
  double *enc, *dec;
  size_t *size;
};

/* "beam W SIZE ENC DEC", one line per workload. */
static bool beam_line(const char *line, void *ud) {
  struct beam_figs *r = ud;
  int w;
  size_t sz;
  double e, d;
  if (sscanf(line, "beam %d %zu %lf %lf", &w, &sz, &e, &d) != 4 || w < 0 || w >= NW) return false;
  r->enc[w] = e, r->dec[w] = d, r->size[w] = sz;
  return true;
}

/* Fills enc/dec (iterations per second) and size per workload; fails the
 * bench unless erl gives all of them and exits 0. */
static void run_beam(double enc[NW], double dec[NW], size_t size[NW]) {
  char dir[] = "/tmp/ep_bench_codecXXXXXX";
  if (!mkdtemp(dir)) epb_fail("BEAM: mkdtemp: %s", strerror(errno));
  char path[256], cmd[1024];
  snprintf(path, sizeof path, "%s/bench_codec_beam.erl", dir);
  FILE *f = fopen(path, "w");
  if (!f || fputs(beam_src, f) < 0 || fclose(f) != 0) epb_fail("BEAM: cannot write %s", path);
  snprintf(cmd, sizeof cmd,
           "cd %s && erl +S 1 +A 1 -noshell -noinput -eval '{ok, _} = compile:file(\"bench_codec_beam.erl\"), "
           "code:add_patha(\".\"), bench_codec_beam:run(%d), halt().' 2>&1",
           dir, runs);
  struct beam_figs r = {enc, dec, size};
  char why[320];
  int st = epb_run_lines(cmd, beam_line, &r, NW, why, sizeof why);
  unlink(path);
  snprintf(path, sizeof path, "%s/bench_codec_beam.beam", dir);
  unlink(path);
  rmdir(dir);
  if (st) epb_fail("BEAM: %s", why);
}

/* --- main --------------------------------------------------------------------------- */

static const char *names[NW] = {"(a) list of 1000 {atom,int,float,bin32}", "(b) map of 1000 binary=>int",
                                "(c) 1 MiB binary", "(d) list nested 1000 deep"};

static void row(const char *codec, size_t bytes, double rate) {
  printf("  %-8s %10zu B %10.1f MB/s %12.0f terms/s\n", codec, bytes, rate * (double)bytes / 1e6, rate);
}

int main(int argc, char **argv) {
  if (argc > 1) runs = atoi(argv[1]);
  if (runs < 1 || runs > 63) runs = 5;
  epb_init("bench_codec");
  printf("bench_codec: term codec throughput per CPU-second, median of %d runs of >= %.1f CPU-s each\n", runs,
         RUN_SECONDS);
  epb_header();
  if (ei_init() != 0) epb_fail("ei_init failed");
  mib = malloc(BIN_MB);
  copy_dst = malloc(BIN_MB);
  for (size_t i = 0; i < BIN_MB; i++) mib[i] = (uint8_t)i;

  double beam_enc[NW] = {0}, beam_dec[NW] = {0};
  size_t beam_size[NW] = {0};
  run_beam(beam_enc, beam_dec, beam_size);

  double r_oe[NW], r_od[NW], r_ee[NW], r_ed[NW], r_mc = 0;
  size_t s_o[NW], s_e[NW];
  for (int w = 0; w < NW; w++) {
    ours_ctx oc = {0};
    ep_arena *build_arena = ep_arena_new(NULL);
    oc.term = build(build_arena, w);
    ep_buf_init(&oc.buf, NULL);
    int st = ep_encode(&oc.buf, oc.term);
    if (st) epb_fail("ep_encode: %s", ep_strerror(st));
    oc.enc = malloc(oc.buf.len);
    memcpy(oc.enc, oc.buf.data, oc.buf.len);
    oc.enc_len = oc.buf.len;
    oc.arena = ep_arena_new(NULL);
    oc.stack_cap = 4096;
    oc.stack = malloc(oc.stack_cap * sizeof *oc.stack);

    ei_ctx ec = {0};
    ec.w = w;
    ei_x_new(&ec.x);
    ei_build(&ec.x, w);
    ec.enc = malloc((size_t)ec.x.index);
    memcpy(ec.enc, ec.x.buff, (size_t)ec.x.index);
    ec.enc_len = ec.x.index;
    ec.scratch = malloc(BIN_MB);

    s_o[w] = oc.enc_len;
    s_e[w] = (size_t)ec.enc_len;
    job jobs[] = {{ours_encode, &oc, &r_oe[w]},
                  {ei_encode, &ec, &r_ee[w]},
                  {ours_decode, &oc, &r_od[w]},
                  {ei_decode, &ec, &r_ed[w]},
                  {do_memcpy, mib, &r_mc}};
    measure_all(jobs, w == 2 ? 5 : 4);

    ei_x_free(&ec.x);
    free(ec.enc);
    free(ec.scratch);
    ep_buf_free(&oc.buf);
    free(oc.enc);
    free(oc.stack);
    ep_arena_free(oc.arena);
    ep_arena_free(build_arena);
  }

  for (int w = 0; w < NW; w++) {
    printf("%s\n encode:\n", names[w]);
    row("ours", s_o[w], r_oe[w]);
    row("ei", s_e[w], r_ee[w]);
    row("BEAM", beam_size[w], beam_enc[w]);
    if (w == 2) row("memcpy", BIN_MB, r_mc);
    printf(" decode:\n");
    row("ours", s_o[w], r_od[w]);
    row("ei", s_e[w], r_ed[w]);
    row("BEAM", beam_size[w], beam_dec[w]);
    if (w == 2) row("memcpy", BIN_MB, r_mc);
  }
  printf("targets:\n");
  for (int w = 0; w < 2; w++)
    printf("  %s: encode >= ei %s (%.2fx), decode >= ei %s (%.2fx)\n", names[w], r_oe[w] >= r_ee[w] ? "MET" : "MISSED",
           r_oe[w] / r_ee[w], r_od[w] >= r_ed[w] ? "MET" : "MISSED", r_od[w] / r_ed[w]);
  printf("  %s: encode within 20%% of memcpy %s (%.2fx), decode %s (%.2fx)\n", names[2],
         r_oe[2] >= 0.8 * r_mc ? "MET" : "MISSED", r_oe[2] / r_mc, r_od[2] >= 0.8 * r_mc ? "MET" : "MISSED",
         r_od[2] / r_mc);
  printf("  %s: encode >= BEAM %s (%.2fx), decode >= BEAM %s (%.2fx)\n", names[3],
           r_oe[3] >= beam_enc[3] ? "MET" : "MISSED", r_oe[3] / beam_enc[3], r_od[3] >= beam_dec[3] ? "MET" : "MISSED",
           r_od[3] / beam_dec[3]);
  free(mib);
  free(copy_dst);
  return 0;
}
