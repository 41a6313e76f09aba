#!/usr/bin/env bash
# The status, disk, file, service and pkg modules on a real minion: what they return,
# what they change on disk, and how they refuse bad input.
. "$(dirname "$0")/lib.sh"

# json_of ARGS...: the one minion's return of mctl --out json ARGS, as JSON.
json_of() {
    mctl --out json "$@" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["m1"]))'
}
# check ARGS... :: PYTHON: the return (as r) makes PYTHON true.
check() {
    local args=() expr
    while [ "$1" != :: ]; do args+=("$1"); shift; done
    expr=$2
    json_of "${args[@]}" > ret.json &&
        python3 -c "import json,sys; r = json.load(open('ret.json')); sys.exit(0 if ($expr) else 1)" ||
        { echo "not true of $(cat ret.json): $expr"; return 1; }
}

test_expect_success 'set-up: a master and one minion' '
    start_master && start_and_accept m1
'

test_expect_success 'status: loadavg, meminfo, uptime' '
    check m1 status.loadavg :: "set(r) == {\"1-min\", \"5-min\", \"15-min\"} and r[\"1-min\"] >= 0" &&
    check m1 status.meminfo :: "r[\"MemTotal\"][\"unit\"] == \"kB\" and int(r[\"MemTotal\"][\"value\"]) > 0" &&
    up=$(cut -d. -f1 /proc/uptime) &&
    check m1 status.uptime :: "abs(r[\"seconds\"] - $up) < 60 and r[\"days\"] == $up // 86400"
'

test_expect_success 'disk.usage: every filesystem, or the one holding a path' '
    root_avail=$(df -Pk / | awk "NR == 2 { print \$4 }") &&
    check m1 disk.usage :: "\"/\" in r and abs(int(r[\"/\"][\"available\"]) - $root_avail) < 1048576" &&
    check m1 disk.usage "$T" :: "len(r) == 1 and list(r.values())[0][\"capacity\"].endswith(\"%\")"
'

test_expect_success 'file: mkdir, write, read, get_hash, append, stat, chmod, chown, exists, remove' '
    d=$T/files/a/b && f=$d/motd &&
    check m1 file.mkdir "$d" mode=0750 :: "r is True" &&
    test "$(stat -c %a "$d")" = 750 &&
    check m1 file.write "$f" "hello" "world" :: "r == \"Wrote 2 lines to \\\"$f\\\"\"" &&
    test "$(cat "$f")" = "$(printf "hello\nworld")" &&
    check m1 file.read "$f" :: "r == \"hello\\nworld\\n\"" &&
    sum=$(sha256sum "$f" | cut -c1-64) &&
    check m1 file.get_hash "$f" :: "r == \"$sum\"" &&
    check m1 file.append "$f" "again" :: "r.startswith(\"Wrote 1 lines\")" &&
    test "$(tail -n 1 "$f")" = again &&
    chmod 0640 "$f" &&
    check m1 file.write "$f" "replaced" :: "r.startswith(\"Wrote 1 lines\")" &&
    test "$(stat -c %a "$f")" = 640 && test "$(cat "$f")" = replaced &&
    ! ls "$d" | grep -q mctl-write &&
    check m1 file.chmod "$f" 0600 :: "r is True" &&
    check m1 file.chown "$f" nobody nogroup :: "r is True" &&
    check m1 file.stat "$f" :: "r[\"type\"] == \"file\" and r[\"mode\"] == \"0600\" and r[\"user\"] == \"nobody\" and r[\"size\"] == 9" &&
    check m1 file.exists "$f" :: "r is True" &&
    check m1 file.remove "$T/files/a" :: "r is True" &&
    ! test -e "$T/files/a" &&
    check m1 file.exists "$f" :: "r is False"
'

# refused ARGS... :: TEXT: the job fails (exit 1) and says TEXT.
refused() {
    local args=() st=0
    while [ "$1" != :: ]; do args+=("$1"); shift; done
    mctl "${args[@]}" > out.txt 2>&1 || st=$?
    cat out.txt
    test "$st" = 1 && grep -q -- "$2" out.txt
}

test_expect_success 'file: bad input is refused with why, nothing changed' '
    refused m1 file.read relative/path :: "not an absolute path" &&
    refused m1 file.read "$T" :: "is a directory" &&
    refused m1 file.read "$T/nosuch" :: "No such file" &&
    refused m1 file.remove / :: "refusing to remove /" &&
    refused m1 file.chmod "$T" 9999 :: "not an octal mode" &&
    refused m1 file.chown "$T" nosuchuser :: "there is no user" &&
    refused m1 file.get_hash /etc/hostname form=md5 :: "not one of sha256, sha512, blake2b" &&
    head -c 2000000 /dev/zero > "$T/big" &&
    refused m1 file.read "$T/big" :: "more than output_max" &&
    test -d / && test -d "$T"
'

test_expect_success 'service: a bad name is refused; without systemd, every function says so' '
    refused m1 service.status -- -x :: "is not a service name" &&
    if [ -d /run/systemd/system ]; then
        check m1 service.available systemd-journald :: "r is True" &&
        check m1 service.available mctl-no-such-unit :: "r is False"
    else
        for f in status start stop restart reload enable disable enabled available; do
            refused m1 service.$f ssh :: "no systemd here" || return 1
        done
    fi
'

test_expect_success 'pkg: version and list_pkgs as dpkg says; install (waiting for a dpkg lock another holds) and remove, with what changed' '
    v=$(dpkg-query -W -f="\${Version}" bash) &&
    check m1 pkg.version bash :: "r == \"$v\"" &&
    check m1 pkg.version bash mctl-no-such-pkg :: "r == {\"bash\": \"$v\", \"mctl-no-such-pkg\": \"\"}" &&
    check m1 pkg.list_pkgs :: "r[\"bash\"] == \"$v\" and len(r) > 50" &&
    mkdir -p deb/DEBIAN &&
    printf "Package: mctl-test-pkg\nVersion: 1.0-1\nArchitecture: all\nMaintainer: mctl tests <root@localhost>\nDescription: a package for the pkg module tests\n" > deb/DEBIAN/control &&
    dpkg-deb --build deb "$T/mctl-test-pkg_1.0-1_all.deb" > /dev/null &&
    { python3 -c "
import fcntl, time
f = open(\"/var/lib/dpkg/lock-frontend\", \"w\")
fcntl.lockf(f, fcntl.LOCK_EX)
print(\"locked\", flush=True)
time.sleep(3)" > lock.out & } &&
    wait_until 5 grep -q locked lock.out &&
    check m1 pkg.install "$T/mctl-test-pkg_1.0-1_all.deb" :: "r == {\"mctl-test-pkg\": {\"old\": \"\", \"new\": \"1.0-1\"}}" &&
    dpkg-query -W -f="\${Status}" mctl-test-pkg | grep -q "ok installed" &&
    check m1 pkg.install "$T/mctl-test-pkg_1.0-1_all.deb" :: "r == {}" &&
    check m1 pkg.remove mctl-test-pkg :: "r == {\"mctl-test-pkg\": {\"old\": \"1.0-1\", \"new\": \"\"}}" &&
    check m1 pkg.version mctl-test-pkg :: "r == \"\"" &&
    dpkg --purge mctl-test-pkg > /dev/null &&
    refused m1 pkg.install -- -o :: "is not a package name" &&
    refused m1 pkg.install "$T/../x.txt" :: "is not a package name" &&
    { st=0; mctl m1 pkg.install mctl-no-such-pkg > out.txt 2>&1 || st=$?; } &&
    cat out.txt && test $st != 0 && grep -q "apt-get install failed" out.txt
'

test_expect_success 'file: a symbolic link is never followed to change what it points to' '
    mkdir -p "$T/ln/outside" && echo keep > "$T/ln/outside/file" && chmod 0600 "$T/ln/outside/file" &&
    ln -s "$T/ln/outside" "$T/ln/dirlink" && ln -s "$T/ln/outside/file" "$T/ln/filelink" &&
    refused m1 file.mkdir "$T/ln/dirlink" user=nobody :: "Too many levels of symbolic links" &&
    test "$(stat -c %U "$T/ln/outside")" = root &&
    refused m1 file.chmod "$T/ln/filelink" 0666 :: "Too many levels of symbolic links" &&
    test "$(stat -c %a "$T/ln/outside/file")" = 600 &&
    refused m1 file.write "$T/ln/filelink" new :: "symbolic link" &&
    test "$(cat "$T/ln/outside/file")" = keep &&
    mkdir -p "$T/ln/tree/sub" && ln -s "$T/ln/outside" "$T/ln/tree/sub/escape" &&
    check m1 file.remove "$T/ln/tree" :: "r is True" &&
    ! test -e "$T/ln/tree" && test "$(cat "$T/ln/outside/file")" = keep
'

test_expect_success 'sys.doc documents the new modules' '
    mctl m1 sys.doc file.write | grep -q "atomically" &&
    mctl m1 sys.list_functions | grep -q "disk.usage" &&
    mctl m1 sys.list_functions | grep -q "status.uptime" &&
    mctl m1 sys.doc pkg.install | grep -q "what changed" &&
    mctl m1 sys.doc service.restart | grep -q "Restart"
'

test_done
