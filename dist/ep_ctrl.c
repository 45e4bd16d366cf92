/* ep_ctrl.c - distribution control messages: the control tuple (and its
 * payload) <-> ep_ctrl.
 *
 * Shapes (erts' dist.h / the distribution protocol document; every tuple
 * is the control term, "+ X" is the payload term that follows it):
 *
 *   LINK                    {1, FromPid, ToPid}
 *   SEND                    {2, Unused, ToPid} + Msg
 *   EXIT                    {3, FromPid, ToPid, Reason}
 *   UNLINK                  {4, FromPid, ToPid}
 *   NODE_LINK               {5}                      (obsolete, parsed only)
 *   REG_SEND                {6, FromPid, Unused, ToName} + Msg
 *   GROUP_LEADER            {7, FromPid, ToPid}
 *   EXIT2                   {8, FromPid, ToPid, Reason}
 *   SEND_TT                 {12, Unused, ToPid, Token} + Msg
 *   EXIT_TT                 {13, FromPid, ToPid, Token, Reason}
 *   REG_SEND_TT             {16, FromPid, Unused, ToName, Token} + Msg
 *   EXIT2_TT                {18, FromPid, ToPid, Token, Reason}
 *   MONITOR_P               {19, FromPid, ToProc, Ref}        ToProc: pid | name
 *   DEMONITOR_P             {20, FromPid, ToProc, Ref}
 *   MONITOR_P_EXIT          {21, FromProc, ToPid, Ref, Reason}
 *   SEND_SENDER             {22, FromPid, ToPid} + Msg
 *   SEND_SENDER_TT          {23, FromPid, ToPid, Token} + Msg
 *   PAYLOAD_EXIT            {24, FromPid, ToPid} + Reason
 *   PAYLOAD_EXIT_TT         {25, FromPid, ToPid, Token} + Reason
 *   PAYLOAD_EXIT2           {26, FromPid, ToPid} + Reason
 *   PAYLOAD_EXIT2_TT        {27, FromPid, ToPid, Token} + Reason
 *   PAYLOAD_MONITOR_P_EXIT  {28, FromProc, ToPid, Ref} + Reason
 *   SPAWN_REQUEST           {29, ReqId, From, GroupLeader, {M, F, Arity}, Opts} + Args
 *   SPAWN_REQUEST_TT        {30, ReqId, From, GroupLeader, {M, F, Arity}, Opts, Token} + Args
 *   SPAWN_REPLY             {31, ReqId, To, Flags, Result}     Result: pid | error atom
 *   SPAWN_REPLY_TT          {32, ReqId, To, Flags, Result, Token}
 *   ALIAS_SEND              {33, FromPid, Alias} + Msg
 *   ALIAS_SEND_TT           {34, FromPid, Alias, Token} + Msg
 *   UNLINK_ID               {35, Id, FromPid, ToPid}
 *   UNLINK_ID_ACK           {36, Id, FromPid, ToPid}
 */
#include <string.h>

#include "ep_dflags.h"
#include "ep_dist.h"
#include "ep_error.h"

/* --- parse ---------------------------------------------------------------------------- */

static bool is_pid(ep_term t) { return t.type == EP_T_PID; }
static bool is_ref(ep_term t) { return t.type == EP_T_REF; }
static bool is_proc(ep_term t) { return t.type == EP_T_PID || t.type == EP_T_ATOM; }
static bool is_proper_list(ep_term t) { return ep_list_len(t) >= 0 && ep_list_tail(t).type == EP_T_NIL; }

/* A non-negative integer that fits 64 bits (UNLINK_ID ids are unsigned). */
static bool get_u64(ep_term t, uint64_t *out) {
  if (t.type == EP_T_INT) {
    if (t.v.i < 0) return false;
    *out = (uint64_t)t.v.i;
    return true;
  }
  if (t.type == EP_T_BIG && t.aux == 0 && t.n <= 8) {
    uint64_t v = 0;
    for (uint32_t i = t.n; i-- > 0;) v = (v << 8) | t.v.bytes[i];
    *out = v;
    return true;
  }
  return false;
}

static void clear(ep_ctrl *c) {
  memset(c, 0, sizeof *c);
  c->from = c->to = c->ref = c->msg = c->reason = c->token = ep_none();
  c->group_leader = c->mfa = c->opts = c->result = ep_none();
}

int ep_ctrl_parse(ep_term control, ep_term payload, ep_ctrl *c) {
  clear(c);
  if (control.type != EP_T_TUPLE || control.n < 1 || control.v.items[0].type != EP_T_INT) return EP_ECONTROL;
  const ep_term *e = control.v.items;
  size_t n = control.n;
  int64_t op = e[0].v.i;
  bool has_payload = !ep_is_none(payload);
  bool want_payload = false;
  bool ok = false;

#define SHAPE(arity, payload_expected) ((n == (arity)) && (want_payload = (payload_expected), true))
  switch (op) {
    case EP_CTRL_LINK:
    case EP_CTRL_UNLINK:
    case EP_CTRL_GROUP_LEADER:
      /* {Op, FromPid, ToPid} */
      if (SHAPE(3, false) && is_pid(e[1]) && is_pid(e[2])) {
        c->op = (ep_ctrl_op)op;
        c->from = e[1], c->to = e[2];
        ok = true;
      }
      break;
    case EP_CTRL_NODE_LINK:
      if (SHAPE(1, false)) {
        c->op = EP_CTRL_NODE_LINK;
        ok = true;
      }
      break;
    case EP_CTRL_SEND:
    case EP_CTRL_SEND_TT:
      /* {2, Unused, ToPid} / {12, Unused, ToPid, Token} */
      if (SHAPE(op == EP_CTRL_SEND ? 3 : 4, true) && is_pid(e[2])) {
        c->op = EP_CTRL_SEND;
        c->to = e[2];
        if (op == EP_CTRL_SEND_TT) c->token = e[3];
        ok = true;
      }
      break;
    case EP_CTRL_SEND_SENDER:
    case EP_CTRL_SEND_SENDER_TT:
      /* {22, FromPid, ToPid} / {23, FromPid, ToPid, Token} */
      if (SHAPE(op == EP_CTRL_SEND_SENDER ? 3 : 4, true) && is_pid(e[1]) && is_pid(e[2])) {
        c->op = EP_CTRL_SEND;
        c->from = e[1], c->to = e[2];
        if (op == EP_CTRL_SEND_SENDER_TT) c->token = e[3];
        ok = true;
      }
      break;
    case EP_CTRL_REG_SEND:
    case EP_CTRL_REG_SEND_TT:
      /* {6, FromPid, Unused, ToName} / {16, FromPid, Unused, ToName, Token} */
      if (SHAPE(op == EP_CTRL_REG_SEND ? 4 : 5, true) && is_pid(e[1]) && ep_is_atom(e[3])) {
        c->op = EP_CTRL_REG_SEND;
        c->from = e[1], c->to = e[3];
        if (op == EP_CTRL_REG_SEND_TT) c->token = e[4];
        ok = true;
      }
      break;
    case EP_CTRL_ALIAS_SEND:
    case EP_CTRL_ALIAS_SEND_TT:
      /* {33, FromPid, Alias} / {34, FromPid, Alias, Token} */
      if (SHAPE(op == EP_CTRL_ALIAS_SEND ? 3 : 4, true) && is_pid(e[1]) && is_ref(e[2])) {
        c->op = EP_CTRL_ALIAS_SEND;
        c->from = e[1], c->to = e[2];
        if (op == EP_CTRL_ALIAS_SEND_TT) c->token = e[3];
        ok = true;
      }
      break;
    case EP_CTRL_EXIT:
    case EP_CTRL_EXIT2:
      /* {Op, FromPid, ToPid, Reason} */
      if (SHAPE(4, false) && is_pid(e[1]) && is_pid(e[2])) {
        c->op = (ep_ctrl_op)op;
        c->from = e[1], c->to = e[2], c->reason = e[3];
        ok = true;
      }
      break;
    case EP_CTRL_EXIT_TT:
    case EP_CTRL_EXIT2_TT:
      /* {Op, FromPid, ToPid, Token, Reason} */
      if (SHAPE(5, false) && is_pid(e[1]) && is_pid(e[2])) {
        c->op = op == EP_CTRL_EXIT_TT ? EP_CTRL_EXIT : EP_CTRL_EXIT2;
        c->from = e[1], c->to = e[2], c->token = e[3], c->reason = e[4];
        ok = true;
      }
      break;
    case EP_CTRL_PAYLOAD_EXIT:
    case EP_CTRL_PAYLOAD_EXIT2:
    case EP_CTRL_PAYLOAD_EXIT_TT:
    case EP_CTRL_PAYLOAD_EXIT2_TT: {
      /* {Op, FromPid, ToPid [, Token]} + Reason */
      bool tt = op == EP_CTRL_PAYLOAD_EXIT_TT || op == EP_CTRL_PAYLOAD_EXIT2_TT;
      if (SHAPE(tt ? 4 : 3, true) && is_pid(e[1]) && is_pid(e[2])) {
        c->op = (op == EP_CTRL_PAYLOAD_EXIT || op == EP_CTRL_PAYLOAD_EXIT_TT) ? EP_CTRL_EXIT : EP_CTRL_EXIT2;
        c->from = e[1], c->to = e[2];
        if (tt) c->token = e[3];
        c->reason = payload;
        ok = true;
      }
      break;
    }
    case EP_CTRL_MONITOR_P:
    case EP_CTRL_DEMONITOR_P:
      /* {Op, FromPid, ToProc, Ref} */
      if (SHAPE(4, false) && is_pid(e[1]) && is_proc(e[2]) && is_ref(e[3])) {
        c->op = (ep_ctrl_op)op;
        c->from = e[1], c->to = e[2], c->ref = e[3];
        ok = true;
      }
      break;
    case EP_CTRL_MONITOR_P_EXIT:
      /* {21, FromProc, ToPid, Ref, Reason} */
      if (SHAPE(5, false) && is_proc(e[1]) && is_pid(e[2]) && is_ref(e[3])) {
        c->op = EP_CTRL_MONITOR_P_EXIT;
        c->from = e[1], c->to = e[2], c->ref = e[3], c->reason = e[4];
        ok = true;
      }
      break;
    case EP_CTRL_PAYLOAD_MONITOR_P_EXIT:
      /* {28, FromProc, ToPid, Ref} + Reason */
      if (SHAPE(4, true) && is_proc(e[1]) && is_pid(e[2]) && is_ref(e[3])) {
        c->op = EP_CTRL_MONITOR_P_EXIT;
        c->from = e[1], c->to = e[2], c->ref = e[3], c->reason = payload;
        ok = true;
      }
      break;
    case EP_CTRL_SPAWN_REQUEST:
    case EP_CTRL_SPAWN_REQUEST_TT: {
      /* {29, ReqId, From, GroupLeader, {M, F, Arity}, Opts [, Token]} + Args */
      bool tt = op == EP_CTRL_SPAWN_REQUEST_TT;
      if (SHAPE(tt ? 7 : 6, true) && is_ref(e[1]) && is_pid(e[2]) && is_pid(e[3]) && e[4].type == EP_T_TUPLE &&
          e[4].n == 3 && ep_is_atom(e[4].v.items[0]) && ep_is_atom(e[4].v.items[1]) &&
          e[4].v.items[2].type == EP_T_INT && e[4].v.items[2].v.i >= 0 && e[4].v.items[2].v.i <= 255 &&
          is_proper_list(e[5]) && is_proper_list(payload)) {
        c->op = EP_CTRL_SPAWN_REQUEST;
        c->ref = e[1], c->from = e[2], c->group_leader = e[3], c->mfa = e[4], c->opts = e[5];
        if (tt) c->token = e[6];
        c->msg = payload;
        ok = true;
      }
      break;
    }
    case EP_CTRL_SPAWN_REPLY:
    case EP_CTRL_SPAWN_REPLY_TT: {
      /* {31, ReqId, To, Flags, Result [, Token]} */
      bool tt = op == EP_CTRL_SPAWN_REPLY_TT;
      if (SHAPE(tt ? 6 : 5, false) && is_ref(e[1]) && is_pid(e[2]) && e[3].type == EP_T_INT && e[3].v.i >= 0 &&
          e[3].v.i <= UINT32_MAX && is_proc(e[4])) {
        c->op = EP_CTRL_SPAWN_REPLY;
        c->ref = e[1], c->to = e[2], c->spawn_flags = (uint32_t)e[3].v.i, c->result = e[4];
        if (tt) c->token = e[5];
        ok = true;
      }
      break;
    }
    case EP_CTRL_UNLINK_ID:
    case EP_CTRL_UNLINK_ID_ACK:
      /* {Op, Id, FromPid, ToPid} */
      if (SHAPE(4, false) && get_u64(e[1], &c->id) && is_pid(e[2]) && is_pid(e[3])) {
        c->op = (ep_ctrl_op)op;
        c->from = e[2], c->to = e[3];
        ok = true;
      }
      break;
    default: break;
  }
#undef SHAPE
  if (!ok || want_payload != has_payload) {
    clear(c);
    return EP_ECONTROL;
  }
  /* The sends carry their message as the payload. */
  if (c->op == EP_CTRL_SEND || c->op == EP_CTRL_REG_SEND || c->op == EP_CTRL_ALIAS_SEND) c->msg = payload;
  return 0;
}

/* --- build ---------------------------------------------------------------------------- */

static ep_term op_int(int op) { return ep_int(op); }

int ep_ctrl_build(ep_arena *a, const ep_ctrl *c, uint64_t flags, ep_term *control, ep_term *payload) {
  ep_term ctl = ep_none(), pl = ep_none();
  bool tt = !ep_is_none(c->token);
  bool exit_payload = (flags & EP_DFLAG_EXIT_PAYLOAD) != 0;
  *control = ep_none();
  *payload = ep_none();

  switch (c->op) {
    case EP_CTRL_LINK:
    case EP_CTRL_GROUP_LEADER:
      if (!is_pid(c->from) || !is_pid(c->to) || tt) return EP_EINVAL;
      ctl = EP_TUPLE(a, op_int(c->op), c->from, c->to);
      break;
    case EP_CTRL_UNLINK:
    case EP_CTRL_UNLINK_ID:
      if (!is_pid(c->from) || !is_pid(c->to) || tt) return EP_EINVAL;
      /* The id protocol when both sides have it (OTP 26 requires it);
       * the old UNLINK otherwise. */
      if (flags & EP_DFLAG_UNLINK_ID)
        ctl = EP_TUPLE(a, op_int(EP_CTRL_UNLINK_ID), ep_uint64(a, c->id), c->from, c->to);
      else
        ctl = EP_TUPLE(a, op_int(EP_CTRL_UNLINK), c->from, c->to);
      break;
    case EP_CTRL_UNLINK_ID_ACK:
      if (!(flags & EP_DFLAG_UNLINK_ID) || !is_pid(c->from) || !is_pid(c->to) || tt) return EP_EINVAL;
      ctl = EP_TUPLE(a, op_int(EP_CTRL_UNLINK_ID_ACK), ep_uint64(a, c->id), c->from, c->to);
      break;
    case EP_CTRL_SEND:
      if (!is_pid(c->to) || ep_is_none(c->msg)) return EP_EINVAL;
      if (is_pid(c->from) && (flags & EP_DFLAG_SEND_SENDER))
        ctl = tt ? EP_TUPLE(a, op_int(EP_CTRL_SEND_SENDER_TT), c->from, c->to, c->token)
                 : EP_TUPLE(a, op_int(EP_CTRL_SEND_SENDER), c->from, c->to);
      else
        ctl = tt ? EP_TUPLE(a, op_int(EP_CTRL_SEND_TT), ep_atom(""), c->to, c->token)
                 : EP_TUPLE(a, op_int(EP_CTRL_SEND), ep_atom(""), c->to);
      pl = c->msg;
      break;
    case EP_CTRL_REG_SEND:
      if (!is_pid(c->from) || !ep_is_atom(c->to) || ep_is_none(c->msg)) return EP_EINVAL;
      ctl = tt ? EP_TUPLE(a, op_int(EP_CTRL_REG_SEND_TT), c->from, ep_atom(""), c->to, c->token)
               : EP_TUPLE(a, op_int(EP_CTRL_REG_SEND), c->from, ep_atom(""), c->to);
      pl = c->msg;
      break;
    case EP_CTRL_ALIAS_SEND:
      if (!(flags & EP_DFLAG_ALIAS) || !is_pid(c->from) || !is_ref(c->to) || ep_is_none(c->msg))
        return EP_EINVAL;
      ctl = tt ? EP_TUPLE(a, op_int(EP_CTRL_ALIAS_SEND_TT), c->from, c->to, c->token)
               : EP_TUPLE(a, op_int(EP_CTRL_ALIAS_SEND), c->from, c->to);
      pl = c->msg;
      break;
    case EP_CTRL_EXIT:
    case EP_CTRL_EXIT2: {
      if (!is_pid(c->from) || !is_pid(c->to) || ep_is_none(c->reason)) return EP_EINVAL;
      bool x2 = c->op == EP_CTRL_EXIT2;
      if (exit_payload) {
        int o = x2 ? (tt ? EP_CTRL_PAYLOAD_EXIT2_TT : EP_CTRL_PAYLOAD_EXIT2)
                   : (tt ? EP_CTRL_PAYLOAD_EXIT_TT : EP_CTRL_PAYLOAD_EXIT);
        ctl = tt ? EP_TUPLE(a, op_int(o), c->from, c->to, c->token) : EP_TUPLE(a, op_int(o), c->from, c->to);
        pl = c->reason;
      } else {
        int o = x2 ? (tt ? EP_CTRL_EXIT2_TT : EP_CTRL_EXIT2) : (tt ? EP_CTRL_EXIT_TT : EP_CTRL_EXIT);
        ctl = tt ? EP_TUPLE(a, op_int(o), c->from, c->to, c->token, c->reason)
                 : EP_TUPLE(a, op_int(o), c->from, c->to, c->reason);
      }
      break;
    }
    case EP_CTRL_MONITOR_P:
    case EP_CTRL_DEMONITOR_P:
      if (!(flags & EP_DFLAG_DIST_MONITOR) || !is_pid(c->from) || !is_proc(c->to) || !is_ref(c->ref) || tt)
        return EP_EINVAL;
      if (ep_is_atom(c->to) && !(flags & EP_DFLAG_DIST_MONITOR_NAME)) return EP_EINVAL;
      ctl = EP_TUPLE(a, op_int(c->op), c->from, c->to, c->ref);
      break;
    case EP_CTRL_MONITOR_P_EXIT:
      if (!(flags & EP_DFLAG_DIST_MONITOR) || !is_proc(c->from) || !is_pid(c->to) || !is_ref(c->ref) ||
          ep_is_none(c->reason) || tt)
        return EP_EINVAL;
      if (exit_payload) {
        ctl = EP_TUPLE(a, op_int(EP_CTRL_PAYLOAD_MONITOR_P_EXIT), c->from, c->to, c->ref);
        pl = c->reason;
      } else {
        ctl = EP_TUPLE(a, op_int(EP_CTRL_MONITOR_P_EXIT), c->from, c->to, c->ref, c->reason);
      }
      break;
    case EP_CTRL_SPAWN_REQUEST:
      if (!(flags & EP_DFLAG_SPAWN) || !is_ref(c->ref) || !is_pid(c->from) || !is_pid(c->group_leader) ||
          !(c->mfa.type == EP_T_TUPLE && c->mfa.n == 3) || !is_proper_list(c->opts) || !is_proper_list(c->msg))
        return EP_EINVAL;
      ctl = tt ? EP_TUPLE(a, op_int(EP_CTRL_SPAWN_REQUEST_TT), c->ref, c->from, c->group_leader, c->mfa, c->opts,
                          c->token)
               : EP_TUPLE(a, op_int(EP_CTRL_SPAWN_REQUEST), c->ref, c->from, c->group_leader, c->mfa, c->opts);
      pl = c->msg;
      break;
    case EP_CTRL_SPAWN_REPLY:
      if (!(flags & EP_DFLAG_SPAWN) || !is_ref(c->ref) || !is_pid(c->to) || !is_proc(c->result)) return EP_EINVAL;
      ctl = tt ? EP_TUPLE(a, op_int(EP_CTRL_SPAWN_REPLY_TT), c->ref, c->to, ep_int(c->spawn_flags), c->result,
                          c->token)
               : EP_TUPLE(a, op_int(EP_CTRL_SPAWN_REPLY), c->ref, c->to, ep_int(c->spawn_flags), c->result);
      break;
    default: return EP_EINVAL; /* NODE_LINK and the wire-only _TT / PAYLOAD_ codes */
  }
  if (ep_is_none(ctl)) return EP_ENOMEM;
  *control = ctl;
  *payload = pl;
  return 0;
}
