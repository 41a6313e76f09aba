#!/usr/bin/env bash
# Faults: a minion that is down, master restarts, a worker that dies mid-job,
# keys that are not (or no longer) accepted, and command-line errors.
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
. "$(dirname "$0")/lib.sh"

# Connections that fall silent are given up after 3 s here (60 by default).
MINION_EXTRA=("master_alive_interval: 3")

test_expect_success 'set-up: master and three accepted minions' '
    start_master "minion_alive_interval: 3" && start_and_accept m1 m2 m3
'

test_expect_success 'a minion that is down is listed as not returned (exit 2)' '
    stop_daemon m3 &&
    start=$(date +%s%N) &&
    { mctl --gather-timeout 2 "*" test.ping > out.txt 2> err.txt; test $? = 2; } &&
    test $(( ($(date +%s%N) - start) / 1000000 )) -lt 5000 &&
    cat out.txt err.txt &&
    # Not connected, unless the job left before the master saw the
    # connection close; then it was sent and not answered.
    grep -A1 "^m3:$" out.txt |
        grep -qE "Minion did not return. \[(Not sent: not connected|No response)\]" &&
    grep -q "^    True$" out.txt &&
    grep -q "1 of 3 minions did not return" err.txt
'

test_expect_success 'the minion comes back and answers' '
    restart_minion m3 &&
    wait_until 20 mctl -t 3 --gather-timeout 1 m3 test.ping
'

test_expect_success 'master restart: minions reconnect and answer again' '
    stop_daemon master &&
    restart_master &&
    wait_until 30 mctl -t 3 --gather-timeout 1 "*" test.ping &&
    mctl "*" test.ping | grep -c "^    True$" | grep -qx 3
'

test_expect_success 'master killed with SIGKILL: minions reconnect and answer again' '
    stop_daemon master KILL &&
    restart_master &&
    wait_until 30 mctl -t 3 --gather-timeout 1 "*" test.ping
'

# A job from before a restart is followed in the history, by at most 8
# clients of one user at once; one that leaves (Ctrl-C) gives its place
# back within seconds, not when the job is over.
followers() { test "$(grep -c "job $1: a client follows it in the history" "$T/log/master")" -ge "$2"; }
wait_refused() { timeout 5 "$BIN/mctl" jobs wait "$1" 2> refused.txt; grep -q "try again" refused.txt; }
wait_accepted() { timeout 2 "$BIN/mctl" jobs wait "$1" > /dev/null 2>&1; test $? = 124; }
test_expect_success 'clients that leave jobs wait on a job from before a restart free their places' '
    jid=$(mctl --async -t 120 m1 cmd.run "sleep 60" | grep -oE "[0-9]{20}") &&
    stop_daemon master && restart_master &&
    wait_until 30 mctl -t 3 --gather-timeout 1 m1 test.ping &&
    waiters=() &&
    for i in 1 2 3 4 5 6 7 8; do
        "$BIN/mctl" jobs wait "$jid" > /dev/null 2>&1 &
        waiters+=($!) && EXTRA_PIDS+=($!)
    done &&
    wait_until 20 followers "$jid" 8 &&
    wait_refused "$jid" &&
    kill "${waiters[@]}" &&
    wait_until 10 wait_accepted "$jid" &&
    mctl jobs kill "$jid" > /dev/null
'

lost_count() { grep -c "lost the connection to the master" "$T/log/$1"; }
lost_more() { test "$(lost_count "$1")" -gt "$2"; }

test_expect_success 'a master that falls silent without closing the connection: minions notice and reconnect' '
    before=$(lost_count m1) &&
    kill -STOP ${DAEMON_PIDS[master]} &&
    { wait_until 10 lost_more m1 "$before"; rc=$?; kill -CONT ${DAEMON_PIDS[master]}; test $rc = 0; } &&
    wait_until 20 mctl -t 3 --gather-timeout 1 "*" test.ping
'

test_expect_success 'mctl to a stopped master: one clear line and exit 69 after 10 s, whatever the request' '
    kill -STOP ${DAEMON_PIDS[master]} &&
    { timeout 20 "$BIN/mctl" -c "$T/etc" jobs wait 20261203000000000000 2> err.txt; st=$?;
      kill -CONT ${DAEMON_PIDS[master]}; } &&
    cat err.txt && test $st = 69 && test $(wc -l < err.txt) = 1 &&
    grep -q "did not answer the ZeroMQ handshake within 10 s" err.txt &&
    wait_until 20 mctl -t 3 --gather-timeout 1 "*" test.ping
'

not_connected() { mctl --async "$1" test.ping 2>&1 | grep -q "not sent: not connected"; }

test_expect_success 'a minion that falls silent is dropped by the master and reported as not connected' '
    kill -STOP ${DAEMON_PIDS[m2]} &&
    { wait_until 10 not_connected m2; rc=$?; kill -CONT ${DAEMON_PIDS[m2]}; test $rc = 0; } &&
    wait_until 20 mctl -t 3 --gather-timeout 1 m2 test.ping
'

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

test_expect_success 'a job lost with a connection that died is sent again when the minion is back' '
    pport=$(free_port) &&
    { python3 "$TOOLS/cutproxy.py" "$pport" "$PUB_PORT" > proxy.out 2>&1 & } &&
    proxy=$! && EXTRA_PIDS+=("$proxy") &&
    wait_until 20 grep -q ready proxy.out &&
    MINION_EXTRA=("master_alive_interval: 3" "publish_port: $pport") &&
    start_and_accept m9 &&
    MINION_EXTRA=("master_alive_interval: 3") &&
    kill -USR1 "$proxy" &&
    jid=$(mctl --async m9 test.echo lost-and-found | grep -oE "[0-9]{20}") &&
    wait_until 5 grep -q "job $jid: test.echo by" "$T/log/master" &&
    kill -USR2 "$proxy" &&
    wait_until 20 grep -q "job $jid: sent again to m9, which reconnected" "$T/log/master" &&
    mctl jobs wait "$jid" > out.txt && cat out.txt &&
    grep -q "^    lost-and-found$" out.txt &&
    test "$(grep -c "job $jid: test.echo" "$T/log/m9")" = 1 &&
    kill "$proxy" && stop_daemon m9 && mctl key delete -y m9 > /dev/null
'

# Both connections silent past minion_alive_interval: the master counts the
# minion gone; when it comes back, its subscription arrives before its
# hello (the jobs connection is cut first, the returns one only once the
# subscription is in), and the lost job must still go out again.
subscribed_again() { test "$(grep -c "m9 subscribed" "$T/log/master")" -gt "$1"; }
test_expect_success 'a job lost in an outage longer than minion_alive_interval is sent again' '
    p1=$(free_port) && p2=$(free_port) &&
    { python3 "$TOOLS/cutproxy.py" "$p1" "$PUB_PORT" 127.0.0.1 both > pub.out 2>&1 & } && pub=$! &&
    { python3 "$TOOLS/cutproxy.py" "$p2" "$RET_PORT" 127.0.0.1 both > ret.out 2>&1 & } && ret=$! &&
    EXTRA_PIDS+=("$pub" "$ret") &&
    wait_until 20 grep -q ready pub.out && wait_until 20 grep -q ready ret.out &&
    MINION_EXTRA=("master_alive_interval: 30" "heartbeat: 1" "publish_port: $p1" "ret_port: $p2") &&
    start_and_accept m9 &&
    MINION_EXTRA=("master_alive_interval: 3") &&
    kill -USR1 "$pub" "$ret" &&
    jid=$(mctl --async m9 test.echo after-the-outage | grep -oE "[0-9]{20}") &&
    wait_until 15 not_connected m9 &&
    subs=$(grep -c "m9 subscribed" "$T/log/master") &&
    kill -USR2 "$pub" &&
    wait_until 20 subscribed_again "$subs" &&
    kill -USR2 "$ret" &&
    wait_until 20 grep -q "job $jid: sent again to m9" "$T/log/master" &&
    mctl jobs wait "$jid" | grep -q "^    after-the-outage$" &&
    kill "$pub" "$ret" && stop_daemon m9 && mctl key delete -y m9 > /dev/null
'

# A name with two addresses, in its own /etc/hosts: 127.0.0.1 first (sorted
# first, and nothing listens there on these ports), then 127.0.0.3, where
# relays lead to the master.
test_expect_success 'a master name with two addresses, the first dead: the minion tries the next' '
    printf "127.0.0.3 mctl-test-master\n127.0.0.1 mctl-test-master\n" > "$T/hosts" &&
    p1=$(free_port) && p2=$(free_port) && p3=$(free_port) &&
    relays=() &&
    for pair in "$p1 $PUB_PORT" "$p2 $RET_PORT" "$p3 $AUTH_PORT"; do
        { python3 "$TOOLS/cutproxy.py" $pair 127.0.0.3 > "relay.${#relays[@]}.out" 2>&1 & }
        relays+=($!)
        EXTRA_PIDS+=($!)
    done &&
    MINION_EXTRA=("master_alive_interval: 3" "master: mctl-test-master" "publish_port: $p1"
                  "ret_port: $p2" "auth_port: $p3") &&
    DAEMON_WRAP=(unshare -m --propagation private sh -c "mount --bind $T/hosts /etc/hosts && exec \"\$0\" \"\$@\"") &&
    start_minion m7 &&
    DAEMON_WRAP=() && MINION_EXTRA=("master_alive_interval: 3") &&
    wait_until 30 key_in minions_pre m7 &&
    grep -q "master mctl-test-master has 2 addresses; trying 127.0.0.1 first" "$T/log/m7" &&
    grep -q "trying its next address, 127.0.0.3" "$T/log/m7" &&
    accept_all m7 &&
    wait_until 20 mctl -t 3 --gather-timeout 1 m7 test.ping &&
    stop_daemon m7 && mctl key delete -y m7 > /dev/null &&
    kill "${relays[@]}"
'

test_expect_success 'a worker killed mid-job gives an error return and is replaced' '
    marker="sleep 120.$$$RANDOM" &&
    { mctl -t 60 m1 cmd.run "$marker" > out.txt 2>&1 & } &&
    client=$! &&
    wait_until 10 pgrep -f "^$marker" &&
    worker=$(ps -o ppid= -p "$(pgrep -f "^$marker")" | tr -d " ") &&
    test -n "$worker" &&
    kill -9 "$worker" &&
    { wait $client; test $? = 1; } &&
    grep -q "the worker running cmd.run died (signal 9)" out.txt &&
    pkill -f "^$marker";
    minion=${DAEMON_PIDS[m1]} &&
    wait_until 10 eval "test \"\$(pgrep -c -P $minion)\" = 2" &&
    mctl m1 test.ping | grep -q "^    True$"
'

test_expect_success 'a minion killed mid-job: reported as not returned, and not run again after restart' '
    marker="sleep 3.$$$RANDOM" &&
    { mctl -t 6 m2 cmd.run "echo ran >> $T/ran.m2; $marker" > out.txt 2>&1 & } &&
    client=$! &&
    wait_until 10 test -s "$T/ran.m2" &&
    stop_daemon m2 KILL &&
    { wait $client; test $? = 2; } &&
    grep -q "did not return" out.txt &&
    restart_minion m2 &&
    wait_until 20 mctl -t 3 --gather-timeout 1 m2 test.ping &&
    wait_until 10 sh -c "! pgrep -f \"^$marker\"" &&
    mctl m2 test.ping | grep -q "^    True$" &&
    test "$(wc -l < "$T/ran.m2")" = 1
'

test_expect_success 'a full queue refuses a job with an error, not silence' '
    start_minion q1 "queue_max: 1" "workers: 1" &&
    accept_all q1 &&
    wait_until 20 mctl -t 3 --gather-timeout 1 q1 test.ping &&
    clients="" &&
    for i in 1 2 3; do mctl -t 20 q1 test.sleep 2 > q$i.out 2>&1 & clients="$clients $!"; done &&
    wait $clients;
    cat q1.out q2.out q3.out > all.out &&
    test "$(grep -c "^    True$" all.out)" = 2 &&
    grep -q "minion busy: 1 jobs running and 1 queued (queue_max); job refused" all.out
'

test_expect_success 'a minion whose key is not accepted receives no job' '
    start_minion m4 &&
    wait_until 20 key_in minions_pre m4 &&
    mctl "*" test.ping > out.txt &&
    ! grep -q "^m4:" out.txt &&
    jid=$(mctl --async "*" test.ping | grep -oE "[0-9]{20}") &&
    wait_until 10 grep -q "job $jid: test.ping" "$T/log/m1" &&
    ! grep -q "$jid" "$T/log/m4"
'

test_expect_success 'a rejected key stays out; the same id with another key is denied' '
    mctl key reject m4 -y | grep -q "Key for minion m4 rejected." &&
    key_in minions_rejected m4 &&
    stop_daemon m4 &&
    rm -rf "$T/pki/m4" &&
    restart_minion m4 &&
    wait_until 20 key_in minions_denied m4 &&
    wait_until 10 grep -q "has this minion.s key as denied" "$T/log/m4"
'

test_expect_success 'a deleted key is refused and its minion gets no more jobs' '
    mctl key delete m3 -y | grep -q "Key for minion m3 deleted." &&
    ! key_in minions m3 &&
    mctl "*" test.ping > out.txt &&
    ! grep -q "^m3:" out.txt && grep -q "^m1:" out.txt
'

test_expect_success 'unknown key commands and ids are errors' '
    { mctl key frobnicate > /dev/null 2>&1; test $? = 64; } &&
    { mctl key accept nosuchminion -y > /dev/null 2> err.txt; test $? = 1; } &&
    grep -q "no key matched nosuchminion" err.txt
'

# An unknown option: exit 64, two lines, the command named in both (the
# second points at its --help).
unknown_option_said() {
    local st=0
    # shellcheck disable=SC2086 # the words of a subcommand
    mctl $1 --bogus-option > out.txt 2> err.txt || st=$?
    test "$st" = 64 && test ! -s out.txt && test "$(wc -l < err.txt)" = 2 &&
        grep -q "^mctl${1:+ $1}: unrecognized option .--bogus-option." err.txt &&
        grep -q "^Try .$2 --help. for more information.$" err.txt || { cat err.txt; return 1; }
}
# bad_argument_said WORDS MESSAGE HELP: mctl WORDS exits 64 with MESSAGE
# and a line pointing at HELP --help (a command that takes it).
bad_argument_said() {
    local st=0
    # shellcheck disable=SC2086 # the words of a command (and of HELP)
    mctl $1 > out.txt 2> err.txt || st=$?
    test "$st" = 64 && test ! -s out.txt && test "$(wc -l < err.txt)" = 2 &&
        grep -q "^$2" err.txt && grep -q "^Try .$3 --help. for more information.$" err.txt &&
        mctl ${3#mctl} --help > /dev/null || { cat err.txt; return 1; }
}
test_expect_success 'usage errors exit 64 with a message' '
    { mctl > /dev/null 2>&1; test $? = 64; } &&
    { mctl "*" 2> err.txt; test $? = 64; } && grep -q "missing FUNCTION" err.txt &&
    { mctl -t abc "*" test.ping 2> err.txt; test $? = 64; } && grep -q "expected a number of seconds" err.txt &&
    { mctl --out xml "*" test.ping 2> err.txt; test $? = 64; } &&
    { mctl "*" bad-name 2> err.txt; test $? = 64; } && grep -q "not a function name" err.txt &&
    mctl --help | grep -q "^Usage: mctl" &&
    unknown_option_said "" "mctl" &&
    unknown_option_said "jobs list" "mctl jobs" &&
    unknown_option_said "key accept" "mctl key" &&
    unknown_option_said status "mctl status" &&
    unknown_option_said cp "mctl cp" &&
    unknown_option_said deploy "mctl deploy" &&
    bad_argument_said "jobs kill nonsense" "mctl: jobs kill: .nonsense. is not a job id" "mctl jobs kill" &&
    bad_argument_said "jobs frob" "mctl: jobs: unknown command .frob." "mctl jobs" &&
    bad_argument_said "key list m1" "mctl: key list: takes no minion ids" "mctl key list" &&
    bad_argument_said "status extra" "mctl: status: unexpected argument .extra." "mctl status"
'

test_expect_success 'an unreachable master is one clear line and exit 69' '
    mkdir -p "$T/nomaster" &&
    echo "sock_dir: $T/nomaster/run" > "$T/nomaster/master" &&
    { mctl -c "$T/nomaster" "*" test.ping 2> err.txt; test $? = 69; } &&
    test $(wc -l < err.txt) = 1 &&
    grep -q "is mctl-master running" err.txt
'

# A socket file left by a master that died: nobody listens behind it.
stale_socket() {
    python3 -c "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$1"
}

test_expect_success 'a socket file with no master behind it is one clear line and exit 69, at once' '
    mkdir -p "$T/stale/run" &&
    echo "sock_dir: $T/stale/run" > "$T/stale/master" &&
    stale_socket "$T/stale/run/master.ipc" && test -S "$T/stale/run/master.ipc" &&
    { timeout 5 "$BIN/mctl" -c "$T/stale" "*" test.ping 2> err.txt; test $? = 69; } &&
    cat err.txt && test $(wc -l < err.txt) = 1 &&
    grep -q "nothing listens on .*is mctl-master running" err.txt &&
    { timeout 5 "$BIN/mctl" -c "$T/stale" jobs list 2> err.txt; test $? = 69; } &&
    grep -q "nothing listens" err.txt
'

test_expect_success 'the client socket refuses users without permission' '
    chmod 755 "$T" "$T/etc" &&
    chmod 644 "$T/etc/master" &&
    chmod 755 "$T/run" &&
    { setpriv --reuid=nobody --regid=nogroup --clear-groups "$BIN/mctl" -c "$T/etc" "*" test.ping 2> err.txt; test $? = 69; } &&
    grep -q "permission denied" err.txt
'

test_expect_success 'a bad config stops the master with the file, line and key' '
    mkdir -p "$T/badcfg" &&
    printf "interface: 127.0.0.1\n\nret_port: abc\n" > "$T/badcfg/master" &&
    { "$BIN/mctl-master" -c "$T/badcfg" 2> err.txt; test $? = 78; } &&
    grep -q "master: line 3: ret_port: expected a port number, got \"abc\"" err.txt
'

test_expect_success 'a bad publisher_acl or client_group stops the master with exit 78 and why' '
    mkdir -p "$T/badacl" &&
    base="pki_dir: $T/badacl/pki\ncachedir: $T/badacl/cache\nsock_dir: $T/badacl/run\naudit_log: $T/badacl/audit.log\n" &&
    printf "${base}publisher_acl:\n  alice:\n    - '"'"'test.(('"'"'\n" > "$T/badacl/master" &&
    { st=0; "$BIN/mctl-master" -c "$T/badacl" 2> err.txt || st=$?; } &&
    cat err.txt && test $st = 78 &&
    grep -q "master: line 7: publisher_acl: .test.((. is not a regular expression" err.txt &&
    printf "${base}client_group: nosuchgroup\n" > "$T/badacl/master" &&
    { st=0; "$BIN/mctl-master" -c "$T/badacl" 2> err.txt || st=$?; } &&
    cat err.txt && test $st = 78 &&
    grep -q "client_group: there is no group .nosuchgroup." err.txt
'

test_expect_success 'an audit log that cannot be opened stops the master and says why' '
    mkdir -p "$T/badaudit" && : > "$T/badaudit/file" &&
    printf "pki_dir: $T/badaudit/pki\ncachedir: $T/badaudit/cache\nsock_dir: $T/badaudit/run\naudit_log: $T/badaudit/file/audit.log\n" > "$T/badaudit/master" &&
    { st=0; "$BIN/mctl-master" -c "$T/badaudit" 2> err.txt || st=$?; } &&
    cat err.txt && test $st != 0 &&
    grep -q "$T/badaudit/file" err.txt &&
    ! test -e "$T/badaudit/run/master.ipc"
'

test_expect_success 'the master refuses a pki_dir others can write to' '
    mkdir -p "$T/openpki/pki" && chmod 777 "$T/openpki/pki" &&
    printf "pki_dir: $T/openpki/pki\nsock_dir: $T/openpki/run\nret_port: 1\n" > "$T/openpki/master" &&
    { "$BIN/mctl-master" -c "$T/openpki" 2> err.txt; test $? = 1; } &&
    grep -q "writable by group or others" err.txt
'

test_done
