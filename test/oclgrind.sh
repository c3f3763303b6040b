#!/bin/sh
# CI step (tools/dev.sh test): every kernel family run on tiny shapes under
# Oclgrind, a simulated OpenCL device that checks each memory access of a
# kernel (out of bounds), each pair of accesses (data races within and
# between work-groups) and, with --uninitialized, each use of a value never
# written. ASan cannot see inside kernels; this can. Any report fails.
#   test/oclgrind.sh [BUILD]              every case (BUILD: default build)
#   test/oclgrind.sh BUILD NAME...        only the cases named (self-test:
#                                         the check of the check, below)
# Oclgrind is reached through its wrapper (`oclgrind CMD` preloads its
# runtime; Debian's package installs no ICD file, so the suites never see
# it). Each case is one `clformer run`, `embed` or `tune` (or ops.c, below),
# forced onto one family by its options, on one or both of the library's
# two kernel sets: "gpu" (Oclgrind as it reports itself: the work-group
# kernels, GPU GEMM tiles) and "cpu" (through test/oclgrind/shim.c, a
# preloaded shim that makes the same device report only CPU: packed GEMM
# tiles, a row per work-item, attn_fused_cpu, ...). The shim also logs
# every kernel launched: a kernel of cl/ that no case launched fails the
# step too, unless it is listed below with the reason. The kernels that no
# command reaches (positional encodings, element-wise ops, dequantisation,
# ...) run through test/oclgrind/ops.c. The GEMMs are native
# (CLFORMER_GEMM=native; CLBlast in "clblast") and untuned
# (CLFORMER_TUNE=off), but in "gemm-tiles", which measures every tile
# configuration on purpose.
# Logs: BUILD/oclgrind/NAME-SET.log (Oclgrind's reports), .out (the
# command's own output), kernels (the kernels launched).
# shellcheck disable=SC2086 # $enc, $pool, $checks, $extra: word lists
# shellcheck disable=SC2016 # sh -c '...' expands in the inner shell
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
[ $# -gt 0 ] && shift
build=$(cd "$build" && pwd)
clformer=$build/tools/clformer
shim=$build/test/oclgrind-shim.so
logs=$build/oclgrind
mkdir -p "$logs"

if ! command -v oclgrind >/dev/null 2>&1; then
    echo "clformer: oclgrind is not installed (apt-get install oclgrind)" >&2
    exit 1
fi

# CLFORMER_PLAN=none: every intermediate in a buffer of its own, so that
# an access past a tensor is past its buffer (Oclgrind knows buffers, not
# tensors: a sub-buffer of an arena, or the rounding of a buffer to its
# pool class, 256 B or a quarter of a power of two, hides an overrun).
export CLFORMER_TUNE=off CLFORMER_GEMM=native CLFORMER_PLAN=none
# A cache of our own: binaries built for another device are not Oclgrind's.
CLFORMER_CACHE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/clf-oclgrind.XXXXXX")
export CLFORMER_CACHE_DIR
trap 'rm -rf "$CLFORMER_CACHE_DIR"' EXIT

# Every case runs with --check-api --data-races --uninitialized. Oclgrind
# 21.10's --uninitialized plugin itself fails on many of our kernels: it
# stops with "OCLGRIND FATAL ERROR (.../Uninitialized.cpp...)" on LLVM's
# freeze instruction (attn_softmax_group, tt_contract, quant_partial_item)
# or on frexp's private out-argument (attn_quant), or dies with SIGSEGV
# inside the plugin (a memcpy in Uninitialized::instructionExecuted: on
# most CPU-set cases, the int8 paths, the embeddings and ops.c). After such
# a stop its shadow state is void: the values the stopped kernel wrote then
# read as uninitialised in the next kernel (tt_contract's output in
# gemm_tiled). So when a run shows a plugin failure (that FATAL ERROR, or a
# signal with no other report) the case runs again with --check-api
# --data-races alone, which decides it, and the plugin's failure is listed
# (not a finding).
checks="--check-api --data-races"
# Cases never run with --uninitialized: gemm-tiles, since the plugin takes
# no clEnqueueFillBuffer as a write (a buffer zero-filled by it, then read
# by a kernel, is reported as uninitialised: checked with a 20-line
# program), and the tuner's operands are zero-filled that way
# (clf_tuner_zeros); every value the kernels read there is that fill's.
no_uninitialized="gemm-tiles"

# The encoder: 1 layer, d_model 24, 2 heads of 12, d_ff 40, seq 13, batch 2:
# no size a multiple of a tile, so every kernel meets its edges (13 keys:
# a full tile of 12 and a tail in attn_fused_cpu). long: 70 positions, for
# the work-group attention kernels' tiles of 64 queries and keys.
enc="run --runs 1 --layers 1 --d-model 24 --heads 2 --d-ff 40 --seq 13 --batch 2"
long="run --runs 1 --layers 1 --d-model 8 --heads 1 --d-ff 8 --seq 70"
models=test/models

failed=""
plugin_failed=""
n=0
# under SET NAME [OPTION] CMD...: CMD under Oclgrind's checks (and OPTION)
# on kernel set SET; its reports in NAME.log, its output in NAME.out.
under() {
    kset=$1 out=$logs/$2
    shift 2
    extra=""
    case "$1" in --*)
        extra=$1
        shift
        ;;
    esac
    rm -f "$out.log"
    cpu=0
    [ "$kset" = cpu ] && cpu=1
    oclgrind $checks $extra --log "$out.log" env CLF_OCLGRIND_CPU=$cpu \
        CLF_OCLGRIND_KERNELS="$logs/kernels" sh -c 'LD_PRELOAD="$0:$LD_PRELOAD" exec "$@"' \
        "$shim" "$@" >"$out.out" 2>&1
}
# case NAME SETS ARGS...: clformer ARGS on each kernel set in SETS ("gpu",
# "cpu" or "gpu cpu"); fails on a nonzero exit or anything in Oclgrind's log.
case_() {
    name=$1 sets=$2
    shift 2
    if [ -n "$only" ] && ! printf ' %s ' "$only" | grep -q " $name "; then
        return 0
    fi
    for set in $sets; do
        n=$((n + 1))
        rc=0
        log=$logs/$name-$set.log
        if printf ' %s ' "$no_uninitialized" | grep -q " $name "; then
            under "$set" "$name-$set" "$@" || rc=$?
        else
            under "$set" "$name-$set" --uninitialized "$@" || rc=$?
        fi
        if grep -q 'FATAL ERROR (.*Uninitialized' "$log" ||
            { [ "$rc" -gt 128 ] && [ ! -s "$log" ]; }; then
            why=$(grep -m1 -A2 'FATAL ERROR (.*Uninitialized' "$log" |
                sed -n 's/^Unsupported instruction: \(.*\)/unsupported instruction \1/p
                        s/^\(Work item needed.*\)/\1/p
                        s/^\tKernel: \(.*\)/in \1/p' | tr '\n' ' ')
            plugin_failed="$plugin_failed
  $name ($set): ${why:-signal $((rc - 128))}"
            mv "$log" "$logs/$name-$set.uninitialized.log"
            rc=0
            under "$set" "$name-$set" "$@" || rc=$?
        fi
        if [ "$rc" != 0 ] || [ -s "$log" ]; then
            failed="$failed $name-$set"
            echo "FAIL $name ($set): exit $rc" >&2
            head -n 40 "$log" "$logs/$name-$set.out" >&2 || true
        else
            echo "ok   $name ($set)"
        fi
    done
}

# The check can fail: from a copy of cl/ (CLFORMER_CL_DIR) with one kernel
# broken, BROKEN-ARGS..., the case must fail with Oclgrind's report WHAT in
# kernel KERNEL.
#   self_test NAME FILE SED WHAT KERNEL CMD...
self_test() {
    name=$1 file=$2 edit=$3 what=$4 kernel=$5
    shift 5
    cl=$CLFORMER_CACHE_DIR/cl-$name
    cp -r cl "$cl"
    sed -i "$edit" "$cl/$file"
    if cmp -s "cl/$file" "$cl/$file"; then
        echo "clformer: Oclgrind $name: $file was not broken (edit the sed)" >&2
        return 1
    fi
    saved=$failed saved_plugin=$plugin_failed saved_only=$only
    export CLFORMER_CL_DIR="$cl"
    only=""
    case_ "$name" gpu "$@" 2>/dev/null
    unset CLFORMER_CL_DIR
    caught=$failed
    failed=$saved plugin_failed=$saved_plugin only=$saved_only
    if [ "$caught" = "$saved" ] || ! grep -q "$what" "$logs/$name-gpu.log" ||
        ! grep -q "Kernel: $kernel\$" "$logs/$name-gpu.log"; then
        echo "clformer: Oclgrind $name: \"$what\" in $kernel was not reported" >&2
        return 1
    fi
    echo "ok   $name: \"$what\" in $kernel is reported"
}

only="$*"
start=$(date +%s)
rm -f "$logs/kernels"
if [ -z "$only" ] || printf ' %s ' "$only" | grep -q ' self-test '; then
    # posenc_add reading x 1024 elements further on (past the rounding of
    # x's allocation): an invalid read
    self_test self-test-bounds posenc.cl \
        's/x\[clf_offset4(gid, shape, x_str, x_off)\] + table/x[clf_offset4(gid, shape, x_str, x_off) + 1024] + table/' \
        'Invalid read of size 4 at global memory' posenc_add "$build/test/oclgrind-ops" ||
        failed="$failed self-test-bounds"
    # gemm_tiled without its second barrier: the next tile is staged while
    # other work-items still read the last one
    self_test self-test-race gemm.cl '72s/barrier(CLK_LOCAL_MEM_FENCE);//' \
        'data race at local memory' gemm_tiled "$clformer" $enc ||
        failed="$failed self-test-race"
fi
both="gpu cpu"
# Exact attention, both implementations; pre-LN and the GELUs (rows_act).
case_ attn-fused "$both" "$clformer" $enc --attn-impl fused
case_ attn-gemm "$both" "$clformer" $enc --attn-impl gemm --norm-first --activation gelu
case_ attn-long-fused gpu "$clformer" $long --attn-impl fused
case_ attn-long-gemm gpu "$clformer" $long --attn-impl gemm
# Sparse and low-rank attention.
case_ attn-threshold "$both" "$clformer" $enc --attn threshold:0.05,renorm
case_ attn-topk "$both" "$clformer" $enc --attn topk:3
case_ attn-window "$both" "$clformer" $enc --attn window:2,global:1
case_ attn-long-sparse gpu "$clformer" $long --attn window:3,global:2
case_ attn-linformer gpu "$clformer" $enc --attn linformer:4
case_ attn-nystrom gpu "$clformer" $enc --attn nystrom:4,iters:3
case_ attn-svd gpu "$clformer" $enc --attn svd:4,rand
# Quantised attention: K and V in int8 (per token, per channel), the
# attention weights in f16 and log2.
case_ kv-int8 "$both" "$clformer" $enc --kv int8
case_ kv-int8-channel "$both" "$clformer" $enc --kv int8:channel --attn-quant f16
case_ attn-quant-log "$both" "$clformer" $enc --attn-quant log:4
case_ kv-int8-long gpu "$clformer" $long --kv int8 --attn-quant f16
# int8 queries too: integer scores (also in ops.c, head_dim 10).
case_ kv-int8-q "$both" "$clformer" $enc --kv int8:channel,q
# int8 linear layers (gemm_q8: its tiled and CPU kernels, the packing).
case_ linear-int8 "$both" "$clformer" $enc --linear int8
# FFN forms: factorised by SVD, tensor train; activation quantisers.
case_ ffn-svd gpu "$clformer" $enc --ffn svd:4
case_ ffn-tt "$both" "$clformer" $enc --ffn tt:2 --activation gelu-tanh
case_ actq-binary "$both" "$clformer" $enc --ffn-act binary
case_ actq-lsq "$both" "$clformer" $enc --ffn-act lsq:4,signed
case_ actq-pwl "$both" "$clformer" $enc --ffn-act pwl:4
# 16-bit weights in the GEMMs (CPU devices only).
case_ precision-f16 cpu "$clformer" $enc --precision f16
case_ precision-bf16 cpu "$clformer" $enc --precision bf16
# CLBlast's kernels, once.
case_ clblast gpu env CLFORMER_GEMM=clblast "$clformer" $enc --attn-impl gemm
# Every native GEMM tile configuration (3 per set: CLFORMER_TUNE=off takes
# one) and CLBlast: the tuner measures them all on one shape, 13 x 40 x 24
# (no tile divides it), with no provider forced (CLFORMER_GEMM=native
# leaves nothing to choose), keeping its records in a cache folder of each
# set's own (the two sets are one device to the records).
case_ gemm-tiles gpu env CLFORMER_GEMM=auto CLFORMER_CACHE_DIR="$CLFORMER_CACHE_DIR/tune-gpu" \
    "$clformer" tune --shape 13x40x24 --mode full
case_ gemm-tiles cpu env CLFORMER_GEMM=auto CLFORMER_CACHE_DIR="$CLFORMER_CACHE_DIR/tune-cpu" \
    "$clformer" tune --shape 13x40x24 --mode full
# Sentence embeddings of the test folders: the embedding gather and its
# LayerNorm, the padding mask, every pooling mode, a Dense module, RoBERTa's
# positions; two texts of different lengths (padding in the batch).
texts="hello world, this is longer"
pool=cls,mean,max,mean_sqrt_len,weightedmean,lasttoken
case_ embed-pooling "$both" "$clformer" embed -m $models/bert-cased-cls --pooling $pool "short" "$texts"
case_ embed-dense gpu "$clformer" embed -m $models/bert-dense "short" "$texts"
case_ embed-distilbert gpu "$clformer" embed -m $models/distilbert-mean --dimensions 8 "short" "$texts"
case_ embed-roberta cpu "$clformer" embed -m $models/roberta-mean "short" "$texts"
# MPNet: its relative position bias, on the GEMM path of exact attention.
case_ embed-mpnet "$both" "$clformer" embed -m $models/mpnet-mean "short" "$texts"
# ModernBERT: rotary positions (rope_apply), the GeGLU gate (rows_glu), the
# window attention of its local layers (keys within 4: a text of 14 tokens).
case_ embed-modernbert "$both" "$clformer" embed -m $models/modernbert-mean "short" \
    "$texts, and longer still"
# The kernels no command launches (test/oclgrind/ops.c).
case_ ops "$both" "$build/test/oclgrind-ops"

echo "clformer: $n runs under Oclgrind took $(($(date +%s) - start)) s"
if [ -n "$plugin_failed" ]; then
    echo "clformer: Oclgrind's --uninitialized plugin failed on (those cases ran again without it):$plugin_failed"
fi
# Every kernel of cl/ launched by some case (when all of them ran), but
# gemm_q8_cpu: the int8 GEMM takes it on CPU devices only when a packed
# panel would exceed the device's largest allocation (test-gemm-q8 forces
# it through the pool's size class; no command or API call can); and
# attn_fused_subgroup: Oclgrind 21.10 has no subgroups ("subgroups no" in
# `clformer info` under it), so the kernel is not even built there (it is
# behind CLF_HAS_SUBGROUPS) and the host never selects it; test-attention
# runs it on Intel's OpenCL runtime instead.
if [ -z "$only" ]; then
    python3 - "$logs/kernels" cl <<'PY' || failed="$failed coverage"
import glob, re, sys
launched = set(open(sys.argv[1]).read().split())
defined = set()
for path in glob.glob(sys.argv[2] + "/*.cl"):
    text = open(path).read()
    defined |= set(re.findall(r"__kernel\s+(?:__attribute__\(\(.*?\)\)\s*)?void\s+(\w+)\s*\(",
                              text, re.S)) - {"NAME"}
    defined |= set(re.findall(r"^CLF_COPY_KERNEL\((\w+),", text, re.M))
missing = sorted(defined - launched - {"gemm_q8_cpu", "attn_fused_subgroup"})
print(f"clformer: {len(defined & launched)} of the {len(defined)} kernels of cl/ ran under Oclgrind")
if missing:
    print("clformer: never launched by a case: " + " ".join(missing), file=sys.stderr)
    sys.exit(1)
PY
fi
if [ -n "$failed" ]; then
    echo "clformer: Oclgrind reported on:$failed (logs in $logs)" >&2
    exit 1
fi
