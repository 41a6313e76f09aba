#!/usr/bin/env bash
# bench/deploy.sh - time `mctl deploy` to fleets of hosts built as in the
# fleet test (network and mount namespaces, a real sshd each): a first
# install, a re-run that finds every host up to date, and an uninstall,
# over several rounds. Needs root. Prints a table of seconds.
#
#   bench/deploy.sh [--hosts 8,32] [--rounds 3] [--forks 16]
#
# MCTL_BIN names the folder with the binaries (default build/bin).
set -u
here=$(cd "$(dirname "$0")" && pwd)
export MCTL_BIN=${MCTL_BIN:-$here/../build/bin}
MCTL_BIN=$(cd "$MCTL_BIN" && pwd) || exit 1
hosts_list=8,32 rounds=3 forks=16
while [ $# -gt 0 ]; do
    case $1 in
    --hosts) hosts_list=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --forks) forks=$2; shift 2 ;;
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "deploy.sh: unknown argument '$1'" >&2; exit 64 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "deploy.sh: needs root (network namespaces)" >&2; exit 1; }

. "$here/../tests/e2e/lib.sh"
. "$here/../tests/e2e/fleet.sh"
trap 'cleanup; fleet_down' EXIT
MASTER_NS=$(fleet_ns master)

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# run_timed OUT -- deploy args: seconds on stdout, fails unless exit 0
run_timed() {
    local t0 t1
    t0=$(now_ms)
    ip netns exec "$MASTER_NS" "$BIN/mctl" -c "$T/etc" deploy --known-hosts "$T/known_hosts" \
        --master "$(fleet_ip master)" -f "$forks" --roster "$T/roster" "$@" > "$T/out" 2>&1 ||
        { cat "$T/out" >&2; return 1; }
    t1=$(now_ms)
    awk -v ms=$((t1 - t0)) 'BEGIN { printf "%.2f", ms / 1000 }'
}

stats() { # median and max of the arguments
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%8.2f %8.2f", v[int((NR + 1) / 2)], v[NR] }'
}

write_master_config "interface: 0.0.0.0"
sed -i "/^interface: 127.0.0.1/d" "$T/etc/master"

printf '%6s %6s | %8s %8s | %8s %8s | %8s %8s\n' hosts forks "install" max "re-run" max uninst max
IFS=, read -r -a counts <<< "$hosts_list"
for n in "${counts[@]}"; do
    fleet_up "$n" || exit 1
    ip netns exec "$MASTER_NS" "$BIN/mctl-master" -c "$T/etc" >> "$T/log/master" 2>&1 &
    DAEMON_PIDS[master]=$!
    wait_until 10 test -S "$T/run/master/master.ipc" || exit 1
    for i in $(seq 1 "$n"); do
        printf 'h%d:\n  host: %s\n  priv: %s\n' "$i" "$(fleet_ip "h$i")" "$FLEET/id_ed25519"
    done > "$T/roster"
    ins=() rer=() uni=()
    for r in $(seq 1 "$rounds"); do
        s=$(run_timed --accept-new) || exit 1
        ins+=("$s")
        s=$(run_timed) || exit 1
        grep -q "installed\|updated" "$T/out" && { echo "re-run changed hosts" >&2; exit 1; }
        rer+=("$s")
        s=$(run_timed --uninstall) || exit 1
        uni+=("$s")
    done
    printf '%6d %6d | %s | %s | %s\n' "$n" "$forks" "$(stats "${ins[@]}")" "$(stats "${rer[@]}")" \
        "$(stats "${uni[@]}")"
    stop_daemon master
    fleet_down
    rm -f "$T/known_hosts"
done
