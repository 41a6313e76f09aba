#!/usr/bin/env bash
# mctl quickstart: install what is missing, build, start a master and three
# minions on loopback under a temporary folder, accept their keys, run
# `mctl '*' cmd.run uptime`, and serve the web console (mctl-api) on
# 127.0.0.1:8000, where you log in as yourself with your own password.
#
#   deploy/quickstart.sh            start the demo
#   deploy/quickstart.sh stop DIR   stop the demo that lives in DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

stop_demo() {
    local dir=$1
    [ -d "$dir/etc" ] || { echo "quickstart: $dir is not a demo folder" >&2; exit 1; }
    for pidfile in "$dir"/run/*.pid; do
        [ -f "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    echo "Stopped the demo in $dir (remove the folder with: rm -rf $dir)"
}

if [ "${1:-}" = stop ]; then
    stop_demo "${2:?usage: deploy/quickstart.sh stop DIR}"
    exit 0
fi
if [ $# -gt 0 ]; then
    echo "usage: deploy/quickstart.sh [stop DIR]" >&2
    exit 64
fi

echo "==> Installing missing packages and building"
"$root/deploy/install-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j "$(nproc)" >/dev/null
bin=$root/build/bin

port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
# publish_port, ret_port, auth_port: 4505-4507 when they are free.
base=4505
while ! { port_free $base && port_free $((base + 1)) && port_free $((base + 2)); }; do
    base=$((base + 100))
done

demo=$(mktemp -d /tmp/mctl-demo.XXXXXX)
mkdir -p "$demo/etc" "$demo/run" "$demo/log"
cat > "$demo/etc/master" <<CFG
interface: 127.0.0.1
publish_port: $base
ret_port: $((base + 1))
auth_port: $((base + 2))
pki_dir: $demo/pki/master
cachedir: $demo/cache/master
sock_dir: $demo/run/master
pidfile: $demo/run/master.pid
log_file: $demo/log/master
CFG

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local secs=$1 what=$2; shift 2
    local end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $end ]; then
            echo "quickstart: timed out waiting for $what; logs are in $demo/log" >&2
            exit 1
        fi
        sleep 0.1
    done
}

echo "==> Starting the master (ports $base-$((base + 2)) on 127.0.0.1) in $demo"
"$bin/mctl-master" -c "$demo/etc" -d
wait_for 10 "the master" test -S "$demo/run/master/master.ipc"

for id in m1 m2 m3; do
    mkdir -p "$demo/etc/$id"
    cat > "$demo/etc/$id/minion" <<CFG
id: $id
master: 127.0.0.1
master_pubkey: $demo/pki/master/master.cert
publish_port: $base
ret_port: $((base + 1))
auth_port: $((base + 2))
workers: 2
pki_dir: $demo/pki/$id
cachedir: $demo/cache/$id
pidfile: $demo/run/$id.pid
log_file: $demo/log/$id
grains:
  roles: [demo]
CFG
    "$bin/mctl-minion" -c "$demo/etc/$id" -d
done
export MCTL_CONFIG_DIR=$demo/etc

echo "==> Accepting the minions' keys"
pending() { [ "$("$bin/mctl" key list --out json | grep -c '"m[123]"')" -ge 3 ]; }
wait_for 20 "three minion keys" pending
"$bin/mctl" key accept -A -y
all_up() { "$bin/mctl" -t 2 --gather-timeout 1 '*' test.ping; }
wait_for 30 "the minions to answer" all_up

echo "==> mctl '*' cmd.run uptime"
"$bin/mctl" '*' cmd.run uptime

# The web console, plain HTTP on loopback only: PAM checks the password of
# whoever runs this (any user's when root).
api_port=8000
while ! port_free $api_port; do api_port=$((api_port + 1)); done
cat >> "$demo/etc/master" <<CFG
api_host: 127.0.0.1
api_port: $api_port
api_disable_ssl: true
api_pidfile: $demo/run/api.pid
api_log_file: $demo/log/api
CFG
console="the web console did not start (see $demo/log/api)"
if "$bin/mctl-api" -c "$demo/etc" -d; then
    console="http://127.0.0.1:$api_port/  (log in as $(id -un) with your password)"
fi

cat <<MSG

The demo is running in $demo. Try:

    export MCTL_CONFIG_DIR=$demo/etc
    $bin/mctl '*' test.ping
    $bin/mctl 'm*' grains.get os
    $bin/mctl --out json -L m1,m2 cmd.run 'id -un'
    $bin/mctl key list

Web console: $console

Logs: $demo/log.  Stop it with:  deploy/quickstart.sh stop $demo
MSG
