#!/usr/bin/env bash
# Job history: jobs and every return survive a master restart; jobs show
# prints and exits like the live job; a late return still lands.
. "$(dirname "$0")/lib.sh"

test_expect_success 'set-up: master and three minions' '
    start_master && start_and_accept m1 m2 m3
'

test_expect_success 'jobs and their returns are kept' '
    mctl "*" test.ping > /dev/null &&
    { mctl "*" cmd.run "echo out-\$(hostname); exit 3" > /dev/null 2>&1; test $? = 1; } &&
    mctl --out json jobs list > list.json &&
    python3 - <<PY
import json
jobs = json.load(open("list.json"))
funs = [j["fun"] for j in jobs]
assert funs[:2] == ["cmd.run", "test.ping"], funs
assert jobs[0]["returned"] == 3 and jobs[0]["failed"] == 3, jobs[0]
assert jobs[1]["returned"] == 3 and jobs[1]["failed"] == 0, jobs[1]
PY
'

test_expect_success 'they survive a master restart, and show exits like the job' '
    ping=$(mctl --out json jobs list --fun test.ping --limit 1 | python3 -c "import json,sys; print(json.load(sys.stdin)[0][\"jid\"])") &&
    run=$(mctl --out json jobs list --fun "cmd.*" --limit 1 | python3 -c "import json,sys; print(json.load(sys.stdin)[0][\"jid\"])") &&
    stop_daemon master && restart_master &&
    mctl jobs show "$ping" > show.txt &&
    test "$(grep -c "^    True$" show.txt)" = 3 &&
    { mctl jobs show "$run" > show.txt 2> err.txt; test $? = 1; } &&
    grep -q "^    out-" show.txt &&
    grep -q "non-zero exit code" err.txt &&
    mctl jobs list | grep -q "^$run .* cmd.run .*3/3"
'

test_expect_success 'a minion that never returned is listed, and show exits 2' '
    wait_until 30 mctl -t 3 --gather-timeout 1 "*" test.ping &&
    stop_daemon m3 &&
    { mctl --gather-timeout 1 "*" test.ping > /dev/null 2>&1; test $? = 2; } &&
    jid=$(mctl --out json jobs list --limit 1 | python3 -c "import json,sys; print(json.load(sys.stdin)[0][\"jid\"])") &&
    { mctl jobs show "$jid" > show.txt 2>&1; test $? = 2; } &&
    grep -A1 "^m3:$" show.txt | grep -q "Minion did not return" &&
    mctl jobs list --limit 1 | grep -qE " 2/3 +0 +1$"
'

test_expect_success 'a return that arrives after the client gave up still lands in history' '
    restart_minion m3 &&
    wait_until 20 mctl -t 3 --gather-timeout 1 m3 test.ping &&
    { timeout 1 "$BIN/mctl" -t 30 m1 test.sleep 3 > /dev/null 2>&1; test $? = 124; } &&
    jid=$(mctl --out json jobs list --fun test.sleep --limit 1 | python3 -c "import json,sys; print(json.load(sys.stdin)[0][\"jid\"])") &&
    wait_until 15 mctl jobs show "$jid"
'

test_expect_success 'bad input to jobs is an error' '
    { mctl jobs show 123 2> err.txt; test $? = 64; } && grep -q "not a job id" err.txt &&
    { mctl jobs show 20000101000000000000 2> err.txt; test $? = 1; } && grep -q "no job" err.txt &&
    { mctl jobs list --since yesterday 2> err.txt; test $? = 64; } &&
    { mctl jobs frob 2> err.txt; test $? = 64; } &&
    test "$(mctl --out json jobs list --since 1h | python3 -c "import json,sys; print(len(json.load(sys.stdin)) > 0)")" = True &&
    test "$(mctl --out json jobs list --since 2100-01-01)" = "[]"
'

test_expect_success 'the job cache is private to the master' '
    test "$(stat -c %a "$T/cache/master/jobs.db")" = 600
'

test_done
