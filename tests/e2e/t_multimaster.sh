#!/usr/bin/env bash
# Several masters on one PostgreSQL (a real server made by the test, see
# pglib.sh): they share their own keys (--export-keys / --import-keys), the
# key list and the job history; minions with a list of masters connect to
# all of them. A key accepted on one master works on the other; a master
# killed with SIGKILL mid-job loses no return (each lands once, through the
# other master) and the other master shows the job; two masters never make
# the same job id; mctl jobs wait on one master follows a job another one
# published; a database of an earlier schema version is upgraded in place. (Skipped unless root with Debian's postgresql server installed.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pglib.sh"

# Master B: the same ports as A on another loopback address, folders of
# its own. mctlB talks to it.
write_master_b() { # DIR ADDRESS NAME [LINES...]
    local dir=$1 addr=$2 name=$3; shift 3
    mkdir -p "$dir"
    sed -e "s|^interface: .*|interface: $addr|" \
        -e "s|$T/pki/master|$T/pki/$name|" -e "s|$T/cache/master|$T/cache/$name|" \
        -e "s|$T/run/master|$T/run/$name|" -e "s|$T/log/audit.log|$T/log/audit.$name.log|" \
        "$T/etc/master" > "$dir/master"
    printf '%s\n' "$@" >> "$dir/master"
}
start_master_b() {
    "$BIN/mctl-master" -c "$T/etcB" >> "$T/log/masterB" 2>&1 &
    DAEMON_PIDS[masterB]=$!
    wait_until 10 test -S "$T/run/masterB/master.ipc"
}
mctlB() { MCTL_CONFIG_DIR=$T/etcB "$BIN/mctl" "$@"; }
MINIONS="mm1 mm2 mm3"
MINION_EXTRA=("master: [127.0.0.1, 127.0.0.2]")
# For wait_until: each minion's spool is empty (every return confirmed).
spools_empty() {
    local id
    for id in $MINIONS; do
        test -z "$("$BIN/mctl-minion" -c "$T/etc/$id" --spool 2>/dev/null)" || return 1
    done
}
keys_on_b_are() { test "$(mctlB key list --out json | tr -d " \n")" = "$1"; }
returns_of() { psql_q "SELECT count(*) FROM returns WHERE jid = '$1'"; }
returns_are() { test "$(returns_of "$1" 2>/dev/null)" = "$2"; }

test_expect_success 'set-up: PostgreSQL, master A, master B with the keys A exported' '
    pg_setup &&
    start_master "master_job_cache: postgres" "postgres_dsn: \"$DSN\"" &&
    grep -q "this master.s index is 0" "$T/log/master" &&
    "$BIN/mctl-master" -c "$T/etc" --export-keys keys.txt &&
    test "$(stat -c %a keys.txt)" = 600 &&
    { st=0; "$BIN/mctl-master" -c "$T/etc" --export-keys keys.txt 2> err.txt || st=$?; } &&
    test "$st" != 0 && grep -q "never overwritten" err.txt &&
    write_master_b "$T/etcB" 127.0.0.2 masterB &&
    "$BIN/mctl-master" -c "$T/etcB" --import-keys keys.txt &&
    test "$(grep secret-key "$T/pki/master/master.cert_secret")" = \
         "$(grep secret-key "$T/pki/masterB/master.cert_secret")" &&
    cmp "$T/pki/master/master.sign" "$T/pki/masterB/master.sign" &&
    start_master_b &&
    grep -q "this master.s index is 1" "$T/log/masterB"
'

test_expect_success 'a key accepted on B lets the minion in on A and B; a deletion on A holds on B' '
    for id in $MINIONS; do start_minion $id; done &&
    wait_until 20 key_in minions_pre mm3 &&
    wait_until 5 eval "mctlB key list | grep -q mm3" &&
    mctlB key accept -A -y > /dev/null &&
    wait_until 5 key_in minions mm1 && wait_until 5 key_in minions mm3 &&
    for id in $MINIONS; do
        wait_until 20 eval "test \$(grep -c \"connected to the master 127\" $T/log/$id) -ge 2" ||
            return 1
    done &&
    test "$(run_ids "*" test.ping)" = "mm1 mm2 mm3" &&
    test "$(MCTL_CONFIG_DIR=$T/etcB run_ids "*" test.ping)" = "mm1 mm2 mm3" &&
    stop_daemon mm3 &&
    mctl key delete -y mm3 > /dev/null &&
    wait_until 5 eval "! mctlB key list | grep -q mm3" &&
    test "$(MCTL_CONFIG_DIR=$T/etcB run_ids "*" test.ping)" = "mm1 mm2" &&
    grep -q "key of minion mm3 deleted (on another master)" "$T/log/masterB" &&
    start_minion mm3 &&
    wait_until 20 eval "mctlB key list | grep -q mm3" &&
    mctl key accept -y mm3 > /dev/null &&
    wait_until 20 eval "test \"\$(MCTL_CONFIG_DIR=$T/etcB run_ids -t 3 \"*\" test.ping)\" = \"mm1 mm2 mm3\""
'

test_expect_success 'a key change made from an out-of-date key list is refused' '
    was=$(psql_q "SELECT encode(pub, '\''hex'\'') FROM minion_keys WHERE id = '\''mm2'\'' AND NOT denied") &&
    test ${#was} = 64 &&
    psql_q "UPDATE minion_keys SET pub = decode(repeat('\''ab'\'', 32), '\''hex'\'') WHERE id = '\''mm2'\'' AND NOT denied" &&
    { st=0; mctl key delete -y mm2 > out.txt 2>&1 || st=$?; } &&
    cat out.txt && test "$st" != 0 && grep -q "changed on another master" out.txt &&
    test "$(psql_q "SELECT state FROM minion_keys WHERE id = '\''mm2'\'' AND NOT denied")" = accepted &&
    psql_q "UPDATE minion_keys SET pub = decode('\''$was'\'', '\''hex'\'') WHERE id = '\''mm2'\'' AND NOT denied"
'

test_expect_success 'each master makes job ids of its own digit, and each sees the other one.s jobs' '
    a=$(mctl --async "*" test.ping | grep -oE "[0-9]{20}") &&
    b=$(mctlB --async "*" test.ping | grep -oE "[0-9]{20}") &&
    case $a in *0) ;; *) return 1 ;; esac &&
    case $b in *1) ;; *) return 1 ;; esac &&
    wait_until 10 returns_are "$a" 3 && wait_until 10 returns_are "$b" 3 &&
    mctlB --out json jobs list | grep -q "\"jid\": \"$a\"" &&
    mctl --out json jobs list | grep -q "\"jid\": \"$b\""
'

test_expect_success 'jobs wait on B follows a job published through A to its end' '
    marker="sleep 2.$$$RANDOM" &&
    jid=$(mctl --async -t 30 "*" cmd.run "$marker; echo followed-on-b" | grep -oE "[0-9]{20}") &&
    wait_until 10 query_is "SELECT count(*) FROM job_minions WHERE jid = '\''$jid'\''" 3 &&
    test "$(returns_of "$jid")" -lt 3 &&
    mctlB jobs wait "$jid" > waited.txt &&
    test "$(grep -c followed-on-b waited.txt)" = 3
'

test_expect_success 'master A killed mid-job: every return lands once, through B, and B shows the job' '
    marker="sleep 3.$$$RANDOM" &&
    t_pub=$(date +%s%N) &&
    jid=$(mctl --async "*" cmd.run "$marker; echo after-failover" | grep -oE "[0-9]{20}") &&
    wait_until 10 eval "test \$(pgrep -c -f \"^$marker\") = 3" &&
    wait_until 10 query_is "SELECT count(*) FROM job_minions WHERE jid = '\''$jid'\''" 3 &&
    stop_daemon master KILL && t_kill=$(date +%s%N) &&
    wait_until 30 returns_are "$jid" 3 &&
    t_end=$(date +%s%N) &&
    echo "figure: failover: all 3 returns stored through B $(( (t_end - t_kill) / 1000000 )) ms after A was killed, $(( (t_end - t_pub) / 1000000 )) ms after the job (3 s of sleep) was published" &&
    mctlB jobs show "$jid" > shown.txt &&
    test "$(grep -c after-failover shown.txt)" = 3 &&
    test "$(psql_q "SELECT count(*) FROM (SELECT jid, id FROM returns GROUP BY jid, id
                    HAVING count(*) > 1) d")" = 0 &&
    wait_until 20 spools_empty &&
    grep -q "lost the connection to the master 127.0.0.1" "$T/log/mm1"
'

test_expect_success 'master A back: the minions answer it again' '
    restart_master &&
    wait_until 30 eval "test \"\$(run_ids -t 3 \"*\" test.ping)\" = \"mm1 mm2 mm3\""
'

test_expect_success 'a third master asking for an index another master holds is refused' '
    write_master_b "$T/etcC" 127.0.0.3 masterC "master_index: 1" &&
    { st=0; "$BIN/mctl-master" -c "$T/etcC" > out.txt 2>&1 || st=$?; } &&
    cat out.txt && test "$st" != 0 &&
    grep -q "master_index 1 is held by another master" out.txt "$T/log/master" out.txt 2>/dev/null
'

test_expect_success 'a database of schema version 1 is upgraded in place, its history kept' '
    as_pg "$PGBIN/createdb" -h "$PGDIR/sock" -p "$PGPORT" mctl_v1 &&
    as_pg "$PGBIN/psql" -q -h "$PGDIR/sock" -p "$PGPORT" -d mctl_v1 -v ON_ERROR_STOP=1 -c "
        CREATE TABLE mctl_schema(version integer NOT NULL); INSERT INTO mctl_schema VALUES (1);
        CREATE TABLE jobs(jid text COLLATE \"C\" PRIMARY KEY, fun text COLLATE \"C\" NOT NULL,
          tgt text COLLATE \"C\" NOT NULL, tgt_type text COLLATE \"C\" NOT NULL,
          \"user\" text COLLATE \"C\" NOT NULL, ts bigint NOT NULL, arg bytea, kwarg bytea);
        CREATE INDEX jobs_ts ON jobs(ts);
        CREATE TABLE job_minions(jid text COLLATE \"C\" NOT NULL, id text COLLATE \"C\" NOT NULL,
          unsent text, PRIMARY KEY(jid, id));
        CREATE TABLE returns(jid text COLLATE \"C\" NOT NULL, id text COLLATE \"C\" NOT NULL,
          retcode bigint NOT NULL, success boolean NOT NULL, ret bytea NOT NULL,
          PRIMARY KEY(jid, id));
        INSERT INTO jobs VALUES (\$\$20261201120000000000\$\$, \$\$test.ping\$\$, \$\$old*\$\$,
          \$\$glob\$\$, \$\$root\$\$, (extract(epoch FROM now()) * 1000000)::bigint, NULL, NULL);
        INSERT INTO job_minions VALUES (\$\$20261201120000000000\$\$, \$\$old1\$\$, NULL);" &&
    write_master_b "$T/etcC" 127.0.0.3 masterC &&
    sed -i "s|dbname=mctl |dbname=mctl_v1 |" "$T/etcC/master" &&
    grep -q "dbname=mctl_v1" "$T/etcC/master" &&
    { "$BIN/mctl-master" -c "$T/etcC" >> "$T/log/masterC" 2>&1 & } &&
    DAEMON_PIDS[masterC]=$! &&
    wait_until 10 test -S "$T/run/masterC/master.ipc" &&
    grep -q "upgraded the database to schema version 3" "$T/log/masterC" &&
    MCTL_CONFIG_DIR=$T/etcC "$BIN/mctl" --out json jobs list > old.json &&
    grep -q "\"jid\": \"20261201120000000000\"" old.json &&
    test "$(as_pg "$PGBIN/psql" -h "$PGDIR/sock" -p "$PGPORT" -d mctl_v1 -At \
            -c "SELECT max(version) FROM mctl_schema")" = 3 &&
    stop_daemon masterC
'

test_done
