#!/usr/bin/env bash
# The job history in PostgreSQL (master_job_cache: postgres): a real server,
# made here with initdb and started with pg_ctl as the unprivileged user
# postgres in this test's folder, stopped at the end. Jobs and returns land
# there; the history survives a master restart; with the database stopped
# for ten seconds under load nothing is lost and nothing doubled. (Skipped
# unless root with Debian's postgresql server installed.)
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/pglib.sh"
history_count() { mctl --out json jobs list --limit 10000 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
# For wait_until, evaluated at each poll: the database holds N jobs (jobs
# list would count those still queued too).
stored_jobs() { psql_q "SELECT count(*) FROM jobs"; }
history_is() { query_is "SELECT count(*) FROM jobs" "$1"; }

test_expect_success 'set-up: a PostgreSQL server of its own, a master on it, two minions' '
    pg_setup &&
    { getent group mctlpg > /dev/null || groupadd mctlpg; } &&
    { id -u mctl_pgk > /dev/null 2>&1 || useradd -M -N -g mctlpg -s /usr/sbin/nologin mctl_pgk; } &&
    start_master "master_job_cache: postgres" "postgres_dsn: \"$DSN\"" \
        "client_group: mctlpg" "publisher_acl:" "  mctl_pgk:" "    - jobs.kill" &&
    grep -q "created schema version 3" "$T/log/master" &&
    start_and_accept pg1 pg2
'

test_expect_success 'jobs and returns are stored in PostgreSQL, not in a local file' '
    mctl -L pg1,pg2 cmd.run "echo stored" > /dev/null &&
    jid=$(mctl --async "*" test.echo hello | grep -oE "[0-9]{20}") &&
    wait_until 10 query_is "SELECT count(*) FROM returns WHERE jid = '\''$jid'\''" 2 &&
    mctl jobs show "$jid" > shown.txt && test "$(grep -c hello shown.txt)" = 2 &&
    mctl --out json jobs list --fun "test.e*" | grep -q "\"jid\": \"$jid\"" &&
    mctl --out json jobs list --target "[*]" | grep -q "\"jid\": \"$jid\"" &&
    mctl --out json jobs list --fun "test.[^p]*" | grep -q "\"jid\": \"$jid\"" &&
    ! mctl --out json jobs list --fun "test.[^e]*" | grep -q "\"jid\": \"$jid\"" &&
    ! test -e "$T/cache/master/jobs.db"
'

test_expect_success 'the history survives a master restart' '
    before=$(history_count) && test "$before" -ge 3 &&
    stop_daemon master && restart_master &&
    test "$(history_count)" = "$before" &&
    ! grep -q "created schema" <(tail -n 20 "$T/log/master")
'

test_expect_success 'the database stopped for 10 s under load: jobs still run, nothing lost, nothing doubled' '
    wait_until 20 mctl -t 3 --gather-timeout 1 "*" test.ping &&
    wait_until 10 eval "test \$(stored_jobs) = \$(history_count)" &&
    before=$(stored_jobs) &&
    pg_stop &&
    end=$((SECONDS + 10)) && n=0 &&
    while [ $SECONDS -lt $end ]; do
        mctl -t 5 "*" test.ping > run.txt 2>&1 || { cat run.txt; return 1; }
        n=$((n + 1))
    done &&
    test "$n" -ge 5 &&
    grep -q "wait in memory" "$T/log/master" &&
    pg_start &&
    wait_until 60 history_is "$((before + n))" &&
    wait_until 30 query_is "SELECT count(*) FROM (SELECT jid FROM jobs ORDER BY jid DESC LIMIT $n) j
                            JOIN returns r USING (jid)" "$((2 * n))" &&
    test "$(psql_q "SELECT count(*) FROM (SELECT jid, id FROM returns GROUP BY jid, id
                    HAVING count(*) > 1) d")" = 0 &&
    grep -q "writing again after" "$T/log/master"
'

echo_shown() { test "$(mctl jobs show "$1" 2>/dev/null | grep -c "$2")" = 2; }
stored_returns() { psql_q "SELECT count(*) FROM returns WHERE jid = '$1'"; }

test_expect_success 'while the database is down, jobs show and jobs wait read a job not stored yet from the queue' '
    wait_until 20 mctl -t 3 --gather-timeout 1 "*" test.ping &&
    pg_stop &&
    jid=$(mctl --async "*" test.echo queued-while-down | grep -oE "[0-9]{20}") &&
    wait_until 15 echo_shown "$jid" queued-while-down &&
    mctl jobs wait "$jid" > wait.txt &&
    test "$(grep -c queued-while-down wait.txt)" = 2 &&
    pg_start &&
    wait_until 60 eval "test \"\$(stored_returns $jid)\" = 2" &&
    echo_shown "$jid" queued-while-down
'

ping_returns() { psql_q "SELECT count(*) FROM returns r JOIN jobs j USING (jid) WHERE j.fun = 'test.ping'"; }
returns_lock_held() {
    query_is "SELECT count(*) FROM pg_locks WHERE relation = 'returns'::regclass
              AND mode = 'AccessExclusiveLock' AND granted" 1
}

# Another session holds the returns table locked for 12 s ($locker).
lock_returns() {
    as_pg "$PGBIN/psql" -h "$PGDIR/sock" -p "$PGPORT" -d mctl -q \
        -c "BEGIN; LOCK TABLE returns IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(12); COMMIT;" \
        > locker.out 2>&1 &
    locker=$!
    EXTRA_PIDS+=("$locker")
    wait_until 5 returns_lock_held
}

# Three pings, timed without the python3 that reads their answers (its
# start alone is a third of a second here): the answers are checked after.
three_pings() {
    for i in 1 2 3; do
        mctl --out json -t 5 "*" test.ping > "ping$i.json" 2> "ping$i.err" || { cat "ping$i.json" "ping$i.err"; return 1; }
    done
}
ids_in() { python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin))))' < "$1" 2>/dev/null; }
pings_answered() {
    for i in 1 2 3; do
        test "$(ids_in "ping$i.json")" = "pg1 pg2" || { cat "ping$i.json"; return 1; }
    done
}

# A session holds the returns table locked for 12 s: each write the master
# tries waits 5 s (lock_timeout) and fails. Jobs must not wait with it.
test_expect_success 'a database that stalls the writes does not slow jobs down' '
    wait_until 20 mctl -t 3 --gather-timeout 1 "*" test.ping &&
    before=$(ping_returns) &&
    lock_returns &&
    t0=$(date +%s%N) &&
    three_pings &&
    t1=$(date +%s%N) &&
    echo "figure: three pings while the writes stall: $(( (t1 - t0) / 1000000 )) ms" &&
    pings_answered &&
    test $(( (t1 - t0) / 1000000 )) -lt 4000 &&
    wait "$locker" &&
    wait_until 30 eval "test \$(ping_returns) -ge \$((before + 6))"
'

# The same lock while a master starts: it prunes the history (keep_jobs)
# at once, in the job cache's writer thread, and that prune gives up after
# 100 ms, not lock_timeout (5 s). Neither the start nor the jobs after it
# wait behind the lock.
test_expect_success 'a locked history holds up neither a master that starts nor its first jobs' '
    lock_returns &&
    stop_daemon master &&
    t0=$(date +%s%N) &&
    restart_master &&
    wait_until 10 mctl -t 2 --gather-timeout 1 "*" test.ping &&
    three_pings &&
    t1=$(date +%s%N) &&
    echo "figure: start and four pings while the history is locked: $(( (t1 - t0) / 1000000 )) ms" &&
    pings_answered &&
    test $(( (t1 - t0) / 1000000 )) -lt 5000 &&
    wait "$locker"
'

test_expect_success 'SIGHUP while the database is down keeps the key list in memory' '
    reads=$(grep -c "read again from PostgreSQL after a reconnect" "$T/log/master" || true) &&
    pg_stop &&
    kill -HUP "${DAEMON_PIDS[master]}" &&
    wait_until 10 grep -q "reloading keys: keys (PostgreSQL)" "$T/log/master" &&
    test "$(run_ids -t 5 "*" test.ping)" = "pg1 pg2" &&
    pg_start &&
    wait_until 30 eval "test \$(grep -c \"read again from PostgreSQL after a reconnect (2 accepted)\" $T/log/master) -gt $reads"
'

test_expect_success 'a master stopped while the database is down keeps its jobs; they land after' '
    wait_until 20 mctl -t 3 --gather-timeout 1 "*" test.ping &&
    pg_stop &&
    mctl -t 5 "*" test.echo kept-across > run.txt &&
    test "$(grep -c kept-across run.txt)" = 2 &&
    jid=$(grep -oE "[0-9]{20}" "$T/log/master" | tail -n 1) &&
    stop_daemon master &&
    grep -qE "[0-9]+ jobs the PostgreSQL store has not taken are kept in" "$T/log/master" &&
    test -s "$T/cache/master/jobcache.pending" &&
    pg_start && restart_master &&
    grep -qE "[0-9]+ jobs kept at the last stop are queued again" "$T/log/master" &&
    wait_until 30 query_is "SELECT count(*) FROM returns r JOIN jobs j USING (jid)
                            WHERE j.fun = '\''test.echo'\'' AND r.ret::text LIKE '\''%6b6570742d6163726f7373%'\''" 2 &&
    ! test -e "$T/cache/master/jobcache.pending"
'

count_in_log() { grep -cE "$1" "$T/log/master" || true; }
more_in_log() { test "$(count_in_log "$1")" -gt "$2"; }

test_expect_success 'a master killed (SIGKILL) while the database is down loses no job' '
    wait_until 20 mctl -t 3 --gather-timeout 1 "*" test.ping &&
    kept=$(count_in_log "the [0-9]+ jobs not stored yet are kept in") &&
    queued=$(count_in_log "[0-9]+ jobs kept at the last stop are queued again") &&
    pg_stop &&
    mctl -t 5 "*" test.echo killed-while-down > run.txt &&
    test "$(grep -c killed-while-down run.txt)" = 2 &&
    wait_until 10 more_in_log "the [0-9]+ jobs not stored yet are kept in" "$kept" &&
    test -s "$T/cache/master/jobcache.pending" &&
    stop_daemon master KILL &&
    pg_start && restart_master &&
    wait_until 10 more_in_log "[0-9]+ jobs kept at the last stop are queued again" "$queued" &&
    wait_until 30 query_is "SELECT count(*) FROM returns r JOIN jobs j USING (jid)
                            WHERE j.fun = '\''test.echo'\'' AND r.ret::text LIKE '\''%6b696c6c65642d7768696c652d646f776e%'\''" 2 &&
    ! test -e "$T/cache/master/jobcache.pending"
'

# The server process behind the master's writing session stopped (SIGSTOP):
# its writes hang, with no error. After 10 s the history counts as behind
# and the job being written is kept in jobcache.pending: a master killed
# then loses it not. jobs wait still gets the returns not stored yet.
writer_backend() {
    psql_q "SELECT pid FROM pg_stat_activity WHERE application_name = 'mctl-master job cache (writes)'"
}
has_writer_backend() { test -n "$(writer_backend)"; }
test_expect_success 'a database that hangs a write: the history is behind, a master killed then loses no job' '
    wait_until 20 mctl -t 3 --gather-timeout 1 "*" test.ping &&
    hung=$(count_in_log "the store hangs") &&
    slow=$(mctl --async -t 30 "*" cmd.run "sleep 4; echo slow-return" | grep -oE "[0-9]{20}") &&
    wait_until 10 query_is "SELECT count(*) FROM jobs WHERE jid = '\''$slow'\''" 1 &&
    wait_until 10 has_writer_backend && writer=$(writer_backend) &&
    PG_STOPPED=$writer && kill -STOP "$writer" &&
    mctl -t 5 "*" test.echo held-write > run.txt &&
    test "$(grep -c held-write run.txt)" = 2 &&
    wait_until 20 more_in_log "the store hangs" "$hung" &&
    mctl jobs list -n 1 > list.txt 2> list.err &&
    grep -q "the job history is behind" list.err &&
    mctl -t 10 jobs wait "$slow" > wait.txt &&
    test "$(grep -c slow-return wait.txt)" = 2 &&
    wait_until 5 test -s "$T/cache/master/jobcache.pending" &&
    stop_daemon master KILL &&
    kill -CONT "$writer" && PG_STOPPED= &&
    restart_master &&
    wait_until 30 query_is "SELECT count(*) FROM returns r JOIN jobs j USING (jid)
                            WHERE j.fun = '\''test.echo'\'' AND r.ret::text LIKE '\''%68656c642d7772697465%'\''" 2 &&
    wait_until 10 eval "! test -e $T/cache/master/jobcache.pending"
'

# Every process of the server stopped (SIGSTOP): a server that hangs
# whole, neither answering nor refusing, and its kernel still
# acknowledging. The master's loop reads the key list from it each second
# without waiting more than 20 ms a turn for the answer, and connects
# again 50 ms of each turn at a time: jobs go on, none held up 2 s
# (before, the key list's read held the loop 3 s); jobs list waits 11 s
# and says what is wrong. The master starts afresh first and has pruned
# the history (in the job cache's writer thread, at its start) before the
# server stops.
# Everything lands once the server runs again.
server_pids() {
    pm=$(head -n 1 "$PGDIR/data/postmaster.pid") && echo "$pm $(pgrep -d " " -P "$pm")"
}
# pings_while_hung [COMMAND...]: a request (jobs list unless COMMAND,
# which runs mctl) made as the server hangs (its exit status in $list_st;
# $list_waited is 1 when it was still waiting after the pings), and pings
# for 8 s meanwhile ($n, $slow over 1 s, $slowest ms): the request waits
# on the server, the pings must not wait on it. The server runs again
# whatever they gave.
pings_while_hung() {
    if [ $# = 0 ]; then set -- "$BIN/mctl" jobs list -n 1; fi
    timeout 30 "$@" > list.txt 2> list.err &
    lister=$!
    end=$((SECONDS + 8)) && n=0 && slow=0 && slowest=0 && failed=0
    while [ $SECONDS -lt $end ]; do
        t0=$(date +%s%N)
        mctl --out json -t 8 "*" test.ping > ping1.json 2> ping1.err || true
        ms=$(( ($(date +%s%N) - t0) / 1000000 )) && n=$((n + 1))
        test "$(ids_in ping1.json)" = "pg1 pg2" || failed=$((failed + 1))
        [ "$ms" -le 1000 ] || slow=$((slow + 1))
        [ "$ms" -le "$slowest" ] || slowest=$ms
    done
    # The list still waits (11 s) after the 8 s of pings: they ran beside it.
    list_waited=0 && if kill -0 "$lister" 2> /dev/null; then list_waited=1; fi
    list_st=0 && wait "$lister" || list_st=$?
    # shellcheck disable=SC2086 # a list of pids
    kill -CONT $PG_STOPPED && PG_STOPPED=
}
test_expect_success 'a database server that hangs whole: jobs go on while a jobs list waits on it, the list says so, all lands after' '
    pruned=$(count_in_log "to prune") &&
    stop_daemon master && restart_master &&
    wait_until 20 more_in_log "to prune" "$pruned" &&
    wait_until 20 mctl -t 3 --gather-timeout 1 "*" test.ping &&
    before=$(ping_returns) &&
    PG_STOPPED=$(server_pids) && kill -STOP $PG_STOPPED &&
    pings_while_hung &&
    echo "figure: $n pings in 8 s while the server hangs, $slow over 1 s, the slowest $slowest ms" &&
    test "$failed" = 0 && test "$n" -ge 3 && test "$slowest" -lt 2000 &&
    test "$list_waited" = 1 &&
    cat list.err && test "$list_st" != 0 && test "$list_st" != 124 &&
    grep -qE "no answer within|not reachable" list.err &&
    wait_until 60 eval "test \$(ping_returns) -ge \$((before + 2 * n))" &&
    wait_until 40 mctl jobs list -n 1 > /dev/null
'

# One user's reads of the history wait on a frozen server one after
# another; past 32 of them, the next is refused at once (other users keep
# their turn in the reader's queue).
list_refused_at_once() {
    timeout 5 "$BIN/mctl" jobs list -n 1 > more.out 2>&1
    grep -q "reads of the job history out" more.out
}
test_expect_success 'a user with 32 reads of the history out on a frozen server is refused one more at once' '
    wait_until 20 mctl -t 3 --gather-timeout 1 "*" test.ping &&
    PG_STOPPED=$(server_pids) && kill -STOP $PG_STOPPED &&
    for i in $(seq 32); do
        timeout 60 "$BIN/mctl" jobs list -n 1 > /dev/null 2>&1 &
        EXTRA_PIDS+=($!)
    done &&
    { st=0; wait_until 15 list_refused_at_once || st=$?; } &&
    kill -CONT $PG_STOPPED && PG_STOPPED= &&
    cat more.out && test "$st" = 0 &&
    wait_until 60 mctl jobs list -n 1
'

# A jobs.kill by a user without @jobs, of a job not in flight here, takes
# the job's user from the history: on a frozen server it waits off the
# loop, and everyone else's jobs go on. Its answer depends on when the
# server runs again (within 8 s: there is no such job; later: it cannot
# tell), never a kill; its audit line is one, dated when it was asked. A
# ping may be slow on a loaded machine, never the read's 11 s (15.7 s with
# the loop reading), hence 5 s. (The master is restarted first, as for the
# hang above, so that the reads of the test before are not this one's.)
kill_lines() {
    python3 -c "
import json,sys
recs = [json.loads(l) for l in open(sys.argv[1])]
print(*[r[\"time\"] for r in recs if r.get(\"function\") == \"jobs.kill\" and r[\"user\"] == \"mctl_pgk\"])
" "$T/log/audit.log"
}
test_expect_success 'a jobs.kill that needs the history waits on a frozen server, jobs go on' '
    stop_daemon master && restart_master &&
    wait_until 20 mctl -t 3 --gather-timeout 1 "*" test.ping &&
    asked=$(date +%s) &&
    PG_STOPPED=$(server_pids) && kill -STOP $PG_STOPPED &&
    pings_while_hung setpriv --reuid=mctl_pgk --regid=mctlpg --init-groups \
        "$BIN/mctl" pg1 jobs.kill 20200101000000000001 &&
    echo "figure: $n pings in 8 s while a jobs.kill waits on the server, the slowest $slowest ms" &&
    test "$failed" = 0 && test "$n" -ge 3 && test "$slowest" -lt 5000 &&
    test "$list_waited" = 1 &&
    cat list.txt list.err && test "$list_st" != 0 && test "$list_st" != 124 &&
    grep -qE "user mctl_pgk may kill only its own jobs: there is no job|cannot tell whose job" list.err &&
    lines=$(kill_lines) && echo "audit: $lines" &&
    test "$(echo "$lines" | wc -w)" = 1 &&
    test $(( $(date -u -d "${lines:0:19}" +%s) - asked )) -le 2
'

test_expect_success 'bad settings: postgres without a dsn, and a database that is not there' '
    stop_daemon master &&
    cp "$T/etc/master" master.keep &&
    sed -i "/^postgres_dsn/d" "$T/etc/master" &&
    { st=0; "$BIN/mctl-master" -c "$T/etc" 2> err.txt || st=$?; } &&
    cat err.txt && test "$st" = 78 && grep -q "postgres_dsn is not set" err.txt &&
    echo "postgres_dsn: \"host=$PGDIR/sock port=1 dbname=mctl connect_timeout=2\"" >> "$T/etc/master" &&
    { st=0; "$BIN/mctl-master" -c "$T/etc" > out.txt 2>&1 || st=$?; } &&
    cat out.txt "$T/log/master" | tail -n 3 && test "$st" != 0 &&
    grep -q "cannot connect" out.txt "$T/log/master" &&
    cp master.keep "$T/etc/master" && restart_master &&
    wait_until 20 mctl -t 3 --gather-timeout 1 "*" test.ping
'

test_done
