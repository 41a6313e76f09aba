#!/usr/bin/env bash
# Registration is open to any CURVE key, so it is bounded: a key serves one
# id, max_minions and max_pending cap what may be written, an address may
# present new keys only so fast, and ids that look like temporary files
# survive a restart.
. "$(dirname "$0")/lib.sh"
ROGUE=$BIN/mctl-test-rogue
CERT=$T/pki/master/master.cert

pending_count() { mctl key list --out json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["minions_pre"]))'; }

test_expect_success 'set-up: a master with small bounds, and one accepted minion' '
    start_master "max_pending: 3" "register_rate: 1" && start_and_accept web.tmp1
'

test_expect_success 'a key that another id holds is refused, and that id keeps working' '
    mkdir -p "$T/pki/twin" && cp "$T/pki/web.tmp1/minion.cert" "$T/pki/web.tmp1/minion.cert_secret" "$T/pki/twin/" &&
    start_minion twin "pki_dir: $T/pki/twin" &&
    wait_until 10 grep -q "the key presented for twin is already web.tmp1.s key; a key serves one id" "$T/log/master" &&
    ! key_in minions_pre twin && ! key_in minions twin &&
    mctl web.tmp1 test.ping | grep -q "^    True$" &&
    stop_daemon twin
'

test_expect_success 'new keys from one address come only so fast, and past max_pending not at all' '
    "$ROGUE" register 127.0.0.1 "$AUTH_PORT" "$CERT" flood 20 > flood.out &&
    cat flood.out &&
    grep -q "new keys come too fast from that address (register_rate)" "$T/log/master" &&
    grep -q "max_pending keys are pending already" "$T/log/master" &&
    test "$(pending_count)" = 3 &&
    ls "$T/pki/master/minions_pre" | wc -l | grep -qx 3
'

test_expect_success 'an id that looks like a temporary file survives a restart' '
    stop_daemon master &&
    restart_master &&
    key_in minions web.tmp1 &&
    wait_until 20 mctl -t 3 --gather-timeout 1 web.tmp1 test.ping &&
    ! ls -a "$T/pki/master/minions" | grep -q "^\..*tmp"
'

test_expect_success 'deleting an id that also has a denied key removes both, and the master stays up' '
    DAEMON_PIDS[web.tmp1-first]=${DAEMON_PIDS[web.tmp1]} &&
    start_minion web.tmp1 "pki_dir: $T/pki/impostor" "cachedir: $T/cache/impostor" \
        "pidfile: $T/run/impostor.pid" &&
    wait_until 20 key_in minions_denied web.tmp1 &&
    mctl key delete "web.tmp*" -y > out.txt &&
    cat out.txt &&
    grep -q "Key for minion web.tmp1 deleted." out.txt &&
    ! key_in minions web.tmp1 && ! key_in minions_denied web.tmp1 &&
    kill -0 "${DAEMON_PIDS[master]}"
'

test_expect_success 'a sock_dir others can write to is refused' '
    mkdir -p "$T/open/run" && chmod 777 "$T/open/run" &&
    printf "sock_dir: %s\npki_dir: %s\ncachedir: %s\naudit_log: %s\npublish_port: 1\nret_port: 2\nauth_port: 3\n" \
        "$T/open/run" "$T/open/pki" "$T/open/cache" "$T/open/audit.log" > "$T/open/master" &&
    { st=0; "$BIN/mctl-master" -c "$T/open" 2> err.txt || st=$?; } &&
    cat err.txt &&
    test $st != 0 &&
    grep -q "$T/open/run is writable by group or others" err.txt &&
    ! test -e "$T/open/run/master.ipc"
'

test_done
