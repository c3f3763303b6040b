#!/usr/bin/env bash
# The `clformer` command: help (`clformer help COMMAND`, every environment
# variable read) and version, one-line errors with exit 2 for bad command
# lines, devices as a table and as JSON, tune (export, import, refusals,
# CLFORMER_TUNE), info (with --build: the program cache cold then warm),
# and silence (no progress) when stderr is not a tty.
# Usage: cli.sh PATH/TO/clformer SOURCE_DIR
exe=$1
src=$2
. "$(dirname "$0")/cli-common.sh"
json_check() { # python expression over `d`, the parsed stdout
  if python3 -c "import json,sys; d=json.load(open('$tmp/out')); sys.exit(0 if ($2) else 1)"
  then pass "$1"; else fail "$1"; head -c 2000 "$tmp/out"; fi
}

if ! "$exe" devices >/dev/null 2>&1; then
  echo "no OpenCL device: skipping"; exit 77
fi

expect 0 "--version" -- "$exe" --version
grep -qE '^clformer [0-9]+\.[0-9]+\.[0-9]+$' "$tmp/out" || fail "--version output: $(cat "$tmp/out")"
for c in "" devices info bench run; do
  expect 0 "$c --help" -- "$exe" $c --help
  grep -q '^Usage: clformer' "$tmp/out" || fail "$c --help prints no usage"
done
# clformer help COMMAND prints COMMAND --help, for every command --help lists
"$exe" --help >"$tmp/usage"
cmds=$(awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' "$tmp/usage")
[ "$(echo "$cmds" | wc -w)" -ge 6 ] || fail "--help lists $(echo "$cmds" | wc -w) commands"
for c in $cmds; do
  "$exe" "$c" --help >"$tmp/a" 2>&1
  "$exe" help "$c" >"$tmp/b" 2>&1
  if grep -q "^Usage: clformer $c" "$tmp/a" && cmp -s "$tmp/a" "$tmp/b"; then pass "help $c"
  else fail "help $c is not $c --help"; diff "$tmp/a" "$tmp/b" | head -5; fi
done
expect 0 "help" -- "$exe" help
cmp -s "$tmp/out" "$tmp/usage" || fail "help is not --help"
expect 2 "help unknown command" -- "$exe" help frobnicate; one_line_err "help unknown command"
grep -q "unknown command 'frobnicate'" "$tmp/err" || fail "help frobnicate: $(cat "$tmp/err")"
expect 2 "help two commands" -- "$exe" help run bench; one_line_err "help two commands"
# --help lists every environment variable the library and the command read:
# in a source that calls getenv, every all-capitals string is one
vars=$(grep -rlE 'getenv' "$src/lib" "$src/tools" --include='*.c' |
  xargs grep -ohE '"[A-Z][A-Z0-9_]*"' | tr -d '"' | sort -u)
[ "$(echo "$vars" | wc -w)" -ge 10 ] || fail "found only these variables read: $vars"
missing=""
for v in $vars; do grep -qE "^  $v +[^ ]" "$tmp/usage" || missing="$missing $v"; done
if [ -z "$missing" ]; then pass "--help lists the $(echo "$vars" | wc -w) environment variables read"
else fail "--help does not list:$missing"; fi
expect 2 "no command" -- "$exe"
expect 2 "unknown command" -- "$exe" frobnicate; one_line_err "unknown command"
expect 2 "unknown global option" -- "$exe" --frob; one_line_err "unknown global option"
expect 2 "devices bad option" -- "$exe" devices --bogus; one_line_err "devices bad option"
expect 2 "devices extra argument" -- "$exe" devices extra; one_line_err "devices extra argument"
expect 2 "info missing value" -- "$exe" info --device; one_line_err "info missing value"
expect 2 "info bad option" -- "$exe" info -x; one_line_err "info bad option"

expect 1 "info unknown device" -- "$exe" info --device no-such-device-xyz --no-build
one_line_err "info unknown device"
grep -q "unknown device spec 'no-such-device-xyz'" "$tmp/err" || fail "unknown spec message"
expect 1 "info unknown device (context)" -- "$exe" info --device no-such-device-xyz --build
grep -q "devices:" "$tmp/err" || fail "unknown spec does not list devices"

expect 0 "devices table" -- "$exe" devices
head -1 "$tmp/out" | grep -q '^ID' || fail "devices table header"
expect 0 "devices --json" -- "$exe" devices --json
json_check "devices --json lists devices with capabilities" \
  "len(d) >= 1 and all(k in x for x in d for k in ('name','type','platform_name','driver_version','opencl_c_version','compute_units','global_mem_bytes','max_alloc_bytes','fp16','fp64','subgroups','integer_dot_product','command_buffer','preferred_vector_width'))"
# (where the loader reads the system's ICD files: not in tools/dev.sh's
# second pass, which shows Intel's CPU runtime alone through OCL_ICD_VENDORS)
if [ -f /etc/OpenCL/vendors/pocl.icd ] && [ -z "${OCL_ICD_VENDORS:-}" ]; then
  json_check "PoCL CPU device listed" \
    "any(x['type'] == 'cpu' and 'Portable Computing Language' in x['platform_name'] and x['compute_units'] >= 1 for x in d)"
fi

expect 2 "bench without a benchmark" -- "$exe" bench; one_line_err "bench without a benchmark"
expect 2 "bench unknown benchmark" -- "$exe" bench frob; one_line_err "bench unknown benchmark"
expect 2 "bench bad shape" -- "$exe" bench gemm --shape 12x; one_line_err "bench bad shape"
expect 2 "bench bad provider" -- "$exe" bench gemm --provider cuda; one_line_err "bench bad provider"
expect 2 "bench bad runs" -- "$exe" bench softmax --runs 0; one_line_err "bench bad runs"
expect 0 "bench gemm --json (small)" -- "$exe" bench gemm --shape 33x17x9 --runs 3 --provider native --json
json_check "bench gemm reports GFLOP/s" "d['results'][0]['gflops'] > 0 and d['results'][0]['m'] == 33"
if python3 -c "import json,sys; d=json.load(open('$tmp/out')); sys.exit(0 if 'ratio' in d['results'][0] else 1)"; then
  json_check "bench gemm agrees with OpenBLAS" "d['results'][0]['max_rel_error'] < 1e-5 and d['results'][0]['ratio'] > 0"
fi
expect 0 "bench softmax --json (small)" -- "$exe" bench softmax --shape 20x33 --runs 3 --json
json_check "bench softmax agrees with the C loop" "d['results'][0]['max_abs_error'] < 1e-5 and d['results'][0]['gbs'] > 0"
expect 0 "bench layernorm (small)" -- "$exe" bench layernorm --shape 20x33 --runs 3
grep -q '^layernorm' "$tmp/out" || fail "bench layernorm prints no result line"

small=(--layers 2 --d-model 32 --heads 4 --d-ff 48 --seq 19 --runs 2)
expect 2 "run heads must divide d-model" -- "$exe" run --d-model 30 --heads 4; one_line_err "run heads"
expect 2 "run bad activation" -- "$exe" run --activation tanh; one_line_err "run bad activation"
expect 2 "run bad number" -- "$exe" run --seq 0; one_line_err "run bad number"
expect 2 "run number beyond int64" -- "$exe" run --seq 99999999999999999999
expect 0 "run --check --json (small)" -- "$exe" run "${small[@]}" --check --json --output "$tmp/y.npy"
json_check "run agrees with the double reference" "d['rel_error'] < 1e-5 and d['ms'] > 0 and d['tokens_per_s'] > 0 and any(o['op'] == 'attention' for o in d['ops'])"
[ -s "$tmp/y.npy" ] || fail "run --output wrote nothing"
expect 0 "run --runs auto --json (small)" -- "$exe" run --layers 2 --d-model 32 --heads 4 --d-ff 48 --seq 19 --json
json_check "run --runs auto: several short runs, the start-up counters" \
  "d['runs'] > 1 and d['context_ms'] > 0 and d['startup']['programs_built'] + d['startup']['programs_loaded'] >= 1"
expect 2 "run --runs bogus" -- "$exe" run --runs often; one_line_err "run --runs bogus"
expect 0 "run --input from a .npy (pre-LN, gelu)" -- "$exe" run --layers 1 --d-model 32 --heads 4 --d-ff 48 --input "$tmp/y.npy" --norm-first --activation gelu --check
grep -q '^check ' "$tmp/out" || fail "run --check prints no check line"
grep -q 'seq 19' "$tmp/out" || fail "run --input did not take the sequence length from the file"
# the run's other outputs: --save (read back by --weights: the same output),
# --profile, --trace, a calibrated --ffn-act quantiser
expect 0 "run --save" -- "$exe" run "${small[@]}" --save "$tmp/w.safetensors" --output "$tmp/y1.npy"
expect 0 "run --weights of --save" -- "$exe" run "${small[@]}" --weights "$tmp/w.safetensors" --output "$tmp/y2.npy"
cmp -s "$tmp/y1.npy" "$tmp/y2.npy" && pass "run --save then --weights: the same output" || fail "run --weights of --save: another output"
expect 0 "run --profile --trace" -- "$exe" run "${small[@]}" --profile --trace "$tmp/trace.json"
grep -q '^profile  device time of the last run, by op:' "$tmp/out" && grep -q '^  gemm ' "$tmp/out" || fail "run --profile: $(cat "$tmp/out")"
python3 -c "import json,sys; t=json.load(open('$tmp/trace.json')); sys.exit(0 if any(e.get('ph') == 'X' for e in t['traceEvents']) else 1)" \
  && pass "run --trace writes trace events" || fail "run --trace: $(head -c 300 "$tmp/trace.json")"
expect 0 "run --ffn-act lsq:4 --check --json (calibrated)" -- "$exe" run "${small[@]}" --ffn-act lsq:4 --check --json
json_check "run --ffn-act: calibrated, near exact" "'lsq' in d['config']['options'] and 0 < d['rel_error'] < 0.5"
# 16-bit weights: applied (an error above fp32's, within bf16's step), named,
# and refused with int8 linear layers or an unknown format
expect 0 "run --precision bf16 --check --json" -- "$exe" run "${small[@]}" --precision bf16 --check --json
json_check "run --precision bf16: applied, near exact" "'precision bf16' in d['config']['options'] and 1e-6 < d['rel_error'] < 2e-2"
expect 2 "run --precision f8" -- "$exe" run --precision f8; one_line_err "run --precision f8"
expect 1 "run --precision f16 --linear int8" -- "$exe" run "${small[@]}" --precision f16 --linear int8
one_line_err "run --precision with int8"; grep -q "exclude" "$tmp/err" || fail "precision with int8: $(cat "$tmp/err")"
expect 1 "run with a missing weights file" -- "$exe" run "${small[@]}" --weights "$tmp/none.safetensors"
one_line_err "run missing weights"; grep -q "none.safetensors" "$tmp/err" || fail "missing file not named"
for f in "$src"/test/corpus/safetensors/bad-*.safetensors; do
  expect 1 "run --weights $(basename "$f")" -- "$exe" run "${small[@]}" --weights "$f"
  one_line_err "run --weights $(basename "$f")"
  grep -q "$(basename "$f")" "$tmp/err" || fail "$(basename "$f") not named in: $(cat "$tmp/err")"
done
for f in "$src"/test/corpus/npy/bad-*.npy "$src"/test/corpus/npy/ok-v1-2x3.npy; do
  expect 1 "run --input $(basename "$f")" -- "$exe" run "${small[@]}" --input "$f"
  one_line_err "run --input $(basename "$f")"
  grep -q "$(basename "$f")" "$tmp/err" || fail "$(basename "$f") not named in: $(cat "$tmp/err")"
done
expect 0 "run with a window wider than the sequence equals exact" -- "$exe" run "${small[@]}" --attn window:64,global:1 --check --json
json_check "run --attn window agrees with exact attention" "d['rel_error'] < 1e-5 and d['config']['attention'] == 'window:64,global:1'"
expect 2 "run bad --attn" -- "$exe" run --attn topk:0; one_line_err "run bad --attn"
expect 0 "bench attention variants with a plot" -- "$exe" bench attention --seq 48 --runs 2 --attn window:8 --attn topk:4 --attn threshold:0.01 --plot "$tmp/p.svg"
grep -q 'window:8 ' "$tmp/out" && grep -q 'topk:4 ' "$tmp/out" && grep -q 'threshold:0.01 ' "$tmp/out" || fail "bench attention --attn lacks a variant: $(cat "$tmp/out")"
grep -q '<polyline' "$tmp/p.svg" || fail "--plot wrote no chart"
expect 2 "bench --plot without --attn" -- "$exe" bench attention --plot "$tmp/q.svg"; one_line_err "bench --plot without --attn"
expect 0 "bench attention (small)" -- "$exe" bench attention --seq 40 --runs 2 --json
json_check "bench attention runs both implementations" "sorted(r['impl'] for r in d['results']) == ['fused', 'gemm'] and all(r['gflops'] > 0 for r in d['results'])"
expect 0 "bench layer (small)" -- "$exe" bench layer --seq 24 --runs 2
grep -q '^layer ' "$tmp/out" || fail "bench layer prints no result line"

expect 0 "analyze attention --help" -- "$exe" analyze attention --help
grep -q '^Usage: clformer analyze attention' "$tmp/out" || fail "analyze attention --help prints no usage"
an=(--layers 2 --d-model 32 --heads 4 --d-ff 48 --seq 19)
expect 0 "analyze attention --json (small)" -- "$exe" analyze attention "${an[@]}" --layer 1 --ranks 1,4,19 --json
json_check "analyze: sorted spectra of length 19, exact at r = 19, error non-increasing" \
  "d['layer'] == 1 and d['ranks'] == [1, 4, 19] and len(d['heads']) == 4 and all(len(h['singular_values']) == 19 and all(a >= b for a, b in zip(h['singular_values'], h['singular_values'][1:])) and h['singular_values'][-1] >= 0 and [e['rank'] for e in h['errors']] == [1, 4, 19] and h['errors'][2]['rel_error'] < 1e-12 and all(a['rel_error'] >= b['rel_error'] for a, b in zip(h['errors'], h['errors'][1:])) and 1 <= h['numerical_rank'] <= 19 for h in d['heads'])"
expect 0 "analyze attention (text)" -- "$exe" analyze attention "${an[@]}" --layer 1 --ranks 1,4,19
[ "$(grep -c '^head ' "$tmp/out")" -eq 4 ] || fail "analyze text lacks a line per head: $(cat "$tmp/out")"
# batch 0: every token the same row (attention rank 1); batch 1: a ramp
python3 - "$tmp/same.npy" <<'PY'
import struct, sys
text = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 19, 32), }"
pad = 64 - (10 + len(text) + 1) % 64
header = (text + " " * pad + "\n").encode("latin1")
row = [((i * 7) % 11 - 5) / 4.0 for i in range(32)]
data = row * 19 + [((i * 13) % 17 - 8) / 8.0 for i in range(19 * 32)]
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header)
    f.write(struct.pack("<%df" % len(data), *data))
PY
expect 0 "analyze attention with identical tokens" -- "$exe" analyze attention "${an[@]}" --input "$tmp/same.npy" --layer 1 --ranks 1,2 --json
json_check "analyze: identical tokens give rank-1 attention" \
  "d['config']['seq'] == 19 and all(h['errors'][0]['rel_error'] < 1e-12 and h['numerical_rank'] == 1 for h in d['heads'])"
expect 2 "analyze bad --ranks" -- "$exe" analyze attention "${an[@]}" --ranks 4,x; one_line_err "analyze bad --ranks"
expect 2 "analyze --ranks 0" -- "$exe" analyze attention "${an[@]}" --ranks 0,4; one_line_err "analyze --ranks 0"
expect 2 "analyze --layer out of range" -- "$exe" analyze attention "${an[@]}" --layer 5; one_line_err "analyze --layer out of range"
grep -q -- "--layer 5" "$tmp/err" || fail "analyze --layer message: $(cat "$tmp/err")"
expect 2 "analyze unknown analysis" -- "$exe" analyze frob; one_line_err "analyze unknown analysis"
expect 1 "analyze missing input" -- "$exe" analyze attention "${an[@]}" --input "$tmp/none.npy"
one_line_err "analyze missing input"; grep -q "none.npy" "$tmp/err" || fail "missing input not named"
expect 1 "analyze missing weights" -- "$exe" analyze attention "${an[@]}" --weights "$tmp/none.safetensors"
one_line_err "analyze missing weights"

# embed and bench model: errors always; the real work only when the model is
# there (tools/fetch_model.sh), with the default program cache (warm)
for c in embed "bench model"; do
  expect 0 "$c --help" -- "$exe" $c --help
  grep -q '^Usage: clformer' "$tmp/out" || fail "$c --help prints no usage"
done
grep -q '^  model ' "$tmp/out" || fail "bench --help does not describe the model benchmark"
expect 2 "embed without texts" -- "$exe" embed; one_line_err "embed without texts"
expect 1 "embed with a missing model" -- "$exe" embed --model /nonexistent hello
one_line_err "embed missing model"
grep -q "fetch_model.sh" "$tmp/err" || fail "embed missing model does not say how to fetch it"
expect 2 "embed --batch 0" -- "$exe" embed --batch 0 hello; one_line_err "embed --batch 0"
expect 2 "embed --max-batch-tokens 0" -- "$exe" embed --max-batch-tokens 0 hello
one_line_err "embed --max-batch-tokens 0"
expect 2 "embed --max-batch-tokens x" -- "$exe" embed --max-batch-tokens x hello
expect 1 "bench model with a missing model" -- "$exe" bench model --model /nonexistent
one_line_err "bench model missing model"
grep -q "fetch_model.sh" "$tmp/err" || fail "bench model missing model does not say how to fetch it"
expect 2 "bench --speed without model" -- "$exe" bench gemm --speed; one_line_err "bench --speed"
model=${CLFORMER_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clformer/models/all-MiniLM-L6-v2}
if [ -f "$model/config.json" ] && [ -f "$model/model.safetensors" ] && [ -f "$model/vocab.txt" ]; then
  expect 0 "embed --npy" -- "$exe" embed --npy "$tmp/e.npy" "A man is eating food." "Hello, world!"
  # numpy's own header for '<f4' (2, 384) is 128 bytes (10 + 118, padded to 64)
  size=$(wc -c <"$tmp/e.npy")
  [ "$size" -eq $((128 + 2 * 384 * 4)) ] || fail "embed --npy wrote $size bytes"
  if python3 - "$tmp/e.npy" <<'PY'
import ast, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<H", b[8:10])[0]
h = ast.literal_eval(b[10:10 + n].decode("latin1"))
sys.exit(0 if b[:8] == b"\x93NUMPY\x01\x00" and 10 + n == 128 and h["descr"] == "<f4"
         and h["shape"] == (2, 384) and not h["fortran_order"] else 1)
PY
  then pass "embed --npy holds float32 [2, 384]"; else fail "embed --npy header"; fi
  # batched longest first, printed in the texts' order: texts of 2 to ~40
  # tokens in one batch, in batches of 2, in batches of at most 24 tokens,
  # and each alone give the same vectors in the same rows (a text's vector
  # does not depend on its batch-mates beyond rounding: 1e-6)
  printf '%s\n' "Hi." "A man is eating a piece of bread in the kitchen this morning, slowly." \
    "Two dogs run." "The quick brown fox jumps over the lazy dog while the cat sleeps on a warm windowsill and birds sing outside." \
    "Rain." "She reads." >"$tmp/texts.txt"
  expect 0 "embed --file, one batch" -- "$exe" embed --file "$tmp/texts.txt" --npy "$tmp/b1.npy"
  expect 0 "embed --file --batch 2" -- "$exe" embed --file "$tmp/texts.txt" --batch 2 --npy "$tmp/b2.npy"
  expect 0 "embed --file --max-batch-tokens 24" -- "$exe" embed --file "$tmp/texts.txt" --max-batch-tokens 24 --npy "$tmp/b3.npy"
  i=0
  while IFS= read -r line; do
    "$exe" embed --npy "$tmp/one$i.npy" "$line" >/dev/null 2>&1 || fail "embed of line $i alone"
    i=$((i + 1))
  done <"$tmp/texts.txt"
  if python3 - "$tmp" "$i" <<'PY'
import struct, sys
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<H", b[8:10])[0]
    v = struct.unpack("<%df" % ((len(b) - 10 - n) // 4), b[10 + n:])
    return [v[r * 384:(r + 1) * 384] for r in range(len(v) // 384)]
tmp, n = sys.argv[1], int(sys.argv[2])
alone = [load(f"{tmp}/one{i}.npy")[0] for i in range(n)]
for name in ("b1", "b2", "b3"):
    rows = load(f"{tmp}/{name}.npy")
    assert len(rows) == n, (name, len(rows))
    for i in range(n):
        d = max(abs(a - b) for a, b in zip(rows[i], alone[i]))
        assert d <= 1e-6, (name, i, d)
PY
  then pass "embed: batched longest first, each row the text's own vector (1, 2 per batch, 24 tokens)"
  else fail "embed: batching changed or reordered the vectors"; fi
  # every quantisation option: a text's vector is bitwise its own alone and
  # in a batch padded to a longer text (each scale spans one token or one
  # text's unpadded tokens); quantisers' free parameters given, since
  # calibration runs on the texts of the first batch; fused attention pinned
  # (auto measures per size class)
  printf '%s\n' "The quick brown fox jumps over the lazy dog while the cat sleeps on a warm windowsill." \
    "Hi." "Rain." >"$tmp/mates.txt"
  for opt in "" "--kv int8" "--kv int8:channel" "--kv int8,q" "--attn-quant f16" \
    "--attn-quant log:4" "--linear int8" "--precision f16" "--precision bf16" "--ffn-act binary" \
    "--ffn-act lsq:4,signed,step:0.05" "--ffn-act pact:4,alpha:2" "--ffn-act pwl:4,clip:3,bp:1" \
    "--ffn-act steps:-0.2/0.3:-1/0/1"; do
    read -ra o <<<"$opt"
    if "$exe" embed "${o[@]}" --attn-impl fused --npy "$tmp/alone.npy" "Hi." >/dev/null 2>&1 &&
      "$exe" embed "${o[@]}" --attn-impl fused --file "$tmp/mates.txt" --npy "$tmp/mates.npy" \
        >/dev/null 2>&1 &&
      python3 -c "import sys; a = open(sys.argv[1], 'rb').read(); b = open(sys.argv[2], 'rb').read()
sys.exit(0 if a[-1536:] == b[-2 * 1536:-1536] else 1)" "$tmp/alone.npy" "$tmp/mates.npy"
    then pass "embed ${opt:-(f32)}: a text's vector bitwise its own in a padded batch"
    else fail "embed ${opt:-(f32)}: a text's vector changes in a padded batch"; fi
  done
  expect 0 "embed --similarity" -- "$exe" embed --similarity "A man is eating food." "Hello, world!"
  # matrix rows: "  I  S_I0  S_I1" (the text list above them has "  I  TEXT")
  if awk '$1 ~ /^[01]$/ && NF == 3 && $2 ~ /^-?[0-9]\.[0-9][0-9][0-9][0-9]$/ {
            rows++; if ($($1 + 2) != "1.0000") bad = 1 }
          END { exit !(rows == 2 && !bad) }' "$tmp/out"
  then pass "embed --similarity: 2x2, 1.0000 on the diagonal"
  else fail "embed --similarity output:"; sed 's/^/  | /' "$tmp/out"; fi
  # progress on a terminal (script(1) provides one), none with --json; a
  # cache directory of its own, so that programs are built, not loaded
  if command -v script >/dev/null; then
    CLFORMER_CACHE_DIR="$tmp/cache-embed-tty" script -qec "'$exe' embed 'one sentence' >/dev/null" /dev/null >"$tmp/tty" 2>&1 </dev/null
    if grep -qE 'building kernels \[[#-]+\] [0-9]+/[0-9]+ .*\.cl' "$tmp/tty"; then pass "embed: progress on a terminal"
    else fail "embed: no progress on a terminal: $(cat -v "$tmp/tty" | head -c 300)"; fi
    CLFORMER_CACHE_DIR="$tmp/cache-embed-tty2" script -qec "'$exe' embed --json 'one sentence' >/dev/null" /dev/null >"$tmp/tty" 2>&1 </dev/null
    if [ -s "$tmp/tty" ]; then fail "embed --json drew on the terminal: $(cat -v "$tmp/tty" | head -c 300)"
    else pass "embed --json: no progress"; fi
  fi
  expect 0 "bench model --speed (one run)" -- "$exe" bench model --speed --runs 1 --json
  json_check "bench model --speed: batches 1, 8, 32 of 18 tokens" \
    "[r['batch'] for r in d['results']] == [1, 8, 32] and all(r['seq'] == 18 and r['sentences_per_s'] > 0 for r in d['results'])"
else
  echo "skip: no model at $model (tools/fetch_model.sh): embed and bench model not run"
fi

# tune: usage errors; a pass over two GEMM shapes exported, then imported
# into an empty cache (nothing measured there after); refused imports
# (corrupt, another device's, not a tuning file) naming the file;
# CLFORMER_TUNE checked; progress on a terminal only
expect 2 "tune bad --mode" -- "$exe" tune --mode sometimes; one_line_err "tune bad --mode"
expect 2 "tune bad --shape" -- "$exe" tune --shape 12x; one_line_err "tune bad --shape"
expect 2 "tune --model and --shape" -- "$exe" tune --model "$tmp" --shape 1x2x3
one_line_err "tune --model and --shape"
CLFORMER_CACHE_DIR="$tmp/tune-a" expect 0 "tune --shape --export --json" -- \
  "$exe" tune --shape 24x40x16 --shape 300x64x64 --export "$tmp/records.json" --json
json_check "tune measured both classes, exported" \
  "d['measured'] == 2 and d['mode'] == 'fast' and len(d['records']['gemm']) == 2 and d['exported'] == '$tmp/records.json'"
[ -s "$tmp/err" ] && fail "tune: stderr not empty when not a terminal: $(cat "$tmp/err")"
CLFORMER_CACHE_DIR="$tmp/tune-b" expect 0 "tune --import" -- "$exe" tune --import "$tmp/records.json" --json
json_check "tune --import merged both records, measured nothing" \
  "d['imported'] == 2 and 'measured' not in d and len(d['records']['gemm']) == 2"
CLFORMER_CACHE_DIR="$tmp/tune-b" expect 0 "tune after the import" -- "$exe" tune --shape 24x40x16 --json
json_check "tune after the import measures nothing" "d['measured'] == 0"
head -c 200 "$tmp/records.json" >"$tmp/cut.json"
sed 's/"driver":.*/"driver": "0.0-another-driver",/' "$tmp/records.json" >"$tmp/foreign.json"
echo '{"weights": [1, 2]}' >"$tmp/notune.json"
for f in cut foreign notune; do
  CLFORMER_CACHE_DIR="$tmp/tune-b" expect 1 "tune --import $f.json refused" -- "$exe" tune --import "$tmp/$f.json"
  one_line_err "tune --import $f.json"
  grep -q "$f.json" "$tmp/err" || fail "tune --import $f.json: the file is not named: $(cat "$tmp/err")"
done
CLFORMER_CACHE_DIR="$tmp/tune-b" expect 1 "tune --import of another device's file" -- "$exe" tune --import "$tmp/foreign.json"
grep -q "another device" "$tmp/err" || fail "foreign import: $(cat "$tmp/err")"
CLFORMER_TUNE=sometimes expect 1 "a bad CLFORMER_TUNE is refused" -- "$exe" run "${small[@]}"
one_line_err "bad CLFORMER_TUNE"
grep -q "CLFORMER_TUNE 'sometimes': off, fast or full" "$tmp/err" || fail "bad CLFORMER_TUNE: $(cat "$tmp/err")"
# every enumerated or numeric variable is checked when the context is made:
# a bad value fails the command, naming the variable, the value and what it takes
for bad in "CLFORMER_LOG=chatty:debug, info, warn, error or none" \
  "CLFORMER_GEMM=blas:auto, clblast or native" \
  "CLFORMER_QUEUES=two:an integer from 0 to 16" "CLFORMER_QUEUES=17:an integer from 0 to 16" \
  "CLFORMER_QUEUES=-1:an integer from 0 to 16" \
  "CLFORMER_COMMAND_BUFFER=yes:0 or 1" "CLFORMER_PLAN=heap:auto, arena, pool or none" \
  "CLFORMER_BINARIES=maybe:auto, on or off" "CLFORMER_DEVICE=nosuchdevice:unknown device spec"; do
  var=${bad%%=*}; rest=${bad#*=}; val=${rest%%:*}; takes=${rest#*:}
  env "$var=$val" "$exe" run "${small[@]}" >"$tmp/out" 2>"$tmp/err" </dev/null
  rc=$?
  if [ "$rc" -eq 1 ] && grep -qF "$var '$val': $takes" "$tmp/err"; then pass "a bad $var is refused"
  else fail "$var=$val: exit $rc: $(cat "$tmp/err")"; fi
done
CLFORMER_GEMM=NATIVE CLFORMER_QUEUES=2 CLFORMER_LOG= expect 0 "good values, any case, empty as unset" -- "$exe" run "${small[@]}"
# a size that cannot fit is refused before any tuning or building (it took
# 50-100 s of tuning): the GEMM path's 8 x 2^20 x 2^20 scores are 32 TiB
expect 1 "an impossible size is refused at once" -- timeout 20 "$exe" run --seq 1048576 --attn-impl gemm
grep -q "scores need 35184372088832 bytes, the device allows" "$tmp/err" ||
  fail "impossible size: $(cat "$tmp/err")"
# the cache directory holds native binaries the context loads and runs: it
# is created private (0700, its missing parents too) and one that another
# user owns or may write is not used (one warning; the run goes on uncached)
cdir="$tmp/cache-perm/sub"
CLFORMER_LOG=info CLFORMER_CACHE_DIR="$cdir" expect 0 "a new cache directory" -- "$exe" run "${small[@]}"
[ "$(stat -c %a "$tmp/cache-perm") $(stat -c %a "$cdir")" = "700 700" ] ||
  fail "new cache directory modes: $(stat -c %a "$tmp/cache-perm") $(stat -c %a "$cdir")"
grep -q "cache $cdir (" "$tmp/err" || fail "new cache directory not used: $(cat "$tmp/err")"
cache_bypassed() { # DESCRIPTION WHY: run with $cdir as it is; warned, exit 0, no cache
  CLFORMER_LOG=info CLFORMER_CACHE_DIR="$cdir" expect 0 "$1" -- "$exe" run "${small[@]}"
  grep -q "cache directory $cdir not used ($2)" "$tmp/err" && grep -q "cache disabled" "$tmp/err" ||
    fail "$1: $(cat "$tmp/err")"
  [ "$(grep -c "cache directory .* not used" "$tmp/err")" -eq 1 ] || fail "$1: not one warning"
}
chmod 0777 "$cdir"
cache_bypassed "a cache directory others may write" "mode 0777: writable by other users"
# program binaries written later: on PoCL (which compiles every kernel again
# when asked for a binary) run builds from source and starts save-binaries
# in the background with what it built; a later run loads them. Elsewhere
# the binaries are written at once. CLFORMER_BINARIES=off starts nothing.
"$exe" info --json >"$tmp/info.json" 2>/dev/null
pocl=$(python3 -c 'import json,sys; print(int("Portable Computing Language" in json.load(open(sys.argv[1]))["platform_name"]))' "$tmp/info.json")
bdir="$tmp/cache-later"
CLFORMER_CACHE_DIR="$bdir" expect 0 "run with an empty cache" -- "$exe" run "${small[@]}" --json
built=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["startup"]["programs_built"])' "$tmp/out")
for _ in $(seq 120); do # the saver compiles for seconds per program on PoCL
  [ "$(ls "$bdir"/*.clbin 2>/dev/null | wc -l)" -ge "$built" ] && break
  sleep 1
done
n=$(ls "$bdir"/*.clbin 2>/dev/null | wc -l)
if [ "$built" -ge 1 ] && [ "$n" -eq "$built" ]; then pass "the $built programs built are in the cache (pocl=$pocl)"
else fail "$built programs built, $n binaries in the cache after 120 s"; fi
CLFORMER_CACHE_DIR="$bdir" expect 0 "run with the binaries" -- "$exe" run "${small[@]}" --json
json_check "the next run loads them, builds none" \
  "d['startup']['programs_loaded'] == $built and d['startup']['programs_built'] == 0"
odir="$tmp/cache-later-off"
CLFORMER_BINARIES=off CLFORMER_CACHE_DIR="$odir" expect 0 "run with CLFORMER_BINARIES=off" -- "$exe" run "${small[@]}"
sleep 2
[ "$(ls "$odir"/*.clbin 2>/dev/null | wc -l)" -eq 0 ] && pass "CLFORMER_BINARIES=off: no binary written later" ||
  fail "CLFORMER_BINARIES=off: binaries written"
feed() { # WANT DESCRIPTION LIST-FILE ARGS...: as expect, with LIST-FILE on stdin
  local want=$1 what=$2 list=$3; shift 3
  "$exe" save-binaries "$@" <"$list" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then pass "$what"; else
    fail "$what: exit $rc, expected $want"; sed 's/^/  | /' "$tmp/err"; fi
}
feed 0 "save-binaries, an empty list" /dev/null
grep -q "^0 program binaries written to " "$tmp/out" || fail "save-binaries empty list: $(cat "$tmp/out")"
printf 'elementwise -DX\n' >"$tmp/badlist"
feed 1 "save-binaries, a malformed list" "$tmp/badlist"
one_line_err "save-binaries, a malformed list"
grep -q "FAMILY<tab>OPTIONS" "$tmp/err" || fail "save-binaries malformed list: $(cat "$tmp/err")"
feed 2 "save-binaries, an argument" /dev/null list.txt; one_line_err "save-binaries, an argument"
CLFORMER_BINARIES=off feed 1 "save-binaries without a cache" /dev/null
grep -q "no program cache" "$tmp/err" || fail "save-binaries without a cache: $(cat "$tmp/err")"
# --when-idle (as run and embed start it): the writer waits while a run or
# an embed holds active.lock (shared; held here by flock for 3 s), then for
# 2 s of quiet, so that its compiling does not slow the next command
idir="$tmp/cache-idle"
mkdir -m 0700 "$idir"
elapsed_feed() { # DESCRIPTION: feed 0 with --when-idle in idir; the seconds it took in $took
  local t0; t0=$(date +%s.%N)
  CLFORMER_CACHE_DIR="$idir" feed 0 "$1" /dev/null --when-idle
  took=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$t0" "$(date +%s.%N)")
}
flock -s "$idir/active.lock" sleep 3 &
holder=$!
sleep 0.3
elapsed_feed "save-binaries --when-idle while a run is active"
wait "$holder"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 4.5 else 1)" "$took" &&
  pass "--when-idle waited for the run and 2 s after ($took s)" ||
  fail "--when-idle returned after $took s with a run active for 2.7 s of it (want >= 4.5)"
elapsed_feed "save-binaries --when-idle, nothing active"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 2 else 1)" "$took" &&
  pass "--when-idle waited 2 s of quiet ($took s)" || fail "--when-idle returned after $took s"
chmod 0770 "$cdir"
cache_bypassed "a cache directory its group may write" "mode 0770: writable by its group"
chmod 0700 "$cdir"
if [ "$(id -u)" -eq 0 ]; then
  chown 12345 "$cdir"
  cache_bypassed "a cache directory of another user" "owned by uid 12345, not 0"
else
  echo "skip: a cache directory of another user (chown needs root)"
fi
# device memory exists once a buffer is made, so that a failed allocation is
# an error (exit 1, a message) rather than PoCL's abort on first use
if ldd "$exe" 2>/dev/null | grep -q 'libasan'; then
  echo "skip: allocation failure under ulimit -v (AddressSanitizer reserves more address space)"
elif ! (ulimit -v 4194304) 2>/dev/null; then
  echo "skip: allocation failure under ulimit -v (the limit cannot be set here)"
else
  (ulimit -v 4194304; exec "$exe" run --d-model 1024 --seq 4096 --batch 32 --runs 1) \
    >"$tmp/out" 2>"$tmp/err" </dev/null
  rc=$?
  if [ "$rc" -eq 1 ] && grep -q "^clformer: cannot allocate [0-9]* bytes" "$tmp/err"; then
    pass "a device allocation past ulimit -v fails with a message"
  else fail "allocation under ulimit -v: exit $rc: $(tail -3 "$tmp/err")"; fi
fi
# every failure says why, naming the file it comes from
expect 1 "run --save into a missing folder" -- "$exe" run "${small[@]}" --save "$tmp/no-such-dir/w.safetensors"
one_line_err "run --save into a missing folder"
grep -q "$tmp/no-such-dir/w.safetensors" "$tmp/err" || fail "run --save: the file is not named: $(cat "$tmp/err")"
python3 - "$tmp/empty.npy" <<'PY'
import struct, sys
h = "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 32), }"
h += " " * (63 - (10 + len(h)) % 64) + "\n"
open(sys.argv[1], "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode())
PY
expect 1 "run --input of shape [0, 32]" -- "$exe" run "${small[@]}" --input "$tmp/empty.npy"
one_line_err "run --input of shape [0, 32]"
grep -q "$tmp/empty.npy: shape \[0, 32\]" "$tmp/err" || fail "empty input: $(cat "$tmp/err")"
m="$tmp/models"; mkdir -p "$m"
cp -r "$src/test/models/bert-cased-cls" "$m/heads"
sed -i 's/"num_attention_heads": 3/"num_attention_heads": 5/' "$m/heads/config.json"
expect 1 "embed: heads not dividing hidden_size" -- "$exe" embed --model "$m/heads" hello
one_line_err "embed: heads not dividing hidden_size"
grep -q "$m/heads/config.json: heads (5) must divide d_model (24)" "$tmp/err" || fail "heads: $(cat "$tmp/err")"
cp -r "$src/test/models/bert-cased-cls" "$m/vocab"
rm "$m/vocab/tokenizer.json"; echo "[extra]" >>"$m/vocab/vocab.txt"
expect 1 "embed: a vocabulary past the embedding table" -- "$exe" embed --model "$m/vocab" hello
one_line_err "embed: a vocabulary past the embedding table"
grep -q "$m/vocab/vocab.txt: token id 500 is past the model's embedding table of 500 rows" "$tmp/err" ||
  fail "vocab: $(cat "$tmp/err")"
CLFORMER_TUNE=off CLFORMER_CACHE_DIR="$tmp/tune-off" expect 0 "run with CLFORMER_TUNE=off" -- "$exe" run "${small[@]}" --check --json
json_check "run with tuning off agrees with the double reference" "d['rel_error'] < 1e-5"
[ -e "$tmp/tune-off" ] && ls "$tmp/tune-off" | grep -q '^tune-' && fail "tuning off wrote a tuning file"
if command -v script >/dev/null; then
  CLFORMER_CACHE_DIR="$tmp/tune-tty" script -qec "'$exe' tune --shape 24x40x16 --shape 300x64x64 >/dev/null" /dev/null >"$tmp/tty" 2>&1 </dev/null
  # one count over both classes: each class's candidates (those measured in
  # records.json above: CLBlast too where the device is not a CPU) plus one
  steps=$(python3 -c "import json; print(sum(len(r['ms']) + 1 for r in json.load(open('$tmp/records.json'))['gemm'].values()))")
  if grep -qE "tuning \[[#-]+\] [0-9]+/$steps gemm 300x64x64 native:[0-9].*left" "$tmp/tty"; then
    pass "tune: one progress count over both classes, with the time left"
  else fail "tune progress on a terminal: $(cat -v "$tmp/tty" | head -c 400)"; fi
fi

export CLFORMER_CACHE_DIR="$tmp/cache"
expect 0 "info --json builds nothing" -- "$exe" info --json
json_check "info --json: no kernels object" "'kernels' not in d"
[ -n "$(ls -A "$tmp/cache" 2>/dev/null)" ] && fail "info without --build wrote to the cache"
expect 0 "info --build --json, cold cache" -- "$exe" info --build --json
# program binaries are not written on PoCL (it caches its own builds and
# would compile every kernel again to give one), on other drivers they are
json_check "cold: programs built, binaries as the driver wants" \
  "d['kernels']['programs_built'] >= 1 and d['kernels']['programs_loaded_from_cache'] == 0 and d['kernels']['cache_writes'] == (0 if 'Portable Computing Language' in d['platform_name'] else d['kernels']['programs_built'])"
written=$(python3 -c "import json; print(json.load(open('$tmp/out'))['kernels']['cache_writes'])")
[ -s "$tmp/err" ] && fail "stderr not empty when not a terminal: $(cat "$tmp/err")"
expect 0 "info --build --json, warm cache" -- "$exe" info --build --json
json_check "warm: the written binaries loaded" "d['kernels']['programs_loaded_from_cache'] == $written"
CLFORMER_BINARIES=sometimes expect 1 "CLFORMER_BINARIES with a bad value" -- "$exe" info --build
grep -q "CLFORMER_BINARIES 'sometimes'" "$tmp/err" || fail "the bad CLFORMER_BINARIES is not named: $(cat "$tmp/err")"
expect 0 "info --build text" -- "$exe" info --build
grep -q '^kernel programs' "$tmp/out" || fail "info text lacks the kernel line"
expect 0 "info --no-build (the default) is accepted" -- "$exe" info --no-build
grep -q '^kernel programs' "$tmp/out" && fail "info --no-build built kernels"
# progress is drawn when stderr is a terminal (script(1) provides one)
if command -v script >/dev/null; then
  CLFORMER_CACHE_DIR="$tmp/cache-tty" script -qec "'$exe' info --build >/dev/null" /dev/null >"$tmp/tty" 2>&1 </dev/null
  if grep -qE 'building kernels \[[#-]+\] [0-9]+/[0-9]+ .*\.cl' "$tmp/tty"; then pass "progress on a terminal"
  else fail "no progress on a terminal: $(cat -v "$tmp/tty" | head -c 300)"; fi
fi
CLFORMER_DEVICE=no-such-device-xyz expect 1 "CLFORMER_DEVICE is honoured" -- "$exe" info --no-build

echo "$fails failed"
[ "$fails" -eq 0 ]
