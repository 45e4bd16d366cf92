/* agent_target.c - the agent's targets: one connection each, a scrape per
 * interval, reconnection with backoff, discovery through EPMD.
 *
 * A target's states:
 *
 *   DOWN --(retry timer, or at start)--> CONNECTING --ok--> UP (first scrape at once)
 *     ^                                      |                |
 *     +----- connect failed: backoff --------+                |
 *     +----- node down (event, or a scrape lost the node) ----+
 *
 * UP: each interval one ep_rpc_multi (timeout 9/10 of the interval, so it
 * is over before the next); a scrape that times out or fails on the node
 * marks the target not up (nothing stale is exported) but keeps the
 * connection. Every failure counts in errors[reason]; the log says only
 * when what happens to a target changes (up, or a different reason), never
 * once per retry. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "ep_epmd_uv.h"
#include "ep_error.h"
#include "tool_node.h"

struct agent_disc {
  agent *ag;
  size_t host;
  bool pending;
  ep_epmd_req *req;
  int logged_err; /* last listing error logged (0: none) */
};

uint64_t agent_now_ms(const agent *ag) { return uv_now(ag->loop); }

static void try_connect(agent_target *t);
static void scrape(agent_target *t);

static agent_target *find(agent *ag, const char *name) {
  for (size_t i = 0; i < ag->n_targets; i++)
    if (!strcmp(ag->targets[i]->name, name)) return ag->targets[i];
  return NULL;
}

static void on_retry(uv_timer_t *tm) { try_connect(tm->data); }

/* Frees a removed target once nothing of it is owed by the loop. */
static bool maybe_free(agent_target *t) {
  if (!t->removed || t->pending || t->retry_open) return false;
  agent_sample_clear(&t->sample);
  agent_top_free(t);
  free(t->name);
  free(t);
  return true;
}

static void on_retry_closed(uv_handle_t *h) {
  agent_target *t = h->data;
  t->retry_open = false;
  maybe_free(t);
}

agent_target *agent_target_add(agent *ag, const char *name, int discover_host) {
  char full[512];
  if (strchr(name, '@')) snprintf(full, sizeof full, "%s", name);
  else snprintf(full, sizeof full, "%s@%s", name, ag->host);
  agent_target *t = find(ag, full);
  if (t) return t;
  if (ag->n_targets >= AGENT_MAX_TARGETS) {
    if (!ag->full_logged) agent_log(ag, "%s (and any more): not watched: already %u targets", full, AGENT_MAX_TARGETS);
    ag->full_logged = true;
    return NULL;
  }
  ag->full_logged = false;
  if (ag->n_targets == ag->cap_targets) {
    size_t cap = ag->cap_targets ? ag->cap_targets * 2 : 16;
    agent_target **nt = realloc(ag->targets, cap * sizeof *nt);
    if (!nt) return NULL;
    ag->targets = nt;
    ag->cap_targets = cap;
  }
  if (!(t = calloc(1, sizeof *t)) || !(t->name = strdup(full))) {
    free(t);
    return NULL;
  }
  t->ag = ag;
  t->state = AT_DOWN;
  t->discover_host = discover_host;
  uv_timer_init(ag->loop, &t->retry);
  t->retry.data = t;
  t->retry_open = true;
  ag->targets[ag->n_targets++] = t;
  if (ag->started && !ag->stopping) try_connect(t);
  return t;
}

void agent_target_remove(agent_target *t) {
  agent *ag = t->ag;
  if (t->removed) return;
  t->removed = true;
  for (size_t i = 0; i < ag->n_targets; i++)
    if (ag->targets[i] == t) {
      memmove(&ag->targets[i], &ag->targets[i + 1], (ag->n_targets - i - 1) * sizeof *ag->targets);
      ag->n_targets--;
      break;
    }
  if (!ag->stopping && ag->node && ep_node_is_connected(ag->node, t->name)) ep_node_disconnect(ag->node, t->name);
  uv_close((uv_handle_t *)&t->retry, on_retry_closed);
}

/* One log line when what happens to t changes: up, or down for another reason. */
static void log_state(agent_target *t, int what, int status) {
  if (t->logged == what) return;
  t->logged = what;
  if (what == 1) agent_log(t->ag, "%s: up", t->name);
  /* a TLS failure in the node's words (the certificate, OpenSSL's reason):
   * it is the last failed dial's, this one's as we are in its callback */
  else if (status == EP_ETLS) agent_log(t->ag, "%s: not up: %s", t->name, ep_tool_conn_reason(t->ag->node, status));
  else agent_log(t->ag, "%s: not up: %s", t->name, ep_tool_connect_reason(status));
}

static void failed(agent_target *t, int status) {
  agent_err e = agent_err_of(status);
  t->errors[e]++;
  t->have = false; /* nothing stale */
  agent_top_forget(t);
  log_state(t, -1 - (int)e, status);
}

static void schedule_retry(agent_target *t) {
  agent *ag = t->ag;
  if (ag->stopping || t->removed) return;
  uint64_t cap = ag->o.interval_ms < AGENT_BACKOFF_CAP_MS ? ag->o.interval_ms : AGENT_BACKOFF_CAP_MS;
  uint64_t d = t->backoff_ms ? t->backoff_ms * 2 : AGENT_BACKOFF_FIRST_MS;
  if (d > cap) d = cap;
  t->backoff_ms = d;
  uint64_t delay = d / 2 + (uint64_t)rand() % (d / 2 + 1); /* jitter: [d/2, d] */
  uv_timer_start(&t->retry, on_retry, delay, 0);
}

static void on_connect(ep_node *n, const char *peer, int status, void *ud) {
  agent_target *t = ud;
  (void)n, (void)peer;
  t->pending--;
  if (maybe_free(t)) return;
  t->state = AT_DOWN;
  if (t->removed || t->ag->stopping) return;
  if (status) {
    failed(t, status);
    schedule_retry(t);
    return;
  }
  t->state = AT_UP;
  t->backoff_ms = 0;
  t->have_static = false; /* a new connection may be a restarted node */
  scrape(t);              /* up within one interval, not one interval later */
}

static void try_connect(agent_target *t) {
  agent *ag = t->ag;
  if (t->state != AT_DOWN || ag->stopping || t->removed) return;
  uint64_t timeout = ag->o.interval_ms;
  if (timeout < 1000) timeout = 1000;
  if (timeout > 10000) timeout = 10000;
  t->state = AT_CONNECTING;
  t->pending++;
  int r = ep_node_connect(ag->node, t->name, timeout, on_connect, t);
  if (r) {
    t->pending--;
    t->state = AT_DOWN;
    failed(t, r);
    schedule_retry(t);
  }
}

/* The node is gone (an event, or a scrape that lost the connection). */
static void lost(agent_target *t, int status) {
  if (t->state != AT_UP) return; /* already handled */
  t->state = AT_DOWN;
  failed(t, status);
  t->backoff_ms = 0;
  schedule_retry(t);
}

/* The scrape's answer into t (nothing when t is going). True when the
 * top-processes scan follows (it ends the scrape). */
static bool scrape_answer(agent_target *t, const ep_rpc_multi_result *r) {
  agent *ag = t->ag;
  if (t->removed || ag->stopping) return false;
  if (r->status == 0) {
    agent_items_read(ag->items, !t->have_static, r, &t->sample);
    t->have_static = true;
    t->have = true;
    t->scrapes++;
    t->duration_s = (double)(uv_hrtime() - t->started_ns) / 1e9;
    log_state(t, 1, 0);
    return agent_top_start(t);
  }
  if (t->state != AT_UP) return false; /* the node-down event came first and said it */
  if (!ep_node_is_connected(ag->node, t->name)) lost(t, r->status);
  else failed(t, r->status); /* timeout, badrpc: the connection stays; the next interval tries again */
  return false;
}

static void on_scrape(ep_node *n, const ep_rpc_multi_result *r, void *ud) {
  agent_target *t = ud;
  (void)n;
  t->pending--;
  if (scrape_answer(t, r)) return; /* t->scraping until the scan ends */
  agent_scrape_done(t);
}

void agent_scrape_done(agent_target *t) {
  agent *ag = t->ag;
  t->scraping = false;
  /* the round's outputs are written once its last answer is in t */
  bool in_round = t->in_round;
  t->in_round = false;
  maybe_free(t);
  if (in_round && ag->round_pending && --ag->round_pending == 0 && ag->round_open) agent_round_done(ag);
}

static void scrape(agent_target *t) {
  agent *ag = t->ag;
  if (t->state != AT_UP || t->scraping || ag->stopping) return;
  size_t n;
  const ep_rpc_item *items = agent_items_get(ag->items, !t->have_static, &n);
  uint64_t timeout = ag->o.interval_ms * 9 / 10;
  if (timeout < 50) timeout = 50;
  t->started_ns = uv_hrtime();
  t->scraping = true;
  t->pending++;
  int r = ep_rpc_multi(ag->node, t->name, items, n, timeout, on_scrape, t);
  if (r) {
    t->scraping = false;
    t->pending--;
    if (!ep_node_is_connected(ag->node, t->name)) lost(t, r);
    else failed(t, r);
  }
}

void agent_on_node_event(ep_node *n, ep_node_event_kind kind, const char *peer, int reason, void *ud) {
  agent *ag = ud;
  (void)n;
  if (kind != EP_NODE_DOWN || ag->stopping) return;
  agent_target *t = find(ag, peer);
  if (t) lost(t, reason ? reason : EP_ENODEDOWN);
}

void agent_tick(agent *ag) {
  ag->ticks++;
  if (ag->o.n_discover && (ag->ticks - 1) % AGENT_DISCOVER_EVERY == 0) agent_discover(ag);
  ag->round_open = true;
  for (size_t i = 0; i < ag->n_targets; i++) {
    agent_target *t = ag->targets[i];
    if (t->state != AT_UP) continue;
    if (!t->scraping) scrape(t);
    if (t->scraping && !t->in_round) {
      t->in_round = true;
      ag->round_pending++;
    }
  }
  if (ag->round_pending == 0) agent_round_done(ag);
}

/* --- discovery -------------------------------------------------------------------- */

static bool glob_ok(const agent *ag, const char *name) {
  bool in = ag->o.n_include == 0;
  for (size_t i = 0; !in && i < ag->o.n_include; i++) in = fnmatch(ag->o.include[i], name, 0) == 0;
  for (size_t i = 0; in && i < ag->o.n_exclude; i++) in = fnmatch(ag->o.exclude[i], name, 0) != 0;
  return in;
}

static void on_names(int status, const ep_epmd_name *names, size_t n, uint32_t epmd_port, void *ud) {
  struct agent_disc *d = ud;
  agent *ag = d->ag;
  const char *host = ag->o.discover[d->host];
  (void)epmd_port;
  d->pending = false;
  d->req = NULL;
  if (ag->stopping) return;
  if (status && d->logged_err != status) {
    agent_log(ag, "--discover %s: cannot list EPMD: %s", host, ep_tool_connect_reason(status));
    d->logged_err = status;
  } else if (!status && d->logged_err) {
    agent_log(ag, "--discover %s: EPMD answers again", host);
    d->logged_err = 0;
  }
  for (size_t i = 0; i < ag->n_targets; i++) ag->targets[i]->seen = false;
  for (size_t i = 0; !status && i < n; i++) {
    if (!glob_ok(ag, names[i].name)) continue;
    char full[512];
    snprintf(full, sizeof full, "%s@%s", names[i].name, host);
    agent_target *t = find(ag, full);
    if (!t) {
      if (!(t = agent_target_add(ag, full, (int)d->host))) continue;
      agent_log(ag, "%s: discovered in EPMD on %s", full, host);
    }
    t->seen = true;
    t->missing = 0;
  }
  /* A node that left EPMD is dropped after AGENT_DISCOVER_GRACE listings
   * without it (an EPMD that does not answer counts as a listing without it). */
  for (size_t i = 0; i < ag->n_targets;) {
    agent_target *t = ag->targets[i];
    if (t->discover_host == (int)d->host && !t->seen && ++t->missing >= AGENT_DISCOVER_GRACE) {
      agent_log(ag, "%s: left EPMD on %s: no longer watched", t->name, host);
      agent_target_remove(t); /* shifts the array: i stays */
      continue;
    }
    i++;
  }
}

void agent_discover(agent *ag) {
  if (!ag->disc) {
    if (!(ag->disc = calloc(ag->o.n_discover, sizeof *ag->disc))) return;
    for (size_t h = 0; h < ag->o.n_discover; h++) ag->disc[h].ag = ag, ag->disc[h].host = h;
  }
  for (size_t h = 0; h < ag->o.n_discover; h++) {
    struct agent_disc *d = &ag->disc[h];
    if (d->pending) continue;
    ep_epmd_client_opts *co = ep_epmd_client_opts_new();
    if (!co) return;
    ep_epmd_client_opts_set_host(co, ag->o.discover[h]);
    ep_epmd_client_opts_set_timeout(co, ag->o.interval_ms < 10000 ? (ag->o.interval_ms < 1000 ? 1000 : ag->o.interval_ms)
                                                                 : 10000);
    if (ep_epmd_names(ag->loop, co, on_names, d, &d->req) == 0) d->pending = true;
    ep_epmd_client_opts_free(co);
  }
}

void agent_targets_start(agent *ag) {
  for (size_t i = 0; i < ag->n_targets; i++) try_connect(ag->targets[i]);
}

void agent_discover_cancel(agent *ag) {
  for (size_t h = 0; ag->disc && h < ag->o.n_discover; h++)
    if (ag->disc[h].pending && ag->disc[h].req) ep_epmd_req_cancel(ag->disc[h].req);
}

void agent_targets_close(agent *ag) {
  while (ag->n_targets) agent_target_remove(ag->targets[ag->n_targets - 1]);
}
