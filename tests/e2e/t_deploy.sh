#!/usr/bin/env bash
# mctl deploy to a fleet of hosts made of network and mount namespaces,
# each with a real sshd: install, answer, re-run (nothing changes), a
# changed host key, an update, failures in the summary, uninstall.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/fleet.sh"

if [ "$(id -u)" != 0 ] || ! command -v /usr/sbin/sshd >/dev/null || ! ip netns list >/dev/null 2>&1; then
    echo "1..0 # SKIP needs root, openssh-server and ip netns"
    exit 0
fi
trap 'cleanup; fleet_down' EXIT
trap 'cleanup; fleet_down; trap - EXIT; exit 1' INT TERM HUP PIPE

GOOD=(h1 h2 h3 h4 h5 h6 h7 h8)
MASTER_NS=$(fleet_ns master)

deploy() {
    ip netns exec "$MASTER_NS" "$BIN/mctl" -c "$T/etc" deploy --known-hosts "$T/known_hosts" \
        --master "$(fleet_ip master)" -t 30 "$@"
}

# deploy_ok OUT ARGS...: deploy, print what it said, fail unless exit 0
deploy_ok() {
    local out=$1 st=0
    shift
    deploy "$@" > "$out" 2>&1 || st=$?
    cat "$out"
    return $st
}

# deploy_exits STATUS OUT ARGS...: deploy, print what it said, fail unless
# it exited with STATUS
deploy_exits() {
    local want=$1 out=$2 st=0
    shift 2
    deploy "$@" > "$out" 2>&1 || st=$?
    cat "$out"
    [ "$st" = "$want" ] || { echo "exit status $st, expected $want"; return 1; }
}

# The summary line of one host: HOST RESULT SECONDS ERROR...
result_of() { awk -v h="$1" '$1 == h { print $2 }' "$2"; }
error_of() { awk -v h="$1" '$1 == h { $1 = $2 = $3 = $4 = ""; print }' "$2"; }
via_of() { awk -v h="$1" '$1 == h { print $4 }' "$2"; }

start_fleet_master() {
    # mctl_dep may deploy (publisher_acl @deploy); mctl_nodep may not.
    getent group mctldep > /dev/null || groupadd mctldep || return 1
    for u in mctl_dep mctl_nodep; do
        id -u $u > /dev/null 2>&1 || useradd -M -N -g mctldep -s /usr/sbin/nologin $u || return 1
    done
    write_master_config "interface: 0.0.0.0" "client_group: mctldep" \
        "publisher_acl:" "  mctl_dep:" "    - '@deploy'"
    sed -i "/^interface: 127.0.0.1/d" "$T/etc/master"
    ip netns exec "$MASTER_NS" "$BIN/mctl-master" -c "$T/etc" >> "$T/log/master" 2>&1 &
    DAEMON_PIDS[master]=$!
    wait_until 10 test -S "$T/run/master/master.ipc"
}

# Deploy with --ask-pass on a terminal (script(1)), typing the password
# once the prompt is there.
ask_pass_deploy() {
    rm -f tty.in
    mkfifo tty.in || return 1
    script -qec "ip netns exec $MASTER_NS $BIN/mctl -c $T/etc deploy --known-hosts $T/known_hosts --master $(fleet_ip master) --ask-pass $1" /dev/null < tty.in > out 2>&1 &
    local pid=$! st=0
    exec 3> tty.in
    wait_until 10 grep -q "SSH password:" out && printf "%s\n" "$FLEET_PASSWORD" >&3
    exec 3>&-
    wait $pid || st=$?
    cat out
    return $st
}

minion_pid() { fleet_in "$1" cat /run/mctl/minion.pid; }

# What a host's minion logged, for a failed check to show.
show_minion_log() { echo "--- $1: /var/log/mctl/minion.log"; fleet_in "$1" cat /var/log/mctl/minion.log; }

write_roster() { # write_roster FILE ROLE_OF_H2
    {
        for h in "${GOOD[@]}"; do
            echo "$h:"
            echo "  host: $(fleet_ip "$h")"
            case $h in
            h7) echo "  port: 2222" ;;
            esac
            if [ "$h" = h8 ]; then
                # a user who needs sudo, with a password
                echo "  user: sudoer"
                echo "  passwd: $FLEET_PASSWORD"
                echo "  sudo: true"
            else
                echo "  priv: $FLEET/id_ed25519"
            fi
            case $h in
            h1 | h3) echo "  grains: {roles: [web, \"front end\"]}" ;;
            h2) echo "  grains: {roles: [$2]}" ;;
            esac
        done
        echo "h9:"
        echo "  host: $(fleet_ip h9)"
        echo "  passwd: wrong-$FLEET_PASSWORD"
        echo "h10:"
        echo "  host: $(fleet_ip h10)"
        echo "  priv: $FLEET/id_ed25519"
        echo "h11:"
        echo "  host: $FLEET_NET.250"
        echo "  priv: $FLEET/id_ed25519"
    } > "$1"
}

test_expect_success 'a fleet of hosts with sshd and a master in its own namespace' '
    fleet_up 9 h6=nosftp h7=port=2222 &&
    fleet_host h10 256 &&
    wait_until 20 fleet_sshd_up h10 &&
    start_fleet_master &&
    write_roster "$T/roster" db
'

test_expect_success 'deploy: the good hosts answer, the others fail in the summary' '
    deploy_exits 1 "$T/first" --roster "$T/roster" --accept-new &&
    for h in "${GOOD[@]}"; do test "$(result_of $h "$T/first")" = installed || return 1; done &&
    test "$(result_of h9 "$T/first")" = failed &&
    error_of h9 "$T/first" | grep -q "authentication refused for root@" &&
    test "$(result_of h10 "$T/first")" = failed &&
    error_of h10 "$T/first" | grep -q "no space on" &&
    test "$(result_of h11 "$T/first")" = failed &&
    error_of h11 "$T/first" | grep -q "unreachable" &&
    grep -q "^11 hosts: 8 answering, 3 failed" "$T/first" &&
    test "$(via_of h6 "$T/first")" = exec && test "$(via_of h1 "$T/first")" = sftp &&
    test "$(via_of h7 "$T/first")" = sftp && test "$(via_of h8 "$T/first")" = sftp ||
    { show_minion_log h1; false; }
'

test_expect_success 'every deployed minion answers test.ping and grains.get id' '
    mctl --out json "*" test.ping > ping.json &&
    mctl "*" grains.get id > ids.txt &&
    cat ids.txt &&
    for h in "${GOOD[@]}"; do
        grep -q "\"$h\": true" ping.json || return 1
        grep -A1 "^$h:" ids.txt | tail -n 1 | grep -q "^    $h\$" || return 1
    done &&
    test "$(grep -c ": true" ping.json)" = 8
'

test_expect_success 'roster grains reach the minions' '
    mctl -G "roles:web" test.ping > web.txt &&
    test "$(grep -c "^h[0-9]*:" web.txt)" = 2 &&
    grep -q "^h1:" web.txt && grep -q "^h3:" web.txt &&
    mctl -G "roles:front end" test.ping | grep -q "^h3:"
'

test_expect_success 'the master accepted exactly the keys made on the hosts' '
    mctl key list --out json | tr -d " \n" > keys.json &&
    for h in "${GOOD[@]}"; do
        grep -q "\"minions\":\[[^]]*\"$h\"" keys.json || return 1
        fleet_in $h /usr/local/bin/mctl-minion -c /etc/mctl --gen-keys > pub.$h &&
        mctl key finger $h | grep -q ":" || return 1
    done &&
    ! grep -q "minions_pre\":\[\"" keys.json &&
    fleet_in h1 stat -c %a /etc/mctl/minion | grep -qx 600 &&
    fleet_in h1 grep -q "master_pubkey: " /etc/mctl/minion
'

test_expect_success 're-running deploy changes nothing' '
    for h in "${GOOD[@]}"; do minion_pid $h > pid.$h || return 1; done &&
    fleet_in h4 stat -c %i /usr/local/bin/mctl-minion > inode.before &&
    deploy_exits 1 "$T/second" --roster "$T/roster" &&
    for h in "${GOOD[@]}"; do
        test "$(result_of $h "$T/second")" = unchanged || return 1
        test "$(minion_pid $h)" = "$(cat pid.$h)" || return 1
    done &&
    fleet_in h4 stat -c %i /usr/local/bin/mctl-minion | cmp - inode.before
'

test_expect_success 'a user without sudo, and a binary for another architecture, fail clearly' '
    printf "nosudo:\n  host: %s\n  user: deployer\n  sudo: true\n  priv: %s\n" \
        "$(fleet_ip h9)" "$FLEET/id_ed25519" > roster.sudo &&
    deploy_exits 1 out --roster roster.sudo &&
    error_of nosudo out | grep -q "no sudo: deployer cannot run commands as root on" &&
    printf "nosudo:\n  host: %s\n  user: deployer\n  priv: %s\n" \
        "$(fleet_ip h9)" "$FLEET/id_ed25519" > roster.nosudo &&
    deploy_exits 1 out --roster roster.nosudo && error_of nosudo out | grep -q "not root" &&
    cp "$BIN/mctl-minion" arm-minion &&
    printf "\267\000" | dd of=arm-minion bs=1 seek=18 conv=notrunc status=none &&
    deploy_exits 1 out --roster "$T/roster" --minion-binary arm-minion h7 &&
    error_of h7 out | grep -q "unsupported architecture: .* is x86_64, the minion binary is built for aarch64" &&
    test "$(minion_pid h7)" = "$(cat pid.h7)"
'

test_expect_success 'a changed config is rewritten and the minion restarted' '
    write_roster "$T/roster2" cache &&
    deploy_ok out --roster "$T/roster2" h2 &&
    test "$(result_of h2 out)" = updated &&
    test "$(minion_pid h2)" != "$(cat pid.h2)" &&
    mctl -G "roles:cache" test.ping | grep -q "^h2:"
'

# newer_binary OUT: the minion binary with its version mark changed (each
# digit a 9), as a newer build would carry; prints the new version.
newer_binary() {
    python3 - "$BIN/mctl-minion" "$1" <<'PY'
import re, sys
data = open(sys.argv[1], "rb").read()
m = re.search(rb"@\(#\)mctl ([0-9A-Za-z.+~-]+)", data)
old = m.group(1)
new = bytes(b"9"[0] if chr(c).isdigit() else c for c in old)
open(sys.argv[2], "wb").write(data.replace(b"@(#)mctl " + old, b"@(#)mctl " + new))
print(new.decode())
PY
    chmod 755 "$1"
}

test_expect_success 'an upgrade: --check first, then in place while a job runs; keys and the return survive; --rollback' '
    old=$("$BIN/mctl-minion" --version | cut -d" " -f2) &&
    mkdir -p "$T/new" && new=$(newer_binary "$T/new/mctl-minion") &&
    test "$("$T/new/mctl-minion" --version)" = "mctl-minion $new" && test "$new" != "$old" &&
    mctl key list --out json > keys.before &&
    deploy_ok out --roster "$T/roster2" --check --minion-binary "$T/new/mctl-minion" "h[1-8]" &&
    for h in "${GOOD[@]}"; do
        test "$(result_of $h out)" = would-update && grep -q "^$h .* $old -> $new$" out || return 1
    done &&
    test "$(mctl "*" grains.get mctl_version | grep -c "^    $old$")" = 8 &&
    jid=$(mctl --async h1 cmd.run "sleep 5; echo survived" | grep -oE "[0-9]{20}") &&
    deploy_ok out --roster "$T/roster2" --minion-binary "$T/new/mctl-minion" "h[1-8]" &&
    for h in "${GOOD[@]}"; do
        test "$(result_of $h out)" = updated && grep -q "^$h .* $old -> $new$" out || return 1
    done &&
    test "$(mctl "*" grains.get mctl_version | grep -c "^    $new$")" = 8 &&
    mctl key list --out json | cmp - keys.before &&
    mctl jobs wait "$jid" | grep -q "^    survived$" &&
    deploy_ok out --roster "$T/roster2" --rollback h2 &&
    test "$(result_of h2 out)" = rolled-back && grep -q "^h2 .* $new -> $old$" out &&
    mctl h2 grains.get mctl_version | grep -q "^    $old$" &&
    { st=0; deploy --roster "$T/roster2" --rollback h3 h4 > out 2>&1 || st=$?; } &&
    cat out && test $st = 0 &&
    { st=0; deploy --roster "$T/roster" --rollback h9 > out 2>&1 || st=$?; } && cat out && test $st = 1
'

test_expect_success 'a password sudo does not ask for is never run as a command' '
    printf "h5:\n  host: %s\n  user: nopass\n  passwd: touch /tmp/mctl-pwned\n  sudo: true\n" \
        "$(fleet_ip h5)" > "$T/roster3" &&
    deploy_ok out --roster "$T/roster3" &&
    grep -q "^1 host: 1 answering, 0 failed" out &&
    ! fleet_in h5 test -e /tmp/mctl-pwned
'

test_expect_success 'a changed host key is refused' '
    minion_pid h5 > pid.h5 &&
    cp "$T/known_hosts" known_hosts.good &&
    ssh-keygen -q -t ed25519 -N "" -f other_key &&
    ip=$(fleet_ip h5) &&
    ssh-keygen -q -R "$ip" -f "$T/known_hosts" &&
    echo "$ip $(cut -d" " -f1,2 other_key.pub)" >> "$T/known_hosts" &&
    deploy_exits 1 out --roster "$T/roster" --accept-new h5 &&
    cp known_hosts.good "$T/known_hosts" &&
    error_of h5 out | grep -q "host key of $ip CHANGED" &&
    test "$(minion_pid h5)" = "$(cat pid.h5)"
'

test_expect_success 'an unknown host key is refused without --accept-new' '
    ip=$(fleet_ip h6) &&
    ssh-keygen -q -R "$ip" -f "$T/known_hosts" &&
    deploy_exits 1 out --roster "$T/roster" h6 &&
    cp known_hosts.good "$T/known_hosts" &&
    error_of h6 out | grep -q "is not known"
'

# Nothing deploy made is left on the host, and no minion runs in its
# network namespace (pgrep would see the whole machine's processes).
host_clean() {
    local left pid
    left=$(fleet_in "$1" sh -c "ls -d /etc/mctl /usr/local/bin/mctl-minion /usr/bin/mctl-minion /var/lib/mctl /var/log/mctl /run/mctl /tmp/mctl-deploy.* 2>/dev/null")
    [ -z "$left" ] || { echo "$1 still has: $left"; return 1; }
    for pid in $(ip netns pids "$(fleet_ns "$1")"); do
        if [ "$(cat /proc/$pid/comm 2>/dev/null)" = mctl-minion ]; then
            echo "$1 still runs mctl-minion ($pid)"
            return 1
        fi
    done
}

test_expect_success 'uninstall stops and removes the minions and deletes their keys' '
    deploy_ok out --roster "$T/roster" --uninstall "h[1-8]" &&
    for h in "${GOOD[@]}"; do
        test "$(result_of $h out)" = removed || return 1
        host_clean $h || return 1
    done &&
    mctl key list --out json | tr -d " \n" | grep -q "\"minions\":\[\]" &&
    { st=0; mctl -t 2 --gather-timeout 1 "*" test.ping || st=$?; } && test $st = 2
'

test_expect_success 'the minion package: install with --package, re-run, uninstall' '
    { cpack -G DEB --config "$BIN/../CPackConfig.cmake" -B "$T/pkg" > cpack.out 2>&1 ||
      { cat cpack.out; false; }; } &&
    deb=$(ls "$T"/pkg/mctl-minion_*.deb) &&
    deploy_ok out --roster "$T/roster" --package "$deb" "h[12]" &&
    test "$(result_of h1 out)" = installed && test "$(result_of h2 out)" = installed &&
    fleet_in h1 dpkg-query -W -f="\${Status}" mctl-minion | grep -q "ok installed" &&
    fleet_in h1 test -x /usr/bin/mctl-minion &&
    ! fleet_in h1 test -e /usr/local/bin/mctl-minion &&
    ! test -e /usr/bin/mctl-minion &&
    mctl -L h1,h2 test.ping > ping.txt && test "$(grep -c True ping.txt)" = 2 &&
    deploy_ok out --roster "$T/roster" --package "$deb" "h[12]" &&
    test "$(result_of h1 out)" = unchanged &&
    deploy_ok out --roster "$T/roster" --uninstall "h[12]" &&
    ! fleet_in h1 dpkg-query -W mctl-minion 2>/dev/null | grep -q . &&
    host_clean h1 && host_clean h2
'

test_expect_success 'an ad-hoc host with --ask-pass: the password is asked once, without echo' '
    ip=$(fleet_ip h3) &&
    ask_pass_deploy "root@$ip" &&
    grep -q "SSH password:" out && ! grep -q "$FLEET_PASSWORD" out &&
    test "$(result_of "$ip" out)" = installed &&
    mctl -L "$ip" test.ping | grep -q True &&
    deploy_ok out --uninstall "root@$ip" -i "$FLEET/id_ed25519" && host_clean h3
'

# as_user USER ARGS...: mctl deploy run by a local user, from the master's
# namespace, with a copy of the fleet's key and known hosts of its own.
as_user() {
    local user=$1; shift
    ip netns exec "$MASTER_NS" setpriv --reuid="$user" --regid=mctldep --init-groups \
        "$BIN/mctl" -c "$T/etc" deploy --known-hosts "$T/$user/known_hosts" -i "$T/$user/id" \
        --master "$(fleet_ip master)" -t 30 "$@"
}

test_expect_success 'a user given @deploy deploys and uninstalls; one without is refused, nothing made' '
    chmod 755 "$T" "$T/etc" "$T/run" && chmod 644 "$T/etc/master" &&
    for u in mctl_dep mctl_nodep; do
        mkdir -p "$T/$u" && cp "$FLEET/id_ed25519" "$T/$u/id" && cp "$T/known_hosts" "$T/$u/" &&
        chown -R "$u" "$T/$u" && chmod 700 "$T/$u" || return 1
    done &&
    ip=$(fleet_ip h3) &&
    { st=0; as_user mctl_nodep "root@$ip" > out 2>&1 || st=$?; } &&
    cat out && test $st = 77 &&
    grep -q "user mctl_nodep may not master_key" out &&
    host_clean h3 &&
    { st=0; as_user mctl_dep "root@$ip" > out 2>&1 || st=$?; } &&
    cat out && test $st = 0 &&
    test "$(result_of "$ip" out)" = installed &&
    mctl -L "$ip" test.ping | grep -q True &&
    { st=0; as_user mctl_dep --uninstall "root@$ip" > out 2>&1 || st=$?; } &&
    cat out && test $st = 0 && host_clean h3 &&
    ! mctl key list | grep -qx "$ip"
'

test_expect_success 'bad input: an unknown roster entry, a bad roster, no hosts' '
    deploy_exits 64 err --roster "$T/roster" nosuchhost && grep -q "matches no host" err &&
    printf "h1: [a, b]\n" > bad.yaml &&
    deploy_exits 64 err --roster bad.yaml && grep -q "must be a map" err &&
    deploy_exits 64 err &&
    deploy_exits 64 err --roster "$T/roster" --package "$T/roster" &&
    grep -q "not a Debian package" err
'

stop_daemon master
fleet_down
test_done
