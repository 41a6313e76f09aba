#!/usr/bin/env bash
# mctl cp: files and trees to several minions, checked and put in place
# whole; re-runs that send nothing; --mode and --owner; no symbolic link
# followed out of the destination; and the bad cases (a missing source, a
# directory without -r, a relative destination, a target that matches
# nothing, a full disk, a source that changes while being read, a minion
# killed mid-copy), none of which leaves a partial file under a
# destination name. m1 and m2 each see their own file system at $T/dest
# (a tmpfs in a mount namespace of their own; m2's holds 1 MiB); m3 sees
# this host's.
if [ "$(id -u)" != 0 ] || ! unshare --mount true 2>/dev/null; then
    echo "1..0 # SKIP needs root for tmpfs mounts"
    exit 0
fi
. "$(dirname "$0")/lib.sh"

# on ID CMD...: run CMD in minion ID's mount namespace.
on() { local id=$1; shift; nsenter -t "${DAEMON_PIDS[$id]}" -m -- "$@"; }
# ret_of FILE ID PATH: minion ID's word for PATH in the json of FILE.
ret_of() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]])' "$@"
}
# start_with_tmpfs ID SIZE: minion ID, with a tmpfs of SIZE at $T/dest.
start_with_tmpfs() {
    local saved=(${DAEMON_WRAP[@]+"${DAEMON_WRAP[@]}"})
    DAEMON_WRAP=(unshare --mount --propagation private sh -c
        'mount -t tmpfs -o size="$1",mode=0755 tmpfs "$2" && shift 2 && exec "$@"' sh
        "$2" "$T/dest" ${saved[@]+"${saved[@]}"})
    start_minion "$1"
    DAEMON_WRAP=(${saved[@]+"${saved[@]}"})
}
no_temp_files() { ! find "$@" -name '.mctl-cp.*' 2>/dev/null | grep -q .; }

test_expect_success 'set-up: a master, m1 and m2 with file systems of their own, m3 on this one' '
    mkdir -p dest && start_master &&
    start_with_tmpfs m1 64m && start_with_tmpfs m2 1m && start_minion m3 &&
    accept_all m1 m2 m3 &&
    wait_until 20 mctl -t 3 --gather-timeout 1 -L m1,m2,m3 test.ping
'

test_expect_success 'one file to two minions: whole, with its mode, reported written' '
    head -c 3000000 /dev/urandom > big.bin && chmod 0640 big.bin &&
    mctl cp -L m1,m3 big.bin "$T/dest/" --out json > out.json &&
    test "$(ret_of out.json m1 "$T/dest/big.bin")" = written &&
    test "$(ret_of out.json m3 "$T/dest/big.bin")" = written &&
    cmp big.bin dest/big.bin && on m1 cmp "$T/big.bin" "$T/dest/big.bin" &&
    test "$(stat -c %a dest/big.bin)" = 640 &&
    test "$(on m1 stat -c %a "$T/dest/big.bin")" = 640 &&
    mctl cp --progress m3 big.bin "$T/dest/shown.bin" > /dev/null 2> progress.txt &&
    grep -q "cp: .*/2.9 MiB to 1 minion" progress.txt && rm -f dest/shown.bin &&
    no_temp_files dest && ! on m1 find "$T/dest" -name ".mctl-cp.*" | grep -q .
'

test_expect_success 'a re-run sends nothing and says unchanged; a changed file is sent again' '
    mctl cp -L m1,m3 big.bin "$T/dest/" --out json > again.json &&
    cat again.json &&
    test "$(ret_of again.json m1 "$T/dest/big.bin")" = unchanged &&
    test "$(ret_of again.json m3 "$T/dest/big.bin")" = unchanged &&
    on m1 sh -c "printf changed-on-m1 | dd of=$T/dest/big.bin bs=1 seek=100 conv=notrunc status=none" &&
    ! on m1 cmp -s "$T/big.bin" "$T/dest/big.bin" &&
    mctl cp -L m1,m3 big.bin "$T/dest/" --out json > third.json &&
    cat third.json &&
    test "$(ret_of third.json m1 "$T/dest/big.bin")" = written &&
    test "$(ret_of third.json m3 "$T/dest/big.bin")" = unchanged &&
    on m1 cmp "$T/big.bin" "$T/dest/big.bin"
'

test_expect_success 'DEST names the file; --mode and --owner; the history has the copy, not the data' '
    echo "server_tokens off;" > small.conf &&
    mctl cp m3 small.conf "$T/dest/renamed.conf" --mode 0604 --owner nobody:nogroup > out.txt &&
    grep -q "$T/dest/renamed.conf" out.txt && grep -q written out.txt &&
    cmp small.conf dest/renamed.conf &&
    test "$(stat -c "%a %U %G" dest/renamed.conf)" = "604 nobody nogroup" &&
    jid=$(mctl jobs list --fun cp.recv --out json | python3 -c "import json,sys; print(json.load(sys.stdin)[0][\"jid\"])") &&
    mctl jobs show "$jid" --out json > hist.json && grep -q written hist.json &&
    ! grep -q "server_tokens" "$T/cache/master/"* "$T/log/audit.log" &&
    grep "\"cp_start\"" "$T/log/audit.log" | grep -q "renamed.conf" &&
    ! grep -q "\"cp_chunk\"" "$T/log/audit.log"
'

test_expect_success '-r: a tree with its directories, a symbolic link in it skipped with a warning' '
    mkdir -p tree/a/b && echo one > tree/a/b/f && echo two > tree/g && : > tree/empty &&
    chmod 0750 tree/a && ln -s /etc/shadow tree/link &&
    mctl cp -r m1 tree "$T/dest/site" > out.txt 2> err.txt &&
    grep -q "skipping tree/link: a symbolic link" err.txt &&
    test "$(on m1 cat "$T/dest/site/tree/a/b/f")" = one &&
    test "$(on m1 cat "$T/dest/site/tree/g")" = two &&
    on m1 test -f "$T/dest/site/tree/empty" && ! on m1 test -e "$T/dest/site/tree/link" &&
    test "$(on m1 stat -c %a "$T/dest/site/tree/a")" = 750 &&
    test "$(on m1 stat -c %a "$T/dest/site")" = 755
'

test_expect_success 'no symbolic link below DEST is followed: not a directory, not a file' '
    mkdir -p outside dest/linked && ln -sfn "$T/outside" dest/linked/tree &&
    ln -sfn "$T/outside/g" dest/g &&
    { st=0; mctl cp -r m3 tree "$T/dest/linked" > out.txt 2>&1 || st=$?; } &&
    test $st = 1 && grep -q "a symbolic link, not followed" out.txt &&
    test -z "$(ls -A outside)" &&
    mctl cp m3 tree/g "$T/dest/" &&
    test ! -L dest/g && test "$(cat dest/g)" = two && test -z "$(ls -A outside)"
'

test_expect_success 'bad input: a clear message, the right status, nothing sent' '
    { st=0; mctl cp m3 no-such-file "$T/dest/" 2> err.txt || st=$?; } &&
    test $st = 66 && grep -q "no-such-file: No such file or directory" err.txt &&
    { st=0; mctl cp m3 tree "$T/dest/" 2> err.txt || st=$?; } &&
    test $st = 64 && grep -q "tree is a directory (use -r to copy it)" err.txt &&
    { st=0; mctl cp m3 small.conf dest/ 2> err.txt || st=$?; } &&
    test $st = 64 && grep -q "DEST must be an absolute path" err.txt &&
    { st=0; mctl cp "nomatch*" small.conf "$T/dest/nothing" 2> err.txt || st=$?; } &&
    test $st = 2 && grep -q "No minions matched the target" err.txt &&
    test ! -e dest/nothing &&
    { st=0; mctl cp m3 2> err.txt || st=$?; } && test $st = 64 &&
    { st=0; mctl m3 cp.recv "$T/dest/" 2> err.txt || st=$?; } &&
    test $st = 64 && grep -q "cp.recv is run by mctl cp" err.txt &&
    { st=0; mctl cp -t 7200 m3 small.conf "$T/dest/" 2> err.txt || st=$?; } && test $st = 64 &&
    mctl cp --help | grep -q "Usage: mctl cp"
'

test_expect_success 'a full disk on one minion: its return says so, the others are written, no partial file' '
    { st=0; mctl cp -L m1,m2 big.bin "$T/dest/full.bin" --out json > full.json || st=$?; } &&
    test $st = 1 &&
    test "$(ret_of full.json m1 "$T/dest/full.bin")" = written &&
    ret_of full.json m2 "$T/dest/full.bin" | grep -q "No space left on device" &&
    ! on m2 test -e "$T/dest/full.bin" &&
    test -z "$(on m2 find "$T/dest" -name ".mctl-cp.*")"
'

# stop_when_temp PID: SIGSTOP mctl (PID) once m3 has a temporary file.
stop_when_temp() {
    local pid=$1 i
    for i in $(seq 2000); do
        if find dest -name ".mctl-cp.*" | grep -q .; then kill -STOP "$pid"; return 0; fi
        sleep 0.005
    done
    return 1
}
cp_in_background() { "$BIN/mctl" cp "$@" > bg.out 2>&1 & bg=$!; }

test_expect_success 'a source that changes while being read is refused by checksum, nothing lands' '
    head -c 400000000 /dev/zero > huge.bin &&
    cp_in_background m3 huge.bin "$T/dest/huge.bin" &&
    stop_when_temp $bg &&
    printf x | dd of=huge.bin bs=1 seek=399999990 conv=notrunc status=none &&
    kill -CONT $bg && { st=0; wait $bg || st=$?; } &&
    test $st = 1 && grep -q "huge.bin changed while being read; not copied" bg.out &&
    grep -q "the source changed while it was being read" bg.out &&
    test ! -e dest/huge.bin && no_temp_files dest
'

test_expect_success 'data that does not match the hash in the manifest never lands: the minion checks it' '
    "$BIN/mctl-test-rogue" cpbad "$T/run/master/master.ipc" m3 "$T/dest/" > bad.txt &&
    cat bad.txt && grep -q "checksum mismatch" bad.txt &&
    test ! -e dest/bad.txt && no_temp_files dest
'

test_expect_success 'only the mctl that started a copy can feed it: another connection is refused' '
    cp_in_background m3 huge.bin "$T/dest/fed.bin" &&
    stop_when_temp $bg &&
    jid=$(find dest -name ".mctl-cp.*" | sed -n "s/.*\.mctl-cp\.\([0-9]\{20\}\)\..*/\1/p" | head -n 1) &&
    "$BIN/mctl-test-rogue" cpinject "$T/run/master/master.ipc" "$jid" > inj.txt &&
    grep -q "no copy $jid in progress from this connection" inj.txt &&
    kill -CONT $bg && wait $bg &&
    cmp huge.bin dest/fed.bin && rm -f dest/fed.bin
'

test_expect_success 'jobs.running lists a copy and mctl jobs kill stops it: its return says so, nothing lands' '
    cp_in_background m3 huge.bin "$T/dest/stopped.bin" &&
    stop_when_temp $bg &&
    jid=$(find dest -name ".mctl-cp.*" | sed -n "s/.*\.mctl-cp\.\([0-9]\{20\}\)\..*/\1/p" | head -n 1) &&
    mctl m3 jobs.running --out json > running.json && grep -q "$jid" running.json &&
    grep -q cp.recv running.json &&
    mctl jobs kill "$jid" > kill.txt && cat kill.txt &&
    kill -CONT $bg && { st=0; wait $bg || st=$?; } &&
    test $st = 1 && grep -q "stopped on request" bg.out &&
    test ! -e dest/stopped.bin && no_temp_files dest
'

test_expect_success 'a minion killed mid-copy: reported, nothing under the name, its temporary file gone at restart' '
    cp_in_background -t 3 m3 huge.bin "$T/dest/killed.bin" &&
    stop_when_temp $bg &&
    stop_daemon m3 KILL &&
    kill -CONT $bg && { st=0; wait $bg || st=$?; } &&
    test $st = 2 && grep -q "m3:" bg.out && grep -q "Minion did not return" bg.out &&
    test ! -e dest/killed.bin &&
    find dest -name ".mctl-cp.*" | grep -q . &&
    restart_minion m3 &&
    wait_until 10 no_temp_files dest &&
    grep -q "left by a copy that did not finish" "$T/log/m3" &&
    wait_until 20 mctl -t 3 --gather-timeout 1 m3 test.ping &&
    rm -f huge.bin
'

test_expect_success 'a minion not connected at the start is told so and gets nothing, even once back' '
    stop_daemon m3 &&
    { st=0; mctl cp -L m1,m3 small.conf "$T/dest/late.conf" > out.txt 2>&1 || st=$?; } &&
    test $st = 2 && grep -q "Not sent: not connected" out.txt &&
    on m1 cmp "$T/small.conf" "$T/dest/late.conf" &&
    restart_minion m3 && wait_until 20 mctl -t 3 --gather-timeout 1 m3 test.ping &&
    test ! -e dest/late.conf && no_temp_files dest
'

test_done
