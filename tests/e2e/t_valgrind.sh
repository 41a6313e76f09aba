#!/usr/bin/env bash
# The daemons under valgrind through one scenario: register, accept, jobs
# with output, a timeout, history, mctl cp, a minion restart, deleting an id that
# also has a denied key, stop. Any memory
# error, or a definite leak, makes a daemon exit non-zero, and stop_daemon
# fails the test. (Skipped in the sanitizer build, where ASan watches.)
. "$(dirname "$0")/lib.sh"

if ldd "$BIN/mctl-master" | grep -q libasan || ! command -v valgrind >/dev/null; then
    echo "1..0 # SKIP sanitizer build, or no valgrind"
    exit 0
fi
DAEMON_WRAP=(valgrind --quiet --error-exitcode=97 --leak-check=full --errors-for-leak-kinds=definite
             --show-leak-kinds=definite --child-silent-after-fork=yes --track-fds=no)

test_expect_success 'under valgrind: master and two minions come up and answer' '
    start_master &&
    start_and_accept v1 v2
'

test_expect_success 'under valgrind: jobs with output, a failure, a timeout, grains, history' '
    mctl -L v1,v2 cmd.run "echo hello; echo oops >&2" > out.txt &&
    test "$(grep -c hello out.txt)" = 2 &&
    { st=0; mctl v1 cmd.run "exit 3" > /dev/null || st=$?; } && test $st = 1 &&
    { st=0; mctl -t 1 v2 cmd.run "sleep 30" > /dev/null || st=$?; } && test $st = 1 &&
    mctl v1 grains.get os > /dev/null &&
    jid=$(mctl --async "*" test.ping | grep -oE "[0-9]{20}") &&
    mctl jobs wait "$jid" > /dev/null &&
    mctl jobs list > /dev/null &&
    mctl key list > /dev/null
'

test_expect_success 'under valgrind: mctl cp of a tree, again (unchanged), and a refused destination' '
    mkdir -p tree/sub && head -c 700000 /dev/urandom > tree/sub/big && echo hi > tree/small &&
    mctl cp --gather-timeout 30 -r -L v1,v2 tree "$T/copied" > /dev/null && cmp tree/sub/big copied/tree/sub/big &&
    mctl cp --gather-timeout 30 -r -L v1,v2 tree "$T/copied" | grep -q unchanged &&
    : > notadir && { st=0; mctl cp --gather-timeout 30 v1 tree/small "$T/notadir/x" > /dev/null || st=$?; } && test $st = 1
'

test_expect_success 'under valgrind: a minion restart and a master restart' '
    stop_daemon v2 &&
    restart_minion v2 &&
    wait_until 60 mctl -t 5 --gather-timeout 2 v2 test.ping &&
    stop_daemon master &&
    restart_master &&
    wait_until 60 mctl -t 5 --gather-timeout 2 "*" test.ping
'

test_expect_success 'under valgrind: deleting an id that also has a denied key' '
    DAEMON_PIDS[v2-first]=${DAEMON_PIDS[v2]} &&
    start_minion v2 "pki_dir: $T/pki/impostor" "cachedir: $T/cache/impostor" \
        "pidfile: $T/run/impostor.pid" &&
    wait_until 60 key_in minions_denied v2 &&
    mctl key delete v2 -y | grep -q "Key for minion v2 deleted." &&
    ! key_in minions_denied v2 && ! key_in minions v2
'

test_expect_success 'under valgrind: every daemon stops clean (no memory error, no definite leak)' '
    stop_daemon v1 && stop_daemon v2 && stop_daemon master &&
    ! grep -q "^==[0-9]*==" "$T"/log/*
'

test_done
