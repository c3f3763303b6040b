#!/usr/bin/env bash
# Runs THERE, from the repository root, on a machine with no package registry
# (made for one NVIDIA GPU with NVIDIA's OpenCL driver): the devices, every
# test suite of test/meson.build, then `clformer bench`, using build-dev/ and
# .devpkgs/ made by tools/device/prepare.sh. Never stops at a failure.
#   tools/device/check.sh [ICD]
# ICD (optional, for local testing): an OpenCL vendors directory, an .icd
# file, or an ICD library; default: NVIDIA's libnvidia-opencl.so.1, found
# under /usr/local/nvidia, /usr/lib/x86_64-linux-gnu, ...
# Environment:
#   OUT              where the logs go (default /tmp/clformer-out)
#   QUICK=1          a few tests and one small bench (a dry run)
#   TESTS="io cli"   only these tests (names of test/meson.build)
#   WRAP="cmd args"  run each test under a command (a debugger: backtraces)
#   NOBENCH=1        no benchmarks; SECOND=1: only those a first run missed
#   BUDGET=430       seconds for everything; TEST_BUDGET=270: tests end by then
#   CLFORMER_DEVICE  default gpu (NVIDIA), auto with an ICD argument
# Logs in $OUT: env.log (set-up, libraries, nvidia-smi, devices, info),
# tests.log (one line a test, failures' check lines, the summary),
# tests-full.log, bench.log, attention-variants.svg.
set -u
cd "$(dirname "$0")/../.." || exit 1
root=$PWD
start=$SECONDS
budget=${BUDGET:-430}
test_budget=${TEST_BUDGET:-270}
quick=${QUICK:-0}
OUT=${OUT:-/tmp/clformer-out}
mkdir -p "$OUT"
envlog=$OUT/env.log tlog=$OUT/tests.log flog=$OUT/tests-full.log blog=$OUT/bench.log
: >"$envlog"; : >"$tlog"; : >"$flog"; : >"$blog"
build=$root/build-dev
exe=$build/tools/clformer

elapsed() { echo $((SECONDS - start)); }
say() { echo "$*" | tee -a "$envlog"; }
# limit WANTED [END]: WANTED capped by what is left until END (default the
# budget) less a 10 s reserve; 0 when under 5 s are left
limit() {
    local end=${2:-$budget} left
    left=$((end - $(elapsed) - 10))
    [ "$left" -lt "$1" ] && set -- "$left"
    [ "$1" -lt 5 ] && echo 0 || echo "$1"
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

work=$(mktemp -d /tmp/clformer-check.XXXXXX)
made_link=""
cleanup() {
    [ -n "$made_link" ] && rm -f "$made_link"
    rm -rf "$work"
}
trap cleanup EXIT

say "== clformer device check: $(date -u '+%F %T UTC'), $(uname -srm), $(nproc) cores, quick=$quick"
say "root $root, OUT $OUT, git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

# --- libraries ------------------------------------------------------------
mkdir -p "$work/root"
if [ -f .devpkgs/libs.tar.xz ]; then
    tar -xJf .devpkgs/libs.tar.xz -C "$work/root" 2>>"$envlog" ||
        python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
            .devpkgs/libs.tar.xz "$work/root" 2>>"$envlog" ||
        say "WARNING: cannot unpack .devpkgs/libs.tar.xz"
elif [ -d .devpkgs/root ]; then
    cp -a .devpkgs/root/. "$work/root/"
else
    say "WARNING: no .devpkgs (run tools/device/prepare.sh): using the system's libraries"
fi
ours=$(find "$work/root" -name '*.so*' \( -type f -o -type l \) -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)

# --- the OpenCL driver ------------------------------------------------------
mkdir -p "$work/vendors"
icd=${1:-}
driver_dir=""
if [ -z "$icd" ]; then
    lib=""
    # the first 64-bit one (not lib32/), libnvidia-opencl.so.1 before
    # libnvidia-opencl.so.580.xx
    for d in /usr/local/nvidia /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/cuda /opt; do
        [ -d "$d" ] || continue
        for f in $(find "$d" -maxdepth 5 \( -name 'libnvidia-opencl.so.1' -o -name 'libnvidia-opencl.so.[0-9]*' \) \
            \( -type f -o -type l \) 2>/dev/null | awk '{ print ($0 ~ /\.so\.1$/ ? 0 : 1), $0 }' | sort | cut -d' ' -f2-); do
            say "found $f"
            [ -z "$lib" ] && [ "$(od -An -tx1 -j4 -N1 "$(readlink -f "$f")" 2>/dev/null | tr -d ' ')" = 02 ] && lib=$f
        done
        [ -n "$lib" ] && break
    done
    if [ -z "$lib" ] && [ -f /etc/OpenCL/vendors/nvidia.icd ]; then
        lib=$(head -1 /etc/OpenCL/vendors/nvidia.icd)
    fi
    if [ -n "$lib" ]; then
        say "NVIDIA OpenCL driver: $lib"
        echo "$lib" >"$work/vendors/nvidia.icd"
        [ "${lib#/}" != "$lib" ] && driver_dir=$(dirname "$lib")
        export CLFORMER_DEVICE=${CLFORMER_DEVICE:-gpu}
    else
        say "WARNING: libnvidia-opencl.so.1 not found; using /etc/OpenCL/vendors if any"
        cp /etc/OpenCL/vendors/*.icd "$work/vendors/" 2>/dev/null
    fi
elif [ -d "$icd" ]; then
    cp "$icd"/*.icd "$work/vendors/" 2>/dev/null
elif [ "${icd%.icd}" != "$icd" ]; then
    cp "$icd" "$work/vendors/"
else
    echo "$icd" >"$work/vendors/given.icd"
    [ "${icd#/}" != "$icd" ] && driver_dir=$(dirname "$icd")
fi
export CLFORMER_DEVICE=${CLFORMER_DEVICE:-auto}
export OCL_ICD_VENDORS=$work/vendors
for f in "$work"/vendors/*.icd; do [ -f "$f" ] && say "icd $(basename "$f"): $(cat "$f")"; done

export LD_LIBRARY_PATH=$ours${driver_dir:+:$driver_dir}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
mkdir -p "$work/cache" "$work/xdg" "$work/tmp" "$work/nv" "$work/pocl"
export CLFORMER_CACHE_DIR=$work/cache XDG_CACHE_HOME=$work/xdg TMPDIR=$work/tmp
export CUDA_CACHE_PATH=$work/nv POCL_CACHE_DIR=$work/pocl
export CK_DEFAULT_TIMEOUT=300 CK_FORK=no # test/meson.build's test_env
# line-buffered output, so that what a step printed survives its timeout
lb=(); command -v stdbuf >/dev/null && lb=(stdbuf -oL -eL)
say "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
say "CLFORMER_DEVICE=$CLFORMER_DEVICE CLFORMER_CACHE_DIR=$CLFORMER_CACHE_DIR"

# every library of the binaries: from the unpacked .devpkgs, build-dev, the
# driver's folder, or the base system's libc6/libgcc-s1/libstdc++6
base_re='^(libc|libm|libmvec|libpthread|libdl|librt|libgcc_s|libstdc\+\+|ld-linux-x86-64)\.so'
libs_bad=0
for f in "$exe" "$build"/libclformer.so.*.*.* "$build"/test/test-*; do
    [ -f "$f" ] && [ -x "$f" ] || continue
    while read -r so path; do
        case "$path" in
        "$work"/* | "$build"/*) ;;
        *) if [ -n "$driver_dir" ] && [ "${path#"$driver_dir"/}" != "$path" ]; then :
           elif [[ $so =~ $base_re ]] && [ -e "$path" ]; then :
           else say "library: ${f#"$root"/}: $so => $path"; libs_bad=1; fi ;;
        esac
    done < <(ldd "$f" 2>&1 | awk '/=>/ {print $1, $3}')
done
base_used=$(for f in "$exe" "$build"/test/test-*; do ldd "$f" 2>/dev/null; done |
    awk '/=>/ {print $1}' | sort -u | grep -E "$base_re" | paste -sd' ')
say "libraries from the base system: $base_used"
[ "$libs_bad" = 0 ] && say "libraries: all others from .devpkgs or build-dev" ||
    say "WARNING: some libraries come from elsewhere or are missing (above)"
ldd "$exe" >>"$envlog" 2>&1

# the test executables have the build machine's source dir compiled in
src=$(cat "$build/.source-dir" 2>/dev/null)
if [ -n "$src" ] && ! [ "$src" -ef "$root" ]; then
    if [ ! -e "$src" ] && mkdir -p "$(dirname "$src")" 2>/dev/null && ln -s "$root" "$src"; then
        made_link=$src
        say "linked $src -> $root (CLF_SOURCE_DIR of the test executables)"
    else
        say "WARNING: $src (CLF_SOURCE_DIR of the tests) is not this tree: test-io, test-program may fail"
    fi
fi

# --- devices ------------------------------------------------------------------
step() { # LIMIT LOG TITLE -- COMMAND...: runs it with a timeout; 0/1/124
    local want=$1 log=$2 title=$3 t rc t0
    shift 4
    t=$(limit "$want")
    if [ "$t" = 0 ]; then
        echo "== $title: SKIPPED (out of time)" | tee -a "$log"
        return 125
    fi
    echo "== $title (limit ${t}s, at $(elapsed)s)" >>"$log"
    t0=$(now)
    timeout -k 5 "$t" "${lb[@]}" "$@" >>"$log" 2>&1 </dev/null
    rc=$?
    echo "-- rc $rc, $(secs "$t0" "$(now)")s" >>"$log"
    echo "$title: rc $rc, $(secs "$t0" "$(now)")s"
    return $rc
}
if command -v nvidia-smi >/dev/null; then
    step 20 "$envlog" "nvidia-smi -L" -- nvidia-smi -L
    step 20 "$envlog" "nvidia-smi" -- nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
else
    say "nvidia-smi: not found"
fi
step 60 "$envlog" "clformer devices" -- "$exe" devices
step 120 "$envlog" "clformer info" -- "$exe" info
cat "$envlog" | sed -n '/== clformer devices/,$p'

# --- tests ----------------------------------------------------------------------
names=$(awk '/^foreach name : \[/ { f = 1 } f { print } f && /\]/ { exit }' test/meson.build |
    grep -o "'[^']*'" | tr -d "'")
[ -n "$names" ] || names=$(cd "$build/test" && ls test-* | sed 's/^test-//')
per_test=${PER_TEST:-150}
names="$names cli install"
[ "$quick" = 1 ] && names="spec tensor gemm"
names=${TESTS:-$names}
pass=0 fail=0 skip=0 failed=""
record() { # NAME RC SECONDS OUTPUT
    local r
    case $2 in
    0) r=PASS; pass=$((pass + 1)) ;;
    77) r=SKIP; skip=$((skip + 1)) ;;
    124 | 137) r="FAIL (timeout)"; fail=$((fail + 1)); failed="$failed $1" ;;
    125) r="SKIP (out of time)"; skip=$((skip + 1)) ;;
    *) r="FAIL (rc $2)"; fail=$((fail + 1)); failed="$failed $1" ;;
    esac
    printf '%-18s %-16s %7ss\n' "$1" "$r" "$3" | tee -a "$tlog"
    {
        echo "======== $1: $r, $3 s"
        cat "$4"
    } >>"$flog"
    case $r in FAIL*)
        grep -E '^[^ ]*:[0-9]+:[EF]:|^FAIL|error' "$4" | head -20 | sed 's/^/    /' >>"$tlog" ;;
    esac
}
run_test() { # NAME COMMAND...
    local name=$1 t t0 rc
    shift
    t=$(limit "$per_test" "$test_budget")
    if [ "$t" = 0 ]; then
        record "$name" 125 0 /dev/null
        return
    fi
    t0=$(now)
    # WRAP (e.g. "cuda-gdb -q -batch -ex run -ex bt --args") runs each test under it
    # shellcheck disable=SC2086
    (cd "$build" && MALLOC_PERTURB_=$((RANDOM % 255 + 1)) timeout -k 5 "$t" "${lb[@]}" ${WRAP:-} "$@") \
        >"$work/test.out" 2>&1 </dev/null
    rc=$?
    record "$name" "$rc" "$(secs "$t0" "$(now)")" "$work/test.out"
}
echo "== tests on CLFORMER_DEVICE=$CLFORMER_DEVICE (at $(elapsed)s)" | tee -a "$tlog"
run_install() {
    # install.sh runs `meson install` from build-dev and compiles programs
    # against the staged clformer.pc: it needs meson, a C compiler,
    # pkg-config, nm and the -dev packages, usually absent there
    local miss="" c
    for c in meson cc c++ pkg-config nm; do command -v $c >/dev/null || miss="$miss $c"; done
    if [ -z "$miss" ] && pkg-config --exists OpenCL clblast libxxhash libcjson lapacke 2>/dev/null; then
        run_test install bash "$root/test/install.sh" "$build"
    else
        echo "skipped: install.sh needs meson, a C compiler, pkg-config, nm and the -dev packages; missing:${miss:- the -dev packages}" >"$work/test.out"
        record install 77 0 "$work/test.out"
    fi
}
for n in $names; do
    case $n in
    cli) run_test cli bash "$root/test/cli.sh" "$exe" "$root" ;;
    install) run_install ;;
    *) if [ -x "$build/test/test-$n" ]; then
           run_test "$n" "$build/test/test-$n"
       else
           echo "FAIL: not built: build-dev/test/test-$n (rerun tools/device/prepare.sh)" >"$work/test.out"
           record "$n" 1 0 "$work/test.out"
       fi ;;
    esac
done
tests_line="tests: $pass passed, $fail failed, $skip skipped${failed:+ (failed:$failed)}"
echo "$tests_line" | tee -a "$tlog"

# --- bench ----------------------------------------------------------------------
bench_ok=0 bench_bad=0 bench_skip=0
bench() { # LIMIT ARGS...
    local t=$1 rc
    shift
    echo | tee -a "$blog" >/dev/null
    step "$t" "$blog" "clformer bench $*" -- "$exe" bench "$@"
    rc=$?
    case $rc in 0) bench_ok=$((bench_ok + 1)) ;; 125) bench_skip=$((bench_skip + 1)) ;;
    *) bench_bad=$((bench_bad + 1)) ;; esac
}
echo "== bench (at $(elapsed)s)" | tee -a "$blog"
if [ -n "${NOBENCH:-}" ]; then
    :
elif [ -n "${SECOND:-}" ]; then # what a first run could not reach
    bench 30 layer
    step 40 "$blog" "clformer run --profile" -- "$exe" run --profile --seq 512 --d-model 384 --heads 12 --d-ff 1536 --runs 5
    bench 60 ffn --runs 5
    bench 40 layer --seq 2048 --runs 10
    bench 60 attention --runs 3 --seq 8192 --attn linformer:64 --attn linformer:256 \
        --attn nystrom:64 --attn nystrom:256 --attn window:256
elif [ "$quick" = 1 ]; then
    bench 60 gemm --shape 256x256x256 --runs 3
else
    bench 60 gemm
    bench 150 attention --runs 5
    bench 40 layer
    bench 30 softmax
    bench 30 layernorm
    # int8 / fp16 quantisation (newer builds only)
    "$exe" bench --help 2>/dev/null | grep -q '|quant' && bench 60 quant
    bench 100 attention --runs 5 --attn topk:64 --attn window:256,global:16 \
        --attn threshold:0.001 --plot "$OUT/attention-variants.svg"
    bench 60 ffn --runs 5
    bench 40 gemm --shape 4096x4096x4096 --runs 10
    step 40 "$blog" "clformer run --profile" -- "$exe" run --profile --seq 512 --d-model 384 --heads 12 --d-ff 1536 --runs 5
    bench 40 gemm --provider native
    bench 40 gemm --provider clblast
    bench 60 layer --seq 2048 --runs 10
    bench 90 attention --attn-impl fused --seq 16384 --runs 3
fi
bench_line="bench: $bench_ok ok, $bench_bad failed, $bench_skip skipped (out of time)"

# --- summary ----------------------------------------------------------------------
for f in "$flog" "$blog"; do # the limit on what comes back is 16 MiB a file
    if [ "$(stat -c %s "$f")" -gt 15000000 ]; then tail -c 15000000 "$f" >"$work/t" && cp "$work/t" "$f"; fi
done
{
    echo
    echo "== summary (device $CLFORMER_DEVICE, $(elapsed)s)"
    echo "$tests_line"
    echo "$bench_line"
} | tee -a "$tlog" "$blog"
[ "$fail" = 0 ] && [ "$bench_bad" = 0 ]
