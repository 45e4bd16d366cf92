/* A program outside the tree, built against the installed erlpeer. */
#include <erlpeer/erlpeer.h>
#include <stdio.h>

int main(void) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term t = EP_TUPLE(a, ep_atom("call"), ep_atom("lists"), ep_atom("seq"), EP_LIST(a, ep_int(1), ep_int(10)));
  int ok = ep_is_record(t, "call", 4);
  ep_arena_free(a);
  printf("consumer: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
