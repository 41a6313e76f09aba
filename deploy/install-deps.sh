#!/usr/bin/env bash
# Installs the Debian packages mctl needs to build, test and run, skipping
# those already present. Safe to run repeatedly; needs root (or sudo) only
# when something is missing.
#
#   deploy/install-deps.sh           to build and run (and most tests)
#   deploy/install-deps.sh --tests   also what only the tests need: the web
#                                    console's browser test (Chromium,
#                                    chromedriver, Selenium), curl, and the
#                                    PostgreSQL server the shared job cache
#                                    is tested on (never started as a service)
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libzmq3-dev libczmq-dev libmsgpack-dev libsodium-dev libyaml-dev
    libcmocka-dev libpcre2-dev libsqlite3-dev libssh-dev
    libmicrohttpd-dev libjansson-dev libpam0g-dev libpq-dev openssl
    procps iproute2 sqlite3 openssh-server openssh-client util-linux valgrind logrotate sudo python3-yaml groff-base
)
if [ "${1:-}" = --tests ]; then
    packages+=(curl chromium chromium-driver python3-selenium postgresql)
elif [ $# -gt 0 ]; then
    echo "usage: deploy/install-deps.sh [--tests]" >&2
    exit 64
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# openssh-server is here for the deploy tests, which run their own sshd in
# network namespaces: do not let the package start one on this machine.
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy >/dev/null
    $sudo chmod 755 $policy
    own_policy=1
fi
rc=0
$sudo apt-get update -qq &&
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
[ -n "$own_policy" ] && $sudo rm -f $policy
exit $rc
