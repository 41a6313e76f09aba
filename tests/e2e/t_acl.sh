#!/usr/bin/env bash
# Who may run what: real local users (made here with useradd, run with
# setpriv) in the master's client_group, each request checked against
# publisher_acl by the user the kernel names. (Skipped unless root.)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null || ! command -v useradd >/dev/null; then
    echo "1..0 # SKIP needs root, setpriv and useradd"
    exit 0
fi
ROGUE=$BIN/mctl-test-rogue

# as USER mctl ARGS...: mctl run by that user, with its own groups.
as() {
    local user=$1; shift
    setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups "$BIN/mctl" "$@"
}
# job_user JID: the user the history records for a job.
job_user() {
    mctl --out json jobs list --limit 10000 |
        python3 -c "import json,sys; print([j[\"user\"] for j in json.load(sys.stdin) if j[\"jid\"] == \"$1\"][0])"
}
# refused USER WHAT ARGS...: mctl exits 77 and says WHAT on stderr.
refused() {
    local user=$1 what=$2 st=0; shift 2
    as "$user" "$@" > out.txt 2> err.txt || st=$?
    cat err.txt
    test "$st" = 77 && grep -q -- "$what" err.txt
}

test_expect_success 'set-up: users in the client group, rules for them, two minions' '
    for g in mctlacl mctlops; do getent group $g > /dev/null || groupadd $g; done &&
    for u in mctl_alice mctl_bob mctl_carol mctl_eve mctl_out; do
        id -u $u > /dev/null 2>&1 || useradd -M -N -s /usr/sbin/nologin $u || return 1
    done &&
    usermod -g mctlacl -G "" mctl_alice && usermod -g mctlacl -G mctlops mctl_bob &&
    usermod -g mctlacl -G "" mctl_eve && usermod -g users -G "" mctl_out &&
    usermod -g mctlacl -G "" mctl_carol &&
    start_master "client_group: mctlacl" \
        "publisher_acl:" \
        "  mctl_alice:" \
        "    - test.*" \
        "    - jobs.kill" \
        "    - '"'"'web*'"'"':" \
        "      - cmd.run:" \
        "          args: ['"'"'echo '"'"']" \
        "      - cp.recv:" \
        "          args: ['"'"'/tmp/mctl-acl-cp/'"'"']" \
        "  mctlops%:" \
        "    - '"'"'db*'"'"':" \
        "      - cmd.run" \
        "    - '"'"'@keys'"'"'" \
        "  mctl_carol:" \
        "    - '"'"'@jobs'"'"'" \
        "    - '"'"'@deploy'"'"'" \
        "  mctl_eve:" \
        "    - test.*" \
        "publisher_acl_blacklist:" \
        "  users: ['"'"'mctl_eve'"'"']" \
        "  modules: ['"'"'test\.sleep'"'"']" &&
    start_and_accept web1 db1 &&
    grep -q "publisher_acl: 8 rules for users of group mctlacl" "$T/log/master" &&
    test "$(stat -c %G "$T/run/master/master.ipc")" = mctlacl
'

test_expect_success 'a user with a rule runs what it allows, everywhere it allows it' '
    as mctl_alice "*" test.ping > out.txt &&
    test "$(grep -c "^    True$" out.txt)" = 2 &&
    as mctl_alice web1 cmd.run "echo hello" | grep -q "^    hello$"
'

test_expect_success 'mctl cp: as cp.recv with DEST as its argument, by target and by destination' '
    src=$(mktemp -d /tmp/mctl-acl-src.XXXXXX) && chmod 755 "$src" && echo hi > "$src/f" &&
    chmod 644 "$src/f" && rm -rf /tmp/mctl-acl-cp &&
    as mctl_alice cp web1 "$src/f" /tmp/mctl-acl-cp/ > out.txt &&
    grep -q written out.txt && cmp "$src/f" /tmp/mctl-acl-cp/f &&
    refused mctl_alice "user mctl_alice may not run cp.recv on db1 (publisher_acl)" \
        cp "*" "$src/f" /tmp/mctl-acl-cp/ &&
    refused mctl_alice "may not run cp.recv with these arguments" cp web1 "$src/f" /etc/ &&
    { st=0; as mctl_alice cp web1 "$src/f" /tmp/mctl-acl-cp/../../etc/ 2> err.txt || st=$?; } &&
    test $st = 64 && grep -q "must not hold" err.txt &&
    refused mctl_alice "may not give copied files the mode 4755" \
        cp web1 "$src/f" /tmp/mctl-acl-cp/ --mode 4755 &&
    refused mctl_alice "may not run cp.recv with these arguments" \
        cp web1 "$src/f" /tmp/mctl-acl-cp/ --owner root &&
    refused mctl_bob "user mctl_bob may not run cp.recv" cp db1 "$src/f" /tmp/mctl-acl-cp/ &&
    test ! -e /etc/f && rm -rf "$src" /tmp/mctl-acl-cp
'

test_expect_success 'refused by function, by target, by argument, each with why, exit 77' '
    refused mctl_alice "user mctl_alice may not run grains.items (publisher_acl)" \
        "*" grains.items &&
    refused mctl_alice "user mctl_alice may not run cmd.run on db1 (publisher_acl)" \
        "*" cmd.run "echo hi" &&
    refused mctl_alice "may not run cmd.run with these arguments" web1 cmd.run "id" &&
    ! grep -q "cmd.run" "$T/log/db1" &&
    grep -q "client: refused: user mctl_alice may not run cmd.run on db1" "$T/log/master"
'

test_expect_success 'a group rule (group%), and its target' '
    as mctl_bob db1 cmd.run "id -un" | grep -q "^    root$" &&
    refused mctl_bob "user mctl_bob may not run cmd.run on web1" web1 cmd.run "id -un"
'

test_expect_success 'the blacklist wins over a rule' '
    refused mctl_eve "user mctl_eve may not publish (publisher_acl_blacklist)" "*" test.ping &&
    refused mctl_alice "test.sleep may not be run by mctl_alice (publisher_acl_blacklist)" \
        "*" test.sleep 1
'

test_expect_success 'keys are for root and the master.s user; outside the group, no socket' '
    refused mctl_alice "user mctl_alice may not key_list" key list &&
    { st=0; as mctl_out "*" test.ping > out.txt 2> err.txt || st=$?; } &&
    cat err.txt && test $st = 69 && grep -q "permission denied" err.txt
'

test_expect_success 'the history is each user.s own, and names the user the kernel gives' '
    rootjid=$(mctl --async web1 test.ping | grep -oE "[0-9]{20}") &&
    echo "$rootjid" > rootjid &&
    alicejid=$(as mctl_alice --async web1 test.ping | grep -oE "[0-9]{20}") &&
    test "$(job_user "$alicejid")" = mctl_alice &&
    as mctl_alice jobs list --limit 1000 > list.txt &&
    grep -q "^$alicejid " list.txt && ! grep -q "^$rootjid " list.txt &&
    refused mctl_alice "may not see job $rootjid: it is another user.s" jobs show "$rootjid" &&
    as mctl_alice jobs wait "$alicejid" | grep -q "^    True$" &&
    mctl --out json jobs list --user mctl_alice --limit 10000 > mine.json &&
    python3 -c "import json,sys; u={j[\"user\"] for j in json.load(open(\"mine.json\"))}; sys.exit(u != {\"mctl_alice\"})" &&
    refused mctl_alice "user mctl_alice may not list the jobs of root" jobs list --user root &&
    refused mctl_alice "user mctl_alice may kill only its own jobs" web1 jobs.kill "$rootjid" &&
    refused mctl_alice "may kill only its own jobs: there is no job 20200101000000000001" \
        web1 jobs.kill 20200101000000000001 &&
    { st=0; as mctl_alice web1 jobs.kill "$alicejid" > out.txt 2> err.txt || st=$?; } &&
    cat out.txt err.txt && test $st != 77 && grep -q "is not running here" out.txt
'

test_expect_success 'a client that claims another user is recorded as who it is' '
    jid=$(setpriv --reuid=mctl_alice --regid=mctlacl --init-groups \
          "$ROGUE" lie "$T/run/master/master.ipc" web1 test.ping root) &&
    test "$(job_user "$jid")" = mctl_alice &&
    echo "$jid" > liejid
'

test_expect_success '@jobs: every user.s jobs; @keys and @deploy: the key requests they name' '
    rootjid=$(cat rootjid) &&
    as mctl_carol jobs list --user root --limit 10000 | grep -q "^$rootjid " &&
    as mctl_carol jobs show "$rootjid" | grep -q "^    True$" &&
    as mctl_carol key list | grep -q "^web1$" &&
    refused mctl_carol "user mctl_carol may not key_accept: .* given @keys in publisher_acl" \
        key accept -y nosuch &&
    refused mctl_carol "user mctl_carol may not run cmd.run" "*" cmd.run id &&
    as mctl_carol "*" test.ping > out.txt && test "$(grep -c "^    True$" out.txt)" = 2 &&
    refused mctl_carol "user mctl_carol may not run test.ping" "*" test.ping 1 &&
    as mctl_bob key list | grep -q "^db1$" &&
    { st=0; as mctl_bob key reject -y nosuch > out.txt 2>&1 || st=$?; } &&
    cat out.txt && test $st != 77 &&
    refused mctl_alice "user mctl_alice may not key_finger" key finger
'

test_expect_success '@deploy adds minions: no key swapped for an accepted one, no glob delete' '
    refused mctl_carol "may delete only keys named exactly, not .web\*." key delete -y "web*" &&
    key_in minions web1 &&
    { st=0; setpriv --reuid=mctl_carol --regid=mctlacl --init-groups \
        "$ROGUE" preseed "$T/run/master/master.ipc" web1 > out.txt || st=$?; } &&
    cat out.txt && test $st = 1 &&
    grep -q "may not replace the accepted key of web1" out.txt &&
    mctl web1 test.ping | grep -q "^    True$" &&
    setpriv --reuid=mctl_carol --regid=mctlacl --init-groups \
        "$ROGUE" preseed "$T/run/master/master.ipc" newhost1 | grep -qx accepted &&
    key_in minions newhost1 &&
    as mctl_carol key delete -y newhost1 > /dev/null && ! key_in minions newhost1
'

# audit NAME: the audit log, every line checked to be one JSON object,
# as a Python list in the file NAME.
audit_lines() {
    python3 -c "
import json,sys
out = [json.loads(l) for l in open(sys.argv[1])]
json.dump(out, open(sys.argv[2], \"w\"))" "$T/log/audit.log" "$1"
}
# audit_has FILE PYTHON-CONDITION [N]: some record r of FILE makes it
# true (exactly N of them, when N is given).
audit_has() {
    python3 -c "
import json,sys
def holds(r):
    try:
        return eval(sys.argv[2], {}, {\"r\": r})
    except KeyError:
        return False
recs = json.load(open(sys.argv[1]))
n = sum(1 for r in recs if holds(r))
sys.exit(0 if (n == int(sys.argv[3]) if len(sys.argv) > 3 else n > 0) else 1)" "$@" ||
        { echo "not ${3:-some} records where: $2"; return 1; }
}
# all_answer N: mctl "*" test.ping gets N answers.
all_answer() {
    test "$(mctl "*" test.ping | grep -c "^    True$")" = "$1"
}

test_expect_success 'the audit log: a line per request, the kernel.s user, what was asked, the decision' '
    audit_lines a.json &&
    alice=$(id -u mctl_alice) &&
    audit_has a.json "r[\"user\"] == \"mctl_alice\" and r[\"uid\"] == $alice and r[\"request\"] == \"publish\" and r[\"function\"] == \"cmd.run\" and r[\"args\"] == [\"echo hello\"] and r[\"target\"] == \"web1\" and r[\"decision\"] == \"allowed\" and len(r[\"jid\"]) == 20" &&
    audit_has a.json "r[\"user\"] == \"mctl_alice\" and r[\"function\"] == \"grains.items\" and r[\"decision\"] == \"refused\" and \"may not run grains.items\" in r[\"reason\"] and \"jid\" not in r" &&
    audit_has a.json "r[\"user\"] == \"mctl_eve\" and r[\"decision\"] == \"refused\" and \"blacklist\" in r[\"reason\"]" &&
    audit_has a.json "r[\"user\"] == \"mctl_alice\" and r[\"request\"] == \"key_list\" and r[\"decision\"] == \"refused\"" &&
    audit_has a.json "r[\"user\"] == \"mctl_alice\" and r[\"request\"] == \"jobs_show\" and r[\"jid\"] == \"$(cat rootjid)\" and r[\"decision\"] == \"refused\"" &&
    audit_has a.json "r[\"user\"] == \"mctl_alice\" and r.get(\"function\") == \"jobs.kill\" and r[\"args\"] == [\"$(cat rootjid)\"]" 1 &&
    audit_has a.json "r[\"user\"] == \"mctl_alice\" and r.get(\"function\") == \"jobs.kill\" and r[\"args\"] == [\"$(cat rootjid)\"] and r[\"decision\"] == \"refused\" and \"only its own jobs\" in r[\"reason\"]" &&
    audit_has a.json "r[\"user\"] == \"mctl_alice\" and r.get(\"jid\") == \"$(cat liejid)\" and r[\"decision\"] == \"allowed\"" &&
    audit_has a.json "r[\"user\"] == \"root\" and r[\"uid\"] == 0 and r[\"request\"] == \"publish\"" &&
    ! audit_has a.json "r[\"user\"] == \"mctl_out\"" &&
    test "$(stat -c %a "$T/log/audit.log")" = 600
'

test_expect_success 'the audit log survives a restart and a logrotate without losing a line' '
    cp "$T/log/audit.log" before.log &&
    stop_daemon master && restart_master &&
    wait_until 20 all_answer 2 &&
    cmp before.log <(head -n "$(wc -l < before.log)" "$T/log/audit.log") &&
    test "$(wc -l < "$T/log/audit.log")" -gt "$(wc -l < before.log)" &&
    sed -e "s|/var/log/mctl/|$T/log/|" -e "s|/run/mctl/master/master.pid|$T/run/master.pid|" \
        -e "/^ *su /d" -e "/^ *create /d" "$SRC/deploy/mctl-master.logrotate" > rotate.conf &&
    n0=$(wc -l < "$T/log/audit.log") &&
    { for i in $(seq 1 40); do mctl --async web1 test.ping > /dev/null || exit 1; done & } &&
    loop=$! &&
    wait_until 20 sh -c "test \$(wc -l < $T/log/audit.log) -ge $((n0 + 10))" &&
    logrotate -f -s rotate.state rotate.conf &&
    wait "$loop" &&
    test -s "$T/log/audit.log.1" &&
    wait_until 10 test -s "$T/log/audit.log" &&
    test "$(cat "$T/log/audit.log.1" "$T/log/audit.log" | wc -l)" = $((n0 + 40)) &&
    cat "$T/log/audit.log.1" "$T/log/audit.log" > all.log &&
    python3 -c "import json,sys; [json.loads(l) for l in open(\"all.log\")]"
'

test_done
