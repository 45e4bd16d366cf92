%% etf_corpus: the BEAM side of tests/integration/test_etf_beam.c.
%%
%% emit(File): writes, for every term of the corpus (edge values of every tag,
%% then random terms from a fixed seed), a record
%%   <<PlainLen:32, Plain/binary, CompLen:32, Comp/binary>>
%% with Plain = term_to_binary(T, [{minor_version, 2}]) and
%% Comp = term_to_binary(T, [compressed, {minor_version, 2}]).
%%
%% check(OrigFile, OursFile): OursFile has the same record layout, written by
%% our codec. Every one of our encodings must binary_to_term to a term that is
%% =:= the original. Prints "checked N mismatches M" and exits 0 only when M = 0.
-module(etf_corpus).
-export([emit/1, check/2, corpus/0, emit_sorted/1]).

emit(File) ->
    Recs = [begin
                P = term_to_binary(T, [{minor_version, 2}]),
                C = term_to_binary(T, [compressed, {minor_version, 2}]),
                <<(byte_size(P)):32, P/binary, (byte_size(C)):32, C/binary>>
            end || T <- corpus()],
    ok = file:write_file(File, Recs),
    io:format("emitted ~p~n", [length(Recs)]).

%% emit_sorted(File): term_to_binary(lists:sort(Terms)) of a corpus without
%% the giant terms, for checking ep_term_cmp against the BEAM's order.
emit_sorted(File) ->
    Terms = [T || T <- corpus(), erts_debug:flat_size(T) < 20000],
    ok = file:write_file(File, term_to_binary(lists:sort(Terms), [{minor_version, 2}])),
    io:format("sorted ~p~n", [length(Terms)]).

check(OrigFile, OursFile) ->
    {ok, O} = file:read_file(OrigFile),
    {ok, U} = file:read_file(OursFile),
    {N, Bad} = check(O, U, 0, 0),
    io:format("checked ~p mismatches ~p~n", [N, Bad]),
    halt(if Bad =:= 0, N > 0 -> 0; true -> 1 end).

check(<<>>, <<>>, N, Bad) -> {N, Bad};
check(<<PL:32, P:PL/binary, CL:32, _:CL/binary, RestO/binary>>,
      <<UL:32, UP:UL/binary, VL:32, UC:VL/binary, RestU/binary>>, N, Bad) ->
    T = binary_to_term(P),
    Ok = (catch binary_to_term(UP)) =:= T andalso (catch binary_to_term(UC)) =:= T,
    case Ok of
        true -> ok;
        false when Bad < 5 -> io:format("mismatch #~p: ~p~n", [N, T]);
        false -> ok
    end,
    check(RestO, RestU, N + 1, if Ok -> Bad; true -> Bad + 1 end);
check(_, _, N, Bad) ->
    io:format("record streams differ in length after ~p~n", [N]),
    {N, Bad + 1}.

corpus() -> edges() ++ random_terms(3000).

edges() ->
    X = length(erlang:ports()) + 40, Y = {free, self(), node()},
    Port = case erlang:ports() of [P | _] -> P; [] -> self() end,
    Big = 1 bsl 8000,
    [0, 1, 255, 256, -1, -256, 2147483647, -2147483648, 2147483648, -2147483649,
     1 bsl 62, (1 bsl 63) - 1, 1 bsl 63, -(1 bsl 63), -(1 bsl 63) - 1, 1 bsl 64, -(1 bsl 64),
     (1 bsl 2040) - 1, 1 bsl 2040, Big, -Big, Big * 3 + 7,
     0.0, -0.0, 1.0, -1.5, 1.0e308, -1.0e308, 5.0e-324, 2.2250738585072014e-308, 3.141592653589793,
     '', a, ok, 'hello world', 'h\x{e9}', '\x{1F600}', '\x{4e2d}\x{6587}', list_to_atom(lists:duplicate(255, $x)),
     list_to_atom(lists:duplicate(255, 16#e9)), list_to_atom(lists:duplicate(200, 16#4e2d)),
     [], "a", "hello", lists:seq(0, 255), lists:duplicate(65535, 7), lists:duplicate(65536, 7),
     [1, 2, 300], [-1], [1.0], [a | b], [1, 2 | 3], [[]], [[[[[]]]]], "\x{100}abc",
     {}, {a}, {a, b, c}, list_to_tuple(lists:seq(1, 255)), list_to_tuple(lists:seq(1, 256)),
     list_to_tuple(lists:seq(1, 1000)),
     #{}, #{a => 1}, #{1 => 2, 1.0 => 3, "k" => v, <<"b">> => [], {t} => #{}},
     maps:from_list([{K, K * K} || K <- lists:seq(1, 32)]),
     maps:from_list([{K, K * K} || K <- lists:seq(1, 33)]),
     maps:from_list([{integer_to_binary(K), K} || K <- lists:seq(1, 1000)]),
     #{#{nested => key} => #{deep => #{deeper => []}}},
     <<>>, <<1, 2, 3>>, <<0:8000>>, binary:copy(<<"xyz">>, 100000),
     <<1:1>>, <<5:3>>, <<255, 1:7>>, <<"abc", 2:2>>,
     self(), Port, make_ref(), alias(), erlang:monitor(process, self()),
     fun lists:map/2, fun erlang:abs/1, fun ?MODULE:emit/1,
     fun() -> ok end, fun(A) -> A + X end, fun(A, B) -> {A, B, X, Y} end,
     fun(Z) -> fun() -> {Z, Y} end end,
     (fun(Z) -> fun() -> {Z, Y} end end)(1),
     {self(), make_ref(), [Port, #{pid => self()}], <<"bin">>, 1.5, -7, 1 bsl 100},
     nest_list(500), nest_tuple(500), nest_map(200)].

nest_list(0) -> [];
nest_list(N) -> [nest_list(N - 1)].
nest_tuple(0) -> {};
nest_tuple(N) -> {N, nest_tuple(N - 1)}.
nest_map(0) -> #{};
nest_map(N) -> #{N => nest_map(N - 1)}.

random_terms(N) ->
    rand:seed(exsss, {17, 4, 2026}),
    [gen(0) || _ <- lists:seq(1, N)].

gen(D) ->
    K = case D > 3 of true -> rand:uniform(10); false -> rand:uniform(17) end,
    case K of
        1 -> rand:uniform(256) - 1;
        2 -> rand:uniform(1 bsl 40) - (1 bsl 39);
        3 -> sign() * rand:uniform(1 bsl rand:uniform(300));
        4 -> sign() * rand:uniform() * math:pow(10, rand:uniform(600) - 300);
        5 -> rand_atom();
        6 -> rand:bytes(rand:uniform(41) - 1);
        7 -> B = rand:bytes(rand:uniform(5)), Bits = rand:uniform(7), <<B/binary, (rand:uniform(1 bsl Bits) - 1):Bits>>;
        8 -> [rand:uniform(256) - 1 || _ <- lists:seq(1, rand:uniform(20))];
        9 -> case rand:uniform(3) of 1 -> self(); 2 -> make_ref(); 3 -> hd(erlang:ports()) end;
        10 -> rand:normal();
        11 -> list_to_tuple([gen(D + 1) || _ <- lists:seq(1, rand:uniform(6) - 1)]);
        12 -> [gen(D + 1) || _ <- lists:seq(1, rand:uniform(6))];
        13 -> maps:from_list([{gen(D + 1), gen(D + 1)} || _ <- lists:seq(1, rand:uniform(8) - 1)]);
        14 -> [gen(D + 1) | gen(D + 1)];
        15 -> V = gen(D + 1), fun(A) -> {A, V} end;
        16 -> [rand:uniform(16#10FFFF) band 16#FFFF || _ <- lists:seq(1, rand:uniform(5))];
        17 -> maps:from_list([{I, gen(D + 1)} || I <- lists:seq(1, 30 + rand:uniform(10))])
    end.

sign() -> case rand:uniform(2) of 1 -> 1; 2 -> -1 end.

rand_atom() ->
    Chars = [case rand:uniform(4) of
                 1 -> $a + rand:uniform(26) - 1;
                 2 -> 16#c0 + rand:uniform(60);
                 3 -> 16#4e00 + rand:uniform(100);
                 4 -> $_
             end || _ <- lists:seq(1, rand:uniform(12) - 1)],
    list_to_atom(Chars).
