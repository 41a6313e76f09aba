# mctl deploy's half on the host: read by `sh -s -- ACTION [ARG]` over SSH,
# as root (directly or through sudo). It touches only the paths set here;
# the one argument it takes, the upload folder, is checked before use.
#
#   probe            print what is installed, one key=value per line
#   install DIR      put the uploaded files in place (the binary, or the
#                    package mctl-minion.deb; a binary it replaces is kept
#                    as mctl-minion.prev), create the minion's keys when
#                    missing, print its public key (pub=...) and the
#                    version now installed (version=...)
#   rollback         put the kept mctl-minion.prev back (the one it
#                    replaces is kept in its place); print version=...
#   start INIT       (re)start the minion: systemd, or -d with a pidfile
#   uninstall        stop the minion and remove everything install made
#   cleanup DIR      remove an upload folder
set -u
LOCAL_BIN=/usr/local/bin/mctl-minion
PKG_BIN=/usr/bin/mctl-minion
PKG_SHA=/var/lib/mctl/minion-package.sha256
CONF_DIR=/etc/mctl
CONF=$CONF_DIR/minion
PKI=$CONF_DIR/pki/minion
CACHE=/var/lib/mctl/minion
LOG_DIR=/var/log/mctl
RUN_DIR=/run/mctl
PIDFILE=$RUN_DIR/minion.pid
UNIT=/etc/systemd/system/mctl-minion.service

packaged() {
    dpkg-query -W -f='${Status}' mctl-minion 2>/dev/null | grep -q "ok installed"
}

if packaged; then BIN=$PKG_BIN; else BIN=$LOCAL_BIN; fi

fail() {
    echo "$*" >&2
    exit 1
}

upload_dir() {
    case "$1" in
    /tmp/mctl-deploy.*/* | *..*) fail "bad upload folder '$1'" ;;
    /tmp/mctl-deploy.*) [ -d "$1" ] || fail "upload folder $1 is missing" ;;
    *) fail "bad upload folder '$1'" ;;
    esac
}

sha() {
    if [ -f "$1" ]; then sha256sum "$1" | cut -c1-64; fi
}

init_system() {
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        echo systemd
    else
        echo none
    fi
}

daemon_pid() {
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    case "$pid" in '' | *[!0-9]*) return 1 ;; esac
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

running() {
    if [ "$(init_system)" = systemd ]; then
        systemctl is-active --quiet mctl-minion && echo yes || echo no
    else
        daemon_pid >/dev/null && echo yes || echo no
    fi
}

free_kib() {
    d=$1
    while [ ! -d "$d" ]; do d=$(dirname "$d"); done
    df -Pk "$d" 2>/dev/null | awk 'NR == 2 { print $4 }'
}

# Stop a daemon started with -d: TERM, then wait for it to go (it lets
# running jobs finish first), KILL after 60 s.
stop_daemon() {
    if pid=$(daemon_pid); then
        kill -TERM "$pid" 2>/dev/null
        n=0
        while kill -0 "$pid" 2>/dev/null; do
            n=$((n + 1))
            if [ $n -gt 600 ]; then
                kill -KILL "$pid" 2>/dev/null
                break
            fi
            sleep 0.1
        done
    fi
    rm -f "$PIDFILE"
}

# The version a minion binary reports ("0.1.0"), or nothing.
version_of() {
    [ -x "$1" ] && "$1" --version 2>/dev/null | awk '{ print $2; exit }'
}

[ "$(id -u)" = 0 ] || fail "not root (log in as root, or use sudo: true)"

case "${1:-}" in
probe)
    echo "arch=$(uname -m)"
    echo "init=$(init_system)"
    echo "bin=$(sha $LOCAL_BIN)"
    if packaged; then echo "pkg=$(cat $PKG_SHA 2>/dev/null)"; fi
    echo "conf=$(sha $CONF)"
    echo "running=$(running)"
    echo "version=$(version_of "$BIN")"
    echo "prev=$(version_of "$LOCAL_BIN.prev")"
    if [ -f "$PKI/minion.cert" ] && [ -x "$BIN" ]; then
        echo "pub=$("$BIN" -c "$CONF_DIR" --gen-keys 2>/dev/null)"
    fi
    echo "free_bin=$(free_kib /usr/local/bin)"
    echo "free_tmp=$(free_kib /tmp)"
    ;;
install)
    upload_dir "${2:-}"
    dir=$2
    mkdir -p /usr/local/bin "$CACHE" "$LOG_DIR" || fail "cannot create folders"
    chmod 0700 "$CACHE"
    install -d -m 0755 "$CONF_DIR" || fail "cannot create $CONF_DIR"
    if [ -f "$dir/mctl-minion.deb" ]; then
        # The package's own unit and binary replace deploy's.
        if [ -f "$UNIT" ] || [ -f "$LOCAL_BIN" ]; then
            [ "$(init_system)" = systemd ] && systemctl disable --now --quiet mctl-minion 2>/dev/null
            stop_daemon
            rm -f "$UNIT" "$LOCAL_BIN"
        fi
        DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold "$dir/mctl-minion.deb" \
            >/tmp/mctl-deploy.err.$$ 2>&1 || {
            msg=$(grep -i "error\|depends\|space" /tmp/mctl-deploy.err.$$ | tail -n 1)
            rm -f /tmp/mctl-deploy.err.$$
            fail "dpkg: ${msg:-could not install the package}"
        }
        rm -f /tmp/mctl-deploy.err.$$
        sha256sum "$dir/mctl-minion.deb" | cut -c1-64 >"$PKG_SHA"
        BIN=$PKG_BIN
    elif [ -f "$dir/mctl-minion" ]; then
        packaged && fail "mctl-minion is installed from a package here: deploy with --package"
        if ! install -m 0755 "$dir/mctl-minion" "$BIN.new" 2>/tmp/mctl-deploy.err.$$; then
            rm -f "$BIN.new"
            msg=$(tail -n 1 /tmp/mctl-deploy.err.$$)
            rm -f /tmp/mctl-deploy.err.$$
            fail "$msg"
        fi
        rm -f /tmp/mctl-deploy.err.$$
        # The binary being replaced stays, for --rollback. The running
        # minion keeps its (now unlinked) file until it is restarted.
        if [ -f "$BIN" ]; then
            cp -p "$BIN" "$BIN.prev.new" && mv -f "$BIN.prev.new" "$BIN.prev" ||
                { rm -f "$BIN.prev.new" "$BIN.new"; fail "cannot keep $BIN as $BIN.prev"; }
        fi
        mv -f "$BIN.new" "$BIN" || fail "cannot replace $BIN"
    fi
    if [ -f "$dir/minion" ]; then
        install -m 0600 "$dir/minion" "$CONF.new" || { rm -f "$CONF.new"; fail "cannot write $CONF"; }
        mv -f "$CONF.new" "$CONF" || fail "cannot replace $CONF"
    fi
    if [ -f "$dir/mctl-minion.service" ]; then
        # The unit names the packaged binary; deploy's is in /usr/local.
        sed "s#/usr/bin/mctl-minion#$LOCAL_BIN#" "$dir/mctl-minion.service" >"$UNIT.new" &&
            chmod 0644 "$UNIT.new" && mv -f "$UNIT.new" "$UNIT" || fail "cannot write $UNIT"
    fi
    pub=$("$BIN" -c "$CONF_DIR" --gen-keys) || fail "cannot create the minion's keys"
    echo "pub=$pub"
    echo "version=$(version_of "$BIN")"
    rm -rf "$dir"
    ;;
rollback)
    packaged && fail "mctl-minion is installed from a package here: install the older package"
    [ -f "$LOCAL_BIN.prev" ] || fail "no previous mctl-minion is kept on this host"
    # Swap: the previous binary back in place, the current one kept.
    cp -p "$LOCAL_BIN.prev" "$LOCAL_BIN.new" && cp -p "$LOCAL_BIN" "$LOCAL_BIN.prev.new" &&
        mv -f "$LOCAL_BIN.new" "$LOCAL_BIN" && mv -f "$LOCAL_BIN.prev.new" "$LOCAL_BIN.prev" ||
        { rm -f "$LOCAL_BIN.new" "$LOCAL_BIN.prev.new"; fail "cannot put $LOCAL_BIN.prev back"; }
    echo "version=$(version_of "$LOCAL_BIN")"
    ;;
start)
    if [ "${2:-}" = systemd ]; then
        systemctl daemon-reload || fail "systemctl daemon-reload failed"
        systemctl enable --quiet mctl-minion || fail "cannot enable mctl-minion"
        systemctl restart mctl-minion || fail "mctl-minion did not start: see journalctl -u mctl-minion"
    else
        stop_daemon
        mkdir -p "$RUN_DIR" "$LOG_DIR"
        # -d returns once the minion works, or says why it does not.
        why=$("$BIN" -c "$CONF_DIR" -d --pidfile "$PIDFILE" 2>&1) ||
            fail "mctl-minion did not start: $(echo "$why" | tail -n 1)"
    fi
    ;;
uninstall)
    if [ "$(init_system)" = systemd ] && [ -f "$UNIT" ]; then
        systemctl disable --now --quiet mctl-minion 2>/dev/null
        rm -f "$UNIT"
        systemctl daemon-reload
    fi
    stop_daemon
    if packaged; then
        DEBIAN_FRONTEND=noninteractive dpkg --purge mctl-minion >/dev/null 2>&1 ||
            fail "dpkg --purge mctl-minion failed"
    fi
    rm -f "$LOCAL_BIN" "$LOCAL_BIN.new" "$LOCAL_BIN.prev" "$LOCAL_BIN.prev.new" "$CONF" "$CONF.new" "$LOG_DIR/minion.log" "$PKG_SHA"
    rm -rf "$PKI" "$CACHE"
    rmdir "$CONF_DIR/pki" "$CONF_DIR" /var/lib/mctl "$LOG_DIR" "$RUN_DIR" 2>/dev/null
    echo removed
    ;;
cleanup)
    upload_dir "${2:-}"
    rm -rf "$2"
    ;;
*)
    fail "unknown action '${1:-}'"
    ;;
esac
exit 0
