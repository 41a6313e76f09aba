#!/usr/bin/env bash
# tests/load.sh - the load test: M minions (default 500), C clients (10)
# each publishing test.ping to all of them, one job at a time, for S
# seconds (60). Passes when every job got every return, the master's RSS
# did not grow over the run's second half by more than 10%, and no log
# has an error. Prints jobs, returns, and the master's RSS over time.
# Not part of ctest (it takes minutes); run it by hand:
#
#   tests/load.sh [--minions 500] [--clients 10] [--seconds 60]
set -u
here=$(cd "$(dirname "$0")" && pwd)
export MCTL_BIN=${MCTL_BIN:-$here/../build/bin}
MCTL_BIN=$(cd "$MCTL_BIN" && pwd) || exit 1
M=500 C=10 S=60
while [ $# -gt 0 ]; do
    case $1 in
    --minions) M=$2; shift 2 ;;
    --clients) C=$2; shift 2 ;;
    --seconds) S=$2; shift 2 ;;
    *) echo "load.sh: unknown argument '$1'" >&2; exit 64 ;;
    esac
done
. "$here/e2e/lib.sh"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
all_true() { test "$(mctl -t 10 --gather-timeout 5 --out json "*" test.ping | grep -c ": true")" = "$M"; }
pending() { mctl key list --out json | tr -d " \n" | grep -o '"minions_pre":\[[^]]*\]' | grep -o '"l[0-9]*"' | wc -l; }
all_pending() { test "$(pending)" = "$M"; }

# One client: jobs until the deadline; a line per job: returns and status.
client() {
    local end=$1 out=$2 n=0
    while [ "$(date +%s)" -lt "$end" ]; do
        local st=0 got
        got=$(mctl -t 30 --gather-timeout 10 --out json "*" test.ping 2>>"$out.err" | grep -c ": true") || st=$?
        echo "$got" >> "$out"
        n=$((n + 1))
    done
}

bench_raise() { ulimit -n 65536 2>/dev/null || true; }
bench_raise
echo "starting a master and $M minions"
start_master "auto_accept: false"
for i in $(seq 1 "$M"); do start_minion "l$i" "workers: 1" "heartbeat: 30" "log_level: info"; done
wait_until 300 all_pending || exit 1
mctl key accept -A -y > /dev/null
wait_until 120 all_true || exit 1
pid=${DAEMON_PIDS[master]}
echo "all $M answering; $C clients for $S s"

end=$(($(date +%s) + S))
clients=()
for c in $(seq 1 "$C"); do
    client "$end" "$T/client$c" &
    clients+=($!)
done
samples=()
while [ "$(date +%s)" -lt "$end" ]; do
    samples+=("$(rss_kib "$pid")")
    sleep 5 # a sampling interval, not a wait for a condition
done
wait "${clients[@]}"
samples+=("$(rss_kib "$pid")")

jobs=$(cat "$T"/client* 2>/dev/null | grep -c .)
full=$(cat "$T"/client* 2>/dev/null | grep -cx "$M")
returns=$(cat "$T"/client* 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
errors=$(grep -h " error: " "$T"/log/* | head -5)
half=$(( ${#samples[@]} / 2 ))
mid=${samples[$half]} last=${samples[-1]} peak=$(printf '%s\n' "${samples[@]}" | sort -n | tail -1)
printf 'minions %d, clients %d, %d s\n' "$M" "$C" "$S"
printf 'jobs %d, with every return %d, returns %d (%.0f/s)\n' "$jobs" "$full" "$returns" \
    "$(echo "$returns / $S" | bc -l)"
printf 'master RSS KiB every 5 s: %s\n' "${samples[*]}"
printf 'master RSS: mid-run %d KiB, end %d KiB, peak %d KiB\n' "$mid" "$last" "$peak"
ok=1
[ "$jobs" -gt 0 ] && [ "$full" = "$jobs" ] || { echo "FAIL: $((jobs - full)) jobs missed returns"; ok=0; }
[ "$last" -le $((mid + mid / 10)) ] || { echo "FAIL: the master grew from $mid to $last KiB"; ok=0; }
[ -z "$errors" ] || { echo "FAIL: errors in the logs:"; echo "$errors"; ok=0; }
cat "$T"/client*.err 2>/dev/null | sort | uniq -c | head -5
[ $ok = 1 ] && echo PASS
test_failed=$((1 - ok))
test_done > /dev/null
