#!/usr/bin/env bash
# The web console in a real browser: headless Chromium, driven through
# chromedriver by Selenium (tests/e2e/console.py), against a real master,
# three minions (one of them down) and mctl-api. A user logs in with the
# host password, runs jobs from the form, watches returns arrive, opens a
# job from the history and sees the minion that is down. Screenshots of
# each page are kept in build/test-artifacts/console/. (Skipped unless
# root, with chromium, chromedriver and python3-selenium installed.)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v useradd >/dev/null || ! test -x /usr/bin/chromium ||
   ! test -x /usr/bin/chromedriver || ! /usr/bin/python3 -c "import selenium" 2>/dev/null; then
    echo "1..0 # SKIP needs root, useradd, chromium, chromium-driver and python3-selenium"
    exit 0
fi
PAM_SERVICE=mctl-api-test-$$
ARTIFACTS=$(cd "$BIN/.." && pwd)/test-artifacts/console
API_PORT=$(while :; do p=$((20000 + RANDOM % 12000)); ss -Hltn | awk '{print $4}' | grep -qE ":$p\$" || { echo $p; break; }; done)
URL=http://127.0.0.1:$API_PORT
trap 'rm -f /etc/pam.d/$PAM_SERVICE; cleanup; trap - EXIT; exit 1' INT TERM HUP PIPE
trap 'rm -f /etc/pam.d/$PAM_SERVICE; cleanup' EXIT

test_expect_success 'set-up: a user with a password, master, three minions (web3 down), mctl-api' '
    getent group mctlapi > /dev/null || groupadd mctlapi &&
    { id -u mctl_api_alice > /dev/null 2>&1 || useradd -M -N -s /usr/sbin/nologin mctl_api_alice; } &&
    usermod -g mctlapi -G "" mctl_api_alice &&
    echo "mctl_api_alice:alice-pw-1" | chpasswd &&
    cp "$SRC/deploy/mctl-api.pam" /etc/pam.d/$PAM_SERVICE &&
    start_master "client_group: mctlapi" "publisher_acl:" "  mctl_api_alice:" \
        "    - test.*" "    - cmd.run" "    - \"@jobs\"" \
        "api_host: 127.0.0.1" "api_port: $API_PORT" "api_disable_ssl: true" \
        "api_pam_service: $PAM_SERVICE" "api_log_file: $T/log/api" &&
    start_and_accept web1 web2 web3 &&
    stop_daemon web3 || return 1
    "$BIN/mctl-api" -c "$T/etc" --pidfile "$T/run/api.pid" >> "$T/log/api" 2>&1 &
    DAEMON_PIDS[api]=$!
    wait_until 10 curl -s -o /dev/null "$URL/login"
'

test_expect_success 'log in, run from the form, watch returns arrive, open the job from the history' '
    rm -rf "$ARTIFACTS" &&
    timeout 300 /usr/bin/python3 "$SRC/tests/e2e/console.py" "$URL" mctl_api_alice alice-pw-1 \
        "$ARTIFACTS" web3 &&
    ls "$ARTIFACTS"/*.png > /dev/null
'

test_done
