%% agent_collector - the bench's in-node baseline for erlpeer agent
%% (bench/bench_agent.sh): the same BIFs as one agent scrape (the per-scrape ones; agent_metrics.c), called in the
%% node itself, as an in-node collector such as prometheus.erl's would.
-module(agent_collector).
-export([run/2]).

%% run(K, bifs | text): K collections in this process. Returns
%% {Reductions, Microseconds} for all K (wall time of this busy process).
run(K, Mode) ->
    {reductions, R0} = process_info(self(), reductions),
    T0 = erlang:monotonic_time(microsecond),
    loop(K, Mode),
    T1 = erlang:monotonic_time(microsecond),
    {reductions, R1} = process_info(self(), reductions),
    {R1 - R0, T1 - T0}.

loop(0, _) -> ok;
loop(K, bifs) -> _ = collect(), loop(K - 1, bifs);
loop(K, text) -> _ = iolist_to_binary(render(collect())), loop(K - 1, text).

collect() ->
    [erlang:memory(),
     erlang:system_info(process_count), erlang:system_info(port_count),
     erlang:system_info(atom_count), erlang:system_info(ets_count),
     erlang:statistics(run_queue_lengths_all), erlang:statistics(io),
     erlang:statistics(context_switches), erlang:statistics(garbage_collection),
     erlang:statistics(reductions), erlang:statistics(runtime),
     erlang:statistics(wall_clock), erlang:system_info(schedulers_online),
     erlang:system_info(dirty_cpu_schedulers_online),
     erlang:system_info(logical_processors),
     erlang:system_info(logical_processors_available),
     erlang:system_info(logical_processors_online),
     erlang:nodes(connected)].

%% The text exposition of those figures, one line each, as a collector
%% that serves /metrics from the node renders it.
render(Values) ->
    Node = atom_to_list(node()),
    Flat = lists:flatten([flat(V) || V <- Values]),
    [io_lib:format("erlang_vm_value_~b{node=\"~s\"} ~p~n", [I, Node, V])
     || {I, V} <- lists:zip(lists:seq(1, length(Flat)), Flat)].

flat(L) when is_list(L) -> [flat(X) || X <- L];
flat({_, V}) when is_integer(V) -> V;
flat({A, B}) -> [flat(A), flat(B)];
flat({A, B, C}) -> [A, B, C];
flat(A) when is_atom(A) -> 3;
flat(V) -> V.
