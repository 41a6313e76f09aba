#!/usr/bin/env bash
# Batch mode: never more than N minions at a time, and every one returns.
. "$(dirname "$0")/lib.sh"

IDS="b0 b1 b2 b3 b4 b5 b6 b7 b8 b9"

test_expect_success 'set-up: ten minions' '
    start_master "auto_accept: true" &&
    for id in $IDS; do start_minion $id "workers: 1" || return 1; done &&
    wait_until 60 targets_are "$IDS" "b*" &&
    wait_until 30 mctl -t 5 --gather-timeout 2 "b*" test.ping
'

test_expect_success '-b 3: at most three at once, all ten return' '
    mctl --out json -b 3 -t 30 "b*" cmd.run "date +%s%N; sleep 1; date +%s%N" > out.json &&
    python3 - <<PY
import json
r = json.load(open("out.json"))
assert sorted(r) == "$IDS".split(), sorted(r)
events = []
for out in r.values():
    start, end = map(int, out.split())
    events += [(start, 1), (end, -1)]
running = peak = 0
for _, d in sorted(events):
    running += d
    peak = max(peak, running)
assert peak <= 3, peak
assert peak >= 2, peak   # batches really overlap
print("peak", peak)
PY
'

test_expect_success '-b 50%: half at a time; txt output and exit status as for a normal job' '
    { mctl -b 50% -t 30 "b*" cmd.run "exit 3" > out.txt 2> err.txt; test $? = 1; } &&
    test "$(grep -c "^b[0-9]:$" out.txt)" = 10 &&
    grep -q "non-zero exit code" err.txt
'

test_expect_success 'bad batch sizes are usage errors' '
    { mctl -b 0 "*" test.ping 2> err.txt; test $? = 64; } &&
    { mctl -b 150% "*" test.ping 2> err.txt; test $? = 64; } &&
    { mctl -b x "*" test.ping 2> err.txt; test $? = 64; } &&
    grep -q "expected a number of minions or a percentage" err.txt
'

test_done
