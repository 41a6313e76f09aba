#!/usr/bin/env bash
# Disk full under the job cache and under a minion's spool: a clear error,
# the daemon keeps running, and nothing is dropped (the job cache keeps
# what it could not write and stores it once there is room again).
# Each folder is a small tmpfs, in a mount namespace of the test's own.
if [ -z "${MCTL_DISKFULL_NS:-}" ]; then
    if [ "$(id -u)" != 0 ] || ! unshare --mount true 2>/dev/null; then
        echo "1..0 # SKIP needs root for tmpfs mounts"
        exit 0
    fi
    MCTL_DISKFULL_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

# fill DIR: take every free byte of the file system under DIR.
fill() { dd if=/dev/zero of="$1/filler" bs=64k status=none 2>/dev/null; true; }
returned_true() { grep -A1 "^$1:" "$2" | grep -q "^    True$"; }
history_has() { mctl jobs show "$1" 2>/dev/null | grep -q "^$2:"; }
# listed_with JID N: jobs list (cmd.*) shows the job, meant for 2 minions,
# with N returns.
listed_with() {
    mctl --out json jobs list --fun "cmd.*" |
        python3 -c "import json, sys; j = [x for x in json.load(sys.stdin) if x[\"jid\"] == sys.argv[1]]; sys.exit(0 if j and j[0][\"minions\"] == 2 and j[0][\"returned\"] == int(sys.argv[2]) else 1)" "$1" "$2"
}

test_expect_success 'set-up: the job cache and the spool of d1 on small file systems' '
    mkdir -p "$T/cache/master" "$T/cache/d1" &&
    mount -t tmpfs -o size=2m,mode=0700 tmpfs "$T/cache/master" &&
    mount -t tmpfs -o size=1m,mode=0700 tmpfs "$T/cache/d1" &&
    start_master && start_and_accept d1 d2
'

test_expect_success 'job cache full: returns still reach the client, the master says why, keeps and lists them' '
    fill "$T/cache/master" &&
    jid=$(mctl --async -L d1,d2 cmd.run "echo full-$$" | grep -oE "[0-9]{20}") &&
    mctl jobs wait "$jid" > out.txt 2>&1;
    wait_until 10 grep -q "job cache.*full.*wait in memory and are retried" "$T/log/master" &&
    mctl jobs list > list.txt 2> list.err && grep -q "job history is behind" list.err &&
    grep -q "^$jid " list.txt &&
    mctl jobs list -n 1 2> /dev/null | tail -n +2 > newest.txt &&
    test "$(wc -l < newest.txt)" = 1 && grep -q "^$jid " newest.txt &&
    wait_until 10 listed_with "$jid" 2 &&
    ! mctl --out json jobs list --fun "test.*" | grep -q "$jid" &&
    mctl -L d1,d2 test.ping > ping.txt &&
    returned_true d1 ping.txt && returned_true d2 ping.txt
'

test_expect_success 'room again: what waited is stored, nothing was lost' '
    rm -f "$T/cache/master/filler" &&
    wait_until 10 grep -q "job cache: writing again after" "$T/log/master" &&
    wait_until 10 history_has "$jid" d1 &&
    history_has "$jid" d2 &&
    mctl jobs show "$jid" | grep -q "full-$$"
'

test_expect_success 'spool full: the minion says so, the return still arrives, the minion goes on' '
    fill "$T/cache/d1" &&
    mctl d1 cmd.run "echo spool-$$; head -c 200000 /dev/zero | tr \"\\\\0\" x" > out.txt &&
    grep -q "spool-$$" out.txt &&
    grep -q "cannot spool the return (.*No space left on device.*); sending it without a safety net" "$T/log/d1" &&
    mctl d1 test.ping | grep -q "^    True$" &&
    rm -f "$T/cache/d1/filler" &&
    mctl d1 cmd.run "echo again-$$" | grep -q "again-$$"
'

stop_daemon d1 && stop_daemon d2 && stop_daemon master
umount "$T/cache/master" "$T/cache/d1" 2>/dev/null
test_done
