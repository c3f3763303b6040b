#!/bin/sh
# CI step: the whole project built with AddressSanitizer + UndefinedBehavior-
# Sanitizer (gcc, meson's b_sanitize) in build-asan, and every test suite run
# under them. Leaks count (detect_leaks=1) except inside PoCL, the OpenCL
# ICD loader and LLVM (test/lsan.supp); any UBSan report fails the test
# that triggered it (halt_on_error=1).
#   tools/sanitize.sh            build + run every suite
#   tools/sanitize.sh io tensor  build + run only these suites
set -eu
cd "$(dirname "$0")/.."
src=$(pwd)

if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined
fi
meson compile -C build-asan

# PoCL runs LLVM in-process and its kernels' compiled code is not
# instrumented: ASan must not touch the shadow gap PoCL's allocator may use
# (protect_shadow_gap=0), and ODR/new-delete mismatches inside LLVM are
# not ours (detect_odr_violation=0, new_delete_type_mismatch=0).
export ASAN_OPTIONS="detect_leaks=1:protect_shadow_gap=0:detect_odr_violation=0:new_delete_type_mismatch=0:allocator_may_return_null=1:abort_on_error=0:halt_on_error=1:print_summary=1"
export LSAN_OPTIONS="suppressions=$src/test/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

start=$(date +%s)
status=0
# ASan slows PoCL's kernel compiles: four times the usual timeouts
# Every test but 'install' (it links a program against the instrumented
# library without -fsanitize, which cannot work) and 'mpi' (Open MPI's own
# allocations are reported as leaks; mpirun's processes are not ours to
# instrument), unless names are given.
tests=${*:-$(meson test -C build-asan --list 2>/dev/null | sed -n 's|^.* / ||p' | grep -vx -e install -e mpi)}
# shellcheck disable=SC2086
meson test -C build-asan --print-errorlogs --timeout-multiplier 4 $tests || status=$?
echo "clformer: sanitizer suite took $(($(date +%s) - start)) s (exit $status)"
exit $status
