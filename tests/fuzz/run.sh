#!/usr/bin/env bash
# Build every fuzz target with clang's libFuzzer (plus ASan and UBSan) and
# run each for SECONDS (default 60). Each run starts from the kept corpus in
# tests/fuzz/corpus/NAME and grows a working corpus in build-fuzz/corpus/NAME;
# at the end only the inputs that reach new coverage are merged back into
# the kept corpus. Prints each target's executions per second and coverage;
# exits non-zero on a finding (the crashing input is kept in tests/fuzz/ as
# crash-*).
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}; shift || true
command -v clang >/dev/null || { echo "fuzz: clang is needed (apt-get install clang)" >&2; exit 1; }
deploy/install-deps.sh
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMCTL_FUZZ=ON \
    -DMCTL_SANITIZE=ON >/dev/null
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(ls tests/fuzz/corpus))
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null
for t in "${targets[@]}"; do
    echo "== fuzz_$t for ${secs}s"
    log=build-fuzz/fuzz_$t.log
    work=build-fuzz/corpus/$t
    mkdir -p "$work"
    if ! build-fuzz/bin/fuzz_$t -max_total_time="$secs" -print_final_stats=1 \
         -artifact_prefix=tests/fuzz/ "$work" "tests/fuzz/corpus/$t" > "$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz_$t: FOUND A CRASH (see tests/fuzz/crash-*)" >&2
        exit 1
    fi
    grep -E "^stat::(number_of_executed_units|average_exec_per_sec)|cov: " "$log" | tail -n 3
    before=$(ls "tests/fuzz/corpus/$t" | wc -l)
    build-fuzz/bin/fuzz_$t -merge=1 "tests/fuzz/corpus/$t" "$work" > "$log.merge" 2>&1
    echo "corpus: $before -> $(ls "tests/fuzz/corpus/$t" | wc -l) inputs kept"
done
