/* agent_metrics.c - what a scrape asks of a node, and how the answers are
 * exposed.
 *
 * Every item of a scrape is a BIF of the module erlang, which every node
 * has loaded: nothing is loaded on the target, no atom is made there (each
 * argument is an atom erts already holds), and the worker rex spawns for
 * the request is gone once it answers. Where two calls give the same
 * figure the cheaper is asked (docs/agent.md has the table with the cost
 * of each):
 *  - statistics(run_queue_lengths_all), one read per run queue without
 *    locking them, gives the normal queues and both dirty queues at once
 *    (prometheus.erl asks statistics(run_queue), which locks every queue
 *    for a consistent sum, and run_queue_lengths_all besides);
 *  - system_info(ets_count), a counter, instead of length(ets:all()),
 *    which builds a list of every table;
 *  - the figures that cannot change while a node runs (limits, scheduler
 *    and thread counts, word size, OTP release) are asked once per
 *    connection, with its first scrape.
 *
 * Names, types and labels are prometheus.erl's VM collectors' (6.x, the
 * promtool-clean names; --names classic gives the pre-6.0 ones), every
 * series with node="name@host". */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "ep_error.h"
#include "ep_term.h"

/* --- the request ------------------------------------------------------------------ */

typedef enum {
  P_INT,    /* an integer: metric */
  P_BOOL,   /* true/false: metric 1/0 */
  P_FIRST,  /* {N, _}: metric N */
  P_MEMORY, /* erlang:memory() */
  P_RUNQ,   /* run_queue_lengths_all */
  P_IO,     /* {{input, I}, {output, O}} */
  P_GC,     /* {GCs, Words, 0} */
  P_OTP,    /* "25" */
  P_PEERS   /* [Node, ...] */
} item_parse;

typedef struct {
  const char *fun; /* erlang:fun(arg) (arg NULL: no argument) */
  const char *arg;
  item_parse parse;
  agent_metric m;
} item_def;

static const item_def dynamic_items[] = {
    {"memory", NULL, P_MEMORY, AM_MEM_SYSTEM},
    {"system_info", "process_count", P_INT, AM_PROCESSES},
    {"system_info", "port_count", P_INT, AM_PORTS},
    {"system_info", "atom_count", P_INT, AM_ATOMS},
    {"system_info", "ets_count", P_INT, AM_ETS_TABLES},
    {"statistics", "run_queue_lengths_all", P_RUNQ, AM_RUN_QUEUES},
    {"statistics", "io", P_IO, AM_BYTES_IN},
    {"statistics", "context_switches", P_FIRST, AM_CONTEXT_SWITCHES},
    {"statistics", "garbage_collection", P_GC, AM_GCS},
    {"statistics", "reductions", P_FIRST, AM_REDUCTIONS},
    {"statistics", "runtime", P_FIRST, AM_RUNTIME_MS},
    {"statistics", "wall_clock", P_FIRST, AM_WALLCLOCK_MS},
    {"system_info", "schedulers_online", P_INT, AM_SCHEDULERS_ONLINE},
    {"system_info", "dirty_cpu_schedulers_online", P_INT, AM_DIRTY_CPU_SCHEDULERS_ONLINE},
    {"system_info", "logical_processors", P_INT, AM_LOGICAL_PROCESSORS},
    {"system_info", "logical_processors_available", P_INT, AM_LOGICAL_PROCESSORS_AVAILABLE},
    {"system_info", "logical_processors_online", P_INT, AM_LOGICAL_PROCESSORS_ONLINE},
    {"nodes", "connected", P_PEERS, AM_COUNT},
};
#define N_DYNAMIC (sizeof dynamic_items / sizeof dynamic_items[0])

static const item_def static_items[] = {
    {"system_info", "process_limit", P_INT, AM_PROCESS_LIMIT},
    {"system_info", "port_limit", P_INT, AM_PORT_LIMIT},
    {"system_info", "atom_limit", P_INT, AM_ATOM_LIMIT},
    {"system_info", "ets_limit", P_INT, AM_ETS_LIMIT},
    {"system_info", "schedulers", P_INT, AM_SCHEDULERS},
    {"system_info", "dirty_cpu_schedulers", P_INT, AM_DIRTY_CPU_SCHEDULERS},
    {"system_info", "dirty_io_schedulers", P_INT, AM_DIRTY_IO_SCHEDULERS},
    {"system_info", "thread_pool_size", P_INT, AM_THREAD_POOL_SIZE},
    {"system_info", "wordsize", P_INT, AM_WORDSIZE},
    {"system_info", "smp_support", P_BOOL, AM_SMP_SUPPORT},
    {"system_info", "threads", P_BOOL, AM_THREADS},
    {"system_info", "time_correction", P_BOOL, AM_TIME_CORRECTION},
    {"system_info", "otp_release", P_OTP, AM_COUNT},
};
#define N_STATIC (sizeof static_items / sizeof static_items[0])

/* The metrics the static items fill: kept from a connection's first scrape. */
static bool is_static_metric(agent_metric m) {
  for (size_t i = 0; i < N_STATIC; i++)
    if (static_items[i].m == m) return true;
  return false;
}

struct agent_items {
  ep_arena *arena;
  ep_rpc_item items[N_DYNAMIC + N_STATIC];
};

static ep_rpc_item make_item(ep_arena *a, const item_def *d) {
  ep_rpc_item it = {"erlang", d->fun, d->arg ? EP_LIST(a, ep_atom(d->arg)) : ep_nil()};
  return it;
}

agent_items *agent_items_new(void) {
  agent_items *it = calloc(1, sizeof *it);
  if (!it || !(it->arena = ep_arena_new(NULL))) {
    free(it);
    return NULL;
  }
  for (size_t i = 0; i < N_DYNAMIC; i++) it->items[i] = make_item(it->arena, &dynamic_items[i]);
  for (size_t i = 0; i < N_STATIC; i++) it->items[N_DYNAMIC + i] = make_item(it->arena, &static_items[i]);
  for (size_t i = 0; i < N_DYNAMIC + N_STATIC; i++)
    if (ep_is_none(it->items[i].args)) {
      agent_items_free(it);
      return NULL;
    }
  return it;
}

void agent_items_free(agent_items *it) {
  if (!it) return;
  ep_arena_free(it->arena);
  free(it);
}

const ep_rpc_item *agent_items_get(const agent_items *it, bool with_static, size_t *n) {
  *n = with_static ? N_DYNAMIC + N_STATIC : N_DYNAMIC;
  return it->items;
}

static void put(agent_sample *s, agent_metric m, int64_t v) {
  s->values[m] = v;
  s->has[m] = true;
}

static bool get_int(ep_term t, int64_t *v) { return ep_get_int64(t, v) == 0; }

/* {Key, Int} from erlang:memory()'s list. */
static bool mem_get(ep_term list, const char *key, int64_t *v) {
  ptrdiff_t n = ep_list_len(list);
  for (ptrdiff_t i = 0; i < n; i++) {
    ep_term e = ep_list_at(list, (size_t)i);
    if (e.type == EP_T_TUPLE && e.n == 2 && ep_atom_eq(e.v.items[0], key)) return get_int(e.v.items[1], v);
  }
  return false;
}

static void read_memory(ep_term v, agent_sample *s) {
  int64_t system, processes, processes_used, atom, atom_used, binary, code, ets;
  if (!mem_get(v, "system", &system) || !mem_get(v, "processes", &processes) ||
      !mem_get(v, "processes_used", &processes_used) || !mem_get(v, "atom", &atom) ||
      !mem_get(v, "atom_used", &atom_used) || !mem_get(v, "binary", &binary) || !mem_get(v, "code", &code) ||
      !mem_get(v, "ets", &ets))
    return;
  put(s, AM_MEM_SYSTEM, system);
  put(s, AM_MEM_PROCESSES, processes);
  put(s, AM_MEM_SYS_ATOM, atom);
  put(s, AM_MEM_SYS_BINARY, binary);
  put(s, AM_MEM_SYS_CODE, code);
  put(s, AM_MEM_SYS_ETS, ets);
  put(s, AM_MEM_SYS_OTHER, system - atom - binary - code - ets);
  put(s, AM_MEM_PROC_USED, processes_used);
  put(s, AM_MEM_PROC_FREE, processes - processes_used);
  put(s, AM_MEM_ATOM_USED, atom_used);
  put(s, AM_MEM_ATOM_FREE, atom - atom_used);
}

/* [Normal1, ..., NormalN, DirtyCPU, DirtyIO]: the figure of
 * statistics(run_queue) is the normal queues plus the dirty CPU one. */
static void read_runq(ep_term v, agent_sample *s) {
  ptrdiff_t n = ep_list_len(v);
  if (n < 3) return;
  int64_t sum = 0, x;
  for (ptrdiff_t i = 0; i < n; i++) {
    if (!get_int(ep_list_at(v, (size_t)i), &x)) return;
    if (i < n - 1) sum += x;
  }
  int64_t dcpu, dio;
  get_int(ep_list_at(v, (size_t)n - 2), &dcpu);
  get_int(ep_list_at(v, (size_t)n - 1), &dio);
  put(s, AM_RUN_QUEUES, sum);
  put(s, AM_DIRTY_CPU_RUN_QUEUE, dcpu);
  put(s, AM_DIRTY_IO_RUN_QUEUE, dio);
}

void agent_sample_clear(agent_sample *s) {
  free(s->peers);
  s->peers = NULL;
  s->peers_len = 0;
  s->has_peers = false;
}

/* [Node, ...] into s->peers, at most AGENT_MAX_PEERS names. */
static void read_peers(ep_term v, agent_sample *s) {
  ptrdiff_t n = ep_list_len(v);
  if (n < 0) return;
  ep_buf b;
  ep_buf_init(&b, NULL);
  for (ptrdiff_t i = 0; i < n && i < (ptrdiff_t)AGENT_MAX_PEERS; i++) {
    ep_term e = ep_list_at(v, (size_t)i);
    if (e.type != EP_T_ATOM || b.len + e.n + 1 > AGENT_MAX_PEERS_BYTES) continue;
    ep_buf_append(&b, e.v.str, e.n);
    ep_buf_put8(&b, 0);
  }
  if (b.err) {
    ep_buf_free(&b);
    return;
  }
  s->peers = (char *)ep_buf_take(&b, &s->peers_len);
  s->has_peers = true;
}

static void read_item(const item_def *d, ep_term v, agent_sample *s) {
  int64_t x, y;
  switch (d->parse) {
    case P_INT:
      if (get_int(v, &x)) put(s, d->m, x); /* 'unknown' (logical_processors_*) leaves it out */
      break;
    case P_BOOL:
      if (ep_atom_eq(v, "true") || ep_atom_eq(v, "false")) put(s, d->m, ep_atom_eq(v, "true"));
      break;
    case P_FIRST:
      if (v.type == EP_T_TUPLE && v.n >= 1 && get_int(v.v.items[0], &x)) put(s, d->m, x);
      break;
    case P_MEMORY:
      read_memory(v, s);
      break;
    case P_RUNQ:
      read_runq(v, s);
      break;
    case P_IO:
      if (v.type == EP_T_TUPLE && v.n == 2 && ep_is_record(v.v.items[0], "input", 2) &&
          ep_is_record(v.v.items[1], "output", 2) && get_int(v.v.items[0].v.items[1], &x) &&
          get_int(v.v.items[1].v.items[1], &y)) {
        put(s, AM_BYTES_IN, x);
        put(s, AM_BYTES_OUT, y);
      }
      break;
    case P_GC:
      if (v.type == EP_T_TUPLE && v.n == 3 && get_int(v.v.items[0], &x) && get_int(v.v.items[1], &y)) {
        put(s, AM_GCS, x);
        put(s, AM_WORDS_RECLAIMED, y);
      }
      break;
    case P_PEERS:
      read_peers(v, s);
      break;
    case P_OTP: {
      const char *txt = NULL;
      size_t len = 0;
      ep_arena *a = ep_arena_new(NULL);
      if (a && ep_get_text(a, v, &txt, &len) == 0 && len < sizeof s->otp_release) {
        memcpy(s->otp_release, txt, len);
        s->otp_release[len] = 0;
        for (size_t i = 0; i < len; i++) /* a label value: keep it plain */
          if (!((txt[i] >= '0' && txt[i] <= '9') || (txt[i] >= 'A' && txt[i] <= 'Z') ||
                (txt[i] >= 'a' && txt[i] <= 'z') || txt[i] == '.' || txt[i] == '-'))
            s->otp_release[i] = '_';
      }
      ep_arena_free(a);
      break;
    }
  }
}

void agent_items_read(const agent_items *it, bool with_static, const ep_rpc_multi_result *r, agent_sample *s) {
  (void)it;
  for (int m = 0; m < AM_COUNT; m++)
    if (with_static || !is_static_metric((agent_metric)m)) s->has[m] = false;
  if (with_static) s->otp_release[0] = 0;
  agent_sample_clear(s);
  size_t n = with_static ? N_DYNAMIC + N_STATIC : N_DYNAMIC;
  for (size_t i = 0; i < n && i < r->n; i++) {
    if (r->items[i].status != 0) continue; /* that value is left out */
    read_item(i < N_DYNAMIC ? &dynamic_items[i] : &static_items[i - N_DYNAMIC], r->items[i].value, s);
  }
  if (s->has[AM_WORDS_RECLAIMED] && s->has[AM_WORDSIZE])
    put(s, AM_BYTES_RECLAIMED, s->values[AM_WORDS_RECLAIMED] * s->values[AM_WORDSIZE]);
}

/* --- errors ------------------------------------------------------------------------- */

static const char *const err_names[AE_COUNT] = {
    "auth", "timeout", "refused", "not_registered", "no_epmd", "no_host", "not_allowed",
    "nodedown", "badrpc", "tls", "other"};

const char *agent_err_name(agent_err e) { return e < AE_COUNT ? err_names[e] : "other"; }

agent_err agent_err_of(int status) {
  switch (status) {
    case EP_EAUTH: return AE_AUTH;
    case EP_ETIMEDOUT: case EP_ETICK: return AE_TIMEOUT;
    case EP_ECONNREFUSED: return AE_REFUSED;
    case EP_ENOTREG: return AE_NOT_REGISTERED;
    case EP_ENOEPMD: return AE_NO_EPMD;
    case EP_ENOHOST: case EP_EHOSTUNREACH: return AE_NO_HOST;
    case EP_ENOTALLOWED: case EP_ENOK: case EP_EALIVE: case EP_EWRONGNODE: return AE_NOT_ALLOWED;
    case EP_ENODEDOWN: case EP_ECONNRESET: case EP_EEOF: case EP_ENOTCONN: return AE_NODEDOWN;
    case EP_EBADRPC: case EP_EEXCEPTION: return AE_BADRPC;
    case EP_ETLS: case EP_ENOTTLS: case EP_EISTLS: return AE_TLS;
    default: return AE_OTHER;
  }
}

/* --- the exposition ------------------------------------------------------------------- */

/* One family: its series are (label value, metric) pairs; label NULL: a
 * single series without a label of its own. scale_ms: the value is in
 * milliseconds, exposed as seconds under the current names. */
typedef struct {
  const char *name, *classic;
  const char *type;
  const char *help;
  const char *label;
  struct {
    const char *value;
    agent_metric m;
  } series[5];
  bool scale_ms;
} family;

#define ONE(m) {{NULL, m}}
static const family families[] = {
    {"erlang_vm_processes", "erlang_vm_process_count", "gauge",
     "The number of processes currently existing at the local node.", NULL, ONE(AM_PROCESSES), false},
    {"erlang_vm_process_limit", NULL, "gauge",
     "The maximum number of simultaneously existing processes at the local node.", NULL, ONE(AM_PROCESS_LIMIT),
     false},
    {"erlang_vm_ports", "erlang_vm_port_count", "gauge", "The number of ports currently existing at the local node.",
     NULL, ONE(AM_PORTS), false},
    {"erlang_vm_port_limit", NULL, "gauge",
     "The maximum number of simultaneously existing ports at the local node.", NULL, ONE(AM_PORT_LIMIT), false},
    {"erlang_vm_atoms", "erlang_vm_atom_count", "gauge", "The number of atom currently existing at the local node.",
     NULL, ONE(AM_ATOMS), false},
    {"erlang_vm_atom_limit", NULL, "gauge",
     "The maximum number of simultaneously existing atom at the local node.", NULL, ONE(AM_ATOM_LIMIT), false},
    {"erlang_vm_ets_limit", NULL, "gauge", "The maximum number of ETS tables allowed.", NULL, ONE(AM_ETS_LIMIT),
     false},
    {"erlang_vm_memory_ets_tables", NULL, "gauge", "Erlang VM ETS Tables count.", NULL, ONE(AM_ETS_TABLES), false},
    {"erlang_vm_memory_bytes", "erlang_vm_memory_bytes_total", "gauge",
     "The total amount of memory currently allocated. This is the same as the sum of the memory size for "
     "processes and system.",
     "kind", {{"system", AM_MEM_SYSTEM}, {"processes", AM_MEM_PROCESSES}}, false},
    {"erlang_vm_memory_system_bytes", "erlang_vm_memory_system_bytes_total", "gauge",
     "The total amount of memory currently allocated for the emulator that is not directly related to any "
     "Erlang process. Memory presented as processes is not included in this memory.",
     "usage",
     {{"atom", AM_MEM_SYS_ATOM},
      {"binary", AM_MEM_SYS_BINARY},
      {"code", AM_MEM_SYS_CODE},
      {"ets", AM_MEM_SYS_ETS},
      {"other", AM_MEM_SYS_OTHER}},
     false},
    {"erlang_vm_memory_processes_bytes", "erlang_vm_memory_processes_bytes_total", "gauge",
     "The total amount of memory currently allocated for the Erlang processes.", "usage",
     {{"used", AM_MEM_PROC_USED}, {"free", AM_MEM_PROC_FREE}}, false},
    {"erlang_vm_memory_atom_bytes", "erlang_vm_memory_atom_bytes_total", "gauge",
     "The total amount of memory currently allocated for atoms. This memory is part of the memory presented "
     "as system memory.",
     "usage", {{"used", AM_MEM_ATOM_USED}, {"free", AM_MEM_ATOM_FREE}}, false},
    {"erlang_vm_statistics_bytes_output_total", NULL, "counter", "Total number of bytes output to ports.", NULL,
     ONE(AM_BYTES_OUT), false},
    {"erlang_vm_statistics_bytes_received_total", NULL, "counter",
     "Total number of bytes received through ports.", NULL, ONE(AM_BYTES_IN), false},
    {"erlang_vm_statistics_context_switches_total", "erlang_vm_statistics_context_switches", "counter",
     "Total number of context switches since the system started.", NULL, ONE(AM_CONTEXT_SWITCHES), false},
    {"erlang_vm_statistics_garbage_collection_number_of_gcs_total",
     "erlang_vm_statistics_garbage_collection_number_of_gcs", "counter", "Garbage collection: number of GCs.", NULL,
     ONE(AM_GCS), false},
    {"erlang_vm_statistics_garbage_collection_words_reclaimed_total",
     "erlang_vm_statistics_garbage_collection_words_reclaimed", "counter", "Garbage collection: words reclaimed.",
     NULL, ONE(AM_WORDS_RECLAIMED), false},
    {"erlang_vm_statistics_garbage_collection_bytes_reclaimed_total",
     "erlang_vm_statistics_garbage_collection_bytes_reclaimed", "counter", "Garbage collection: bytes reclaimed.",
     NULL, ONE(AM_BYTES_RECLAIMED), false},
    {"erlang_vm_statistics_reductions_total", NULL, "counter", "Total reductions.", NULL, ONE(AM_REDUCTIONS),
     false},
    {"erlang_vm_statistics_run_queues_length", NULL, "gauge", "Length of normal run-queues.", NULL,
     ONE(AM_RUN_QUEUES), false},
    {"erlang_vm_statistics_dirty_cpu_run_queue_length", NULL, "gauge", "Length of the dirty CPU run-queue.", NULL,
     ONE(AM_DIRTY_CPU_RUN_QUEUE), false},
    {"erlang_vm_statistics_dirty_io_run_queue_length", NULL, "gauge", "Length of the dirty IO run-queue.", NULL,
     ONE(AM_DIRTY_IO_RUN_QUEUE), false},
    {"erlang_vm_statistics_runtime_seconds_total", "erlang_vm_statistics_runtime_milliseconds", "counter",
     "The sum of the runtime for all threads in the Erlang runtime system. Can be greater than wall clock time.",
     NULL, ONE(AM_RUNTIME_MS), true},
    {"erlang_vm_statistics_wallclock_time_seconds_total", "erlang_vm_statistics_wallclock_time_milliseconds",
     "counter",
     "Information about wall clock. Same as erlang_vm_statistics_runtime_seconds_total except that real time "
     "is measured.",
     NULL, ONE(AM_WALLCLOCK_MS), true},
    {"erlang_vm_dirty_cpu_schedulers", NULL, "gauge",
     "The number of scheduler dirty CPU scheduler threads used by the emulator.", NULL,
     ONE(AM_DIRTY_CPU_SCHEDULERS), false},
    {"erlang_vm_dirty_cpu_schedulers_online", NULL, "gauge", "The number of dirty CPU scheduler threads online.",
     NULL, ONE(AM_DIRTY_CPU_SCHEDULERS_ONLINE), false},
    {"erlang_vm_dirty_io_schedulers", NULL, "gauge",
     "The number of scheduler dirty I/O scheduler threads used by the emulator.", NULL,
     ONE(AM_DIRTY_IO_SCHEDULERS), false},
    {"erlang_vm_logical_processors", NULL, "gauge",
     "The detected number of logical processors configured in the system.", NULL, ONE(AM_LOGICAL_PROCESSORS),
     false},
    {"erlang_vm_logical_processors_available", NULL, "gauge",
     "The detected number of logical processors available to the Erlang runtime system.", NULL,
     ONE(AM_LOGICAL_PROCESSORS_AVAILABLE), false},
    {"erlang_vm_logical_processors_online", NULL, "gauge",
     "The detected number of logical processors online on the system.", NULL, ONE(AM_LOGICAL_PROCESSORS_ONLINE),
     false},
    {"erlang_vm_schedulers", NULL, "gauge", "The number of scheduler threads used by the emulator.", NULL,
     ONE(AM_SCHEDULERS), false},
    {"erlang_vm_schedulers_online", NULL, "gauge", "The number of schedulers online.", NULL,
     ONE(AM_SCHEDULERS_ONLINE), false},
    {"erlang_vm_smp_support", NULL, "gauge", "1 if the emulator has been compiled with SMP support, otherwise 0.",
     NULL, ONE(AM_SMP_SUPPORT), false},
    {"erlang_vm_threads", NULL, "gauge", "1 if the emulator has been compiled with thread support, otherwise 0.",
     NULL, ONE(AM_THREADS), false},
    {"erlang_vm_thread_pool_size", NULL, "gauge",
     "The number of async threads in the async thread pool used for asynchronous driver calls.", NULL,
     ONE(AM_THREAD_POOL_SIZE), false},
    {"erlang_vm_time_correction", NULL, "gauge", "1 if time correction is enabled, otherwise 0.", NULL,
     ONE(AM_TIME_CORRECTION), false},
    {"erlang_vm_wordsize_bytes", NULL, "gauge", "The size of Erlang term words in bytes.", NULL, ONE(AM_WORDSIZE),
     false},
};
#define N_FAMILIES (sizeof families / sizeof families[0])

bool agent_bprintf(ep_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || ep_buf_reserve(b, (size_t)n + 1)) return false;
  va_start(ap, fmt);
  vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return true;
}

/* A label value (or a JSON string's body: the same three escapes, and
 * node names hold none of them anyway). */
void agent_escape(ep_buf *b, const char *s) {
  for (; *s; s++) {
    if (*s == '\\') ep_buf_append(b, "\\\\", 2);
    else if (*s == '"') ep_buf_append(b, "\\\"", 2);
    else if (*s == '\n') ep_buf_append(b, "\\n", 2);
    else ep_buf_put8(b, (uint8_t)*s);
  }
}

static void put_value(ep_buf *b, int64_t v, bool seconds) {
  if (seconds) agent_bprintf(b, "%" PRId64 ".%03d", v / 1000, (int)(v % 1000));
  else agent_bprintf(b, "%" PRId64, v);
}

static void header(ep_buf *b, const char *name, const char *type, const char *help) {
  agent_bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void series_start(ep_buf *b, const char *name, const agent_target *t) {
  agent_bprintf(b, "%s{node=\"", name);
  agent_escape(b, t->name);
  ep_buf_put8(b, '"');
}

static bool any_has(const agent *ag, agent_metric m) {
  for (size_t i = 0; i < ag->n_targets; i++)
    if (ag->targets[i]->have && ag->targets[i]->sample.has[m]) return true;
  return false;
}

static bool target_listed(const agent_target *t) { return !t->removed; }

bool agent_render_text(const agent *ag, ep_buf *b) {
  bool classic = ag->o.names == AGENT_NAMES_CLASSIC;
  for (size_t f = 0; f < N_FAMILIES; f++) {
    const family *fa = &families[f];
    if (!any_has(ag, fa->series[0].m)) continue; /* no node has it: no family */
    const char *name = classic && fa->classic ? fa->classic : fa->name;
    header(b, name, fa->type, fa->help);
    for (size_t i = 0; i < ag->n_targets; i++) {
      const agent_target *t = ag->targets[i];
      if (!t->have || !target_listed(t)) continue; /* a node that is down exports no stale values */
      for (size_t k = 0; k < 5 && (k == 0 || fa->series[k].value); k++) {
        agent_metric m = fa->series[k].m;
        if (!t->sample.has[m]) continue;
        series_start(b, name, t);
        if (fa->label) agent_bprintf(b, ",%s=\"%s\"", fa->label, fa->series[k].value);
        ep_buf_append(b, "} ", 2);
        put_value(b, t->sample.values[m], fa->scale_ms && !classic);
        ep_buf_put8(b, '\n');
      }
    }
  }
  /* Per peer: erlang:nodes(connected) lists the connections that are up. */
  bool any_peers = false;
  for (size_t i = 0; i < ag->n_targets; i++)
    any_peers |= ag->targets[i]->have && target_listed(ag->targets[i]) && ag->targets[i]->sample.peers_len;
  if (any_peers) {
    header(b, "erlang_vm_dist_node_state", "gauge",
           "The current state of the distribution link. The state is represented as a numerical value where "
           "`pending=1', `up_pending=2' and `up=3'.");
    for (size_t i = 0; i < ag->n_targets; i++) {
      const agent_target *t = ag->targets[i];
      if (!t->have || !target_listed(t) || !t->sample.has_peers) continue;
      for (size_t off = 0; off < t->sample.peers_len; off += strlen(t->sample.peers + off) + 1) {
        series_start(b, "erlang_vm_dist_node_state", t);
        ep_buf_append(b, ",peer=\"", 7);
        agent_escape(b, t->sample.peers + off);
        ep_buf_append(b, "\"} 3\n", 5);
      }
    }
  }
  agent_top_render_text(ag, b);
  /* The agent's own series. */
  header(b, "erlpeer_agent_build_info", "gauge", "erlpeer agent build information; always 1.");
  agent_bprintf(b, "erlpeer_agent_build_info{version=\"%s\",names=\"%s\"} 1\n", AGENT_VERSION,
          classic ? "classic" : "current");
  header(b, "erlpeer_node_up", "gauge", "1 when the last scrape of the node succeeded, else 0.");
  for (size_t i = 0; i < ag->n_targets; i++) {
    const agent_target *t = ag->targets[i];
    if (!target_listed(t)) continue;
    series_start(b, "erlpeer_node_up", t);
    agent_bprintf(b, "} %d\n", t->have ? 1 : 0);
  }
  bool any = false;
  for (size_t i = 0; i < ag->n_targets; i++) any |= ag->targets[i]->have && target_listed(ag->targets[i]);
  if (any) {
    header(b, "erlpeer_scrape_duration_seconds", "gauge",
           "How long the last successful scrape of the node took (one multi-call request).");
    for (size_t i = 0; i < ag->n_targets; i++) {
      const agent_target *t = ag->targets[i];
      if (!t->have || !target_listed(t)) continue;
      series_start(b, "erlpeer_scrape_duration_seconds", t);
      agent_bprintf(b, "} %.6f\n", t->duration_s);
    }
    header(b, "erlpeer_node_info", "gauge", "The node's OTP release; always 1.");
    for (size_t i = 0; i < ag->n_targets; i++) {
      const agent_target *t = ag->targets[i];
      if (!t->have || !target_listed(t) || !t->sample.otp_release[0]) continue;
      series_start(b, "erlpeer_node_info", t);
      agent_bprintf(b, ",otp_release=\"%s\"} 1\n", t->sample.otp_release);
    }
  }
  header(b, "erlpeer_scrapes_total", "counter", "Successful scrapes of the node.");
  for (size_t i = 0; i < ag->n_targets; i++) {
    const agent_target *t = ag->targets[i];
    if (!target_listed(t)) continue;
    series_start(b, "erlpeer_scrapes_total", t);
    agent_bprintf(b, "} %" PRIu64 "\n", t->scrapes);
  }
  any = false;
  for (size_t i = 0; i < ag->n_targets; i++)
    for (int e = 0; e < AE_COUNT; e++) any |= ag->targets[i]->errors[e] && target_listed(ag->targets[i]);
  if (any) {
    header(b, "erlpeer_scrape_errors_total", "counter",
           "Failed connections and scrapes of the node, by reason.");
    for (size_t i = 0; i < ag->n_targets; i++) {
      const agent_target *t = ag->targets[i];
      if (!target_listed(t)) continue;
      for (int e = 0; e < AE_COUNT; e++) {
        if (!t->errors[e]) continue;
        series_start(b, "erlpeer_scrape_errors_total", t);
        agent_bprintf(b, ",reason=\"%s\"} %" PRIu64 "\n", agent_err_name((agent_err)e), t->errors[e]);
      }
    }
  }
  return b->err == 0;
}

bool agent_render_json(const agent *ag, const agent_target *t, uint64_t time_ms, ep_buf *b) {
  bool classic = ag->o.names == AGENT_NAMES_CLASSIC;
  ep_buf_append(b, "{\"node\":\"", 9);
  agent_escape(b, t->name);
  agent_bprintf(b, "\",\"time_ms\":%" PRIu64 ",\"up\":%s", time_ms, t->have ? "true" : "false");
  if (t->have) agent_bprintf(b, ",\"scrape_duration_seconds\":%.6f", t->duration_s);
  if (t->have && t->sample.otp_release[0]) agent_bprintf(b, ",\"otp_release\":\"%s\"", t->sample.otp_release);
  agent_bprintf(b, ",\"scrapes_total\":%" PRIu64 ",\"errors\":{", t->scrapes);
  bool first = true;
  for (int e = 0; e < AE_COUNT; e++) {
    if (!t->errors[e]) continue;
    agent_bprintf(b, "%s\"%s\":%" PRIu64, first ? "" : ",", agent_err_name((agent_err)e), t->errors[e]);
    first = false;
  }
  ep_buf_append(b, "},\"metrics\":{", 13);
  first = true;
  for (size_t f = 0; t->have && f < N_FAMILIES; f++) {
    const family *fa = &families[f];
    if (!t->sample.has[fa->series[0].m]) continue;
    const char *name = classic && fa->classic ? fa->classic : fa->name;
    agent_bprintf(b, "%s\"%s\":", first ? "" : ",", name);
    first = false;
    if (!fa->label) {
      put_value(b, t->sample.values[fa->series[0].m], fa->scale_ms && !classic);
      continue;
    }
    ep_buf_put8(b, '{');
    for (size_t k = 0; k < 5 && fa->series[k].value; k++) {
      agent_bprintf(b, "%s\"%s\":", k ? "," : "", fa->series[k].value);
      put_value(b, t->sample.values[fa->series[k].m], false);
    }
    ep_buf_put8(b, '}');
  }
  if (t->have && t->sample.has_peers) {
    agent_bprintf(b, "%s\"erlang_vm_dist_node_state\":{", first ? "" : ",");
    for (size_t off = 0; off < t->sample.peers_len; off += strlen(t->sample.peers + off) + 1) {
      agent_bprintf(b, "%s\"", off ? "," : "");
      agent_escape(b, t->sample.peers + off);
      ep_buf_append(b, "\":3", 3);
    }
    ep_buf_put8(b, '}');
  }
  ep_buf_put8(b, '}');
  if (t->have) agent_top_render_json(t, b);
  ep_buf_append(b, "}\n", 2);
  return b->err == 0;
}
