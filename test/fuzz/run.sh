#!/bin/sh
# Runs every libFuzzer harness of a -Dfuzz=true build for SECONDS each
# (default 60), starting from a scratch copy of its seed corpus
# (test/fuzz/corpus/<harness>; the committed corpus never grows), prints
# the executions per harness and fails when any harness finds a crash.
# Crashers (and leak / timeout inputs) and their logs are copied to
# BUILD_DIR/fuzz-crashers/ (outside the source tree) for triage; turn
# each into a regression input under test/fuzz/corpus/NAME/ or a unit test
# once fixed.
#   CC=clang meson setup build-fuzz -Dfuzz=true && ninja -C build-fuzz
#   test/fuzz/run.sh build-fuzz 60 [HARNESS...]   (default: every harness)
set -u
build=${1:?usage: test/fuzz/run.sh BUILD_DIR [SECONDS]}
seconds=${2:-60}
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$build" && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/clf-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
crashers=$build/fuzz-crashers

# Leaks inside PoCL / the ICD loader / LLVM only (test/lsan.supp); ours count.
export LSAN_OPTIONS="suppressions=$src/test/lsan.supp:print_suppressions=0"
# intercept_tls_get_addr=0: see tools/sanitize.sh (LSan's tracer crash).
export ASAN_OPTIONS="${ASAN_OPTIONS:-intercept_tls_get_addr=0:detect_leaks=1:abort_on_error=0:allocator_may_return_null=1}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export CLFORMER_LOG=none

status=0
shift $(($# < 2 ? $# : 2))
# default: every harness, test/fuzz/fuzz-NAME.c
names=${*:-$(cd "$src/test/fuzz" && ls fuzz-*.c | sed 's/^fuzz-//; s/\.c$//')}
for name in $names; do
    exe=$build/test/fuzz-$name
    if [ ! -x "$exe" ]; then
        echo "fuzz-$name: not built (meson setup with -Dfuzz=true and CC=clang)" >&2
        status=1
        continue
    fi
    work=$scratch/$name
    mkdir -p "$work/corpus" "$work/artifacts"
    cp "$src/test/fuzz/corpus/$name/"* "$work/corpus/" 2>/dev/null
    rc=0
    # one process; -rss_limit_mb guards against a parser allocating what
    # a header claims; -timeout flags an input that takes over 10 s
    "$exe" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=4096 -timeout=10 \
        -max_len=4096 -artifact_prefix="$work/artifacts/" "$work/corpus" \
        >"$work/log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
    if [ "$rc" -ne 0 ] || ls "$work/artifacts/"* >/dev/null 2>&1; then
        mkdir -p "$crashers"
        for f in "$work/artifacts/"*; do
            [ -e "$f" ] && cp "$f" "$crashers/$name-$(basename "$f")"
        done
        echo "fuzz-$name: FAILED (exit $rc) after ${execs:-?} executions; inputs in $crashers" >&2
        grep -E 'ERROR|runtime error|fuzz check failed|SUMMARY' "$work/log" | head -n 5 >&2
        cp "$work/log" "$crashers/$name.log" 2>/dev/null
        status=1
    else
        echo "fuzz-$name: ${execs:-?} executions in ${seconds} s, no crash"
    fi
done
exit $status
