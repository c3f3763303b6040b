#!/usr/bin/env bash
# Parallel runs of `clformer`: mpirun -np 2 (the batch, the texts sharded
# over the ranks, gathered on rank 0) and --devices (two PoCL devices,
# POCL_DEVICES="pthread pthread") give the same bytes as one device: the
# same kernels on identical devices, the same per-item work (a row of the
# batch never meets another; embed keeps the batches of --batch). Tensor
# parallel adds partial sums in another order: within 1e-5 relative.
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
small=(--seq 16 --batch 4 --d-model 48 --heads 4 --d-ff 80 --layers 2 --runs 1)

same() { # DESCRIPTION A B
  if cmp -s "$2" "$3"; then pass "$1"; else fail "$1: $2 and $3 differ"; fi
}
run() { # DESCRIPTION -- COMMAND...: must exit 0
  local what=$1; shift 2
  if "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; then pass "$what"
  else fail "$what: exit $?"; sed 's/^/  | /' "$tmp/err"; fi
}

run "run, one device" -- "$exe" run "${small[@]}" --output "$tmp/one.npy"
run "run --devices cpu:0,cpu:1" -- env POCL_DEVICES="$two" "$exe" run "${small[@]}" \
  --devices cpu:0,cpu:1 --output "$tmp/dp.npy"
same "data parallel = one device" "$tmp/one.npy" "$tmp/dp.npy"
grep -q "data parallel" "$tmp/out" || fail "run --devices does not say data parallel"
run "run --devices --batch 1 (a device idle)" -- env POCL_DEVICES="$two" "$exe" run \
  --seq 16 --batch 1 --d-model 48 --heads 4 --d-ff 80 --layers 2 --runs 1 --devices cpu:0,cpu:1
run "run --tensor-parallel" -- env POCL_DEVICES="$two" "$exe" run "${small[@]}" \
  --devices cpu:0,cpu:1 --tensor-parallel --output "$tmp/tp.npy"
python3 - "$tmp/one.npy" "$tmp/tp.npy" <<'PY' && pass "tensor parallel within 1e-5" || fail "tensor parallel differs"
import struct, sys
def load(p):
    b = open(p, 'rb').read(); h = struct.unpack('<H', b[8:10])[0]; d = b[10 + h:]
    return struct.unpack('<%df' % (len(d) // 4), d)
a, b = load(sys.argv[1]), load(sys.argv[2])
num = sum((x - y) ** 2 for x, y in zip(a, b)); den = sum(x * x for x in a)
print(f"tensor parallel: relative error {(num / den) ** 0.5:.2e}, max abs {max(abs(x - y) for x, y in zip(a, b)):.2e}")
sys.exit(0 if len(a) == len(b) and (num / den) ** 0.5 <= 1e-5 else 1)
PY
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
run "mpirun -np 2 on two devices" -- env POCL_DEVICES="$two" "${mpirun[@]}" -x POCL_DEVICES \
  "$exe" run "${small[@]}" --output "$tmp/mpi2d.npy"
same "2 ranks on cpu:0 and cpu:1 = one device" "$tmp/one.npy" "$tmp/mpi2d.npy"
run "bench scale --mpi" -- "${mpirun[@]}" "$exe" bench scale --mpi --seq 16 --runs 1 --json
python3 -c "import json,sys; d=json.load(open('$tmp/out')); r=d['results'][0]; sys.exit(0 if r['ranks']==2 and r['ms']>0 else 1)" \
  && pass "bench scale --mpi JSON" || fail "bench scale --mpi JSON: $(head -c 500 "$tmp/out")"

model=${CLFORMER_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clformer/models/all-MiniLM-L6-v2}
if [ -f "$model/config.json" ] && [ -f "$model/model.safetensors" ] && [ -f "$model/vocab.txt" ]; then
  printf '%s\n' "a cat sits on the mat" "the dog runs" "hello world" "parallel runs" \
    "five sentences in three batches" >"$tmp/texts"
  run "embed, one device" -- "$exe" embed --file "$tmp/texts" --batch 2 --npy "$tmp/e1.npy"
  run "embed, 2 ranks" -- "${mpirun[@]}" "$exe" embed --file "$tmp/texts" --batch 2 --npy "$tmp/e2.npy"
  same "embed: 2 ranks = one device" "$tmp/e1.npy" "$tmp/e2.npy"
  run "embed --devices cpu:0,cpu:1" -- env POCL_DEVICES="$two" "$exe" embed --file "$tmp/texts" \
    --batch 2 --devices cpu:0,cpu:1 --npy "$tmp/e3.npy"
  same "embed: data parallel = one device" "$tmp/e1.npy" "$tmp/e3.npy"
else
  echo "no model at $model (tools/fetch_model.sh): embed part skipped"
fi
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
