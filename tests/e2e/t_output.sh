#!/usr/bin/env bash
# Output people can script and read: --out yaml (and json) as one document
# whatever is missing, --static, --summary, --hide-timeout, color and the
# live count only on a terminal, and help that lists every target option.
. "$(dirname "$0")/lib.sh"

# yaml_of ARGS...: mctl --out yaml ARGS, loaded, printed back as JSON.
yaml_of() {
    mctl --out yaml "$@" > out.yaml
    local st=$?
    python3 -c 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open("out.yaml")), sort_keys=True))' || return 1
    return $st
}
# tty ARGS...: mctl ARGS run on a terminal (script(1)); what it wrote.
tty() {
    script -qec "$(printf "%q " "$BIN/mctl" -c "$T/etc" "$@")" /dev/null < /dev/null
}

not_connected() { mctl --async "$1" test.ping 2>&1 | grep -q "not connected"; }
# shows_both JID: jobs show has both returns (as YAML, in shown.yaml).
shows_both() {
    mctl jobs show "$1" --out yaml > shown.yaml &&
        python3 -c "import yaml,sys; sys.exit(len(yaml.safe_load(open(\"shown.yaml\"))) != 2)"
}

test_expect_success 'set-up: a master and two minions' '
    start_master && start_and_accept m1 m2
'

test_expect_success '--out yaml: one document; strings stay strings, as json says' '
    test "$(yaml_of "*" test.ping)" = "{\"m1\": true, \"m2\": true}" &&
    test "$(yaml_of m1 test.echo true)" = "{\"m1\": \"true\"}" &&
    test "$(yaml_of m1 test.echo 012)" = "{\"m1\": \"012\"}" &&
    test "$(yaml_of m1 test.echo "")" = "{\"m1\": \"\"}" &&
    test "$(yaml_of m1 cmd.run "printf \"a: b\\n- c\"")" = "{\"m1\": \"a: b\\n- c\"}" &&
    yaml_of m1 grains.items > from.yaml &&
    mctl --out json m1 grains.items |
        python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))" > from.json &&
    cmp from.yaml from.json
'

test_expect_success 'a minion that is down: listed with why in json and yaml, left out with --hide-timeout' '
    stop_daemon m2 &&
    wait_until 10 not_connected m2 &&
    { st=0; yaml_of "*" test.ping > y.txt || st=$?; } && test $st = 2 &&
    grep -q "\"m2\": \"Minion did not return. \[Not sent: not connected\]\"" y.txt &&
    { st=0; mctl --out json "*" test.ping > j.txt || st=$?; } && test $st = 2 &&
    python3 -c "import json; d = json.load(open(\"j.txt\")); assert d[\"m1\"] is True and \"Not sent\" in d[\"m2\"]" &&
    { st=0; yaml_of --hide-timeout "*" test.ping > y.txt 2> err.txt || st=$?; } && test $st = 2 &&
    test "$(cat y.txt)" = "{\"m1\": true}" && grep -q "1 of 2 minions did not return" err.txt &&
    { st=0; mctl --hide-timeout "*" test.ping > t.txt 2>/dev/null || st=$?; } && test $st = 2 &&
    ! grep -q "^m2:" t.txt && grep -q "^m1:" t.txt
'

test_expect_success '--summary counts, and names who did not respond' '
    { st=0; mctl --summary "*" test.ping > out.txt || st=$?; } && test $st = 2 &&
    grep -q "^# of minions targeted: 2$" out.txt &&
    grep -q "^# of minions returned: 1$" out.txt &&
    grep -q "^# of minions that did not return: 1$" out.txt &&
    grep -q "^Minions not responding: m2$" out.txt &&
    { mctl --summary --out json "*" test.ping > j.txt 2> err.txt; true; } &&
    python3 -c "import json; json.load(open(\"j.txt\"))" &&
    grep -q "^# of minions targeted: 2$" err.txt
'

test_expect_success '--static: the same returns, all at the end; jobs show takes the same options' '
    restart_minion m2 &&
    wait_until 20 mctl -t 3 --gather-timeout 1 m2 test.ping &&
    mctl -L m1,m2 test.echo hi > live.txt &&
    mctl --static -L m1,m2 test.echo hi > static.txt &&
    test "$(sort live.txt)" = "$(sort static.txt)" &&
    jid=$(mctl --async "*" test.echo stored | grep -oE "[0-9]{20}") &&
    wait_until 10 shows_both "$jid" &&
    python3 -c "import yaml; d = yaml.safe_load(open(\"shown.yaml\")); assert d == {\"m1\": \"stored\", \"m2\": \"stored\"}, d" &&
    mctl jobs show "$jid" --summary --static | grep -q "^# of minions returned: 2$"
'

test_expect_success 'color and the live count on a terminal only; --no-color and NO_COLOR turn color off' '
    mctl "*" test.ping > plain.txt && ! grep -q "$(printf "\033")" plain.txt &&
    tty "*" test.ping > tty.txt &&
    grep -q "$(printf "\033\\[32m")m1" tty.txt &&
    grep -q "/2 returned" tty.txt &&
    tty --no-color "*" test.ping > nc.txt && ! grep -q "$(printf "\033\\[32m")" nc.txt &&
    NO_COLOR=1 tty "*" test.ping > nc2.txt && ! grep -q "$(printf "\033\\[32m")" nc2.txt
'

test_expect_success 'on a terminal a minion cannot send escape sequences; into a pipe the bytes are kept' '
    tty m1 cmd.run "printf \"a\\033]0;pwned\\007b\"" > esc.txt &&
    grep -qF "a\\x1b]0;pwned\\x07b" esc.txt &&
    ! grep -q "$(printf "\033]0;")" esc.txt &&
    mctl m1 cmd.run "printf \"a\\033]0;pwned\\007b\"" > raw.txt &&
    grep -q "$(printf "a\033]0;pwned\007b")" raw.txt
'

test_expect_success 'key list and status in yaml; jobs list and key finger refuse it plainly' '
    mctl key list --out yaml > k.yaml &&
    python3 -c "import yaml; d = yaml.safe_load(open(\"k.yaml\")); assert sorted(d[\"minions\"]) == [\"m1\", \"m2\"] and d[\"minions_pre\"] == [], d" &&
    mctl status --out yaml > s.yaml &&
    python3 -c "import yaml; d = yaml.safe_load(open(\"s.yaml\")); assert sorted(d[\"up\"]) == [\"m1\", \"m2\"] and d[\"down\"] == [], d" &&
    { st=0; mctl jobs list --out yaml 2> err.txt || st=$?; } && test $st = 64 && grep -q "for show and wait" err.txt &&
    { st=0; mctl key finger --out yaml 2> err.txt || st=$?; } && test $st = 64 && grep -q "for key list" err.txt
'

test_expect_success 'options anywhere in every subcommand: -c and -t after key, jobs, status' '
    "$BIN/mctl" key list -c "$T/etc" | grep -qx m1 &&
    "$BIN/mctl" status --out json -t 5 -c "$T/etc" > st.json &&
    python3 -c "import json; assert sorted(json.load(open(\"st.json\"))[\"up\"]) == [\"m1\", \"m2\"]" &&
    "$BIN/mctl" jobs list --limit 1 --config-dir "$T/etc" | grep -q "^JID" &&
    { st=0; "$BIN/mctl" status -c "$T/etc" -t nope 2> err.txt || st=$?; } && test $st = 64 &&
    grep -q "timeout: expected a number of seconds" err.txt &&
    { st=0; "$BIN/mctl" status -c "$T/etc" extra 2> err.txt || st=$?; } && test $st = 64 &&
    grep -q "unexpected argument .extra." err.txt
'

test_expect_success 'mctl --help lists every target option and the output options' '
    mctl --help > help.txt &&
    for o in -L -E -G -P -S -N -C --list-targets --out --static --summary --hide-timeout --no-color --batch; do
        grep -q -- "$o" help.txt || { echo "missing $o"; return 1; }
    done &&
    mctl jobs --help | grep -q -- "--summary" &&
    { st=0; mctl --out xml "*" test.ping 2> err.txt || st=$?; } && test $st = 64 &&
    grep -q "expected txt, json or yaml" err.txt
'

test_done
