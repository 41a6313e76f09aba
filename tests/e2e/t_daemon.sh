#!/usr/bin/env bash
# Daemons that fail loudly: -d returns only once the daemon works, or with
# its reason and status; one pidfile, one daemon, whatever the timing;
# missing log folders are made; a minion killed with SIGKILL leaves no job
# process behind.
. "$(dirname "$0")/lib.sh"

# stop_detached PIDFILE: stop the daemon a -d start left running.
stop_detached() {
    local pid
    pid=$(cat "$1") || return 1
    kill "$pid" && wait_until 20 sh -c "! kill -0 $pid 2>/dev/null"
}

test_expect_success 'set-up: a master and one accepted minion' '
    start_master && start_and_accept m1
'

test_expect_success 'mctl-master -d returns once the master answers, 0' '
    mkdir -p "$T/d1" &&
    d1=$((PUB_PORT + 10)) &&
    while ss -Hltn | awk "{print \$4}" | grep -qE ":($d1|$((d1 + 1))|$((d1 + 2)))\$"; do
        d1=$((d1 + 3))
    done &&
    printf "interface: 127.0.0.1\npublish_port: %s\nret_port: %s\nauth_port: %s\npki_dir: %s\ncachedir: %s\nsock_dir: %s\npidfile: %s\naudit_log: %s\nlog_file: %s\n" \
        "$d1" $((d1 + 1)) $((d1 + 2)) "$T/d1/pki" "$T/d1/cache" \
        "$T/d1/run" "$T/d1/master.pid" "$T/d1/audit.log" "$T/d1/new/logs/master.log" > "$T/d1/master" &&
    "$BIN/mctl-master" -c "$T/d1" -d &&
    test -S "$T/d1/run/master.ipc" &&
    kill -0 "$(cat "$T/d1/master.pid")" &&
    mctl -c "$T/d1" key list > /dev/null &&
    test "$(stat -c %a "$T/d1/new/logs")" = 750 &&
    grep -q "master up on" "$T/d1/new/logs/master.log"
'

test_expect_success 'a second master with the same pidfile refuses to start and says why' '
    { st=0; "$BIN/mctl-master" -c "$T/d1" -d 2> err.txt || st=$?; } &&
    cat err.txt && test $st != 0 &&
    grep -q "already running as pid $(cat "$T/d1/master.pid")" err.txt &&
    kill -0 "$(cat "$T/d1/master.pid")" &&
    test -S "$T/d1/run/master.ipc" &&
    stop_detached "$T/d1/master.pid" &&
    ! test -e "$T/d1/master.pid"
'

test_expect_success 'mctl-master -d that cannot start exits non-zero with the reason' '
    sed -i "s/^publish_port: .*/publish_port: $PUB_PORT/" "$T/d1/master" &&
    { st=0; "$BIN/mctl-master" -c "$T/d1" -d 2> err.txt || st=$?; } &&
    cat err.txt && test $st = 1 &&
    grep -q "cannot listen on 127.0.0.1 port $PUB_PORT" err.txt &&
    ! test -e "$T/d1/master.pid"
'

test_expect_success 'mctl-minion -d with an unreadable master_pubkey exits non-zero with the reason' '
    mkdir -p "$T/etc/m2" &&
    printf "id: m2\nmaster: 127.0.0.1\nmaster_pubkey: %s\npki_dir: %s\ncachedir: %s\npidfile: %s\n" \
        "$T/nosuch.cert" "$T/pki/m2" "$T/cache/m2" "$T/run/m2.pid" > "$T/etc/m2/minion" &&
    { st=0; "$BIN/mctl-minion" -c "$T/etc/m2" -d 2> err.txt || st=$?; } &&
    cat err.txt && test $st != 0 &&
    grep -q "$T/nosuch.cert" err.txt &&
    ! test -e "$T/run/m2.pid"
'

# The master listens on each minion port through several sockets of its
# own (SO_REUSEPORT): another master of the same user must still find the
# ports taken, not share them.
test_expect_success 'a second master on the minion ports of a running one refuses to start' '
    mkdir -p "$T/d2" &&
    a2=$((PUB_PORT + 40)) &&
    while ss -Hltn | awk "{print \$4}" | grep -qE ":$a2\$"; do a2=$((a2 + 1)); done &&
    printf "interface: 127.0.0.1\npublish_port: %s\nret_port: %s\nauth_port: %s\npki_dir: %s\ncachedir: %s\nsock_dir: %s\npidfile: %s\naudit_log: %s\nlog_file: %s\n" \
        "$PUB_PORT" "$RET_PORT" "$a2" "$T/d2/pki" "$T/d2/cache" \
        "$T/d2/run" "$T/d2/master.pid" "$T/d2/audit.log" "$T/d2/master.log" > "$T/d2/master" &&
    { st=0; "$BIN/mctl-master" -c "$T/d2" -d 2> err.txt || st=$?; } &&
    cat err.txt && test $st != 0 &&
    grep -qE "cannot listen on 127.0.0.1 port ($PUB_PORT|$RET_PORT): Address already in use" err.txt &&
    ! test -e "$T/d2/master.pid" &&
    test "$(run_ids "*" test.ping)" = m1
'

# Two minions with one config (and pidfile), started at the same moment.
start_two() {
    { "$BIN/mctl-minion" -c "$T/etc/m2" -d 2> a.err; echo $? > a.st; } &
    { "$BIN/mctl-minion" -c "$T/etc/m2" -d 2> b.err; echo $? > b.st; } &
}

test_expect_success 'two minions started at once with one pidfile: exactly one runs' '
    sed -i "s|^master_pubkey: .*|master_pubkey: $T/pki/master/master.cert|" "$T/etc/m2/minion" &&
    printf "publish_port: %s\nret_port: %s\nauth_port: %s\n" "$PUB_PORT" "$RET_PORT" "$AUTH_PORT" >> "$T/etc/m2/minion" &&
    rm -f a.st b.st &&
    start_two &&
    wait_until 20 test -s a.st -a -s b.st &&
    cat a.err b.err &&
    test "$(cat a.st b.st | sort | tr "\n" " ")" != "0 0 " &&
    grep -qx 0 a.st b.st &&
    cat a.err b.err | grep -q "already running" &&
    test "$(pgrep -f -c "mctl-minion -c $T/etc/m2 -d")" -ge 1 &&
    stop_detached "$T/run/m2.pid"
'

test_expect_success 'a minion killed with SIGKILL leaves no job process behind' '
    mctl --async m1 cmd.run "sleep 3117; echo never" > /dev/null &&
    wait_until 10 pgrep -f "sleep 311[7]" > /dev/null &&
    stop_daemon m1 KILL &&
    wait_until 10 sh -c "! pgrep -f \"sleep 311[7]\" > /dev/null" &&
    ! pgrep -f "mctl-minion -c $T/etc/m1" > /dev/null
'

# Whatever a failed test above left running with -d (not a child of this
# script, so cleanup does not know it).
pkill -f "mctl-(master|minion) -c $T/" 2>/dev/null

test_done
