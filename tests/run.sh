#!/usr/bin/env bash
# The whole suite: install what is missing, build with warnings as errors,
# run unit and end-to-end tests, then the same again under ASan + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

deploy/install-deps.sh --tests

run_suite() {
    local dir=$1; shift
    cmake -S . -B "$dir" -DMCTL_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j "$jobs" -- --no-print-directory >/dev/null
    (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 300)
}

echo "== build and test (build/)"
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [ "${MCTL_SKIP_SANITIZE:-0}" != 1 ]; then
    echo "== build and test under ASan + UBSan (build-asan/)"
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
    run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DMCTL_SANITIZE=ON
fi
