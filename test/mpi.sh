#!/usr/bin/env bash
# Parallel runs of `clformer`: mpirun -np 2 (the batch, the texts sharded
# over the ranks, gathered on rank 0) and --devices (two PoCL devices,
# POCL_DEVICES="pthread pthread") give the same bytes as one device: the
# same kernels on identical devices, the same per-item work (a row of the
# batch never meets another, nor do two sequences' quantisation scales;
# embed keeps the batches of --batch), for every quantisation option. Tensor
# parallel adds partial sums in another order: within 1e-5 relative. Tensor
# parallel over mpirun ranks (every rank a share of every layer, the
# all-reduce over MPI adding in rank order) gives the same bytes as
# --tensor-parallel over as many devices in one process. bench scale over
# 4 devices (and 2 ranks): a device holds a replica (data parallel) or 1/N
# of the weights (tensor parallel). On a platform of one device (Intel's
# CPU runtime) the --devices cases are not run and the tensor-parallel
# ranks are compared with one device (within 1e-5).
# Usage: mpi.sh PATH/TO/clformer HAVE_MPI(0|1)
set -u
exe=$1
have_mpi=$2
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }

if ! "$exe" devices >/dev/null 2>&1; then
  echo "no OpenCL device: skipping"; exit 77
fi
# Open MPI refuses root without these (containers, CI)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
two="pthread pthread"
# the fused attention everywhere: AUTO measures fused and GEMM attention per
# size class and device, and a share of fewer sequences (3 ranks: 2, 1, 1)
# is another class than the whole batch, whose choice may differ in bits
small=(--seq 16 --batch 4 --d-model 48 --heads 4 --d-ff 80 --layers 2 --runs 1 --attn-impl fused)

same() { # DESCRIPTION A B
  if cmp -s "$2" "$3"; then pass "$1"; else fail "$1: $2 and $3 differ"; fi
}
refused() { # DESCRIPTION RANKS PATTERN -- COMMAND...: must fail, every rank printing PATTERN
  local what=$1 ranks=$2 pattern=$3; shift 4
  if timeout 120 "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; then fail "$what: accepted"
  elif [ "$(grep -c "$pattern" "$tmp/err")" -eq "$ranks" ]; then pass "$what: refused on every rank"
  else fail "$what: $(head -c 600 "$tmp/err")"; fi
}
run() { # DESCRIPTION -- COMMAND...: must exit 0
  local what=$1; shift 2
  if "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; then pass "$what"
  else fail "$what: exit $?"; sed 's/^/  | /' "$tmp/err"; fi
}

near() { # DESCRIPTION A B: the same length, within 1e-5 relative (Frobenius norm)
  python3 - "$2" "$3" <<'PY' && pass "$1" || fail "$1: differs"
import struct, sys
def load(p):
    b = open(p, 'rb').read(); h = struct.unpack('<H', b[8:10])[0]; d = b[10 + h:]
    return struct.unpack('<%df' % (len(d) // 4), d)
a, b = load(sys.argv[1]), load(sys.argv[2])
num = sum((x - y) ** 2 for x, y in zip(a, b)); den = sum(x * x for x in a)
print(f"tensor parallel: relative error {(num / den) ** 0.5:.2e}, max abs {max(abs(x - y) for x, y in zip(a, b)):.2e}")
sys.exit(0 if len(a) == len(b) and (num / den) ** 0.5 <= 1e-5 else 1)
PY
}

near_embed() { # DESCRIPTION A B: embeddings of the same length, within 1e-5 each
  python3 - "$2" "$3" <<'PY' && pass "$1" || fail "$1: differs"
import struct, sys
def load(p):
    b = open(p, 'rb').read(); h = struct.unpack('<H', b[8:10])[0]; d = b[10 + h:]
    return struct.unpack('<%df' % (len(d) // 4), d)
a, b = load(sys.argv[1]), load(sys.argv[2])
err = max(abs(x - y) for x, y in zip(a, b))
print(f"embed tensor parallel: max abs difference to one device {err:.2e}")
sys.exit(0 if len(a) == len(b) and err <= 1e-5 else 1)
PY
}

# The --devices cases need four devices of one kind: PoCL shows them with
# POCL_DEVICES; a platform of one device (Intel's CPU runtime, the second
# pass of tools/dev.sh) runs the mpirun cases alone, ranks sharing it.
ndev=$(env POCL_DEVICES="$two $two" "$exe" devices --json |
  python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
multi=$([ "$ndev" -ge 4 ] && echo 1 || echo 0)
[ "$multi" = 1 ] || echo "$ndev device(s): the --devices cases (4 devices of one kind) not run"

run "run, one device" -- "$exe" run "${small[@]}" --output "$tmp/one.npy"
# every quantisation option (bitwise too: each scale spans one token or one
# sequence, and the calibrated quantisers calibrate on the whole batch on
# every device and rank); one device's result of each, q1.npy .. qN.npy
qopts=("--kv int8" "--kv int8:channel" "--attn-quant f16" "--attn-quant log:4" "--linear int8"
  "--precision f16" "--precision bf16" "--ffn-act binary" "--ffn-act binary:0.5"
  "--ffn-act lsq:4,signed" "--ffn-act pact:4" "--ffn-act pwl:4" "--ffn-act steps:-0.2/0.3:-1/0/1")
for i in "${!qopts[@]}"; do
  read -ra o <<<"${qopts[$i]}"
  run "run ${qopts[$i]}, one device" -- "$exe" run "${small[@]}" "${o[@]}" --output "$tmp/q$i.npy"
done
if [ "$multi" = 1 ]; then
  run "run --devices cpu:0,cpu:1" -- env POCL_DEVICES="$two" "$exe" run "${small[@]}" \
    --devices cpu:0,cpu:1 --output "$tmp/dp.npy"
  same "data parallel = one device" "$tmp/one.npy" "$tmp/dp.npy"
  grep -q "data parallel" "$tmp/out" || fail "run --devices does not say data parallel"
  for i in "${!qopts[@]}"; do
    read -ra o <<<"${qopts[$i]}"
    run "run ${qopts[$i]} --devices cpu:0,cpu:1" -- env POCL_DEVICES="$two" "$exe" run \
      "${small[@]}" "${o[@]}" --devices cpu:0,cpu:1 --output "$tmp/dpq.npy"
    same "${qopts[$i]}: data parallel = one device" "$tmp/q$i.npy" "$tmp/dpq.npy"
  done
  run "run --devices --batch 1 (a device idle)" -- env POCL_DEVICES="$two" "$exe" run \
    --seq 16 --batch 1 --d-model 48 --heads 4 --d-ff 80 --layers 2 --runs 1 --devices cpu:0,cpu:1
  run "run --tensor-parallel" -- env POCL_DEVICES="$two" "$exe" run "${small[@]}" \
    --devices cpu:0,cpu:1 --tensor-parallel --output "$tmp/tp.npy"
  near "tensor parallel within 1e-5" "$tmp/one.npy" "$tmp/tp.npy"
  # bench scale over 4 devices: N = 1, 2, 4 data and tensor parallel; a
  # replica on every device, or about 1/N of the weights (the pool rounds
  # each buffer up by at most a quarter; the LayerNorms are replicated)
  run "bench scale, 4 devices" -- env POCL_DEVICES="$two $two" "$exe" bench scale --seq 16 --runs 1 --json
  python3 - "$tmp/out" <<'PY' && pass "bench scale: device memory per N" || fail "bench scale memory: $(head -c 1500 "$tmp/out")"
import json, sys
r = json.load(open(sys.argv[1]))['results']
rows = {(x['mode'], x['devices']): x for x in r}
one = max(rows[('tensor-parallel', 1)]['device_bytes'])
ok = sorted(rows) == sorted((m, n) for m in ('data-parallel', 'tensor-parallel') for n in (1, 2, 4))
for n in (1, 2, 4):
    dp, tp = rows[('data-parallel', n)], rows[('tensor-parallel', n)]
    ok = ok and len(dp['device_bytes']) == n and len(tp['device_bytes']) == n
    ok = ok and all(b == one for b in dp['device_bytes'])
    ok = ok and all(one / n * 0.95 <= b <= one / n * 1.05 for b in tp['device_bytes'])
    ok = ok and tp['device_peak_bytes'] <= max(tp['device_bytes'])
    print(f"N={n}: tensor parallel holds {max(tp['device_bytes']) / one:.3f} of one device's weights per device")
sys.exit(0 if ok else 1)
PY
fi
if "$exe" run --tensor-parallel "${small[@]}" >/dev/null 2>&1; then
  fail "--tensor-parallel without --devices accepted"; else pass "--tensor-parallel needs --devices"; fi

if [ "$have_mpi" != 1 ]; then
  echo "built without MPI: the mpirun part skipped"
  exit $((fails ? 1 : 0))
fi
mpirun=(mpirun -np 2 --oversubscribe)
run "mpirun -np 2 run" -- "${mpirun[@]}" "$exe" run "${small[@]}" --output "$tmp/mpi.npy"
same "2 ranks = one device" "$tmp/one.npy" "$tmp/mpi.npy"
[ "$(grep -c '^time ' "$tmp/out")" -eq 1 ] || fail "mpirun: more than one rank printed"
run "mpirun -np 3 run --batch 4" -- "${mpirun[@]/2/3}" "$exe" run "${small[@]}" --output "$tmp/mpi3.npy"
same "3 ranks (uneven shares) = one device" "$tmp/one.npy" "$tmp/mpi3.npy"
for i in 1 11; do # ranks take dp.c's path, as devices do: a scale per sequence, a calibration
  read -ra o <<<"${qopts[$i]}"
  run "mpirun -np 3 run ${qopts[$i]}" -- "${mpirun[@]/2/3}" "$exe" run "${small[@]}" "${o[@]}" \
    --output "$tmp/mpiq.npy"
  same "${qopts[$i]}: 3 ranks = one device" "$tmp/q$i.npy" "$tmp/mpiq.npy"
done
run "mpirun -np 2 on two devices" -- env POCL_DEVICES="$two" "${mpirun[@]}" -x POCL_DEVICES \
  "$exe" run "${small[@]}" --output "$tmp/mpi2d.npy"
same "2 ranks on cpu:0 and cpu:1 = one device" "$tmp/one.npy" "$tmp/mpi2d.npy"
run "mpirun -np 2 run --tensor-parallel" -- "${mpirun[@]}" "$exe" run "${small[@]}" \
  --tensor-parallel --json --output "$tmp/tpmpi.npy"
if [ "$multi" = 1 ]; then
  same "tensor parallel: 2 ranks = 2 devices" "$tmp/tp.npy" "$tmp/tpmpi.npy"
else
  near "tensor parallel: 2 ranks within 1e-5 of one device" "$tmp/one.npy" "$tmp/tpmpi.npy"
fi
# per layer, each rank sends 2 sub-layers x 2(N-1)/N x tokens x d_model x 4
# bytes (reduce-scatter + all-gather): 2 x 1 x 64 x 48 x 4
python3 -c "import json,sys; d=json.load(open('$tmp/out')); sys.exit(0 if d['parallel']=='tensor-mpi' and d['ranks']==2 and d['mpi_bytes_per_layer']==2*64*48*4 else 1)" \
  && pass "run --tensor-parallel under mpirun: JSON" || fail "run --tensor-parallel JSON: $(head -c 600 "$tmp/out")"
[ "$multi" = 0 ] || run "run --devices x4 --tensor-parallel" -- env POCL_DEVICES="$two $two" \
  "$exe" run "${small[@]}" --devices all --tensor-parallel --output "$tmp/tp4.npy"
run "mpirun -np 4 run --tensor-parallel" -- "${mpirun[@]/2/4}" "$exe" run "${small[@]}" \
  --tensor-parallel --output "$tmp/tpmpi4.npy"
if [ "$multi" = 1 ]; then
  same "tensor parallel: 4 ranks = 4 devices" "$tmp/tp4.npy" "$tmp/tpmpi4.npy"
else
  near "tensor parallel: 4 ranks within 1e-5 of one device" "$tmp/one.npy" "$tmp/tpmpi4.npy"
fi
# a data-parallel rank that cannot make its replica: every rank says so
refused "mpirun -np 2 run with a missing weights file" 2 'none.safetensors' -- \
  "${mpirun[@]}" "$exe" run "${small[@]}" --weights "$tmp/none.safetensors"
# 3 ranks divide neither 4 heads nor d_ff 80: every rank says so, none hangs
refused "mpirun -np 3 --tensor-parallel with 4 heads" 3 'over 3 ranks needs heads (4)' -- \
  "${mpirun[@]/2/3}" "$exe" run "${small[@]}" --tensor-parallel
# ranks with different inputs (mpirun's MPMD form, another --seed): refused
# by every rank before any sharding or all-reduce, not mixed
# (rank 0 alone says so)
for mode in "" --tensor-parallel; do
  refused "ranks with different seeds ${mode:-(data parallel)}" 1 'ranks have different inputs' \
    -- mpirun -np 1 "$exe" run "${small[@]}" $mode : -np 1 "$exe" run "${small[@]}" $mode --seed 2
done
run "bench scale --mpi" -- "${mpirun[@]}" "$exe" bench scale --mpi --seq 16 --runs 1 --json
python3 - "$tmp/out" <<'PY' && pass "bench scale --mpi JSON" || fail "bench scale --mpi JSON: $(head -c 800 "$tmp/out")"
import json, sys
r = json.load(open(sys.argv[1]))['results']
ok = r[0]['mode'] == 'mpi' and r[0]['ranks'] == 2 and r[0]['ms'] > 0
# tensor parallel row: 8 x 16 tokens of d_model 384, 2 ranks
t = r[1]
ok = ok and t['mode'] == 'mpi-tensor-parallel' and t['ms'] > 0
ok = ok and t['mpi_bytes_per_layer'] == 2 * 8 * 16 * 384 * 4
# a rank holds a replica, or about half of it
ok = ok and 0.45 <= t['device_bytes'] / r[0]['device_bytes'] <= 0.55
sys.exit(0 if ok else 1)
PY

model=${CLFORMER_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clformer/models/all-MiniLM-L6-v2}
if [ -f "$model/config.json" ] && [ -f "$model/model.safetensors" ] && [ -f "$model/vocab.txt" ]; then
  printf '%s\n' "a cat sits on the mat" "the dog runs" "hello world" "parallel runs" \
    "five sentences in three batches" >"$tmp/texts"
  run "embed, one device" -- "$exe" embed --file "$tmp/texts" --batch 2 --npy "$tmp/e1.npy"
  run "embed, 2 ranks" -- "${mpirun[@]}" "$exe" embed --file "$tmp/texts" --batch 2 --npy "$tmp/e2.npy"
  same "embed: 2 ranks = one device" "$tmp/e1.npy" "$tmp/e2.npy"
  if [ "$multi" = 1 ]; then
    run "embed --devices cpu:0,cpu:1" -- env POCL_DEVICES="$two" "$exe" embed --file "$tmp/texts" \
      --batch 2 --devices cpu:0,cpu:1 --npy "$tmp/e3.npy"
    same "embed: data parallel = one device" "$tmp/e1.npy" "$tmp/e3.npy"
    run "embed --devices cpu:0,cpu:1 --tensor-parallel" -- env POCL_DEVICES="$two" "$exe" embed \
      --file "$tmp/texts" --batch 2 --devices cpu:0,cpu:1 --tensor-parallel --npy "$tmp/e4.npy"
    near_embed "embed: tensor parallel within 1e-5 of one device" "$tmp/e1.npy" "$tmp/e4.npy"
  fi
  run "embed, 2 ranks --tensor-parallel" -- "${mpirun[@]}" "$exe" embed --file "$tmp/texts" \
    --batch 2 --tensor-parallel --npy "$tmp/e5.npy"
  if [ "$multi" = 1 ]; then
    same "embed: tensor parallel, 2 ranks = 2 devices" "$tmp/e4.npy" "$tmp/e5.npy"
  else
    near_embed "embed: tensor parallel, 2 ranks within 1e-5 of one device" "$tmp/e1.npy" \
      "$tmp/e5.npy"
  fi
  refused "embed: 5 ranks --tensor-parallel for 12 heads" 5 'over 5 ranks needs heads (12)' -- \
    "${mpirun[@]/2/5}" "$exe" embed --file "$tmp/texts" --tensor-parallel
else
  echo "no model at $model (tools/fetch_model.sh): embed part skipped"
fi
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
