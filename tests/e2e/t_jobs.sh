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

spool_empty() { [ -z "$("$BIN/mctl-minion" -c "$T/etc/$1" --spool)" ]; }
spooled() { [ -n "$("$BIN/mctl-minion" -c "$T/etc/$1" --spool)" ]; }
jid_returned() { # jid_returned JID N: jobs show has N returns
    [ "$(mctl --out json jobs show "$1" | python3 -c "import json,sys; print(sum(1 for v in json.load(sys.stdin).values() if v is True))")" = "$2" ]
}

test_expect_success 'async, then jobs wait: the returns so far, then the rest as they come' '
    jid=$(mctl --async "*" test.sleep 2 | grep -oE "[0-9]{20}") &&
    mctl jobs wait "$jid" > wait.txt &&
    test "$(grep -c "^    True$" wait.txt)" = 3 &&
    mctl jobs wait "$jid" > again.txt &&
    test "$(grep -c "^    True$" again.txt)" = 3
'

test_expect_success 'jobs wait waits as long as the job has left, not its own -t' '
    jid=$(mctl --async -t 30 m1 test.sleep 7 | grep -oE "[0-9]{20}") &&
    mctl -t 1 jobs wait "$jid" > wait.txt &&
    cat wait.txt &&
    grep -q "^    True$" wait.txt
'

test_expect_success 'a stored return leaves the minion spool' '
    mctl "*" test.ping > /dev/null &&
    wait_until 10 spool_empty m1 && wait_until 10 spool_empty m2 && wait_until 10 spool_empty m3
'

test_expect_success 'master killed mid-job: the returns wait in the spools and land after restart' '
    jid=$(mctl --async "*" test.sleep 3 | grep -oE "[0-9]{20}") &&
    wait_until 10 grep -q "job $jid: test.sleep" "$T/log/m1" &&
    stop_daemon master KILL &&
    wait_until 20 spooled m1 && wait_until 20 spooled m2 && wait_until 20 spooled m3 &&
    "$BIN/mctl-minion" -c "$T/etc/m1" --spool | grep -q "^$jid [0-9]" &&
    restart_master &&
    start=$(date +%s) &&
    wait_until 20 jid_returned "$jid" 3 &&
    test $(( $(date +%s) - start )) -le 10 &&
    wait_until 10 spool_empty m1 && wait_until 10 spool_empty m2 && wait_until 10 spool_empty m3 &&
    mctl jobs show "$jid" > show.txt &&
    test "$(grep -c "^    True$" show.txt)" = 3
'

test_expect_success 'after resends, each return is stored exactly once' '
    jid=$(mctl --out json jobs list --fun test.sleep --limit 1 | python3 -c "import json,sys; print(json.load(sys.stdin)[0][\"jid\"])") &&
    test "$(sqlite3 "$T/cache/master/jobs.db" "SELECT count(*) FROM returns WHERE jid = '"'"'$jid'"'"'")" = 3
'

test_expect_success 'jobs.running lists a running job; jobs kill stops it within a second' '
    marker="sleep 60.$$$RANDOM" &&
    { mctl -t 120 m2 cmd.run "$marker" > killed.txt 2>&1 & } &&
    client=$! &&
    wait_until 10 pgrep -f "^$marker" &&
    jid=$(mctl --out json jobs list --fun cmd.run --limit 1 | python3 -c "import json,sys; print(json.load(sys.stdin)[0][\"jid\"])") &&
    mctl m2 jobs.running | grep -q "$jid" &&
    start=$(date +%s%N) &&
    mctl jobs kill "$jid" > kill.txt &&
    grep -q "Signal sent to job $jid" kill.txt &&
    wait_until 3 sh -c "! pgrep -f \"^$marker\"" &&
    test $(( ($(date +%s%N) - start) / 1000000 )) -lt 1500 &&
    { wait $client; test $? = 1; } &&
    grep -q "killed on request" killed.txt &&
    { mctl jobs show "$jid" > show.txt 2>&1; test $? = 1; } &&
    grep -q "killed on request" show.txt
'

test_expect_success 'jobs kill of a job that is not running says so' '
    jid=$(mctl --out json jobs list --fun test.ping --limit 1 | python3 -c "import json,sys; print(json.load(sys.stdin)[0][\"jid\"])") &&
    { mctl jobs kill "$jid" > out.txt 2>&1; test $? = 1; } &&
    grep -q "is not running here" out.txt
'

test_expect_success 'SIGTERM on a minion: running jobs finish within the grace, the rest are killed and reported' '
    stop_daemon m3 &&
    echo "shutdown_grace: 3" >> "$T/etc/m3/minion" &&
    restart_minion m3 &&
    wait_until 20 mctl -t 3 --gather-timeout 1 m3 test.ping &&
    quick=$(mctl --async m3 cmd.run "sleep 1; echo finished" | grep -oE "[0-9]{20}") &&
    slow=$(mctl --async m3 test.sleep 60 | grep -oE "[0-9]{20}") &&
    wait_until 10 grep -q "job $slow: test.sleep" "$T/log/m3" &&
    start=$(date +%s) &&
    kill -TERM ${DAEMON_PIDS[m3]} &&
    { wait ${DAEMON_PIDS[m3]}; test $? = 0; } &&
    unset "DAEMON_PIDS[m3]" &&
    test $(( $(date +%s) - start )) -le 8 &&
    grep -q "running jobs have 3 s to finish" "$T/log/m3" &&
    wait_until 10 mctl jobs show "$quick" &&
    mctl jobs show "$quick" | grep -q "^    finished$" &&
    wait_until 10 sh -c "\"$BIN/mctl\" jobs show $slow 2>&1 | grep -q \"killed on request\""
'

job_gone() { ! "$BIN/mctl" jobs list --limit 10000 | grep -q "^$1 "; }

test_expect_success 'keep_jobs: jobs older than it are pruned, newer ones stay' '
    recent=$(mctl --out json jobs list --limit 1 | python3 -c "import json,sys; print(json.load(sys.stdin)[0][\"jid\"])") &&
    stop_daemon master &&
    old_ts=$(( ($(date +%s) - 2 * 86400) * 1000000 )) &&
    sqlite3 "$T/cache/master/jobs.db" "INSERT INTO jobs(jid, fun, tgt, tgt_type, user, ts, arg, kwarg) VALUES ('"'"'20200101000000000001'"'"', '"'"'test.ping'"'"', '"'"'*'"'"', '"'"'glob'"'"', '"'"'root'"'"', $old_ts, NULL, NULL); INSERT INTO job_minions(jid, id) VALUES ('"'"'20200101000000000001'"'"', '"'"'m1'"'"');" &&
    test "$(sqlite3 "$T/cache/master/jobs.db" "SELECT count(*) FROM jobs WHERE ts < $old_ts + 1")" = 1 &&
    restart_master &&
    wait_until 10 job_gone 20200101000000000001 &&
    mctl jobs list --limit 1000 | grep -q "^$recent " &&
    grep -q "pruned 1 jobs older than 24 hours" "$T/log/master"
'

test_expect_success 'jobs show brings back returns larger together than any one message' '
    MINION_EXTRA=("output_max: 7000000") && start_and_accept big1 big2 big3 && MINION_EXTRA=() &&
    jid=$(mctl --async -L big1,big2,big3 cmd.run "yes x | head -c 6000000" |
          grep -oE "[0-9]{20}") &&
    mctl jobs wait "$jid" --out json > run.json &&
    mctl jobs show "$jid" --out json > show.json &&
    test "$(wc -c < show.json)" -gt 18000000 &&
    cmp run.json show.json
'

test_expect_success 'bad input to jobs is an error' '
    { mctl jobs show 123 2> err.txt; test $? = 64; } && grep -q "not a job id" err.txt &&
    { mctl jobs show 20000101000000000000 2> err.txt; test $? = 1; } && grep -q "no job" err.txt &&
    { mctl jobs list --since yesterday 2> err.txt; test $? = 64; } &&
    { mctl jobs frob 2> err.txt; test $? = 64; } &&
    { mctl jobs list --limit 10001 2> err.txt; test $? = 64; } && grep -q "from 1 to 10000" err.txt &&
    test "$(mctl --out json jobs list --since 1h | python3 -c "import json,sys; print(len(json.load(sys.stdin)) > 0)")" = True &&
    test "$(mctl --out json jobs list --since 2100-01-01)" = "[]"
'

test_expect_success 'the job cache is private to the master' '
    test "$(stat -c %a "$T/cache/master/jobs.db")" = 600
'

test_expect_success 'a job cache of schema version 1 is upgraded in place, its jobs kept' '
    stop_daemon master &&
    db=$T/cache/master/jobs.db &&
    mv "$db" "$T/jobs.db.v2" && rm -f "$db-wal" "$db-shm" &&
    sqlite3 "$db" "CREATE TABLE jobs(jid TEXT PRIMARY KEY, fun TEXT NOT NULL, tgt TEXT NOT NULL, tgt_type TEXT NOT NULL, user TEXT NOT NULL, ts INTEGER NOT NULL, arg BLOB, kwarg BLOB); CREATE INDEX jobs_ts ON jobs(ts); CREATE TABLE job_minions(jid TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY(jid, id)) WITHOUT ROWID; CREATE TABLE returns(jid TEXT NOT NULL, id TEXT NOT NULL, retcode INTEGER NOT NULL, success INTEGER NOT NULL, ret BLOB NOT NULL, PRIMARY KEY(jid, id)) WITHOUT ROWID; INSERT INTO jobs VALUES ('"'"'20991231000000000001'"'"', '"'"'test.ping'"'"', '"'"'*'"'"', '"'"'glob'"'"', '"'"'root'"'"', 4102358400000000, NULL, NULL); INSERT INTO job_minions VALUES ('"'"'20991231000000000001'"'"', '"'"'m1'"'"'); PRAGMA user_version = 1;" &&
    restart_master &&
    grep -q "job cache: schema upgraded from version 1 to 3" "$T/log/master" &&
    test "$(sqlite3 "$db" "PRAGMA user_version")" = 3 &&
    { mctl jobs show 20991231000000000001 > show.txt; test $? = 2; } &&
    grep -A1 "^m1:$" show.txt | grep -q "Minion did not return. \[No response\]" &&
    wait_until 20 mctl -t 3 --gather-timeout 1 m1 test.ping
'

test_done
