/* agent_top.c - the opt-in top-N of processes (--top-processes N): the N
 * processes of a node that use the most memory, and the N with the longest
 * message queues (docs/agent.md, "Top processes").
 *
 * Only BIFs, nothing loaded, no atom made on the target: after a scrape's
 * answer,
 *  1. erlang:processes() (one call): the pids, copied here as (id, serial,
 *     creation); none at all when system_info(process_count), read by the
 *     scrape, is over AGENT_TOP_MAX_PIDS (the list would be too big to ask);
 *  2. batches of AGENT_TOP_BATCH pids, each one call of
 *       lists:zipwith(fun erlang:process_info/2, [Pid, ...], [Items, ...])
 *     with Items = [memory, message_queue_len, registered_name, initial_call]
 *     (process_info/2 with a list, never process_info/1), at most
 *     AGENT_TOP_WINDOW of them in flight on the connection, so the target
 *     works on the next batch while the last answer travels;
 *  3. no new batch once the time budget (--top-budget, from the start of
 *     step 1, at most 9/10 of the interval) is spent: the scan is then
 *     partial and erlpeer_top_processes_truncated says so;
 *  4. on OTP 26 and later, for the winners started through proc_lib, their
 *     dictionary's '$initial_call' key alone (names_or_finish).
 * A pid that exited meanwhile answers `undefined` and is skipped. The
 * scrape (and the round's --json and --textfile) ends when the scan does;
 * /metrics shows the last finished scan. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "ep_error.h"
#include "ep_term.h"

typedef struct {
  uint32_t id, serial;
  int64_t value;
  bool proc_lib; /* not registered, initial call proc_lib:init_p/5 */
  char name[AGENT_TOP_NAME_MAX + 1];
} top_entry;

typedef struct {
  size_t n;
  top_entry e[AGENT_TOP_MAX];
} top_list;

typedef struct {
  top_list mem, mql;
  uint64_t examined;
  bool truncated;
  double duration_s;
  bool valid;
} top_result;

typedef struct agent_top agent_top;
struct agent_top {
  agent_target *t;
  uint32_t *pids; /* id, serial, creation: 3 per pid */
  uint32_t creation; /* of the node's pids (the last one listed) */
  size_t n_pids, next;
  unsigned inflight;
  bool stop; /* send no more batches */
  uint64_t started_ns, deadline_ms;
  top_result cur;  /* the scan running */
  top_result last; /* the last one finished: what is exported */
};

typedef struct {
  agent_top *top;
  size_t first, count;
} top_batch;

void agent_top_forget(agent_target *t) {
  if (t->top) t->top->last.valid = false;
}

void agent_top_free(agent_target *t) {
  if (!t->top) return;
  free(t->top->pids);
  free(t->top);
  t->top = NULL;
}

/* Copies text into dst (at most AGENT_TOP_NAME_MAX bytes, not cutting a
 * UTF-8 sequence). */
static void set_name(char *dst, const char *src, size_t len) {
  if (len > AGENT_TOP_NAME_MAX) {
    len = AGENT_TOP_NAME_MAX;
    while (len && ((unsigned char)src[len] & 0xC0) == 0x80) len--;
  }
  memcpy(dst, src, len);
  dst[len] = 0;
}

/* The label: the registered name, else the initial call as M:F/A. */
static void entry_name(char *dst, ep_term reg, ep_term ic) {
  if (reg.type == EP_T_ATOM) {
    set_name(dst, reg.v.str, reg.n);
    return;
  }
  int64_t ar;
  if (ic.type == EP_T_TUPLE && ic.n == 3 && ic.v.items[0].type == EP_T_ATOM && ic.v.items[1].type == EP_T_ATOM &&
      ep_get_int64(ic.v.items[2], &ar) == 0) {
    char buf[2 * 256 * 4 + 32];
    int k = snprintf(buf, sizeof buf, "%.*s:%.*s/%" PRId64, (int)ic.v.items[0].n, ic.v.items[0].v.str,
                     (int)ic.v.items[1].n, ic.v.items[1].v.str, ar);
    set_name(dst, buf, k < 0 ? 0 : (size_t)k < sizeof buf ? (size_t)k : sizeof buf - 1);
    return;
  }
  dst[0] = 0;
}

/* Puts the pid into l (sorted, largest first) when it is among the n largest. */
static void consider(top_list *l, size_t n, uint32_t id, uint32_t serial, int64_t v, ep_term reg, ep_term ic) {
  if (l->n == n && v <= l->e[n - 1].value) return;
  size_t at = l->n < n ? l->n : n - 1;
  while (at > 0 && l->e[at - 1].value < v) {
    l->e[at] = l->e[at - 1];
    at--;
  }
  if (l->n < n) l->n++;
  top_entry *e = &l->e[at];
  e->id = id;
  e->serial = serial;
  e->value = v;
  entry_name(e->name, reg, ic);
  e->proc_lib = reg.type != EP_T_ATOM && !strcmp(e->name, "proc_lib:init_p/5");
}

/* {Key, Value} from a process_info list. */
static ep_term pi_get(ep_term list, const char *key) {
  ptrdiff_t n = ep_list_len(list);
  for (ptrdiff_t i = 0; i < n; i++) {
    ep_term e = ep_list_at(list, (size_t)i);
    if (e.type == EP_T_TUPLE && e.n == 2 && ep_atom_eq(e.v.items[0], key)) return e.v.items[1];
  }
  return ep_none();
}

static void pump(agent_top *top);
static void names_or_finish(agent_top *top);

/* The scan is over: exported, and the scrape ends. top may be freed with t
 * by agent_scrape_done: nothing of it is touched after. */
static void finish(agent_top *top) {
  agent_target *t = top->t;
  free(top->pids);
  top->pids = NULL;
  top->n_pids = top->next = 0;
  top->cur.duration_s = (double)(uv_hrtime() - top->started_ns) / 1e9;
  top->cur.valid = true;
  /* shown only for the connection it ran on: a node lost meanwhile shows
   * nothing until a scan on its new connection ends */
  if (!t->removed && !t->ag->stopping && t->have && t->state == AT_UP) top->last = top->cur;
  agent_scrape_done(t);
}

static void on_batch(ep_node *n, const ep_result *r, void *ud) {
  top_batch *b = ud;
  agent_top *top = b->top;
  agent_target *t = top->t;
  (void)n;
  t->pending--;
  top->inflight--;
  size_t want = t->ag->o.top_n;
  if (r->status == 0 && ep_list_len(r->value) == (ptrdiff_t)b->count) {
    for (size_t i = 0; i < b->count; i++) {
      ep_term v = ep_list_at(r->value, i);
      int64_t mem, mql;
      if (!ep_is_list(v) || ep_get_int64(pi_get(v, "memory"), &mem) ||
          ep_get_int64(pi_get(v, "message_queue_len"), &mql))
        continue; /* undefined: the process is gone */
      const uint32_t *p = &top->pids[3 * (b->first + i)];
      ep_term reg = pi_get(v, "registered_name"), ic = pi_get(v, "initial_call");
      top->cur.examined++;
      consider(&top->cur.mem, want, p[0], p[1], mem, reg, ic);
      if (mql > 0) consider(&top->cur.mql, want, p[0], p[1], mql, reg, ic);
    }
  } else {
    top->cur.truncated = true; /* timed out, the connection went: what came is kept */
    top->stop = true;
  }
  free(b);
  pump(top);
}

/* Sends batches while the window and the budget allow; finishes when none is left. */
static void pump(agent_top *top) {
  agent_target *t = top->t;
  agent *ag = t->ag;
  if (t->removed || ag->stopping) top->stop = true;
  while (!top->stop && top->inflight < AGENT_TOP_WINDOW && top->next < top->n_pids) {
    uint64_t now = agent_now_ms(ag);
    if (now >= top->deadline_ms) {
      top->cur.truncated = true;
      top->stop = true;
      break;
    }
    size_t k = top->n_pids - top->next;
    if (k > AGENT_TOP_BATCH) k = AGENT_TOP_BATCH;
    top_batch *b = malloc(sizeof *b);
    ep_arena *a = ep_arena_new(NULL);
    ep_term *pids = NULL, *specs = NULL;
    ep_term args = ep_none();
    if (b && a) {
      ep_term fun = ep_export_fun(a, ep_atom("erlang"), ep_atom("process_info"), 2);
      ep_term spec = EP_LIST(a, ep_atom("memory"), ep_atom("message_queue_len"), ep_atom("registered_name"),
                             ep_atom("initial_call"));
      ep_term pl = ep_list_new(a, k, &pids), sl = ep_list_new(a, k, &specs);
      if (pids && specs) {
        for (size_t i = 0; i < k; i++) {
          const uint32_t *p = &top->pids[3 * (top->next + i)];
          pids[i] = ep_pid(a, t->name, p[0], p[1], p[2]);
          specs[i] = spec;
        }
        args = EP_LIST(a, fun, pl, sl);
      }
    }
    int r = ep_is_none(args) ? EP_ENOMEM : 0;
    if (!r) {
      b->top = top;
      b->first = top->next;
      b->count = k;
      top->next += k; /* before the call: a failure it reports for another call re-enters pump */
      t->pending++;
      top->inflight++;
      r = ep_rpc_call(ag->node, t->name, "lists", "zipwith", args, top->deadline_ms - now, on_batch, b);
      if (r) t->pending--, top->inflight--;
    }
    ep_arena_free(a);
    if (r) {
      free(b);
      top->cur.truncated = true;
      top->stop = true;
      break;
    }
  }
  if (top->inflight == 0) names_or_finish(top);
}

/* The winners started through proc_lib: their real initial call. */
static void on_names(ep_node *n, const ep_rpc_multi_result *r, void *ud) {
  agent_top *top = ud;
  agent_target *t = top->t;
  (void)n;
  t->pending--;
  size_t k = 0;
  top_list *lists[2] = {&top->cur.mem, &top->cur.mql};
  for (int l = 0; r->status == 0 && l < 2; l++)
    for (size_t i = 0; i < lists[l]->n; i++) {
      top_entry *e = &lists[l]->e[i];
      if (!e->proc_lib) continue;
      if (k < r->n && r->items[k].status == 0 && r->items[k].value.type == EP_T_TUPLE && r->items[k].value.n == 2) {
        char name[AGENT_TOP_NAME_MAX + 1];
        entry_name(name, ep_none(), r->items[k].value.v.items[1]); /* undefined: no such key */
        if (name[0]) memcpy(e->name, name, sizeof name);
      }
      k++;
    }
  finish(top);
}

/* A winner started through proc_lib shows proc_lib:init_p/5; the call it
 * stands for is in its dictionary under '$initial_call'. From OTP 26.2,
 * process_info(Pid, {dictionary, Key}) reads that one key (not the whole
 * dictionary, a copy of any size); before, it raises badarg, and the name
 * stays proc_lib:init_p/5. The atom '$initial_call' is one of proc_lib's
 * literals, and a process whose initial call is proc_lib:init_p/5 proves
 * proc_lib was loaded on that node: sending it makes no atom. One
 * ep_rpc_multi of at most 2N items, while budget is left. */
static void names_or_finish(agent_top *top) {
  agent_target *t = top->t;
  agent *ag = t->ag;
  uint64_t now = agent_now_ms(ag);
  ep_rpc_item items[2 * AGENT_TOP_MAX];
  size_t n = 0;
  ep_arena *a = NULL;
  if (!t->removed && !ag->stopping && t->state == AT_UP && atoi(t->sample.otp_release) >= 26 &&
      now < top->deadline_ms && (a = ep_arena_new(NULL))) {
    ep_term key = EP_TUPLE(a, ep_atom("dictionary"), ep_atom("$initial_call"));
    top_list *lists[2] = {&top->cur.mem, &top->cur.mql};
    for (int l = 0; l < 2; l++)
      for (size_t i = 0; i < lists[l]->n; i++) {
        top_entry *e = &lists[l]->e[i];
        if (!e->proc_lib) continue;
        ep_term pid = ep_pid(a, t->name, e->id, e->serial, top->creation);
        ep_rpc_item it = {"erlang", "process_info", EP_LIST(a, pid, key)};
        items[n++] = it;
      }
    for (size_t i = 0; i < n; i++)
      if (ep_is_none(items[i].args)) n = 0;
  }
  if (n) {
    t->pending++;
    int r = ep_rpc_multi(ag->node, t->name, items, n, top->deadline_ms - now, on_names, top);
    if (r) t->pending--;
    ep_arena_free(a);
    if (!r) return;
  } else {
    ep_arena_free(a);
  }
  finish(top);
}

static void on_processes(ep_node *n, const ep_result *r, void *ud) {
  agent_top *top = ud;
  agent_target *t = top->t;
  (void)n;
  t->pending--;
  ptrdiff_t len = r->status == 0 ? ep_list_len(r->value) : -1;
  if (len < 0) {
    top->cur.truncated = true;
    top->stop = true;
  } else {
    size_t np = (size_t)len;
    if (np > AGENT_TOP_MAX_PIDS) {
      np = AGENT_TOP_MAX_PIDS;
      top->cur.truncated = true;
    }
    top->pids = np ? malloc(np * 3 * sizeof *top->pids) : NULL;
    if (np && !top->pids) np = 0, top->cur.truncated = true;
    top->n_pids = 0;
    for (size_t i = 0; i < np; i++) {
      ep_term p = ep_list_at(r->value, i);
      if (p.type != EP_T_PID) continue;
      uint32_t *d = &top->pids[3 * top->n_pids++];
      d[0] = p.v.pid.id, d[1] = p.v.pid.serial, d[2] = top->creation = p.v.pid.creation;
    }
  }
  pump(top);
}

bool agent_top_start(agent_target *t) {
  agent *ag = t->ag;
  if (!ag->o.top_n) return false;
  if (!t->top && !(t->top = calloc(1, sizeof *t->top))) return false;
  agent_top *top = t->top;
  top->t = t;
  memset(&top->cur, 0, sizeof top->cur);
  top->stop = false;
  top->inflight = 0;
  top->started_ns = uv_hrtime();
  uint64_t budget = ag->o.top_budget_ms, cap = ag->o.interval_ms * 9 / 10;
  if (budget > cap) budget = cap;
  top->deadline_ms = agent_now_ms(ag) + budget;
  int r = EP_ENOMEM;
  if (t->sample.has[AM_PROCESSES] && t->sample.values[AM_PROCESSES] > (int64_t)AGENT_TOP_MAX_PIDS) {
    r = -1; /* too many to list: nothing is asked */
  } else {
    t->pending++;
    r = ep_rpc_call(ag->node, t->name, "erlang", "processes", ep_nil(), budget, on_processes, top);
    if (r) t->pending--;
  }
  if (!r) return true;
  top->cur.truncated = true;
  top->cur.valid = true;
  top->cur.duration_s = (double)(uv_hrtime() - top->started_ns) / 1e9;
  top->last = top->cur;
  return false;
}

/* --- exposition ------------------------------------------------------------------------------- */

static bool top_shown(const agent_target *t) { return t->have && !t->removed && t->top && t->top->last.valid; }

static void list_text(const agent *ag, ep_buf *b, const char *name, const char *help, size_t which) {
  bool any = false;
  for (size_t i = 0; i < ag->n_targets; i++) {
    const agent_target *t = ag->targets[i];
    if (!top_shown(t)) continue;
    const top_list *l = which ? &t->top->last.mql : &t->top->last.mem;
    if (l->n && !any) {
      agent_bprintf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
      any = true;
    }
    for (size_t k = 0; k < l->n; k++) {
      agent_bprintf(b, "%s{node=\"", name);
      agent_escape(b, t->name);
      agent_bprintf(b, "\",pid=\"<0.%" PRIu32 ".%" PRIu32 ">\",name=\"", l->e[k].id, l->e[k].serial);
      agent_escape(b, l->e[k].name);
      agent_bprintf(b, "\"} %" PRId64 "\n", l->e[k].value);
    }
  }
}

void agent_top_render_text(const agent *ag, ep_buf *b) {
  if (!ag->o.top_n) return;
  list_text(ag, b, "erlpeer_process_memory_bytes",
            "Memory of the node's processes that use the most (erlang:process_info(Pid, [memory, ...]); "
            "--top-processes).",
            0);
  list_text(ag, b, "erlpeer_process_message_queue_len",
            "Message queue length of the node's processes with the longest queues (0 left out; "
            "--top-processes).",
            1);
  static const char *const names[3] = {"erlpeer_top_processes_examined", "erlpeer_top_processes_truncated",
                                       "erlpeer_top_processes_duration_seconds"};
  static const char *const helps[3] = {
      "Processes examined by the last top-processes scan of the node.",
      ("1 when the last top-processes scan did not examine every process (time budget, too many processes, "
       "an error), else 0."),
      "How long the last top-processes scan of the node took."};
  bool any = false;
  for (size_t i = 0; i < ag->n_targets; i++) any |= top_shown(ag->targets[i]);
  for (int f = 0; any && f < 3; f++) {
    agent_bprintf(b, "# HELP %s %s\n# TYPE %s gauge\n", names[f], helps[f], names[f]);
    for (size_t i = 0; i < ag->n_targets; i++) {
      const agent_target *t = ag->targets[i];
      if (!top_shown(t)) continue;
      agent_bprintf(b, "%s{node=\"", names[f]);
      agent_escape(b, t->name);
      const top_result *tr = &t->top->last;
      if (f == 0) agent_bprintf(b, "\"} %" PRIu64 "\n", tr->examined);
      else if (f == 1) agent_bprintf(b, "\"} %d\n", tr->truncated ? 1 : 0);
      else agent_bprintf(b, "\"} %.6f\n", tr->duration_s);
    }
  }
}

/* A JSON string's body: the label escapes, and \u00XX for other control characters. */
static void json_escape(ep_buf *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '\\' || c == '"') {
      ep_buf_put8(b, '\\');
      ep_buf_put8(b, c);
    } else if (c < 0x20) {
      agent_bprintf(b, "\\u%04x", c);
    } else {
      ep_buf_put8(b, c);
    }
  }
}

static void list_json(ep_buf *b, const char *key, const top_list *l) {
  agent_bprintf(b, ",\"%s\":[", key);
  for (size_t k = 0; k < l->n; k++) {
    agent_bprintf(b, "%s{\"pid\":\"<0.%" PRIu32 ".%" PRIu32 ">\",\"name\":\"", k ? "," : "", l->e[k].id,
                  l->e[k].serial);
    json_escape(b, l->e[k].name);
    agent_bprintf(b, "\",\"value\":%" PRId64 "}", l->e[k].value);
  }
  ep_buf_put8(b, ']');
}

void agent_top_render_json(const agent_target *t, ep_buf *b) {
  if (!top_shown(t)) return;
  const top_result *tr = &t->top->last;
  agent_bprintf(b, ",\"top_processes\":{\"examined\":%" PRIu64 ",\"truncated\":%s,\"duration_seconds\":%.6f",
                tr->examined, tr->truncated ? "true" : "false", tr->duration_s);
  list_json(b, "memory", &tr->mem);
  list_json(b, "message_queue_len", &tr->mql);
  ep_buf_put8(b, '}');
}
