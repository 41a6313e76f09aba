#!/usr/bin/env bash
# Help that teaches: the manual pages render cleanly and name every option
# the programs take and every config key; bash completion offers
# subcommands, options, minion ids and function names.
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"
MAN=$SRC/deploy/man

# options_of HELP-TEXT-FILE: the long options it lists.
options_of() { grep -oE -- "--[a-z][a-z-]+" "$1" | sort -u; }
# man_has PAGE OPTION: the page names it (roff writes - as \-).
man_has() { grep -qF -- "$(printf "%s" "$2" | sed "s/-/\\\\-/g")" "$1"; }

test_expect_success 'every manual page renders without a warning' '
    for p in "$MAN"/*.[158]; do
        out=$(groff -man -Tutf8 -ww -z "$p" 2>&1) &&
            test -z "$out" || { echo "$p: $out"; return 1; }
    done &&
    test "$(ls "$MAN" | wc -l)" = 7
'

test_expect_success 'each manual page names every option its program takes' '
    "$BIN/mctl" --help > h.mctl && "$BIN/mctl-master" --help > h.master &&
    "$BIN/mctl-minion" --help > h.minion && "$BIN/mctl-deploy" --help > h.deploy &&
    "$BIN/mctl" cp --help > h.cp && "$BIN/mctl-api" --help > h.api &&
    for pair in "h.mctl mctl.1" "h.cp mctl.1" "h.master mctl-master.8" "h.minion mctl-minion.8" "h.deploy mctl-deploy.8" "h.api mctl-api.8"; do
        set -- $pair
        for o in $(options_of "$1"); do
            man_has "$MAN/$2" "$o" || { echo "$2 does not name $o"; return 1; }
        done
    done
'

test_expect_success 'mctl-master(5) and mctl-minion(5) name every config key' '
    for pair in "mc_master_config_t mctl-master.5" "mc_minion_config_t mctl-minion.5"; do
        set -- $pair
        for k in $(sed -n "s/^ *F($1, \([a-z_]*\),.*/\1/p" "$SRC/shared/config.c"); do
            man_has "$MAN/$2" "$k" || { echo "$2 does not name $k"; return 1; }
        done
    done &&
    man_has "$MAN/mctl-master.5" publisher_acl && man_has "$MAN/mctl-master.5" nodegroups &&
    man_has "$MAN/mctl-minion.5" grains && man_has "$MAN/mctl-minion.5" output_max
'

# complete WORDS...: what bash completion offers for the last word.
complete_words() {
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _mctl
    printf "%s\n" "${COMPREPLY[@]}"
}

test_expect_success 'bash completion: subcommands, ids, functions, options' '
    start_master && start_and_accept web1 &&
    export XDG_CACHE_HOME=$T/cache-home &&
    . "$SRC/deploy/mctl.bash-completion" &&
    complete_words mctl "" > c.txt && grep -qx key c.txt && grep -qx jobs c.txt && grep -qx web1 c.txt &&
    grep -qx cp c.txt && complete_words mctl cp "" > c.txt && grep -qx web1 c.txt &&
    complete_words mctl we > c.txt && test "$(cat c.txt)" = web1 &&
    complete_words mctl web1 test.p > c.txt && grep -qx test.ping c.txt &&
    complete_words mctl web1 "" > c.txt && grep -qx cmd.run c.txt && grep -qx file.write c.txt &&
    test -s "$XDG_CACHE_HOME/mctl/functions" &&
    complete_words mctl key "" > c.txt && grep -qx accept c.txt &&
    complete_words mctl --out "" > c.txt && test "$(sort c.txt | tr "\n" " ")" = "json txt yaml " &&
    complete_words mctl --sum > c.txt && test "$(cat c.txt)" = --summary
'

test_done
