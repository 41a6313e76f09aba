#!/usr/bin/env bash
# Targeting with Salt's semantics against six minions with distinct ids
# and grains: each kind reaches exactly the expected minions, and a minion
# that is not targeted receives nothing.
. "$(dirname "$0")/lib.sh"

ALL="cache1 db1 db2.example.com web1 web10 web2"

test_expect_success 'set-up: six minions with their own grains' '
    start_master "nodegroups:" "  webprod: G@roles:web and G@env:prod" \
                 "  dbs: [db1, db2.example.com]" "  both: N@webprod or N@dbs" &&
    start_minion web1 "grains: {roles: [web], env: prod, dc: {name: par1, rack: 1}}" &&
    start_minion web10 "grains: {roles: [web, cache], env: prod, dc: {name: ams1}}" &&
    start_minion web2 "grains: {roles: [web], env: staging, dc: {name: par1, rack: 2}}" &&
    start_minion db1 "grains: {roles: [db], env: prod, dc: {name: par1, rack: 1}}" &&
    start_minion db2.example.com "grains: {roles: [db, backup], env: staging}" &&
    start_minion cache1 "grains: {roles: [cache], env: prod, os: Ubuntu}" &&
    accept_all $ALL &&
    wait_until 30 targets_are "$ALL" -G "env:*"
'

test_expect_success 'glob: web1 is not web10, * covers ids with dots' '
    expect_ids "web1" web1 &&
    expect_ids "web1 web10 web2" "web*" &&
    expect_ids "web1 web2" "web?" &&
    expect_ids "$ALL" "*" &&
    expect_ids "db2.example.com" "*.example.com"
'

test_expect_success 'list' '
    expect_ids "db1 web10" -L web10,db1 &&
    expect_ids "web1" -L web1,nosuch
'

test_expect_success 'pcre: anchored at the start only' '
    expect_ids "web1 web10 web2" -E "web\d" &&
    expect_ids "web1 web2" -E "web\d$" &&
    expect_ids "db1 db2.example.com" -E "(db|xx)"
'

test_expect_success 'grains: nested keys, list grains, case-insensitive values' '
    expect_ids "cache1 web10" -G roles:cache &&
    expect_ids "db1 web1 web2" -G dc:name:par1 &&
    expect_ids "db1 web1" -G dc:rack:1 &&
    expect_ids "cache1" -G os:ubuntu &&
    expect_ids "db2.example.com web2" -G env:STAG* &&
    expect_ids "db1 web1 web2" --delimiter "|" -G "dc|name|par1"
'

test_expect_success 'grain pcre' '
    expect_ids "cache1 db1 web1 web10" -P "env:pr.d" &&
    expect_ids "db2.example.com" -P "roles:back"
'

test_expect_success 'subnet' '
    expect_ids "$ALL" -S 127.0.0.0/8 &&
    test "$(target_ids -S 203.0.113.0/24)" = ""
'

test_expect_success 'compound: precedence, not, parentheses' '
    expect_ids "web1 web10" -C "G@roles:web and G@env:prod" &&
    expect_ids "web1" -C "G@roles:web and G@env:prod not G@roles:cache" &&
    expect_ids "cache1 db1 web1" -C "G@env:prod and not G@roles:web or G@dc:rack:1" &&
    expect_ids "db1 web1 web10" -C "( G@roles:web or G@roles:db ) and G@env:prod" &&
    expect_ids "web10" -C "E@web\d+$ and not L@web1,web2" &&
    expect_ids "db1 db2.example.com web1 web10" -C "not ( G@env:staging and G@roles:web ) and not cache1"
'

test_expect_success 'nodegroups, plain and inside compound' '
    expect_ids "web1 web10" -N webprod &&
    expect_ids "db1 db2.example.com" -N dbs &&
    expect_ids "db1 db2.example.com web1 web10" -N both &&
    expect_ids "web10" -C "N@webprod and G@roles:cache"
'

test_expect_success 'a minion that is not targeted receives nothing' '
    jid=$(mctl --async -L web1,db1 test.ping | grep -oE "[0-9]{20}") &&
    wait_until 10 grep -q "job $jid: test.ping" "$T/log/web1" &&
    wait_until 10 grep -q "job $jid: test.ping" "$T/log/db1" &&
    for id in web10 web2 db2.example.com cache1; do
        ! grep -q "$jid" "$T/log/$id" || return 1
    done
'

test_expect_success 'no match: the Salt message and exit 2' '
    { mctl -G roles:nothing test.ping 2> err.txt; test $? = 2; } &&
    grep -q "No minions matched the target" err.txt
'

test_expect_success 'malformed expressions: one line with the position, exit 64, nothing published' '
    jobs_before=$(grep -c "] info: job " "$T/log/master") &&
    { mctl -C "web1 and ( G@env:prod" test.ping 2> err.txt; test $? = 64; } &&
    grep -q "position 10: .(. is never closed" err.txt &&
    { mctl -C "X@foo" test.ping 2> err.txt; test $? = 64; } &&
    grep -q "position 1: unknown prefix .X@." err.txt &&
    { mctl -E "web[" test.ping 2> err.txt; test $? = 64; } &&
    grep -q "bad regular expression" err.txt &&
    { mctl -C "and web1" test.ping 2> err.txt; test $? = 64; } &&
    { mctl -N nosuchgroup test.ping 2> err.txt; test $? = 64; } &&
    grep -q "no nodegroup named .nosuchgroup." err.txt &&
    { mctl -C "   " test.ping 2> err.txt; test $? = 64; } &&
    test "$(grep -c "] info: job " "$T/log/master")" = "$jobs_before"
'

test_expect_success 'the master matches a minion on its new grains after a change' '
    stop_daemon cache1 &&
    sed -i "s/env: prod/env: staging/" "$T/etc/cache1/minion" &&
    restart_minion cache1 &&
    wait_until 20 targets_are "cache1 db2.example.com web2" -G env:staging &&
    expect_ids "cache1 db2.example.com web2" -G env:staging
'

test_expect_success 'SIGHUP makes a minion re-read its config grains' '
    sed -i "s/roles: \[db, backup\]/roles: [db, backup, archive]/" "$T/etc/db2.example.com/minion" &&
    kill -HUP ${DAEMON_PIDS[db2.example.com]} &&
    wait_until 20 targets_are "db2.example.com" -G roles:archive &&
    mctl db2.example.com grains.get roles | grep -q "^    - archive$"
'

test_done
