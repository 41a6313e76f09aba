#!/usr/bin/env bash
# mctl-api over HTTP(S) with curl: PAM logins of real local users (made
# here with useradd and chpasswd), tokens, the JSON endpoints, server-sent
# events, the console's pages without JavaScript, and every request acting
# as the logged-in user under publisher_acl. (Skipped unless root.)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v useradd >/dev/null || ! command -v curl >/dev/null ||
   ! command -v setpriv >/dev/null; then
    echo "1..0 # SKIP needs root, useradd, setpriv and curl"
    exit 0
fi
ROGUE=$BIN/mctl-test-rogue
PAM_SERVICE=mctl-api-test-$$
# A password long enough that a copy left in freed memory still shows
# past the allocator's own bytes at the start of a block.
DAVE_PW=dave-$(od -An -N20 -tx1 /dev/urandom | tr -d " \n")

# mem_has PID TEXT: whether TEXT is anywhere in the process's writable
# memory (read through /proc; regions over 1 GiB, reserved and not
# touched, are passed over).
mem_has() {
    python3 - "$1" "$2" <<'PY'
import sys
pid, needle = sys.argv[1], sys.argv[2].encode()
with open("/proc/%s/maps" % pid) as maps, open("/proc/%s/mem" % pid, "rb", 0) as mem:
    for line in maps:
        addr, perms = line.split()[:2]
        lo, hi = (int(x, 16) for x in addr.split("-"))
        if not perms.startswith("rw") or hi - lo > 1 << 30:
            continue
        try:
            mem.seek(lo)
            if needle in mem.read(hi - lo):
                sys.exit(0)
        except (OSError, ValueError, OverflowError):
            continue
sys.exit(1)
PY
}

free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 12000))
        ss -Hltn | awk '{print $4}' | grep -qE ":$p\$" || { echo "$p"; return; }
    done
}
API_PORT=$(free_port)
URL=http://127.0.0.1:$API_PORT

# start_api NAME [CONFIG LINES...]: mctl-api on the master config plus the
# lines, waiting until it serves.
start_api() {
    local name=$1; shift
    printf '%s\n' "$@" >> "$T/etc/master"
    ${DAEMON_WRAP[@]+"${DAEMON_WRAP[@]}"} "$BIN/mctl-api" -c "$T/etc" \
        --pidfile "$T/run/$name.pid" >> "$T/log/$name" 2>&1 &
    DAEMON_PIDS[$name]=$!
}
serving() { curl -sk -o /dev/null "$1/login"; }

# call METHOD PATH [CURL ARGS...]: the status on stdout, the body in body.json.
call() {
    local method=$1 path=$2; shift 2
    curl -sS -o body.json -w '%{http_code}' -X "$method" "$@" "$URL$path"
}
# login USER PASSWORD: the token, from the X-Auth-Token header.
login() {
    curl -sS -D headers.txt -o login.json -H 'Content-Type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"$2\"}" "$URL/login" >/dev/null &&
        tr -d '\r' < headers.txt | sed -n 's/^X-Auth-Token: //Ip'
}
field() { python3 -c "import json,sys; d=json.load(open(\"body.json\")); print($1)"; }
jobs_count() { mctl --out json jobs list --limit 10000 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

test_expect_success 'set-up: users with passwords, a PAM service, master, two minions, mctl-api' '
    getent group mctlapi > /dev/null || groupadd mctlapi &&
    for u in mctl_api_alice mctl_api_bob mctl_api_carol mctl_api_dave mctl_api_out; do
        id -u $u > /dev/null 2>&1 || useradd -M -N -s /usr/sbin/nologin $u || return 1
        usermod -U -e "" $u 2> /dev/null
    done &&
    usermod -g mctlapi -G "" mctl_api_alice && usermod -g mctlapi -G "" mctl_api_bob &&
    usermod -g mctlapi -G "" mctl_api_carol && usermod -g mctlapi -G "" mctl_api_dave &&
    usermod -g users -G "" mctl_api_out &&
    printf "%s\n" "mctl_api_alice:alice-pw-1" "mctl_api_bob:bob-pw-2" "mctl_api_out:out-pw-3" \
        "mctl_api_carol:carol-pw-4" "mctl_api_dave:$DAVE_PW" |
        chpasswd &&
    cp "$SRC/deploy/mctl-api.pam" /etc/pam.d/$PAM_SERVICE &&
    start_master "client_group: mctlapi" \
        "publisher_acl:" \
        "  mctl_api_alice:" \
        "    - test.*" \
        "  mctl_api_bob:" \
        "    - test.ping" \
        "  mctl_api_carol:" \
        "    - test.ping" \
        "    - \"@jobs\"" \
        "    - \"@keys\"" &&
    start_and_accept web1 web2 &&
    start_api api "api_host: 127.0.0.1" "api_port: $API_PORT" "api_disable_ssl: true" \
        "api_pam_service: $PAM_SERVICE" "api_token_expire: 600" "api_log_file: $T/log/api" &&
    wait_until 10 serving "$URL"
'
trap 'rm -f /etc/pam.d/$PAM_SERVICE; cleanup; trap - EXIT; exit 1' INT TERM HUP PIPE
trap 'rm -f /etc/pam.d/$PAM_SERVICE; cleanup' EXIT

test_expect_success 'without a token every endpoint answers 401 and nothing runs' '
    before=$(jobs_count) &&
    for what in "GET /jobs" "GET /minions" "GET /keys" "GET /events" "POST /logout" \
                "GET /jobs/20260101000000000000" "GET /targets?tgt=*"; do
        st=$(call $what) && test "$st" = 401 || { echo "$what: $st"; return 1; }
    done &&
    st=$(call POST /run -H "Content-Type: application/json" \
         -d "{\"tgt\":\"*\",\"fun\":\"test.ping\"}") && test "$st" = 401 &&
    test "$(jobs_count)" = "$before"
'

test_expect_success 'a bad or malformed token is 401, and so is a cookie on a POST' '
    bad=$(printf "%064d" 0) &&
    st=$(call GET /jobs -H "X-Auth-Token: $bad") && test "$st" = 401 &&
    st=$(call GET /jobs -H "X-Auth-Token: not-a-token") && test "$st" = 401 &&
    tok=$(login mctl_api_alice alice-pw-1) && test -n "$tok" &&
    st=$(call GET /jobs -H "Cookie: mctl_token=$tok") && test "$st" = 200 &&
    st=$(call POST /run -H "Cookie: mctl_token=$tok" -H "Content-Type: application/json" \
         -d "{\"tgt\":\"*\",\"fun\":\"test.ping\"}") && test "$st" = 401 &&
    st=$(call POST /run -H "Cookie: mctl_token=$tok" -H "X-CSRF-Token: $bad" \
         -H "Content-Type: application/json" -d "{\"tgt\":\"*\",\"fun\":\"test.ping\"}") &&
    test "$st" = 401 &&
    curl -sS -b "mctl_token=$tok" -o page.html "$URL/" &&
    key=$(sed -n "s/.*name=\"mctl-form-key\" content=\"\([0-9a-f]*\)\".*/\1/p" page.html) &&
    test ${#key} = 64 && ! grep -q "$tok" page.html &&
    st=$(call POST /run -H "Cookie: mctl_token=$tok" -H "X-CSRF-Token: $key" \
         -H "Content-Type: application/json" -d "{\"tgt\":\"web1\",\"fun\":\"test.ping\"}") &&
    test "$st" = 202
'

test_expect_success 'login: a wrong password is 401; the right one gives a token that works' '
    st=$(call POST /login -H "Content-Type: application/json" \
         -d "{\"username\":\"mctl_api_alice\",\"password\":\"wrong\"}") && test "$st" = 401 &&
    ! grep -q token body.json &&
    tok=$(login mctl_api_alice alice-pw-1) && test ${#tok} = 64 &&
    grep -q "\"eauth\":\"pam\"" login.json && grep -q "\"user\":\"mctl_api_alice\"" login.json &&
    st=$(call GET /minions -H "X-Auth-Token: $tok") && test "$st" = 200 &&
    grep "login for mctl_api_alice" "$T/log/api" | grep -q failed
'

test_expect_success 'a user outside the client_group may not log in, and cannot tell a right password' '
    st=$(call POST /login -H "Content-Type: application/json" \
         -d "{\"username\":\"mctl_api_out\",\"password\":\"out-pw-3\"}") && test "$st" = 401 &&
    ! grep -q token body.json && cp body.json right.json &&
    st=$(call POST /login -H "Content-Type: application/json" \
         -d "{\"username\":\"mctl_api_out\",\"password\":\"wrong\"}") && test "$st" = 401 &&
    cmp body.json right.json
'

test_expect_success 'a login posted from another site (Origin) is refused' '
    st=$(call POST /login -H "Origin: http://evil.example" -H "Content-Type: application/json" \
         -d "{\"username\":\"mctl_api_alice\",\"password\":\"alice-pw-1\"}") &&
    test "$st" = 403 && ! grep -q token body.json
'

test_expect_success 'failed logins are limited: after five, even the right password waits (429), from that address only' '
    for i in 1 2 3 4 5; do
        st=$(call POST /login -H "Content-Type: application/json" \
             -d "{\"username\":\"mctl_api_bob\",\"password\":\"guess$i\"}") &&
        test "$st" = 401 || return 1
    done &&
    st=$(call POST /login -H "Content-Type: application/json" \
         -d "{\"username\":\"mctl_api_bob\",\"password\":\"bob-pw-2\"}") && test "$st" = 429 &&
    grep -q "try again" body.json &&
    st=$(call POST /login --interface 127.0.0.2 -H "Content-Type: application/json" \
         -d "{\"username\":\"mctl_api_bob\",\"password\":\"bob-pw-2\"}") && test "$st" = 200 &&
    grep -q "login: mctl_api_bob from 127.0.0.2" "$T/log/api"
'

test_expect_success 'GET /minions: both up; grains for users with @jobs, not for plain ACL users' '
    tok=$(login mctl_api_alice alice-pw-1) &&
    st=$(call GET /minions -H "X-Auth-Token: $tok") && test "$st" = 200 &&
    test "$(field "\" \".join(sorted(m[\"id\"] for m in d[\"return\"] if m[\"up\"]))")" = "web1 web2" &&
    test "$(field "d[\"return\"][0][\"grains\"]")" = None &&
    tok=$(login mctl_api_carol carol-pw-4) &&
    st=$(call GET /minions -H "X-Auth-Token: $tok") && test "$st" = 200 &&
    test "$(field "d[\"return\"][0][\"grains\"][\"os\"] != \"\"")" = True &&
    test "$(field "\"id\" in d[\"return\"][0][\"grains\"]")" = False &&
    st=$(call GET /minions/web1 -H "X-Auth-Token: $tok") && test "$st" = 200 &&
    test "$(field "d[\"return\"][\"grains\"][\"id\"]")" = web1 &&
    st=$(call GET /minions/nosuch -H "X-Auth-Token: $tok") && test "$st" = 404
'

test_expect_success 'POST /run?wait=1 runs as the user and answers with every return' '
    tok=$(login mctl_api_alice alice-pw-1) &&
    st=$(call POST "/run?wait=1" -H "X-Auth-Token: $tok" -H "Content-Type: application/json" \
         -d "{\"tgt\":\"web*\",\"fun\":\"test.echo\",\"arg\":[\"hi there\"]}") &&
    test "$st" = 200 &&
    test "$(field "\" \".join(sorted(d[\"return\"][\"returns\"]))")" = "web1 web2" &&
    test "$(field "d[\"return\"][\"returns\"][\"web1\"][\"return\"]")" = "hi there" &&
    test "$(field "d[\"return\"][\"user\"]")" = mctl_api_alice &&
    jid=$(field "d[\"return\"][\"jid\"]") &&
    grep "\"jid\":\"$jid\"" "$T/log/audit.log" | grep -q "\"user\":\"mctl_api_alice\",\"via\":\"root\""
'

test_expect_success 'a function the ACL refuses the user is 403, and nothing runs' '
    tok=$(login mctl_api_alice alice-pw-1) && before=$(jobs_count) &&
    st=$(call POST /run -H "X-Auth-Token: $tok" -H "Content-Type: application/json" \
         -d "{\"tgt\":\"*\",\"fun\":\"cmd.run\",\"arg\":[\"touch $T/ran\"]}") &&
    test "$st" = 403 && grep -q "may not" body.json &&
    test "$(jobs_count)" = "$before" && ! test -e "$T/ran" &&
    grep "\"function\":\"cmd.run\"" "$T/log/audit.log" | grep -q "\"decision\":\"refused\""
'

test_expect_success 'bad bodies are 400 or 413 with nothing run' '
    tok=$(login mctl_api_alice alice-pw-1) && before=$(jobs_count) &&
    for body in "{" "[]" "{\"tgt\":\"*\"}" "{\"tgt\":5,\"fun\":\"test.ping\"}" \
                "{\"tgt\":\"*\",\"fun\":\"test.ping\",\"arg\":\"x\"}" \
                "{\"tgt\":\"*\",\"fun\":\"test.ping\",\"timeout\":0}" \
                "{\"tgt\":\"*\",\"fun\":\"test.ping\",\"tgt\":\"x\"}"; do
        st=$(call POST /run -H "X-Auth-Token: $tok" -H "Content-Type: application/json" \
             -d "$body") && test "$st" = 400 || { echo "$body: $st"; return 1; }
    done &&
    head -c 70000 /dev/zero | tr "\0" a > big.txt &&
    st=$(call POST /run -H "X-Auth-Token: $tok" -H "Content-Type: application/json" \
         --data-binary @big.txt) && test "$st" = 413 &&
    test "$(jobs_count)" = "$before"
'

test_expect_success 'GET /jobs lists the user jobs; GET /jobs/JID shows a missing minion and why' '
    tok=$(login mctl_api_alice alice-pw-1) &&
    stop_daemon web2 &&
    st=$(call POST "/run?wait=1" -H "X-Auth-Token: $tok" -H "Content-Type: application/json" \
         -d "{\"tgt\":\"web*\",\"fun\":\"test.ping\",\"timeout\":2}") && test "$st" = 200 &&
    jid=$(field "d[\"return\"][\"jid\"]") &&
    st=$(call GET "/jobs/$jid" -H "X-Auth-Token: $tok") && test "$st" = 200 &&
    test "$(field "\" \".join(d[\"return\"][\"returns\"])")" = web1 &&
    why=$(field "d[\"return\"][\"missing\"][\"web2\"]") &&
    case "$why" in "no return"|"not sent: not connected") ;; *) echo "why: $why"; false;; esac &&
    st=$(call GET "/jobs?limit=5&fun=test.*" -H "X-Auth-Token: $tok") && test "$st" = 200 &&
    test "$(field "d[\"return\"][0][\"jid\"]")" = "$jid" &&
    test "$(field "\" \".join(set(j[\"user\"] for j in d[\"return\"]))")" = mctl_api_alice &&
    st=$(call GET "/jobs?limit=0" -H "X-Auth-Token: $tok") && test "$st" = 400 &&
    st=$(call GET "/jobs?limit=1" -H "X-Auth-Token: $tok") && test "$st" = 200 &&
    page1=$(field "d[\"return\"][0][\"jid\"]") && test "$page1" = "$jid" &&
    st=$(call GET "/jobs?limit=1&before=$page1" -H "X-Auth-Token: $tok") && test "$st" = 200 &&
    page2=$(field "d[\"return\"][0][\"jid\"]") && test "$page2" \< "$page1" &&
    cli=$(mctl --out json jobs list --user mctl_api_alice --limit 1 --before "$page1" |
          python3 -c "import json,sys; print(json.load(sys.stdin)[0][\"jid\"])") &&
    test "$cli" = "$page2" &&
    st=$(call GET "/jobs?before=123" -H "X-Auth-Token: $tok") && test "$st" = 400 &&
    restart_minion web2 && wait_until 20 mctl -t 3 --gather-timeout 1 web2 test.ping
'

test_expect_success 'keys: listed and changed by a user with @keys, refused to one without (403)' '
    tok=$(login mctl_api_carol carol-pw-4) &&
    st=$(call GET /keys -H "X-Auth-Token: $tok") && test "$st" = 200 &&
    test "$(field "\" \".join(d[\"return\"][\"minions\"])")" = "web1 web2" &&
    st=$(call POST /keys/reject -H "X-Auth-Token: $tok" -H "Content-Type: application/json" \
         -d "{\"match\":[\"nosuch*\"]}") && test "$st" = 200 &&
    test "$(field "d[\"return\"][\"changed\"]")" = "[]" &&
    st=$(call POST /keys/frobnicate -H "X-Auth-Token: $tok" -H "Content-Type: application/json" \
         -d "{\"match\":\"x\"}") && test "$st" = 404 &&
    st=$(call POST /keys/accept -H "X-Auth-Token: $tok" -H "Content-Type: application/json" \
         -d "{\"match\":5}") && test "$st" = 400 &&
    tok=$(login mctl_api_alice alice-pw-1) &&
    st=$(call GET /keys -H "X-Auth-Token: $tok") && test "$st" = 403 &&
    st=$(call POST /keys/delete -H "X-Auth-Token: $tok" -H "Content-Type: application/json" \
         -d "{\"match\":\"web*\"}") && test "$st" = 403 &&
    mctl key list | grep -q web1
'

test_expect_success 'another user job is not shown to a user without @jobs (403)' '
    rootjid=$(mctl --async web1 test.ping | grep -o "[0-9]\{20\}") && test -n "$rootjid" &&
    tok=$(login mctl_api_alice alice-pw-1) &&
    st=$(call GET "/jobs/$rootjid" -H "X-Auth-Token: $tok") && test "$st" = 403
'

test_expect_success 'GET /events streams the user jobs and their returns as they happen' '
    tok=$(login mctl_api_alice alice-pw-1) && test -n "$tok" || return 1
    curl -sN -H "X-Auth-Token: $tok" "$URL/events" > events.txt 2>&1 &
    EXTRA_PIDS+=($!)
    wait_until 10 grep -q "^: connected" events.txt &&
    st=$(call POST /run -H "X-Auth-Token: $tok" -H "Content-Type: application/json" \
         -d "{\"tgt\":\"web1\",\"fun\":\"test.ping\"}") && test "$st" = 202 &&
    jid=$(field "d[\"return\"][\"jid\"]") &&
    wait_until 10 grep -q "^data: {\"jid\":\"$jid\",\"fun\":\"test.ping\",\"tgt\":\"web1\"" events.txt &&
    wait_until 10 grep -q "^data: {\"jid\":\"$jid\",\"fun\":\"test.ping\",\"id\":\"web1\",\"retcode\":0,\"success\":true}" events.txt &&
    mctl web2 test.ping > /dev/null &&
    st=$(call POST "/run?wait=1" -H "X-Auth-Token: $tok" -H "Content-Type: application/json" \
         -d "{\"tgt\":\"web2\",\"fun\":\"test.ping\"}") &&
    last=$(field "d[\"return\"][\"jid\"]") &&
    wait_until 10 grep -q "\"jid\":\"$last\"" events.txt &&
    test "$(grep -c "^event: job" events.txt)" = 2
'

# More events than the master sends a subscriber unread (1000): the stream
# says what it has read as it goes, so none is lost.
all_of_job() { test "$(grep -c "\"jid\":\"$1\"" many.txt)" = 3; }
test_expect_success 'an event stream of 1200 events loses none' '
    tok=$(login mctl_api_carol carol-pw-4) && test -n "$tok" || return 1
    curl -sN -H "X-Auth-Token: $tok" "$URL/events" > many.txt 2>&1 &
    EXTRA_PIDS+=($!)
    wait_until 10 grep -q "^: connected" many.txt &&
    jid=$("$BIN/mctl-test-events" publish "$T/run/master/master.ipc" web1,web2 400) &&
    wait_until 30 all_of_job "$jid" &&
    test "$(grep -c "^event: job" many.txt)" = 400 &&
    test "$(grep -c "^event: ret" many.txt)" = 800 &&
    ! grep -q "^event: resync" many.txt &&
    ! grep -q "has not read the last" "$T/log/master"
'

test_expect_success 'the console pages work without JavaScript (cookie login, HTML)' '
    curl -sS -c jar.txt -o /dev/null -w "%{http_code} %{redirect_url}\n" \
        --data-urlencode username=mctl_api_alice --data-urlencode password=alice-pw-1 \
        "$URL/login" > form.txt && grep -q "^303 .*/$" form.txt &&
    st=$(curl -sS -b jar.txt -o page.html -w "%{http_code}" "$URL/") && test "$st" = 200 &&
    grep -q "<table id=\"jobs\"" page.html && grep -q "mctl_api_alice" page.html &&
    jid=$(grep -o "/job/[0-9]\{20\}" page.html | head -n1 | cut -d/ -f3) && test -n "$jid" &&
    st=$(curl -sS -b jar.txt -o job.html -w "%{http_code}" "$URL/job/$jid") && test "$st" = 200 &&
    grep -q "data-id=\"web" job.html &&
    curl -sS -b jar.txt -o older.html "$URL/?before=$jid" && ! grep -q "/job/$jid" older.html &&
    grep -q "<table id=\"jobs\"" older.html &&
    st=$(curl -sS -b jar.txt -o fleet.html -w "%{http_code}" "$URL/fleet") && test "$st" = 200 &&
    grep -q "2 accepted: 2 up, 0 down" fleet.html &&
    st=$(curl -sS -o /dev/null -w "%{http_code} %{redirect_url}" "$URL/") &&
    test "$st" = "303 $URL/login" &&
    curl -sS -o /dev/null -w "%{http_code} %{redirect_url}" \
        --data-urlencode username=mctl_api_alice --data-urlencode password=nope \
        "$URL/login" | grep -q "^303 .*/login?failed=1$"
'

test_expect_success 'only root and the master user may act for another user (the as request)' '
    { st=0; setpriv --reuid=mctl_api_alice --regid=mctlapi --init-groups \
        "$ROGUE" as "$T/run/master/master.ipc" root web1 test.ping > as.txt 2>&1 || st=$?; } &&
    cat as.txt && test "$st" = 1 && grep -q "may not act for another user" as.txt &&
    "$ROGUE" as "$T/run/master/master.ipc" mctl_api_alice web1 test.ping > as.txt &&
    grep -q "^[0-9]\{20\}$" as.txt
'

test_expect_success 'logout ends the token and the event streams opened with it' '
    tok=$(login mctl_api_alice alice-pw-1) && test -n "$tok" || return 1
    curl -sN -H "X-Auth-Token: $tok" "$URL/events" > ended.txt 2>&1 &
    pid=$!
    EXTRA_PIDS+=($pid)
    wait_until 10 grep -q "^: connected" ended.txt &&
    st=$(call POST /logout -H "X-Auth-Token: $tok") && test "$st" = 200 &&
    st=$(call GET /jobs -H "X-Auth-Token: $tok") && test "$st" = 401 &&
    wait_until 10 eval "! kill -0 $pid"
'

# A login's password passes through the HTTP body, jansson's parser and
# strings, and PAM: none of them may leave it in mctl-api's memory. (Not
# in the sanitizer build, whose allocator keeps its own copies of blocks.)
test_expect_success 'a login leaves no copy of the password in mctl-api memory' '
    if ldd "$BIN/mctl-api" | grep -q libasan; then
        echo "sanitizer build: skipped"; return 0
    fi
    pid=$(cat "$T/run/api.pid") && tail=${DAVE_PW: -24} &&
    ! mem_has "$pid" "$tail" &&
    tok=$(login mctl_api_dave "$DAVE_PW") && test -n "$tok" &&
    curl -sS -o /dev/null --data-urlencode username=mctl_api_dave \
        --data-urlencode "password=$DAVE_PW" "$URL/login" &&
    mem_has "$pid" "mctl_api_dave" &&
    ! mem_has "$pid" "$tail"
'

# An account locked and expired after its login (usermod -L -e 1, what
# usermod(8) says locks an account whole): PAM's account rules are asked
# again every 5 s, and the login ends with its event streams.
jobs_refused() { test "$(call GET /jobs -H "X-Auth-Token: $1")" = 401; }
gone() { ! kill -0 "$1" 2> /dev/null || grep -q "^[0-9]* (.*) Z" "/proc/$1/stat"; }
test_expect_success 'a user whose account is locked after the login loses the web within seconds' '
    tok=$(login mctl_api_dave "$DAVE_PW") && test -n "$tok" || return 1
    curl -sN -H "X-Auth-Token: $tok" "$URL/events" > locked.txt 2>&1 &
    pid=$!
    EXTRA_PIDS+=($pid)
    wait_until 10 grep -q "^: connected" locked.txt &&
    st=$(call GET /jobs -H "X-Auth-Token: $tok") && test "$st" = 200 &&
    usermod -L -e 1 mctl_api_dave &&
    wait_until 10 jobs_refused "$tok" &&
    wait_until 10 gone "$pid" &&
    grep -q "mctl_api_dave.s login ends: PAM refuses mctl_api_dave.s account" "$T/log/api" &&
    st=$(call POST /login -H "Content-Type: application/json" \
         -d "{\"username\":\"mctl_api_dave\",\"password\":\"$DAVE_PW\"}") && test "$st" = 401 &&
    usermod -U -e "" mctl_api_dave &&
    tok=$(login mctl_api_dave "$DAVE_PW") && test -n "$tok" &&
    st=$(call GET /jobs -H "X-Auth-Token: $tok") && test "$st" = 200
'

test_expect_success 'a user taken out of the client_group loses the web at once' '
    tok=$(login mctl_api_carol carol-pw-4) &&
    st=$(call GET /jobs -H "X-Auth-Token: $tok") && test "$st" = 200 &&
    usermod -g users mctl_api_carol &&
    st=$(call GET /jobs -H "X-Auth-Token: $tok") && test "$st" = 401
'

test_expect_success 'a token expires after api_token_expire' '
    stop_daemon api &&
    sed -i "s/^api_token_expire: .*/api_token_expire: 2/" "$T/etc/master" &&
    start_api api && wait_until 10 serving "$URL" &&
    tok=$(login mctl_api_alice alice-pw-1) &&
    st=$(call GET /jobs -H "X-Auth-Token: $tok") && test "$st" = 200 &&
    wait_until 10 eval "test \"\$(call GET /jobs -H \"X-Auth-Token: $tok\")\" = 401"
'

test_expect_success 'HTTPS with api_ssl_crt and api_ssl_key; plain HTTP is refused off loopback' '
    stop_daemon api &&
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$T/api.key" -out "$T/api.crt" 2>/dev/null &&
    sed -i "/^api_/d" "$T/etc/master" &&
    start_api api "api_host: 127.0.0.1" "api_port: $API_PORT" "api_ssl_crt: $T/api.crt" \
        "api_ssl_key: $T/api.key" "api_pam_service: $PAM_SERVICE" "api_log_file: $T/log/api" &&
    wait_until 10 serving "https://127.0.0.1:$API_PORT" &&
    curl -sS --cacert "$T/api.crt" -D h.txt -o b.json -H "Content-Type: application/json" \
        -d "{\"username\":\"mctl_api_alice\",\"password\":\"alice-pw-1\"}" \
        "https://127.0.0.1:$API_PORT/login" && grep -qi "^Set-Cookie: .*Secure" h.txt &&
    grep -qi "^Strict-Transport-Security" h.txt &&
    ! curl -sS -o /dev/null "http://127.0.0.1:$API_PORT/login" 2>/dev/null &&
    { st=0; "$BIN/mctl-api" -c "$T/etc" --pidfile "$T/run/x.pid" 2> err.txt || st=$?; } &&
    cat err.txt && test "$st" = 69 &&
    sed -i "/^api_/d" "$T/etc/master" &&
    printf "%s\n" "api_host: 0.0.0.0" "api_disable_ssl: true" >> "$T/etc/master" &&
    { st=0; "$BIN/mctl-api" -c "$T/etc" --pidfile "$T/run/x.pid" 2> err.txt || st=$?; } &&
    cat err.txt && test "$st" = 78 && grep -q "loopback" err.txt
'

test_expect_success 'under valgrind: logins, history, a job, events, logout, no memory error or leak' '
    if ldd "$BIN/mctl-api" | grep -q libasan || ! command -v valgrind > /dev/null; then
        echo "sanitizer build or no valgrind: skipped"; return 0
    fi
    stop_daemon api && sed -i "/^api_/d" "$T/etc/master" || return 1
    DAEMON_WRAP=(valgrind --quiet --error-exitcode=97 --leak-check=full
                 --errors-for-leak-kinds=definite --show-leak-kinds=definite --track-fds=no)
    start_api api "api_host: 127.0.0.1" "api_port: $API_PORT" "api_disable_ssl: true" \
        "api_pam_service: $PAM_SERVICE" "api_log_file: $T/log/api-valgrind"
    DAEMON_WRAP=()
    wait_until 60 serving "$URL" &&
    st=$(call POST /login -H "Content-Type: application/json" \
         -d "{\"username\":\"mctl_api_alice\",\"password\":\"wrong\"}") && test "$st" = 401 &&
    tok=$(login mctl_api_alice alice-pw-1) && test -n "$tok" || return 1
    curl -sN -H "X-Auth-Token: $tok" "$URL/events" > vg-events.txt 2>&1 &
    EXTRA_PIDS+=($!)
    wait_until 30 grep -q "^: connected" vg-events.txt &&
    st=$(call POST "/run?wait=1" -H "X-Auth-Token: $tok" -H "Content-Type: application/json" \
         -d "{\"tgt\":\"web*\",\"fun\":\"test.echo\",\"arg\":[\"vg\"]}") && test "$st" = 200 &&
    jid=$(field "d[\"return\"][\"jid\"]") &&
    wait_until 30 grep -q "\"jid\":\"$jid\",\"fun\":\"test.echo\",\"id\"" vg-events.txt &&
    st=$(call GET "/jobs?limit=5" -H "X-Auth-Token: $tok") && test "$st" = 200 &&
    st=$(curl -sS -b "mctl_token=$tok" -o /dev/null -w "%{http_code}" "$URL/job/$jid") &&
    test "$st" = 200 &&
    st=$(call POST /run -H "X-Auth-Token: $tok" -H "Content-Type: application/json" -d "{") &&
    test "$st" = 400 &&
    st=$(call POST /logout -H "X-Auth-Token: $tok") && test "$st" = 200 &&
    stop_daemon api
'

test_done
