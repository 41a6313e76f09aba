#!/usr/bin/env bash
# Who may run what: real local users (made here with useradd, run with
# setpriv) in the master's client_group, each request checked against
# publisher_acl by the user the kernel names. (Skipped unless root.)
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
    for u in mctl_alice mctl_bob mctl_eve mctl_out; do
        id -u $u > /dev/null 2>&1 || useradd -M -N -s /usr/sbin/nologin $u || return 1
    done &&
    usermod -g mctlacl -G "" mctl_alice && usermod -g mctlacl -G mctlops mctl_bob &&
    usermod -g mctlacl -G "" mctl_eve && usermod -g users -G "" mctl_out &&
    start_master "client_group: mctlacl" \
        "publisher_acl:" \
        "  mctl_alice:" \
        "    - test.*" \
        "    - jobs.kill" \
        "    - '"'"'web*'"'"':" \
        "      - cmd.run:" \
        "          args: ['"'"'echo '"'"']" \
        "  mctlops%:" \
        "    - '"'"'db*'"'"':" \
        "      - cmd.run" \
        "  mctl_eve:" \
        "    - test.*" \
        "publisher_acl_blacklist:" \
        "  users: ['"'"'mctl_eve'"'"']" \
        "  modules: ['"'"'test\.sleep'"'"']" &&
    start_and_accept web1 db1 &&
    grep -q "publisher_acl: 5 rules for users of group mctlacl" "$T/log/master" &&
    test "$(stat -c %G "$T/run/master/master.ipc")" = mctlacl
'

test_expect_success 'a user with a rule runs what it allows, everywhere it allows it' '
    as mctl_alice "*" test.ping > out.txt &&
    test "$(grep -c "^    True$" out.txt)" = 2 &&
    as mctl_alice web1 cmd.run "echo hello" | grep -q "^    hello$"
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
    { st=0; as mctl_alice web1 jobs.kill "$alicejid" > out.txt 2> err.txt || st=$?; } &&
    cat out.txt err.txt && test $st != 77 && grep -q "is not running here" out.txt
'

test_expect_success 'a client that claims another user is recorded as who it is' '
    jid=$(setpriv --reuid=mctl_alice --regid=mctlacl --init-groups \
          "$ROGUE" lie "$T/run/master/master.ipc" web1 test.ping root) &&
    test "$(job_user "$jid")" = mctl_alice
'

test_done
