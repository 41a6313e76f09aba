# lib.sh - helpers for mctl's end-to-end tests, in the manner of git's
# test-lib.sh. A test script sources this, then runs
#
#     test_expect_success 'description' '
#         commands chained with &&
#     '
#
# and ends with test_done. Each script gets a fresh folder with its own
# master config, free loopback ports and CURVE keys; daemons started with
# start_master / start_minion are stopped (and checked to exit cleanly) at
# the end. Waiting is always wait_until with a deadline, never a bare sleep.
# A test's output is shown when it fails; a line it prints as "figure: ..."
# (a measurement) is shown under its "ok" line too.

set -u
BIN=${MCTL_BIN:?MCTL_BIN must name the folder holding mctl, mctl-master, mctl-minion}
TEST_NAME=$(basename "$0" .sh)
T=$(mktemp -d "/tmp/mctl-$TEST_NAME.XXXXXX")
chmod 755 "$T"
mkdir -p "$T/etc" "$T/log" "$T/run"
export MCTL_CONFIG_DIR=$T/etc
cd "$T" || exit 1
test_count=0
test_failed=0
declare -A DAEMON_PIDS=()
# A command the daemons are started under (valgrind, say); empty: none.
DAEMON_WRAP=()

say() { printf '%s\n' "$*" >&2; }

# Ports from 20000 to 31999: below the kernel's ephemeral range (32768 and
# up), so that no outgoing connection of another test holds one.
pick_ports() {
    local base
    while :; do
        base=$((20000 + RANDOM % 12000))
        if ! ss -Hltn | awk '{print $4}' | grep -qE ":($base|$((base + 1))|$((base + 2)))\$"; then
            break
        fi
    done
    RET_PORT=$base AUTH_PORT=$((base + 1)) PUB_PORT=$((base + 2))
}
pick_ports

mctl() { "$BIN/mctl" "$@"; }

# wait_until SECONDS COMMAND...: poll COMMAND until it succeeds.
wait_until() {
    local secs=$1; shift
    local end=$(($(date +%s%N) / 1000000 + secs * 1000))
    until "$@" >/dev/null 2>&1; do
        if [ $(($(date +%s%N) / 1000000)) -ge $end ]; then
            say "timed out after ${secs}s waiting for: $*"
            return 1
        fi
        sleep 0.05
    done
}

# start_master [CONFIG LINES...]: write $T/etc/master and start the master
# (on fresh ports once more if another test took the ones picked).
start_master() {
    write_master_config "$@"
    ${DAEMON_WRAP[@]+"${DAEMON_WRAP[@]}"} "$BIN/mctl-master" -c "$T/etc" >> "$T/log/master" 2>&1 &
    DAEMON_PIDS[master]=$!
    if ! wait_until 10 test -S "$T/run/master/master.ipc" &&
       grep -q "cannot listen" "$T/log/master"; then
        say "ports $RET_PORT-$PUB_PORT were taken; trying others"
        unset "DAEMON_PIDS[master]"
        pick_ports
        start_master "$@"
        return
    fi
    test -S "$T/run/master/master.ipc"
}

write_master_config() {
    {
        echo "interface: 127.0.0.1"
        echo "publish_port: $PUB_PORT"
        echo "ret_port: $RET_PORT"
        echo "auth_port: $AUTH_PORT"
        echo "pki_dir: $T/pki/master"
        echo "cachedir: $T/cache/master"
        echo "sock_dir: $T/run/master"
        echo "pidfile: $T/run/master.pid"
        echo "audit_log: $T/log/audit.log"
        echo "log_level: debug"
        printf '%s\n' "$@"
    } > "$T/etc/master"
}

# start_minion ID [CONFIG LINES...]: lines given override the defaults,
# which are those below and then MINION_EXTRA (an array a test may set).
start_minion() {
    local id=$1; shift
    mkdir -p "$T/etc/$id"
    local base=(
        "id: $id" "master: 127.0.0.1" "master_pubkey: $T/pki/master/master.cert"
        "publish_port: $PUB_PORT" "ret_port: $RET_PORT" "auth_port: $AUTH_PORT"
        "pki_dir: $T/pki/$id" "cachedir: $T/cache/$id" "pidfile: $T/run/$id.pid"
        "workers: 2" "heartbeat: 1" "log_level: debug"
    )
    local extra=(${MINION_EXTRA[@]+"${MINION_EXTRA[@]}"})
    # lines_without KEY_SOURCE LINES...: the LINES whose key KEY_SOURCE
    # (newline-separated lines) does not set
    lines_without() {
        local over=$1 line; shift
        for line in "$@"; do
            printf '%s\n' "$over" | grep -q "^${line%%:*}:" || echo "$line"
        done
    }
    {
        lines_without "$(printf '%s\n' ${extra[@]+"${extra[@]}"} "$@")" "${base[@]}"
        lines_without "$(printf '%s\n' "$@")" ${extra[@]+"${extra[@]}"}
        printf '%s\n' "$@"
    } > "$T/etc/$id/minion"
    ${DAEMON_WRAP[@]+"${DAEMON_WRAP[@]}"} "$BIN/mctl-minion" -c "$T/etc/$id" >> "$T/log/$id" 2>&1 &
    DAEMON_PIDS[$id]=$!
}

# stop_daemon NAME [SIGNAL]: stop it and wait; fails if it exits non-zero
# (a crash, or a sanitizer report).
stop_daemon() {
    local name=$1 sig=${2:-TERM} pid=${DAEMON_PIDS[$1]:-}
    [ -n "$pid" ] || return 0
    kill -s "$sig" "$pid" 2>/dev/null
    local rc=0
    wait "$pid" || rc=$?
    unset "DAEMON_PIDS[$name]"
    if [ "$sig" = TERM ] && [ $rc -ne 0 ]; then
        say "$name exited with status $rc"
        return 1
    fi
    return 0
}

# Key state as the master lists it.
key_in() { # key_in SECTION ID  (SECTION: minions, minions_pre, ...)
    mctl key list --out json | tr -d ' \n' | grep -q "\"$1\":\[[^]]*\"$2\""
}

accept_all() {
    local id
    for id in "$@"; do wait_until 20 key_in minions_pre "$id" || return 1; done
    mctl key accept -A -y >/dev/null
}

# The minion has connected after acceptance (its log says so).
minion_connected() { grep -q "connected to the master" "$T/log/$1"; }

# Start minions, accept them, and wait until they all answer test.ping.
start_and_accept() {
    local id
    for id in "$@"; do start_minion "$id"; done
    accept_all "$@" || return 1
    for id in "$@"; do wait_until 20 minion_connected "$id" || return 1; done
    wait_until 20 mctl -t 3 --gather-timeout 1 -L "$(IFS=,; echo "$*")" test.ping
}

# The body runs in a function of its own, so that a "return 1" in it (say
# from a loop) fails the test instead of leaving test_expect_success.
test_run_body() {
    eval "$1"
}

test_expect_success() {
    local _te_desc=$1 _te_body=$2
    test_count=$((test_count + 1))
    local _te_out=$T/test-$test_count.out
    # In the current shell, as git does, so daemons a test starts stay
    # children of this script and later tests can stop and wait for them.
    local _te_rc=0
    test_run_body "$_te_body" > "$_te_out" 2>&1 || _te_rc=$?
    if [ $_te_rc -eq 0 ]; then
        echo "ok $test_count - $_te_desc"
        # A measurement the test prints as "figure: ..." is shown with it.
        grep "^figure: " "$_te_out" | sed 's/^/# /' || true
    else
        echo "not ok $test_count - $_te_desc"
        sed 's/^/#   /' "$_te_out"
        test_failed=$((test_failed + 1))
    fi
}

# Helpers a test started that are not daemons (relays, say): killed at the
# end whatever became of the test.
EXTRA_PIDS=()

cleanup() {
    local name
    [ ${#EXTRA_PIDS[@]} -eq 0 ] || kill "${EXTRA_PIDS[@]}" 2>/dev/null
    for name in "${!DAEMON_PIDS[@]}"; do
        if ! stop_daemon "$name"; then
            test_failed=$((test_failed + 1))
            echo "not ok - $name did not stop cleanly"
        fi
    done
    # A test's own servers (pglib.sh's PostgreSQL), stopped after the daemons.
    if declare -F test_cleanup_hook > /dev/null; then test_cleanup_hook; fi
    if [ "$test_failed" -ne 0 ]; then
        for f in "$T"/log/*; do
            echo "# ---- $f (last 40 lines)"
            tail -n 40 "$f" | sed 's/^/#   /'
        done
    else
        rm -rf "$T"
    fi
}

test_done() {
    cleanup
    trap - EXIT
    echo "$((test_count - test_failed)) passed, $test_failed failed"
    [ "$test_failed" -eq 0 ]
    exit
}
trap cleanup EXIT
# Killed (Ctrl-C, a timeout, a closed pipe): still stop every daemon.
trap 'cleanup; trap - EXIT; exit 1' INT TERM HUP PIPE

# Start the master again with the config it had.
restart_master() {
    ${DAEMON_WRAP[@]+"${DAEMON_WRAP[@]}"} "$BIN/mctl-master" -c "$T/etc" >> "$T/log/master" 2>&1 &
    DAEMON_PIDS[master]=$!
    wait_until 10 test -S "$T/run/master/master.ipc"
}

restart_minion() {
    ${DAEMON_WRAP[@]+"${DAEMON_WRAP[@]}"} "$BIN/mctl-minion" -c "$T/etc/$1" >> "$T/log/$1" 2>&1 &
    DAEMON_PIDS[$1]=$!
}

# The ids that answered a job, sorted, one line: run_ids ARGS...
run_ids() {
    mctl --out json "$@" 2>/dev/null |
        python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin))))'
}

# The ids a target selects, sorted, one line.
target_ids() {
    mctl --list-targets "$@" 2>/dev/null | sort | tr '\n' ' ' | sed 's/ $//'
}

# expect_ids "EXPECTED IDS" TARGET-ARGS...: both the master's resolution
# and the minions that really answer a job must be exactly EXPECTED.
expect_ids() {
    local want=$1; shift
    local listed ran
    listed=$(target_ids "$@")
    ran=$(run_ids "$@" test.ping)
    if [ "$listed" != "$want" ] || [ "$ran" != "$want" ]; then
        say "target $*: expected [$want], listed [$listed], answered [$ran]"
        return 1
    fi
}

# targets_are "IDS" TARGET-ARGS...: for wait_until, re-evaluated each poll.
targets_are() {
    local want=$1; shift
    [ "$(target_ids "$@")" = "$want" ]
}
