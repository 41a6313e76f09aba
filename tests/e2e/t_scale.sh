#!/usr/bin/env bash
# 200 minions on one master: all answer, and after a master restart all
# answer again within 30 s. (Normal build only: 600 sanitized processes
# would measure the sanitizer.)
. "$(dirname "$0")/lib.sh"

if ldd "$BIN/mctl-master" | grep -q libasan; then
    echo "1..0 # SKIP sanitizer build"
    exit 0
fi
N=200
ids=()
for i in $(seq 1 $N); do ids+=("n$i"); done

all_true() { test "$(mctl -t 5 --gather-timeout 3 --out json "*" test.ping | grep -c ": true")" = $N; }
pending_count() { mctl key list --out json | tr -d " \n" | grep -o '"minions_pre":\[[^]]*\]' | grep -o '"n[0-9]*"' | wc -l; }
all_pending() { test "$(pending_count)" = $N; }

test_expect_success "$N minions register, are accepted and answer" '
    start_master "auto_accept: false" &&
    for id in "${ids[@]}"; do start_minion "$id" "workers: 1" "heartbeat: 10"; done &&
    wait_until 120 all_pending &&
    mctl key accept -A -y > /dev/null &&
    wait_until 60 all_true
'

test_expect_success "master restart with $N minions connected: all answer again within 30 s" '
    stop_daemon master &&
    t0=$(date +%s%N) &&
    restart_master &&
    wait_until 30 all_true &&
    echo "all $N answering $(( ($(date +%s%N) - t0) / 1000000 )) ms after the restart"
'

test_done
