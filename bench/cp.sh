#!/usr/bin/env bash
# bench/cp.sh - mctl cp against pdcp, clush --copy and rsync, to the same
# hosts in one run.
#
# Each of N hosts is a mount namespace with a tmpfs of its own at DEST
# (so that no tool's writes meet another host's, and no disk is measured),
# running a real mctl-minion and a real sshd (Debian's openssh-server, on
# a loopback port of its own; root logs in with a key made here). One
# mctl-master serves them all. Prints, for a SIZE MiB file of random bytes
# and for FILES small files (1-4 KiB, in 100 folders):
#   the wall time and the aggregate rate (N x bytes / time) of each tool;
#   for mctl, the growth of the master's and of the largest minion's
#   resident memory during the copy (VmHWM after clear_refs).
# Needs root; installs pdsh, clustershell, rsync and openssh-server when
# missing.
#
# Also prints the CPU seconds the master, the minions (together) and mctl
# spent on mctl's copies.
#
#   bench/cp.sh [--hosts N] [--size-mb MB] [--files COUNT] [--rounds R] [--mctl-only]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=${MCTL_BIN:-$SRC/build/bin}
HOSTS=10 SIZE_MB=1024 FILES=10000 ROUNDS=3 SSH_TOOLS=1
while [ $# -gt 0 ]; do
    case $1 in
    --hosts) HOSTS=$2; shift 2 ;;
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --files) FILES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --mctl-only) SSH_TOOLS=0; shift ;;
    -h | --help) sed -n 2,22p "$0"; exit 0 ;;
    *) echo "bench/cp.sh: unknown option $1" >&2; exit 64 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "bench/cp.sh: needs root" >&2; exit 1; }
need=()
for p in pdsh:pdcp clustershell:clush rsync:rsync openssh-server:/usr/sbin/sshd; do
    command -v "${p#*:}" >/dev/null || need+=("${p%%:*}")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get install -y -q "${need[@]}" >/dev/null
fi

W=$(mktemp -d /tmp/mctl-bench-cp.XXXXXX)
DEST=/tmp/mctl-bench-cp-dest
PIDS=()
cleanup() {
    [ ${#PIDS[@]} -eq 0 ] || kill "${PIDS[@]}" 2>/dev/null || true
    # Each host's sshd runs on in its namespace (and keeps its tmpfs) until
    # it is stopped by its pidfile.
    local f
    for f in "$W"/sshd_*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
    wait 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/etc" "$W/log" "$DEST" /run/sshd
port() { echo $((20000 + RANDOM % 20000)); }
PUB=$(port) RET=$((PUB + 1)) AUTH=$((PUB + 2))

cat > "$W/etc/master" <<EOF
interface: 127.0.0.1
publish_port: $PUB
ret_port: $RET
auth_port: $AUTH
pki_dir: $W/pki/master
cachedir: $W/cache/master
sock_dir: $W/run
pidfile: $W/master.pid
log_file: $W/log/master
audit_log: $W/log/audit.log
EOF
"$BIN/mctl-master" -c "$W/etc" &
PIDS+=($!)
MASTER=$!
for _ in $(seq 100); do [ -S "$W/run/master.ipc" ] && break; sleep 0.1; done
export MCTL_CONFIG_DIR=$W/etc

# SSH: one key for root, one sshd per host, h1..hN in an ssh_config.
ssh-keygen -q -t ed25519 -N "" -f "$W/id" && ssh-keygen -q -t ed25519 -N "" -f "$W/hostkey"
cp "$W/id.pub" "$W/authorized_keys"
: > "$W/ssh_config"
declare -A MPID=()
for i in $(seq "$HOSTS"); do
    p=$(port)
    cat > "$W/sshd_$i" <<EOF
Port $p
ListenAddress 127.0.0.1
HostKey $W/hostkey
PidFile $W/sshd_$i.pid
AuthorizedKeysFile $W/authorized_keys
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
    printf 'Host h%s\n  HostName 127.0.0.1\n  Port %s\n' "$i" "$p" >> "$W/ssh_config"
    mkdir -p "$W/etc/h$i"
    cat > "$W/etc/h$i/minion" <<EOF
id: h$i
master: 127.0.0.1
master_pubkey: $W/pki/master/master.cert
publish_port: $PUB
ret_port: $RET
auth_port: $AUTH
pki_dir: $W/pki/h$i
cachedir: $W/cache/h$i
pidfile: $W/h$i.pid
log_file: $W/log/h$i
EOF
    # The host: its own tmpfs at DEST, its sshd, and its minion (which
    # takes the shell's pid).
    unshare --mount --propagation private sh -c '
        mount -t tmpfs -o size=$(($3 + 256))m tmpfs "$1" && /usr/sbin/sshd -f "$2" &&
        exec "$4" -c "$5"' sh "$DEST" "$W/sshd_$i" "$SIZE_MB" "$BIN/mctl-minion" "$W/etc/h$i" &
    PIDS+=($!)
    MPID[h$i]=$!
done
printf 'Host *\n  User root\n  IdentityFile %s\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n' \
    "$W/id" >> "$W/ssh_config"
for _ in $(seq 200); do
    [ "$("$BIN/mctl" key list --out json 2>/dev/null | grep -o '"h[0-9]*"' | wc -l)" -ge "$HOSTS" ] && break
    sleep 0.1
done
"$BIN/mctl" key accept -A -y >/dev/null
for _ in $(seq 100); do
    n=$("$BIN/mctl" -t 5 --gather-timeout 2 'h*' test.ping --out json 2>/dev/null | grep -c true || true)
    [ "$n" -ge "$HOSTS" ] && break
    sleep 0.2
done
for i in $(seq "$HOSTS"); do ssh -F "$W/ssh_config" "h$i" true; done

in_host() { local h=$1; shift; nsenter -t "${MPID[$h]}" -m -- "$@"; }
clear_dest() { for i in $(seq "$HOSTS"); do in_host "h$i" sh -c "rm -rf $DEST/* $DEST/.mctl-cp.*"; done; }
check_all() { # check_all RELPATH SOURCE: every host has SOURCE at DEST/RELPATH
    for i in $(seq "$HOSTS"); do
        in_host "h$i" cmp -s "$2" "$DEST/$1" || { echo "h$i: $DEST/$1 differs" >&2; return 1; }
    done
}
now() { date +%s.%N; }
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
cpu() { # cpu PID...: their user+system CPU seconds so far
    local p t=0
    for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done
    echo "scale=1; $t / $(getconf CLK_TCK)" | bc -l
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
row() { printf '%-34s %10s %12s\n' "$@"; }

head -c "$((SIZE_MB * 1048576))" /dev/urandom > "$W/big"
mkdir -p "$W/tree"
python3 - "$W/tree" "$FILES" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%02d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(os.urandom(random.randint(1024, 4096)))
EOF
tree_bytes=$(du -sb "$W/tree" | cut -f1)

echo "mctl cp against SSH tools: $HOSTS hosts (each its own tmpfs), $ROUNDS rounds, median"
echo "$(nproc) cores; master and minions are mctl $("$BIN/mctl" --version | cut -d' ' -f2)"
echo
row "one file of $SIZE_MB MiB" "seconds" "aggregate"
declare -A T=()
time_it() { # time_it NAME CMD...: the median of ROUNDS runs, the copies cleared before each
    local name=$1 r t0 t1 times=(); shift
    for r in $(seq "$ROUNDS"); do
        clear_dest
        t0=$(now)
        "$@" > "$W/out.$name" 2>&1 || { echo "$name failed:" >&2; tail -5 "$W/out.$name" >&2; exit 1; }
        t1=$(now)
        times+=("$(echo "$t1 - $t0" | bc -l)")
    done
    printf '%s\n' "${times[@]}" | median
}
mb_per_s() { echo "scale=0; $HOSTS * $1 / 1000000 / $2" | bc -l; }

big_bytes=$((SIZE_MB * 1048576))
# mctl, with the memory of the master and of the largest minion watched.
clear_dest
echo 5 > "/proc/$MASTER/clear_refs"
m_before=$(rss "$MASTER")
mn_before=0
for h in "${!MPID[@]}"; do echo 5 > "/proc/${MPID[$h]}/clear_refs"; r=$(rss "${MPID[$h]}"); [ "$r" -gt "$mn_before" ] && mn_before=$r; done
c_master=$(cpu "$MASTER") c_minions=$(cpu "${MPID[@]}")
t=$(time_it mctl "$BIN/mctl" cp -t 60 'h*' "$W/big" "$DEST/big")
check_all big "$W/big" || { cat "$W"/out.* >&2; exit 1; }
c_master=$(echo "$(cpu "$MASTER") - $c_master" | bc -l)
c_minions=$(echo "$(cpu "${MPID[@]}") - $c_minions" | bc -l)
m_growth=$(( ($(hwm "$MASTER") - m_before) / 1024 ))
mn_growth=0
for h in "${!MPID[@]}"; do g=$(( ($(hwm "${MPID[$h]}") - mn_before) / 1024 )); [ "$g" -gt "$mn_growth" ] && mn_growth=$g; done
row "mctl cp" "$t" "$(mb_per_s $big_bytes "$t") MB/s"
if [ "$SSH_TOOLS" = 1 ]; then
export PDSH_SSH_ARGS="-F $W/ssh_config -x -l%u %h"
tp=$(time_it pdcp pdcp -R ssh -w "h[1-$HOSTS]" "$W/big" "$DEST/big")
check_all big "$W/big" || { cat "$W"/out.* >&2; exit 1; }
row "pdcp -R ssh" "$tp" "$(mb_per_s $big_bytes "$tp") MB/s"
tc=$(time_it clush clush -w "h[1-$HOSTS]" -o "-F $W/ssh_config" -O "scp_options=-F $W/ssh_config" --copy "$W/big" --dest "$DEST/")
check_all big "$W/big" || { cat "$W"/out.* >&2; exit 1; }
row "clush --copy" "$tc" "$(mb_per_s $big_bytes "$tc") MB/s"
fi
echo
echo "mctl, $ROUNDS copies: CPU seconds: master $c_master, minions $c_minions"
echo "mctl: master grew by $m_growth MiB, the largest minion by $mn_growth MiB (peak resident)"
[ "$SSH_TOOLS" = 0 ] ||
    echo "mctl cp is $(echo "scale=1; $tp / $t" | bc -l)x faster than pdcp, $(echo "scale=1; $tc / $t" | bc -l)x faster than clush --copy"
echo
row "$FILES files of 1-4 KiB (-r)" "seconds" "aggregate"
t2=$(time_it mctl-r "$BIN/mctl" cp -r -t 60 'h*' "$W/tree" "$DEST/")
check_all tree/d42/f00042 "$W/tree/d42/f00042"
row "mctl cp -r" "$t2" "$(mb_per_s "$tree_bytes" "$t2") MB/s"
rsync_all() {
    local i
    for i in $(seq "$HOSTS"); do rsync -a -e "ssh -F $W/ssh_config" "$W/tree" "h$i:$DEST/" & done
    wait
}
[ "$SSH_TOOLS" = 1 ] || exit 0
tr=$(time_it rsync rsync_all)
check_all tree/d42/f00042 "$W/tree/d42/f00042"
row "rsync -a over ssh (all hosts at once)" "$tr" "$(mb_per_s "$tree_bytes" "$tr") MB/s"
echo "mctl cp -r is $(echo "scale=1; $tr / $t2" | bc -l)x faster than rsync"
