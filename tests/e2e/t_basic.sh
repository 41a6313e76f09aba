#!/usr/bin/env bash
# The core path: keys, jobs to several minions, cmd.run's streams, exit
# codes and timeouts, unknown functions, output formats.
. "$(dirname "$0")/lib.sh"

# A master key whose Z85 text starts with "/", given to the minions as
# text: it must be read as a key, not as the path of a file. ("/" is one
# of the 85 digits, so one master in 85 has such a key.)
slash_key() {
    local i z85
    for i in $(seq 1 3000); do
        rm -rf "$T/pki/master"
        z85=$("$BIN/mctl-master" -c "$T/etc" --gen-keys) || return 1
        case $z85 in /*) echo "$z85"; return 0 ;; esac
    done
    return 1
}

test_expect_success 'master starts and creates its keys with tight modes' '
    write_master_config &&
    MASTER_Z85=$(slash_key) &&
    MINION_EXTRA=("master_pubkey: \"$MASTER_Z85\"") &&
    start_master &&
    grep -qF "public-key = \"$MASTER_Z85\"" "$T/pki/master/master.cert" &&
    test "$(stat -c %a "$T/pki/master/master.cert_secret")" = 600 &&
    test "$(stat -c %a "$T/pki/master/master.sign")" = 600 &&
    test "$(stat -c %a "$T/pki/master")" = 700 &&
    test "$(stat -c %a "$T/run/master/master.ipc")" = 660 &&
    test "$(stat -c %a "$T/run/master")" = 750 &&
    test "$(stat -c %G "$T/run/master/master.ipc")" = "$(id -gn)"
'

test_expect_success 'new minions wait as pending until accepted' '
    start_minion m1 && start_minion m2 && start_minion m3 &&
    wait_until 20 key_in minions_pre m1 &&
    wait_until 20 key_in minions_pre m2 &&
    wait_until 20 key_in minions_pre m3 &&
    wait_until 10 grep -q "waiting for the master to accept" "$T/log/m1" &&
    mctl key list > list.txt &&
    grep -q "^Unaccepted Keys:" list.txt
'

test_expect_success 'a pending minion gets no job' '
    ! mctl -t 2 --gather-timeout 1 "*" test.ping 2> err.txt &&
    grep -q "No minions matched the target" err.txt
'

test_expect_success 'accepting keys lets the minions in' '
    mctl key accept -A -y > out.txt &&
    grep -q "Key for minion m1 accepted." out.txt &&
    key_in minions m1 && key_in minions m2 && key_in minions m3 &&
    wait_until 20 minion_connected m1 &&
    wait_until 20 minion_connected m2 &&
    wait_until 20 minion_connected m3
'

test_expect_success 'test.ping answers from all three minions' '
    wait_until 20 mctl -t 3 --gather-timeout 1 "*" test.ping &&
    mctl "*" test.ping > out.txt &&
    test "$(grep -c "^    True$" out.txt)" = 3 &&
    grep -q "^m1:$" out.txt && grep -q "^m2:$" out.txt && grep -q "^m3:$" out.txt
'

test_expect_success 'glob and list targets reach exactly their minions' '
    mctl "m[12]" test.ping > out.txt &&
    grep -q "^m1:" out.txt && grep -q "^m2:" out.txt && ! grep -q "^m3:" out.txt &&
    mctl -L m3,m1 test.ping > out.txt &&
    grep -q "^m1:" out.txt && grep -q "^m3:" out.txt && ! grep -q "^m2:" out.txt
'

test_expect_success 'cmd.run returns stdout and stderr, a non-zero exit fails' '
    mctl m1 cmd.run "echo to-out; echo to-err >&2" > out.txt &&
    grep -q "^    to-out$" out.txt && grep -q "^    to-err$" out.txt &&
    { mctl m1 cmd.run "echo bad; exit 7" > out.txt 2> err.txt; test $? = 1; } &&
    grep -q "^    bad$" out.txt &&
    grep -q "non-zero exit code" err.txt
'

test_expect_success 'cmd.run_all keeps the streams apart (json)' '
    mctl --out json m2 cmd.run_all "echo o; echo e >&2; exit 4" > out.json;
    test $? = 1 &&
    python3 -c "
import json,sys
r = json.load(open(\"out.json\"))[\"m2\"]
assert r[\"stdout\"] == \"o\" and r[\"stderr\"] == \"e\" and r[\"retcode\"] == 4, r
"
'

test_expect_success 'shell metacharacters reach the shell exactly as given' '
    mctl --out json m1 cmd.run "printf %s \"\$((1+2)) a;b|c \\\"q\\\"\"" > out.json &&
    python3 -c "
import json
assert json.load(open(\"out.json\"))[\"m1\"] == \"3 a;b|c \\\"q\\\"\"
"
'

test_expect_success 'a timeout kills the whole process group' '
    marker="sleep 300.$$$RANDOM" &&
    start=$(date +%s) &&
    { mctl -t 2 m3 cmd.run "sh -c \"$marker\" & sleep 300" > out.txt 2>&1; test $? = 1; } &&
    test $(( $(date +%s) - start )) -lt 8 &&
    grep -q "timed out after 2 s" out.txt &&
    ! pgrep -f "^$marker"
'

test_expect_success 'an unknown function is an error, not silence' '
    { mctl m1 nosuch.function > out.txt 2>&1; test $? = 1; } &&
    grep -q "'"'"'nosuch.function'"'"' is not available." out.txt
'

test_expect_success 'options may follow the function, as in Salt; -- passes dashes through' '
    mctl m1 test.ping --out json | tr -d " \n" | grep -qx "{\"m1\":true}" &&
    mctl m1 test.echo -- --not-an-option | grep -q "^    --not-an-option$"
'

test_expect_success 'grains and sys functions answer' '
    mctl m1 grains.get id | grep -q "^    m1$" &&
    mctl m1 grains.get kernel | grep -q "^    Linux$" &&
    mctl m1 sys.list_functions | grep -q "^    - cmd.run$" &&
    mctl m1 test.echo "hello world" | grep -q "^    hello world$"
'

test_expect_success 'async prints the job id and returns at once' '
    mctl --async "*" test.sleep 1 > out.txt &&
    grep -qE "^Executed command with job ID: [0-9]{20}$" out.txt
'

test_expect_success 'key finger shows the master and minion fingerprints' '
    mctl key finger > out.txt &&
    grep -qE "^master.cert:  ([0-9a-f]{2}:){31}[0-9a-f]{2}$" out.txt &&
    mctl key finger m1 | grep -qE "^m1:  ([0-9a-f]{2}:){31}"
'

test_expect_success 'mctl status lists up minions' '
    mctl -t 3 status > out.txt &&
    grep -q "    - m1" out.txt && grep -q "^down:" out.txt
'

test_done
