#!/usr/bin/env bash
# Hostile peers with real keys and the real protocol (mctl-test-rogue):
# a minion speaking for another, a minion trying to take another's jobs, a master
# whose jobs are forged, replayed or stale, oversized messages; and the
# checks on ids, modes and folders.
. "$(dirname "$0")/lib.sh"
ROGUE=$BIN/mctl-test-rogue
CERT=$T/pki/master/master.cert

# Peak RSS of a process, in KiB.
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

test_expect_success 'set-up: master, two minions, and a spy and a ghost whose keys were accepted' '
    start_master "pub_hwm: 3" "minion_alive_interval: 4" && start_and_accept s1 s2 spy ghost &&
    stop_daemon spy && stop_daemon ghost
'

test_expect_success 'a minion that is not connected is reported at once, not waited for' '
    start=$(date +%s%N) &&
    { mctl -t 20 ghost test.ping > out.txt 2> err.txt; test $? = 2; } &&
    test $(( ($(date +%s%N) - start) / 1000000 )) -lt 3000 &&
    cat out.txt err.txt &&
    grep -A1 "^ghost:$" out.txt | grep -q "Minion did not return. \[Not sent: not connected\]" &&
    grep -q "1 of 1 minion did not return" err.txt &&
    { mctl --async ghost test.ping > out.txt 2> err.txt; test $? = 2; } &&
    grep -q "ghost: not sent: not connected" err.txt &&
    jid=$(grep -oE "[0-9]{20}" out.txt) &&
    { mctl jobs show "$jid" > show.txt; test $? = 2; } &&
    grep -A1 "^ghost:$" show.txt | grep -q "Minion did not return. \[Not sent: not connected\]" &&
    start=$(date +%s%N) &&
    { mctl jobs wait "$jid" > wait.txt; test $? = 2; } &&
    test $(( ($(date +%s%N) - start) / 1000000 )) -lt 3000 &&
    grep -A1 "^ghost:$" wait.txt | grep -q "Minion did not return. \[Not sent: not connected\]"
'

test_expect_success 'past pub_hwm unsettled jobs a minion is reported as not sent, never dropped silently' '
    { "$ROGUE" snoop "$T/pki/ghost" "$CERT" 127.0.0.1 "$PUB_PORT" "$RET_PORT" 30 ghost ghost > ghost.out 2>&1 & } &&
    ghost_pid=$! &&
    wait_until 10 mctl --async ghost test.ping &&
    for i in 1 2; do mctl --async ghost test.ping > /dev/null || return 1; done &&
    { mctl --async ghost test.ping 2> err.txt; test $? = 2; } &&
    cat err.txt &&
    grep -q "ghost: not sent: 3 earlier jobs are neither acknowledged nor returned (pub_hwm)" err.txt &&
    grep -q "not sent to ghost: 3 earlier jobs" "$T/log/master" &&
    start=$(date +%s%N) &&
    { mctl -t 20 ghost test.ping > out.txt; test $? = 2; } &&
    test $(( ($(date +%s%N) - start) / 1000000 )) -lt 3000 &&
    grep -q "Minion did not return. \[Not sent: 3 earlier jobs" out.txt &&
    for i in 1 2 3 4 5 6; do mctl s1 test.ping | grep -q "^    True$" || return 1; done &&
    kill $ghost_pid
'

test_expect_success 'a minion cannot speak for another: the forged return is refused and logged' '
    jid=$(mctl --async s1 test.sleep 2 | grep -oE "[0-9]{20}") &&
    "$ROGUE" claim "$T/pki/spy" "$CERT" 127.0.0.1 "$RET_PORT" s1 "$jid" &&
    wait_until 10 grep -q "return claiming to be from s1 arrived with the key of spy; refused" "$T/log/master" &&
    mctl jobs wait "$jid" > out.txt &&
    grep -A1 "^s1:" out.txt | grep -q "^    True$" &&
    ! grep -q forged out.txt
'

snoop_opened() { grep -q "^opened $1 " snoop.out; }

test_expect_success 'a key that is not accepted cannot deliver a return: refused at the handshake and logged' '
    mkdir -p "$T/pki/stranger" &&
    jid=$(mctl --async s2 test.sleep 2 | grep -oE "[0-9]{20}") &&
    "$ROGUE" claim "$T/pki/stranger" "$CERT" 127.0.0.1 "$RET_PORT" s2 "$jid" &&
    z85=$(sed -n "s/^ *public-key = \"\(.*\)\"$/\1/p" "$T/pki/stranger/minion.cert") &&
    test -n "$z85" &&
    wait_until 10 grep -qF "key $z85 is not accepted" "$T/log/master" &&
    mctl jobs wait "$jid" > out.txt &&
    grep -A1 "^s2:" out.txt | grep -q "^    True$" &&
    ! grep -q forged out.txt
'

opened() { grep -q "^opened $1 " old.out; }

test_expect_success 'a connection whose key was deleted and replaced speaks for nobody and reads nothing new' '
    MARK=$$$RANDOM &&
    start_and_accept old1 && stop_daemon old1 &&
    { "$ROGUE" snoop "$T/pki/old1" "$CERT" 127.0.0.1 "$PUB_PORT" "$RET_PORT" 60 old1 old1 "$T/go" > old.out 2>&1 & } &&
    old=$! &&
    wait_until 10 mctl --async old1 test.ping &&
    jid=$(mctl --async old1 test.ping | grep -oE "[0-9]{20}") &&
    wait_until 5 opened "$jid" &&
    mctl key delete old1 -y &&
    start_minion old1 "pki_dir: $T/pki/old1-new" &&
    accept_all old1 &&
    wait_until 20 mctl -t 3 --gather-timeout 1 old1 test.ping &&
    z85=$(sed -n "s/^ *public-key = \"\(.*\)\"$/\1/p" "$T/pki/old1/minion.cert") &&
    jid=$(mctl --async old1 test.sleep 2 | grep -oE "[0-9]{20}") &&
    echo "$jid" > "$T/go" &&
    wait_until 10 grep -q "sent grains and a return for $jid as old1" old.out &&
    wait_until 10 grep -qF "message from key $z85 dropped: that key is not accepted now" "$T/log/master" &&
    mctl jobs wait "$jid" > out.txt &&
    grep -A1 "^old1:" out.txt | grep -q "^    True$" &&
    ! grep -q forged out.txt &&
    test -z "$(target_ids -G marker:stale)" &&
    mctl old1 cmd.run "echo SECRET-$MARK" | grep -q "SECRET-$MARK" &&
    kill $old && { wait $old || :; } && cat old.out &&
    test "$(grep "^opened " old.out | sort -u | wc -l)" = 2 &&
    grep -q "^could not open a job" old.out &&
    ! grep -aq "SECRET-$MARK" snoop.raw
'

test_expect_success 'an accepted minion that subscribes to every topic opens only its own jobs' '
    MARK=$$$RANDOM &&
    { "$ROGUE" snoop "$T/pki/spy" "$CERT" 127.0.0.1 "$PUB_PORT" "$RET_PORT" 8 spy s1 > snoop.out 2>&1 & } &&
    snooper=$! &&
    wait_until 10 grep -q "heartbeat claiming to be from s1 arrived with the key of spy; refused" "$T/log/master" &&
    wait_until 10 grep -q "subscription to the topic of s1 from the key of spy: not its own topic" "$T/log/master" &&
    jid=$(mctl --async spy test.echo "$MARK" | grep -oE "[0-9]{20}") &&
    wait_until 5 snoop_opened "$jid" &&
    mctl s1 cmd.run "echo SECRET-$MARK" | grep -q "SECRET-$MARK" &&
    mctl s2 cmd.run "echo SECRET-$MARK" | grep -q "SECRET-$MARK" &&
    wait $snooper &&
    cat snoop.out &&
    grep -qx "received 3 opened 1" snoop.out &&
    test "$(grep -c "^could not open a job" snoop.out)" = 2 &&
    ! grep -aq "SECRET-$MARK" snoop.raw
'

not_connected() { mctl -t 3 "$1" test.ping 2>&1 | grep -q "Not sent: not connected"; }

test_expect_success 'subscriptions another key made to a minion.s topic do not keep it there once its heartbeats stop' '
    stop_daemon s1 &&
    wait_until 15 not_connected s1 &&
    restart_minion s1 &&
    wait_until 20 mctl -t 3 --gather-timeout 2 s1 test.ping
'

test_expect_success 'messages over the size limit are refused without the master growing' '
    pid=${DAEMON_PIDS[master]} &&
    before=$(hwm_kib $pid) &&
    "$ROGUE" big 127.0.0.1 "$AUTH_PORT" 67108864 3 "$CERT" &&
    "$ROGUE" big 127.0.0.1 "$RET_PORT" 67108864 1 "$CERT" "$T/pki/spy" &&
    after=$(hwm_kib $pid) &&
    echo "peak RSS before $before KiB, after $after KiB" &&
    test $((after - before)) -lt 16384 &&
    mctl -L s1,s2 test.ping | grep -c "^    True$" | grep -qx 2
'

test_expect_success 'forged, replayed and stale jobs are not run, and the minion says why' '
    mkdir -p "$T/pki/rogue" &&
    for attempt in 1 2 3 4 5; do
        # ports of its own; others if another test holds these
        r=$((20000 + RANDOM % 12000)) && a=$((r + 1)) && p=$((r + 2)) &&
        { "$ROGUE" master "$T/pki/rogue" $p $r $a victim "echo ran >> $T/ran.txt" > rogue.out 2>&1 & } &&
        rogue=$! &&
        wait_until 10 grep -qE "^(listening|rogue: cannot bind)" rogue.out &&
        if grep -q "^listening" rogue.out; then break; fi
        wait $rogue
    done &&
    grep -q "^listening" rogue.out &&
    start_minion victim "publish_port: $p" "ret_port: $r" "auth_port: $a" \
        "master_pubkey: $T/pki/rogue/master.cert" &&
    wait $rogue && cat rogue.out &&
    test "$(wc -l < "$T/ran.txt")" = 2 &&
    grep -q "refused a job with a bad signature" "$T/log/victim" &&
    grep -q "refused, this jid has already run here (replay)" "$T/log/victim" &&
    grep -qE "refused: published 3[0-9]{3} s ago" "$T/log/victim" &&
    stop_daemon victim
'

test_expect_success 'the job history names the user the kernel gives, not the one a request claims' '
    jid=$("$ROGUE" lie "$T/run/master/master.ipc" s1 test.ping mallory) &&
    mctl jobs list > list.txt && cat list.txt &&
    grep "^$jid " list.txt | grep -q " $(id -un) " &&
    ! grep -q mallory list.txt
'

# A client of the master's socket that subscribes to events and stops
# reading: the master sends it MC_EVENTS_WINDOW (1000) events and no more
# (counting the rest lost), instead of queueing every later event for it.
# 1100 jobs: more than 1000 events even if pub_hwm (3) keeps some from a
# minion (each job is one event, each return another).
test_expect_success 'an event subscriber that stops reading costs the master 1000 events, not all' '
    "$BIN/mctl-test-events" "$T/run/master/master.ipc" "$T/go-events" > events.out 2>&1 &
    EXTRA_PIDS+=($!) && sub=$! &&
    wait_until 10 grep -q "^subscribed$" events.out &&
    "$BIN/mctl-test-events" publish "$T/run/master/master.ipc" s1,s2 1100 &&
    wait_until 30 grep -q "event subscription has not read the last 1000 events" "$T/log/master" &&
    touch "$T/go-events" &&
    wait_until 30 grep -q "^drained" events.out &&
    cat events.out &&
    grep -qx "drained 1000" events.out &&
    mctl -L s1,s2 test.ping > /dev/null &&
    wait_until 30 grep -q "^next lost" events.out &&
    cat events.out &&
    lost=$(sed -n "s/^next lost //p" events.out) &&
    test "$lost" -gt 0 &&
    wait "$sub"
'

test_expect_success 'ids and jids that could name paths are refused' '
    mkdir -p "$T/etc/evil" &&
    printf "id: ../../evil\nmaster: 127.0.0.1\nmaster_pubkey: %s\n" "$CERT" > "$T/etc/evil/minion" &&
    { st=0; "$BIN/mctl-minion" -c "$T/etc/evil" 2> err.txt || st=$?; } &&
    test $st != 0 && grep -q "is not a valid minion id" err.txt &&
    ! ls "$T/pki" | grep -q evil &&
    { st=0; mctl jobs show ../../etc/passwd 2> err.txt || st=$?; } &&
    test $st = 64 &&
    { st=0; mctl key accept "../x" -y > out.txt 2>&1 || st=$?; } &&
    ! test -e "$T/pki/x"
'

test_expect_success 'minion keys and spool are private, and a shared pki folder is refused' '
    test "$(stat -c %a "$T/pki/s1")" = 700 &&
    test "$(stat -c %a "$T/pki/s1/minion.cert_secret")" = 600 &&
    test "$(stat -c %a "$T/cache/s1")" = 700 &&
    mkdir -p "$T/pki/open" && chmod 777 "$T/pki/open" &&
    st=0 && { start_minion open "pki_dir: $T/pki/open"; wait ${DAEMON_PIDS[open]} || st=$?; } &&
    unset "DAEMON_PIDS[open]" &&
    test $st != 0 &&
    grep -q "is writable by group or others" "$T/log/open" &&
    ! test -e "$T/pki/open/minion.cert_secret"
'

test_done
